"""What crosses the load balancer: forwarded and hop-by-hop headers,
keep-alive on both sides with backend connection reuse, bodies streamed
with bounded memory, and the client-side timeouts and limits."""
import os
import socket
import subprocess
import tempfile
import threading
import time

import pytest

from conftest import raw_http, rss_kib
from lab import http
from lblab import LbLab


@pytest.fixture(scope="module")
def nginx_lab():
    with tempfile.TemporaryDirectory(prefix="tristack-lb-") as tmp:
        lab = LbLab(tmp)
        lab.backend("b1", "nginx")
        lab.backend("b2", "nginx")
        try:
            yield lab
        finally:
            lab.close()


@pytest.fixture
def nginx_lb(nginx_lab):
    nginx_lab.start_lb(["b1:8080", "b2:8080"])
    yield nginx_lab
    nginx_lab.stop_lb()


def echo(lab, extra_headers):
    req = (b"GET /echo HTTP/1.1\r\nHost: www.foobar.com\r\n" + extra_headers +
           b"Connection: close\r\n\r\n")
    out = raw_http(lab.lb_ip, 8080, req)
    assert out.startswith(b"HTTP/1.1 200"), out
    body = out.split(b"\r\n\r\n", 1)[1].decode()
    return dict(kv.split("=", 1) for kv in body.split("|"))


def test_forwarded_headers(nginx_lb):
    e = echo(nginx_lb, b"X-Forwarded-For: 1.2.3.4\r\nX-Forwarded-Proto: https\r\n"
                       b"X-Forwarded-Host: evil.example\r\nForwarded: for=1.2.3.4\r\n"
                       b"X-Real-IP: 1.2.3.4\r\nX-Forwarded-For: 5.6.7.8\r\n")
    # the edge: the client's claims are replaced, X-Forwarded-For is the TCP
    # peer alone (a leftmost value of its choice would be believed)
    assert e["xff"] == "127.0.0.1", e
    assert e["fwd"] == "" and e["realip"] == "", e
    # and the servers see the LB's own address, which they trust
    assert e["remote"] == nginx_lb.lb_ip, e
    assert e["proto"] == "http"  # what the client claimed is replaced
    assert e["xfh"] == "www.foobar.com"
    assert e["host"] == "www.foobar.com"  # Host is kept
    assert e["protocol"] == "HTTP/1.1"


def test_hop_by_hop_headers_are_stripped(nginx_lb):
    e = echo(nginx_lb, b"Connection: X-Hop\r\nX-Hop: secret\r\nKeep-Alive: timeout=5\r\n"
                       b"TE: trailers\r\nTrailer: X-T\r\nProxy-Authorization: Basic eA==\r\n"
                       b"X-Custom: stays\r\n")
    assert e["hop"] == "" and e["keepalive"] == "" and e["te"] == ""
    assert e["trailer"] == "" and e["proxyauth"] == ""
    assert e["connection"] == ""  # the client's Connection header is ours
    assert e["custom"] == "stays"


def test_backend_connections_are_reused():
    with tempfile.TemporaryDirectory(prefix="tristack-lb-") as tmp:
        lab = LbLab(tmp)
        try:
            b1 = lab.backend("b1")
            lab.start_lb(["b1:8080"])
            before = b1.stats()["connections"]
            conns = {http(lab.url + "/name")[1]["X-Conn"] for _ in range(20)}
            assert len(conns) == 1  # 20 client connections, one to the server
            # that one, and the stats request's own
            assert b1.stats()["connections"] == before + 2
        finally:
            lab.close()


def test_pool_idle_timeout_below_the_backends_means_no_502():
    """The backend closes idle connections after 1 s; the LB's pool keeps
    them 500 ms, or notices the close: no request ever lands on a closing
    connection."""
    with tempfile.TemporaryDirectory(prefix="tristack-lb-") as tmp:
        lab = LbLab(tmp, backend_args=["--keepalive-timeout", "1"])
        try:
            lab.backend("b1")
            lab.start_lb(["b1:8080"], "timeout_server_keep_alive = 500ms\n")
            first = http(lab.url + "/name")[1]["X-Conn"]
            time.sleep(0.8)  # the pool's timeout passes (the backend's does not)
            second = http(lab.url + "/name")[1]["X-Conn"]
            assert second != first  # a new connection: the old one was closed
            # and with the pool outliving the backend's timeout, the close is seen
            lab.stop_lb()
            lab.start_lb(["b1:8080"], "timeout_server_keep_alive = 30s\n")
            http(lab.url + "/name")
            time.sleep(1.3)  # the backend closes its side
            assert [http(lab.url + "/name")[0] for _ in range(3)] == [200] * 3
        finally:
            lab.close()


class RssWatch:
    def __init__(self, pid):
        self.pid, self.peak, self.stop = pid, 0, False
        self.t = threading.Thread(target=self.run)
        self.t.start()

    def run(self):
        while not self.stop:
            self.peak = max(self.peak, rss_kib(self.pid))
            time.sleep(0.01)

    def done(self):
        self.stop = True
        self.t.join()
        return self.peak


