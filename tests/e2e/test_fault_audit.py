"""The fault suite's own bookkeeping (tests/faults/faults.py), without a
stack: the audit of the writes against fake rows, the verdict of a
scenario, and the load threads against fake clients. Each case is a way
the suite could miss a loss (issue 14): a wrong body, a row twice, a row
missing, a row for a write the client was told failed, an exception that
kills a load thread, a GET that needed a second try; and slowloris's
verdict on its slow connections."""
import http.client
import itertools
import json
import os
import socket
import sys
import threading
import time
import types

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "faults"))
import faults  # noqa: E402
import slowloris  # noqa: E402
from load import audit_rows  # noqa: E402
from applab import Client  # noqa: E402


def attempt(body, outcome, id_=None, author="fault-suite-0", detail=""):
    return {"author": author, "body": body, "outcome": outcome, "id": id_, "detail": detail}


# acknowledged 1..3, one failed (400), one unknown (502) that was written,
# one unknown that was not
ATTEMPTS = [attempt("t a", "acked", 1), attempt("t b", "acked", 2), attempt("t c", "acked", 3),
            attempt("t d", "failed", detail="400"), attempt("t e", "unknown", detail="502"),
            attempt("t f", "unknown", detail="RemoteDisconnected")]
ROWS = [(1, "fault-suite-0", "t a"), (2, "fault-suite-0", "t b"), (3, "fault-suite-0", "t c"),
        (7, "fault-suite-0", "t e")]


def faults_of(a):
    return {k: a[k] for k in faults.AUDIT_FAULTS if a[k]}


def test_the_rows_as_acknowledged_pass_and_an_unknown_write_made_once_is_counted():
    a = audit_rows(ATTEMPTS, ROWS)
    assert a["ok"] and faults_of(a) == {}, a
    assert a["unknown_written"] == 1


def test_a_row_whose_body_is_not_the_one_acknowledged_fails_the_audit():
    rows = [ROWS[0], (2, "fault-suite-0", "t b, but changed"), *ROWS[2:]]
    a = audit_rows(ATTEMPTS, rows)
    assert not a["ok"] and a["wrong"] == 1, a
    assert a["examples"][0].startswith("wrong: id 2"), a


def test_a_row_whose_author_is_not_the_one_acknowledged_fails_the_audit():
    rows = [ROWS[0], (2, "someone else", "t b"), *ROWS[2:]]
    a = audit_rows(ATTEMPTS, rows)
    assert not a["ok"] and a["wrong"] == 1, a


def test_an_acknowledged_id_that_holds_another_attempts_body_fails_the_audit():
    # ids 2 and 3 swapped: each id exists, each body exists, neither matches
    rows = [ROWS[0], (2, "fault-suite-0", "t c"), (3, "fault-suite-0", "t b"), ROWS[3]]
    a = audit_rows(ATTEMPTS, rows)
    assert not a["ok"] and a["wrong"] == 2, a


def test_an_id_twice_fails_the_audit():
    a = audit_rows(ATTEMPTS, ROWS + [ROWS[1]])
    assert not a["ok"] and a["duplicates"] == 1, a


def test_an_acknowledged_body_under_a_second_id_fails_the_audit():
    a = audit_rows(ATTEMPTS, ROWS + [(9, "fault-suite-0", "t b")])
    assert not a["ok"] and a["duplicates"] == 1, a


def test_an_unknown_write_made_twice_fails_the_audit():
    a = audit_rows(ATTEMPTS, ROWS + [(8, "fault-suite-0", "t e")])
    assert not a["ok"] and a["duplicates"] == 1, a


def test_a_missing_row_fails_the_audit():
    a = audit_rows(ATTEMPTS, [r for r in ROWS if r[0] != 3])
    assert not a["ok"] and a["missing"] == 1, a


def test_a_row_for_a_write_the_client_was_told_failed_fails_the_audit():
    a = audit_rows(ATTEMPTS, ROWS + [(8, "fault-suite-0", "t d")])
    assert not a["ok"] and a["failed_written"] == 1, a
    assert "answered 400" in a["examples"][0]


def test_a_row_no_attempt_sent_fails_the_audit():
    a = audit_rows(ATTEMPTS, ROWS + [(8, "fault-suite-0", "t zzz")])
    assert not a["ok"] and a["stray"] == 1, a


