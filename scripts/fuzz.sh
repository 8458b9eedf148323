#!/bin/sh
# fuzz.sh - run libFuzzer targets, each for SECONDS, over its seed corpus.
#
#   scripts/fuzz.sh SECONDS TARGET...      e.g. scripts/fuzz.sh 60 build-fuzz/fuzz_chunked
#
# A target named NAME starts from the seeds in tests/fuzz/corpus/NAME/, which
# it only reads (libFuzzer writes new inputs to the first corpus directory
# only, and that is a scratch one: build-fuzz/corpus/NAME/), so the repository
# stays clean. Crash inputs go to build-fuzz/artifacts/NAME/ and the output to
# build-fuzz/logs/NAME.log. Prints one summary line per target; exits non-zero
# if any target crashed, timed out, leaked or could not run.
set -u

usage()
{
	echo "usage: $0 SECONDS TARGET..." >&2
	exit 2
}

[ $# -ge 2 ] || usage
secs=$1
shift
case $secs in
'' | *[!0-9]*) usage ;;
esac
[ "$secs" -gt 0 ] || usage

root=$(cd "$(dirname "$0")/.." && pwd)
out=$root/build-fuzz
failed=0

# "stat::name: value" from a log, or "?".
stat()
{
	v=$(sed -n "s/^stat::$1: *//p" "$2" | tail -n 1)
	echo "${v:-?}"
}

for target in "$@"; do
	name=$(basename "$target")
	seeds=$root/tests/fuzz/corpus/$name
	work=$out/corpus/$name
	artifacts=$out/artifacts/$name
	log=$out/logs/$name.log
	if [ ! -x "$target" ]; then
		echo "$name: FAIL: $target is not an executable (make $target)"
		failed=1
		continue
	fi
	if [ ! -d "$seeds" ]; then
		echo "$name: FAIL: no seed corpus $seeds"
		failed=1
		continue
	fi
	mkdir -p "$work" "$artifacts" "$out/logs"

	"$target" -max_total_time="$secs" -max_len=8192 -timeout=10 -print_final_stats=1 \
		-artifact_prefix="$artifacts/" "$work" "$seeds" >"$log" 2>&1
	rc=$?

	runs=$(stat number_of_executed_units "$log")
	per_sec=$(stat average_exec_per_sec "$log")
	new=$(stat new_units_added "$log")
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
	corpus=$(find "$work" "$seeds" -type f | wc -l)
	if [ "$rc" -eq 0 ]; then
		echo "$name: ok: ${secs}s, $runs runs ($per_sec/s), cov ${cov:-?}," \
			"$new units added, $corpus in corpus"
	else
		artifact=$(sed -n 's/.*Test unit written to \([^ ]*\).*/\1/p' "$log" | tail -n 1)
		what=$(sed -n 's/^==[0-9]*== *ERROR: //p' "$log" | head -n 1 | cut -c 1-60)
		echo "$name: FAIL (exit $rc${what:+, $what}): input ${artifact:-none saved}, log $log"
		failed=1
	fi
done
exit $failed
