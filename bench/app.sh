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
# median (min..max) of rps and p99. The target (issue 5): reads >= 0.5x.
. "$(dirname "$0")/lib.sh"

CONNS=${BENCH_APP_CONNS:-16}
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
taskset -c $SERVER_CPU "$BIN/tristack" -c "$CONF" --state "$STATE" up >/dev/null
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
SB="sysbench --db-driver=mysql --mysql-db=foobar --tables=1 --table-size=$POSTS"
$SB --mysql-socket="$STATE/run/web-01.db.sock" --mysql-user=root oltp_point_select \
	prepare >/dev/null
# wait until the replica has all of it
for _ in $(seq 200); do
	n=$(sql web-02 "SELECT (SELECT COUNT(*) FROM foobar.posts) + (SELECT COUNT(*) FROM foobar.sbtest1)")
	[ "$n" -ge $((2 * POSTS)) ] && break
	sleep 0.1
done
PASS=$(cat "$STATE/secrets/app.password")
SB_NET="$SB --mysql-user=app --mysql-password=$PASS --mysql-port=3306 --threads=$CONNS"
LB_PID=$(cat "$STATE/run/lb-01.lb.pid")

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

# sysbench_run NAME TEST HOST: appends "rps p99_ms" to $BENCH_DIR/NAME
sysbench_run() {
	name=$1 test=$2 host=$3
	taskset -c $WRK_CPU $SB_NET --mysql-host="$host" --time="$WARMUP" "$test" run >/dev/null
	out=$(taskset -c $WRK_CPU $SB_NET --mysql-host="$host" --time="$SECONDS_PER_RUN" \
		--percentile=99 "$test" run)
	qps=$(echo "$out" | awk '/queries:/ {gsub(/[()]/, "", $3); print $3; exit}')
	p99=$(echo "$out" | awk '/99th percentile:/ {print $3}')
	echo "  $name: $qps queries/s, p99 $p99 ms"
	echo "$qps $p99" >> "$BENCH_DIR/$name"
}

# stack_ticks: "unit ticks" for each daemon of the stack (from its pid file)
stack_ticks() {
	for f in "$STATE"/run/*.pid; do
		u=$(basename "$f" .pid)
		echo "$u $(cpu_ticks "$(cat "$f")")"
	done
}

# wrk_run NAME SCRIPT PATH: appends "rps p99_ms" to $BENCH_DIR/NAME, and
# where the server CPU went, per request and daemon, to NAME.cpu
wrk_run() {
	name=$1 script=$2 url=$URL$3
	taskset -c $WRK_CPU wrk -t1 -c"$CONNS" -d"${WARMUP}s" -s "$script" "$url" >/dev/null
	stack_ticks > "$BENCH_DIR/t0"
	set -- $(run_wrk "$url" -s "$script")
	stack_ticks > "$BENCH_DIR/t1"
	echo "  $name: $1 requests/s, p50 $2 ms, p99 $3 ms"
	echo "$1 $3" >> "$BENCH_DIR/$name"
	join "$BENCH_DIR/t0" "$BENCH_DIR/t1" | awk -v r="$1" -v s="$SECONDS_PER_RUN" -v hz="$HZ" '
		{ us = ($3 - $2) / hz * 1e6 / (r * s); tot += us; line = line sprintf(" %s %.0f", $1, us) }
		END { printf "    server CPU us/request:%s; total %.0f\n", line, tot }' |
		tee "$BENCH_DIR/$name.cpu"
}

for r in $(seq "$ROUNDS"); do
	echo "== round $r of $ROUNDS (${SECONDS_PER_RUN}s each, concurrency $CONNS)"
	wrk_run ts_read "$BENCH_DIR/get.lua" /
	sysbench_run sb_read oltp_point_select $NET.3
	wrk_run ts_write "$BENCH_DIR/post.lua" /api/posts
	sysbench_run sb_write oltp_insert $NET.2
done

errors=$(curl -s "http://$NET.2:9001/metrics" "http://$NET.3:9001/metrics" |
	awk '/^tristack_app_db_errors_total/ {s += $2} END {print s + 0}')
fallbacks=$(curl -s "http://$NET.2:9001/metrics" "http://$NET.3:9001/metrics" |
	awk '/^tristack_app_db_read_fallbacks_total/ {s += $2} END {print s + 0}')

echo
printf "%-8s %-7s %26s %26s %6s\n" what figure "tristack median (min..max)" \
	"sysbench median (min..max)" ratio
for kind in read write; do
	for col in 1:rps 2:p99_ms; do
		i=${col%%:*} what=${col#*:}
		set -- $(stats "$(awk -v i="$i" '{print $i}' "$BENCH_DIR/ts_$kind")")
		am=$1 ar="$1 ($2..$3)"
		set -- $(stats "$(awk -v i="$i" '{print $i}' "$BENCH_DIR/sb_$kind")")
		bm=$1 br="$1 ($2..$3)"
		printf "%-8s %-7s %26s %26s %6s\n" $kind "$what" "$ar" "$br" "$(ratio "$am" "$bm")"
		eval "${kind}_${what}_ts=$am ${kind}_${what}_sb=$bm"
	done
done
echo "(app database errors during the runs: $errors; reads sent to the primary: $fallbacks)"
echo "where the server CPU went (last round):"
echo " reads: $(sed 's/^ *server CPU //' "$BENCH_DIR/ts_read.cpu")"
echo " writes: $(sed 's/^ *server CPU //' "$BENCH_DIR/ts_write.cpu")"
echo "RESULT app_read_rps=$read_rps_ts"
echo "RESULT app_read_p99_ms=$read_p99_ms_ts"
echo "RESULT sysbench_point_select_qps=$read_rps_sb"
echo "RESULT app_read_ratio=$(ratio "$read_rps_ts" "$read_rps_sb")"
echo "RESULT app_write_rps=$write_rps_ts"
echo "RESULT app_write_p99_ms=$write_p99_ms_ts"
echo "RESULT sysbench_insert_qps=$write_rps_sb"
echo "RESULT app_write_ratio=$(ratio "$write_rps_ts" "$write_rps_sb")"
