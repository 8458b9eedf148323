#!/usr/bin/python3
"""Slowloris against the load balancer (issue 9): CONNS connections that
send a request head one byte a second, beside normal traffic.

    tests/faults/slowloris.py [--conns 2000] [--json FILE]

Normal traffic (4 keep-alive HTTPS clients fetching a static file through
the LB) runs alone for 5 s, then beside the slow connections until they
are all cut. Pass: the normal traffic's p99 stays under 10x its value
alone, no normal request fails, and every slow connection is cut by the LB
(408 or a close) within its timeout_http_request (10 s by default) and a
second of slack - none lives on."""
import argparse
import json
import os
import resource
import selectors
import shutil
import socket
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "e2e"))
sys.path.insert(0, HERE)
from applab import Client  # noqa: E402
from conftest import rss_kib, stop_stack  # noqa: E402
import faults  # noqa: E402

TIMEOUT_HTTP_REQUEST = 10.0  # the stack's default


def p99(xs):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * 0.99))] if xs else 0.0


class Normal:
    def __init__(self, st):
        self.st = st
        self.lock = threading.Lock()
        self.rows = []  # (t, latency, ok)
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(4)]
        for t in self.threads:
            t.start()

    def _run(self):
        c = Client(self.st.url, timeout=15)
        deadline = time.monotonic() + 120
        while not self.stop.is_set() and time.monotonic() < deadline:
            t = time.monotonic()
            try:
                ok = c.request("GET", "/static/site.css")[0] == 200
            except OSError:
                c.close()
                ok = False
            with self.lock:
                self.rows.append((t, time.monotonic() - t, ok))
        c.close()

    def between(self, a, b):
        with self.lock:
            return [r for r in self.rows if a <= r[0] < b]

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=30)


def slow_attack(host, port, conns, limit, idle=False, lb_pid=None, peak=None):
    """conns connections, each sending "GET / HTTP/1.1\\r\\nHost: x\\r\\nX-a: b..."
    a byte a second. Returns per connection the seconds until the server
    cut it (None: still open at `limit`) and how (408 / close)."""
    head = b"" if idle else b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: " + b"a" * 4000
    socks, opened, pos = [], [], []
    for _ in range(conns):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex((host, port))
        socks.append(s)
        opened.append(time.monotonic())
        pos.append(0)
    cut = [None] * conns
    how = [None] * conns
    sel = selectors.DefaultSelector()  # epoll: thousands of sockets
    for i, s in enumerate(socks):
        sel.register(s, selectors.EVENT_READ, i)
    t_end = time.monotonic() + limit
    next_byte = time.monotonic()
    left = conns
    while time.monotonic() < t_end and left:
        now = time.monotonic()
        if now >= next_byte:
            if lb_pid and peak is not None:
                peak.append(rss_kib(lb_pid))
            for i, s in enumerate(socks):
                if idle:
                    break
                if cut[i] is None:
                    try:
                        s.send(head[pos[i]:pos[i] + 1])
                        pos[i] += 1
                    except BlockingIOError:
                        pass
                    except OSError:
                        pass  # reset: the read below says so
            next_byte = now + 1.0
        for key, _ in sel.select(timeout=0.1):
            i = key.data
            try:
                data = socks[i].recv(4096)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            cut[i] = time.monotonic() - opened[i]
            how[i] = "408" if data.startswith(b"HTTP/1.1 408") else "close"
            sel.unregister(socks[i])
            left -= 1
    sel.close()
    for s in socks:
        s.close()
    return cut, how


def run(conns, st, idle=False):
    normal = Normal(st)
    time.sleep(0.5)  # the clients connect
    t0 = time.monotonic()
    while time.monotonic() < t0 + 5:
        time.sleep(0.1)
    alone = normal.between(t0, t0 + 5)
    t1 = time.monotonic()
    lb_pid = st.pids()["lb-01.lb.pid"]
    before = rss_kib(lb_pid)
    peak = []
    # idle: beyond maxconn (9000) connections wait in the backlog for a
    # slot, then get their own timeout: up to two timeouts in all
    limit = TIMEOUT_HTTP_REQUEST * (2 if idle else 1) + 8
    cut, how = slow_attack(st.lb, 8080, conns, limit, idle, lb_pid, peak)
    t2 = time.monotonic()
    normal.finish()
    beside = normal.between(t1, t2)
    lat_alone = [r[1] for r in alone]
    lat_beside = [r[1] for r in beside]
    res = {
        "conns": conns,
        "normal_alone": len(alone),
        "normal_beside": len(beside),
        "normal_failed": sum(1 for r in alone + beside if not r[2]),
        "p99_alone_ms": round(p99(lat_alone) * 1000, 2),
        "p99_beside_ms": round(p99(lat_beside) * 1000, 2),
        "slow_cut": sum(1 for c in cut if c is not None),
        "slow_open_at_end": sum(1 for c in cut if c is None),
        "slow_cut_min_s": round(min((c for c in cut if c is not None), default=0), 2),
        "slow_cut_max_s": round(max((c for c in cut if c is not None), default=0), 2),
        "slow_408": sum(1 for h in how if h == "408"),
        "mode": "idle" if idle else "slow",
        "lb_rss_before_kib": before,
        "lb_rss_peak_kib": max(peak, default=before),
    }
    res["p99_ratio"] = round(res["p99_beside_ms"] / max(res["p99_alone_ms"], 0.001), 2)
    longest = TIMEOUT_HTTP_REQUEST * (2 if idle else 1) + 1.5
    res["ok"] = (res["normal_failed"] == 0 and res["slow_open_at_end"] == 0 and
                 res["p99_ratio"] < 10 and res["slow_cut_max_s"] <= longest and
                 res["slow_cut_min_s"] >= TIMEOUT_HTTP_REQUEST - 1.5)
    return res


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--conns", type=int, default=2000)
    ap.add_argument("--idle", action="store_true",
                    help="connections that send nothing at all (e.g. --conns 10000)")
    ap.add_argument("--json")
    a = ap.parse_args(argv)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, a.conns + 1024)), hard))
    st, tmp = faults.start_stack(maxconn=None)
    try:
        faults.wait_healthy(st)
        res = run(a.conns, st, a.idle)
    finally:
        left = stop_stack(st)
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(res, indent=2))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=2)
    m = res["mode"]
    print(f"RESULT {m}_conns_p99_ratio={res['p99_ratio']}")
    print(f"RESULT {m}_conns_normal_failed={res['normal_failed']}")
    print(f"RESULT {m}_conns_open_at_end={res['slow_open_at_end']}")
    return 0 if res["ok"] and not left else 1


if __name__ == "__main__":
    sys.exit(main())
