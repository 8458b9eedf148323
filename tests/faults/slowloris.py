#!/usr/bin/python3
"""Slowloris against the load balancer (issues 9, 14): connections that
send a request head one byte a second, beside normal traffic; on the
plain listener, and on the TLS one.

    tests/faults/slowloris.py [--conns 2000] [--idle] [--tls N] [--waves N] [--json FILE]

--conns N: N plain connections (:8080) sending a head a byte a second
(--idle: sending nothing). --tls N: N connections of each of three kinds
on the TLS listener (:8443): "tls-silent" connects and sends nothing,
"tls-hello" sends its ClientHello a byte a second, "tls-head" completes the
handshake and then sends a request head a byte a second inside TLS. All
groups run at once.

Normal traffic (4 keep-alive HTTPS clients fetching a static file through
the LB) runs alone for 5 s, then beside the slow connections until they
are all cut. Pass: the normal traffic's p99 stays under 10x its value
alone, no normal request fails, every slow connection is cut by the LB
(408 or a close) within its timeout_http_request (10 s by default, from
the connect: the TLS handshake counts in it) and a second and a half of
slack - none lives on - and the LB's memory grows by less than
RSS_PER_CONN_KIB a slow connection; with --waves 3 or more it levels
off: the last wave adds at most WAVE_GROWTH_KIB and a tenth of what the
first one took."""
import argparse
import json
import os
import resource
import selectors
import shutil
import socket
import ssl
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
SLACK = 1.5
RSS_PER_CONN_KIB = 64  # the LB's growth allowed a slow connection (see docs/reliability.md)
WAVE_GROWTH_KIB = 4096  # the last of 3+ waves may add this and a tenth of the first's growth
TLS_KINDS = ("tls-silent", "tls-hello", "tls-head")
HEAD = b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: " + b"a" * 4000


def p99(xs):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * 0.99))] if xs else 0.0


class Normal:
    """4 keep-alive HTTPS clients fetching a static file; any exception is a
    failed request, recorded (errors), never a thread that stops."""

    def __init__(self, st):
        self.st = st
        self.lock = threading.Lock()
        self.rows = []  # (t, latency, ok)
        self.errors = []
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
            except Exception as e:
                c.close()
                ok = False
                with self.lock:
                    self.errors.append(repr(e))
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


class Slow:
    """One slow connection: its kind, socket, what it has sent, and when
    and how the server cut it (seconds from the connect; 408 / close)."""

    def __init__(self, kind, addr, ctx, hello):
        self.kind = kind
        self.sock = socket.socket()
        self.sock.setblocking(False)
        self.opened = time.monotonic()
        self.sock.connect_ex(addr)
        self.pos = 0
        self.cut = None
        self.how = None
        self.shaken = None  # tls-head: seconds from the connect to the handshake's end
        self.pending = b""
        self.drip = {"slow": HEAD, "tls-hello": hello}.get(kind)
        self.tls = None
        if kind == "tls-head":
            self.inb, self.outb = ssl.MemoryBIO(), ssl.MemoryBIO()
            self.tls = ctx.wrap_bio(self.inb, self.outb, server_hostname=addr[0])

    def flush(self):
        self.pending += self.outb.read()
        try:
            n = self.sock.send(self.pending) if self.pending else 0
            self.pending = self.pending[n:]
        except BlockingIOError:
            pass

    def handshake(self):
        try:
            self.tls.do_handshake()
            self.shaken = time.monotonic() - self.opened
        except ssl.SSLWantReadError:
            pass
        self.flush()

    def tick(self):
        """Once a second: the next byte, if this kind sends any."""
        if self.tls is not None:
            if self.shaken is None:
                return
            try:
                self.tls.write(HEAD[self.pos:self.pos + 1])
                self.pos += 1
                self.flush()
            except (ssl.SSLError, OSError):
                pass  # reset: the read says so
            return
        if self.drip is None:
            return
        try:
            self.sock.send(self.drip[self.pos:self.pos + 1])
            self.pos += 1
        except OSError:
            pass  # not connected yet, or reset: the read says so

    def readable(self):
        """Something came: True when it is the server's cut."""
        try:
            data = self.sock.recv(65536)
        except BlockingIOError:
            return False
        except OSError:
            data = b""
        if self.tls is not None and data:
            self.inb.write(data)
            if self.shaken is None:
                try:
                    self.handshake()
                    return False
                except (ssl.SSLError, OSError):
                    data = b""
            else:
                try:
                    data = self.tls.read(65536)
                except ssl.SSLWantReadError:
                    return False  # a session ticket, no answer yet
                except (ssl.SSLError, OSError):
                    data = b""
        self.cut = time.monotonic() - self.opened
        self.how = "408" if data.startswith(b"HTTP/1.1 408") else "close"
        return True


