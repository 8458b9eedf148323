"""Posting that retries never double, and answers that tell the truth.

An Idempotency-Key (and the form's per-page token) stores a post once,
whatever the retries, and answers every retry with that post; the same key
for another post is a 422. A post whose statement never reached the primary
is a 503 and never appears, even once a hung primary wakes up; one sent that
got no answer is a 504 (it may appear: that is why it is not a 503), and a
retry with its key stores it exactly once. A client without cookies reads
its own fresh post by id at once, and with the X-Tristack-Gtid header finds
it in lists too.

On a stack of its own whose [db] timeout is 1 s, so that a hung primary
turns into answers quickly."""
import http.client
import json
import os
import re
import signal
import ssl
import threading
import time
import urllib.parse
import uuid

import pytest

from applab import Client, app_metrics, db_query
from conftest import CA_FILES, alive, own_stack, wait_for

TOKEN = re.compile(r"\d+-\d+-\d+\.[A-Za-z0-9_-]{43}")


@pytest.fixture(scope="module")
def lab():
    with own_stack("tristack-e2e-idem-",
                   edit=lambda text: text.replace(
                       "[db]\n", "[db]\ntimeout = 1s\nsemi_sync_timeout = 500ms\n", 1)) as st:
        yield st


def new_key():
    return f"test-{uuid.uuid4()}"


def keyed(key):
    return {"Idempotency-Key": key}


def sql_str(s):
    assert re.fullmatch(r"[A-Za-z0-9_.:, -]*", s), s  # what these tests write
    return f"'{s}'"


def rows_with_key(lab, key, host="web-01"):
    return db_query(lab, host, "SELECT id, author, body FROM foobar.posts "
                               f"WHERE idem_key = {sql_str(key)}")


def stored_bodies(lab, bodies, host="web-01"):
    """Which of bodies are in the posts table."""
    if not bodies:
        return set()
    found = db_query(lab, host, "SELECT body FROM foobar.posts WHERE body IN "
                                f"({','.join(sql_str(b) for b in bodies)})")
    return {r[0] for r in found}


def in_parallel(n, fn):
    """fn(i) in n threads that start together; their results, in order.
    An exception in a thread is a result too (and fails the caller's
    checks)."""
    results = [None] * n
    start = threading.Barrier(n)

    def run(i):
        try:
            start.wait(timeout=10)
            results[i] = fn(i)
        except Exception as e:  # noqa: BLE001 - reported by the caller
            results[i] = ("exception", repr(e))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def posts_work(c, what):
    """Wait until a post is stored again (after a fault)."""
    wait_for(lambda: c.post("probe", "a post after the fault")[0] == 201, timeout=60,
             interval=0.2, what=what)


def no_insert_running(lab):
    """The primary runs no INSERT any more (those that sat in its sockets
    while it hung have run)."""
    n = db_query(lab, "web-01", "SELECT COUNT(*) FROM information_schema.processlist "
                                "WHERE info LIKE 'INSERT INTO posts%'")
    return n[0][0] == "0"


# ---- Idempotency-Key ----

def test_the_same_key_twice_makes_one_post_and_the_same_answer(lab):
    key = new_key()
    c = Client(lab.url, cookies=False)
    st, h, first = c.post("idem", "posted once", keyed(key))
    assert st == 201, first
    assert TOKEN.fullmatch(h["x-tristack-gtid"]), h
    # again, on this connection and on new ones (the LB spreads them over
    # both web servers and apps): the same answer
    for client in (c, Client(lab.url, cookies=False), Client(lab.url, cookies=False)):
        st, h2, again = client.post("idem", "posted once", keyed(key))
        assert st == 201, again
        assert again == first
        assert h2["location"] == h["location"] == f"/api/posts/{first['id']}"
        assert TOKEN.fullmatch(h2["x-tristack-gtid"]), h2
    assert rows_with_key(lab, key) == [(str(first["id"]), "idem", "posted once")]
    # without a key, the same post twice is two posts, as before
    a = c.post("idem", "no key")[2]["id"]
    b = c.post("idem", "no key")[2]["id"]
    assert a != b


def test_the_same_key_for_another_post_is_422(lab):
    key = new_key()
    c = Client(lab.url, cookies=False)
    st, _, first = c.post("idem", "the first post", keyed(key))
    assert st == 201
    for author, body in (("idem", "another body"), ("someone else", "the first post")):
        st, h, answer = c.post(author, body, keyed(key))
        assert st == 422, answer
        assert answer == {"error": "this Idempotency-Key was used for another post"}
    assert rows_with_key(lab, key) == [(str(first["id"]), "idem", "the first post")]
    assert stored_bodies(lab, ["another body"]) == set()


