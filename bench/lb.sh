#!/bin/bash
# bench/lb.sh - tristack-lb beside HAProxy 2.6, same box, same backends.
#
# Two nginx backends (1 KiB file) on 127.0.1.1:8080 and 127.0.1.2:8080;
# tristack-lb (1 thread) on 127.0.1.100:8080 and HAProxy (nbthread 1,
# configured as notes/anchors-bench.md says) on 127.0.1.101:8080, both
# round robin over the same two backends, no logging on either side. wrk on
# CPU0, everything else on CPU1. Keep-alive and Connection: close, ROUNDS
# interleaved rounds; median (min..max) of rps and p99, and server CPU per
# request (from /proc/PID/stat). Then memory per idle client connection:
# fresh processes, IDLE_CONNS keep-alive connections that each made one GET
# and sit idle; (RSS holding - RSS before) / IDLE_CONNS.
. "$(dirname "$0")/lib.sh"
IDLE_CONNS=${BENCH_IDLE_CONNS:-5000}
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"

mkdir -p "$BENCH_DIR/www"
head -c 1024 /dev/urandom | base64 -w 0 | head -c 1024 > "$BENCH_DIR/www/1k.html"
start_nginx be1 127.0.1.1:8080 "$BENCH_DIR/www"
start_nginx be2 127.0.1.2:8080 "$BENCH_DIR/www"

cat > "$BENCH_DIR/stack.conf" <<CONF
[site]
www = lb
[host lb]
address = 127.0.1.100
roles = lb
[lb]
listen  = :8080
admin   =
threads = 1
balance = roundrobin
server  = 127.0.1.1:8080
server  = 127.0.1.2:8080
timeout_http_keep_alive = 60s
CONF
start_ts() {
	taskset -c $SERVER_CPU "$BIN/tristack-lb" -c "$BENCH_DIR/stack.conf" 2>>"$BENCH_DIR/lb.log" &
	TS_PID=$!
	BENCH_PIDS="$BENCH_PIDS $TS_PID"
}
start_ts

cat > "$BENCH_DIR/haproxy.cfg" <<CFG
global
	nbthread 1
	maxconn 9000
defaults
	mode http
	option http-keep-alive
	http-reuse always
	timeout connect 5s
	timeout client 60s
	timeout server 60s
frontend fe
	bind 127.0.1.101:8080
	default_backend be
backend be
	balance roundrobin
	server be1 127.0.1.1:8080
	server be2 127.0.1.2:8080
CFG
start_ha() {
	taskset -c $SERVER_CPU haproxy -db -f "$BENCH_DIR/haproxy.cfg" 2>>"$BENCH_DIR/haproxy.log" &
	HA_PID=$!
	BENCH_PIDS="$BENCH_PIDS $HA_PID"
}
start_ha

wait_http http://127.0.1.1:8080/1k.html
wait_http http://127.0.1.2:8080/1k.html
wait_http http://127.0.1.100:8080/1k.html
wait_http http://127.0.1.101:8080/1k.html

HZ=$(getconf CLK_TCK)

# one_run NAME PID URL [wrk args]: appends "rps p99 cpu_us" to $BENCH_DIR/NAME
one_run() {
	name=$1 pid=$2 url=$3
	shift 3
	taskset -c $WRK_CPU wrk -t1 -c"$CONNS" -d"${WARMUP}s" "$@" "$url" >/dev/null
	t0=$(cpu_ticks "$pid")
	set -- $(run_wrk "$url" "$@")
	t1=$(cpu_ticks "$pid")
	cpu_us=$(awk -v t="$((t1 - t0))" -v hz="$HZ" -v r="$1" -v s="$SECONDS_PER_RUN" \
		'BEGIN { printf "%.1f", t / hz * 1e6 / (r * s) }')
	echo "  $name: $1 rps, p50 $2 ms, p99 $3 ms, $cpu_us us CPU/request"
	echo "$1 $3 $cpu_us" >> "$BENCH_DIR/$name"
}

