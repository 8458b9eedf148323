"""The highly available layout (issue 16, root): conf/foobar-ha.conf in the
isolated lab. lb-01 and lb-02 share www.foobar.com's floating address with
keepalived; whichever holds it answers HTTPS and DNS on it. The short form
of the LB pair's faults: the holder powered off (every process killed, link
down) and powered on again, with the site reached by name from the client
throughout."""
import json
import os
import re
import shutil
import subprocess
import tempfile
import time

import threading

import pytest

from conftest import HAStack, alive, stack_with_web03, stack_without_web03

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None or not os.path.exists("/usr/sbin/keepalived"),
    reason="the LB pair needs root, iproute2 and keepalived (scripts/install-deps.sh)")


def keepalived_of(state):
    """PIDs of the keepalived processes (parent and VRRP child) of a state
    folder, from /proc: what down must leave none of."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"keepalived") and any(state.encode() in a for a in argv):
            if alive(int(pid)):
                out.append(int(pid))
    return out


@pytest.fixture(scope="module")
def ha():
    tmp = tempfile.mkdtemp(prefix="tristack-e2e-ha-")
    st = HAStack(tmp)
    try:
        r = st.ctl("up", "--isolated", timeout=240)
        st.up_output = r.stdout
        yield st
    finally:
        prefix = None
        try:
            prefix = st.prefix()
        except OSError:
            pass
        left = st.stop()
        kept = keepalived_of(st.state)
        shutil.rmtree(tmp, ignore_errors=True)
        assert not left, f"processes left after down: {left}"
        assert not kept, f"keepalived left after down: {kept}"
        if prefix:
            ns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
            assert prefix not in ns, ns


def curl(st, path="/", timeout=10):
    r = st.exec("client", "curl", "-s", "-S", "--max-time", str(timeout), "--cacert", st.cafile,
                "-o", "/dev/stdout", "-w", "\n%{http_code} %{remote_ip}",
                f"https://www.foobar.com{path}", timeout=timeout + 10)
    body, _, tail = r.stdout.rpartition("\n")
    code, _, ip = tail.partition(" ")
    return int(code or 0), ip, body + r.stderr


def wait_site(st, timeout=20):
    """Seconds until https://www.foobar.com/ answers 200 from the client."""
    t0 = time.monotonic()
    last = None
    while time.monotonic() - t0 < timeout:
        last = curl(st, "/", timeout=5)
        if last[0] == 200:
            return time.monotonic() - t0
        time.sleep(0.2)
    raise AssertionError(f"the site did not answer within {timeout} s: {last}")


def test_up_prints_the_site_and_one_lb_holds_the_address(ha):
    assert "www.foobar.com is up: https://www.foobar.com/" in ha.up_output
    holder = ha.holder()
    assert holder in ("lb-01", "lb-02")
    r = ha.ctl("status", check=False)
    assert re.search(rf"floating address {re.escape(ha.vip)}: held by {holder}\b", r.stdout), \
        r.stdout
    # keepalived and its agent on both LB hosts, healthy
    for host in ("lb-01", "lb-02"):
        assert re.search(rf"^{host}\s+keepalived\s+\d+\s+running\s.*ok: (MASTER|BACKUP)",
                         r.stdout, re.M), r.stdout
        assert re.search(rf"^{host}\s+tristack\s+\d+\s+running\s.*ok: tristack-lb answers",
                         r.stdout, re.M), r.stdout


def test_dns_gives_the_floating_address_and_two_name_servers(ha):
    r = ha.exec("client", "dig", "+norec", "www.foobar.com")
    assert re.search(r"^www\.foobar\.com\.\s+\d+\s+IN\s+A\s+" + re.escape(ha.vip) + r"$",
                     r.stdout, re.M), r.stdout
    assert f"SERVER: {ha.vip}#53" in r.stdout  # the client asks the floating address
    r = ha.exec("client", "dig", "+norec", "NS", "foobar.com")
    ns = sorted(re.findall(r"^\S+\s+\d+\s+IN\s+NS\s+(\S+)", r.stdout, re.M))
    assert ns == ["ns1.foobar.com.", "ns2.foobar.com."], r.stdout
    # glue: each name server's own address, lb-01's and lb-02's
    for name, host in (("ns1", "lb-01"), ("ns2", "lb-02")):
        assert re.search(rf"^{name}\.foobar\.com\.\s+\d+\s+IN\s+A\s+{re.escape(ha.addr[host])}$",
                         r.stdout, re.M), r.stdout


def test_https_by_name_on_the_floating_address(ha):
    code, ip, body = curl(ha)
    assert code == 200 and ip == ha.vip, (code, ip, body)


def test_the_standby_checks_the_web_servers_too(ha):
    """Health state is warm on the standby: it serves at once."""
    standby = "lb-02" if ha.holder() == "lb-01" else "lb-01"
    r = ha.exec("client", "curl", "-s", "--max-time", "5",
                f"http://{ha.addr[standby]}:8404/healthz")
    assert '"servers_up":2' in r.stdout, r.stdout