def test_an_acknowledged_write_without_an_id_is_found_by_its_body():
    att = ATTEMPTS + [attempt("t g", "acked")]
    assert audit_rows(att, ROWS + [(8, "fault-suite-0", "t g")])["ok"]
    a = audit_rows(att, ROWS)
    assert not a["ok"] and a["missing"] == 1, a
    a = audit_rows(att, ROWS + [(8, "fault-suite-0", "t g"), (9, "fault-suite-0", "t g")])
    assert not a["ok"] and a["duplicates"] == 1, a


def test_a_replica_row_the_primary_has_not_fails_the_replicas_audit():
    """On an old primary: a write it took after the promotion."""
    a = audit_rows(ATTEMPTS, ROWS, ROWS)
    assert a["ok"] and a["not_on_primary"] == 0, a
    a = audit_rows(ATTEMPTS, ROWS, ROWS[:3])  # id 7 ("t e", unknown) only there
    assert not a["ok"] and a["not_on_primary"] == 1, a
    assert a["examples"] == ["not_on_primary: id 7: t e"], a
    # the same body under another id on the primary is not the same row
    a = audit_rows(ATTEMPTS, ROWS, ROWS[:3] + [(8, "fault-suite-0", "t e")])
    assert not a["ok"] and a["not_on_primary"] == 1, a


# ---- the verdict of a scenario ----

def finished(rows=(), errors=(), retries=0, attempts=ATTEMPTS):
    return types.SimpleNamespace(rows=list(rows), attempts=list(attempts), errors=list(errors),
                                 retries=retries, threads=[None] * 32, note="")


READ_OK = (0.1, "read", True, 0.002, "200", 0)
READ_FAILED = (0.2, "read", False, 0.002, "ConnectionRefusedError", 0)


def audits(rows=ROWS):
    return {"primary": audit_rows(ATTEMPTS, ROWS),
            "replica": audit_rows(ATTEMPTS, rows)}


def test_a_clean_scenario_is_ok_and_counts_every_outcome():
    r = faults.judge("kill-web", "", 8, finished([READ_OK] * 3), audits())
    assert r["ok"], r
    assert (r["acked_writes"], r["failed_posts"], r["unknown_posts"], r["unknown_written"]) == \
        (3, 1, 2, 1)
    json.dumps(r)  # the --json file


def test_a_bad_row_on_the_replica_fails_the_scenario():
    r = faults.judge("kill-web", "", 8, finished([READ_OK]), audits(ROWS + [ROWS[0]]))
    assert not r["ok"] and r["bad_rows_on_replica"] == 1 and r["bad_rows_on_primary"] == 0, r


def test_a_diverged_database_fails_the_scenario():
    aud = audits()
    aud["diverged"] = ["web-01"]
    r = faults.judge("kill-web", "", 8, finished([READ_OK]), aud)
    assert not r["ok"] and r["diverged"] == ["web-01"], r


def test_a_load_error_fails_the_scenario_even_where_failures_are_allowed():
    r = faults.judge("restart-lb", "", 8, finished([READ_OK], ["thread 3 died: KeyError()"]),
                     audits())
    assert not r["ok"] and r["load_errors"] == 1, r


def test_a_failed_get_fails_the_scenario_but_in_restart_lb():
    assert not faults.judge("kill-web", "", 8, finished([READ_OK, READ_FAILED]), audits())["ok"]
    assert faults.judge("restart-lb", "", 8, finished([READ_OK, READ_FAILED]), audits())["ok"]


def test_gets_sent_again_are_reported_and_fail_a_scenario_that_leaves_the_lb_alone():
    r = faults.judge("reload-lb", "", 8, finished([READ_OK], retries=5), audits())
    assert r["retried_gets"] == 5 and r["failed_gets"] == 0 and r["ok"], r
    assert "retried_gets" in faults.TABLE
    r = faults.judge("kill-web", "", 8, finished([READ_OK], retries=1), audits())
    assert r["retried_gets"] == 1 and r["failed_gets"] == 0 and not r["ok"], r


# ---- the load threads, with fake clients ----

class FakeClient:
    """Answers with answer(client, method, path, body), which may raise;
    counts and flags as applab.Client does."""

    def __init__(self, answer):
        self.answer = answer
        self.retries = 0
        self.sent = False

    def request(self, method, path, body=None, headers=None):
        self.sent = False
        self.key = (headers or {}).get("Idempotency-Key")
        return self.answer(self, method, path, body)

    def close(self):
        pass


