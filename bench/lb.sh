#!/bin/bash
# bench/lb.sh - tristack-lb beside HAProxy 2.6, same box, same backends.
#
# Two nginx backends (1 KiB file) on 127.0.1.1:8080 and 127.0.1.2:8080;
# tristack-lb (1 thread) on 127.0.1.100:8080 and HAProxy (nbthread 1,
# configured as notes/anchors-bench.md says) on 127.0.1.101:8080, both
# round robin over the same two backends (nginx as lib.sh's start_nginx
# configures it, open_file_cache included), no logging on either side. wrk
# on CPU0, everything else on CPU1. Keep-alive and Connection: close,
# ROUNDS rounds, tristack-lb first in odd ones and HAProxy in even ones;
# median (min..max) over the valid runs (lib.sh) of rps and p99, and server
# CPU per request (from /proc/PID/stat). Then memory per idle client connection:
# fresh processes, IDLE_CONNS keep-alive connections that each made one GET
# and sit idle; (RSS holding - RSS before) / IDLE_CONNS.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
bench_banner

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
# one wrk address stands in for many clients, and HAProxy has no limits here
rate_limit = off
rate_limit_write = off
conn_limit = off
CONF
start_ts() {
	taskset -c "$SERVER_CPU" "$BIN/tristack-lb" -c "$BENCH_DIR/stack.conf" 2>>"$BENCH_DIR/lb.log" &
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
	taskset -c "$SERVER_CPU" haproxy -db -f "$BENCH_DIR/haproxy.cfg" 2>>"$BENCH_DIR/haproxy.log" &
	HA_PID=$!
	BENCH_PIDS="$BENCH_PIDS $HA_PID"
}
start_ha

wait_http http://127.0.1.1:8080/1k.html
wait_http http://127.0.1.2:8080/1k.html
wait_http http://127.0.1.100:8080/1k.html
wait_http http://127.0.1.101:8080/1k.html

# run_side SIDE MODE: one measured run of tristack-lb (ts) or HAProxy (an)
run_side() {
	set -- "$1" "$2"
	[ "$2" = close ] && set -- "$1" "$2" -H Connection:close
	if [ "$1" = ts ]; then
		one_run "ts_$2" "$TS_PID" http://127.0.1.100:8080/1k.html "${@:3}"
	else
		one_run "an_$2" "$HA_PID" http://127.0.1.101:8080/1k.html "${@:3}"
	fi
}
for mode in keepalive close; do
	echo "== $mode: 1 KiB through the load balancer, $ROUNDS rounds of ${SECONDS_PER_RUN}s"
	for r in $(seq "$ROUNDS"); do
		round_header "$r" tristack-lb haproxy
		alternate "$r" run_side "$mode"
	done
done

echo
table tristack-lb haproxy "rps p99_ms cpu_us" keepalive close

# memory per idle client connection, fresh processes
kill "$TS_PID" "$HA_PID"
wait "$TS_PID" "$HA_PID" 2>/dev/null || true
start_ts
start_ha
wait_http http://127.0.1.100:8080/1k.html
wait_http http://127.0.1.101:8080/1k.html
ts_idle=$(idle_mem "$TS_PID" 127.0.1.100 8080 /1k.html)
ha_idle=$(idle_mem "$HA_PID" 127.0.1.101 8080 /1k.html)
idle_line "$ts_idle" "$ha_idle"

echo
echo "RESULT lb_idle_conn_bytes=$ts_idle"
echo "RESULT haproxy_idle_conn_bytes=$ha_idle"
echo "RESULT lb_idle_conn_mem_ratio=$(ratio "$ts_idle" "$ha_idle")"
results lb haproxy "rps p99_ms cpu_us" keepalive close
