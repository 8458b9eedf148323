"""Active health checks and what traffic tells: servers leave the rotation
within interval x fall and come back within interval x rise, changes are
logged with their reason, all down is a 503."""
import re
import tempfile
import time

import pytest

from conftest import wait_for
from lab import http
from lblab import LbLab

CHECK = "check = GET /healthz interval=200ms timeout=300ms rise=2 fall=2 expect=2xx\n"


@pytest.fixture(params=["nginx", "python", "tristack-web"])
def lab(request):
    with tempfile.TemporaryDirectory(prefix="tristack-lb-") as tmp:
        lab = LbLab(tmp)
        lab.backend("b1", request.param)
        lab.backend("b2", request.param)
        try:
            yield lab
        finally:
            lab.close()


def timed(pred, timeout, what):
    t0 = time.monotonic()
    wait_for(pred, timeout=timeout, interval=0.01, what=what)
    return time.monotonic() - t0


def test_down_within_interval_x_fall_and_back_within_interval_x_rise(lab):
    lab.start_lb(["b1:8080", "b2:8080"], CHECK)
    b2 = lab.backends[1]
    b2.kill()
    # interval x fall = 400 ms, plus one check's timeout and scheduling slack
    took = timed(lambda: lab.server("b2")["state"] == "DOWN", 2.0, "b2 DOWN")
    assert took < 1.0, took
    got = {http(lab.url + "/name")[2] for _ in range(6)}
    assert got == {b"b1"}
    b2.start()
    took = timed(lambda: lab.server("b2")["state"] == "UP", 2.0, "b2 UP")
    assert took < 1.0, took  # interval x rise = 400 ms
    assert {http(lab.url + "/name")[2] for _ in range(6)} == {b"b1", b"b2"}
    log = lab.log_text()
    assert re.search(r"server b2 is DOWN: .*(refused|reset|traffic)", log), log[-1500:]
    assert re.search(r"server b2 is UP: HTTP 200", log)


def test_a_failing_status_takes_a_server_out(lab):
    if lab.backends[0].kind != "python":
        pytest.skip("only the test backend's /healthz can be made to fail on demand")
    lab.start_lb(["b1:8080", "b2:8080"], CHECK)
    lab.backends[0].control("health?status=503")
    wait_for(lambda: lab.server("b1")["state"] == "DOWN", timeout=2, what="b1 DOWN")
    assert re.search(r"server b1 is DOWN: HTTP 503", lab.log_text())
    s = lab.server("b1")
    assert s["check"]["last_code"] == 503 and s["check"]["health"] == 0
    lab.backends[0].control("health?status=200")
    wait_for(lambda: lab.server("b1")["state"] == "UP", timeout=2, what="b1 UP")


def test_all_servers_down_gives_503_with_a_short_body(lab):
    lab.start_lb(["b1:8080", "b2:8080"], CHECK)
    for b in lab.backends:
        b.kill()
    wait_for(lambda: lab.stats()["servers_up"] == 0, timeout=3, what="all DOWN")
    status, headers, body = http(lab.url + "/name")
    assert status == 503
    assert 0 < len(body) < 200 and b"503" in body
    assert http(lab.admin + "/healthz")[0] == 503
    assert "every request gets 503 now" in lab.log_text()
    for b in lab.backends:
        b.start()
    wait_for(lambda: lab.stats()["servers_up"] == 2, timeout=3, what="all UP")
    assert http(lab.admin + "/healthz")[0] == 200


def test_traffic_failures_count_against_a_server(lab):
    """Checks every 10 s: a dead server leaves because traffic finds it
    dead, not because the next check comes."""
    lab.start_lb(["b1:8080", "b2:8080"],
                 "check = GET /healthz interval=10s timeout=1s rise=2 fall=2\n")
    lab.backends[1].kill()
    results = [http(lab.url + "/name")[0] for _ in range(10)]
    assert results == [200] * 10  # the failed connects were retried on b1
    assert lab.server("b2")["state"] == "DOWN"
    assert "traffic to it failed" in lab.log_text()
    assert lab.server("b2")["errors"] >= 2


def test_check_metrics_and_latency(lab):
    lab.start_lb(["b1:8080", "b2:8080"], CHECK)
    wait_for(lambda: 'tristack_lb_checks_total{server="b1",result="ok"} 2' in lab.metrics()
             or re.search(r'tristack_lb_checks_total\{server="b1",result="ok"\} [3-9]',
                          lab.metrics()), what="checks counted")
    m = lab.metrics()
    assert 'tristack_lb_server_up{server="b1"} 1' in m
    assert re.search(r'tristack_lb_check_duration_seconds_count\{server="b2"\} [1-9]', m)
