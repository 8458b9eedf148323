#!/bin/bash
# bench/tls.sh - HTTPS at tristack-lb beside HAProxy 2.6, same box, same
# backends, the same ECDSA P-256 certificate.
#
# Two nginx backends (1 KiB file) on 127.0.1.1-2:8080. Four load balancers,
# one thread each, round robin over them, no logging, no HSTS:
#   tristack-lb  127.0.1.100:8443  resumption on (tickets + session cache)
#   HAProxy      127.0.1.101:8443  the same
#   tristack-lb  127.0.1.102:8443  tls_tickets = no, tls_session_cache = 0
#   HAProxy      127.0.1.103:8443  no-tls-tickets, tune.ssl.cachesize 0
# Both sides offer the same TLS 1.3 suites in the same order, TLS 1.2 min.
# wrk on CPU0, everything else on CPU1 (notes/anchors-bench.md). Modes:
#   keepalive  requests/s on kept-alive TLS connections
#   resumed    Connection: close, resumption allowed (wrk resumes sessions)
#   full       Connection: close against the instances that cannot resume:
#              a full handshake per request
# Handshake modes saturate wrk's core, so the server CPU per request (from
# /proc/PID/stat) is the fairer figure there; both are printed. Then memory
# per idle TLS connection: fresh processes, IDLE_CONNS connections that each
# made one GET over TLS and sit idle.
. "$(dirname "$0")/lib.sh"

mkdir -p "$BENCH_DIR/www"
head -c 1024 /dev/urandom | base64 -w 0 | head -c 1024 > "$BENCH_DIR/www/1k.html"
start_nginx be1 127.0.1.1:8080 "$BENCH_DIR/www"
start_nginx be2 127.0.1.2:8080 "$BENCH_DIR/www"

# one ECDSA P-256 certificate, key in the same file, for both
PEM=$BENCH_DIR/site.pem
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
	-subj /CN=bench.example -addext "subjectAltName=DNS:bench.example" \
	-keyout "$BENCH_DIR/site.key" -out "$BENCH_DIR/site.crt" 2>/dev/null
cat "$BENCH_DIR/site.crt" "$BENCH_DIR/site.key" > "$PEM"

SUITES=TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256
CIPHERS=ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305

ts_conf() { # ts_conf ADDR EXTRA
	cat <<CONF
[site]
www = lb
[host lb]
address = $1
roles = lb
[lb]
listen     = :8080
tls_listen = :8443
tls_cert   = $PEM
hsts       = 0
admin      =
threads    = 1
balance    = roundrobin
server     = 127.0.1.1:8080
server     = 127.0.1.2:8080
timeout_http_keep_alive = 60s
# one wrk address stands in for many clients, and HAProxy has no limits here
rate_limit = off
rate_limit_write = off
conn_limit = off
$2
CONF
}
ts_conf 127.0.1.100 "" > "$BENCH_DIR/ts.conf"
ts_conf 127.0.1.102 "tls_tickets = no
tls_session_cache = 0" > "$BENCH_DIR/ts-full.conf"

ha_conf() { # ha_conf ADDR GLOBAL_EXTRA BIND_EXTRA
	cat <<CFG
global
	nbthread 1
	maxconn 9000
	ssl-default-bind-ciphersuites $SUITES
	ssl-default-bind-ciphers $CIPHERS
	ssl-default-bind-options ssl-min-ver TLSv1.2
	ssl-default-bind-curves X25519:P-256:P-384
	$2
defaults
	mode http
	option http-keep-alive
	http-reuse always
	timeout connect 5s
	timeout client 60s
	timeout server 60s
frontend fe
	bind $1:8443 ssl crt $PEM alpn http/1.1 $3
	default_backend be
backend be
	balance roundrobin
	server be1 127.0.1.1:8080
	server be2 127.0.1.2:8080
CFG
}
ha_conf 127.0.1.101 "" "" > "$BENCH_DIR/ha.cfg"
ha_conf 127.0.1.103 "tune.ssl.cachesize 0" "no-tls-tickets" > "$BENCH_DIR/ha-full.cfg"

