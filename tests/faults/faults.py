#!/usr/bin/python3
"""The fault suite (issues 9, 14): each scenario under a bounded load of
mixed reads and writes by 32 clients through the load balancer over HTTPS,
then an audit of the writes on the primary and on the replica: every post
the site acknowledged (201) is exactly one row, with the author and body
acknowledged; a post the client was told failed (a 4xx, a 503 "not
done", or never sent whole) is no row; one of unknown outcome (another 5xx,
or the connection lost after sending) at most one; no row twice. Each POST's body is unique, so
rows are matched to attempts even without an id.

    tests/faults/faults.py [--short] [--json FILE] [SCENARIO...]
    make faults            every scenario, full length
    (make test runs the short form through tests/e2e/test_faults.py)

Scenarios act on a stack of their own (loopback addresses; the partition
scenario needs isolated mode and root), which the supervisor keeps running:
a killed daemon is started again by it, as in production. Between
scenarios the suite waits until every daemon is healthy again.

Per scenario it prints requests, failed GETs, GETs sent again (the client
does so once when a kept-alive connection is reset, as a browser does:
allowed, and counted), acknowledged, failed and unknown POSTs, lost
acknowledged writes and bad rows on each database, load errors, p99 and
max latency. The target: 0 lost writes, 0 bad rows and 0 load errors
everywhere (any exception in a load thread other than a network failure
is a load error), 0 failed GETs except during a full LB restart."""
import argparse
import ctypes
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "e2e"))
from applab import Client, db_query  # noqa: E402
from conftest import (HAStack, IsolatedStack, Stack, free_subnet,  # noqa: E402
                      stop_stack, write_stack)

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


class LoadError(Exception):
    """Something no fault excuses: a 201 whose answer is not the post sent."""


# A peer that died or a network that failed: a failed request, which the
# scenario's target judges. Anything else a load thread meets (a bad status
# line, a 201 that is not the post, a bug here) is a load error and fails
# the scenario whatever the target.
NET_ERRORS = (OSError, http.client.IncompleteRead)