@pytest.mark.parametrize("chunked", [False, True])
def test_one_gib_upload_streams_with_constant_memory(py_lab, chunked):
    """The test backend reads the whole body and answers its length (nginx
    would answer at once and leave the body unread)."""
    py_lab.start_lb(["b1:8080"])
    try:
        big = os.path.join(py_lab.tmp, "upload.bin")
        with open(big, "wb") as f:
            f.truncate(1 << 30)
        base = rss_kib(py_lab.lb.pid)
        w = RssWatch(py_lab.lb.pid)
        # -T streams the file; --expect100-timeout 0 waits for no 100 Continue
        args = ["curl", "-s", "-w", " %{http_code} %{size_upload}", "-X", "POST", "-T", big,
                py_lab.url + "/upload"]
        if chunked:
            args[1:1] = ["-H", "Transfer-Encoding: chunked"]
        r = subprocess.run(args, capture_output=True, text=True, timeout=300)
        peak = w.done()
        os.unlink(big)
        received, status, sent = r.stdout.split()
        assert (received, status) == (str(1 << 30), "200"), r.stdout + r.stderr
        assert int(sent) >= 1 << 30  # chunked framing counts too
        assert peak - base < 16 * 1024, f"RSS grew by {peak - base} KiB"
    finally:
        py_lab.stop_lb()


def test_one_gib_download_streams_with_constant_memory(nginx_lb):
    path = os.path.join(nginx_lb.docroot, "big.bin")
    with open(path, "wb") as f:
        f.truncate(1 << 30)
    os.chmod(path, 0o644)
    base = rss_kib(nginx_lb.lb.pid)
    w = RssWatch(nginx_lb.lb.pid)
    r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{size_download}",
                        nginx_lb.url + "/big.bin"], capture_output=True, text=True, timeout=120)
    peak = w.done()
    os.unlink(path)
    assert r.stdout == f"200 {1 << 30}"
    assert peak - base < 16 * 1024, f"RSS grew by {peak - base} KiB"


@pytest.fixture(scope="module")
def py_lab():
    with tempfile.TemporaryDirectory(prefix="tristack-lb-") as tmp:
        lab = LbLab(tmp)
        lab.backend("b1")  # reads whole bodies before answering (nginx does not)
        try:
            yield lab
        finally:
            lab.close()


@pytest.fixture
def timeouts_lb(py_lab):
    py_lab.start_lb(["b1:8080"], "timeout_client = 700ms\ntimeout_http_request = 500ms\n"
                                 "timeout_http_keep_alive = 500ms\n")
    yield py_lab
    py_lab.stop_lb()


def read_until_close(s, limit=5.0):
    s.settimeout(limit)
    data = b""
    t0 = time.monotonic()
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            data += b
    except socket.timeout:
        pass
    return data, time.monotonic() - t0


def test_slow_head_gets_408_at_timeout_http_request(timeouts_lb):
    s = socket.create_connection((timeouts_lb.lb_ip, 8080))
    t0 = time.monotonic()
    # a byte every 150 ms does not keep the head alive: the whole head is due
    for b in b"GET / HTTP/1.1\r\nHo":
        try:
            s.send(bytes([b]))
        except OSError:
            break
        time.sleep(0.15)
        if time.monotonic() - t0 > 1.5:
            break
    data, _ = read_until_close(s)
    took = time.monotonic() - t0
    s.close()
    assert data.startswith(b"HTTP/1.1 408"), data
    assert 0.4 < took < 1.6, took


def test_stalled_body_gets_408_at_timeout_client(timeouts_lb):
    s = socket.create_connection((timeouts_lb.lb_ip, 8080))
    s.sendall(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
    data, took = read_until_close(s)
    s.close()
    assert data.startswith(b"HTTP/1.1 408"), data
    assert 0.5 < took < 2.5, took


def test_idle_keep_alive_connection_closed_at_timeout(timeouts_lb):
    s = socket.create_connection((timeouts_lb.lb_ip, 8080))
    s.sendall(b"GET /name HTTP/1.1\r\nHost: x\r\n\r\n")
    s.settimeout(5)
    first = s.recv(65536)
    assert first.startswith(b"HTTP/1.1 200")
    rest, took = read_until_close(s)
    s.close()
    assert rest == b"" or b"HTTP" not in rest
    assert 0.3 < took < 1.5, took


def test_global_maxconn_holds_the_rest_in_the_queue(nginx_lab):
    nginx_lab.start_lb(["b1:8080"], "maxconn = 2\n")
    try:
        a = socket.create_connection((nginx_lab.lb_ip, 8080))
        b = socket.create_connection((nginx_lab.lb_ip, 8080))
        time.sleep(0.1)  # let the LB accept them
        c = socket.create_connection((nginx_lab.lb_ip, 8080))  # the kernel's backlog
        c.sendall(b"GET /1k.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        c.settimeout(0.5)
        with pytest.raises(socket.timeout):
            c.recv(100)  # not served while two are held
        a.close()
        c.settimeout(5)
        assert c.recv(100).startswith(b"HTTP/1.1 200")
        b.close()
        c.close()
    finally:
        nginx_lab.stop_lb()