for mode in keepalive close; do
	args=""
	[ $mode = close ] && args="-H Connection:close"
	echo "== $mode: 1 KiB through the load balancer, $ROUNDS rounds of ${SECONDS_PER_RUN}s"
	for r in $(seq "$ROUNDS"); do
		echo " round $r"
		# shellcheck disable=SC2086
		one_run "ts_$mode" $TS_PID http://127.0.1.100:8080/1k.html $args
		# shellcheck disable=SC2086
		one_run "ha_$mode" $HA_PID http://127.0.1.101:8080/1k.html $args
	done
done

echo
printf "%-10s %-9s %28s %28s %6s\n" mode figure "tristack-lb median (min..max)" \
	"haproxy median (min..max)" ratio
for mode in keepalive close; do
	for col in 1:rps 2:p99_ms 3:cpu_us; do
		i=${col%%:*} what=${col#*:}
		ts=$(stats "$(awk -v i="$i" '{print $i}' "$BENCH_DIR/ts_$mode")")
		ha=$(stats "$(awk -v i="$i" '{print $i}' "$BENCH_DIR/ha_$mode")")
		set -- $ts
		tsm=$1 tsr="$1 ($2..$3)"
		set -- $ha
		ham=$1 har="$1 ($2..$3)"
		printf "%-10s %-9s %28s %28s %6s\n" $mode "$what" "$tsr" "$har" "$(ratio "$tsm" "$ham")"
		eval "${mode}_${what}_ts=$tsm ${mode}_${what}_ha=$ham"
	done
done
# ---- memory per idle client connection, fresh processes ----
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
idle_mem() { # NAME PID HOST: prints bytes per idle connection
	pid=$2
	before=$(rss_kib "$pid")
	coproc IDLE { taskset -c $WRK_CPU python3 "$ROOT/bench/idle_conns.py" "$3" 8080 "$IDLE_CONNS" /1k.html; }
	read -r ready _ <&"${IDLE[0]}"
	[ "$ready" = ready ] || { echo "bench: idle connections failed" >&2; exit 1; }
	holding=$(rss_kib "$pid")
	echo >&"${IDLE[1]}"
	wait "$IDLE_PID" 2>/dev/null || true
	awk -v a="$before" -v b="$holding" -v n="$IDLE_CONNS" 'BEGIN { printf "%.0f", (b - a) * 1024 / n }'
}
kill "$TS_PID" "$HA_PID"
wait "$TS_PID" "$HA_PID" 2>/dev/null || true
start_ts
start_ha
wait_http http://127.0.1.100:8080/1k.html
wait_http http://127.0.1.101:8080/1k.html
ts_idle=$(idle_mem tristack-lb "$TS_PID" 127.0.1.100)
ha_idle=$(idle_mem haproxy "$HA_PID" 127.0.1.101)
printf "%-10s %-9s %28s %28s %6s\n" idle bytes/conn "$ts_idle" "$ha_idle" "$(ratio "$ts_idle" "$ha_idle")"
printf "%-10s %-9s %28s %28s\n" idle KiB/1000 "$(awk -v b="$ts_idle" 'BEGIN{printf "%.0f", b*1000/1024}')" \
	"$(awk -v b="$ha_idle" 'BEGIN{printf "%.0f", b*1000/1024}')"

echo
echo "RESULT lb_idle_conn_bytes=$ts_idle"
echo "RESULT haproxy_idle_conn_bytes=$ha_idle"
echo "RESULT lb_idle_conn_mem_ratio=$(ratio "$ts_idle" "$ha_idle")"
echo "RESULT lb_keepalive_rps=$keepalive_rps_ts"
echo "RESULT haproxy_keepalive_rps=$keepalive_rps_ha"
echo "RESULT lb_keepalive_rps_ratio=$(ratio "$keepalive_rps_ts" "$keepalive_rps_ha")"
echo "RESULT lb_keepalive_p99_ms=$keepalive_p99_ms_ts"
echo "RESULT haproxy_keepalive_p99_ms=$keepalive_p99_ms_ha"
echo "RESULT lb_keepalive_cpu_us_per_req_ratio=$(ratio "$keepalive_cpu_us_ts" "$keepalive_cpu_us_ha")"
echo "RESULT lb_close_rps_ratio=$(ratio "$close_rps_ts" "$close_rps_ha")"
echo "RESULT lb_close_cpu_us_per_req_ratio=$(ratio "$close_cpu_us_ts" "$close_cpu_us_ha")"