class Load:
    """THREADS clients, each a keep-alive connection like a browser tab,
    repeating a mix: 70% reads (API list, one post, the page, a static
    file), 30% writes (POST /api/posts). Stops by itself at `limit`.

    Every write is an attempt with a body no other attempt has (this load's
    tag and a uuid), so a row can be matched to it without an id. Its
    outcome: "acked" (201, with the id the answer gave), "failed" (the
    client knows nothing was written: a 4xx, a 503, or the request never
    left whole) or "unknown" (another 5xx: a 504 from the app, a 502 or 504
    from a gateway, when the write may have happened; or the connection
    lost after sending). A 503 says "not done" wherever it comes from: the
    app's when its INSERT never reached a database (docs/api.md), the web
    server's or the LB's when no server took the request."""

    THREADS = 32

    def __init__(self, st, limit):
        self.st = st
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.rows = []  # (t, kind, ok, latency, detail, retried)
        self.attempts = []  # one dict a POST: author, body, outcome, id, detail
        self.errors = []  # load errors: "thread N: what"
        self.retries = 0  # GETs sent again by the client (applab.Client)
        self.tag = f"fs{uuid.uuid4().hex[:12]}"
        self.note = ""
        self.ha = None  # the LB pair's figures (ha_scenario)
        self.db = None  # the failover's figures (sc_db_*)
        self.t0 = time.monotonic()
        self.deadline = self.t0 + limit
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True)
                        for i in range(self.THREADS)]
        for t in self.threads:
            t.start()

    def client(self):
        return Client(self.st.url, timeout=15)  # keeps the read-your-writes cookie

    def _write(self, c, i):
        a = {"author": f"fault-suite-{i}", "body": f"{self.tag} {uuid.uuid4()}",
             "outcome": None, "id": None, "detail": ""}
        with self.lock:
            self.attempts.append(a)
        try:
            st, _, data = c.request("POST", "/api/posts",
                                    body=json.dumps({"author": a["author"],
                                                     "body": a["body"]}).encode(),
                                    headers={"Content-Type": "application/json"})
        except BaseException as e:
            a["outcome"] = "unknown" if c.sent else "failed"
            a["detail"] = type(e).__name__
            raise
        a["detail"] = str(st)
        if st != 201:
            a["outcome"] = "unknown" if st >= 500 and st != 503 else "failed"
            return False, str(st)
        a["outcome"] = "acked"  # the audit finds its row by body if not by id
        try:
            post = json.loads(data)
            ok = (post["author"], post["body"]) == (a["author"], a["body"])
            a["id"] = post["id"] if ok and isinstance(post["id"], int) else None
        except (ValueError, TypeError, KeyError):
            pass
        if a["id"] is None:
            raise LoadError(f"a 201 whose answer is not the post sent: {data[:120]!r}")
        return True, a["id"]

    def _read(self, c, rnd, known):
        x = rnd.random()
        if x < 0.35:
            path = "/api/posts?limit=5"
        elif x < 0.65 and known:
            path = f"/api/posts/{rnd.choice(known)}"
        elif x < 0.85:
            path = "/"
        else:
            path = "/static/site.css"
        st = c.request("GET", path)[0]
        return st == 200, str(st)

    def _run(self, i):
        try:
            if isinstance(self.st, IsolatedStack):
                enter_netns(self.st.ns("client"))
            c = self.client()
            try:
                self._loop(c, i)
            finally:
                c.close()
                with self.lock:
                    self.retries += c.retries
        except BaseException as e:  # never silently: the scenario fails
            with self.lock:
                self.errors.append(f"thread {i} died: {e!r}")

    def _loop(self, c, i):
        rnd = random.Random(i)
        known = []
        while not self.stop.is_set() and time.monotonic() < self.deadline:
            kind = "write" if rnd.random() < 0.30 else "read"
            t = time.monotonic()
            before = c.retries
            try:
                if kind == "write":
                    ok, detail = self._write(c, i)
                else:
                    ok, detail = self._read(c, rnd, known)
            except NET_ERRORS as e:
                c.close()
                ok, detail = False, type(e).__name__
            except Exception as e:
                c.close()
                ok, detail = False, type(e).__name__
                with self.lock:
                    self.errors.append(f"thread {i}, {kind}: {e!r}")
            lat = time.monotonic() - t
            with self.lock:
                if kind == "write" and ok:
                    known.append(detail)
                self.rows.append((t - self.t0, kind, ok, lat, detail, c.retries - before))
            if not ok:
                time.sleep(0.01)  # a failing client does not spin

    def elapsed(self):
        return time.monotonic() - self.t0

    def wait_until(self, t):
        while self.elapsed() < t and time.monotonic() < self.deadline:
            time.sleep(0.02)

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=30)
        hung = sum(1 for t in self.threads if t.is_alive())
        if hung:
            self.errors.append(f"{hung} load threads still running 30 s after the end")
        for a in self.attempts:
            if a["outcome"] is None:
                a["outcome"] = "unknown"  # its thread was stopped mid-request
        return self


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
            off = {u["host"] for u in units
                   if os.path.exists(os.path.join(st.state, "power", f"{u['host']}.off"))}
            bad = [f"{u['host']} {u['daemon']}: {u['state']} {u['health']}" for u in units
                   if not u["healthy"] and u["host"] not in off]
            if not bad:
                return
            last = bad
        except (ValueError, KeyError):
            last = r.stdout + r.stderr
        time.sleep(0.25)
    raise RuntimeError(f"the stack did not come back healthy: {last}")


def rows_of(st, host, tag):
    """(id, author, body) of every post whose body carries the load's tag."""
    sql = ("SELECT id, HEX(author), HEX(body) FROM foobar.posts "
           f"WHERE body LIKE '{tag} %'")
    return [(int(i), bytes.fromhex(a).decode(), bytes.fromhex(b).decode())
            for i, a, b in db_query(st, host, sql)]


AUDIT_FAULTS = ("missing", "wrong", "duplicates", "failed_written", "stray")


