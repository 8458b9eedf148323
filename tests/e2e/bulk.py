"""Bulk data for the integrity tests (issue 14, item 6): a pseudo-random
byte stream made from a seed, and a strict backend that hashes what it
receives and sends what it is asked for, never holding a body in memory.

pattern(seed, n) yields the stream in pieces: a 2 MiB random buffer drawn
from random.Random(seed), each 1 MiB block a slice of it at an offset that
changes with the block's number. No two neighbouring blocks are equal and
nothing is all zeros, so a lost, repeated, reordered or zeroed piece changes
the SHA-256; and both ends make it without storing it (slices, no copies).

BulkServer serves, behind any prefix (the web server's /api/):
  POST|PUT .../up          reads the body (Content-Length or chunked, parsed
                           strictly), answers JSON {"bytes", "sha256",
                           "framing"}
  GET .../down?seed=S&bytes=N[&chunked=1]
                           the stream, framed by Content-Length or chunked
                           (chunks of uneven sizes); `sent` counts what it
                           has written so far (the slow reader's test)
Anything it does not expect closes the connection and is listed in errors.
"""
import hashlib
import json
import random
import socket
import socketserver
import threading
from urllib.parse import parse_qs, urlsplit

BLOCK = 1 << 20


def pattern(seed, n):
    """The first n bytes of the stream for seed, as memoryviews."""
    buf = memoryview(random.Random(seed).randbytes(2 * BLOCK))
    i = 0
    while n > 0:
        off = (i * 104729 + seed) % BLOCK
        piece = buf[off:off + min(n, BLOCK)]
        yield piece
        n -= len(piece)
        i += 1


def digest(seed, n):
    h = hashlib.sha256()
    for piece in pattern(seed, n):
        h.update(piece)
    return h.hexdigest()


class BadRequest(Exception):
    pass


def read_head(rfile):
    """(method, target, {lower name: value}) of one request head, strict:
    CRLF lines, one of each framing header."""
    line = rfile.readline(8192)
    if not line:
        return None
    if not line.endswith(b"\r\n"):
        raise BadRequest(f"request line {line[:80]!r}")
    parts = line[:-2].decode("latin-1").split(" ")
    if len(parts) != 3 or parts[2] != "HTTP/1.1":
        raise BadRequest(f"request line {line[:80]!r}")
    headers = {}
    while True:
        h = rfile.readline(8192)
        if not h.endswith(b"\r\n"):
            raise BadRequest(f"header line {h[:80]!r}")
        if h == b"\r\n":
            break
        k, sep, v = h[:-2].decode("latin-1").partition(":")
        k = k.lower()
        if not sep or not k or k != k.strip():
            raise BadRequest(f"header {h[:80]!r}")
        if k in headers and k in ("content-length", "transfer-encoding", "host"):
            raise BadRequest(f"two {k}")
        headers[k] = v.strip(" \t")
    if "content-length" in headers and "transfer-encoding" in headers:
        raise BadRequest("both Content-Length and Transfer-Encoding")
    return parts[0], parts[1], headers


def read_chunked(rfile, sink):
    """Feed a strictly chunked body to sink; returns its length."""
    total = 0
    while True:
        line = rfile.readline(4096)
        if not line.endswith(b"\r\n"):
            raise BadRequest(f"chunk size line {line[:40]!r}")
        size_text = line[:-2].split(b";")[0]
        if not size_text or size_text.strip(b"0123456789abcdefABCDEF"):
            raise BadRequest(f"chunk size {size_text[:40]!r}")
        size = int(size_text, 16)
        if size == 0:
            if rfile.readline(4096) != b"\r\n":  # no trailers expected here
                raise BadRequest("trailers or no final CRLF")
            return total
        read_exact(rfile, size, sink)
        total += size
        if rfile.read(2) != b"\r\n":
            raise BadRequest("chunk data not followed by CRLF")


def read_exact(rfile, n, sink):
    buf = bytearray(min(n, BLOCK))
    view = memoryview(buf)
    while n > 0:
        got = rfile.readinto(view[:min(n, len(buf))])
        if not got:
            raise BadRequest("end of stream inside the body")
        sink(view[:got])
        n -= got


class Handler(socketserver.StreamRequestHandler):
    rbufsize = 1 << 18

    def handle(self):
        self.request.settimeout(120)
        while True:
            try:
                head = read_head(self.rfile)
                if head is None:
                    return
                self.serve(*head)
            except BadRequest as e:
                self.server.errors.append(str(e))
                return
            except OSError:
                return

    def serve(self, method, target, headers):
        url = urlsplit(target)
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        if method in ("POST", "PUT") and url.path.endswith("/up"):
            h = hashlib.sha256()
            if headers.get("transfer-encoding") == "chunked":
                framing, n = "chunked", read_chunked(self.rfile, h.update)
            elif "transfer-encoding" in headers:
                raise BadRequest(f"Transfer-Encoding {headers['transfer-encoding']!r}")
            else:
                cl = headers.get("content-length", "0")
                if not cl.isdigit():
                    raise BadRequest(f"Content-Length {cl!r}")
                framing, n = "length", int(cl)
                read_exact(self.rfile, n, h.update)
            body = json.dumps({"bytes": n, "sha256": h.hexdigest(),
                               "framing": framing}).encode()
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
            self.wfile.flush()
        elif method == "GET" and url.path.endswith("/down"):
            if "content-length" in headers or "transfer-encoding" in headers:
                raise BadRequest("a body on the download's GET")
            self.send_stream(int(q["seed"]), int(q["bytes"]), q.get("chunked") == "1")
        else:
            raise BadRequest(f"unexpected {method} {target[:80]}")

    def send_stream(self, seed, n, chunked):
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
        head += b"Transfer-Encoding: chunked\r\n\r\n" if chunked else b"Content-Length: %d\r\n\r\n" % n
        sock = self.request
        self.server.sent = 0  # this download's (one at a time)
        sock.sendall(head)
        self.wfile.flush()
        for i, piece in enumerate(pattern(seed, n)):
            if chunked:
                cut = (i * 7919) % len(piece) or len(piece)  # two chunks of uneven sizes
                for part in (piece[:cut], piece[cut:]):
                    if len(part):
                        sock.sendall(b"%x\r\n" % len(part))
                        sock.sendall(part)
                        sock.sendall(b"\r\n")
            else:
                sock.sendall(piece)
            self.server.sent += len(piece)
        if chunked:
            sock.sendall(b"0\r\n\r\n")


class BulkServer(socketserver.ThreadingTCPServer):
    """The backend, on (host, port), served by a thread of the test."""
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr):
        super().__init__(addr, Handler)
        self.errors = []
        self.sent = 0
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.shutdown()
        self.server_close()


def wait_listening(addr, timeout=5.0):
    socket.create_connection(addr, timeout=timeout).close()
