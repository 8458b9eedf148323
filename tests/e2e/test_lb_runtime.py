"""The LB's runtime API (its Unix socket, {state}/run/HOST.lb.sock, and
`tristack drain|ready|maint|weight|servers`): a drained server takes no new
request, on new connections or kept-alive ones, while its requests in
flight finish; maint stops its traffic and its checks; ready brings it
back; a weight changes the split; the states outlive a reload and a
restart; bad input gets an error line, never a hang; the socket is the
account's and its group's only. Then on a whole stack: web-01 drained and
back under load, not one request failed."""
import http.client as httpc
import os
import re
import socket
import stat
import subprocess
import threading
import time

import pytest

from conftest import binary, own_stack, wait_for
from lab import http
from lblab import lab_of

CHECK = "check = GET /healthz interval=200ms timeout=300ms rise=2 fall=2 expect=2xx\n"


@pytest.fixture
def lab():
    with lab_of("b1", "b2") as lab:
        yield lab


def servers(lab):
    """show servers: name -> its row as a dict."""
    rows = {}
    for line in lab.runtime("show servers")[0].splitlines():
        if line.startswith("#"):
            continue
        name, addr, health, admin, weight, fweight, active, backup = line.split()
        rows[name] = dict(address=addr, health=health, admin=admin, weight=int(weight),
                          file_weight=int(fweight), active=int(active), backup=backup)
    return rows


def who(lab, n):
    """The backends that answered n requests, each on a new connection."""
    return [http(lab.url + "/name")[2].decode() for _ in range(n)]


def healthz_count(backend):
    return sum(1 for m, p in backend.stats()["requests"] if p.startswith("/healthz"))


def test_drain_takes_no_new_request_and_lets_those_in_flight_finish(lab):
    lab.start_lb(["b1:8080", "b2:8080"], CHECK + "threads = 2\n")
    b1 = lab.backends[0]
    # a slow request on b1: b2 drained for as long as it takes to land
    assert lab.runtime("set server b2 state drain") == ["ok: b2 is DRAIN (was READY)"]
    slow = {}
    t = threading.Thread(target=lambda: slow.update(r=http(lab.url + "/slow?ms=1500")))
    t.start()
    wait_for(lambda: servers(lab)["b1"]["active"] == 1, what="the slow request on b1")
    # a kept-alive client connection that has used both servers
    lab.runtime("set server b2 state ready")
    conn = httpc.HTTPConnection(lab.lb_ip, 8080, timeout=10)

    def on_conn():
        conn.request("GET", "/name")
        r = conn.getresponse()
        return r.status, r.read().decode()

    before = {on_conn()[1] for _ in range(4)}
    assert before == {"b1", "b2"}
    assert lab.runtime("set server b1 state drain") == ["ok: b1 is DRAIN (was READY)"]
    assert servers(lab)["b1"]["admin"] == "DRAIN"
    # new connections, and the kept-alive one: b2 only
    assert set(who(lab, 10)) == {"b2"}
    assert {on_conn() for _ in range(6)} == {(200, "b2")}
    conn.close()
    # the request in flight on b1 finishes
    t.join(timeout=10)
    assert slow["r"][0] == 200 and slow["r"][2] == b"b1"
    wait_for(lambda: servers(lab)["b1"]["active"] == 0, what="b1 left")
    # checks go on while drained: DRAIN is not DOWN
    n = healthz_count(b1)
    wait_for(lambda: healthz_count(b1) >= n + 2, what="b1 still checked")
    assert servers(lab)["b1"]["health"] == "UP"
    assert re.search(r"server b1 is DRAIN \(was READY\), by the runtime API", lab.log_text())
    m = lab.metrics()
    assert 'tristack_lb_server_admin_state{server="b1",state="drain"} 1' in m
    assert 'tristack_lb_server_admin_state{server="b1",state="ready"} 0' in m
    assert 'tristack_lb_server_admin_state{server="b2",state="ready"} 1' in m
    assert lab.server("b1")["admin"] == "DRAIN"
    # the access log says nothing new: b1's slow request is an ordinary line
    assert any(" servers/b1 " in line and '"GET /slow?ms=1500' in line
               for line in lab.access_lines())
    # ready: traffic comes back
    assert lab.runtime("set server b1 state ready") == ["ok: b1 is READY (was DRAIN)"]
    assert set(who(lab, 6)) == {"b1", "b2"}


