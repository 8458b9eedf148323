"""bench/lib.sh, the machinery every bench figure goes through, driven with
a stub wrk (and taskset) on PATH whose answers the test chooses: the order
of ours and the anchor alternates between rounds, a run with non-2xx
answers or socket errors is marked INVALID and left out of the median, the
median comes with min and max in the table and in RESULT lines, too few
valid runs make the figure INVALID, and record() writes the machine header
and the exit status. A regression in any of these would make a published
figure wrong without any bench failing."""
import os
import re
import subprocess

from conftest import ROOT

LIB = os.path.join(ROOT, "bench", "lib.sh")

# wrk's own output, as wrk 4.1 prints it with --latency
WRK_OUT = """Running 8s test @ {url}
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   500.00us  100.00us   2.00ms   90.00%
  Latency Distribution
     50%  {p50}
     75%  600.00us
     90%  700.00us
     99%  {p99}
  80000 requests in 8.00s, 90.00MB read
{errors}Requests/sec:  {rps}
Transfer/sec:     11.25MB
"""


def stub_tools(tmp_path, answers):
    """answers: URL -> list of (rps, p99, error line or "") for its measured
    runs in order. The stub logs every call (warm-up or measured) and
    answers measured runs (those with --latency) from the list."""
    d = tmp_path / "bin"
    d.mkdir()
    log = tmp_path / "wrk.log"
    spec = tmp_path / "answers"
    lines = []
    for url, runs in answers.items():
        for i, (rps, p99, err) in enumerate(runs):
            lines.append(f"{url}\t{i}\t{rps}\t{p99}\t{err}")
    spec.write_text("\n".join(lines) + "\n")
    tmpl = tmp_path / "wrk.tmpl"
    tmpl.write_text(WRK_OUT)
    (d / "wrk").write_text(f"""#!/usr/bin/python3
import sys
args = sys.argv[1:]
url = args[-1]
measured = "--latency" in args
with open({str(log)!r}, "a") as f:
    f.write(("measure " if measured else "warmup ") + url + "\\n")
if not measured:
    sys.exit(0)
n = sum(1 for l in open({str(log)!r}) if l == "measure " + url + "\\n") - 1
for l in open({str(spec)!r}):
    u, i, rps, p99, err = l.rstrip("\\n").split("\\t")
    if u == url and int(i) == n:
        print(open({str(tmpl)!r}).read().format(url=url, p50="400.00us", p99=p99,
              rps=rps, errors=("  " + err + "\\n") if err else ""), end="")
        sys.exit(0)
sys.exit("stub wrk: no answer for run %d of %s" % (n, url))
""")
    (d / "taskset").write_text("#!/bin/sh\nshift 2\nexec \"$@\"\n")
    for name in ("wrk", "taskset"):
        os.chmod(d / name, 0o755)
    return d, log


def bench(tmp_path, answers, body, rounds=5, extra_env=None):
    """Sources lib.sh with the stubs and runs BODY (bash) after it."""
    d, log = stub_tools(tmp_path, answers)
    env = dict(os.environ, PATH=f"{d}:{os.environ['PATH']}", BENCH_ROUNDS=str(rounds),
               BENCH_SECONDS="8", BENCH_WARMUP="2", BENCH_RESULTS=str(tmp_path / "results"))
    env.update(extra_env or {})
    script = f". {LIB}\nsleep 100 & PID=$!\nBENCH_PIDS=$PID\n{body}\n"
    r = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env,
                       timeout=60)
    return r, log.read_text().splitlines()


# two sides measured over ROUNDS rounds through alternate/one_run, then the
# table and the RESULT lines, as lb.sh does it
ROUNDS_BODY = """
run_side() {
	if [ "$1" = ts ]; then one_run ts_ka "$PID" http://ours/1k
	else one_run an_ka "$PID" http://anchor/1k; fi
}
for r in $(seq "$ROUNDS"); do
	round_header "$r" ours anchor
	alternate "$r" run_side
done
table ours anchor "rps p99_ms cpu_us" ka
results ours anchor "rps p99_ms cpu_us" ka
"""

OURS = "http://ours/1k"
ANCHOR = "http://anchor/1k"


def result_lines(out):
    return dict(re.findall(r"^RESULT (\S+)=(\S*)$", out, re.M))


def test_the_order_alternates_and_each_run_has_its_warm_up(tmp_path):
    answers = {OURS: [(1000 + i, "1.00ms", "") for i in range(5)],
               ANCHOR: [(900 + i, "1.00ms", "") for i in range(5)]}
    r, calls = bench(tmp_path, answers, ROUNDS_BODY)
    assert r.returncode == 0, r.stderr
    measured = [c.split()[1] for c in calls if c.startswith("measure")]
    assert measured == [OURS, ANCHOR, ANCHOR, OURS, OURS, ANCHOR, ANCHOR, OURS, OURS, ANCHOR]
    # a warm-up against the same target right before each measured run
    for i, c in enumerate(calls):
        if c.startswith("measure"):
            assert calls[i - 1] == "warmup " + c.split()[1], calls
    assert " round 2 of 5 (anchor first)" in r.stdout
    assert " round 3 of 5 (ours first)" in r.stdout


