#!/usr/bin/python3
"""The fault suite (issue 9): each scenario under a bounded load of mixed
reads and writes through the load balancer over HTTPS, then an audit of the
writes: every post the site acknowledged (201) must be a row on the primary
and on the replica.

    tests/faults/faults.py [--short] [--json FILE] [SCENARIO...]
    make faults            every scenario, full length
    (make test runs the short form through tests/e2e/test_faults.py)

Scenarios act on a stack of their own (loopback addresses; the partition
scenario needs isolated mode and root), which the supervisor keeps running:
a killed daemon is started again by it, as in production. Between
scenarios the suite waits until every daemon is healthy again.

Per scenario it prints requests, failed GETs, failed POSTs (never
acknowledged: the client knows), lost acknowledged writes, p99 and max
latency, and the target: 0 lost writes everywhere, 0 failed GETs except
during a full LB restart."""
import argparse
import ctypes
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "e2e"))
from applab import Client, db_query  # noqa: E402
from conftest import (IsolatedStack, Stack, free_subnet, stop_stack,  # noqa: E402
                      write_stack)

LB_MAXCONN = 300  # the fault stack's [lb] maxconn, small enough to fill


CLONE_NEWNET = 0x40000000
LIBC = ctypes.CDLL(None, use_errno=True)


def enter_netns(name):
    """This thread only (a network namespace is per thread) joins name."""
    fd = os.open(f"/var/run/netns/{name}", os.O_RDONLY)
    try:
        if LIBC.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns {name}")
    finally:
        os.close(fd)


class Load:
    """THREADS clients, each a keep-alive connection like a browser tab,
    repeating a mix: 70% reads (API list, one post, the page, a static
    file), 30% writes (POST /api/posts). Stops by itself at `limit`."""

    THREADS = 6

    def __init__(self, st, limit):
        self.st = st
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.rows = []  # (t, kind, ok, latency, detail)
        self.acked = []
        self.t0 = time.monotonic()
        self.deadline = self.t0 + limit
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True)
                        for i in range(self.THREADS)]
        for t in self.threads:
            t.start()

    def _one(self, c, rnd, known):
        x = rnd.random()
        if x < 0.30:
            st, _, post = c.post("fault-suite", f"written under load {rnd.random()}")
            if st == 201:
                return "write", True, post["id"]
            return "write", False, f"{st}"
        if x < 0.55:
            st, _, _ = c.request("GET", "/api/posts?limit=5")
        elif x < 0.75 and known:
            st, _, _ = c.request("GET", f"/api/posts/{rnd.choice(known)}")
        elif x < 0.90:
            st, _, _ = c.request("GET", "/")
        else:
            st, _, _ = c.request("GET", "/static/site.css")
        return "read", st == 200, f"{st}"

    def _run(self, i):
        if isinstance(self.st, IsolatedStack):
            enter_netns(self.st.ns("client"))
        rnd = random.Random(i)
        c = Client(self.st.url, timeout=15)  # keeps the read-your-writes cookie, like a browser
        known = []
        while not self.stop.is_set() and time.monotonic() < self.deadline:
            t = time.monotonic()
            try:
                kind, ok, detail = self._one(c, rnd, known)
            except (OSError, ValueError) as e:
                c.close()
                kind, ok, detail = "?", False, type(e).__name__
            lat = time.monotonic() - t
            with self.lock:
                if kind == "write" and ok:
                    self.acked.append(detail)
                    known.append(detail)
                self.rows.append((t - self.t0, kind, ok, lat, detail))
            if not ok:
                time.sleep(0.01)  # a failing client does not spin
        c.close()

    def elapsed(self):
        return time.monotonic() - self.t0

    def wait_until(self, t):
        while self.elapsed() < t and time.monotonic() < self.deadline:
            time.sleep(0.02)

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=30)
        return self.rows, self.acked


def pid_of(st, name):
    return st.pids()[name]