def test_maint_stops_traffic_and_checks_and_ready_brings_it_back(lab):
    lab.start_lb(["b1:8080", "b2:8080"], CHECK)
    b1 = lab.backends[0]
    wait_for(lambda: healthz_count(b1) >= 2, what="b1 checked")
    assert lab.runtime("set server b1 state maint") == ["ok: b1 is MAINT (was READY)"]
    requests_before = len(b1.stats()["requests"])
    assert set(who(lab, 8)) == {"b2"}
    time.sleep(1.0)  # five check intervals: none may come
    assert len(b1.stats()["requests"]) == requests_before
    assert 'tristack_lb_server_admin_state{server="b1",state="maint"} 1' in lab.metrics()
    assert lab.runtime("set server b1 state ready") == ["ok: b1 is READY (was MAINT)"]
    # back once a check passes (at once, then rise = 2)
    wait_for(lambda: "b1" in who(lab, 2), timeout=3, what="b1 taking requests again")
    assert healthz_count(b1) >= 1


def test_drain_or_maint_of_all_warns_and_a_backup_steps_in(lab):
    lab.backend("b3")
    lab.start_lb(["b1:8080", "b2:8080", "b3:8080 backup"])
    lab.runtime("set server b1 state drain")
    answer = lab.runtime("set server b2 state maint")[0]
    assert answer == "ok: b2 is MAINT (was READY)"  # the backup still takes requests
    assert set(who(lab, 4)) == {"b3"}
    answer = lab.runtime("set server b3 state drain")[0]
    assert answer.splitlines() == ["ok: b3 is DRAIN (was READY)",
                                   "warning: no server takes new requests now: every request "
                                   "gets 503"]
    assert http(lab.url + "/name")[0] == 503


def test_weight_changes_the_split(lab):
    lab.start_lb(["b1:8080", "b2:8080"])
    assert lab.runtime("set server b1 weight 3") == ["ok: b1 has weight 3 (was 1)"]
    got = who(lab, 200)
    assert 140 <= got.count("b1") <= 160, got.count("b1")  # 3:1, give or take
    assert 'tristack_lb_server_weight{server="b1"} 3' in lab.metrics()
    assert lab.server("b1")["weight"] == 3 and lab.server("b1")["config_weight"] == 1
    lab.runtime("set server b1 weight 0")
    assert set(who(lab, 6)) == {"b2"}


def test_states_outlive_a_reload_and_a_restart(lab):
    lab.start_lb(["b1:8080", "b2:8080"])
    lab.runtime("set server b1 state drain", "set server b2 weight 5")
    pid = lab.lb.pid
    assert lab.reload(["b1:8080", "b2:8080"])
    s = servers(lab)
    assert s["b1"]["admin"] == "DRAIN" and s["b2"]["weight"] == 5
    assert set(who(lab, 6)) == {"b2"}
    # the file changes b2's weight: the file's is taken
    assert lab.reload(["b1:8080", "b2:8080 weight=2"])
    s = servers(lab)
    assert s["b1"]["admin"] == "DRAIN" and s["b2"]["weight"] == 2
    assert "the stack file's weight 2 replaces the runtime API's 5" in lab.log_text()
    # a server the reload removes is forgotten: back, it is READY
    assert lab.reload(["b2:8080"])
    assert lab.reload(["b1:8080", "b2:8080"])
    assert servers(lab)["b1"]["admin"] == "READY"
    assert lab.lb.pid == pid
    # a restart: {state}/run/lb-01.lb.servers
    lab.runtime("set server b2 state maint")
    saved = open(os.path.join(lab.state, "run", "lb-01.lb.servers")).read()
    assert "\nb2 maint 1 1\n" in saved
    lab.stop_lb()
    assert not os.path.exists(lab.socket)  # removed with the LB
    lab.start_lb(["b1:8080", "b2:8080"])
    assert servers(lab)["b2"]["admin"] == "MAINT"
    assert set(who(lab, 4)) == {"b1"}
    assert "server b2 stays MAINT" in lab.log_text()


