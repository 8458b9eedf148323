"""The fault suite's load and audit (tests/faults/faults.py): 32 clients
mixing reads and writes through the LB, and the audit of every write
attempt against the rows of each database."""
import ctypes
import http.client
import json
import os
import random
import sys
import threading
import time
import uuid
from collections import defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "e2e"))
from applab import Client, db_query  # noqa: E402
from conftest import IsolatedStack  # noqa: E402


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
    RETRY_FOR = 15  # s after the load's end that unknown outcomes are still retried

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
        c = Client(self.st.url, timeout=15)  # keeps the read-your-writes cookie
        if getattr(self.st, "tls_ctx", None) is not None:
            c.ctx = self.st.tls_ctx  # the ACME stack's: pebble's root, www.foobar.com
        return c

    def _send(self, c, a):
        """One POST of attempt a, with its Idempotency-Key: its outcome
        ("acked", "failed", "unknown") and, for a 201, the post."""
        try:
            st, _, data = c.request("POST", "/api/posts",
                                    body=json.dumps({"author": a["author"],
                                                     "body": a["body"]}).encode(),
                                    headers={"Content-Type": "application/json",
                                             "Idempotency-Key": a["key"]})
        except NET_ERRORS as e:
            a["answers"].append(type(e).__name__)
            c.close()
            return ("unknown" if c.sent else "failed"), None
        a["answers"].append(str(st))
        if st != 201:
            return ("unknown" if st >= 500 and st != 503 else "failed"), None
        return "acked", data

    def _write(self, c, i):
        """A POST, sent again with the same Idempotency-Key while its
        outcome is unknown (a 504, a 502, the connection lost after
        sending), as docs/api.md tells a client to: every 0.25 s, until
        RETRY_FOR after the load's end. A first answer 503 ("not done") is
        final: the audit checks that no row ever appears for it. After an
        unknown outcome a 503 (or a retry that could not be sent) only
        says the retry was not done, so the client goes on: the attempt
        stays "unknown" until a 201 (or a 4xx) says."""
        a = {"author": f"fault-suite-{i}", "body": f"{self.tag} {uuid.uuid4()}",
             "key": str(uuid.uuid4()), "outcome": None, "id": None, "detail": "",
             "answers": []}
        with self.lock:
            self.attempts.append(a)
        unknown = False
        while True:
            outcome, data = self._send(c, a)
            a["detail"] = ",".join(a["answers"])
            last = a["answers"][-1]
            if outcome == "failed" and unknown and not (last.isdigit() and last < "500"):
                outcome = "unknown"  # the retry was not done; the first may have been
            unknown = unknown or outcome == "unknown"
            if outcome != "unknown" or time.monotonic() > self.deadline + self.RETRY_FOR:
                break
            time.sleep(0.25)
        a["outcome"] = outcome
        a["retried"] = len(a["answers"]) - 1
        if outcome != "acked":
            return False, a["detail"]
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
            t.join(timeout=self.RETRY_FOR + 30)
        hung = sum(1 for t in self.threads if t.is_alive())
        if hung:
            self.errors.append(f"{hung} load threads still running "
                               f"{self.RETRY_FOR + 30} s after the end")
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


AUDIT_FAULTS = ("missing", "wrong", "duplicates", "failed_written", "stray", "not_on_primary")


def audit_rows(attempts, rows, primary=None):
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
      not_on_primary  (a replica's audit: primary is the primary's rows) rows
                      the primary does not have: on an old primary, writes
                      it accepted after the promotion (or never sent on)
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
    if primary is not None:
        theirs = {(r[0], r[2]) for r in primary}
        for r in rows:
            if (r[0], r[2]) not in theirs:
                fault("not_on_primary", f"id {r[0]}: {r[2]}")
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
    diverged = [h for h in (p_host, r_host)
                if os.path.exists(os.path.join(st.state, "db", f"{h}.diverged"))]
    return {"primary": audit_rows(attempts, primary),
            "replica": audit_rows(attempts, replica, primary),
            "hosts": [p_host, r_host], "diverged": diverged}