def test_keepalived_show_and_the_firewall(ha):
    r = ha.ctl("keepalived", "show", "lb-01")
    assert "virtual_router_id 51" in r.stdout
    assert "nopreempt" in r.stdout
    assert f"unicast_peer {{\n\t\t{ha.addr['lb-02']}\n\t}}" in r.stdout
    assert f"{ha.vip}/32 dev eth0" in r.stdout
    assert "priority 150" in r.stdout
    assert "priority 140" in ha.ctl("keepalived", "show", "lb-02").stdout
    fw = ha.ctl("firewall", "show", "lb-01").stdout
    assert re.search(rf"ip saddr {{ {re.escape(ha.addr['lb-02'])} }} ip protocol vrrp accept",
                     fw), fw
    assert "vrrp" not in ha.ctl("firewall", "show", "web-01").stdout
    r = ha.ctl("keepalived", "show", "web-01", check=False)
    assert r.returncode == 1 and "not an LB host" in r.stderr


def prom_query(ha, q):
    """An instant query to Prometheus on web-02 (the monitoring host), from
    the client host: [(labels, value)]."""
    import urllib.parse
    url = f"http://{ha.addr['web-02']}:9090/api/v1/query?query={urllib.parse.quote(q)}"
    r = ha.exec("client", "curl", "-s", "--max-time", "5", url)
    try:
        res = json.loads(r.stdout)["data"]["result"]
    except (ValueError, KeyError):
        return None
    return [(x["metric"], float(x["value"][1])) for x in res]


def test_prometheus_off_the_lbs_sees_who_holds_the_address(ha):
    """Prometheus runs on web-02, not on an LB: it scrapes both LBs and
    sees exactly one holding the address."""
    holder = ha.holder()
    deadline = time.monotonic() + 60  # a scrape or two (5 s)
    got = None
    while time.monotonic() < deadline:
        got = prom_query(ha, "tristack_lb_vip_held")
        if got and len(got) == 2 and sum(v for _, v in got) == 1:
            break
        time.sleep(1)
    assert got and len(got) == 2, got
    held = [m["host"] for m, v in got if v == 1]
    assert held == [holder], got


def servers(st):
    """{(lb, server): (health, admin)} from `tristack servers` (both LBs)."""
    rows = [l.split() for l in st.ctl("servers").stdout.splitlines()[1:]]
    return {(r[0], r[1]): (r[3], r[4]) for r in rows if len(r) >= 8}


class Visitor(threading.Thread):
    """A client in the client namespace fetching the site by name, again and
    again, until stopped: the status of each fetch, and any exception."""

    def __init__(self, st):
        super().__init__(daemon=True)
        self.st, self.stop, self.codes, self.errors = st, threading.Event(), [], []

    def run(self):
        try:
            while not self.stop.is_set():
                self.codes.append(curl(self.st, "/", timeout=5)[0])
        except Exception as e:  # counted: a dead client fails the test
            self.errors.append(repr(e))

    def finish(self):
        self.stop.set()
        self.join(timeout=30)
        assert not self.is_alive() and not self.errors, self.errors
        return self.codes


def test_drain_and_ready_reach_both_lbs(ha):
    r = ha.ctl("drain", "web-01")
    assert re.search(r"^lb-01: ok", r.stdout, re.M) and re.search(r"^lb-02: ok", r.stdout,
                                                                 re.M), r.stdout
    sv = servers(ha)
    assert sv[("lb-01", "web-01")][1] == sv[("lb-02", "web-01")][1] == "DRAIN", sv
    assert sv[("lb-01", "web-02")][1] == "READY", sv
    for _ in range(4):
        assert curl(ha)[0] == 200
    ha.ctl("ready", "web-01")
    sv = servers(ha)
    assert sv[("lb-01", "web-01")][1] == sv[("lb-02", "web-01")][1] == "READY", sv


def test_up_adds_web03_to_both_lbs_and_removes_it_drained(ha):
    addr = f"{ha.net}.4"
    with open(ha.conf) as f:
        text = f.read()
    visitor = Visitor(ha)
    visitor.start()
    try:
        with open(ha.conf, "w") as f:
            f.write(stack_with_web03(text, addr, 80))
        r = ha.ctl("up", timeout=240)
        for lb in ("lb-01", "lb-02"):
            assert re.search(rf"{lb}\s+tristack-lb\s+reloaded", r.stdout), r.stdout
        deadline = time.monotonic() + 20
        while servers(ha).get(("lb-02", "web-03"), ("",))[0] != "UP" or \
                servers(ha).get(("lb-01", "web-03"), ("",))[0] != "UP":
            assert time.monotonic() < deadline, servers(ha)
            time.sleep(0.2)
        with open(ha.conf, "w") as f:
            f.write(stack_without_web03(text))
        r = ha.ctl("up", timeout=240)
        assert re.search(r"web-03\s+drained on lb-0[12]", r.stdout), r.stdout
        assert not [k for k in servers(ha) if k[1] == "web-03"]
    finally:
        with open(ha.conf) as f:
            changed = f.read() != text
        if changed:  # failed half way: web-03 goes
            with open(ha.conf, "w") as f:
                f.write(text)
            ha.ctl("up", check=False, timeout=240)
        codes = visitor.finish()
    assert codes and set(codes) == {200}, codes


