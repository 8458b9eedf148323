"""What a client sees of the HTTP front end: strict parsing, keep-alive and
pipelining, counters that count. (The full hostile corpus is issue 9's.)"""
import re
import subprocess

from conftest import curl, raw_http


def responses(data):
    return re.findall(rb"HTTP/1\.1 (\d{3}) ", data)


def test_malformed_request_gets_400_and_a_close(stack):
    out = raw_http(stack.lb, 8443, b"GET / HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 400 ")
    assert b"Connection: close" in out
    # and the next connection is served normally
    status, _, _ = curl(stack.url + "/")
    assert status == 200


def test_ambiguous_framing_is_refused(stack):
    smuggle = (b"POST /api/hello HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /x HTTP/1.1\r\nHost: x\r\n\r\n")
    out = raw_http(stack.lb, 8443, smuggle)
    assert responses(out) == [b"400"], out


def test_oversized_head_gets_431(stack):
    big = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n"
    out = raw_http(stack.lb, 8443, big)
    assert responses(out) == [b"431"]


def test_http_1_0_and_unsupported_version(stack):
    out = raw_http(stack.lb, 8443, b"GET /api/hello HTTP/1.0\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 200 ")
    assert b"Connection: close" in out
    out = raw_http(stack.lb, 8443, b"GET / HTTP/2.0\r\nHost: x\r\n\r\n")
    assert responses(out) == [b"505"]


def test_pipelined_requests_are_answered_in_order(stack):
    reqs = (b"GET /api/hello HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET /static/site.css HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET /api/hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    out = raw_http(stack.lb, 8443, reqs)
    assert responses(out) == [b"200", b"200", b"200"], out
    parts = out.split(b"HTTP/1.1 200 OK")
    assert b"application/json" in parts[1]
    assert b"text/css" in parts[2]
    assert b"application/json" in parts[3]


def metric(stack, name):
    _, _, body = curl(stack.admin + "/metrics")
    m = re.search(rb"^" + re.escape(name.encode()) + rb" (\d+)$", body, re.M)
    assert m, name
    return int(m.group(1))


def test_request_counters_rise_by_exactly_the_requests_sent(stack):
    name = 'tristack_lb_http_requests_total{code="2xx"}'
    before = metric(stack, name)
    for _ in range(20):
        assert curl(stack.url + "/api/hello")[0] == 200
    assert metric(stack, name) == before + 20
    web1 = 'tristack_lb_backend_requests_total{server="web-01"}'
    web2 = 'tristack_lb_backend_requests_total{server="web-02"}'
    a1, a2 = metric(stack, web1), metric(stack, web2)
    for _ in range(10):
        curl(stack.url + "/")
    assert (metric(stack, web1) - a1, metric(stack, web2) - a2) == (5, 5)


def test_metrics_are_prometheus_text(stack):
    status, headers, body = curl(stack.admin + "/metrics")
    assert status == 200
    assert headers["content-type"].startswith("text/plain; version=0.0.4")
    assert b"# TYPE tristack_lb_http_request_duration_seconds histogram" in body
    assert b'tristack_lb_http_request_duration_seconds_bucket{le="+Inf"}' in body


def test_early_responses_reach_a_client_still_uploading(stack, tmp_path):
    """A server that answers before reading the whole body (the app's 413,
    a web server's 405 for a POST to a file) must have its answer reach the
    client through both proxies, not a reset or a 502."""
    big = tmp_path / "big.bin"
    big.write_bytes(b"\0" * 10_000_000)
    for headers in ([], ["-H", "Transfer-Encoding: chunked"]):
        status, h, _ = curl("--data-binary", f"@{big}", *headers, stack.url + "/api/hello")
        assert status == 413, headers
    for _ in range(4):  # both web servers
        status, h, _ = curl("--data-binary", f"@{big}", stack.url + "/static/site.css")
        assert status == 405
        assert h["allow"] == "GET, HEAD"


def test_a_body_streams_through_both_proxies(stack, tmp_path):
    """A 15 kB upload (the app takes at most 16k) goes through the LB and a
    web server to the app (which refuses POST here: what matters is that the
    whole body was carried and the connection stays usable)."""
    mid = tmp_path / "mid.bin"
    mid.write_bytes(b"x" * 15_000)
    r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{size_upload}\n",
                        "--cacert", stack.cafile, "--data-binary", f"@{mid}", stack.url + "/api/hello",
                        stack.url + "/api/hello"], capture_output=True, text=True, timeout=20)
    assert r.stdout.split("\n")[0] == "405 15000"


def test_a_burst_of_connections_is_all_accepted(stack):
    """More connections at once than one accept batch (64): the rest of the
    backlog must be taken too, not left until some later connection comes
    (with edge-triggered events, no new edge would announce them)."""
    import socket
    import ssl
    import time
    ctx = stack.ssl_context()
    raw = []
    for _ in range(300):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex((stack.lb, 8443))
        raw.append(s)
    time.sleep(0.2)  # the handshakes are all in the backlog by now
    done = 0
    for s in raw:
        s.setblocking(True)
        s.settimeout(5)
        try:
            t = ctx.wrap_socket(s, server_hostname=stack.lb)
            t.sendall(b"GET /static/site.css HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            if t.recv(64).startswith(b"HTTP/1.1 200"):
                done += 1
            t.close()
        except (OSError, ssl.SSLError):
            s.close()
    assert done == 300
