"""Interop with the real peers: stock HAProxy 2.6 in front of two
tristack-web, and tristack-lb in front of two stock nginx, pass the same
round-robin and static-file checks."""
import os
import tempfile

from conftest import wait_for
from lab import answers, http, spawn, stop
from lblab import LbLab

HAPROXY_CFG = """
global
    nbthread 1
    maxconn 2000
defaults
    mode http
    option http-keep-alive
    http-reuse always
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend fe
    bind {ip}:8080
    default_backend be
backend be
    balance roundrobin
{servers}
"""


def check_round_robin_and_static(url, names):
    got = [http(url + "/name")[2].decode().strip() for _ in range(6)]
    assert sorted(set(got)) == sorted(names), got
    assert all(a != b for a, b in zip(got, got[1:])), got
    st, h, body = http(url + "/1k.html")
    assert st == 200 and body == b"x" * 1024
    assert h["Content-Type"].startswith("text/html")
    etag = h["ETag"]
    assert http(url + "/1k.html", headers={"If-None-Match": etag})[0] == 304
    st, h, body = http(url + "/1k.html", headers={"Range": "bytes=0-9"})
    assert st == 206 and body == b"x" * 10
    assert http(url + "/missing")[0] == 404


def test_haproxy_in_front_of_two_tristack_web():
    with tempfile.TemporaryDirectory(prefix="tristack-interop-") as tmp:
        lab = LbLab(tmp)
        ha = None
        try:
            b1 = lab.backend("b1", "tristack-web")
            b2 = lab.backend("b2", "tristack-web")
            for b in (b1, b2):  # the same page on both
                with open(os.path.join(b.dir, "www", "1k.html"), "w") as f:
                    f.write("x" * 1024)
            servers = "".join(f"    server {b.name} {b.ip}:{b.port}\n" for b in (b1, b2))
            cfg = os.path.join(tmp, "haproxy.cfg")
            with open(cfg, "w") as f:
                f.write(HAPROXY_CFG.format(ip=lab.lb_ip, servers=servers))
            ha = spawn(["haproxy", "-db", "-f", cfg], os.path.join(tmp, "haproxy.log"))
            wait_for(lambda: answers(lab.url + "/name"), what="haproxy")
            check_round_robin_and_static(lab.url, ["b1", "b2"])
            # and what tristack-web tells which one answered
            assert {http(lab.url + "/1k.html")[1]["X-Served-By"] for _ in range(4)} == {"b1", "b2"}
        finally:
            try:
                stop(ha, timeout=10)
            finally:
                lab.close()


def test_tristack_lb_in_front_of_two_nginx():
    with tempfile.TemporaryDirectory(prefix="tristack-interop-") as tmp:
        lab = LbLab(tmp)
        try:
            lab.backend("b1", "nginx")
            lab.backend("b2", "nginx")
            lab.start_lb(["b1:8080", "b2:8080"])
            check_round_robin_and_static(lab.url, ["b1", "b2"])
        finally:
            lab.close()