def client_hello(host):
    """The bytes of a ClientHello to this host (one made for all)."""
    out = ssl.MemoryBIO()
    obj = attack_context().wrap_bio(ssl.MemoryBIO(), out, server_hostname=host)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


def attack_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # an attacker does not check
    return ctx


def slow_attack(host, ports, groups, limit, lb_pid=None, peak=None):
    """groups: {kind: count}, kinds "slow" and "idle" (plain, ports["http"])
    and TLS_KINDS (ports["https"]). Opens them all, sends each its bytes a
    byte a second until the server cuts it or `limit` passes. Returns the
    Slow connections."""
    ctx = attack_context()
    hello = client_hello(host) if groups.get("tls-hello") else b""
    sel = selectors.DefaultSelector()  # epoll: thousands of sockets
    conns = []
    for kind, n in groups.items():
        port = ports["https"] if kind.startswith("tls") else ports["http"]
        for _ in range(n):
            c = Slow(kind, (host, port), ctx, hello)
            conns.append(c)
            ev = selectors.EVENT_WRITE if c.tls is not None else selectors.EVENT_READ
            sel.register(c.sock, ev, c)
    t_end = time.monotonic() + limit
    next_byte = time.monotonic()
    left = len(conns)
    while time.monotonic() < t_end and left:
        now = time.monotonic()
        if now >= next_byte:
            if lb_pid and peak is not None:
                peak.append(rss_kib(lb_pid))
            for c in conns:
                if c.cut is None:
                    c.tick()
            next_byte = now + 1.0
        for key, ev in sel.select(timeout=0.1):
            c = key.data
            if ev & selectors.EVENT_WRITE:  # a TLS one connected: its ClientHello
                sel.modify(c.sock, selectors.EVENT_READ, c)
                try:
                    c.handshake()
                except OSError:
                    pass  # refused or reset: the read says so
                continue
            if c.readable():
                sel.unregister(c.sock)
                left -= 1
    sel.close()
    for c in conns:
        c.sock.close()
    return conns


def group_result(kind, conns):
    mine = [c for c in conns if c.kind == kind]
    cuts = [c.cut for c in mine if c.cut is not None]
    r = {
        "conns": len(mine),
        "cut": len(cuts),
        "open_at_end": len(mine) - len(cuts),
        "cut_min_s": round(min(cuts, default=0), 2),
        "cut_max_s": round(max(cuts, default=0), 2),
        "408": sum(1 for c in mine if c.how == "408"),
        "closed": sum(1 for c in mine if c.how == "close"),
    }
    if kind == "tls-head":
        shaken = [c.shaken for c in mine if c.shaken is not None]
        r["handshakes"] = len(shaken)
        r["handshake_max_s"] = round(max(shaken, default=0), 2)
    return r


