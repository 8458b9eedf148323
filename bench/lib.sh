# shellcheck shell=bash
# bench/lib.sh - shared by the bench scripts: scratch folder, nginx backends,
# wrk runs, CPU accounting, rounds in alternating order, valid runs and
# medians, RESULT lines, results files. Sourced, not run.
#
# Method (../shared/notes/anchors-bench.md): wrk -t1 -c64 pinned alone on
# CPU0, the servers on CPU1; a warm-up per target; BENCH_ROUNDS rounds (5),
# ours first in odd rounds and the anchor first in even ones; the median
# with min..max over the valid runs. A run with socket errors or non-2xx
# answers is invalid: shown as such, left out of the median; a figure with
# fewer than BENCH_MIN_VALID valid runs (3) is INVALID. Everything started
# here is stopped by PID on exit.
#
# Settings (environment): BENCH_ROUNDS (5), BENCH_SECONDS per run (8),
# BENCH_WARMUP seconds (2), BENCH_CONNS (64), BENCH_IDLE_CONNS (5000). A
# run shorter than the defaults (fewer rounds or seconds) is a validation
# run: it proves the machinery, its figures are not to be quoted, and its
# results file says so. Quick check of every script:
#   BENCH_SECONDS=2 BENCH_WARMUP=1 BENCH_ROUNDS=5 BENCH_IDLE_CONNS=500 bash bench/web.sh

set -eu
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck disable=SC2034 # the settings are for the scripts that source this
BIN=${TRISTACK_BIN:-$ROOT/build/bin}
ROUNDS=${BENCH_ROUNDS:-5}
SECONDS_PER_RUN=${BENCH_SECONDS:-8}
WARMUP=${BENCH_WARMUP:-2}
CONNS=${BENCH_CONNS:-64}
MIN_VALID=${BENCH_MIN_VALID:-3}
[ "$MIN_VALID" -gt "$ROUNDS" ] && MIN_VALID=$ROUNDS
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

# bench_short: true when this run is shorter than a measuring run
bench_short() {
	[ "${BENCH_VALIDATION:-0}" = 1 ] || [ "$ROUNDS" -lt 5 ] || [ "$SECONDS_PER_RUN" -lt 8 ] ||
		[ "$WARMUP" -lt 2 ]
}

# bench_banner: the settings, first thing each script prints
bench_banner() {
	echo "bench: $ROUNDS rounds of ${SECONDS_PER_RUN}s (warm-up ${WARMUP}s), concurrency $CONNS;" \
		"ours first in odd rounds, the anchor first in even ones;" \
		"runs with socket errors or non-2xx answers are invalid and left out"
	if bench_short; then
		echo "bench: VALIDATION run (shorter than BENCH_ROUNDS=5 BENCH_SECONDS=8 BENCH_WARMUP=2):" \
			"it proves the machinery; its figures are not to be quoted"
	fi
}

# wait_http URL: poll until it answers 200, 10 s at most
wait_http() {
	for _ in $(seq 100); do
		if [ "$(curl -sk -o /dev/null -w '%{http_code}' --max-time 1 "$1")" = 200 ]; then
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
	# what tristack-web sends with a static HTML file (the benches serve
	# .html only), so both sides send the same head
	types { text/html html; }
	add_header X-Content-Type-Options nosniff;
	add_header Content-Security-Policy "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'";
	add_header X-Frame-Options DENY;
	server { listen $listen; root $root; }
}
NGX
	taskset -c "$SERVER_CPU" nginx -e "$d/error.log" -c "$d/nginx.conf" &
	BENCH_PIDS="$BENCH_PIDS $!"
}

# cpu_ticks PID: utime+stime of a process, in clock ticks
cpu_ticks() {
	awk '{print $14 + $15}' "/proc/$1/stat"
}

# wrk_errors: from wrk's output on stdin, its error lines joined ("" if none)
wrk_errors() {
	awk '/Non-2xx|Socket errors/ { sub(/^ +/, ""); printf "%s%s", sep, $0; sep = "; " }'
}