def test_ten_concurrent_requests_with_one_key_make_one_post(lab):
    key = new_key()

    def post(i):
        c = Client(lab.url, cookies=False)
        try:
            st, _, p = c.post("racer", "ten at once", keyed(key))
            return st, p
        finally:
            c.close()

    answers = in_parallel(10, post)
    assert all(st == 201 for st, _ in answers), answers
    assert len({tuple(sorted(p.items())) for _, p in answers}) == 1, answers
    rows = rows_with_key(lab, key)
    assert rows == [(str(answers[0][1]["id"]), "racer", "ten at once")]


def test_a_bad_key_is_400_and_stores_nothing(lab):
    c = Client(lab.url, cookies=False)
    bad = {
        "empty": "",
        "a space": "a b",
        "129 characters": "k" * 129,
        "a slash": "a/b",
        "a comma": "a,b",
        "a non-ASCII byte": "caf\xe9",
    }
    for what, key in bad.items():
        st, _, answer = c.post("bad", f"bad key {what}", {"Idempotency-Key": key})
        assert st == 400, what
        if what != "a non-ASCII byte":  # which the LB may refuse first
            assert "Idempotency-Key must be 1 to 128 characters" in answer["error"], \
                (what, answer)
    assert c.post("ok", "a 128-character key", keyed("k" * 128))[0] == 201
    # the header twice (http.client's dict cannot say it)
    u = urllib.parse.urlsplit(lab.url)
    ctx = ssl.create_default_context(cafile=CA_FILES[f"{u.hostname}:{u.port}"])
    conn = http.client.HTTPSConnection(u.hostname, u.port, timeout=10, context=ctx)
    body = b'{"author":"bad","body":"bad key twice"}'
    conn.putrequest("POST", "/api/posts")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Idempotency-Key", "one")
    conn.putheader("Idempotency-Key", "two")
    conn.putheader("Content-Length", str(len(body)))
    conn.endheaders(body)
    r = conn.getresponse()
    answer = r.read()
    conn.close()
    assert r.status == 400, answer
    assert b"one Idempotency-Key header" in answer
    assert stored_bodies(lab, [f"bad key {w}" for w in bad] + ["bad key twice"]) == set()


# ---- the form's token ----

def test_a_form_sent_twice_makes_one_post(lab):
    c = Client(lab.url)
    hidden = c.form_hidden()
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", hidden.get("idem", "")), hidden
    body = urllib.parse.urlencode({"author": "form", "body": "double click", **hidden}).encode()
    ct = {"Content-Type": "application/x-www-form-urlencoded"}
    # a double click: the same form twice, and a browser's retry at once
    for _ in range(2):
        st, h, _ = c.request("POST", "/posts", body=body, headers=ct)
        assert st == 303 and h["location"] == "/"
        assert TOKEN.fullmatch(h["x-tristack-gtid"])
    # and three tabs of the same browser sending it at once
    def tab(i):
        t = Client(lab.url)
        t.cookies = dict(c.cookies)
        return t.request("POST", "/posts", body=body, headers=ct)[0]

    assert in_parallel(3, tab) == [303, 303, 303]
    assert rows_with_key(lab, "form:" + hidden["idem"])[0][1:] == ("form", "double click")
    assert len(db_query(lab, "web-01", "SELECT id FROM foobar.posts "
                                       "WHERE body = 'double click'")) == 1
    # the same page's form for another message: refused, nothing stored
    other = urllib.parse.urlencode({"author": "form", "body": "edited after", **hidden})
    st, _, page = c.request("POST", "/posts", body=other.encode(), headers=ct)
    assert st == 422
    assert b"post from a fresh page" in page
    assert stored_bodies(lab, ["edited after"]) == set()
    # a fresh page posts again
    st, _, _ = c.post_form({"author": "form", "body": "double click"})
    assert st == 303
    assert len(db_query(lab, "web-01", "SELECT id FROM foobar.posts "
                                       "WHERE body = 'double click'")) == 2
    # a token that is not one the page makes
    bad = urllib.parse.urlencode({"author": "form", "body": "x", **hidden, "idem": "a b"})
    assert c.request("POST", "/posts", body=bad.encode(), headers=ct)[0] == 400


