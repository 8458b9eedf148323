"""SIGHUP: the new file applies with no connection refused and no request
dropped; a broken file is refused and the old configuration serves on."""
import re
import socket
import subprocess
import tempfile
import threading
import time

import pytest

from conftest import ONE_ADDRESS_LOAD, wait_for
from lab import http
from lblab import LbLab


@pytest.fixture
def lab():
    with tempfile.TemporaryDirectory(prefix="tristack-lb-") as tmp:
        lab = LbLab(tmp)
        lab.backend("b1", "nginx")
        lab.backend("b2", "nginx")
        try:
            yield lab
        finally:
            lab.close()


def who(lab, n=6):
    return [http(lab.url + "/name")[2] for _ in range(n)]


def test_reload_applies_the_new_file(lab):
    lab.start_lb(["b1:8080"])
    pid = lab.lb.pid
    assert set(who(lab)) == {b"b1"}
    assert lab.reload(["b1:8080", "b2:8080 weight=2"])
    got = who(lab, 9)
    assert got.count(b"b2") == 6 and got.count(b"b1") == 3
    assert lab.lb.pid == pid  # the same process
    assert re.search(r"reloaded .*generation 2", lab.log_text())
    wait_for(lambda: "generation 1 has drained" in lab.log_text(), what="the old one gone")


def test_a_broken_file_is_refused_and_the_old_one_serves(lab):
    lab.start_lb(["b1:8080", "b2:8080"])
    lab.write_conf(["b1:8080"], "blance = leastconn\n")
    assert not lab.reload(["b1:8080"], "blance = leastconn\n")
    log = lab.log_text()
    assert re.search(r"reload refused, the running configuration stays: .*lb\.conf:\d+: "
                     r"unknown key 'blance' in \[lb\]", log), log[-800:]
    assert set(who(lab)) == {b"b1", b"b2"}


def test_health_state_survives_a_reload(lab):
    lab.start_lb(["b1:8080", "b2:8080"],
                 "check = GET /healthz interval=200ms timeout=300ms rise=2 fall=1\n")
    lab.backends[1].kill()
    wait_for(lambda: lab.server("b2")["state"] == "DOWN", what="b2 down")
    assert lab.reload(["b1:8080", "b2:8080"],
                      "check = GET /healthz interval=5s timeout=300ms rise=2 fall=1\n")
    # the new generation has not checked b2 yet, and still knows it is down
    assert lab.server("b2")["state"] == "DOWN"
    assert set(who(lab)) == {b"b1"}
    lab.backends[1].start()


def wrk(url, seconds, extra=()):
    r = subprocess.run(["wrk", "-t1", "-c16", f"-d{seconds}s", *extra, url],
                       capture_output=True, text=True, timeout=seconds + 30)
    out = r.stdout
    m = re.search(r"(\d+) requests in", out)
    return int(m.group(1)) if m else 0, out


@pytest.mark.parametrize("keepalive", [True, False])
def test_reloads_under_load_drop_nothing(lab, keepalive):
    lab.start_lb(["b1:8080", "b2:8080"], ONE_ADDRESS_LOAD)
    done = threading.Event()

    def reloader():
        n = 0
        while not done.is_set():
            time.sleep(0.3)
            lab.reload(["b1:8080", "b2:8080"] if n % 2 else ["b1:8080 weight=2", "b2:8080"],
                       ONE_ADDRESS_LOAD)
            n += 1

    t = threading.Thread(target=reloader)
    t.start()
    extra = () if keepalive else ("-H", "Connection: close")
    try:
        count, out = wrk(lab.url + "/1k.html", 4, extra)
    finally:
        done.set()
        t.join()
    assert count > 1000, out
    assert "Non-2xx" not in out and "Socket errors" not in out, out
    assert lab.log_text().count("reloaded ") >= 5


def test_new_connections_are_never_refused_during_reloads(lab):
    lab.start_lb(["b1:8080", "b2:8080"], ONE_ADDRESS_LOAD)
    stop = threading.Event()
    failures, attempts = [], [0]

    def connector():
        while not stop.is_set():
            attempts[0] += 1
            try:
                s = socket.create_connection((lab.lb_ip, 8080), timeout=2)
                s.sendall(b"GET /name HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                data = s.recv(100)
                s.close()
                if not data.startswith(b"HTTP/1.1 200"):
                    failures.append(data)
            except OSError as e:
                failures.append(repr(e))

    threads = [threading.Thread(target=connector) for _ in range(4)]
    for t in threads:
        t.start()
    for i in range(8):
        lab.reload(["b1:8080", "b2:8080"], ONE_ADDRESS_LOAD)
    stop.set()
    for t in threads:
        t.join()
    assert attempts[0] > 50
    assert failures == []
