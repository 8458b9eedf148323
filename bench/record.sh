#!/bin/bash
# bench/record.sh NAME COMMAND... - runs COMMAND and writes its output,
# after a header (date, commit, machine, tools, settings), to
# bench/results/NAME-<UTC date>-<commit>.txt (or under $BENCH_RESULTS);
# NAME-latest.txt points at the newest file of a measuring (not validation)
# run. make bench and make faults run everything through it. See record()
# in lib.sh.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
[ $# -ge 2 ] || { echo "usage: bench/record.sh NAME COMMAND..." >&2; exit 2; }
record "$@"