# run_wrk URL [extra wrk args]: prints "rps p50_ms p99_ms valid", valid 0
# when wrk saw socket errors or non-2xx answers (said on stderr)
run_wrk() {
	url=$1
	shift
	out=$(taskset -c "$WRK_CPU" wrk -t1 -c"$CONNS" -d"${SECONDS_PER_RUN}s" --latency "$@" "$url")
	rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
	p50=$(echo "$out" | awk '$1 == "50%" {print $2}')
	p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
	errs=$(echo "$out" | wrk_errors)
	valid=1
	if [ -n "$errs" ] || [ -z "$rps" ]; then
		echo "  INVALID run against $url: ${errs:-no figures from wrk}" >&2
		valid=0
	fi
	echo "${rps:-0} $(to_ms "${p50:-0}") $(to_ms "${p99:-0}") $valid"
}

# to_ms 1.23ms|456.00us|1.2s|1.00m -> milliseconds
to_ms() {
	case $1 in
	*us) awk -v v="${1%us}" 'BEGIN {printf "%.3f", v / 1000}' ;;
	*ms) echo "${1%ms}" ;;
	*m) awk -v v="${1%m}" 'BEGIN {printf "%.3f", v * 60000}' ;;
	*s) awk -v v="${1%s}" 'BEGIN {printf "%.3f", v * 1000}' ;;
	*) echo "$1" ;;
	esac
}

# stats FILE COLUMN: over the valid runs of FILE (one run a line, the last
# field 1 when valid), prints "median min max valid invalid"; the figures
# are INVALID when fewer than MIN_VALID runs were valid
stats() {
	awk -v i="$2" '$NF == 1 { print $i }' "$1" | sort -g | awk -v need="$MIN_VALID" \
		-v total="$(wc -l < "$1")" '
		{ v[NR] = $1 }
		END {
			if (NR < need || NR == 0) {
				printf "INVALID INVALID INVALID %d %d\n", NR, total - NR
				exit
			}
			if (NR % 2) med = v[(NR + 1) / 2]; else med = (v[NR / 2] + v[NR / 2 + 1]) / 2
			printf "%.2f %.2f %.2f %d %d\n", med, v[1], v[NR], NR, total - NR
		}'
}

# ratio A B: A / B, INVALID if either is
ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN {
		if (a == "INVALID" || b == "INVALID") print "INVALID"
		else if (b > 0) printf "%.2f", a / b
		else print "nan" }'
}

# alternate ROUND FN [ARGS...]: FN ts ARGS, then FN an ARGS in odd rounds;
# the other way round in even ones, so neither side always runs on the
# machine the other just warmed (or loaded)
alternate() {
	r=$1 fn=$2
	shift 2
	if [ $((r % 2)) = 1 ]; then
		"$fn" ts "$@"
		"$fn" an "$@"
	else
		"$fn" an "$@"
		"$fn" ts "$@"
	fi
}

# round_header ROUND OURS ANCHOR [what]: " round 2 of 5 (nginx first)"
round_header() {
	first=$2
	[ $(($1 % 2)) = 0 ] && first=$3
	echo " round $1 of $ROUNDS ($first first)${4:+, $4}"
}

# one_run NAME PID URL [wrk args]: a warm-up, then a measured run; appends
# "rps p99_ms cpu_us_per_request valid" to $BENCH_DIR/NAME
one_run() {
	name=$1 pid=$2 url=$3
	shift 3
	taskset -c "$WRK_CPU" wrk -t1 -c"$CONNS" -d"${WARMUP}s" "$@" "$url" >/dev/null
	t0=$(cpu_ticks "$pid")
	read -r rps p50 p99 valid <<<"$(run_wrk "$url" "$@")"
	t1=$(cpu_ticks "$pid")
	cpu_us=$(awk -v t="$((t1 - t0))" -v hz="$HZ" -v r="$rps" -v s="$SECONDS_PER_RUN" \
		'BEGIN { if (r > 0) printf "%.1f", t / hz * 1e6 / (r * s); else print 0 }')
	mark=""
	[ "$valid" = 1 ] || mark=" INVALID"
	echo "  $name: $rps rps, p50 $p50 ms, p99 $p99 ms, $cpu_us us CPU/request$mark"
	echo "$rps $p99 $cpu_us $valid" >> "$BENCH_DIR/$name"
}

