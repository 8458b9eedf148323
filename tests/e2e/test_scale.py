"""Changing a running stack from its file (src/ctl/reconcile.c):
`tristack reload` applies an edit to every running daemon (and refuses a
broken file before signalling any); `tristack up` on a running stack starts
a host the file adds (web-03: web server, app, a MariaDB replica seeded by
replication), has the LBs and the apps take it, and drains and stops a host
the file removes; `down` stops a host dropped from the file without an up.
Loopback, and isolated (root: web-03's namespace and the firewalls of the
others follow it). The same under load, with 0 failed requests, is the
fault suite's `scale-web` (tests/faults/)."""
import json
import os
import re
import shutil
import subprocess
import tempfile

import pytest

from conftest import (IsolatedStack, alive, curl, own_stack, stack_with_web03,
                      stack_without_web03, wait_for)


def edit(st, fn):
    with open(st.conf) as f:
        text = fn(f.read())
    with open(st.conf, "w") as f:
        f.write(text)


def servers(st):
    """{server: (health, admin, file weight)} as the LB's runtime API says."""
    out = st.ctl("servers").stdout
    rows = [l.split() for l in out.splitlines()[1:] if l.split()]
    return {r[1]: (r[3], r[4], r[6]) for r in rows}


def served(st, host):
    """Requests in host's access log other than the LBs' health checks."""
    try:
        with open(os.path.join(st.state, "log", f"{host}.web.access.log")) as f:
            return sum(1 for line in f if "/healthz" not in line)
    except FileNotFoundError:
        return 0


def web03_pids(st):
    return {n: p for n, p in st.pids().items() if n.startswith("web-03.")}