def test_median_min_and_max_are_over_the_runs_and_in_the_result_lines(tmp_path):
    answers = {OURS: [(r, "1.00ms", "") for r in (1500, 1100, 1300, 1200, 1400)],
               ANCHOR: [(r, "2.00ms", "") for r in (1000, 800, 1200, 900, 1100)]}
    r, _ = bench(tmp_path, answers, ROUNDS_BODY)
    assert r.returncode == 0, r.stderr
    res = result_lines(r.stdout)
    assert res["ours_ka_rps"] == "1300.00"
    assert res["ours_ka_rps_min"] == "1100.00"
    assert res["ours_ka_rps_max"] == "1500.00"
    assert res["anchor_ka_rps"] == "1000.00"
    assert res["anchor_ka_p99_ms"] == "2.00"
    assert res["ours_ka_rps_ratio"] == "1.30"
    assert res["ours_ka_invalid_runs"] == "0"
    assert re.search(r"ka +rps +1300.00 \(1100.00..1500.00\) +1000.00 \(800.00..1200.00\) +1.30",
                     r.stdout), r.stdout


def test_a_run_with_errors_is_invalid_and_left_out_of_the_median(tmp_path):
    # the anchor's third run answered some non-2xx, ours' first had socket
    # errors: both very fast, both must not count
    answers = {OURS: [(99999, "0.10ms", "Socket errors: connect 0, read 3, write 0, timeout 0"),
                      (1100, "1.00ms", ""), (1200, "1.00ms", ""), (1300, "1.00ms", ""),
                      (1400, "1.00ms", "")],
               ANCHOR: [(1000, "1.00ms", ""), (1000, "1.00ms", ""),
                        (88888, "0.10ms", "Non-2xx or 3xx responses: 17"),
                        (1000, "1.00ms", ""), (1000, "1.00ms", "")]}
    r, _ = bench(tmp_path, answers, ROUNDS_BODY)
    assert r.returncode == 0, r.stderr
    res = result_lines(r.stdout)
    assert res["ours_ka_rps"] == "1250.00"  # median of 1100..1400
    assert res["ours_ka_rps_max"] == "1400.00"
    assert res["ours_ka_p99_ms_min"] == "1.00"
    assert res["anchor_ka_rps_max"] == "1000.00"
    assert res["ours_ka_invalid_runs"] == "1"
    assert res["anchor_ka_invalid_runs"] == "1"
    assert "INVALID run against http://ours/1k: Socket errors" in r.stderr
    assert "INVALID run against http://anchor/1k: Non-2xx or 3xx responses: 17" in r.stderr
    assert re.search(r"99999.*INVALID", r.stdout), r.stdout
    assert "[1 bad]" in r.stdout


def test_too_few_valid_runs_make_the_figure_invalid(tmp_path):
    bad = "Non-2xx or 3xx responses: 1"
    answers = {OURS: [(1000, "1.00ms", bad if i < 3 else "") for i in range(5)],
               ANCHOR: [(1000, "1.00ms", "") for _ in range(5)]}
    r, _ = bench(tmp_path, answers, ROUNDS_BODY)
    assert r.returncode == 0, r.stderr
    res = result_lines(r.stdout)
    assert res["ours_ka_rps"] == "INVALID"
    assert res["ours_ka_rps_ratio"] == "INVALID"
    assert res["ours_ka_invalid_runs"] == "3"
    assert res["anchor_ka_rps"] == "1000.00"


def test_wrk_without_figures_is_an_invalid_run(tmp_path):
    answers = {OURS: [("", "1.00ms", "")], ANCHOR: []}
    r, _ = bench(tmp_path, answers, "run_wrk http://ours/1k", rounds=1)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[-1] == "0"
    assert "INVALID run against http://ours/1k" in r.stderr


def test_record_writes_the_machine_header_and_the_exit_status(tmp_path):
    r, _ = bench(tmp_path, {}, "record demo sh -c 'echo RESULT x=1; exit 3'")
    assert r.returncode == 3
    files = list((tmp_path / "results").glob("demo-*.txt"))
    assert len(files) == 1, files
    text = files[0].read_text()
    for field in ("# commit: ", "# machine: nproc ", "# date: ", "# bench settings: BENCH_ROUNDS=5"):
        assert field in text, text
    assert "RESULT x=1" in text
    assert "# exit status: 3" in text
    # a failed run never becomes the latest figures
    assert not (tmp_path / "results" / "demo-latest.txt").exists()


def test_a_short_run_is_marked_as_validation(tmp_path):
    r, _ = bench(tmp_path, {}, "bench_banner; record demo true", rounds=3)
    assert r.returncode == 0, r.stderr
    assert "VALIDATION run" in r.stdout
    files = list((tmp_path / "results").glob("demo-*-validation.txt"))
    assert len(files) == 1
    assert "# VALIDATION run" in files[0].read_text()
    assert not (tmp_path / "results" / "demo-latest.txt").exists()
