# bench/lib.sh - shared by the bench scripts: scratch folder, nginx backends,
# wrk runs, CPU accounting, medians. Sourced, not run.
#
# Method (../shared/notes/anchors-bench.md): wrk -t1 -c64 pinned alone on
# CPU0, the servers on CPU1; a warm-up per target; interleaved rounds; the
# median with min..max. Everything started here is stopped by PID on exit.

set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${TRISTACK_BIN:-$ROOT/build/bin}
ROUNDS=${BENCH_ROUNDS:-3}
SECONDS_PER_RUN=${BENCH_SECONDS:-8}
WARMUP=${BENCH_WARMUP:-2}
CONNS=${BENCH_CONNS:-64}
WRK_CPU=0
SERVER_CPU=1

BENCH_DIR=$(mktemp -d /tmp/tristack-bench.XXXXXX)
chmod 755 "$BENCH_DIR" # nginx workers run as nobody
BENCH_PIDS=""

bench_cleanup() {
	for p in $BENCH_PIDS; do
		kill "$p" 2>/dev/null || true
	done
	for p in $BENCH_PIDS; do
		for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$p" 2>/dev/null || true
	done
	rm -rf "$BENCH_DIR"
}
trap bench_cleanup EXIT INT TERM

# wait_http URL: poll until it answers 200, 10 s at most
wait_http() {
	for _ in $(seq 100); do
		if [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$1")" = 200 ]; then
			return 0
		fi
		sleep 0.1
	done
	echo "bench: $1 does not answer" >&2
	return 1
}

# start_nginx NAME ADDR:PORT DOCROOT: an nginx configured as the anchors
# note says; its pid is added to BENCH_PIDS.
start_nginx() {
	name=$1 listen=$2 root=$3
	d=$BENCH_DIR/$name
	mkdir -p "$d/tmp"
	chmod 777 "$d/tmp"
	cat > "$d/nginx.conf" <<NGX
worker_processes 1;
daemon off;
pid $d/nginx.pid;
error_log $d/error.log;
events { worker_connections 16000; }
http {
	sendfile on; tcp_nopush on;
	keepalive_requests 1000; keepalive_timeout 65;
	access_log $d/access.log;
	client_body_temp_path $d/tmp/body; proxy_temp_path $d/tmp/proxy;
	fastcgi_temp_path $d/tmp/fcgi; uwsgi_temp_path $d/tmp/uwsgi; scgi_temp_path $d/tmp/scgi;
	default_type application/octet-stream;
	server { listen $listen; root $root; }
}
NGX
	taskset -c $SERVER_CPU nginx -e "$d/error.log" -c "$d/nginx.conf" &
	BENCH_PIDS="$BENCH_PIDS $!"
}

# cpu_ticks PID: utime+stime of a process, in clock ticks
cpu_ticks() {
	awk '{print $14 + $15}' "/proc/$1/stat"
}

# run_wrk URL [extra wrk args]: prints "rps p50_ms p99_ms"
run_wrk() {
	url=$1
	shift
	out=$(taskset -c $WRK_CPU wrk -t1 -c"$CONNS" -d"${SECONDS_PER_RUN}s" --latency "$@" "$url")
	rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
	p50=$(echo "$out" | awk '$1 == "50%" {print $2}')
	p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
	errs=$(echo "$out" | awk '/Non-2xx|Socket errors/ {print}')
	if [ -n "$errs" ]; then
		echo "bench: errors against $url: $errs" >&2
	fi
	echo "$rps $(to_ms "$p50") $(to_ms "$p99")"
}

# to_ms 1.23ms|456.00us|1.2s -> milliseconds
to_ms() {
	case $1 in
	*us) echo "$1" | sed 's/us//' | awk '{printf "%.3f", $1 / 1000}' ;;
	*ms) echo "$1" | sed 's/ms//' ;;
	*s) echo "$1" | sed 's/s//' | awk '{printf "%.3f", $1 * 1000}' ;;
	*) echo "$1" ;;
	esac
}

# stats "v1 v2 v3": prints "median min max"
stats() {
	echo "$1" | tr ' ' '\n' | grep -v '^$' | sort -g | awk '
		{ v[NR] = $1 }
		END {
			if (NR % 2) med = v[(NR + 1) / 2]; else med = (v[NR / 2] + v[NR / 2 + 1]) / 2
			printf "%.2f %.2f %.2f\n", med, v[1], v[NR]
		}'
}

ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "nan" }'
}
