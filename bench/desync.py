#!/usr/bin/python3
"""bench/desync.py - the hostile corpus (tests/e2e/hostile.py) against
tristack-lb and HAProxy 2.6, side by side, on the same two recording
backends (tests/e2e/backend.py).

For each proxy: how many malformed requests it refused (4xx or close), how
many it let through (answered 2xx/3xx, or kept reading), how many
legal-but-odd ones it answered with a 5xx, and how many hidden requests
reached a backend: a request placed inside a body, or behind a request that
must end the connection. For tristack-lb each would be a desync; for a proxy
that parses leniently (bare-LF chunk lines, obs-fold, longer limits) it
shows where it reads a malformed message as a valid one and forwards what
follows as the next request - a desync whenever a server behind it reads
that message otherwise. Both proxies are configured alike: HTTP mode, keep-alive,
the same timeouts, round robin over the same backends. Everything it starts
it stops by PID. Ends with RESULT lines.

    bench/desync.py            (or: make bench, which runs every bench)
"""
import collections
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
import hostile  # noqa: E402

# The comparison judges each proxy by what a client sees (issue 9's
# judge): tests/e2e/test_hostile.py judges tristack alone more strictly,
# with a raw recorder behind it. HAProxy cannot pass that one by design
# (it reads some malformed messages leniently), so the side by side keeps
# the judge both can be measured with.
READ_DEADLINE = 6.0  # longer than the daemons' timeouts: every attack ends


def attack(host, port, data):
    """Send data on a new connection; return (statuses, how it ended)."""
    s = socket.create_connection((host, port), timeout=READ_DEADLINE)
    got = b""
    ended = "timeout"
    try:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused before we finished: what it said is still to read
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                ended = "reset"
                break
            except socket.timeout:
                break
            if not chunk:
                ended = "closed"
                break
            got += chunk
    finally:
        s.close()
    return [int(c) for c in re.findall(rb"(?:^|\r\n)HTTP/1\.[01] (\d{3}) ", got)], ended


def judge(kind, statuses, ended):
    """None when the answer is right for the kind, else what is wrong."""
    if ended == "timeout":
        return f"connection neither answered nor closed in {READ_DEADLINE}s: {statuses}"
    if kind == "bad":
        # 505 is the answer for a major version other than 1 (RFC 9110 15.6.6)
        if statuses and not (400 <= statuses[0] < 500 or statuses[0] == 505):
            return f"answered {statuses[0]}, not a 4xx"
        if len(statuses) > 1:
            return f"answered more than one request: {statuses}"
        if statuses and ended not in ("closed", "reset"):
            return "kept the connection open after refusing"
    elif any(st >= 500 for st in statuses):
        return f"a 5xx for a legal request: {statuses}"
    return None

BIN = os.environ.get("TRISTACK_BIN", os.path.join(ROOT, "build", "bin"))
NET = "127.0.3"
BACKENDS = [f"{NET}.1:8080", f"{NET}.2:8080"]
TS = (f"{NET}.100", 8080)
HA = (f"{NET}.101", 8080)


def answers(url):
    try:
        with urllib.request.urlopen(url, timeout=1) as r:
            return r.status == 200
    except OSError:
        return False


def wait(url, what):
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if answers(url):
            return
        time.sleep(0.05)
    raise SystemExit(f"desync: {what} does not answer at {url}")


def run(host, port, base):
    """The corpus against one proxy: per entry, (name, kind, verdict)."""
    rows = []
    for name, data, kind in hostile.corpus(base, "x"):
        statuses, ended = attack(host, port, data)
        why = judge(kind, statuses, ended)
        rows.append((name, kind, why, statuses))
    return rows


