"""The hostile corpus (tests/e2e/hostile.py, issues 9 and 14) sent to the
load balancer and to a web server, each with a strict recording backend
behind it (tests/e2e/recorder.py: raw bytes, its own socket server), judged
strictly:

  bad  - refused: a 4xx (505 for another major version) from tristack, or a
         close with no answer; the connection closed within CLOSE_WITHIN of
         the request, under keep-alive and client timeouts of 60 s (a
         timeout cannot pass for a close); nothing of it reaches the backend
  odd  - legal: the backend's own answer (200, X-Backend: strict) comes
         back, nothing else; exactly one request reaches the backend, in
         canonical form, with the body the client sent
and for both: no request the recorder finds malformed, no smuggled or
unaccounted request, the daemon alive, and a request on a new connection
after each entry answered.

Every entry's target is tagged with its number, so what the backend
received is matched to what was sent. The judge is tried on fronts that
are wrong on purpose (a raw relay, a refusal that lingers, a front refusing
everything) and must fail them."""
import concurrent.futures
import re
import socket
import tempfile
import threading
import time

import pytest

import hostile
from conftest import free_subnet
from lab import http
from lblab import LbLab
from recorder import Recorder
from weblab import WebLab

# far longer than the read deadline: a close the judge sees is a close
TIMEOUTS = "timeout_http_request = 60s\ntimeout_client = 60s\ntimeout_http_keep_alive = 60s\n"
CLOSE_WITHIN = 2.0  # after a refusal, the connection is closed this soon
READ_DEADLINE = 4.0  # then the attack stops reading, whatever happened
TAG = "-TAG"
TAG_RE = re.compile(r"-(\d{3})(?!\d)")


def entries(path):
    """The corpus for path, each entry's target tagged with its number:
    (number, name, bytes, kind)."""
    out = []
    for i, (name, data, kind) in enumerate(hostile.corpus(path + TAG, "x")):
        assert data.count(TAG.encode()) <= 1, name
        out.append((i, name, data.replace(TAG.encode(), b"-%03d" % i), kind))
    return out


def parse_responses(buf, method):
    """[(status, {lower name: value})] of the complete responses in buf;
    1xx are skipped."""
    out = []
    while True:
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            return out
        head = buf[:end].split(b"\r\n")
        m = re.match(rb"HTTP/1\.[01] (\d{3}) ", head[0] + b" ")
        if not m:
            return out
        status = int(m.group(1))
        headers = {}
        for line in head[1:]:
            k, _, v = line.partition(b":")
            headers[k.strip().lower().decode("latin-1")] = v.strip().decode("latin-1")
        n = 0 if method == b"HEAD" or status < 200 or status in (204, 304) else \
            int(headers.get("content-length", "0") or 0)
        if len(buf) < end + 4 + n:
            return out
        buf = buf[end + 4 + n:]
        if status >= 200:
            out.append((status, headers))


def attack(host, port, data, kind):
    """Send data on a new connection. Returns (responses, how it ended,
    seconds from the end of the send to the close)."""
    method = data.lstrip(b"\r\n").split(b" ", 1)[0]
    s = socket.create_connection((host, port), timeout=READ_DEADLINE)
    got, ended, sent_at = b"", "open", None
    try:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused before we finished: what it said is still to read
        sent_at = time.monotonic()
        deadline = sent_at + READ_DEADLINE
        while time.monotonic() < deadline:
            s.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                ended = "reset"
                break
            except socket.timeout:
                break
            if not chunk:
                ended = "closed"
                break
            got += chunk
            if kind in ("odd", "here") and parse_responses(got, method):
                # a legal request: its answer is in; a keep-alive connection
                # stays open, a close (HTTP/1.0) comes at once
                deadline = min(deadline, time.monotonic() + 0.2)
    finally:
        s.close()
    return parse_responses(got, method), ended, time.monotonic() - sent_at


def judge(kind, responses, ended, after):
    """None when the answer is right for the kind, else what is wrong.
    kind "here": legal, and answered 200 by the front itself."""
    statuses = [st for st, _ in responses]
    from_backend = [h.get("x-backend") == "strict" for _, h in responses]
    if kind == "here":
        ok = statuses == [200] and not from_backend[0]
        return None if ok else f"a legal request answered {statuses}, not the front's 200"
    if kind == "bad":
        if any(from_backend):
            return f"reached the backend, which answered {statuses}"
        # 505 is the answer for a major version other than 1 (RFC 9110 15.6.6)
        if statuses and not (400 <= statuses[0] < 500 or statuses[0] == 505):
            return f"answered {statuses[0]}, not a 4xx"
        if len(statuses) > 1:
            return f"answered more than one request: {statuses}"
        if ended == "open":
            return f"refused {statuses} but the connection was still open after {READ_DEADLINE}s"
        if after > CLOSE_WITHIN:
            return f"the connection closed {after:.1f}s after the request, not within {CLOSE_WITHIN}s"
        return None
    if not statuses:
        return f"a legal request got no answer (connection {ended})"
    if statuses != [200] or not from_backend[0]:
        who = "the backend" if from_backend[0] else "tristack"
        return f"a legal request answered {statuses} by {who}, not the backend's 200"
    return None


