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
IDLE_CONNS=${BENCH_IDLE_CONNS:-5000}
HZ=$(getconf CLK_TCK)
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"

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
# note says (open_file_cache included: tristack-web keeps files open too),
# whether it is the anchor (web.sh) or a backend both sides share (lb.sh,
# tls.sh); its pid is added to BENCH_PIDS.
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
	open_file_cache max=1000 inactive=20s; open_file_cache_valid 1s;
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

# one_run NAME PID URL [wrk args]: a warm-up, then a measured run; appends
# "rps p99_ms cpu_us_per_request" to $BENCH_DIR/NAME
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

# table OURS ANCHOR MODE...: the median (min..max) of each figure of each
# mode, ours beside the anchor, and the ratio; sets <mode>_<figure>_ts and
# <mode>_<figure>_anchor to the medians.
table() {
	ours=$1 anchor=$2
	shift 2
	printf "%-12s %-9s %28s %28s %6s\n" mode figure "$ours median (min..max)" \
		"$anchor median (min..max)" ratio
	for mode in "$@"; do
		for col in 1:rps 2:p99_ms 3:cpu_us; do
			i=${col%%:*} what=${col#*:}
			a=$(stats "$(awk -v i="$i" '{print $i}' "$BENCH_DIR/ts_$mode")")
			b=$(stats "$(awk -v i="$i" '{print $i}' "$BENCH_DIR/an_$mode")")
			set -- $a
			am=$1 ar="$1 ($2..$3)"
			set -- $b
			bm=$1 br="$1 ($2..$3)"
			printf "%-12s %-9s %28s %28s %6s\n" "$mode" "$what" "$ar" "$br" "$(ratio "$am" "$bm")"
			eval "${mode}_${what}_ts=$am ${mode}_${what}_anchor=$bm"
		done
	done
}

rss_kib() {
	awk '/^VmRSS:/ {print $2}' "/proc/$1/status"
}

# idle_mem PID HOST PORT PATH [tls]: bytes of the process's RSS per idle
# keep-alive connection (IDLE_CONNS of them, one GET each, then idle)
idle_mem() {
	pid=$1
	before=$(rss_kib "$pid")
	coproc IDLE { taskset -c $WRK_CPU python3 "$ROOT/bench/idle_conns.py" "$2" "$3" "$IDLE_CONNS" "$4" ${5:-}; }
	read -r ready _ <&"${IDLE[0]}"
	[ "$ready" = ready ] || { echo "bench: idle connections failed" >&2; exit 1; }
	holding=$(rss_kib "$pid")
	echo >&"${IDLE[1]}"
	wait "$IDLE_PID" 2>/dev/null || true
	awk -v a="$before" -v b="$holding" -v n="$IDLE_CONNS" 'BEGIN { printf "%.0f", (b - a) * 1024 / n }'
}

# idle_line OURS_BYTES ANCHOR_BYTES: the memory row of the table
idle_line() {
	printf "%-12s %-9s %28s %28s %6s\n" idle bytes/conn "$1" "$2" "$(ratio "$1" "$2")"
	printf "%-12s %-9s %28s %28s\n" idle KiB/1000 "$(awk -v b="$1" 'BEGIN{printf "%.0f", b*1000/1024}')" \
		"$(awk -v b="$2" 'BEGIN{printf "%.0f", b*1000/1024}')"
}