def main():
    procs = []
    tmp = tempfile.mkdtemp(prefix="tristack-desync-")
    try:
        for i, b in enumerate(BACKENDS):
            procs.append(subprocess.Popen(
                [sys.executable, os.path.join(ROOT, "tests", "e2e", "backend.py"), "--listen", b,
                 "--name", f"b{i + 1}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        conf = os.path.join(tmp, "stack.conf")
        with open(conf, "w") as f:
            f.write(f"[site]\nwww = lb\n[host lb]\naddress = {TS[0]}\nroles = lb\n[lb]\n"
                    f"listen = :8080\nadmin =\nthreads = 1\n"
                    f"timeout_http_request = 2s\ntimeout_client = 3s\n"
                    f"timeout_http_keep_alive = 1s\n"
                    + "".join(f"server = {b}\n" for b in BACKENDS))
        cfg = os.path.join(tmp, "haproxy.cfg")
        with open(cfg, "w") as f:
            f.write("global\n\tnbthread 1\ndefaults\n\tmode http\n\toption http-keep-alive\n"
                    "\ttimeout connect 5s\n\ttimeout client 3s\n\ttimeout server 60s\n"
                    "\ttimeout http-request 2s\n\ttimeout http-keep-alive 1s\n"
                    f"frontend fe\n\tbind {HA[0]}:{HA[1]}\n\tdefault_backend be\n"
                    "backend be\n\tbalance roundrobin\n"
                    + "".join(f"\tserver b{i + 1} {b}\n" for i, b in enumerate(BACKENDS)))
        log = open(os.path.join(tmp, "proxies.log"), "ab")
        procs.append(subprocess.Popen([os.path.join(BIN, "tristack-lb"), "-c", conf],
                                      stdout=log, stderr=log))
        procs.append(subprocess.Popen(["haproxy", "-db", "-f", cfg], stdout=log, stderr=log))
        for b in BACKENDS:
            wait(f"http://{b}/healthz", "backend")
        wait(f"http://{TS[0]}:{TS[1]}/healthz", "tristack-lb")
        wait(f"http://{HA[0]}:{HA[1]}/healthz", "haproxy")

        version = subprocess.run(["haproxy", "-v"], capture_output=True,
                                 text=True).stdout.split("\n")[0]
        def hidden_seen():
            seen = []
            for b in BACKENDS:
                with urllib.request.urlopen(f"http://{b}/control/stats", timeout=5) as r:
                    seen += [p for _, p in json.loads(r.read())["requests"]]
            return [p for p in seen if hostile.MARK in p]

        print(f"hostile corpus: {len(hostile.corpus())} requests; anchor: {version}")
        summary = {}
        for label, (host, port) in [("tristack-lb", TS), ("haproxy", HA)]:
            before = len(hidden_seen())
            rows = run(host, port, "/name")
            smug = sorted(set(hidden_seen()[before:]))
            bad = [r for r in rows if r[1] == "bad"]
            let_through = [r for r in bad if r[2]]
            odd_5xx = [r for r in rows if r[1] == "odd" and r[2]]
            fam = collections.Counter(r[0].split("-")[0] for r in let_through)
            summary[label] = (len(bad), len(let_through), len(odd_5xx), len(smug))
            print(f"\n== {label}: refused {len(bad) - len(let_through)}/{len(bad)} malformed, "
                  f"let through {len(let_through)}, 5xx on legal {len(odd_5xx)}, "
                  f"hidden requests forwarded {len(smug)}")
            if fam:
                print("   let through by family: " +
                      ", ".join(f"{k} {v}" for k, v in fam.most_common()))
            for name, _, why, _ in let_through[:60]:
                print(f"   {name}: {why}")
            for p in smug:
                print(f"   hidden request forwarded: {p}")
        ts, ha = summary["tristack-lb"], summary["haproxy"]
        print()
        print(f"RESULT desync_corpus_size={len(hostile.corpus())}")
        print(f"RESULT desync_tristack_let_through={ts[1]}")
        print(f"RESULT desync_haproxy_let_through={ha[1]}")
        print(f"RESULT desync_tristack_hidden_forwarded={ts[3]}")
        print(f"RESULT desync_haproxy_hidden_forwarded={ha[3]}")
        print(f"RESULT desync_tristack_5xx_on_legal={ts[2]}")
        print(f"RESULT desync_haproxy_5xx_on_legal={ha[2]}")
        return 0
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    socket.setdefaulttimeout(10)
    sys.exit(main())
