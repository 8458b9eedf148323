"""A strict recording backend for the hostile corpus (issue 14, item 14).

It reads raw bytes from its own socket (no HTTP library to forgive
anything) and holds each request a proxy forwards to what a proxy should
send on: canonical HTTP/1.1. Every request it reads is recorded with what
was wrong with it (problems: empty when canonical), and answered
`200` with `X-Backend: strict` and a body naming it, so a client can tell
the backend's answer from a proxy's. A request with a problem ends its
connection (what follows could not be framed), recorded as it stood.

Canonical, here:
  - request line `METHOD SP TARGET SP HTTP/1.1` CRLF: METHOD a token, TARGET
    origin-form (`/...`, visible ASCII) or `*` for OPTIONS
  - header lines `name: value` CRLF: name a token, value visible ASCII or
    obs-text with single spaces/tabs inside, none at either end, no CR, LF
    or NUL; lines end in CRLF (never a bare LF)
  - one Host, of uri-host[:port] shape; at most one Content-Length (digits
    only) and at most one Transfer-Encoding, exactly `chunked`; never both
  - no hop-by-hop field but Connection (close / keep-alive only), and no
    field that a Connection header names
  - a chunked body with plain hex sizes, CRLF after each chunk, valid
    trailer fields; the bytes after a request are the next request, which
    must be as canonical (a smuggled one would be recorded, marked or not)
"""
import re
import socket
import threading

