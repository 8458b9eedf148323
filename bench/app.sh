#!/bin/bash
# bench/app.sh - the whole request path (lb -> web -> app -> MariaDB) beside
# sysbench against the same replica: the database's own ceiling.
#
# A stack of its own on 127.0.3.1-3 (tristack up, state in the scratch
# folder): lb-01, web-01 (app, primary), web-02 (app, replica). posts holds
# POSTS rows. Everything the stack runs (mariadbd x2, lb, web x2, app x2) is
# on CPU1 and the load generator on CPU0, so both sides of the comparison
# get the same single server CPU:
#   reads:  wrk GET /api/posts/<random id> through the LB (no cookie: the
#           replica answers)  vs  sysbench oltp_point_select on the replica
#           (prepared SELECT by primary key, the app's account, over TCP)
#   writes: wrk POST /api/posts (JSON) through the LB  vs  sysbench
#           oltp_insert on the primary
# both at CONNS concurrency (wrk -c / sysbench --threads). ROUNDS rounds,
# the stack first in odd ones and sysbench in even ones; median (min..max)
# of rps and p99 over the valid runs (lib.sh). A wrk run is invalid with
# socket errors, non-2xx answers or app database errors during it; a
# sysbench run with errors or reconnects. The apps' database errors and
# reads sent to the primary instead (tristack_app_db_errors_total,
# tristack_app_db_read_fallbacks_total by reason, from their /metrics) are
# counted around every run and reported as RESULT lines. The target
# (issue 5): reads >= 0.5x.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

CONNS=${BENCH_APP_CONNS:-16}
bench_banner
POSTS=${BENCH_POSTS:-10000}
NET=127.0.3
STATE=$BENCH_DIR/state
CONF=$BENCH_DIR/stack.conf
export LC_ALL=C

# no access logs (sysbench keeps none either), and no TLS: the LB serves the
# site on plain HTTP as sysbench talks to MariaDB in the clear (bench/tls.sh
# measures TLS)
sed -e "s/127\.0\.0\./$NET./g" -e "s|^root\(\s*\)= www|root\1= $ROOT/www|" \
	-e '/^access_log/d' -e '/^tls_listen/d' "$ROOT/conf/foobar.conf" > "$CONF"
# one wrk address stands in for many clients: no limits per client address
sed -i 's/^\[lb\]$/[lb]\nrate_limit = off\nrate_limit_write = off\nconn_limit = off/' "$CONF"

ctl() { "$BIN/tristack" -c "$CONF" --state "$STATE" "$@"; }
stack_down() { ctl down >/dev/null 2>&1 || true; }
trap 'stack_down; bench_cleanup' EXIT INT TERM

echo "== bringing the stack up on CPU$SERVER_CPU"
taskset -c "$SERVER_CPU" "$BIN/tristack" -c "$CONF" --state "$STATE" up >/dev/null
URL=http://$NET.1:8080
wait_http "$URL/healthz"

sql() { # sql HOST STATEMENT... : as root over the instance's socket
	h=$1
	shift
	mariadb --no-defaults --socket="$STATE/run/$h.db.sock" -uroot -N -B -D foobar -e "$*"
}
sql web-01 "INSERT INTO foobar.posts (author, body)
	SELECT CONCAT('bench-', seq), REPEAT('A post of the benchmark. ', 8)
	FROM seq_1_to_$POSTS"
# sysbench's table beside posts, made as root on the primary
SB=(sysbench --db-driver=mysql --mysql-db=foobar --tables=1 --table-size="$POSTS")
"${SB[@]}" --mysql-socket="$STATE/run/web-01.db.sock" --mysql-user=root oltp_point_select \
	prepare >/dev/null
# the app's accounts have grants per table (tristack up): give them what
# sysbench does with its own table, as the app has on posts (replicated)
for h in $(sql web-01 "SELECT host FROM mysql.user WHERE user = 'app'"); do
	sql web-01 "GRANT SELECT, INSERT ON foobar.sbtest1 TO 'app'@'$h'"
done
# wait until the replica has all of it
for _ in $(seq 200); do
	n=$(sql web-02 "SELECT (SELECT COUNT(*) FROM foobar.posts) + (SELECT COUNT(*) FROM foobar.sbtest1)")
	[ "$n" -ge $((2 * POSTS)) ] && break
	sleep 0.1
done
PASS=$(cat "$STATE/secrets/app.password")
SB_NET=("${SB[@]}" --mysql-user=app --mysql-password="$PASS" --mysql-port=3306 --threads="$CONNS")

cat > "$BENCH_DIR/get.lua" <<LUA
math.randomseed(os.time())
request = function()
	return wrk.format("GET", "/api/posts/" .. math.random(1, $POSTS))
end
LUA
cat > "$BENCH_DIR/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"author":"bench","body":"A post written by the benchmark, about a hundred bytes long, like a short message."}'
LUA

# app_db: the apps' database counters, summed over both: "errors
# fallbacks_replica_down fallbacks_replica_lag fallbacks_gtid_wait_timeout"
app_db() {
	curl -s --max-time 2 "http://$NET.2:9001/metrics" "http://$NET.3:9001/metrics" | awk '
		/^tristack_app_db_errors_total/ { e += $2 }
		/^tristack_app_db_read_fallbacks_total\{reason="replica_down"\}/ { d += $2 }
		/^tristack_app_db_read_fallbacks_total\{reason="replica_lag"\}/ { l += $2 }
		/^tristack_app_db_read_fallbacks_total\{reason="gtid_wait_timeout"\}/ { g += $2 }
		END { printf "%d %d %d %d\n", e, d, l, g }'
}