def audit_rows(attempts, rows):
    """One database's rows (id, author, body) against the load's write
    attempts. Counts, each but unknown_written a fault:
      missing         an acknowledged write with no row for its id (or, when
                      the answer gave none, for its body)
      wrong           a row under an acknowledged id whose author or body is
                      not the one acknowledged
      duplicates      rows beyond the first for an id or for an attempt's body
      failed_written  rows for a write the client was told failed
      unknown_written writes of unknown outcome that were made (at most once:
                      a second row is a duplicate)
      stray           rows of this load's tag that no attempt sent
    and examples: the first few faults, described."""
    by_id, by_body = defaultdict(list), defaultdict(list)
    for r in rows:
        by_id[r[0]].append(r)
        by_body[r[2]].append(r)
    out = {k: 0 for k in AUDIT_FAULTS + ("unknown_written",)}
    examples = []

    def fault(kind, what):
        out[kind] += 1
        if len(examples) < 8:
            examples.append(f"{kind}: {what}")

    sent = set()
    for a in attempts:
        sent.add(a["body"])
        same = by_body.get(a["body"], [])
        extra = len(same) - 1
        if a["outcome"] == "acked" and a["id"] is not None:
            mine = by_id.get(a["id"], [])
            if not mine:
                fault("missing", f"id {a['id']} ({a['body']})")
            for r in mine:
                if (r[1], r[2]) != (a["author"], a["body"]):
                    fault("wrong", f"id {a['id']}: {r[1:]} for {(a['author'], a['body'])}")
            extra = max(0, len(mine) - 1) + sum(1 for r in same if r[0] != a["id"])
        elif a["outcome"] == "acked":
            if not same:
                fault("missing", f"acknowledged without an id: {a['body']}")
        elif a["outcome"] == "failed":
            for r in same:
                fault("failed_written", f"id {r[0]} ({a['body']}, answered {a['detail']})")
            extra = 0
        elif same:
            out["unknown_written"] += 1
        for _ in range(max(0, extra)):
            fault("duplicates", a["body"])
    for body, rs in by_body.items():
        if body not in sent:
            for r in rs:
                fault("stray", f"id {r[0]}: {body}")
    out["examples"] = examples
    out["ok"] = all(out[k] == 0 for k in AUDIT_FAULTS)
    return out


def db_hosts(st):
    """(primary, replica) now: {state}/db/primary after a failover."""
    path = os.path.join(st.state, "db", "primary")
    primary = "web-01"
    if os.path.exists(path):
        with open(path) as f:
            primary = f.read().strip() or primary
    return primary, ("web-02" if primary == "web-01" else "web-01")


def is_off(st, host):
    return os.path.exists(os.path.join(st.state, "power", f"{host}.off"))


def audit(st, attempts, tag, timeout=60):
    """audit_rows on the primary, then on the replica once it has every row
    the primary has (or `timeout` passed). A replica that is powered off is
    audited when it is back (db-poweron-primary): its figures here are the
    primary's."""
    p_host, r_host = db_hosts(st)
    primary = rows_of(st, p_host, tag)
    ids = {r[0] for r in primary}
    deadline = time.monotonic() + timeout
    while not is_off(st, r_host):
        replica = rows_of(st, r_host, tag)
        if ids <= {r[0] for r in replica} or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    if is_off(st, r_host):
        replica = primary
    return {"primary": audit_rows(attempts, primary), "replica": audit_rows(attempts, replica),
            "hosts": [p_host, r_host]}


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
        except NET_ERRORS:
            ok = False
        except Exception as e:
            ok = False
            with load.lock:
                load.errors.append(f"fill-lb's new-connection GET: {e!r}")
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


# ---- the LB pair (conf/foobar-ha.conf): the holder of the floating address fails ----

