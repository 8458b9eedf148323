"""Balancing: roundrobin (smooth weighted), leastconn, first, backups —
against stock nginx and the test backend."""
import concurrent.futures as cf
import tempfile

import pytest

from lab import http
from lblab import LbLab


@pytest.fixture(scope="module", params=["nginx", "python", "tristack-web"])
def lab(request):
    with tempfile.TemporaryDirectory(prefix="tristack-lb-") as tmp:
        lab = LbLab(tmp)
        for name in ("b1", "b2", "b3"):
            lab.backend(name, request.param)
        try:
            yield lab
        finally:
            lab.close()


@pytest.fixture
def fresh(lab):
    """The lab with no LB running; the test starts its own."""
    yield lab
    lab.stop_lb()


def names(lab, n, path="/name"):
    return "".join(http(lab.url + path)[2].decode()[-1] for _ in range(n))


def test_roundrobin_follows_weights_smoothly(fresh):
    fresh.start_lb(["b1:8080 weight=5", "b2:8080 weight=1", "b3:8080 weight=1"])
    got = names(fresh, 14)
    # nginx's smooth order for 5,1,1: a a b a c a a
    assert got in ("11213111121311"[i:] + "11213111121311"[:i] for i in range(7)), got
    assert (got.count("1"), got.count("2"), got.count("3")) == (10, 2, 2)


def test_weight_zero_takes_nothing(fresh):
    fresh.start_lb(["b1:8080 weight=1", "b2:8080 weight=0", "b3:8080 weight=1"])
    got = names(fresh, 10)
    assert "2" not in got and got.count("1") == 5 and got.count("3") == 5


def test_backup_only_when_all_others_are_down(fresh):
    fresh.start_lb(["b1:8080", "b2:8080", "b3:8080 backup"],
                   "check = GET /healthz interval=100ms timeout=500ms rise=1 fall=1\n")
    assert set(names(fresh, 6)) == {"1", "2"}
    b1, b2 = fresh.backends[0], fresh.backends[1]
    try:
        b1.kill()
        b2.kill()
        from conftest import wait_for
        wait_for(lambda: fresh.stats()["servers_up"] == 1, what="b1 and b2 down")
        assert names(fresh, 4) == "3333"
        b1.start()
        wait_for(lambda: fresh.server("b1")["state"] == "UP", what="b1 back")
        assert names(fresh, 4) == "1111"
    finally:
        for b in (b1, b2):
            if b.proc.poll() is not None:
                b.start()


def test_leastconn_sends_new_requests_where_fewest_are(fresh):
    if fresh.backends[0].kind != "python":
        pytest.skip("needs a backend that can hold a request (/slow)")
    fresh.start_lb(["b1:8080", "b2:8080"], "balance = leastconn\n")
    with cf.ThreadPoolExecutor(2) as ex:
        slow = ex.submit(http, fresh.url + "/slow?ms=1500")
        from conftest import wait_for
        wait_for(lambda: sum(s["active"] for s in fresh.stats()["servers"]) == 1,
                 what="the slow request in progress")
        busy = next(s["name"] for s in fresh.stats()["servers"] if s["active"] == 1)
        quick = names(fresh, 5)
        assert slow.result()[0] == 200
    other = "2" if busy == "b1" else "1"
    assert quick == other * 5, (busy, quick)


def test_first_fills_servers_in_order(fresh):
    if fresh.backends[0].kind != "python":
        pytest.skip("needs a backend that can hold a request (/slow)")
    fresh.start_lb(["b1:8080 maxconn=1", "b2:8080"], "balance = first\n")
    assert names(fresh, 4) == "1111"
    with cf.ThreadPoolExecutor(2) as ex:
        slow = ex.submit(http, fresh.url + "/slow?ms=1500")
        from conftest import wait_for
        wait_for(lambda: fresh.server("b1")["active"] == 1, what="b1 full")
        assert names(fresh, 3) == "222"
        assert slow.result()[2] == b"b1"
    assert names(fresh, 2) == "11"


def test_maxconn_queues_then_serves_or_times_out(fresh):
    if fresh.backends[0].kind != "python":
        pytest.skip("needs a backend that can hold a request (/slow)")
    fresh.start_lb(["b1:8080 maxconn=1"], "timeout_queue = 3s\n")
    with cf.ThreadPoolExecutor(3) as ex:
        a = ex.submit(http, fresh.url + "/slow?ms=700")
        from conftest import wait_for
        wait_for(lambda: fresh.server("b1")["active"] == 1, what="the slot taken")
        b = ex.submit(http, fresh.url + "/name")
        wait_for(lambda: fresh.stats()["queued"] == 1, what="a queued request")
        assert a.result()[0] == 200
        assert b.result()[0] == 200  # served when the slot came free
    assert fresh.stats()["queued"] == 0
    fresh.stop_lb()
    fresh.start_lb(["b1:8080 maxconn=1"], "timeout_queue = 300ms\n")
    with cf.ThreadPoolExecutor(2) as ex:
        a = ex.submit(http, fresh.url + "/slow?ms=1500")
        wait_for(lambda: fresh.server("b1")["active"] == 1, what="the slot taken")
        status, _, _ = http(fresh.url + "/name")
        assert status == 503  # timeout_queue
        assert a.result()[0] == 200
    assert "tristack_lb_queue_timeouts_total 1" in fresh.metrics()
