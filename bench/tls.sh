#!/bin/bash
# bench/tls.sh - HTTPS at tristack-lb beside HAProxy 2.6, same box, same
# backends, the same ECDSA P-256 certificate.
#
# Two nginx backends (1 KiB file, lib.sh's start_nginx) on 127.0.1.1-2:8080.
# Four load balancers, one thread each, round robin over them, no logging,
# no HSTS:
#   tristack-lb  127.0.1.100:8443  resumption on (tickets + session cache)
#   HAProxy      127.0.1.101:8443  the same
#   tristack-lb  127.0.1.102:8443  tls_tickets = no, tls_session_cache = 0
#   HAProxy      127.0.1.103:8443  no-tls-tickets, tune.ssl.cachesize 0,
#                                  ssl-max-ver TLSv1.2
# Both sides offer the same TLS 1.3 suites in the same order, TLS 1.2 min.
# wrk on CPU0, everything else on CPU1 (notes/anchors-bench.md). Modes:
#   keepalive  requests/s on kept-alive TLS connections (TLS 1.3)
#   resumed    Connection: close, resumption allowed (wrk resumes sessions;
#              TLS 1.3)
#   full       Connection: close against the instances that cannot resume:
#              a full handshake per request, in TLS 1.2 on both sides.
#              Why 1.2: in TLS 1.3 a server sends its session tickets after
#              the handshake, and with tickets and cache off tristack-lb sends
#              none (SSL_CTX_set_num_tickets(0), src/core/tls.c) while HAProxy
#              2.6 cannot be told to and still makes and sends two per
#              handshake, work tristack would be spared. In TLS 1.2 neither
#              sends a ticket (SSL_OP_NO_TICKET on both) nor caches a session,
#              so both do the same work. The client (wrk) is held to TLS 1.2
#              by an OpenSSL configuration (OPENSSL_CONF, MaxProtocol), and
#              HAProxy's bind by ssl-max-ver TLSv1.2; the script prints what
#              one connection to each negotiates and how many tickets it is
#              sent, and counts tristack-lb's handshakes by version from its
#              /metrics (admin listener on 127.0.1.102:8404) around the runs.
# Each round runs every mode, tristack-lb first in odd rounds and HAProxy in
# even ones. Handshake modes saturate wrk's core, so the server CPU per
# request (from /proc/PID/stat) is the fairer figure there; both are
# printed. Then memory per idle TLS connection: fresh processes, IDLE_CONNS
# connections that each made one GET over TLS and sit idle.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
bench_banner

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
# the full-handshake instance answers /metrics too, to count its handshakes
ts_conf 127.0.1.102 "tls_tickets = no
tls_session_cache = 0" | sed 's/^admin .*/admin      = :8404/' > "$BENCH_DIR/ts-full.conf"

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
ha_conf 127.0.1.103 "tune.ssl.cachesize 0" "no-tls-tickets ssl-max-ver TLSv1.2" \
	> "$BENCH_DIR/ha-full.cfg"

# wrk and openssl s_client held to TLS 1.2 for the full-handshake mode
TLS12_CLIENT=$BENCH_DIR/tls12-client.cnf
cat > "$TLS12_CLIENT" <<CNF
openssl_conf = bench_client
[bench_client]
ssl_conf = bench_ssl
[bench_ssl]
system_default = bench_tls12
[bench_tls12]
MinProtocol = TLSv1.2
MaxProtocol = TLSv1.2
CNF

start_all() {
	taskset -c "$SERVER_CPU" "$BIN/tristack-lb" -c "$BENCH_DIR/ts.conf" 2>>"$BENCH_DIR/ts.log" &
	TS_PID=$!
	taskset -c "$SERVER_CPU" "$BIN/tristack-lb" -c "$BENCH_DIR/ts-full.conf" 2>>"$BENCH_DIR/ts.log" &
	TSF_PID=$!
	taskset -c "$SERVER_CPU" haproxy -db -f "$BENCH_DIR/ha.cfg" 2>>"$BENCH_DIR/ha.log" &
	HA_PID=$!
	taskset -c "$SERVER_CPU" haproxy -db -f "$BENCH_DIR/ha-full.cfg" 2>>"$BENCH_DIR/ha.log" &
	HAF_PID=$!
	BENCH_PIDS="$BENCH_PIDS $TS_PID $TSF_PID $HA_PID $HAF_PID"
	for a in 127.0.1.100 127.0.1.101 127.0.1.102 127.0.1.103; do
		wait_https "https://$a:8443/1k.html"
	done
}

wait_https() { wait_http "$@"; }

wait_http http://127.0.1.1:8080/1k.html
wait_http http://127.0.1.2:8080/1k.html
start_all

