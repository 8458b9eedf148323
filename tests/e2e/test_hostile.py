"""The hostile corpus (tests/e2e/hostile.py, issue 9) sent to the load
balancer and to a web server, each with a recording backend behind it:
every malformed request gets a 4xx or a close, a request on a new connection
after it is answered, the daemon lives on, and no request hidden in another
(a smuggled one) ever reaches the backend."""
import concurrent.futures
import json
import re
import socket
import tempfile

import pytest

import hostile
from lblab import LbLab, http
from weblab import WebLab

TIMEOUTS = "timeout_http_request = 2s\ntimeout_client = 3s\ntimeout_http_keep_alive = 1s\n"
READ_DEADLINE = 6.0  # longer than the daemons' timeouts: every attack ends


def attack(host, port, data):
    """Send data on a new connection; return (statuses, how it ended)."""
    s = socket.create_connection((host, port), timeout=READ_DEADLINE)
    got = b""
    ended = "timeout"
    try:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused before we finished: what it said is still to read
        while True:
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
    finally:
        s.close()
    return [int(c) for c in re.findall(rb"(?:^|\r\n)HTTP/1\.[01] (\d{3}) ", got)], ended


def judge(kind, statuses, ended):
    """None when the answer is right for the kind, else what is wrong."""
    if ended == "timeout":
        return f"connection neither answered nor closed in {READ_DEADLINE}s: {statuses}"
    if kind == "bad":
        # 505 is the answer for a major version other than 1 (RFC 9110 15.6.6)
        if statuses and not (400 <= statuses[0] < 500 or statuses[0] == 505):
            return f"answered {statuses[0]}, not a 4xx"
        if len(statuses) > 1:
            return f"answered more than one request: {statuses}"
        if statuses and ended not in ("closed", "reset"):
            return "kept the connection open after refusing"
    elif any(st >= 500 for st in statuses):
        return f"a 5xx for a legal request: {statuses}"
    return None


def run_corpus(host, port, path, good):
    """Every entry, 16 at a time; then the good request on a new
    connection. Returns the failures."""
    entries = hostile.corpus(path, "x")
    assert len(entries) >= 200

    def one(entry):
        name, data, kind = entry
        statuses, ended = attack(host, port, data)
        why = judge(kind, statuses, ended)
        if why is None and not good():
            why = "the next request on a new connection was not answered right"
        return None if why is None else f"{name}: {why}"

    with concurrent.futures.ThreadPoolExecutor(16) as ex:
        return [f for f in ex.map(one, entries) if f]


def smuggled(paths):
    return sorted(p for p in paths if hostile.MARK in p)


@pytest.fixture(scope="module")
def lb_lab():
    with tempfile.TemporaryDirectory(prefix="tristack-hostile-lb-") as tmp:
        lab = LbLab(tmp)
        lab.backend("b1")
        lab.backend("b2")
        try:
            lab.start_lb(["b1:8080", "b2:8080"], TIMEOUTS)
            yield lab
        finally:
            lab.close()


@pytest.fixture(scope="module")
def web_lab():
    with tempfile.TemporaryDirectory(prefix="tristack-hostile-web-") as tmp:
        lab = WebLab(tmp, web_extra=TIMEOUTS)
        try:
            lab.start()
            yield lab
        finally:
            lab.close()


def test_the_corpus_is_large_and_named_uniquely():
    entries = hostile.corpus("/name", "x")
    names = [n for n, _, _ in entries]
    assert len(entries) >= 200 and len(set(names)) == len(names)
    families = {n.split("-")[0] for n in names}
    for f in ("clte", "tecl", "cl", "chunk", "long", "ctl", "hdr", "host", "line", "target",
              "pipeline", "absolute"):
        assert f in families, f


def test_load_balancer_refuses_the_corpus_and_smuggles_nothing(lb_lab):
    good = lambda: http(lb_lab.url + "/name", timeout=5)[0] == 200  # noqa: E731
    failures = run_corpus(lb_lab.lb_ip, 8080, "/name", good)
    assert lb_lab.lb.poll() is None
    seen = []
    for b in lb_lab.backends:
        seen += [p for _, p in b.stats()["requests"]]
    assert seen, "the backends saw nothing: the recording does not work"
    failures += [f"smuggled: {p}" for p in smuggled(seen)]
    assert not failures, "\n".join(failures)


def test_web_server_refuses_the_corpus_and_smuggles_nothing(web_lab):
    ip = web_lab.ip
    good = lambda: http(web_lab.url + "/api/name", timeout=5)[0] == 200  # noqa: E731
    failures = run_corpus(ip, 8080, "/api/name", good)
    assert web_lab.web.poll() is None
    host, port = web_lab.apps[0]["addr"].rsplit(":", 1)
    stats = http(f"http://{host}:{port}/control/stats")[2]
    seen = [p for _, p in json.loads(stats)["requests"]]
    assert "/name" in seen, "the app saw nothing: the recording does not work"
    failures += [f"smuggled: {p}" for p in smuggled(seen)]
    assert not failures, "\n".join(failures)