# sysbench_run NAME TEST HOST: appends "rps p99_ms valid" to $BENCH_DIR/NAME;
# a run that failed, or saw errors or reconnects, is invalid
sysbench_run() {
	name=$1 test=$2 host=$3
	taskset -c "$WRK_CPU" "${SB_NET[@]}" --mysql-host="$host" --time="$WARMUP" "$test" run >/dev/null || true
	valid=1
	out=$(taskset -c "$WRK_CPU" "${SB_NET[@]}" --mysql-host="$host" --time="$SECONDS_PER_RUN" \
		--percentile=99 "$test" run 2>&1) || valid=0
	qps=$(echo "$out" | awk '/queries:/ {gsub(/[()]/, "", $3); print $3; exit}')
	p99=$(echo "$out" | awk '/99th percentile:/ {print $3}')
	errs=$(echo "$out" | awk '(/ignored errors:/ && $3 > 0) || (/reconnects:/ && $2 > 0) {
		sub(/^ +/, ""); print }' | paste -sd ';' -)
	if [ -z "$qps" ]; then
		errs=$(echo "$out" | grep -m1 -i 'error\|fatal' || echo "no figures from sysbench")
	fi
	if [ -n "$errs" ] || [ -z "$qps" ]; then valid=0; fi
	mark=""
	[ "$valid" = 1 ] || mark=" INVALID${errs:+ ($errs)}"
	echo "  $name: ${qps:-0} queries/s, p99 ${p99:-0} ms$mark"
	echo "${qps:-0} ${p99:-0} $valid" >> "$BENCH_DIR/$name"
}

# stack_ticks: "unit ticks" for each daemon of the stack (from its pid file)
stack_ticks() {
	for f in "$STATE"/run/*.pid; do
		u=$(basename "$f" .pid)
		echo "$u $(cpu_ticks "$(cat "$f")")"
	done
}

# wrk_run NAME SCRIPT PATH: appends "rps p99_ms valid" to $BENCH_DIR/NAME,
# and where the server CPU went, per request and daemon, to NAME.cpu; the
# run is invalid with wrk errors or app database errors during it
wrk_run() {
	name=$1 script=$2 url=$URL$3
	taskset -c "$WRK_CPU" wrk -t1 -c"$CONNS" -d"${WARMUP}s" -s "$script" "$url" >/dev/null
	read -r e0 _ <<<"$(app_db)"
	stack_ticks > "$BENCH_DIR/t0"
	read -r rps p50 p99 valid <<<"$(run_wrk "$url" -s "$script")"
	stack_ticks > "$BENCH_DIR/t1"
	read -r e1 _ <<<"$(app_db)"
	mark=""
	[ "$valid" = 1 ] || mark=" INVALID"
	if [ "$e1" -gt "$e0" ]; then
		valid=0 mark=" INVALID ($((e1 - e0)) app database errors)"
	fi
	echo "  $name: $rps requests/s, p50 $p50 ms, p99 $p99 ms$mark"
	echo "$rps $p99 $valid" >> "$BENCH_DIR/$name"
	join "$BENCH_DIR/t0" "$BENCH_DIR/t1" | awk -v r="$rps" -v s="$SECONDS_PER_RUN" -v hz="$HZ" '
		{ us = r > 0 ? ($3 - $2) / hz * 1e6 / (r * s) : 0; tot += us
		  line = line sprintf(" %s %.0f", $1, us) }
		END { printf "    server CPU us/request:%s; total %.0f\n", line, tot }' |
		tee "$BENCH_DIR/$name.cpu"
}

# run_side SIDE KIND: the stack (ts) or sysbench (an), reads or writes
run_side() {
	case $1-$2 in
	ts-read) wrk_run ts_read "$BENCH_DIR/get.lua" / ;;
	an-read) sysbench_run an_read oltp_point_select $NET.3 ;;
	ts-write) wrk_run ts_write "$BENCH_DIR/post.lua" /api/posts ;;
	an-write) sysbench_run an_write oltp_insert $NET.2 ;;
	esac
}

read -r db_e0 db_d0 db_l0 db_g0 <<<"$(app_db)"
for r in $(seq "$ROUNDS"); do
	echo "== round $r of $ROUNDS (${SECONDS_PER_RUN}s each, concurrency $CONNS)"
	for kind in read write; do
		round_header "$r" tristack sysbench "$kind"
		alternate "$r" run_side "$kind"
	done
done
read -r db_e1 db_d1 db_l1 db_g1 <<<"$(app_db)"
errors=$((db_e1 - db_e0))
fb_down=$((db_d1 - db_d0)) fb_lag=$((db_l1 - db_l0)) fb_gtid=$((db_g1 - db_g0))

echo
table tristack sysbench "rps p99_ms" read write
echo "app database errors during the rounds (warm-ups included): $errors;" \
	"reads sent to the primary: $((fb_down + fb_lag + fb_gtid))" \
	"(replica down $fb_down, replica lagging $fb_lag, GTID wait timed out $fb_gtid)"
echo "where the server CPU went (last round):"
echo " reads: $(sed 's/^ *server CPU //' "$BENCH_DIR/ts_read.cpu")"
echo " writes: $(sed 's/^ *server CPU //' "$BENCH_DIR/ts_write.cpu")"
results app sysbench "rps p99_ms" read write
echo "RESULT app_db_errors=$errors"
echo "RESULT app_db_read_fallbacks=$((fb_down + fb_lag + fb_gtid))"
echo "RESULT app_db_read_fallbacks_replica_down=$fb_down"
echo "RESULT app_db_read_fallbacks_replica_lag=$fb_lag"
echo "RESULT app_db_read_fallbacks_gtid_wait_timeout=$fb_gtid"