class Watch:
    """From the client host, a GET of a static file on a new connection
    every 100 ms, each in a thread of its own (one that hangs on a hung LB
    does not hold up the next): the site as a new visitor sees it, to time
    the failover. Stops by itself at deadline."""

    EVERY = 0.1

    def __init__(self, st, deadline):
        self.st = st
        self.deadline = deadline
        self.results = []  # (monotonic start, end, ok)
        self.errors = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.probes = []
        self.t = threading.Thread(target=self._spawn, daemon=True)
        self.t.start()

    def _spawn(self):
        while not self.stop.is_set() and time.monotonic() < self.deadline:
            p = threading.Thread(target=self._probe, daemon=True)
            p.start()
            self.probes.append(p)
            time.sleep(self.EVERY)

    def _probe(self):
        try:
            enter_netns(self.st.ns("client"))
            t = time.monotonic()
            c = Client(self.st.url, timeout=5, cookies=False)
            try:
                ok = c.request("GET", "/static/site.css")[0] == 200
            except NET_ERRORS:
                ok = False
            c.close()
            with self.lock:
                self.results.append((t, time.monotonic(), ok))
        except BaseException as e:  # never silently
            with self.lock:
                self.errors.append(repr(e))

    def recovery(self, t_fault, t_done):
        """Seconds from t_fault (the fault began) until a request sent after
        t_done (it was complete: a power cut takes a moment) was first
        answered, or None. An upper bound, by up to t_done - t_fault."""
        ends = [end for start, end, ok in self.results if start >= t_done and ok]
        return round(min(ends) - t_fault, 2) if ends else None

    def failed(self):
        return sum(1 for r in self.results if not r[2])

    def finish(self):
        self.stop.set()
        self.t.join(timeout=15)
        for p in self.probes:
            p.join(timeout=15)
        if any(p.is_alive() for p in self.probes):
            self.errors.append("a probe still running 15 s after the end")


def tls_sessions(st, n):
    """n TLS sessions (tickets) from the site, saved from the client host:
    (context, [session])."""
    ctx = ssl.create_default_context(cafile=st.cafile)
    out = {}

    def run():
        enter_netns(st.ns("client"))
        sessions = []
        for _ in range(n):
            with socket.create_connection((st.vip, 443), timeout=5) as raw:
                with ctx.wrap_socket(raw, server_hostname="www.foobar.com") as s:
                    s.sendall(b"GET /static/site.css HTTP/1.1\r\nHost: www.foobar.com\r\n"
                              b"Connection: close\r\n\r\n")
                    while s.recv(65536):
                        pass
                    sessions.append(s.session)
        out["s"] = sessions

    t = threading.Thread(target=run)
    t.start()
    t.join(timeout=60)
    return ctx, out.get("s", [])


def tls_resumed(st, ctx, sessions):
    """How many of the saved sessions resume now (on whichever LB holds
    the address)."""
    out = {"n": 0}

    def run():
        enter_netns(st.ns("client"))
        for sess in sessions:
            try:
                with socket.create_connection((st.vip, 443), timeout=5) as raw:
                    with ctx.wrap_socket(raw, server_hostname="www.foobar.com",
                                         session=sess) as s:
                        out["n"] += bool(s.session_reused)
            except (OSError, ssl.SSLError):
                pass

    t = threading.Thread(target=run)
    t.start()
    t.join(timeout=60)
    return out["n"]


def in_flight(rows, t):
    """Requests of a finished load that were under way at t (load time)."""
    if t is None:
        return 0
    return sum(1 for r in rows if r[0] <= t < r[0] + r[3])


def ha_scenario(st, load, short, act, fault_name):
    """The holder of the floating address meets act(holder) at 2 s; the
    figures: seconds until the site answered a new visitor again, requests
    in flight then, TLS sessions saved before that resume after."""
    holder = st.holder()
    ctx, sessions = tls_sessions(st, 20)
    watch = Watch(st, load.deadline + 5)
    load.wait_until(2)
    t_fault = time.monotonic()
    lt_fault = load.elapsed()
    try:
        act(holder)
        t_done = time.monotonic()
        # the address has moved once the other LB holds it
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and st.holders() in ([holder], []):
            time.sleep(0.1)
        load.wait_until(lt_fault + 6)
    finally:
        watch.finish()
    now = st.holders()
    resumed = tls_resumed(st, ctx, sessions)
    load.ha = {"fault": fault_name, "holder_before": holder, "holder_after": ",".join(now),
               "recovery_s": watch.recovery(t_fault, t_done), "fault_at": lt_fault,
               "fault_took_s": round(t_done - t_fault, 2),
               "tls_sessions": len(sessions), "tls_resumed": resumed,
               "watch_failed": watch.failed()}
    load.errors += [f"watch: {e}" for e in watch.errors]
    return holder


def sc_ha_kill_lb(st, load, short):
    ha_scenario(st, load, short,
                lambda h: kill(pid_of(st, f"{h}.lb.pid"), signal.SIGKILL), "kill -9 tristack-lb")