def expected_body(data):
    """The body a legal entry carries, unframed."""
    head, _, rest = data.lstrip(b"\r\n").partition(b"\r\n\r\n")
    if not re.search(rb"\r\ntransfer-encoding: *chunked\r?\n", head + b"\r\n", re.I):
        return rest
    body = b""
    while True:
        line, _, rest = rest.partition(b"\r\n")
        size = int(line.split(b";")[0], 16)
        if size == 0:
            return body
        body, rest = body + rest[:size], rest[size + 2:]


def check_recorder(recorder, sent, good_target):
    """What reached the backend against what was sent: failures."""
    fails, by_tag = [], {}
    star = next((i for i, name, _, _ in sent if name == "options-star"), -1)
    with recorder.lock:
        reqs = list(recorder.requests)
    for r in reqs:
        if r["problems"]:
            fails.append(f"not canonical at the backend: {r['problems']}: {r['raw'][-300:]!r}")
            continue
        if hostile.MARK in r["target"]:
            fails.append(f"smuggled: {r['method']} {r['target']}")
            continue
        m = TAG_RE.search(r["target"])
        if m or r["target"] == "*":  # OPTIONS *: the one legal entry without a tag
            i = int(m.group(1)) if m else star
            by_tag.setdefault(i, []).append(r)
        elif r["target"] != good_target:
            fails.append(f"a request nobody sent: {r['method']} {r['target'][:100]}")
    for i, name, data, kind in sent:
        got = by_tag.get(i, [])
        if kind in ("bad", "here") and got:
            fails.append(f"{name}: reached the backend: {[r['target'][:80] for r in got]}")
        elif kind == "odd":
            if len(got) != 1:
                fails.append(f"{name}: {len(got)} requests at the backend, not 1")
            elif got[0]["body"] != expected_body(data):
                fails.append(f"{name}: the body changed on the way: {got[0]['body'][:80]!r}")
    return fails, len(reqs)


def run_corpus(host, port, sent, good, recorder, good_target, here=(), parallel=16):
    """Every entry, 16 at a time, each followed by the good request on a
    new connection; here: the legal entries the front answers itself.
    Returns the failures and how many requests the backend read."""
    sent = [(i, n, d, "here" if n in here else k) for i, n, d, k in sent]

    slowest = []

    def one(entry):
        i, name, data, kind = entry
        t0 = time.monotonic()
        why = judge(kind, *attack(host, port, data, kind))
        slowest.append((time.monotonic() - t0, name))
        if why is None and not good():
            why = "the next request on a new connection was not answered right"
        return None if why is None else f"{name}: {why}"

    with concurrent.futures.ThreadPoolExecutor(parallel) as ex:
        fails = [f for f in ex.map(one, sent) if f]
    print(f"{len(sent)} entries; the slowest: {sorted(slowest)[-3:]}")
    more, n = check_recorder(recorder, sent, good_target)
    return fails + more, n


class Stub:
    """The recorder as one of an LbLab's backends (it starts nothing)."""
    proc = None

    def __init__(self, name, ip):
        self.name, self.ip = name, ip

    def kill(self, sig=None):
        pass


@pytest.fixture(scope="module")
def lb_lab():
    with tempfile.TemporaryDirectory(prefix="tristack-hostile-lb-") as tmp:
        lab = LbLab(tmp)
        lab.recorder = Recorder((f"{lab.net}.11", 8080))
        lab.backends.append(Stub("strict", f"{lab.net}.11"))
        try:
            lab.start_lb(["strict:8080"], TIMEOUTS)
            yield lab
        finally:
            lab.close()
            lab.recorder.close()


@pytest.fixture(scope="module")
def web_lab():
    with tempfile.TemporaryDirectory(prefix="tristack-hostile-web-") as tmp:
        lab = WebLab(tmp, web_extra=TIMEOUTS)
        lab.recorder = Recorder((f"{lab.net}.21", 9000))
        lab.apps = [{"addr": f"{lab.net}.21:9000", "name": "strict", "proc": None}]
        try:
            lab.start(with_apps=False)
            yield lab
        finally:
            lab.close()
            lab.recorder.close()


def test_the_corpus_is_large_and_named_uniquely():
    sent = entries("/name")
    names = [n for _, n, _, _ in sent]
    assert len(sent) >= 200 and len(set(names)) == len(names)
    families = {n.split("-")[0] for n in names}
    for f in ("clte", "tecl", "cl", "chunk", "long", "ctl", "hdr", "host", "line", "target",
              "pipeline", "absolute"):
        assert f in families, f
    assert sum(k == "odd" for _, _, _, k in sent) >= 25
    # every legal entry is tagged (OPTIONS * cannot be), so the backend's
    # requests can be told apart
    untagged = [n for i, n, d, k in sent if k == "odd" and b"-%03d" % i not in d]
    assert untagged == ["options-star"]