def kill(pid, sig):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def wait_healthy(st, timeout=90):
    """Every unit running and healthy (tristack status --json), or raise."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        r = st.ctl("status", "--json", check=False)
        try:
            units = json.loads(r.stdout)["units"]
            bad = [f"{u['host']} {u['daemon']}: {u['state']} {u['health']}" for u in units
                   if not u["healthy"]]
            if not bad:
                return
            last = bad
        except (ValueError, KeyError):
            last = r.stdout + r.stderr
        time.sleep(0.25)
    raise RuntimeError(f"the stack did not come back healthy: {last}")


def rows_on(st, host, ids):
    found = set()
    for i in range(0, len(ids), 500):
        part = ids[i:i + 500]
        sql = f"SELECT id FROM foobar.posts WHERE id IN ({','.join(map(str, part))})"
        found |= {int(r[0]) for r in db_query(st, host, sql)}
    return found


def audit(st, acked, timeout=60):
    """Acknowledged writes missing on the primary / the replica (after the
    replica had time to catch up)."""
    ids = sorted(set(acked))
    if not ids:
        return [], []
    missing_p = sorted(set(ids) - rows_on(st, "web-01", ids))
    deadline = time.monotonic() + timeout
    while True:
        missing_r = sorted(set(ids) - rows_on(st, "web-02", ids))
        if not missing_r or time.monotonic() > deadline:
            return missing_p, missing_r
        time.sleep(0.5)


# ---- scenarios: fn(st, load, short) acts while the load runs ----

def sc_kill_web(st, load, short):
    load.wait_until(2)
    kill(pid_of(st, "web-02.web.pid"), signal.SIGKILL)


def sc_stop_web(st, load, short):
    load.wait_until(2)
    pid = pid_of(st, "web-02.web.pid")
    kill(pid, signal.SIGSTOP)
    try:
        load.wait_until(2 + (4 if short else 10))
    finally:
        kill(pid, signal.SIGCONT)


def sc_kill_app(st, load, short):
    load.wait_until(2)
    kill(pid_of(st, "web-02.app.pid"), signal.SIGKILL)


def sc_reload_lb(st, load, short):
    for t in (2, 3.5, 5):
        load.wait_until(t)
        kill(pid_of(st, "lb-01.lb.pid"), signal.SIGHUP)


def sc_restart_lb(st, load, short):
    load.wait_until(2)
    kill(pid_of(st, "lb-01.lb.pid"), signal.SIGKILL)


def sc_kill_replica(st, load, short):
    load.wait_until(2)
    kill(pid_of(st, "web-02.db.pid"), signal.SIGKILL)


def sc_restart_primary(st, load, short):
    load.wait_until(2)
    kill(pid_of(st, "web-01.db.pid"), signal.SIGTERM)  # mariadbd: a clean shutdown


def sc_partition_web(st, load, short):
    """web-02 drops everything from and to the LB (both ways, in its own
    namespace) for 10 s; replication between the databases goes on."""
    lb = f"{st.net}.1"
    rules = (f"table inet tsfault {{\n"
             f" chain in {{ type filter hook input priority -10; ip saddr {lb} drop; }}\n"
             f" chain out {{ type filter hook output priority -10; ip daddr {lb} drop; }}\n}}\n")
    ns = st.ns("web-02")
    load.wait_until(2)
    subprocess.run(["ip", "netns", "exec", ns, "nft", "-f", "-"], input=rules, text=True,
                   check=True)
    try:
        load.wait_until(2 + (5 if short else 10))
    finally:
        subprocess.run(["ip", "netns", "exec", ns, "nft", "delete", "table", "inet", "tsfault"],
                       check=True)


def sc_fill_lb(st, load, short):
    """LB_MAXCONN idle connections (a TCP connect each, then nothing) for 8 s
    beside the load; meanwhile 20 GETs on new connections. The load's
    kept-alive connections must not notice; the new ones wait their turn."""
    load.wait_until(2)
    host, port = st.lb, int(st.url.rsplit(":", 1)[1])
    fillers = []
    fresh = {"ok": 0, "failed": 0, "max_s": 0.0}

    def fresh_get():
        c = Client(st.url, timeout=20)
        t = time.monotonic()
        try:
            ok = c.request("GET", "/static/site.css")[0] == 200
        except OSError:
            ok = False
        c.close()
        fresh["ok" if ok else "failed"] += 1
        fresh["max_s"] = max(fresh["max_s"], time.monotonic() - t)

    try:
        for _ in range(LB_MAXCONN):
            try:
                fillers.append(socket.create_connection((host, port), timeout=2))
            except OSError:
                break  # the backlog is full too: that is full enough
        getters = [threading.Thread(target=fresh_get) for _ in range(20)]
        for g in getters:
            g.start()
        load.wait_until(10)
    finally:
        for f in fillers:
            f.close()
    for g in getters:
        g.join(timeout=30)
    load.note = (f"{len(fillers)} idle connections held; 20 new-connection GETs: "
                 f"{fresh['ok']} ok, {fresh['failed']} failed, slowest {fresh['max_s']:.1f} s")
    if fresh["failed"]:
        raise RuntimeError(load.note)


SCENARIOS = {
    "kill-web": (sc_kill_web, "kill -9 tristack-web on web-02 (the supervisor starts it again)"),
    "stop-web": (sc_stop_web, "SIGSTOP tristack-web on web-02 for 10 s (hung, not dead)"),
    "kill-app": (sc_kill_app, "kill -9 tristack-app on web-02"),
    "reload-lb": (sc_reload_lb, "SIGHUP the LB three times (reload)"),
    "restart-lb": (sc_restart_lb, "kill -9 the LB; the supervisor starts it again"),
    "kill-replica": (sc_kill_replica, "kill -9 the replica's mariadbd; it comes back"),
    "restart-primary": (sc_restart_primary,
                        "graceful restart of the primary (SIGTERM; the supervisor starts it)"),
    "fill-lb": (sc_fill_lb, f"fill the LB to maxconn ({LB_MAXCONN}) with idle connections"),
    "partition-web": (sc_partition_web,
                      "partition web-02 from the LB for 10 s (isolated mode, nftables)"),
}
ISOLATED = {"partition-web"}
SHORT = ["kill-web", "kill-app", "reload-lb", "kill-replica"]


def p99(xs):
    if not xs:
        return 0.0
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * 0.99))]


def run_scenario(st, name, short):
    fn, what = SCENARIOS[name]
    limit = 8 if short else 20
    wait_healthy(st)
    load = Load(st, limit)
    err = None
    try:
        fn(st, load, short)
    except Exception as e:  # the load still stops and is audited
        err = repr(e)
    load.wait_until(limit)
    rows, acked = load.finish()
    wait_healthy(st)
    missing_p, missing_r = audit(st, acked)
    reads = [r for r in rows if r[1] in ("read", "?")]
    writes = [r for r in rows if r[1] == "write"]
    res = {
        "scenario": name,
        "what": what,
        "seconds": limit,
        "requests": len(rows),
        "reads": len(reads),
        "failed_gets": sum(1 for r in reads if not r[2]),
        "writes": len(writes),
        "failed_posts": sum(1 for r in writes if not r[2]),
        "acked_writes": len(acked),
        "lost_on_primary": len(missing_p),
        "lost_on_replica": len(missing_r),
        "p99_ms": round(p99([r[3] for r in rows]) * 1000, 1),
        "max_ms": round(max((r[3] for r in rows), default=0) * 1000, 1),
        "errors": sorted({r[4] for r in rows if not r[2]})[:8],
        "action_error": err,
        "note": getattr(load, "note", ""),
    }
    res["ok"] = (res["lost_on_primary"] == 0 and res["lost_on_replica"] == 0 and
                 (res["failed_gets"] == 0 or name == "restart-lb") and err is None)
    return res


def start_stack(isolated=False, maxconn=LB_MAXCONN):
    tmp = tempfile.mkdtemp(prefix="tristack-faults-")
    os.chmod(tmp, 0o755)
    if isolated:
        st = IsolatedStack(tmp)
        try:
            st.ctl("up", "--isolated", timeout=240)
        except Exception:
            stop_isolated(st, tmp)
            raise
        return st, tmp
    st = Stack(tmp, free_subnet())
    write_stack(st.conf, st.net)  # no per-address limits: one address, many clients
    if maxconn:
        with open(st.conf) as f:
            text = f.read()
        with open(st.conf, "w") as f:
            f.write(text.replace("[lb]\n", f"[lb]\nmaxconn = {maxconn}\n", 1))
    st.ctl("up", timeout=180)
    return st, tmp


def stop_isolated(st, tmp):
    left = st.stop()
    shutil.rmtree(tmp, ignore_errors=True)
    return left


def print_table(results):
    cols = ["scenario", "requests", "failed_gets", "failed_posts", "acked_writes",
            "lost_on_primary", "lost_on_replica", "p99_ms", "max_ms", "ok"]
    print(" ".join(f"{c:>15}" for c in cols))
    for r in results:
        print(" ".join(f"{str(r[c]):>15}" for c in cols))
        if r["errors"] or r["action_error"] or r["note"]:
            print(f"{'':>15} errors: {r['errors']} {r['action_error'] or ''} {r['note']}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--short", action="store_true", help="the short form of make test")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("scenarios", nargs="*", help=f"of: {', '.join(SCENARIOS)}")
    a = ap.parse_args(argv)
    names = a.scenarios or (SHORT if a.short else list(SCENARIOS))
    for n in names:
        if n not in SCENARIOS:
            ap.error(f"no scenario '{n}'")
    results = []
    left = []
    for isolated in (False, True):
        group = [n for n in names if (n in ISOLATED) == isolated]
        if not group:
            continue
        if isolated and os.geteuid() != 0:
            print(f"== {', '.join(group)}: skipped (isolated mode needs root)")
            continue
        st, tmp = start_stack(isolated)
        try:
            for n in group:
                print(f"== {n}: {SCENARIOS[n][1]}", flush=True)
                results.append(run_scenario(st, n, a.short))
                r = results[-1]
                print(f"   {r['requests']} requests, {r['failed_gets']} failed GETs, "
                      f"{r['failed_posts']} failed POSTs, {r['acked_writes']} acknowledged, "
                      f"lost {r['lost_on_primary']}/{r['lost_on_replica']}, "
                      f"p99 {r['p99_ms']} ms, max {r['max_ms']} ms -> "
                      f"{'ok' if r['ok'] else 'FAILED'} {r['note']}", flush=True)
        finally:
            if isolated:
                left += stop_isolated(st, tmp)
            else:
                left += stop_stack(st)
                shutil.rmtree(tmp, ignore_errors=True)
    print()
    print_table(results)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=2)
    for r in results:
        print(f"RESULT fault_{r['scenario'].replace('-', '_')}_failed_gets={r['failed_gets']}")
        print(f"RESULT fault_{r['scenario'].replace('-', '_')}_lost_writes="
              f"{r['lost_on_primary'] + r['lost_on_replica']}")
    if left:
        print(f"faults: processes left after down: {left}", file=sys.stderr)
        return 1
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