def sc_ha_stop_lb(st, load, short):
    stopped = {}

    def act(h):
        stopped["pid"] = pid_of(st, f"{h}.lb.pid")
        kill(stopped["pid"], signal.SIGSTOP)

    try:
        ha_scenario(st, load, short, act, "SIGSTOP tristack-lb")
        load.wait_until(2 + (6 if short else 10))
    finally:
        if "pid" in stopped:
            kill(stopped["pid"], signal.SIGCONT)


def sc_ha_poweroff_lb(st, load, short):
    """Left off: ha-poweron brings it back (wait_healthy skips it)."""
    ha_scenario(st, load, short, lambda h: st.ctl("poweroff", h), "power off")


def sc_ha_poweron_lb(st, load, short):
    """The LB host that is off comes back under load: nothing may fail and
    the address must stay where it is (preempt off)."""
    off = [h for h in ("lb-01", "lb-02")
           if os.path.exists(os.path.join(st.state, "power", f"{h}.off"))]
    holder = st.holder()
    watch = Watch(st, load.deadline + 5)
    load.wait_until(2)
    try:
        for h in off:
            st.ctl("poweron", h, timeout=120)
        load.wait_until(load.elapsed() + 6)  # six advertisement intervals
    finally:
        watch.finish()
    load.ha = {"fault": "power on", "holder_before": holder,
               "holder_after": ",".join(st.holders()), "recovery_s": 0.0, "fault_at": None,
               "tls_sessions": 0, "tls_resumed": 0, "powered_on": ",".join(off),
               "watch_failed": watch.failed()}
    load.errors += [f"watch: {e}" for e in watch.errors]
    if not off:
        raise RuntimeError("no LB host was off (run ha-poweroff-lb first)")


# ---- the database primary's host lost (issue 17): automatic failover ----

def writes_back(load, t, t_done):
    """Seconds from t (load time: the fault began) until a POST sent after
    t_done (the fault was complete) was acknowledged, or None."""
    ends = [r[0] + r[3] for r in load.rows if r[1] == "write" and r[2] and r[0] >= t_done]
    return round(min(ends) - t, 2) if ends else None


def sc_db_poweroff_primary(st, load, short):
    """The primary's host (its web server, app and MariaDB) powered off:
    the supervisor promotes the replica. Left off: db-poweron-primary."""
    old, new = db_hosts(st)
    load.wait_until(2)
    t = load.elapsed()
    st.ctl("poweroff", old)
    t_done = load.elapsed()
    deadline = time.monotonic() + 30
    while db_hosts(st)[0] == old and time.monotonic() < deadline:
        time.sleep(0.1)
    promoted = load.elapsed() - t
    load.wait_until(t + 12)
    load.db = {"old": old, "new": db_hosts(st)[0], "fault_at": t, "fault_done": t_done,
               "promoted_after_s": round(promoted, 2)}
    if db_hosts(st)[0] == old:
        raise RuntimeError(f"{new} was not promoted within 30 s")


def sc_db_kill_primary(st, load, short):
    """kill -9 of the primary's mariadbd: the supervisor starts it again,
    and the failover monitor promotes the replica if it is not back within
    [db] failover_after; either way no acknowledged write may be lost."""
    old, _ = db_hosts(st)
    load.wait_until(2)
    t = load.elapsed()
    kill(pid_of(st, f"{old}.db.pid"), signal.SIGKILL)
    t_done = load.elapsed()
    load.wait_until(t + 12)
    load.db = {"old": old, "new": db_hosts(st)[0], "fault_at": t, "fault_done": t_done}


def sc_db_stop_primary(st, load, short):
    """The primary's mariadbd hung (SIGSTOP): the supervisor fences it
    (kills it: what sits in its sockets never runs) and promotes the
    replica; SIGCONT after the promotion finds nothing to wake."""
    old, new = db_hosts(st)
    pid = pid_of(st, f"{old}.db.pid")
    load.wait_until(2)
    t = load.elapsed()
    kill(pid, signal.SIGSTOP)
    t_done = load.elapsed()
    try:
        deadline = time.monotonic() + 30
        while db_hosts(st)[0] == old and time.monotonic() < deadline:
            time.sleep(0.1)
        promoted = load.elapsed() - t
    finally:
        kill(pid, signal.SIGCONT)
    load.wait_until(t + 12)
    load.db = {"old": old, "new": db_hosts(st)[0], "fault_at": t, "fault_done": t_done,
               "promoted_after_s": round(promoted, 2)}
    if db_hosts(st)[0] == old:
        raise RuntimeError(f"{new} was not promoted within 30 s")