def root_sql(st, host, q):
    """q on host's MariaDB, over its socket, as root."""
    sock = os.path.join(st.state, "run", f"{host}.db.sock")
    r = subprocess.run(["mariadb", "--no-defaults", "-S", sock, "-u", "root", "-N", "-B", "-e",
                        q], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    return r.stdout


def db_rows(st, host, body):
    """Posts with this body in host's MariaDB."""
    return int(root_sql(st, host, "SELECT COUNT(*) FROM foobar.posts "
                                  f"WHERE body = '{body}'").strip())


@pytest.fixture(scope="module")
def st():
    with own_stack("tristack-e2e-scale-") as s:
        yield s


def test_reload_applies_an_edit_to_every_running_daemon(st):
    before = st.pids()
    edit(st, lambda t: re.sub(r"^(server\s*= web-01:\d+) weight=1", r"\1 weight=3", t,
                              flags=re.M))
    r = st.ctl("reload")
    for host, daemon in (("lb-01", "tristack-lb"), ("lb-01", "tristack-dns"),
                         ("web-01", "tristack-web"), ("web-02", "tristack-app")):
        assert re.search(rf"{host}\s+{daemon}\s+reloaded \(pid", r.stdout), r.stdout
    assert servers(st)["web-01"][2] == "3"
    assert st.pids() == before  # reloaded, not restarted
    edit(st, lambda t: t.replace("weight=3", "weight=1"))
    st.ctl("reload")
    assert servers(st)["web-01"][2] == "1"


def test_reload_refuses_a_broken_file_and_signals_nothing(st):
    with open(st.conf) as f:
        good = f.read()
    log = os.path.join(st.state, "log", "lb-01.lb.log")
    size = os.path.getsize(log)
    edit(st, lambda t: t.replace("[lb]\n", "[lb]\nbalance_typo = yes\n", 1))
    try:
        r = st.ctl("reload", check=False)
        assert r.returncode != 0
        line = good[:good.index("[lb]\n")].count("\n") + 2
        assert f"stack.conf:{line}" in r.stderr, r.stderr
        with open(log) as f:
            f.seek(size)
            assert "reload" not in f.read()
    finally:
        with open(st.conf, "w") as f:
            f.write(good)
    assert curl(st.url + "/")[0] == 200


def test_up_on_a_running_stack_narrows_the_app_account_to_its_grants(st):
    """Without a moment of fewer grants (the apps use the account meanwhile:
    the fault suite's scale-web sees no error), what was added by hand goes."""
    root_sql(st, "web-01", "GRANT ALL ON *.* TO 'app'@'127.%'; "
                           "GRANT UPDATE, DELETE ON foobar.posts TO 'app'@'127.%' "
                           "WITH GRANT OPTION; "
                           "GRANT SELECT ON mysql.* TO 'app'@'127.%'; "
                           "GRANT SELECT, UPDATE ON mysql.db TO 'app'@'127.%' "
                           "WITH GRANT OPTION; "
                           "GRANT SELECT (host) ON foobar.heartbeat TO 'app'@'127.%' "
                           "WITH GRANT OPTION")
    st.ctl("up", timeout=120)
    grants = sorted(root_sql(st, "web-01", "SHOW GRANTS FOR 'app'@'127.%'").splitlines())
    assert [g.split(" IDENTIFIED")[0] for g in grants] == [
        "GRANT SELECT, INSERT ON `foobar`.`posts` TO `app`@`127.%`",
        "GRANT SELECT, INSERT, DELETE ON `foobar`.`heartbeat` TO `app`@`127.%`",
        "GRANT USAGE ON *.* TO `app`@`127.%`"], grants


def test_up_refuses_to_drop_the_running_primary(st):
    """web-01's database is the primary: a file without web-01 (and web-02
    made db-primary in it) would stop the writable instance and lose what
    only it has. up refuses before it changes anything."""
    with open(st.conf) as f:
        good = f.read()
    before = st.pids()
    bad = re.sub(r"^\[host web-01\]\n(?:[^\[\n].*\n)*\n?", "", good, flags=re.M)
    bad = re.sub(r"^server\s*= web-01:.*\n", "", bad, flags=re.M)
    bad = bad.replace("roles   = web, app, db-replica", "roles   = web, app, db-primary")
    assert bad != good and "web-01" not in bad.split("[lb]")[0]
    try:
        with open(st.conf, "w") as f:
            f.write(bad)
        r = st.ctl("up", check=False, timeout=60)
        assert r.returncode == 1, r.stdout + r.stderr
        assert "web-01's database is the primary (writable)" in r.stderr, r.stderr
    finally:
        with open(st.conf, "w") as f:
            f.write(good)
    assert st.pids() == before
    assert curl(st.url + "/")[0] == 200


def test_up_adds_web03_and_the_lb_sends_to_it(st):
    with open(st.cafile, "rb") as f:
        ca = f.read()
    edit(st, lambda t: stack_with_web03(t, f"{st.net}.4", 8080))
    r = st.ctl("reload", check=False)  # a host to start is up's
    assert r.returncode == 1 and "tristack up's to do" in r.stderr, r.stdout + r.stderr
    r = st.ctl("up", timeout=180)
    with open(st.cafile, "rb") as f:  # the CA every client trusts stays
        assert f.read() == ca, r.stdout
    assert "the stack runs" in r.stdout, r.stdout
    assert re.search(r"web-03\s+tristack-web\s+up \(pid", r.stdout), r.stdout
    assert re.search(r"lb-01\s+tristack-lb\s+reloaded", r.stdout), r.stdout
    assert "web-03 replicates from web-01" in r.stdout, r.stdout
    wait_for(lambda: servers(st).get("web-03", ("",))[0] == "UP", timeout=15,
             what="web-03 UP on the LB")
    assert servers(st)["web-03"][1] == "READY"
    for _ in range(9):
        assert curl(st.url + "/")[0] == 200
    wait_for(lambda: served(st, "web-03") > 0, timeout=5, what="a request served by web-03")
    # a post written through the site reaches web-03's replica
    status, _, body = curl("-X", "POST", "-H", "Content-Type: application/json",
                           "--data", '{"author":"scale","body":"scale-out-1"}',
                           st.url + "/api/posts")
    assert status == 201, body
    wait_for(lambda: db_rows(st, "web-03", "scale-out-1") == 1, timeout=10,
             what="the post on web-03's replica")
    units = json.loads(st.ctl("status", "--json").stdout)["units"]
    web03 = {u["role"]: u for u in units if u["host"] == "web-03"}
    assert set(web03) == {"web", "app", "db"}
    assert all(u["healthy"] for u in web03.values()), web03


def test_up_drains_and_stops_web03_when_the_file_drops_it(st):
    pids = web03_pids(st)
    assert {"web-03.web.pid", "web-03.app.pid", "web-03.db.pid"} <= set(pids)
    edit(st, stack_without_web03)
    r = st.ctl("up", timeout=180)
    drained = re.search(r"web-03\s+drained on lb-01", r.stdout)
    reloaded = re.search(r"lb-01\s+tristack-lb\s+reloaded", r.stdout)
    stopped = re.search(r"web-03\s+web\s+stopped \(pid", r.stdout)
    assert drained and reloaded and stopped, r.stdout
    assert drained.start() < reloaded.start() < stopped.start(), r.stdout
    for name, pid in pids.items():
        assert not alive(pid), (name, pid)
    assert web03_pids(st) == {}
    assert "web-03" not in servers(st)
    for _ in range(6):
        assert curl(st.url + "/")[0] == 200


def test_down_stops_a_host_dropped_from_the_file_without_an_up(st):
    edit(st, lambda t: stack_with_web03(t, f"{st.net}.4", 8080))
    st.ctl("up", timeout=180)
    pids = web03_pids(st)
    assert len(pids) == 3
    edit(st, stack_without_web03)
    st.ctl("down", timeout=120)
    for name, pid in pids.items():
        assert not alive(pid), (name, pid)


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("ip") is None,
                    reason="isolated mode needs root and iproute2")