# table OURS ANCHOR "FIGURES" MODE...: for each mode and figure (FIGURES
# names the columns of the run files in order, e.g. "rps p99_ms cpu_us"),
# the median (min..max) of ours (file ts_MODE) beside the anchor's (an_MODE)
# and the ratio; invalid runs are counted beside. Sets
# <mode>_<figure>_{ts,an}{,_min,_max} and <mode>_{ts,an}_invalid.
table() {
	ours=$1 anchor=$2 figures=$3
	shift 3
	printf "%-12s %-9s %34s %34s %7s\n" mode figure "$ours median (min..max)" \
		"$anchor median (min..max)" ratio
	for mode in "$@"; do
		i=0
		for what in $figures; do
			i=$((i + 1))
			for side in ts an; do
				read -r med lo hi _ bad <<<"$(stats "$BENCH_DIR/${side}_$mode" "$i")"
				cell="$med ($lo..$hi)"
				[ "$med" = INVALID ] && cell="INVALID"
				[ "$bad" -gt 0 ] && cell="$cell [$bad bad]"
				eval "${mode}_${what}_$side=$med ${mode}_${what}_${side}_min=$lo"
				eval "${mode}_${what}_${side}_max=$hi ${mode}_${side}_invalid=$bad"
				eval "cell_$side=\$cell"
			done
			eval "m_ts=\$${mode}_${what}_ts m_an=\$${mode}_${what}_an"
			# shellcheck disable=SC2154 # set by the evals above
			printf "%-12s %-9s %34s %34s %7s\n" "$mode" "$what" "$cell_ts" "$cell_an" \
				"$(ratio "$m_ts" "$m_an")"
		done
	done
	echo "([k bad]: runs with socket errors or non-2xx answers, left out of the median;"
	echo " INVALID: fewer than $MIN_VALID valid runs of $ROUNDS)"
}

# results OURS ANCHOR "FIGURES" MODE...: RESULT lines for what table set:
# OURS_MODE_FIGURE (median), _min, _max, the same for ANCHOR, the ratio
# OURS_MODE_FIGURE_ratio, and OURS_MODE_invalid_runs / ANCHOR_MODE_invalid_runs
results() {
	ours=$1 anchor=$2 figures=$3
	shift 3
	for mode in "$@"; do
		for what in $figures; do
			for side in ts an; do
				key=$ours
				[ $side = an ] && key=$anchor
				m="" lo="" hi=""
				eval "m=\$${mode}_${what}_$side lo=\$${mode}_${what}_${side}_min"
				eval "hi=\$${mode}_${what}_${side}_max"
				echo "RESULT ${key}_${mode}_${what}=$m"
				echo "RESULT ${key}_${mode}_${what}_min=$lo"
				echo "RESULT ${key}_${mode}_${what}_max=$hi"
			done
			eval "m_ts=\$${mode}_${what}_ts m_an=\$${mode}_${what}_an"
			echo "RESULT ${ours}_${mode}_${what}_ratio=$(ratio "$m_ts" "$m_an")"
		done
		eval "echo \"RESULT ${ours}_${mode}_invalid_runs=\$${mode}_ts_invalid\""
		eval "echo \"RESULT ${anchor}_${mode}_invalid_runs=\$${mode}_an_invalid\""
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
	coproc IDLE { taskset -c "$WRK_CPU" python3 "$ROOT/bench/idle_conns.py" "$2" "$3" "$IDLE_CONNS" "$4" ${5:+"$5"}; }
	read -r ready _ <&"${IDLE[0]}"
	[ "$ready" = ready ] || { echo "bench: idle connections failed" >&2; exit 1; }
	holding=$(rss_kib "$pid")
	echo >&"${IDLE[1]}"
	wait "$IDLE_PID" 2>/dev/null || true
	awk -v a="$before" -v b="$holding" -v n="$IDLE_CONNS" 'BEGIN { printf "%.0f", (b - a) * 1024 / n }'
}

