"""Passive failure handling: connect failures redispatched, idempotent
requests retried when a kept-alive connection dies before the answer, a POST
never replayed, connect and server timeouts."""
import socket
import tempfile
import time

import pytest

from conftest import wait_for
from lab import http
from lblab import LbLab, lab_of


@pytest.fixture
def lab():
    with lab_of("b1", "b2") as lab:
        yield lab


def requests_on(backend, method=None):
    return [r for r in backend.stats()["requests"] if method is None or r[0] == method]


def test_refused_connects_are_redispatched(lab):
    lab.start_lb(["b1:8080", "b2:8080"])  # no checks: only traffic can tell
    lab.backends[1].kill()
    assert [http(lab.url + "/name")[2] for _ in range(8)] == [b"b1"] * 8
    s = lab.server("b2")
    assert s["errors"] >= 4 and s["retries"] >= 4
    assert 'tristack_lb_backend_retries_total{server="b2"}' in lab.metrics()


@pytest.mark.parametrize("mode", ["close", "reset"])
def test_idempotent_request_retried_when_a_reused_connection_dies(lab, mode):
    lab.start_lb(["b1:8080", "b2:8080"])
    for _ in range(4):  # warm both pools
        assert http(lab.url + "/name")[0] == 200
    b1, b2 = lab.backends
    b1.control(f"fail-next?mode={mode}")
    got = [http(lab.url + "/echo?n=%d" % i)[0] for i in range(4)]
    assert got == [200] * 4
    # b1 dropped one of them; it was answered by b2 in its place
    on_b1 = [r for r in requests_on(b1) if r[1] == "/echo"]
    on_b2 = [r for r in requests_on(b2) if r[1] == "/echo"]
    assert len(on_b1) + len(on_b2) == 5, (on_b1, on_b2)
    assert lab.server("b1")["retries"] == 1


@pytest.mark.parametrize("status", [502, 503, 504])
def test_retry_on_status_sends_an_idempotent_request_elsewhere(lab, status):
    lab.start_lb(["b1:8080", "b2:8080"])  # default retry_on includes 502 503 504
    got = [http(lab.url + f"/fail-on/b1?status={status}") for _ in range(6)]
    assert [g[0] for g in got] == [200] * 6
    assert {g[2] for g in got} == {b"b2"}
    assert lab.server("b1")["retries"] >= 3
    # a POST (not idempotent) gets the server's answer as it is
    st = {http(lab.url + f"/fail-on/b1?status={status}", method="POST", data=b"x")[0]
          for _ in range(4)}
    assert st == {200, status}


def test_retry_on_without_the_status_passes_the_answer_on(lab):
    lab.start_lb(["b1:8080", "b2:8080"], "retry_on = conn-failure empty-response\n")
    got = {http(lab.url + "/fail-on/b1?status=502")[0] for _ in range(4)}
    assert got == {200, 502}
    assert lab.server("b1")["retries"] == 0


def test_retry_on_none_does_not_redispatch_refused_connects(lab):
    lab.start_lb(["b1:8080", "b2:8080"], "retry_on = none\n")
    lab.backends[1].kill()
    got = [http(lab.url + "/name")[0] for _ in range(4)]
    assert sorted(got) == [200, 200, 503, 503] or sorted(got) == [200, 200, 502, 502], got


def test_a_post_is_never_replayed(lab):
    lab.start_lb(["b1:8080", "b2:8080"])
    for _ in range(4):
        http(lab.url + "/name")
    b1, b2 = lab.backends
    b1.control("fail-next?mode=close")
    statuses = []
    for i in range(4):
        statuses.append(http(lab.url + "/echo", method="POST", data=b"payload=%d" % i)[0])
    assert statuses.count(502) == 1, statuses
    assert statuses.count(200) == 3
    posts = len(requests_on(b1, "POST")) + len(requests_on(b2, "POST"))
    assert posts == 4  # the dropped one reached b1 once, and nobody again


def test_connect_timeout_then_redispatch():
    """A server whose accept queue is full drops SYNs: connect times out."""
    with tempfile.TemporaryDirectory(prefix="tristack-lb-") as tmp:
        lab = LbLab(tmp)
        try:
            lab.backend("b1")
            hole = socket.socket()
            hole.bind((f"{lab.net}.20", 8080))
            hole.listen(0)
            fillers = []
            for _ in range(4):  # fill the accept queue; later SYNs are dropped
                f = socket.socket()
                f.setblocking(False)
                f.connect_ex((f"{lab.net}.20", 8080))
                fillers.append(f)
            time.sleep(0.2)  # let the handshakes complete into the queue
            lab.start_lb([f"{lab.net}.20:8080", "b1:8080"], "timeout_connect = 300ms\n")
            t0 = time.monotonic()
            got = [http(lab.url + "/name")[2] for _ in range(4)]
            assert got == [b"b1"] * 4
            assert time.monotonic() - t0 < 3
            s = next(x for x in lab.stats()["servers"] if x["name"].startswith(lab.net))
            assert s["errors"] >= 1
        finally:
            for f in fillers:
                f.close()
            hole.close()
            lab.close()


def test_server_timeout_is_504(lab):
    lab.start_lb(["b1:8080"], "timeout_server = 500ms\n")
    t0 = time.monotonic()
    status, _, body = http(lab.url + "/hang")
    assert status == 504
    assert 0.4 < time.monotonic() - t0 < 3
    # the line is written as the answer goes: poll for it
    wait_for(lambda: any(" 504 " in l and " sH-- " in l for l in lab.access_lines()),
             what="the 504 sH-- access-log line")
