"""Data integrity through both proxies (issue 14, item 6): a GiB of
pseudo-random bytes up and a GiB down, client -> LB (HTTPS, as users see it)
-> tristack-web -> a strict backend (bulk.py) on the web server's /api/
path, compared by SHA-256 hashed as the bytes go on both ends; with
Content-Length and chunked framing each way, a slow reader that makes the
proxies hold back (backpressure: the backend stops being able to send, and
neither proxy buffers the difference), and a plain-HTTP LB beside it.

The app takes at most 16k of body (max_body_size), so the bytes go to
bulk.py instead: the path the app's bodies take, minus the app."""
import hashlib
import json
import os
import socket
import ssl
import tempfile
import time

import pytest

import bulk
from conftest import ONE_ADDRESS_LOAD, rss_kib
from lab import Daemon, answers
from test_lb_tls import Pki
from weblab import WebLab

GIB = 1 << 30
SERVER_NAME = "www.foobar.com"


class Lab:
    """web-01 (.2) proxying /api/ to bulk.py (.21:9000); lb-01 (.1) with
    HTTPS on :8443; lb-02 (.3), the same LB on plain HTTP :8080."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.lbs, self.bulk = [], None
        self.web = WebLab(tmp, hosts_extra="[host lb-01]\naddress = {net}.1\nroles = lb\n\n")
        net = self.net = self.web.net
        try:  # what started before a failure is stopped all the same
            self.bulk = bulk.BulkServer((f"{net}.21", 9000))
            self.web.apps = [{"addr": f"{net}.21:9000", "name": "bulk", "proc": None}]
            self.web.start(with_apps=False)
            pki = Pki(tmp)
            self.cafile = pki.ca
            pem = pki.issue("site", [SERVER_NAME])[2]
            self.tls = self.start_lb("lb-01", 1,
                                     f"tls_listen = :8443\ntls_cert = {pem}\nhsts = 0\n")
            self.plain = self.start_lb("lb-02", 3, "")
        except BaseException:
            self.close()
            raise

    def start_lb(self, name, index, extra):
        lb = Daemon("tristack-lb", os.path.join(self.tmp, f"{name}.conf"),
                    os.path.join(self.tmp, f"{name}.log"), ["--host", name])
        lb.write(f"[site]\nwww = {name}\n\n[host {name}]\naddress = {self.net}.{index}\n"
                 f"roles = lb\n\n[host web-01]\naddress = {self.net}.2\nroles = web\n\n"
                 f"[lb]\nlisten = :8080\nadmin = :8404\nthreads = 1\n{ONE_ADDRESS_LOAD}"
                 f"server = web-01:8080\n{extra}")
        self.lbs.append(lb)
        return lb.start(lambda: answers(f"http://{self.net}.{index}:8404/healthz", ok=(200, 503)))

    def connect(self, tls):
        """A new connection to the LB: lb-01 over TLS, or lb-02."""
        if tls:
            s = socket.create_connection((f"{self.net}.1", 8443), timeout=30)
            ctx = ssl.create_default_context(cafile=self.cafile)
            return ctx.wrap_socket(s, server_hostname=SERVER_NAME)
        return socket.create_connection((f"{self.net}.3", 8080), timeout=30)

    def close(self):
        try:
            for lb in self.lbs:
                lb.stop()
        finally:
            self.web.close()
            if self.bulk:
                self.bulk.close()
        for lb in self.lbs:
            lb.check_log()


@pytest.fixture(scope="module")
def lab():
    with tempfile.TemporaryDirectory(prefix="tristack-integrity-") as tmp:
        lab = Lab(tmp)
        try:
            yield lab
        finally:
            lab.close()
        assert not lab.bulk.errors, lab.bulk.errors


# ---- a client that frames what it sends and checks what it gets ----

def read_response_head(rfile):
    """(status, {lower name: value}) of a response head."""
    status_line = rfile.readline(8192)
    assert status_line.startswith(b"HTTP/1.1 "), status_line
    headers = {}
    while True:
        line = rfile.readline(8192)
        assert line.endswith(b"\r\n"), line
        if line == b"\r\n":
            break
        k, _, v = line[:-2].decode("latin-1").partition(":")
        assert k.lower() not in headers, f"two {k} in the response"
        headers[k.lower()] = v.strip()
    return int(status_line.split()[1]), headers


def read_body(rfile, headers, sink, pace=None):
    """Feed the response body to sink in pieces; pace(n) is called with
    the bytes read so far after each piece (the slow reader)."""
    total = 0

    def take(n):
        nonlocal total
        buf = memoryview(bytearray(min(n, 1 << 20)))
        while n > 0:
            got = rfile.readinto(buf[:min(n, len(buf))])
            assert got, "the response ended early"
            sink(buf[:got])
            n -= got
            total += got
            if pace:
                pace(total)

    if "content-length" in headers:
        assert "transfer-encoding" not in headers
        take(int(headers["content-length"]))
        return total, "length"
    assert headers.get("transfer-encoding") == "chunked", headers
    while True:
        line = rfile.readline(4096)
        assert line.endswith(b"\r\n"), line
        size = int(line[:-2].split(b";")[0], 16)
        if size == 0:
            assert rfile.readline(4096) == b"\r\n"
            return total, "chunked"
        take(size)
        assert rfile.read(2) == b"\r\n"


def upload(lab, tls, seed, n, chunked):
    """POST n bytes of seed's stream; (bytes, sha256 sent, the backend's
    answer)."""
    s = lab.connect(tls)
    h = hashlib.sha256()
    sent = 0
    framing = b"Transfer-Encoding: chunked" if chunked else b"Content-Length: %d" % n
    s.sendall(b"POST /api/up HTTP/1.1\r\nHost: " + SERVER_NAME.encode() + b"\r\n" +
              framing + b"\r\nContent-Type: application/octet-stream\r\n\r\n")
    for i, piece in enumerate(bulk.pattern(seed, n)):
        h.update(piece)
        sent += len(piece)
        if chunked:
            # chunks of uneven sizes, none aligned with the proxies' buffers
            cut = (i * 4099) % len(piece) or len(piece)
            for part in (piece[:cut], piece[cut:]):
                if len(part):
                    s.sendall(b"%x\r\n" % len(part) + part.tobytes() + b"\r\n")
        else:
            s.sendall(piece)
    if chunked:
        s.sendall(b"0\r\n\r\n")
    rfile = s.makefile("rb")
    status, headers = read_response_head(rfile)
    body = bytearray()
    read_body(rfile, headers, body.extend)
    s.close()
    assert status == 200, (status, bytes(body[:300]))
    return sent, h.hexdigest(), json.loads(body)


def download(lab, tls, seed, n, chunked, pace=None):
    """GET n bytes of seed's stream; (status, framing, bytes, sha256)."""
    s = lab.connect(tls)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    s.sendall(b"GET /api/down?seed=%d&bytes=%d&chunked=%d HTTP/1.1\r\nHost: %s\r\n\r\n"
              % (seed, n, int(chunked), SERVER_NAME.encode()))
    rfile = s.makefile("rb", buffering=1 << 18)
    status, headers = read_response_head(rfile)
    h = hashlib.sha256()
    got, framing = read_body(rfile, headers, h.update, pace)
    s.close()
    return status, framing, got, h.hexdigest()