# handshake_check ADDR [CLIENT_CONF]: what one connection negotiates and how
# many session tickets the server sends on it, for the record
handshake_check() {
	out=$(printf 'GET /1k.html HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n' |
		env ${2:+OPENSSL_CONF="$2"} timeout 5 openssl s_client -connect "$1:8443" \
			-servername bench.example -ign_eof -msg 2>/dev/null || true)
	proto=$(echo "$out" | awk '$1 == "Protocol" && $2 == ":" {print $3; exit}')
	cipher=$(echo "$out" | awk '/^New, / {print $NF; exit}')
	tickets=$(echo "$out" | grep -c '^<<< .*NewSessionTicket' || true)
	echo "  $1: ${proto:-no handshake} $cipher, $tickets session ticket(s) sent"
}
echo "== what each instance negotiates (one connection each)"
handshake_check 127.0.1.100
handshake_check 127.0.1.101
handshake_check 127.0.1.102 "$TLS12_CLIENT"
handshake_check 127.0.1.103 "$TLS12_CLIENT"

# ts_handshakes: tristack-lb full instance's handshake counters, "tls12 tls13 resumed"
ts_handshakes() {
	curl -s --max-time 2 http://127.0.1.102:8404/metrics | awk '
		/^tristack_lb_tls_handshakes_by_version_total\{version="TLSv1.2"\}/ { v12 = $2 }
		/^tristack_lb_tls_handshakes_by_version_total\{version="TLSv1.3"\}/ { v13 = $2 }
		/^tristack_lb_tls_handshakes_total\{type="resumed"\}/ { res = $2 }
		END { printf "%d %d %d\n", v12, v13, res }'
}

# run_side SIDE MODE: one measured run of tristack-lb (ts) or HAProxy (an)
run_side() {
	case $2 in
	keepalive) set -- "$1" "$2" 100 101 ;;
	resumed) set -- "$1" "$2" 100 101 -H "Connection: close" ;;
	full) set -- "$1" "$2" 102 103 -H "Connection: close" ;;
	esac
	if [ "$1" = ts ]; then pid=$TS_PID addr=$3; else pid=$HA_PID addr=$4; fi
	if [ "$2" = full ]; then
		[ "$1" = ts ] && pid=$TSF_PID
		[ "$1" = an ] && pid=$HAF_PID
		(
			export OPENSSL_CONF=$TLS12_CLIENT
			one_run "${1}_$2" "$pid" "https://127.0.1.$addr:8443/1k.html" "${@:5}"
		)
	else
		one_run "${1}_$2" "$pid" "https://127.0.1.$addr:8443/1k.html" "${@:5}"
	fi
}

read -r full12_0 full13_0 fullres_0 <<<"$(ts_handshakes)"
for r in $(seq "$ROUNDS"); do
	echo "== round $r of $ROUNDS (${SECONDS_PER_RUN}s each)"
	for mode in keepalive resumed full; do
		round_header "$r" tristack-lb haproxy "$mode"
		alternate "$r" run_side "$mode"
	done
done
read -r full12_1 full13_1 fullres_1 <<<"$(ts_handshakes)"
full12=$((full12_1 - full12_0)) full13=$((full13_1 - full13_0)) fullres=$((fullres_1 - fullres_0))
echo "tristack-lb full-handshake instance, handshakes during the runs (warm-ups included):" \
	"TLS 1.2 $full12, TLS 1.3 $full13, resumed $fullres"
if [ "$full13" -gt 0 ] || [ "$fullres" -gt 0 ]; then
	echo "bench: the full-handshake mode was not TLS 1.2 without resumption: its runs are invalid" >&2
	for f in "$BENCH_DIR/ts_full" "$BENCH_DIR/an_full"; do
		awk '{ $NF = 0; print }' "$f" > "$f.new" && mv "$f.new" "$f"
	done
fi

echo
table tristack-lb haproxy "rps p99_ms cpu_us" keepalive resumed full
echo "(full: TLS 1.2 on both sides, no tickets, no session cache; keepalive and resumed: TLS 1.3)"

# memory per idle TLS connection, fresh processes
kill $TS_PID $TSF_PID $HA_PID $HAF_PID
wait $TS_PID $TSF_PID $HA_PID $HAF_PID 2>/dev/null || true
start_all
ts_idle=$(idle_mem "$TS_PID" 127.0.1.100 8443 /1k.html tls)
ha_idle=$(idle_mem "$HA_PID" 127.0.1.101 8443 /1k.html tls)
idle_line "$ts_idle" "$ha_idle"

echo
results tls haproxy_tls "rps p99_ms cpu_us" keepalive resumed full
echo "RESULT tls_full_protocol=TLSv1.2"
echo "RESULT tls_full_ts_handshakes_tls12=$full12"
echo "RESULT tls_full_ts_handshakes_tls13=$full13"
echo "RESULT tls_full_ts_handshakes_resumed=$fullres"
echo "RESULT tls_idle_conn_bytes=$ts_idle"
echo "RESULT haproxy_tls_idle_conn_bytes=$ha_idle"
echo "RESULT tls_idle_conn_mem_ratio=$(ratio "$ts_idle" "$ha_idle")"