def raw(lab, data, timeout=5):
    """Send bytes and the end of them, read until the LB closes (or the
    timeout)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(lab.socket)
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        out = b""
        while True:
            b = s.recv(65536)
            if not b:
                return out
            out += b


def test_bad_input_gets_an_error_line_never_a_hang(lab):
    lab.start_lb(["b1:8080", "b2:8080"])
    answers = lab.runtime("help", "bogus", "set server b9 state drain",
                          "set server b1 state sleepy", "set server b1 weight 999", "",
                          "show servers please")
    assert "set server NAME state drain" in answers[0]
    assert answers[1:] == [
        "error: unknown command 'bogus' (try help)",
        "error: no server 'b9' (show servers lists them)",
        "error: unknown state 'sleepy' (ready, drain or maint)",
        "error: bad weight '999' (a whole number, 0..256)",
        "error: empty command (try help)",
        "error: usage: show servers",
    ]
    # CRLF lines, a last line without its newline, binary bytes, quit
    assert raw(lab, b"show servers\r\nquit\r\n").startswith(b"# name")
    assert raw(lab, b"set server b1 weight 2").startswith(b"ok: b1 has weight 2")
    assert raw(lab, b"\x00\xff\x1b[2J\n").startswith(b"error: only printable ASCII")
    # a line too long: an error, and the connection ends
    out = raw(lab, b"x" * 5000)
    assert out == b"error: line too long (512 bytes at most)\n\n"
    # a silent client is closed after 10 s, and meanwhile nothing waits on it
    silent = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        silent.connect(lab.socket)
        t0 = time.monotonic()
        assert lab.runtime("show servers")[0].startswith("# name")
        assert http(lab.url + "/name")[0] == 200
        silent.settimeout(15)
        assert silent.recv(10) == b""
        assert 9 <= time.monotonic() - t0 < 14
    finally:
        silent.close()
    assert servers(lab)["b1"]["weight"] == 2


def test_the_socket_is_the_accounts_and_its_groups_only(lab):
    lab.start_lb(["b1:8080"])
    st = os.stat(lab.socket)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o660, oct(st.st_mode)
    assert st.st_uid == os.getuid() or os.getuid() == 0
    saved = os.stat(os.path.join(lab.state, "run", "lb-01.lb.servers"))
    assert stat.S_IMODE(saved.st_mode) & 0o007 == 0  # nothing for others


def test_the_cli_talks_to_the_lab(lab):
    lab.start_lb(["b1:8080", "b2:8080"])

    def ctl(*args):
        return subprocess.run([binary("tristack"), "-c", lab.conf, "--state", lab.state, *args],
                              capture_output=True, text=True, timeout=30)

    r = ctl("drain", "b1")
    assert r.returncode == 0, r.stderr
    assert "lb-01: ok: b1 is DRAIN (was READY)" in r.stdout
    r = ctl("servers")
    assert r.returncode == 0 and re.search(r"lb-01\s+b1\s+\S+\s+UP\s+DRAIN", r.stdout), r.stdout
    assert ctl("weight", "b2", "4").returncode == 0
    assert servers(lab)["b2"]["weight"] == 4
    assert ctl("maint", "b2").returncode == 0 and servers(lab)["b2"]["admin"] == "MAINT"
    assert ctl("ready", "b1").returncode == 0 and ctl("ready", "b2").returncode == 0
    r = ctl("drain", "nosuch")
    assert r.returncode != 0 and "nosuch" in r.stderr
    r = ctl("weight", "b1", "300")
    assert r.returncode != 0 and "0..256" in r.stderr
    lab.stop_lb()
    r = ctl("drain", "b1")
    assert r.returncode != 0 and "lb-01" in r.stderr and "does not answer" in r.stderr


def test_drain_and_ready_on_a_running_stack_fail_no_request():
    """`tristack up`, then web-01 drained under 8 clients and back: the
    site answers 200 throughout, web-01 takes no new request meanwhile."""
    with own_stack() as st:
        ctx = st.ssl_context()
        stop = threading.Event()
        counts = {"ok": 0, "failed": 0, "by": {}}
        lock = threading.Lock()

        def client():
            while not stop.is_set():
                try:
                    conn = httpc.HTTPSConnection(st.lb, 8443, context=ctx, timeout=10)
                    for _ in range(20):
                        conn.request("GET", "/", headers={"Host": "www.foobar.com"})
                        r = conn.getresponse()
                        r.read()
                        with lock:
                            if r.status == 200:
                                counts["ok"] += 1
                                by = r.getheader("X-Served-By") or "?"
                                counts["by"][by] = counts["by"].get(by, 0) + 1
                            else:
                                counts["failed"] += 1
                        if stop.is_set():
                            break
                    conn.close()
                except (OSError, httpc.HTTPException):
                    with lock:
                        counts["failed"] += 1

        threads = [threading.Thread(target=client) for _ in range(8)]
        for t in threads:
            t.start()
        try:
            wait_for(lambda: counts["ok"] >= 50, timeout=20, what="load flowing")
            r = st.ctl("drain", "web-01")
            assert "lb-01: ok: web-01 is DRAIN" in r.stdout, r.stdout
            assert re.search(r"lb-01\s+web-01\s+\S+\s+UP\s+DRAIN", st.ctl("servers").stdout)
            with lock:
                base = dict(counts["by"])
                ok0 = counts["ok"]
            # drained for 3 s (and 200 requests at least) under the load
            t_drained = time.monotonic()
            wait_for(lambda: counts["ok"] >= ok0 + 200 and time.monotonic() - t_drained >= 3,
                     timeout=20, what="load while drained")
            # what web-01 answered since: at most the requests in flight then
            with lock:
                during = counts["by"].get("web-01", 0) - base.get("web-01", 0)
            assert during <= 8, counts
            st.ctl("ready", "web-01")
            wait_for(lambda: counts["by"].get("web-01", 0) > base.get("web-01", 0) + 8,
                     timeout=20, what="web-01 back")
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=30)
        assert counts["failed"] == 0, counts
        assert counts["ok"] >= 250