# ---- read-your-writes without cookies ----

class Writers:
    """Threads that post until stopped (at most `limit` s): the write load."""

    def __init__(self, lab, threads=3, limit=120.0):
        self.stop = threading.Event()
        self.done = 0
        self.errors = []
        self.deadline = time.monotonic() + limit
        self.threads = [threading.Thread(target=self._run, args=(lab,)) for _ in range(threads)]
        for t in self.threads:
            t.start()

    def _run(self, lab):
        c = Client(lab.url, cookies=False)
        try:
            while not self.stop.is_set() and time.monotonic() < self.deadline:
                st, _, _ = c.post("load", "a post of the write load")
                if st != 201:
                    self.errors.append(st)
                self.done += 1
        except Exception as e:  # noqa: BLE001 - a load thread that dies fails the test
            self.errors.append(repr(e))
        finally:
            c.close()

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=30)
        assert self.errors == [], self.errors[:5]


def test_a_client_without_cookies_reads_its_fresh_posts_under_write_load(lab):
    c = Client(lab.url, cookies=False)
    load = Writers(lab)
    try:
        wait_for(lambda: load.done >= 50, timeout=20, what="the write load to run")
        misses = []
        for i in range(200):
            st, h, post = c.post("rywid", f"read by id {i}")
            assert st == 201, post
            st, _, got = c.get_json(f"/api/posts/{post['id']}")
            if st != 200 or got != post:
                misses.append((st, got))
        assert misses == [], f"{len(misses)} of 200 fresh posts not found: {misses[:5]}"
        # lists: with the write's header, the replica waits for the write
        misses = []
        for i in range(50):
            st, h, post = c.post("rywlist", f"read in a list {i}")
            assert st == 201, post
            st, _, page = c.request("GET", f"/api/posts?limit=1&before={post['id'] + 1}",
                                    headers={"X-Tristack-Gtid": h["x-tristack-gtid"]})
            ids = [p["id"] for p in json.loads(page)["posts"]] if st == 200 else []
            if ids != [post["id"]]:
                misses.append((st, ids))
        assert misses == [], f"{len(misses)} of 50 lists missed the client's post: {misses[:5]}"
    finally:
        load.finish()


def app_counters(lab):
    """The two apps' metrics, summed."""
    m = {}
    for ip in (f"{lab.net}.2", f"{lab.net}.3"):
        for k, v in app_metrics(lab, ip).items():
            m[k] = m.get(k, 0) + v
    return m


def test_a_forged_gtid_header_never_makes_a_read_wait(lab):
    """The header is checked as the cookie is (test_app_security.py): one
    this stack did not sign is ignored and counted, and the read does not
    wait for it."""
    waits = "tristack_app_db_gtid_waits_total"
    bad = 'tristack_app_gtid_cookie_rejected_total{reason="signature"}'
    c = Client(lab.url, cookies=False)
    st, h, post = c.post("sec", "forged header")
    assert st == 201
    token = h["x-tristack-gtid"]
    dot = token.index(".")
    altered = token[:dot + 1] + ("A" if token[dot + 1] != "A" else "B") + token[dot + 2:]
    for forged in ("4000000000-1-18446744073709551615", "0-1-1", "0-1-1." + "A" * 43, altered):
        before = app_counters(lab)
        for _ in range(3):
            st, _, got = c.request("GET", f"/api/posts/{post['id']}",
                                   headers={"X-Tristack-Gtid": forged})
            assert st == 200, got
        after = app_counters(lab)
        assert after[waits] == before[waits], forged
        assert after.get(bad, 0) - before.get(bad, 0) == 3, forged


# ---- 503 and 504 ----