def sc_db_poweron_primary(st, load, short):
    """The old primary's host back under load: it comes up read-only and
    rejoins as a replica of the new primary (audited as the replica)."""
    off = [h for h in ("web-01", "web-02") if is_off(st, h)]
    load.wait_until(2)
    for h in off:
        st.ctl("poweron", h, timeout=180)
    load.db = {"powered_on": ",".join(off), "fault_at": None}
    if not off:
        raise RuntimeError("no database host was off (run db-poweroff-primary first)")


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
    "db-kill-primary": (sc_db_kill_primary,
                        "kill -9 of the primary's mariadbd (restarted, or failed over)"),
    "db-stop-primary": (sc_db_stop_primary,
                        "the primary's mariadbd hung (SIGSTOP): fenced, the replica promoted"),
    "db-poweroff-primary": (sc_db_poweroff_primary,
                            "the primary's host powered off (web, app, MariaDB; link down): "
                            "automatic failover"),
    "db-poweron-primary": (sc_db_poweron_primary,
                           "the old primary's host back: read-only, it rejoins as a replica"),
    "ha-kill-lb": (sc_ha_kill_lb, "LB pair: kill -9 tristack-lb on the holder of the address"),
    "ha-stop-lb": (sc_ha_stop_lb,
                   "LB pair: SIGSTOP tristack-lb on the holder for 10 s (hung, not dead)"),
    "ha-poweroff-lb": (sc_ha_poweroff_lb,
                       "LB pair: the holder powered off (every process killed, link down)"),
    "ha-poweron-lb": (sc_ha_poweron_lb,
                      "LB pair: the powered-off LB back (it must not take the address back)"),
}
DB_FAILOVER = {"db-kill-primary", "db-stop-primary", "db-poweroff-primary",
               "db-poweron-primary"}
ISOLATED = {"partition-web"} | DB_FAILOVER
HA = {"ha-kill-lb", "ha-stop-lb", "ha-poweroff-lb", "ha-poweron-lb"}
HA_RECOVERY_S = 5  # the address answers again within this
RETRIES_ALLOWED = {"reload-lb", "restart-lb"} | HA  # the LB's own connections close
SHORT = ["kill-web", "kill-app", "reload-lb", "kill-replica"]


def p99(xs):
    if not xs:
        return 0.0
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * 0.99))]