def run_load(answer, seconds=0.3):
    class TestLoad(faults.Load):
        THREADS = 3
        RETRY_FOR = 0.3

        def client(self):
            if answer is None:
                raise RuntimeError("no client")
            return FakeClient(answer)

    load = TestLoad(types.SimpleNamespace(url="https://127.0.0.1:9"), seconds)
    load.wait_until(seconds)
    return load.finish()


IDS = itertools.count(1)


def acked(c, method, path, body):
    """A site that works: 201 with the post, 200 for a read."""
    c.sent = True
    if method == "POST":
        post = json.loads(body)
        return 201, {}, json.dumps({"id": next(IDS), **post}).encode()
    return 200, {}, b"{}"


def verdict(load):
    rows = [(a["id"] or 0, a["author"], a["body"]) for a in load.attempts
            if a["outcome"] == "acked"]
    aud = audit_rows(load.attempts, rows)
    return faults.judge("kill-web", "", 1, load, {"primary": aud, "replica": aud})


def test_a_working_site_gives_an_ok_load_with_unique_bodies():
    load = run_load(acked)
    r = verdict(load)
    assert r["ok"] and r["acked_writes"] > 0 and r["reads"] > 0, r
    bodies = [a["body"] for a in load.attempts]
    assert len(set(bodies)) == len(bodies) and all(b.startswith(load.tag + " ") for b in bodies)


def test_an_unexpected_exception_in_a_load_thread_fails_the_scenario():
    for exc in (http.client.BadStatusLine("HTTP/9"), KeyError("id"), AssertionError("bug")):
        def answer(c, method, path, body):
            if method == "GET" and "limit" in path:
                raise exc
            return acked(c, method, path, body)
        load = run_load(answer)
        r = verdict(load)
        assert not r["ok"] and r["load_errors"] > 0, (exc, r)
        assert type(exc).__name__ in r["load_error_list"][0], r
        # the request is a failed one, and the thread goes on with the load
        assert r["failed_gets"] == r["load_errors"] > len(load.threads), r


def test_a_201_that_is_not_the_post_sent_fails_the_scenario_and_is_audited_by_body():
    def answer(c, method, path, body):
        if method == "POST":
            c.sent = True
            return 201, {}, b"<html>created</html>"
        return acked(c, method, path, body)
    load = run_load(answer)
    r = verdict(load)
    assert not r["ok"] and r["load_errors"] > 0, r
    assert all(a["outcome"] == "acked" and a["id"] is None for a in load.attempts)
    a = audit_rows(load.attempts, [])
    assert a["missing"] == len(load.attempts) > 0, a


def test_a_thread_that_cannot_start_fails_the_scenario():
    r = verdict(run_load(None))
    assert not r["ok"] and r["load_errors"] == 3 and r["requests"] == 0, r


def test_network_failures_are_failed_requests_and_set_each_posts_outcome():
    """A POST told it failed is not sent again; one of unknown outcome is,
    with the same Idempotency-Key, and its outcome is the last answer's."""
    calls = {"n": 0}
    keys = {}

    def answer(c, method, path, body):
        calls["n"] += 1
        k = calls["n"] % 6
        if method == "POST":
            keys.setdefault(json.loads(body)["body"], set()).add(c.key)
        if method == "GET" or k == 0:
            return acked(c, method, path, body)
        if k == 1:
            raise ConnectionRefusedError()  # before sending: failed
        c.sent = True
        if k == 2:
            raise http.client.IncompleteRead(b"")  # after sending: unknown
        return {3: 400, 4: 503, 5: 504}[k], {}, b"{}"  # told, told (not done), unknown
    load = run_load(answer)
    r = verdict(load)
    assert r["load_errors"] == 0, r
    assert r["failed_posts"] > 0 and r["acked_writes"] > 0, r
    assert r["retried_posts"] > 0 and r["retried_acked"] > 0, r
    unknown = ("IncompleteRead", "504")
    for a in load.attempts:
        answers = a["detail"].split(",")
        # sent again only once an answer said "unknown": then until a 201 or a 4xx
        if len(answers) > 1:
            assert answers[0] in unknown, a
            assert all(x not in ("201", "400") for x in answers[:-1]), a
        want = {"ConnectionRefusedError": "failed", "IncompleteRead": "unknown", "400": "failed",
                "503": "failed", "504": "unknown"}.get(answers[-1], "acked")
        if len(answers) > 1 and want == "failed" and answers[-1] != "400":
            want = "unknown"  # the retry was not done; the first may have been
        assert a["outcome"] == want, a
        assert a["retried"] == len(answers) - 1, a
        assert keys[a["body"]] == {a["key"]}, a  # one key, every time