def test_load_balancer_refuses_the_corpus_and_smuggles_nothing(lb_lab):
    sent = entries("/name")
    good = lambda: http(lb_lab.url + "/good", timeout=5)[0] == 200  # noqa: E731
    failures, n = run_corpus(lb_lab.lb_ip, 8080, sent, good, lb_lab.recorder, "/good")
    assert lb_lab.lb.poll() is None
    assert n >= len(sent), "the backend saw too little: the recording does not work"
    assert not failures, "\n".join(failures)


def test_web_server_refuses_the_corpus_and_smuggles_nothing(web_lab):
    sent = entries("/api/name")
    good = lambda: http(web_lab.url + "/api/good", timeout=5)[0] == 200  # noqa: E731
    # OPTIONS * is about the web server itself: not under /api/, not the app's
    failures, n = run_corpus(web_lab.ip, 8080, sent, good, web_lab.recorder, "/api/good",
                             here={"options-star"})
    assert web_lab.web.poll() is None
    assert n >= len(sent), "the backend saw too little: the recording does not work"
    assert not failures, "\n".join(failures)


# ---- the judge on fronts that are wrong on purpose ----

class FakeFront:
    """A front end on (host, port) that does one wrong thing:
    relay    - copies bytes both ways between client and backend, as a
               proxy that parses nothing would
    linger   - answers 400 to anything and keeps the connection open
    refuse   - answers 400 to anything and closes, legal requests too"""

    def __init__(self, addr, mode, backend=None):
        self.mode, self.backend = mode, backend
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(addr)
        self.sock.listen(64)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        try:
            if self.mode == "relay":
                b = socket.create_connection(self.backend)
                threading.Thread(target=pipe, args=(b, c), daemon=True).start()
                pipe(c, b)
                return
            c.settimeout(10)
            c.recv(65536)
            c.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            if self.mode == "linger":
                time.sleep(READ_DEADLINE + 1)
        except OSError:
            pass
        finally:
            c.close()

    def close(self):
        self.sock.close()


def pipe(src, dst):
    try:
        while True:
            b = src.recv(65536)
            if not b:
                break
            dst.sendall(b)
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def some(sent, names):
    return [e for e in sent if e[1] in names]


def test_the_judge_fails_a_front_that_forwards_what_it_should_refuse():
    """A raw relay in front of the recorder: every bad entry reaches the
    backend; the recorder finds the malformed requests and the smuggled
    ones, and the judge names each."""
    net = free_subnet()
    rec = Recorder((f"{net}.21", 9000))
    front = FakeFront((f"{net}.1", 8080), "relay", (f"{net}.21", 9000))
    try:
        sent = some(entries("/name"), {"clte-plain", "cl-two-differ", "hdr-space-in-name",
                                       "ctl-value-nul", "long-target-9k", "get-with-body"})
        # a request behind another, as a front that frames nothing would pass it
        sent.append((990, "relay-smuggle", b"GET /name-990 HTTP/1.1\r\nHost: x\r\n\r\n"
                     b"GET /SMUGGLED-relay HTTP/1.1\r\nHost: x\r\n\r\n", "bad"))
        fails, _ = run_corpus(f"{net}.1", 8080, sent, lambda: True, rec, "/good")
    finally:
        front.close()
        rec.close()
    text = "\n".join(fails)
    # refused by the recorder, which closes: the client saw no answer, but
    # the backend's record names what came
    assert "not canonical at the backend: ['both Content-Length and Transfer-Encoding']" in text
    assert "not canonical at the backend: ['2 content-length fields']" in text
    assert "field line not canonical: b'X A: b" in text
    assert "field value not canonical: b'X-A: b\\\\x00c" in text
    # canonical enough for the recorder: the backend answered a bad request
    assert "long-target-9k: reached the backend, which answered [200]" in text
    assert "long-target-9k: reached the backend: ['/name-" in text
    assert "relay-smuggle: reached the backend, which answered [200, 200]" in text
    assert "smuggled: GET /SMUGGLED-relay" in text
    assert "get-with-body" not in text  # the legal one passes through a relay


def test_the_judge_fails_a_refusal_that_leaves_the_connection_open():
    net = free_subnet()
    rec = Recorder((f"{net}.21", 9000))
    front = FakeFront((f"{net}.1", 8080), "linger")
    try:
        sent = some(entries("/name"), {"clte-plain", "host-missing"})
        fails, _ = run_corpus(f"{net}.1", 8080, sent, lambda: True, rec, "/good")
    finally:
        front.close()
        rec.close()
    assert len(fails) == 2 and all("connection was still open" in f for f in fails), fails


def test_the_judge_fails_a_4xx_for_a_legal_request():
    net = free_subnet()
    rec = Recorder((f"{net}.21", 9000))
    front = FakeFront((f"{net}.1", 8080), "refuse")
    try:
        sent = some(entries("/name"), {"absolute-form", "te-underscore", "clte-plain"})
        fails, _ = run_corpus(f"{net}.1", 8080, sent, lambda: True, rec, "/good")
    finally:
        front.close()
        rec.close()
    assert sorted(f.split(":")[0] for f in fails) == ["absolute-form", "absolute-form",
                                                      "te-underscore", "te-underscore"], fails
    assert all("by tristack, not the backend's 200" in f or "requests at the backend, not 1" in f
               for f in fails), fails