def test_a_retry_with_the_key_after_an_unknown_outcome_stores_the_post_once(lab):
    """The primary hangs (SIGSTOP): keyed posts sent to it get no answer
    (504), or none could be sent (503). Once it wakes up, retrying each with
    its key answers the post, and every key has exactly one row."""
    c = Client(lab.url, cookies=False)
    posts_work(c, "posts to work")
    pid = lab.pids()["web-01.db.pid"]
    keys = [new_key() for _ in range(8)]
    os.kill(pid, signal.SIGSTOP)
    try:
        first = in_parallel(len(keys), lambda i: Client(lab.url, timeout=30, cookies=False)
                            .post("retry", f"retried {i}", keyed(keys[i]))[0])
        # a retry while it still hangs: no answer either, never a second row
        again = Client(lab.url, timeout=30, cookies=False).post("retry", "retried 0",
                                                              keyed(keys[0]))[0]
    finally:
        os.kill(pid, signal.SIGCONT)
    assert set(first) <= {503, 504}, first
    assert 504 in first, first
    assert again in (503, 504)
    for i, key in enumerate(keys):
        post = wait_for(lambda: (lambda a: a[2] if a[0] == 201 else None)(
            c.post("retry", f"retried {i}", keyed(key))), timeout=30, interval=0.2,
            what=f"the retry of key {i} to be answered")
        assert post["body"] == f"retried {i}"
        wait_for(lambda: no_insert_running(lab), timeout=10, what="the woken INSERTs to end")
        assert rows_with_key(lab, key) == [(str(post["id"]), "retry", f"retried {i}")], first


def test_posts_never_sent_to_a_hung_primary_are_503_and_never_appear(lab):
    """More posts at once than there are pooled connections: those that got
    one were sent and get no answer (504); the others waited for one past the
    [db] timeout (503). When the primary wakes up, what sat in its sockets
    runs (the 504s may appear), and none of the 503s does."""
    c = Client(lab.url, cookies=False)
    posts_work(c, "posts to work")
    pid = lab.pids()["web-01.db.pid"]
    run = uuid.uuid4().hex[:8]
    n = 48
    browser = Client(lab.url)
    hidden = browser.form_hidden()
    os.kill(pid, signal.SIGSTOP)
    try:
        answers = in_parallel(n, lambda i: Client(lab.url, timeout=30, cookies=False)
                              .post("hung", f"hung {run} {i}")[0])
        # the form says it too, as a page
        form = urllib.parse.urlencode({"author": "hung", "body": f"hung {run} form", **hidden})
        st, h, page = browser.request("POST", "/posts", body=form.encode(),
                                      headers={"Content-Type":
                                               "application/x-www-form-urlencoded"})
    finally:
        os.kill(pid, signal.SIGCONT)
    assert set(answers) <= {503, 504}, answers
    assert 503 in answers and 504 in answers, answers
    assert st in (503, 504) and h["content-type"].startswith("text/html"), (st, page)
    assert (b"Not posted" if st == 503 else b"Maybe posted") in page
    answers.append(st)  # the form's post is audited with the others
    posts_work(c, "posts to work after the primary woke up")
    wait_for(lambda: no_insert_running(lab), timeout=10, what="the woken INSERTs to end")
    bodies = [f"hung {run} {i}" for i in range(n)] + [f"hung {run} form"]
    refused = [b for b, st in zip(bodies, answers) if st == 503]
    unknown = [b for b, st in zip(bodies, answers) if st == 504]
    assert stored_bodies(lab, refused) == set(), "posts answered 503 were stored"
    print(f"{len(refused)} answered 503, none stored; {len(unknown)} answered 504, "
          f"{len(stored_bodies(lab, unknown))} of them stored when the primary woke up")
    # nor on the replica, once it has everything the primary has
    wait_for(lambda: stored_bodies(lab, unknown, "web-02") == stored_bodies(lab, unknown),
             timeout=30, interval=0.2, what="the replica to catch up")
    assert stored_bodies(lab, refused, "web-02") == set()


def test_posts_to_a_dead_primary_are_503_and_never_appear(lab):
    """kill -9 of the primary's mariadbd: connections are refused, so a post
    is never sent (503) until the supervisor has it running again."""
    c = Client(lab.url, cookies=False)
    posts_work(c, "posts to work")
    pid = lab.pids()["web-01.db.pid"]
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not alive(pid), timeout=30, what="mariadbd to die")
    run = uuid.uuid4().hex[:8]
    answers = []

    def refused():
        body = f"dead {run} {len(answers)}"
        st = c.post("dead", body)[0]
        answers.append((st, body))
        return st == 503

    wait_for(refused, timeout=20, interval=0.05, what="a post answered 503")
    for _ in range(3):
        refused()
    # a post sent on a connection whose end was not seen yet may be a 504;
    # one made after the restart a 201
    assert {st for st, _ in answers} <= {201, 503, 504}, answers
    # the supervisor starts it again
    posts_work(c, "posts to work after the restart")
    bodies = [b for st, b in answers if st == 503]
    assert stored_bodies(lab, bodies) == set(), answers