# idle_line OURS_BYTES ANCHOR_BYTES: the memory row of the table
idle_line() {
	printf "%-12s %-9s %34s %34s %7s\n" idle bytes/conn "$1" "$2" "$(ratio "$1" "$2")"
	printf "%-12s %-9s %34s %34s\n" idle KiB/1000 "$(awk -v b="$1" 'BEGIN{printf "%.0f", b*1000/1024}')" \
		"$(awk -v b="$2" 'BEGIN{printf "%.0f", b*1000/1024}')"
}

# ---- results files (bench/record.sh, make bench, make faults) ----

# machine_header NAME COMMAND...: what a figure needs beside it to be read:
# when, which tree, which machine, which tools, which settings
machine_header() {
	name=$1
	shift
	echo "# tristack results: $name"
	echo "# command: $*"
	echo "# date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "# commit: $(git -C "$ROOT" log -1 --format='%H (%ad) %s' --date=short)$(commit_dirty)"
	echo "# machine: nproc $(nproc); CPU $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo);" \
		"kernel $(uname -r); memory $(awk '/^MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
	echo "# load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "# tools: $(tool_versions)"
	echo "# bench settings: BENCH_ROUNDS=$ROUNDS BENCH_SECONDS=$SECONDS_PER_RUN BENCH_WARMUP=$WARMUP" \
		"BENCH_CONNS=$CONNS BENCH_IDLE_CONNS=$IDLE_CONNS BENCH_MIN_VALID=$MIN_VALID"
	if bench_short; then
		echo "# VALIDATION run: shorter than a measuring run; proves the machinery," \
			"its figures are not to be quoted"
	fi
	echo
}

# commit_dirty: " + uncommitted changes" when the tracked tree differs from HEAD
# (the results themselves, bench/results/, do not count)
commit_dirty() {
	git -C "$ROOT" diff --quiet HEAD -- . ':!bench/results' 2>/dev/null ||
		echo " + uncommitted changes"
}

tool_versions() {
	v=""
	command -v haproxy >/dev/null && v="$v haproxy $(haproxy -v | awk 'NR == 1 {print $3}');"
	command -v nginx >/dev/null && v="$v nginx $(nginx -v 2>&1 | sed 's|.*nginx/||');"
	command -v wrk >/dev/null && v="$v wrk $(wrk -v 2>&1 | awk 'NR == 1 {print $2}');"
	command -v openssl >/dev/null && v="$v $(openssl version | cut -d' ' -f1-2);"
	command -v sysbench >/dev/null && v="$v $(sysbench --version);"
	command -v mariadbd >/dev/null && v="$v mariadbd $(mariadbd --version | awk '{print $3}');"
	v=${v# }
	echo "${v%;}"
}

# record NAME COMMAND...: runs COMMAND, its output (stdout and stderr) on
# the terminal and in $BENCH_RESULTS/NAME-<UTC date>-<commit>.txt after
# machine_header, with the exit status at the end. A run that is not a
# validation run and succeeds becomes NAME-latest.txt (a symbolic link).
# @STEM@ in an argument stands for the file's name without .txt, for files
# of the command's own beside it (faults.py --json @STEM@.json).
record() {
	name=$1
	shift
	dir=${BENCH_RESULTS:-$ROOT/bench/results}
	mkdir -p "$dir"
	commit=$(git -C "$ROOT" rev-parse --short=10 HEAD)
	[ -z "$(commit_dirty)" ] || commit=$commit-dirty
	kind=""
	bench_short && kind=-validation
	file=$dir/$name-$(date -u +%Y%m%dT%H%M%SZ)-$commit$kind.txt
	stem=${file%.txt}
	args=()
	for a in "$@"; do args+=("${a//@STEM@/$stem}"); done
	machine_header "$name" "${args[@]}" > "$file"
	set +e
	"${args[@]}" 2>&1 | tee -a "$file"
	rc=${PIPESTATUS[0]}
	set -e
	printf '\n# exit status: %s; ended %s\n' "$rc" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >> "$file"
	if [ -z "$kind" ] && [ "$rc" = 0 ]; then
		ln -sfn "$(basename "$file")" "$dir/$name-latest.txt"
	fi
	echo "bench: written to ${file#"$ROOT"/}"
	return "$rc"
}