TOKEN = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
REQUEST_LINE = re.compile(rb"(" + TOKEN + rb") ([\x21-\x7e]+) HTTP/1\.1\r\n\Z")
FIELD = re.compile(rb"(" + TOKEN + rb"):(.*)\r\n\Z", re.S)
VALUE = re.compile(rb"[\x21-\x7e\x80-\xff]+(?:[ \t]+[\x21-\x7e\x80-\xff]+)*\Z|\Z")
HOST = re.compile(rb"(?:[A-Za-z0-9\-._~!$&'()*+,;=%]*|\[[0-9A-Fa-f:.]+\])(?::[0-9]*)?\Z")
CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,15})((?:[ \t]*;[ \t]*" + TOKEN +
                        rb"(?:=(?:" + TOKEN + rb"|\"[^\"\\\r\n]*\"))?)*)\r\n\Z")
HOP_BY_HOP = {b"keep-alive", b"proxy-connection", b"te", b"trailer", b"upgrade",
              b"proxy-authorization", b"proxy-authenticate", b"http2-settings"}
LINE_MAX = 65536
BODY_MAX = 1 << 20


class Reject(Exception):
    pass


class Reader:
    """Exact reads from a socket, remembering every byte (raw)."""

    def __init__(self, sock):
        self.sock, self.buf, self.raw = sock, b"", b""

    def _more(self):
        b = self.sock.recv(65536)
        if not b:
            raise EOFError
        self.buf += b
        self.raw += b

    def line(self):
        while b"\n" not in self.buf:
            if len(self.buf) > LINE_MAX:
                raise Reject("a line longer than 64 KiB")
            self._more()
        i = self.buf.index(b"\n") + 1
        line, self.buf = self.buf[:i], self.buf[i:]
        if not line.endswith(b"\r\n") or b"\r" in line[:-2]:
            raise Reject(f"a line not ended by CRLF alone: {line[:60]!r}")
        return line

    def exact(self, n):
        while len(self.buf) < n:
            self._more()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def pending(self):
        return bool(self.buf)


def read_request(r):
    """One request from r: dict(method, target, headers, body, framing);
    raises Reject with the first thing not canonical, EOFError at the end
    of the stream (inside a request too)."""
    m = REQUEST_LINE.match(r.line())
    if not m:
        raise Reject("request line not canonical")
    method, target = m.group(1), m.group(2)
    if not (target.startswith(b"/") or (target == b"*" and method == b"OPTIONS")):
        raise Reject(f"target not origin-form: {target[:60]!r}")
    req = {"method": method.decode(), "target": target.decode("latin-1"), "headers": [],
           "body": b"", "framing": None}
    headers = req["headers"]
    while True:
        line = r.line()
        if line == b"\r\n":
            break
        f = FIELD.match(line)
        if not f:
            raise Reject(f"field line not canonical: {line[:60]!r}")
        value = f.group(2)
        if value[:1] == b" ":
            value = value[1:]  # the one space after the colon, as proxies write it
        if not VALUE.match(value):
            raise Reject(f"field value not canonical: {line[:60]!r}")
        headers.append((f.group(1).decode().lower(), value))
    check_fields(headers)
    fields = dict(headers)
    if "transfer-encoding" in fields:
        req["framing"] = "chunked"
        req["body"] = read_chunked(r)
    elif "content-length" in fields:
        req["framing"] = "length"
        req["body"] = r.exact(int(fields["content-length"]))
    return req


def check_fields(headers):
    names = [k for k, _ in headers]
    fields = dict(headers)
    for k in ("host", "content-length", "transfer-encoding", "connection"):
        if names.count(k) > 1:
            raise Reject(f"{names.count(k)} {k} fields")
    if "host" not in fields:
        raise Reject("no Host")
    if not HOST.match(fields["host"]):
        raise Reject(f"Host not uri-host[:port]: {fields['host'][:60]!r}")
    if "content-length" in fields and "transfer-encoding" in fields:
        raise Reject("both Content-Length and Transfer-Encoding")
    if "content-length" in fields and not re.fullmatch(rb"[0-9]{1,15}", fields["content-length"]):
        raise Reject(f"Content-Length not canonical: {fields['content-length'][:40]!r}")
    if "transfer-encoding" in fields and fields["transfer-encoding"] != b"chunked":
        raise Reject(f"Transfer-Encoding not canonical: {fields['transfer-encoding'][:40]!r}")
    for k in names:
        if k.encode() in HOP_BY_HOP:
            raise Reject(f"hop-by-hop field forwarded: {k}")
    if "connection" in fields:
        named = {t.strip().lower() for t in fields["connection"].split(b",")}
        if not named <= {b"close", b"keep-alive"}:
            raise Reject(f"Connection names fields: {fields['connection'][:60]!r}")


def read_chunked(r):
    body = b""
    while True:
        m = CHUNK_SIZE.match(r.line())
        if not m:
            raise Reject("chunk size line not canonical")
        size = int(m.group(1), 16)
        if size == 0:
            break
        if len(body) + size > BODY_MAX:
            raise Reject("a chunked body over 1 MiB")
        body += r.exact(size)
        if r.exact(2) != b"\r\n":
            raise Reject("chunk data not followed by CRLF")
    while True:  # trailer fields, then the empty line
        line = r.line()
        if line == b"\r\n":
            return body
        f = FIELD.match(line)
        if not f or not VALUE.match(f.group(2).lstrip(b" ")):
            raise Reject(f"trailer field not canonical: {line[:60]!r}")


class Recorder:
    """The strict backend on (host, port), served by threads of the test.
    requests: every request read, in order, as dicts with `conn` (its
    connection's number), `problems` (a list, empty when canonical) and
    `raw` (the bytes of its connection so far, for the report)."""

    def __init__(self, addr):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(addr)
        self.sock.listen(512)
        self.requests, self.lock, self.conns = [], threading.Lock(), 0
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.conns += 1
                n = self.conns
            threading.Thread(target=self._serve, args=(c, n), daemon=True).start()

    def _record(self, req):
        with self.lock:
            self.requests.append(req)

    def _serve(self, c, conn):
        c.settimeout(60)
        r = Reader(c)
        try:
            while True:
                try:
                    req = read_request(r)
                except Reject as e:
                    self._record({"conn": conn, "target": None, "problems": [str(e)],
                                  "raw": r.raw[-2000:]})
                    return
                req.update(conn=conn, problems=[], raw=b"")
                self._record(req)
                body = f"strict {req['method']} {req['target'][:200]}".encode("latin-1")
                close = (b"close" in dict(req["headers"]).get("connection", b"").lower())
                head = (b"HTTP/1.1 200 OK\r\nX-Backend: strict\r\nContent-Type: text/plain\r\n"
                        b"Content-Length: %d\r\n%s\r\n"
                        % (len(body), b"Connection: close\r\n" if close else b""))
                c.sendall(head + (b"" if req["method"] == "HEAD" else body))
                if close:
                    return
        except EOFError:
            if r.pending():  # the stream ended inside a request
                self._record({"conn": conn, "target": None, "raw": r.raw[-2000:],
                              "problems": ["the connection ended inside a request"]})
        except OSError:
            pass
        finally:
            c.close()

    def close(self):
        self.closed = True
        self.sock.close()