def test_upgrade_hands_both_lbs_over_without_a_failed_request(ha):
    before = {h: ha.pids()[f"{h}.lb.pid"] for h in ("lb-01", "lb-02")}
    holder = ha.holder()
    visitor = Visitor(ha)
    visitor.start()
    try:
        r = ha.ctl("upgrade", timeout=300)
    finally:
        codes = visitor.finish()
    after = {h: ha.pids()[f"{h}.lb.pid"] for h in ("lb-01", "lb-02")}
    assert all(after[h] != before[h] and not alive(before[h]) for h in before), (before, after,
                                                                                 r.stdout)
    assert ha.holder() == holder  # an upgrade moves no address
    assert len(codes) >= 5 and set(codes) == {200}, codes


def test_the_holder_powered_off_then_back(ha):
    """The holder loses power: the other LB takes the address and the site
    answers by name again within seconds; back, the host does not take the
    address back (preempt off)."""
    first = ha.holder()
    other = "lb-02" if first == "lb-01" else "lb-01"
    assert wait_site(ha) < 1
    r = ha.ctl("poweroff", first)
    assert f"{first} is powered off" in r.stdout
    took = wait_site(ha, timeout=20)
    assert ha.holder() == other
    assert took < 10, f"the site answered again only after {took:.1f} s"
    code, ip, _ = curl(ha)
    assert (code, ip) == (200, ha.vip)
    r = ha.ctl("status", check=False)
    assert re.search(rf"floating address {re.escape(ha.vip)}: held by {other}\b", r.stdout)
    # monitoring goes on without the lost LB: Prometheus (web-02) sees the
    # move and the new holder
    deadline = time.monotonic() + 60
    while True:
        got = prom_query(ha, "tristack_lb_vip_held == 1") or []
        if [m["host"] for m, _ in got] == [other]:
            break
        assert time.monotonic() < deadline, got
        time.sleep(1)
    # and alerts on it: FloatingAddressMoved fires
    deadline = time.monotonic() + 90
    while True:
        r = ha.exec("client", "curl", "-s", "--max-time", "5",
                    f"http://{ha.addr['web-02']}:9090/api/v1/alerts")
        try:
            alerts = json.loads(r.stdout)["data"]["alerts"]
        except (ValueError, KeyError):
            alerts = []
        if any(a["labels"].get("alertname") == "FloatingAddressMoved" and
               a["state"] == "firing" for a in alerts):
            break
        assert time.monotonic() < deadline, r.stdout[-2000:]
        time.sleep(1)
    # back: no flap, and the site answers throughout
    r = ha.ctl("poweron", first, timeout=120)
    assert f"{first} is powered on" in r.stdout, r.stdout + r.stderr
    deadline = time.monotonic() + 6  # six advertisement intervals
    while time.monotonic() < deadline:
        assert ha.holders() == [other]
        assert curl(ha)[0] == 200
    # the returned host is a healthy standby again
    deadline = time.monotonic() + 30
    while True:
        r = ha.ctl("status", check=False)
        if re.search(rf"^{first}\s+keepalived\s+\d+\s+running\s.*ok: BACKUP", r.stdout, re.M):
            break
        assert time.monotonic() < deadline, r.stdout
        time.sleep(0.5)


def test_keepalived_runs_as_the_account_with_three_capabilities(ha):
    """keepalived and its agent are no root: the account, and keepalived
    only CAP_NET_ADMIN, CAP_NET_RAW, CAP_NET_BROADCAST (12, 13, 11)."""
    import pwd
    uid = pwd.getpwnam("tristack").pw_uid
    want = (1 << 12) | (1 << 13) | (1 << 11)
    pids = ha.pids()
    for host in ("lb-01", "lb-02"):
        for name, caps in ((f"{host}.vrrp.pid", want), (f"{host}.vrrp-check.pid", 0)):
            with open(f"/proc/{pids[name]}/status") as f:
                status = dict(line.split(":", 1) for line in f.read().splitlines() if ":" in line)
            assert [int(x) for x in status["Uid"].split()] == [uid] * 4, (name, status["Uid"])
            assert int(status["CapEff"], 16) == caps, (name, status["CapEff"])
            assert int(status["CapBnd"], 16) == caps, (name, status["CapBnd"])
