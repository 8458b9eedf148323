"""tristack-web's reverse proxy to the app: prefixes, forwarded headers,
X-Served-By, a kept-alive pool, bodies streamed both ways, 502 and 504,
next-upstream on a failed connect, a Unix-socket upstream."""
import json
import subprocess
import tempfile
import time

import pytest

from conftest import raw_http, wait_for
from lab import http
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


def echo_from(lab, source, extra=b""):
    """The headers the app got for a request sent from source."""
    out = raw_http(lab.ip, 8080, b"GET /api/echo HTTP/1.1\r\nHost: www.foobar.com\r\n" + extra +
                   b"Connection: close\r\n\r\n", source=source)
    assert out.startswith(b"HTTP/1.1 200"), out[:300]
    e = json.loads(out.split(b"\r\n\r\n", 1)[1])
    return {k.lower(): v for k, v in e["headers"]}


CLAIMS = (b"X-Forwarded-For: 10.9.8.7\r\nX-Forwarded-Proto: https\r\n"
          b"X-Forwarded-Host: evil.example\r\nForwarded: for=10.9.8.7;proto=https\r\n"
          b"X-Real-IP: 10.9.8.7\r\n")


def test_forwarded_headers_from_anyone_are_replaced(web):
    # no lb host in this stack: nobody's X-Forwarded-* is believed
    src = f"{web.net}.50"
    h = echo_from(web, src, CLAIMS)
    assert h["x-forwarded-for"] == src
    assert h["x-forwarded-proto"] == "http"  # not HTTPS because a client said so
    assert h["x-forwarded-host"] == "www.foobar.com"
    assert "forwarded" not in h and "x-real-ip" not in h
    wait_for(lambda: any(line.startswith(src + " ") for line in web_access(web)),
             what="the peer in the access log")


def web_access(lab):
    try:
        with open(lab.access) as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []


@pytest.fixture(scope="module")
def behind_lb():
    """A web server whose stack has an LB host (.9): only that address is
    trusted with X-Forwarded-*."""
    with tempfile.TemporaryDirectory(prefix="tristack-web-lb-") as tmp:
        lab = WebLab(tmp, hosts_extra="[host lb-01]\naddress = {net}.9\nroles = lb\n\n").start()
        try:
            yield lab
        finally:
            lab.close()


def test_the_lb_hosts_forwarded_headers_are_kept(behind_lb):
    lb = f"{behind_lb.net}.9"
    h = echo_from(behind_lb, lb, b"X-Forwarded-For: 10.9.8.7\r\nX-Forwarded-Proto: https\r\n"
                                 b"X-Forwarded-Host: www.foobar.com\r\n")
    assert h["x-forwarded-for"] == f"10.9.8.7, {lb}"
    assert h["x-forwarded-proto"] == "https" and h["x-forwarded-host"] == "www.foobar.com"
    # the access log names the client the LB saw (nginx's real_ip)
    wait_for(lambda: any(line.startswith("10.9.8.7 ") for line in web_access(behind_lb)),
             what="the real client in the access log")


def test_other_peers_of_an_lb_stack_are_not_believed(behind_lb):
    src = f"{behind_lb.net}.10"
    h = echo_from(behind_lb, src, CLAIMS)
    assert h["x-forwarded-for"] == src and h["x-forwarded-proto"] == "http"
    assert "forwarded" not in h and "x-real-ip" not in h
    wait_for(lambda: any(line.startswith(src + " ") for line in web_access(behind_lb)),
             what="the peer in the access log")


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
