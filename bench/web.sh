#!/bin/bash
# bench/web.sh - tristack-web beside nginx 1.22, same box, same files.
#
# Both with 1 worker, sendfile on, keepalive_requests 1000, access log to a
# file, files kept open (tristack-web's open-file cache; nginx's
# open_file_cache, as notes/anchors-bench.md says), pinned to CPU1; wrk on
# CPU0. A 1 KiB and a 64 KiB file with keep-alive, 1 KiB with Connection:
# close; ROUNDS rounds, tristack-web first in odd ones and nginx in even
# ones; median (min..max) of rps, p99 and server CPU per request over the
# valid runs (lib.sh). Then memory per idle connection: fresh processes,
# IDLE_CONNS keep-alive connections that each made one GET.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
bench_banner

mkdir -p "$BENCH_DIR/www"
head -c 1024 /dev/zero | tr '\0' x > "$BENCH_DIR/www/1k.html"
head -c 65536 /dev/zero | tr '\0' y > "$BENCH_DIR/www/64k.html"
chmod -R a+rX "$BENCH_DIR/www"

cat > "$BENCH_DIR/stack.conf" <<CONF
[site]
www = web
[host web]
address = 127.0.1.110
roles = web
[web]
listen  = :8080
admin   =
threads = 1
root    = $BENCH_DIR/www
access_log = $BENCH_DIR/ts-access.log
keepalive_requests = 1000
timeout_http_keep_alive = 65s
CONF
start_ts() {
	taskset -c "$SERVER_CPU" "$BIN/tristack-web" -c "$BENCH_DIR/stack.conf" 2>>"$BENCH_DIR/web.log" &
	TS_PID=$!
	BENCH_PIDS="$BENCH_PIDS $TS_PID"
}
start_an() {
	start_nginx anchor 127.0.1.111:8080 "$BENCH_DIR/www"
	AN_PID=${BENCH_PIDS##* }
}
# nginx's worker does the work (CPU, connections), not its master
an_worker() {
	for _ in $(seq 50); do
		w=$(pgrep -P "$AN_PID" | head -1)
		[ -n "$w" ] && { echo "$w"; return; }
		sleep 0.1
	done
	echo "$AN_PID"
}
start_ts
start_an
wait_http http://127.0.1.110:8080/1k.html
wait_http http://127.0.1.111:8080/1k.html
AN_WORKER=$(an_worker)

# run_side SIDE MODE: one measured run of tristack-web (ts) or nginx (an)
run_side() {
	file=${2#*_}.html
	set -- "$1" "$2"
	[ "$2" = close_1k ] && set -- "$1" "$2" -H Connection:close
	if [ "$1" = ts ]; then
		one_run "ts_$2" "$TS_PID" "http://127.0.1.110:8080/$file" "${@:3}"
	else
		one_run "an_$2" "$AN_WORKER" "http://127.0.1.111:8080/$file" "${@:3}"
	fi
}
for mode in ka_1k ka_64k close_1k; do
	echo "== $mode, $ROUNDS rounds of ${SECONDS_PER_RUN}s"
	for r in $(seq "$ROUNDS"); do
		round_header "$r" tristack-web nginx
		alternate "$r" run_side "$mode"
	done
done

echo
table tristack-web nginx "rps p99_ms cpu_us" ka_1k ka_64k close_1k

# memory per idle connection, fresh processes
kill "$TS_PID" "$AN_PID"
wait "$TS_PID" "$AN_PID" 2>/dev/null || true
start_ts
start_an
wait_http http://127.0.1.110:8080/1k.html
wait_http http://127.0.1.111:8080/1k.html
AN_WORKER=$(an_worker)
ts_idle=$(idle_mem "$TS_PID" 127.0.1.110 8080 /1k.html)
an_idle=$(idle_mem "$AN_WORKER" 127.0.1.111 8080 /1k.html)
idle_line "$ts_idle" "$an_idle"

echo
echo "RESULT web_idle_conn_bytes=$ts_idle"
echo "RESULT nginx_idle_conn_bytes=$an_idle"
echo "RESULT web_idle_conn_mem_ratio=$(ratio "$ts_idle" "$an_idle")"
results web nginx "rps p99_ms cpu_us" ka_1k ka_64k close_1k
