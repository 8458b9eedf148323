"""Range requests cannot make tristack-web hold more than a file (issue 13,
finding 4): a set of ranges that overlap is answered with the whole file
(200), and a multipart/byteranges answer is streamed from the open file, so
clients that ask and never read cost the server no memory per byte asked.
A normal multi-range request still gets its parts, right."""
import os
import re
import socket
import tempfile
import time

import pytest

from conftest import rss_kib
from lab import http
from weblab import WebLab

SIZE = 800_000  # the finding's "800 KB file"; held open, not in memory
BIG = 8 << 20  # more than the kernel's socket buffers take in for a client
CLIENTS = 20


def content(n):
    return bytes((i * 7 + i // 251) & 0xFF for i in range(n))


@pytest.fixture(scope="module")
def web():
    with tempfile.TemporaryDirectory(prefix="tristack-web-") as tmp:
        lab = WebLab(tmp)
        with open(os.path.join(lab.root, "video.bin"), "wb") as f:
            f.write(content(SIZE))
        with open(os.path.join(lab.root, "small.bin"), "wb") as f:
            f.write(content(5000))  # small enough to be cached in memory
        with open(os.path.join(lab.root, "movie.bin"), "wb") as f:
            f.write(content(1 << 16) * (BIG >> 16))
        for name in ("video.bin", "small.bin", "movie.bin"):
            os.chmod(os.path.join(lab.root, name), 0o644)
        lab.start()
        try:
            yield lab
        finally:
            lab.close()


def multipart(headers, body):
    """The parts of a multipart/byteranges body: [(headers, data)]."""
    m = re.fullmatch(r"multipart/byteranges; boundary=(\S+)", headers["Content-Type"])
    assert m, headers["Content-Type"]
    delim = b"\r\n--" + m.group(1).encode()
    assert body.startswith(delim + b"\r\n") and body.endswith(delim + b"--\r\n")
    parts = []
    for raw in body[len(delim) + 2:-(len(delim) + 4)].split(delim + b"\r\n"):
        head, _, data = raw.partition(b"\r\n\r\n")
        fields = dict(line.split(": ", 1) for line in head.decode().split("\r\n"))
        parts.append((fields, data))
    return parts


def range_header(ranges):
    return "bytes=" + ",".join(f"{a}-{b}" for a, b in ranges)


def test_multirange_parts_are_right(web):
    for name, size in (("video.bin", SIZE), ("small.bin", 5000)):
        full = content(size)
        ranges = [(0, 99), (1000, 1999), (size - 10, size - 1), (200, 299)]
        st, h, body = http(f"{web.url}/{name}", headers={"Range": range_header(ranges)})
        assert st == 206, name
        assert int(h["Content-Length"]) == len(body)
        parts = multipart(h, body)
        assert len(parts) == len(ranges)
        for (fields, data), (a, b) in zip(parts, ranges):  # in the order asked
            assert fields["Content-Type"] == "application/octet-stream"
            assert fields["Content-Range"] == f"bytes {a}-{b}/{size}"
            assert data == full[a:b + 1], (name, a, b)


def test_overlapping_ranges_get_the_whole_file(web):
    full = content(SIZE)
    for ranges in ([(0, 524287)] * 16, [(0, 99), (50, 149)], [(0, SIZE - 1), (SIZE - 1, SIZE - 1)]):
        st, h, body = http(web.url + "/video.bin", headers={"Range": range_header(ranges)})
        assert st == 200 and body == full and "Content-Range" not in h
    # touching is not overlapping
    st, h, body = http(web.url + "/video.bin", headers={"Range": "bytes=0-9,10-19"})
    assert st == 206 and [d for _, d in multipart(h, body)] == [full[0:10], full[10:20]]


def idle_client(web, path, value):
    """A client that asks and never reads (a small receive window)."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect((web.ip, 8080))
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nRange: {value}\r\n\r\n".encode())
    return s


def test_clients_that_do_not_read_cost_no_memory(web):
    pid = web.web.pid
    http(web.url + "/video.bin", headers={"Range": "bytes=0-0,2-2"})  # warm the cache
    before = rss_kib(pid)
    # the finding: 8 MiB asked of an 800 kB file
    overlapping = range_header([(0, 524287)] * 16)
    # a fair request: 16 parts that make the whole of a big file
    part = BIG // 16
    disjoint = range_header([(i * part, i * part + part - 1) for i in range(16)])
    socks = []
    try:
        for _ in range(CLIENTS):
            socks.append(idle_client(web, "/video.bin", overlapping))
        for _ in range(CLIENTS // 2):
            socks.append(idle_client(web, "/movie.bin", disjoint))
        time.sleep(1.5)  # every request read and answered as far as the sockets take
        grown = rss_kib(pid) - before
        # before: 20 x 8 MiB built in memory; with the overlap rule alone,
        # still 10 x 8 MiB (> 80 MB); streamed, next to nothing
        assert grown < 8 * 1024, f"tristack-web grew {grown} KiB for {len(socks)} clients"
        test_multirange_parts_are_right(web)  # others are still served meanwhile
    finally:
        for s in socks:
            s.close()