def timed(what, f, *args, **kw):
    t0 = time.monotonic()
    out = f(*args, **kw)
    print(f"{what}: {time.monotonic() - t0:.1f}s")
    return out


# ---- the tests ----

@pytest.mark.parametrize("chunked", [False, True], ids=["length", "chunked"])
def test_a_gib_up_through_lb_and_web_arrives_intact(lab, chunked):
    seed = 1400 + chunked
    sent, sha, got = timed(f"upload {'chunked' if chunked else 'length'}", upload,
                           lab, True, seed, GIB, chunked)
    assert sent == GIB
    assert (got["bytes"], got["sha256"]) == (GIB, sha)
    assert sha == bulk.digest(seed, GIB)  # the client sent the stream it meant to


def test_a_gib_down_through_lb_and_web_arrives_intact(lab):
    seed = 1410
    status, framing, n, sha = timed("download length", download, lab, True, seed, GIB, False)
    assert (status, framing, n) == (200, "length", GIB)
    assert sha == bulk.digest(seed, GIB)


class SlowReader:
    """Reads a little, then stops for PAUSE seconds, PAUSES times, at
    the start of the body; then reads at full speed. At the end of each
    pause it notes how far the backend had got ahead of the reader."""
    PAUSES, PAUSE, EVERY = 3, 0.7, 4 << 20

    def __init__(self, lab):
        self.lab, self.next, self.ahead, self.during = lab, 1 << 20, [], []
        self.rss0 = {p.pid: rss_kib(p.pid) for p in [lb.proc for lb in lab.lbs] + [lab.web.web]}
        self.rss = {}

    def __call__(self, total):
        if len(self.ahead) >= self.PAUSES or total < self.next:
            return
        before = self.lab.bulk.sent
        time.sleep(self.PAUSE)
        after = self.lab.bulk.sent
        self.during.append(after - before)
        self.ahead.append(after - total)
        for pid in self.rss0:
            self.rss[pid] = max(self.rss.get(pid, 0), rss_kib(pid) - self.rss0[pid])
        self.next = total + self.EVERY


def test_a_gib_down_chunked_to_a_slow_reader_arrives_intact(lab):
    """The reader stops three times: each time the backend soon cannot send
    more (the proxies stopped reading from it), with a bounded amount in
    flight (socket buffers on three hops, the proxies' own buffers), and
    neither proxy grows to hold the rest."""
    seed = 1420
    slow = SlowReader(lab)
    status, framing, n, sha = timed("download chunked, slow reader", download,
                                    lab, True, seed, GIB, True, pace=slow)
    assert (status, framing, n) == (200, "chunked", GIB)
    assert sha == bulk.digest(seed, GIB)
    print(f"ahead of the reader at each pause: {[a >> 20 for a in slow.ahead]} MiB; "
          f"sent during the last pause: {slow.during[-1] >> 10} KiB; "
          f"RSS growth: {sorted(slow.rss.values())} KiB")
    assert len(slow.ahead) == SlowReader.PAUSES
    assert max(slow.ahead) < 64 << 20, slow.ahead  # not the whole GiB buffered somewhere
    # the backend was held back: in a pause it sends no more than the reader
    # took since the last one (the room that made), not the rest of the GiB
    assert slow.during[-1] <= SlowReader.EVERY + (1 << 20), slow.during
    assert max(slow.rss.values()) < 16 * 1024, slow.rss


@pytest.mark.parametrize("chunked", [False, True], ids=["length", "chunked"])
def test_plain_http_through_lb_and_web_both_ways(lab, chunked):
    """The same path without TLS (a quarter of the size: the TLS runs carry
    the GiBs)."""
    n = 256 << 20
    seed = 1430 + chunked
    sent, sha, got = timed("plain upload", upload, lab, False, seed, n, chunked)
    assert (got["bytes"], got["sha256"]) == (n, sha)
    status, _, got_n, sha = timed("plain download", download, lab, False, seed, n, chunked)
    assert (status, got_n, sha) == (200, n, bulk.digest(seed, n))