def test_isolated_up_adds_and_removes_web03_with_its_namespace_and_firewalls():
    tmp = tempfile.mkdtemp(prefix="tristack-e2e-scale-iso-")
    lab = IsolatedStack(tmp)
    addr = f"{lab.net}.4"
    try:
        lab.ctl("up", "--isolated", timeout=240)
        ns = lab.ns("web-03")

        def ns_exists():
            return os.path.exists(f"/run/netns/{ns}")

        def rules(host):
            return subprocess.run(["ip", "netns", "exec", lab.ns(host), "nft", "list", "table",
                                   "inet", "tristack"], capture_output=True,
                                  text=True).stdout

        assert not ns_exists() and addr not in rules("web-01")
        edit(lab, lambda t: stack_with_web03(t, addr, 80))
        r = lab.ctl("up", timeout=240)
        assert re.search(r"web-03\s+its namespace and firewall are made", r.stdout), r.stdout
        assert ns_exists()
        assert addr in rules("web-01")  # its app reaches the primary's 3306
        assert lab.ns("lb-01") and "web: from the load balancer" in rules("web-03")
        wait_for(lambda: servers(lab).get("web-03", ("",))[0] == "UP", timeout=20,
                 what="web-03 UP on the LB")
        for _ in range(9):
            c = lab.exec("client", "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                         "--cacert", lab.cafile, "https://www.foobar.com/")
            assert c.stdout == "200", (c.stdout, c.stderr)
        wait_for(lambda: served(lab, "web-03") > 0, timeout=5,
                 what="a request served by web-03")
        pids = web03_pids(lab)
        edit(lab, stack_without_web03)
        r = lab.ctl("up", timeout=240)
        assert re.search(r"web-03\s+drained on lb-01", r.stdout), r.stdout
        assert re.search(r"web-03\s+its namespace is gone", r.stdout), r.stdout
        assert not ns_exists()
        assert addr not in rules("web-01")
        for name, pid in pids.items():
            assert not alive(pid), (name, pid)
        assert not os.path.exists(os.path.join(lab.state, "firewall", "web-03.nft"))
    finally:
        lab.stop()
        shutil.rmtree(tmp, ignore_errors=True)