def test_an_unknown_outcome_is_sent_again_until_the_retry_time_is_over():
    def answer(c, method, path, body):
        if method == "POST":
            c.sent = True
            return 504, {}, b"{}"
        return acked(c, method, path, body)
    load = run_load(answer)
    r = verdict(load)
    assert r["unknown_posts"] == r["writes"] > 0 and r["retried_posts"] == r["writes"], r
    assert r["retried_acked"] == 0, r


def test_a_get_sent_again_by_the_client_is_counted():
    def answer(c, method, path, body):
        if method == "GET":
            c.retries += 1  # as applab.Client does on a reset kept-alive connection
        return acked(c, method, path, body)
    load = run_load(answer)
    r = verdict(load)
    assert r["retried_gets"] == r["reads"] > 0, r
    assert sum(x[5] for x in load.rows) == r["retried_gets"]


# ---- applab.Client, the load's client, against a server that closes ----

def closing_server():
    """A server on 127.0.0.1 that answers each connection's first GET as
    if keeping it alive, then closes it: every reuse meets a closed
    connection. A POST it reads whole and closes without an answer.
    Returns (port, posts it read, stop)."""
    srv = socket.create_server(("127.0.0.1", 0))
    srv.settimeout(0.2)
    stop = threading.Event()
    posts = []

    def serve():
        while not stop.is_set():
            try:
                s, _ = srv.accept()
            except socket.timeout:
                continue
            with s:
                s.settimeout(2)
                data = b""
                while b"\r\n\r\n" not in data:
                    data += s.recv(4096) or b"\r\n\r\n"
                if data.startswith(b"POST"):
                    while not data.endswith(b"x"):  # the test's body
                        data += s.recv(4096) or b"x"
                    posts.append(data)
                else:
                    s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        srv.close()
    threading.Thread(target=serve, daemon=True).start()
    return srv.getsockname()[1], posts, stop


def test_the_client_counts_the_get_it_sends_again_and_never_sends_a_post_again():
    port, posts, stop = closing_server()
    try:
        c = Client(f"http://127.0.0.1:{port}", timeout=5)
        assert c.request("GET", "/")[0] == 200 and c.retries == 0
        time.sleep(0.1)  # the server has closed the kept-alive connection
        assert c.request("GET", "/")[0] == 200 and c.retries == 1
        c.close()
        try:
            c.request("POST", "/", body=b"x")
            raise AssertionError("a POST got an answer")
        except http.client.RemoteDisconnected:
            assert c.sent and c.retries == 1  # sent, then lost: outcome unknown
        time.sleep(0.1)
        assert len(posts) == 1  # never sent again
        c.close()
    finally:
        stop.set()


def test_the_client_says_a_request_that_could_not_be_sent_was_not():
    s = socket.create_server(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    c = Client(f"http://127.0.0.1:{port}", timeout=5)
    try:
        c.request("POST", "/", body=b"x")
        raise AssertionError("connected to a closed port")
    except ConnectionRefusedError:
        assert not c.sent


# ---- slowloris's verdict on a group of slow connections ----

def slow_group(**kw):
    g = {"conns": 10, "cut": 10, "open_at_end": 0, "cut_min_s": 10.0, "cut_max_s": 10.1,
         "408": 10, "closed": 0, "handshakes": 10}
    g.update(kw)
    return g


def test_a_slow_connection_that_lives_on_or_is_cut_out_of_time_fails_slowloris():
    for kind in ("slow", "tls-silent", "tls-hello", "tls-head"):
        assert slowloris.group_ok(kind, slow_group())
        assert not slowloris.group_ok(kind, slow_group(cut=9, open_at_end=1)), kind
        assert not slowloris.group_ok(kind, slow_group(cut_max_s=11.6)), kind
        assert not slowloris.group_ok(kind, slow_group(cut_min_s=8.4)), kind
    assert slowloris.group_ok("idle", slow_group(cut_max_s=20.0))  # waited for a slot


def test_a_slow_head_not_answered_408_or_never_inside_tls_fails_slowloris():
    assert not slowloris.group_ok("slow", slow_group(**{"408": 9, "closed": 1}))
    assert not slowloris.group_ok("tls-head", slow_group(**{"408": 9, "closed": 1}))
    assert not slowloris.group_ok("tls-head", slow_group(handshakes=9))
