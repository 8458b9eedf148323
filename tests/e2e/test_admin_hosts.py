"""Admin listeners (the LB's dashboard, /metrics and /stats.json; the web
server's /metrics, as the app's and the DNS server's) answer only a Host
that names them: their address, their host's names in the stack file, or
localhost. A page that rebinds its own name to our address (DNS rebinding)
sends its own name and gets 403."""
import tempfile

import pytest

from conftest import raw_http
from lblab import LbLab
from weblab import WebLab


def status(ip, port, path, host):
    req = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()
    out = raw_http(ip, port, req)
    return int(out.split(b" ", 2)[1])


@pytest.fixture(scope="module")
def lb():
    with tempfile.TemporaryDirectory(prefix="tristack-admin-lb-") as tmp:
        lab = LbLab(tmp)
        lab.backend("b1")
        try:
            lab.start_lb(["b1:8080"])
            yield lab
        finally:
            lab.close()


@pytest.fixture(scope="module")
def web():
    with tempfile.TemporaryDirectory(prefix="tristack-admin-web-") as tmp:
        lab = WebLab(tmp).start()
        try:
            yield lab
        finally:
            lab.close()


FOREIGN = ["evil.example", "evil.example:8404", "attacker.test:80", "127.0.0.1.evil.example",
           "foobar.com.evil.example", "[::2]:8404"]


@pytest.mark.parametrize("path", ["/metrics", "/stats.json", "/", "/healthz"])
def test_the_lb_admin_refuses_a_foreign_host(lb, path):
    for host in FOREIGN:
        assert status(lb.lb_ip, 8404, path, host) == 403, (path, host)


@pytest.mark.parametrize("host", ["{ip}", "{ip}:8404", "localhost:8404", "127.0.0.1:8404",
                                  "[::1]:8404", "LB-01", "lb-01.foobar.com", "www.foobar.com",
                                  "foobar.com:8404"])
def test_the_lb_admin_answers_its_own_names(lb, host):
    for path in ("/metrics", "/stats.json"):
        assert status(lb.lb_ip, 8404, path, host.format(ip=lb.lb_ip)) == 200, (path, host)
    assert status(lb.lb_ip, 8404, "/", host.format(ip=lb.lb_ip)) in (200, 302), host


def test_the_lb_site_itself_takes_any_host(lb):
    assert status(lb.lb_ip, 8080, "/", "evil.example") != 403


def test_the_web_admin_refuses_a_foreign_host(web):
    for host in FOREIGN:
        assert status(web.ip, 8405, "/metrics", host) == 403, host
    for host in (web.ip, f"{web.ip}:8405", "localhost", "web-01", "web-01.foobar.com",
                 "www.foobar.com"):
        assert status(web.ip, 8405, "/metrics", host) == 200, host
