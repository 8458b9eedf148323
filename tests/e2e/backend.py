#!/usr/bin/env python3
"""A small HTTP/1.1 backend for the load balancer's tests: keep-alive, and
misbehaviours on demand (hang, close or reset without a response, slow
answers), with counters a test can read back.

    backend.py --listen 127.1.2.11:8080 --name b1 [--keepalive-timeout 60]
    backend.py --listen unix:/path/app.sock --name b1

GET  /name               body: the backend's name; X-Conn: connection number,
                         X-Req: request number on that connection
ANY  /echo               body: JSON of what arrived (method, target, headers,
                         body length)
GET  /healthz            200, or what /control/health set
GET  /slow?ms=N          answers after N ms
GET  /big?bytes=N        N bytes of "x", written in pieces
GET  /hang               never answers
ANY  /upload             reads the whole body (Content-Length or chunked),
                         answers its length
GET  /control/health?status=503      what /healthz answers from now on
GET  /control/fail-next?mode=close   the next request that comes on a
                         connection already used (a kept-alive one) is
                         dropped without an answer: mode close (FIN) or
                         reset (RST)
GET  /control/stats      JSON: connections, requests by method and path

Control requests are not counted. Behind a web server's /api/ prefix the same
routes answer under /api/ too.
"""
import argparse
import json
import socket
import socketserver
import struct
import threading
import time
from urllib.parse import parse_qs, urlsplit

STATE = {
    "health": 200,
    "fail_next": None,
    "connections": 0,
    "requests": [],  # (method, path)
}
LOCK = threading.Lock()


def read_line(f):
    line = f.readline(65537)
    if not line:
        return None
    return line.rstrip(b"\r\n")


def read_body(f, headers):
    te = headers.get("transfer-encoding", "").lower()
    if "chunked" in te:
        total = 0
        while True:
            size_line = read_line(f)
            if size_line is None:
                raise ConnectionError("eof in chunked body")
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                while read_line(f):  # trailers, then the empty line
                    pass
                return total
            left = size
            while left:
                b = f.read(min(left, 1 << 20))
                if not b:
                    raise ConnectionError("eof in chunk")
                left -= len(b)
            total += size
            f.readline()
    n = int(headers.get("content-length", "0") or 0)
    left = n
    while left:
        b = f.read(min(left, 1 << 20))
        if not b:
            raise ConnectionError("eof in body")
        left -= len(b)
    return n


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        with LOCK:
            STATE["connections"] += 1
            conn_no = STATE["connections"]
        self.request.settimeout(self.server.keepalive_timeout)
        served = 0
        while True:
            try:
                line = read_line(self.rfile)
            except (socket.timeout, ConnectionError, OSError):
                return
            if not line:
                return
            try:
                method, target, version = line.decode("latin-1").split(" ")
            except ValueError:
                return
            headers, raw_headers = {}, []
            while True:
                h = read_line(self.rfile)
                if h is None:
                    return
                if not h:
                    break
                k, _, v = h.decode("latin-1").partition(":")
                headers[k.strip().lower()] = v.strip()
                raw_headers.append([k.strip(), v.strip()])
            url = urlsplit(target)
            q = parse_qs(url.query)
            path = url.path
            if path.startswith("/api/"):
                path = path[4:]  # behind a web server's /api/ prefix: the same routes
            control = path.startswith("/control/")
            with LOCK:
                fail = STATE["fail_next"] if served > 0 and not control else None
                if fail:
                    STATE["fail_next"] = None
                if not control:
                    STATE["requests"].append((method, path))
            if fail:
                if fail == "reset":
                    self.request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                            struct.pack("ii", 1, 0))
                return  # no answer: the connection closes (or resets)
            try:
                body_len = read_body(self.rfile, headers)
            except (ConnectionError, ValueError, OSError):
                return
            served += 1
            status, body, extra = 200, b"", {}
            if path == "/name":
                body = self.server.name.encode()
                extra = {"X-Conn": str(conn_no), "X-Req": str(served)}
            elif path == "/echo":
                body = json.dumps({"method": method, "target": target,
                                   "headers": raw_headers, "body_length": body_len}).encode()
            elif path == "/healthz":
                status = STATE["health"]
                body = b"ok" if status == 200 else b"sick"
            elif path == "/slow":
                time.sleep(int(q.get("ms", ["1000"])[0]) / 1000)
                body = self.server.name.encode()
            elif path == "/hang":
                while True:
                    time.sleep(3600)
            elif path.startswith("/fail-on/"):
                # /fail-on/NAME?status=502: NAME answers that status, the others 200
                if path[len("/fail-on/"):] == self.server.name:
                    status = int(q.get("status", ["502"])[0])
                body = self.server.name.encode()
            elif path == "/upload":
                body = str(body_len).encode()
            elif path == "/big":
                n = int(q.get("bytes", ["0"])[0])
                try:
                    self.wfile.write(f"HTTP/1.1 200 OK\r\nContent-Length: {n}\r\n"
                                     f"X-Backend: {self.server.name}\r\n\r\n".encode())
                    chunk = b"x" * 65536
                    while n > 0:
                        self.wfile.write(chunk[:min(n, len(chunk))])
                        n -= min(n, len(chunk))
                    self.wfile.flush()
                except OSError:
                    return
                continue
            elif path == "/control/health":
                with LOCK:
                    STATE["health"] = int(q.get("status", ["200"])[0])
            elif path == "/control/fail-next":
                with LOCK:
                    STATE["fail_next"] = q.get("mode", ["close"])[0]
            elif path == "/control/stats":
                with LOCK:
                    body = json.dumps({"connections": STATE["connections"],
                                       "requests": STATE["requests"]}).encode()
            else:
                status, body = 404, b"not found"
            close = headers.get("connection", "").lower() == "close" or version == "HTTP/1.0"
            head = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}",
                    f"X-Backend: {self.server.name}"]
            head += [f"{k}: {v}" for k, v in extra.items()]
            if close:
                head.append("Connection: close")
            try:
                self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode() +
                                 (b"" if method == "HEAD" else body))
                self.wfile.flush()
            except OSError:
                return
            if close:
                return


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 512


class UnixServer(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True
    request_queue_size = 512


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", help="HOST:PORT, or unix:/path")
    ap.add_argument("--name", required=True)
    ap.add_argument("--keepalive-timeout", type=float, default=60)
    a = ap.parse_args()
    if a.listen.startswith("unix:"):
        srv = UnixServer(a.listen[5:], Handler)
    else:
        host, port = a.listen.rsplit(":", 1)
        srv = Server((host, int(port)), Handler)
    srv.name = a.name
    srv.keepalive_timeout = a.keepalive_timeout
    srv.serve_forever()


if __name__ == "__main__":
    main()