def run(st, groups, waves=1):
    """groups: {kind: count}. The normal traffic alone, then beside them,
    `waves` times one after the other (the LB's memory must not grow from
    one wave to the next)."""
    normal = Normal(st)
    time.sleep(0.5)  # the clients connect
    t0 = time.monotonic()
    while time.monotonic() < t0 + 5:
        time.sleep(0.1)
    alone = normal.between(t0, t0 + 5)
    t1 = time.monotonic()
    lb_pid = st.pids()["lb-01.lb.pid"]
    before = rss_kib(lb_pid)
    idle = bool(groups.get("idle"))
    # idle: beyond maxconn (9000) connections wait in the backlog for a
    # slot, then get their own timeout: up to two timeouts in all
    limit = TIMEOUT_HTTP_REQUEST * (2 if idle else 1) + 8
    ports = {"http": int(st.http_url.rsplit(":", 1)[1]), "https": int(st.url.rsplit(":", 1)[1])}
    conns, peaks = [], []
    for _ in range(waves):
        peak = []
        conns += slow_attack(st.lb, ports, groups, limit, lb_pid, peak)
        peaks.append(max(peak + [rss_kib(lb_pid)]))
    t2 = time.monotonic()
    after = rss_kib(lb_pid)
    normal.finish()
    beside = normal.between(t1, t2)
    lat_alone = [r[1] for r in alone]
    lat_beside = [r[1] for r in beside]
    per = {k: group_result(k, conns) for k in groups if groups[k]}
    cuts = [c.cut for c in conns if c.cut is not None]
    res = {
        "conns": len(conns),
        "groups": per,
        "normal_alone": len(alone),
        "normal_beside": len(beside),
        "normal_failed": sum(1 for r in alone + beside if not r[2]),
        "normal_errors": normal.errors[:8],
        "p99_alone_ms": round(p99(lat_alone) * 1000, 2),
        "p99_beside_ms": round(p99(lat_beside) * 1000, 2),
        "slow_cut": len(cuts),
        "slow_open_at_end": len(conns) - len(cuts),
        "slow_cut_min_s": round(min(cuts, default=0), 2),
        "slow_cut_max_s": round(max(cuts, default=0), 2),
        "slow_408": sum(1 for c in conns if c.how == "408"),
        "mode": "+".join(k for k in groups if groups[k]),
        "waves": waves,
        "lb_rss_before_kib": before,
        "lb_rss_peak_kib_by_wave": peaks,
        "lb_rss_after_kib": after,
    }
    res["p99_ratio"] = round(res["p99_beside_ms"] / max(res["p99_alone_ms"], 0.001), 2)
    # memory a slow connection of one wave: bounded, and taken again by the next
    res["lb_rss_growth_per_conn_kib"] = round(
        (max(peaks) - before) / max(len(conns) // waves, 1), 2)
    # and it levels off: the last of three waves or more adds little
    res["lb_rss_last_wave_growth_kib"] = peaks[-1] - peaks[-2] if waves > 1 else None
    levels_off = waves < 3 or (res["lb_rss_last_wave_growth_kib"] <=
                               WAVE_GROWTH_KIB + (peaks[0] - before) // 10)
    res["ok"] = (res["normal_failed"] == 0 and res["slow_open_at_end"] == 0 and
                 res["p99_ratio"] < 10 and
                 res["lb_rss_growth_per_conn_kib"] < RSS_PER_CONN_KIB and levels_off and
                 all(group_ok(k, g) for k, g in per.items()))
    return res


def group_ok(kind, g):
    """Every one cut, each within its window: the timeout from the connect
    (two for idle ones, which may wait for a slot of maxconn first)."""
    longest = TIMEOUT_HTTP_REQUEST * (2 if kind == "idle" else 1) + SLACK
    ok = (g["open_at_end"] == 0 and g["cut_max_s"] <= longest and
          g["cut_min_s"] >= TIMEOUT_HTTP_REQUEST - SLACK)
    if kind in ("slow", "tls-head"):
        ok = ok and g["408"] == g["conns"]  # a head begun: the LB says 408
    if kind == "tls-head":
        ok = ok and g["handshakes"] == g["conns"]  # they did get inside TLS
    return ok


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--conns", type=int, default=2000, help="plain connections (0: none)")
    ap.add_argument("--idle", action="store_true",
                    help="plain connections that send nothing at all (e.g. --conns 10000)")
    ap.add_argument("--tls", type=int, default=0, metavar="N",
                    help=f"N connections of each of {', '.join(TLS_KINDS)} on the TLS listener")
    ap.add_argument("--waves", type=int, default=1,
                    help="the attack this many times in a row (memory must not grow)")
    ap.add_argument("--json")
    a = ap.parse_args(argv)
    groups = {"idle" if a.idle else "slow": a.conns, **{k: a.tls for k in TLS_KINDS}}
    total = sum(groups.values())
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, total + 1024)), hard))
    st, tmp = faults.start_stack(maxconn=None)
    try:
        faults.wait_healthy(st)
        res = run(st, groups, a.waves)
    finally:
        left = stop_stack(st)
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(res, indent=2))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=2)
    m = "_".join(dict.fromkeys(k.split("-")[0] for k in res["groups"]))  # slow, idle, tls
    print(f"RESULT {m}_conns_p99_ratio={res['p99_ratio']}")
    print(f"RESULT {m}_conns_normal_failed={res['normal_failed']}")
    print(f"RESULT {m}_conns_open_at_end={res['slow_open_at_end']}")
    print(f"RESULT {m}_conns_lb_rss_growth_per_conn_kib={res['lb_rss_growth_per_conn_kib']}")
    return 0 if res["ok"] and not left else 1


if __name__ == "__main__":
    sys.exit(main())
