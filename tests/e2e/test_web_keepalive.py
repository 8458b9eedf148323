"""What a client sees on a keep-alive connection after tristack-web refuses
a request (issue 13, finding 9b): a 405 (or any answer to a static path)
to a request with a body either keeps the connection, with the pipelined
request behind it answered, when the body had all arrived (it is skipped,
as nginx discards it), or says Connection: close and closes. Never a
keep-alive answer followed by silence."""
import tempfile

import pytest

from conftest import raw_http
from weblab import WebLab

GET = b"GET /index.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
HOME = b"<!doctype html><h1>home</h1>\n"


@pytest.fixture(scope="module")
def web():
    with tempfile.TemporaryDirectory(prefix="tristack-web-") as tmp:
        lab = WebLab(tmp).start()
        try:
            yield lab
        finally:
            lab.close()


def responses(raw):
    """The responses in raw bytes: [(status, headers, body)] (lower-case
    header names), each body as long as its Content-Length says."""
    out = []
    while raw:
        head, sep, rest = raw.partition(b"\r\n\r\n")
        assert sep, f"a truncated response: {raw[:200]!r}"
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.lower(): v for k, v in (line.split(": ", 1) for line in lines[1:])}
        n = int(headers.get("content-length", "0"))
        out.append((int(lines[0].split()[1]), headers, rest[:n]))
        raw = rest[n:]
    return out


def exchange(web, first):
    return responses(raw_http(web.ip, 8080, first + GET, timeout=3))


@pytest.mark.parametrize("first", [
    b"DELETE /index.html HTTP/1.1\r\nHost: x\r\n\r\n",
    b"DELETE /index.html HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
    b"POST /index.html HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
    b"PUT /index.html HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5\r\nhello\r\n0\r\n\r\n",
], ids=["no-body", "length-body", "empty-body", "chunked-body"])
def test_405_keeps_the_connection_when_the_body_is_here(web, first):
    got = exchange(web, first)
    assert [st for st, _, _ in got] == [405, 200]
    assert "connection" not in got[0][1] and got[0][1]["allow"] == "GET, HEAD"
    assert got[1][2] == HOME


def test_get_with_a_body_keeps_the_connection(web):
    got = exchange(web, b"GET /index.html HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
    assert [(st, body) for st, _, body in got] == [(200, HOME), (200, HOME)]


@pytest.mark.parametrize("first", [
    # a body still on its way: what follows is its bytes, not a request
    b"DELETE /index.html HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nhello",
    b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n100\r\nabc",
], ids=["length-partial", "chunked-partial"])
def test_405_says_close_when_it_closes(web, first):
    got = exchange(web, first)
    assert len(got) == 1, got  # the GET was body bytes: no second answer
    st, headers, _ = got[0]
    assert st == 405 and headers["connection"] == "close"