def judge(name, what, seconds, load, audits, action_error=None):
    """A scenario's figures and verdict from its finished load and the
    audits of both databases. ok: no load error, no fault in either audit
    (every acknowledged write once, as acknowledged, on both; no row for a
    write the client was told failed; none twice), the action went as
    planned, and no GET failed (but in restart-lb, where the only LB is
    down for a second). A GET the client sent again on a new connection
    (as a browser does when a kept-alive one is closed under it) is
    allowed where the LB itself is reloaded or restarted, and counted;
    anywhere else the LB must not close a client's connection, so one
    fails the scenario."""
    rows = load.rows
    reads = [r for r in rows if r[1] == "read"]
    outcomes = [a["outcome"] for a in load.attempts]
    p, r = audits["primary"], audits["replica"]
    res = {
        "scenario": name,
        "what": what,
        "seconds": seconds,
        "clients": len(load.threads),
        "requests": len(rows),
        "reads": len(reads),
        "failed_gets": sum(1 for x in reads if not x[2]),
        "retried_gets": load.retries,
        "writes": len(load.attempts),
        "acked_writes": outcomes.count("acked"),
        "failed_posts": outcomes.count("failed"),
        "unknown_posts": outcomes.count("unknown"),
        "unknown_written": p["unknown_written"],
        "lost_on_primary": p["missing"],
        "lost_on_replica": r["missing"],
        "bad_rows_on_primary": sum(p[k] for k in AUDIT_FAULTS if k != "missing"),
        "bad_rows_on_replica": sum(r[k] for k in AUDIT_FAULTS if k != "missing"),
        "load_errors": len(load.errors),
        "p99_ms": round(p99([x[3] for x in rows]) * 1000, 1),
        "max_ms": round(max((x[3] for x in rows), default=0) * 1000, 1),
        "errors": sorted({x[4] for x in rows if not x[2]})[:8],
        "load_error_list": load.errors[:8],
        "audit": audits,
        "action_error": action_error,
        "note": load.note,
    }
    res["ok"] = (p["ok"] and r["ok"] and not load.errors and action_error is None and
                 (res["failed_gets"] == 0 or name == "restart-lb" or name in HA) and
                 (res["retried_gets"] == 0 or name in RETRIES_ALLOWED))
    if name in DB_FAILOVER:
        db = load.db or {}
        db["writes_back_s"] = writes_back(load, db["fault_at"], db["fault_done"]) \
            if db.get("fault_at") is not None else None
        res["db"] = db
        # reads go on through the other web server; writes wait for the
        # failover: failed and unknown POSTs allowed (counted), none lost
        res["ok"] = (p["ok"] and r["ok"] and not load.errors and action_error is None and
                     (name == "db-poweron-primary" or
                      (db.get("writes_back_s") is not None and db["writes_back_s"] <= 10)))
        load.note = (f"{db} {load.note}").rstrip()
        res["note"] = load.note
    if name in HA:
        ha = load.ha or {}
        ha["in_flight"] = in_flight(rows, ha.get("fault_at"))
        res["ha"] = ha
        failed = res["failed_gets"] + res["failed_posts"] + res["unknown_posts"]
        res["failed_requests"] = failed
        if name == "ha-poweron-lb":
            # nothing may notice a standby coming back
            res["ok"] = (res["ok"] and failed == 0 and ha.get("watch_failed") == 0 and
                         ha.get("holder_after") == ha.get("holder_before"))
        else:
            # what fails is what was under way on the holder: at most one
            # request per client (its connection to the old holder), and
            # the address answers again within HA_RECOVERY_S
            rec = ha.get("recovery_s")
            res["ok"] = (res["ok"] and failed <= res["clients"] and rec is not None and
                         rec <= HA_RECOVERY_S and
                         ha.get("holder_after") not in ("", ha.get("holder_before")))
        load.note = (f"{ha.get('holder_before')} -> {ha.get('holder_after')}: answered again "
                     f"after {ha.get('recovery_s')} s; {failed} failed requests "
                     f"({ha.get('in_flight')} in flight at the fault); TLS sessions resumed "
                     f"{ha.get('tls_resumed')}/{ha.get('tls_sessions')}; new-visitor probes "
                     f"failed {ha.get('watch_failed')} {load.note}").rstrip()
        res["note"] = load.note
    return res


def run_scenario(st, name, short):
    fn, what = SCENARIOS[name]
    # a failover needs its seconds, and the writes after it to be seen
    limit = 20 if name in DB_FAILOVER or not short else 8
    wait_healthy(st)
    load = Load(st, limit)
    err = None
    try:
        fn(st, load, short)
    except Exception as e:  # the load still stops and is audited
        err = repr(e)
    load.wait_until(limit)
    load.finish()
    wait_healthy(st)
    return judge(name, what, limit, load, audit(st, load.attempts, load.tag), err)


def start_stack(isolated=False, maxconn=LB_MAXCONN, ha=False):
    tmp = tempfile.mkdtemp(prefix="tristack-faults-")
    os.chmod(tmp, 0o755)
    if isolated:
        st = HAStack(tmp) if ha else IsolatedStack(tmp)
        # automatic failover on, and one failover after another, scenario
        # after scenario: a cool-down shorter than a scenario (the default,
        # 5 min, is for production)
        with open(st.conf) as f:
            text = f.read()
        with open(st.conf, "w") as f:
            on = "" if re.search(r"^auto_failover\s*=", text, re.M) else "auto_failover = on\n"
            f.write(text.replace("[db]\n", f"[db]\n{on}failover_cooldown = 15s\n", 1))
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