start_all() {
	taskset -c $SERVER_CPU "$BIN/tristack-lb" -c "$BENCH_DIR/ts.conf" 2>>"$BENCH_DIR/ts.log" &
	TS_PID=$!
	taskset -c $SERVER_CPU "$BIN/tristack-lb" -c "$BENCH_DIR/ts-full.conf" 2>>"$BENCH_DIR/ts.log" &
	TSF_PID=$!
	taskset -c $SERVER_CPU haproxy -db -f "$BENCH_DIR/ha.cfg" 2>>"$BENCH_DIR/ha.log" &
	HA_PID=$!
	taskset -c $SERVER_CPU haproxy -db -f "$BENCH_DIR/ha-full.cfg" 2>>"$BENCH_DIR/ha.log" &
	HAF_PID=$!
	BENCH_PIDS="$BENCH_PIDS $TS_PID $TSF_PID $HA_PID $HAF_PID"
	for a in 127.0.1.100 127.0.1.101 127.0.1.102 127.0.1.103; do
		wait_https "https://$a:8443/1k.html"
	done
}

wait_https() {
	for _ in $(seq 100); do
		[ "$(curl -sk -o /dev/null -w '%{http_code}' --max-time 1 "$1")" = 200 ] && return 0
		sleep 0.1
	done
	echo "bench: $1 does not answer" >&2
	return 1
}

wait_http http://127.0.1.1:8080/1k.html
wait_http http://127.0.1.2:8080/1k.html
start_all

# the handshake each side negotiates, for the record
for a in 127.0.1.100 127.0.1.101; do
	echo | openssl s_client -connect $a:8443 2>/dev/null | awk -v a=$a '/^New,/ {print "  " a ": " $0}'
done

for r in $(seq "$ROUNDS"); do
	echo "== round $r of $ROUNDS (${SECONDS_PER_RUN}s each)"
	one_run ts_keepalive $TS_PID https://127.0.1.100:8443/1k.html
	one_run an_keepalive $HA_PID https://127.0.1.101:8443/1k.html
	one_run ts_resumed $TS_PID https://127.0.1.100:8443/1k.html -H "Connection: close"
	one_run an_resumed $HA_PID https://127.0.1.101:8443/1k.html -H "Connection: close"
	one_run ts_full $TSF_PID https://127.0.1.102:8443/1k.html -H "Connection: close"
	one_run an_full $HAF_PID https://127.0.1.103:8443/1k.html -H "Connection: close"
done

echo
table tristack-lb haproxy keepalive resumed full

# memory per idle TLS connection, fresh processes
kill $TS_PID $TSF_PID $HA_PID $HAF_PID
wait $TS_PID $TSF_PID $HA_PID $HAF_PID 2>/dev/null || true
start_all
ts_idle=$(idle_mem "$TS_PID" 127.0.1.100 8443 /1k.html tls)
ha_idle=$(idle_mem "$HA_PID" 127.0.1.101 8443 /1k.html tls)
idle_line "$ts_idle" "$ha_idle"

echo
echo "RESULT tls_keepalive_rps=$keepalive_rps_ts"
echo "RESULT haproxy_tls_keepalive_rps=$keepalive_rps_anchor"
echo "RESULT tls_keepalive_rps_ratio=$(ratio "$keepalive_rps_ts" "$keepalive_rps_anchor")"
echo "RESULT tls_keepalive_cpu_us_per_req_ratio=$(ratio "$keepalive_cpu_us_ts" "$keepalive_cpu_us_anchor")"
echo "RESULT tls_resumed_per_s=$resumed_rps_ts"
echo "RESULT haproxy_tls_resumed_per_s=$resumed_rps_anchor"
echo "RESULT tls_resumed_ratio=$(ratio "$resumed_rps_ts" "$resumed_rps_anchor")"
echo "RESULT tls_resumed_cpu_us_ratio=$(ratio "$resumed_cpu_us_ts" "$resumed_cpu_us_anchor")"
echo "RESULT tls_full_per_s=$full_rps_ts"
echo "RESULT haproxy_tls_full_per_s=$full_rps_anchor"
echo "RESULT tls_full_ratio=$(ratio "$full_rps_ts" "$full_rps_anchor")"
echo "RESULT tls_full_cpu_us_ratio=$(ratio "$full_cpu_us_ts" "$full_cpu_us_anchor")"
echo "RESULT tls_idle_conn_bytes=$ts_idle"
echo "RESULT haproxy_tls_idle_conn_bytes=$ha_idle"
echo "RESULT tls_idle_conn_mem_ratio=$(ratio "$ts_idle" "$ha_idle")"
