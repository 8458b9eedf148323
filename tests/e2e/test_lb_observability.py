"""What the LB tells: its access log (HAProxy's httplog with timings),
/metrics, /stats.json, /healthz, and its threads."""
import json
import re
import tempfile

import pytest

from conftest import cpu_count, wait_for
from lab import http
from lblab import LbLab


@pytest.fixture(scope="module")
def lab():
    with tempfile.TemporaryDirectory(prefix="tristack-lb-") as tmp:
        lab = LbLab(tmp)
        lab.backend("b1", "nginx")
        lab.backend("b2", "nginx")
        lab.start_lb(["b1:8080", "b2:8080"],
                     "threads = auto\n"
                     "check = GET /healthz interval=300ms timeout=300ms rise=2 fall=2\n")
        try:
            yield lab
        finally:
            lab.close()


LINE = re.compile(r'^(?P<client>127\.\d+\.\d+\.\d+):(?P<port>\d+) '
                  r'\[\d{2}/\w{3}/\d{4}:\d{2}:\d{2}:\d{2}\.\d{3}\] lb-01 '
                  r'servers/(?P<server>\S+) (?P<tr>-?\d+)/(?P<tw>-?\d+)/(?P<tc>-?\d+)/'
                  r'(?P<trr>-?\d+)/(?P<ta>-?\d+) (?P<status>\d{3}) (?P<bytes>\d+) - - '
                  r'(?P<term>\S{4}) \d+/(?P<retries>\d+) "(?P<req>[^"]*)"$')


def test_access_log_line_per_request_with_timings(lab):
    http(lab.url + "/1k.html?log=me")
    wait_for(lambda: any("log=me" in l for l in lab.access_lines()), what="the line")
    line = next(l for l in lab.access_lines() if "log=me" in l)
    m = LINE.match(line)
    assert m, line
    assert m["server"] in ("b1", "b2")
    assert m["status"] == "200" and m["bytes"] == "1024"
    assert m["req"] == "GET /1k.html?log=me HTTP/1.1"
    assert m["term"] == "----" and m["retries"] == "0"
    assert all(int(m[k]) >= 0 for k in ("tr", "tw", "tc", "trr", "ta"))
    assert int(m["ta"]) >= int(m["trr"])
    # a request that reaches no server says so
    http(lab.url + "/x", headers={"Host": "bad host"})
    wait_for(lambda: any(" 400 " in l for l in lab.access_lines()), what="the 400 line")
    bad = LINE.match(next(l for l in lab.access_lines() if " 400 " in l))
    assert bad and bad["server"] == "<NOSRV>"


def metric(text, name):
    m = re.search(r"^" + re.escape(name) + r" (\S+)$", text, re.M)
    return float(m.group(1)) if m else None


def test_metrics_count_exactly(lab):
    before = lab.metrics()
    for _ in range(10):
        assert http(lab.url + "/1k.html")[0] == 200
    after = lab.metrics()
    for server in ("b1", "b2"):
        name = f'tristack_lb_backend_responses_total{{server="{server}",code="2xx"}}'
        assert metric(after, name) - metric(before, name) == 5
        name = f'tristack_lb_backend_received_bytes_total{{server="{server}"}}'
        assert metric(after, name) - metric(before, name) == 5 * 1024
    name = 'tristack_lb_http_requests_total{code="2xx"}'
    assert metric(after, name) - metric(before, name) == 10
    for family in ("tristack_lb_connections", "tristack_lb_queued_requests",
                   "tristack_lb_servers_up", 'tristack_lb_server_up{server="b1"}',
                   'tristack_lb_server_active_requests{server="b2"}',
                   'tristack_lb_backend_retries_total{server="b1"}',
                   'tristack_lb_backend_sent_bytes_total{server="b2"}',
                   'tristack_lb_check_duration_seconds_count{server="b1"}',
                   'tristack_lb_http_request_duration_seconds_count'):
        assert metric(after, family) is not None, family
    assert metric(after, "tristack_lb_servers_up") == 2


def test_stats_json(lab):
    st, headers, body = http(lab.admin + "/stats.json")
    assert st == 200 and headers["Content-Type"] == "application/json"
    s = json.loads(body)
    assert s["lb"] == "lb-01" and s["balance"] == "roundrobin" and s["servers_up"] == 2
    b1 = next(x for x in s["servers"] if x["name"] == "b1")
    assert b1["state"] == "UP" and b1["address"] == f"{lab.net}.11:8080"
    assert b1["check"]["last_code"] == 200 and b1["check"]["rise"] == 2
    assert b1["requests"] >= 1 and "2xx" in b1["responses"]


def test_healthz_of_the_lb_itself(lab):
    st, _, body = http(lab.admin + "/healthz")
    assert st == 200 and json.loads(body) == {"status": "ok", "servers_up": 2}
    assert http(lab.admin + "/nope")[0] == 404


def test_threads_auto_is_one_per_cpu(lab):
    assert f"started as lb-01 with {cpu_count()} worker" in lab.log_text()
