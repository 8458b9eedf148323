"""tristack-web's reverse proxy to the app: prefixes, forwarded headers,
X-Served-By, a kept-alive pool, bodies streamed both ways, 502 and 504,
next-upstream on a failed connect, a Unix-socket upstream."""
import json
import subprocess
import tempfile
import time

import pytest

from lblab import http
from weblab import WebLab


@pytest.fixture(scope="module")
def web():
    with tempfile.TemporaryDirectory(prefix="tristack-web-") as tmp:
        lab = WebLab(tmp, "timeout_server = 700ms\n").start()
        try:
            yield lab
        finally:
            lab.close()


def test_prefix_goes_to_the_app_the_rest_is_static(web):
    st, h, body = http(web.url + "/api/name")
    assert st == 200 and body == b"app0" and h["X-Backend"] == "app0"
    assert h["X-Served-By"] == "web-01"
    assert http(web.url + "/index.html")[2].startswith(b"<!doctype")
    # the prefix matches the normalised path; the app gets the target as
    # the client sent it (nginx's proxy_pass without a URI does the same)
    st, h, _ = http(web.url + "/static/../api/name")
    assert h["X-Backend"] == "app0"


def test_forwarded_headers_reach_the_app(web):
    e = json.loads(http(web.url + "/api/echo", headers={"X-Forwarded-For": "10.9.8.7"})[2])
    h = {k.lower(): v for k, v in e["headers"]}
    assert h["x-forwarded-for"].startswith("10.9.8.7, 127.")
    assert h["x-forwarded-proto"] == "http"
    # what the LB in front set is kept
    e = json.loads(http(web.url + "/api/echo", headers={"X-Forwarded-Proto": "https",
                                                        "X-Forwarded-Host": "www.foobar.com"})[2])
    h = {k.lower(): v for k, v in e["headers"]}
    assert h["x-forwarded-proto"] == "https" and h["x-forwarded-host"] == "www.foobar.com"


def test_app_connections_are_kept_alive(web):
    conns = {http(web.url + "/api/name")[1]["X-Conn"] for _ in range(10)}
    assert len(conns) == 1


def test_bodies_stream_both_ways(web, tmp_path):
    up = tmp_path / "up.bin"
    with open(up, "wb") as f:
        f.truncate(50 << 20)
    r = subprocess.run(["curl", "-s", "-X", "POST", "-T", str(up), web.url + "/api/upload"],
                       capture_output=True, text=True, timeout=60)
    assert r.stdout == str(50 << 20)
    r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{size_download}",
                        web.url + f"/api/big?bytes={30 << 20}"], capture_output=True, text=True,
                       timeout=60)
    assert r.stdout == f"200 {30 << 20}"


def test_504_when_the_app_is_too_slow(web):
    t0 = time.monotonic()
    st, h, _ = http(web.url + "/api/hang")
    assert st == 504 and h["X-Served-By"] == "web-01"
    assert time.monotonic() - t0 < 3


def test_502_when_the_app_is_down():
    with tempfile.TemporaryDirectory(prefix="tristack-web-") as tmp:
        lab = WebLab(tmp).start()
        try:
            lab.stop_app(0)
            st, h, _ = http(lab.url + "/api/name")
            assert st == 502 and h["X-Served-By"] == "web-01"
            assert http(lab.url + "/index.html")[0] == 200  # static still served
            lab.start_app(0)
            assert http(lab.url + "/api/name")[0] == 200
        finally:
            lab.close()


def test_next_upstream_on_a_failed_connect():
    with tempfile.TemporaryDirectory(prefix="tristack-web-") as tmp:
        lab = WebLab(tmp, apps=2).start()
        try:
            got = {http(lab.url + "/api/name")[2] for _ in range(6)}
            assert got == {b"app0", b"app1"}
            lab.stop_app(1)
            got = [http(lab.url + "/api/name")[2] for _ in range(8)]
            assert got == [b"app0"] * 8
        finally:
            lab.close()


def test_unix_socket_upstream():
    with tempfile.TemporaryDirectory(prefix="tristack-web-") as tmp:
        lab = WebLab(tmp, unix=True).start()
        try:
            st, h, body = http(lab.url + "/api/name")
            assert st == 200 and body == b"app0"
            e = json.loads(http(lab.url + "/api/echo")[2])
            assert e["method"] == "GET"
        finally:
            lab.close()


def test_metrics_on_the_admin_listener(web):
    st, h, body = http(web.admin + "/metrics")
    assert st == 200
    text = body.decode()
    assert 'tristack_web_http_requests_total{code="2xx"}' in text
    assert 'tristack_web_backend_requests_total{server="app"}' in text