TABLE = ["scenario", "requests", "failed_gets", "retried_gets", "acked_writes", "failed_posts",
         "unknown_posts", "unknown_written", "lost_on_primary", "lost_on_replica",
         "bad_rows_on_primary", "bad_rows_on_replica", "load_errors", "p99_ms", "max_ms", "ok"]


def print_table(results):
    w = {c: max([len(c)] + [len(str(r[c])) for r in results]) for c in TABLE}
    print(" ".join(f"{c:>{w[c]}}" for c in TABLE))
    for r in results:
        print(" ".join(f"{str(r[c]):>{w[c]}}" for c in TABLE))
        ex = r["audit"]["primary"]["examples"] + r["audit"]["replica"]["examples"]
        if r["errors"] or r["action_error"] or r["note"] or r["load_error_list"] or ex:
            print(f"    errors: {r['errors']} {r['action_error'] or ''} {r['note']}")
            for e in r["load_error_list"] + ex:
                print(f"    {e}")


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
    if any(n in HA for n in names) and not os.path.exists("/usr/sbin/keepalived"):
        print("faults: the LB pair's scenarios need keepalived (scripts/install-deps.sh)",
              file=sys.stderr)
        return 1
    results = []
    left = []
    for kind in ("loopback", "isolated", "ha"):
        isolated = kind != "loopback"
        group = [n for n in names
                 if (n in HA and kind == "ha") or (n in ISOLATED and kind == "isolated") or
                 (n not in HA and n not in ISOLATED and kind == "loopback")]
        if not group:
            continue
        if isolated and os.geteuid() != 0:
            print(f"== {', '.join(group)}: skipped (isolated mode needs root)")
            continue
        st, tmp = start_stack(isolated, ha=kind == "ha")
        if kind == "ha":
            # the lab's client gives up a connect after ~3 s (tcp_syn_retries
            # = 1, for quick tests of dropped ones); a visitor's machine has
            # the kernel's default, 6, and keeps trying through a failover
            subprocess.run(["ip", "netns", "exec", st.ns("client"), "sysctl", "-q", "-w",
                            "net.ipv4.tcp_syn_retries=6"], check=True)
        try:
            for n in group:
                print(f"== {n}: {SCENARIOS[n][1]}", flush=True)
                results.append(run_scenario(st, n, a.short))
                r = results[-1]
                print(f"   {r['requests']} requests by {r['clients']} clients, "
                      f"{r['failed_gets']} failed GETs ({r['retried_gets']} sent again), "
                      f"{r['acked_writes']} acknowledged POSTs, {r['failed_posts']} failed, "
                      f"{r['unknown_posts']} unknown ({r['unknown_written']} written), "
                      f"lost {r['lost_on_primary']}/{r['lost_on_replica']}, "
                      f"bad rows {r['bad_rows_on_primary']}/{r['bad_rows_on_replica']}, "
                      f"{r['load_errors']} load errors, "
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
        n = f"fault_{r['scenario'].replace('-', '_')}"
        print(f"RESULT {n}_failed_gets={r['failed_gets']}")
        print(f"RESULT {n}_retried_gets={r['retried_gets']}")
        print(f"RESULT {n}_lost_writes={r['lost_on_primary'] + r['lost_on_replica']}")
        print(f"RESULT {n}_bad_rows={r['bad_rows_on_primary'] + r['bad_rows_on_replica']}")
        print(f"RESULT {n}_load_errors={r['load_errors']}")
        if "db" in r and r["db"].get("writes_back_s") is not None:
            print(f"RESULT {n}_writes_back_s={r['db']['writes_back_s']}")
        if "ha" in r:
            print(f"RESULT {n}_failed_requests={r['failed_requests']}")
            print(f"RESULT {n}_in_flight={r['ha'].get('in_flight')}")
            print(f"RESULT {n}_recovery_s={r['ha'].get('recovery_s')}")
            print(f"RESULT {n}_tls_resumed={r['ha'].get('tls_resumed')}/"
                  f"{r['ha'].get('tls_sessions')}")
    if left:
        print(f"faults: processes left after down: {left}", file=sys.stderr)
        return 1
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
