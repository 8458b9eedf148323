#!/usr/bin/env python3
"""Open N keep-alive connections to HOST:PORT, make one GET on each, then
keep them all open and idle until stdin closes (or a line is read).
Prints "ready N" once all are idle. Used by the bench scripts to measure
memory per idle connection. A fifth argument "tls" speaks TLS (no
certificate check: the bench's own certificate)."""
import socket
import ssl
import sys

host, port, n, path = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
tls = len(sys.argv) > 5 and sys.argv[5] == "tls"
ctx = None
if tls:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
conns = []
req = f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()
for i in range(n):
    s = socket.create_connection((host, port), timeout=10)
    if ctx:
        s = ctx.wrap_socket(s, server_hostname=host)
    s.sendall(req)
    got = b""
    while b"\r\n\r\n" not in got:
        got += s.recv(4096)
    head, _, body = got.partition(b"\r\n\r\n")
    length = next(int(l.split(b":")[1]) for l in head.split(b"\r\n")
                  if l.lower().startswith(b"content-length:"))
    while len(body) < length:
        body += s.recv(65536)
    conns.append(s)
print(f"ready {len(conns)}", flush=True)
sys.stdin.readline()
for s in conns:
    s.close()
