#!/bin/bash
# bench/web.sh - tristack-web beside nginx 1.22, same box, same files.
#
# Both with 1 worker, sendfile on, keepalive_requests 1000, access log to a
# file (nginx configured as notes/anchors-bench.md says), pinned to CPU1;
# wrk on CPU0. A 1 KiB and a 64 KiB file with keep-alive, 1 KiB with
# Connection: close; ROUNDS interleaved rounds; median (min..max) of rps,
# p99 and server CPU per request. Then memory per idle connection: fresh
# processes, IDLE_CONNS keep-alive connections that each made one GET.
. "$(dirname "$0")/lib.sh"

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
	taskset -c $SERVER_CPU "$BIN/tristack-web" -c "$BENCH_DIR/stack.conf" 2>>"$BENCH_DIR/web.log" &
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

for mode in ka_1k ka_64k close_1k; do
	file=${mode#*_}.html
	args=""
	[ "$mode" = close_1k ] && args="-H Connection:close"
	echo "== $mode, $ROUNDS rounds of ${SECONDS_PER_RUN}s"
	for r in $(seq "$ROUNDS"); do
		echo " round $r"
		# shellcheck disable=SC2086
		one_run "ts_$mode" $TS_PID "http://127.0.1.110:8080/$file" $args
		# shellcheck disable=SC2086
		one_run "an_$mode" $AN_WORKER "http://127.0.1.111:8080/$file" $args
	done
done

echo
table tristack-web nginx ka_1k ka_64k close_1k

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
for mode in ka_1k ka_64k close_1k; do
	eval "ts=\$${mode}_rps_ts an=\$${mode}_rps_anchor tp=\$${mode}_p99_ms_ts ap=\$${mode}_p99_ms_anchor"
	eval "tc=\$${mode}_cpu_us_ts ac=\$${mode}_cpu_us_anchor"
	echo "RESULT web_${mode}_rps=$ts"
	echo "RESULT nginx_${mode}_rps=$an"
	echo "RESULT web_${mode}_rps_ratio=$(ratio "$ts" "$an")"
	echo "RESULT web_${mode}_p99_ratio=$(ratio "$tp" "$ap")"
	echo "RESULT web_${mode}_cpu_us_per_req_ratio=$(ratio "$tc" "$ac")"
done
