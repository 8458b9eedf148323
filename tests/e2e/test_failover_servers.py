"""Automatic failover as it runs on three real servers (docs/deploy.md):
`tristack failover-monitor lb-01` on the monitoring host, reaching every
MariaDB instance over TCP as its own account (tsfailover, from lb-01's
address), and `tristack db-guard HOST` beside each instance.

On a loopback stack of its own whose supervisor does not fail over ([db]
auto_failover = off in its stack file: only the monitor under test acts).
The bundles of the same stack file with auto_failover = on are made from
the stack's state folder (so their passwords are the stack's), and the
agents run as their units say: the monitor with lb-01's bundle's stack file
and a state folder of its own holding what the bundle's secrets/ holds; the
account made by the tsfailover statements of web-01's provision.sql; each
guard in a network namespace of its own (unshare), where its nftables table
touches nothing else. Each agent is stopped by its PID at the end, also
when a test fails.

What a server does that the lab does not is said where it is stood in for:
a pulled plug is the primary's mariadbd killed with the power mark set
(the supervisor leaves it down); a server's cnf starts every instance
read-only, which the lab does for every instance its state folder does not
name as the primary, so the test names there the one the servers' cnf
would not bring back writable.
"""
import os
import re
import shutil
import signal
import subprocess
import tarfile

import pytest

from applab import Client, db_query
from conftest import ROOT, alive, binary, own_stack, wait_for
from lab import read_text, spawn, stop

HOSTS = ("lb-01", "web-01", "web-02")


def short_failover(text):
    return text.replace("[db]\n", "[db]\nfailover_after = 2s\n", 1)


class Servers:
    """The bundles (auto_failover = on) unpacked, and the agents started
    from their units."""

    def __init__(self, lab):
        self.lab = lab
        self.dir = os.path.join(lab.tmp, "servers")
        os.makedirs(self.dir)
        self.conf = os.path.join(self.dir, "servers.conf")
        with open(lab.conf) as f:
            text = f.read()
        with open(self.conf, "w") as f:
            f.write(text.replace("[db]\n", "[db]\nauto_failover = on\n", 1))
        self.trees = {}
        for host in HOSTS:
            out = os.path.join(self.dir, f"{host}.tar.gz")
            r = subprocess.run([binary("tristack"), "-c", self.conf, "--state", lab.state,
                                "bundle", host, "-o", out], capture_output=True, text=True,
                               cwd=ROOT, timeout=60)
            assert r.returncode == 0, r.stderr
            with tarfile.open(out) as t:
                t.extractall(self.dir)  # our own tarball
            self.trees[host] = os.path.join(self.dir, f"tristack-{host}")
        # the monitoring host's /var/lib/tristack: what its bundle installs there
        self.mon_state = os.path.join(self.dir, "lb-01-state")
        shutil.copytree(os.path.join(self.trees["lb-01"], "secrets"),
                        os.path.join(self.mon_state, "secrets"))
        self.procs = {}

    def unit_argv(self, host, unit, state):
        """The unit's ExecStart, its paths made this machine's."""
        text = read_text(os.path.join(self.trees[host], "systemd", f"{unit}.service"))
        line = re.search(r"^ExecStart=(.*)$", text, re.M).group(1)
        line = line.replace("/usr/local/bin/", os.path.join(binary(""), ""))
        line = line.replace("/etc/tristack/foobar.conf",
                            os.path.join(self.trees[host], "etc", "tristack", "foobar.conf"))
        return line.replace("/var/lib/tristack", state).split()

    def log(self, name):
        return os.path.join(self.lab.state, "log", f"servers-{name}.log")

    def start_monitor(self):
        argv = self.unit_argv("lb-01", "tristack-failover-monitor", self.mon_state)
        self.procs["monitor"] = spawn(argv, self.log("monitor"))

    def start_guard(self, host):
        # the db host's /var/lib/tristack/run holds the links to its socket
        # and pid file: the lab's state folder holds the same
        argv = self.unit_argv(host, "tristack-db-guard", self.lab.state)
        self.procs[host] = spawn(["unshare", "--net", *argv], self.log(f"guard-{host}"))

    def log_text(self, name):
        return read_text(self.log(name))

    def status(self):
        r = subprocess.run([binary("tristack"), "-c",
                            os.path.join(self.trees["lb-01"], "etc", "tristack", "foobar.conf"),
                            "--state", self.mon_state, "status"],
                           capture_output=True, text=True, timeout=60)
        return [l for l in r.stdout.splitlines() if l.startswith("database primary:")][0]

    def mon_file(self, name):
        return read_text(os.path.join(self.mon_state, "db", name)).strip()

    def fence_table(self, host):
        """The guard's nftables table in its namespace ("" when there is none)."""
        r = subprocess.run(["nsenter", "-t", str(self.procs[host].pid), "-n", "nft", "list",
                            "table", "inet", "tsfence"], capture_output=True, text=True,
                           timeout=30)
        return r.stdout if r.returncode == 0 else ""

    def stop(self, name):
        p = self.procs.get(name)
        rc = stop(p, timeout=10)
        assert p is None or not p.killed, f"{name} did not end on SIGTERM"
        return rc


@pytest.fixture(scope="module")
def lab():
    if os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("nft") is None:
        pytest.skip("the guards run in network namespaces of their own: root, unshare, nft")
    with own_stack("tristack-e2e-fo-servers-", edit=short_failover, up_timeout=120) as st:
        yield st


@pytest.fixture(scope="module")
def servers(lab):
    s = Servers(lab)
    try:
        # the account, as web-01's install.sh makes it: its provision.sql's
        # statements for it, run on the primary (replication takes them on)
        sql = read_text(os.path.join(s.trees["web-01"], "mariadb", "provision.sql"))
        block = re.search(r"^-- lb-01: the failover monitor.*?\n\n", sql, re.M | re.S).group(0)
        sock = os.path.join(lab.state, "run", "web-01.db.sock")
        subprocess.run(["mariadb", "--socket", sock, "-uroot"], input=block, text=True,
                       check=True, timeout=30)
        wait_for(lambda: db_query(lab, "web-02", "SELECT COUNT(*) FROM mysql.global_priv "
                                                 "WHERE User = 'tsfailover'") == [("1",)],
                 timeout=20, what="the account on web-02")
        s.start_monitor()
        for host in ("web-01", "web-02"):
            s.start_guard(host)
        yield s
    finally:
        for name in list(s.procs):
            stop(s.procs[name], timeout=10)
        for name in ("monitor", "guard-web-01", "guard-web-02"):
            assert "AddressSanitizer" not in s.log_text(name), s.log_text(name)[-3000:]


def read_only(lab, host):
    return db_query(lab, host, "SELECT @@read_only")[0][0]


def slave(lab, host):
    out = subprocess.run(["mariadb", "--socket", os.path.join(lab.state, "run", f"{host}.db.sock"),
                          "-uroot", "-e", "SHOW SLAVE STATUS\\G"], capture_output=True,
                         text=True, timeout=30, check=True).stdout
    return dict(re.findall(r"^\s*(\w+): (.*)$", out, re.M))


def rows_on(lab, host, ids):
    sql = f"SELECT COUNT(*) FROM foobar.posts WHERE id IN ({','.join(map(str, ids))})"
    return int(db_query(lab, host, sql)[0][0])


def test_the_monitor_watches_the_primary_over_tcp(lab, servers):
    wait_for(lambda: "watching the database primary (web-01 now) from lb-01" in
             servers.log_text("monitor"), timeout=10, what="the monitor's start")
    line = servers.status()
    assert line.startswith("database primary: web-01; automatic failover on"), line
    assert re.search(r"tristack failover-monitor running \(pid \d+\)", line), line
    # its sessions come from lb-01's address, as the account it has (they
    # last milliseconds: counted by the server's user statistics)
    db_query(lab, "web-01", "SET GLOBAL userstat = ON")
    try:
        wait_for(lambda: db_query(lab, "web-01", "SELECT COUNT(*) FROM "
                                  "information_schema.CLIENT_STATISTICS WHERE CLIENT = "
                                  f"'{lab.net}.1'") == [("1",)] and
                 int(db_query(lab, "web-01", "SELECT IFNULL(SUM(TOTAL_CONNECTIONS), 0) FROM "
                              "information_schema.USER_STATISTICS WHERE USER = "
                              "'tsfailover'")[0][0]) > 2,
                 timeout=10, interval=0.2, what="sessions of tsfailover from lb-01")
    finally:
        db_query(lab, "web-01", "SET GLOBAL userstat = OFF")
    for host in ("web-01", "web-02"):
        wait_for(lambda: "writable or a replica: open" in servers.log_text(f"guard-{host}"),
                 timeout=10, what=f"the guard of {host}")
        assert servers.fence_table(host) == ""


def test_a_lost_primary_is_replaced_and_writes_go_on(lab, servers):
    c = Client(lab.url)
    before = [c.post("before", f"before the plug is pulled {i}")[2]["id"] for i in range(5)]
    # nothing in flight when the plug is pulled: what web-01 has, web-02 has
    # (a write cut in its commit is the fault suite's to prove, not this)
    db_query(lab, "web-01", "SET GLOBAL read_only = ON")
    pos = db_query(lab, "web-01", "FLUSH TABLES WITH READ LOCK; UNLOCK TABLES; "
                                  "SELECT @@gtid_binlog_pos")[0][0]
    assert db_query(lab, "web-02", f"SELECT MASTER_GTID_WAIT('{pos}', 20)") == [("0",)]
    os.makedirs(os.path.join(lab.state, "power"), exist_ok=True)
    with open(os.path.join(lab.state, "power", "web-01.off"), "w"):
        pass  # the supervisor leaves web-01 down
    os.kill(lab.pids()["web-01.db.pid"], signal.SIGKILL)
    wait_for(lambda: read_only(lab, "web-02") == "0", timeout=20, interval=0.2,
             what="web-02 promoted by the monitor")
    log = servers.log_text("monitor")
    assert "web-01 does not answer (its own probe)" in log, log
    assert "web-01 is lost" in log and "promoting web-02" in log, log
    assert "web-02 is the primary (1 failover so far)" in log, log
    assert servers.mon_file("primary") == "web-02"
    assert servers.mon_file("failover").split()[1:3] == ["web-01", "web-02"]
    assert os.path.exists(os.path.join(servers.mon_state, "db", "web-01.fenced"))
    line = servers.status()
    assert line.startswith("database primary: web-02; automatic failover on; last: "
                           "web-01 -> web-02"), line
    assert "web-01 fenced" in line, line
    assert slave(lab, "web-02") == {}  # RESET SLAVE ALL: it follows no one
    wait_for(lambda: c.post("after", "written after the failover")[0] == 201, timeout=10,
             interval=0.2, what="writes through the site again")
    assert rows_on(lab, "web-02", before) == 5


def test_the_old_primary_returns_read_only_and_rejoins(lab, servers):
    c = Client(lab.url)
    after = [c.post("later", f"on the new primary {i}")[2]["id"] for i in range(5)]
    # a server's cnf brings web-01 back read-only; the lab does so for what
    # its state folder does not name as the primary
    with open(os.path.join(lab.state, "db", "primary"), "w") as f:
        f.write("web-02\n")
    os.unlink(os.path.join(lab.state, "power", "web-01.off"))  # power back

    def answers():
        try:
            return read_only(lab, "web-01")
        except AssertionError:
            return None
    assert wait_for(answers, timeout=30, interval=0.2, what="web-01 back") == "1"
    wait_for(lambda: slave(lab, "web-01").get("Slave_IO_Running") == "Yes", timeout=20,
             interval=0.2, what="web-01 replicating")
    s = slave(lab, "web-01")
    assert s["Master_Host"] == f"{lab.net}.3" and s["Using_Gtid"] == "Current_Pos", s
    assert read_only(lab, "web-01") == "1"
    wait_for(lambda: rows_on(lab, "web-01", after) == 5, timeout=20,
             what="the new primary's posts on web-01")
    assert "web-01: rejoined as a replica of web-02" in servers.log_text("monitor")
    wait_for(lambda: not os.path.exists(os.path.join(servers.mon_state, "db", "web-01.fenced")),
             timeout=10, what="the fence mark lifted")
    assert "fenced" not in servers.status()


def test_a_primary_back_from_a_restart_is_made_writable_again(lab, servers):
    """web-02, the primary, restarts and comes back read-only (the servers'
    cnf): no failover happened meanwhile (the cool-down forbids one) and no
    other instance is writable, so the monitor makes it writable again."""
    with open(os.path.join(lab.state, "db", "primary"), "w") as f:
        f.write("web-01\n")  # the lab too brings web-02 back read-only now
    pid = lab.pids()["web-02.db.pid"]
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: lab.pids().get("web-02.db.pid") not in (None, pid), timeout=30,
             interval=0.2, what="web-02 started again")
    wait_for(lambda: "web-02 came back read-only (restarted) and no other instance is "
             "writable: writable again" in servers.log_text("monitor"), timeout=30,
             interval=0.2, what="the monitor making web-02 writable")
    assert read_only(lab, "web-02") == "0"
    assert read_only(lab, "web-01") == "1"
    assert "2 failovers" not in servers.log_text("monitor")
    c = Client(lab.url)
    wait_for(lambda: c.post("again", "after the restart")[0] == 201, timeout=10, interval=0.2,
             what="writes through the site")
    # made read-only by hand while it runs (a planned switchover's first
    # step): left as it is
    db_query(lab, "web-02", "SET GLOBAL read_only = ON")
    wait_for(lambda: "web-02, the primary, is read-only and stays so: it was made read-only "
             "while it ran" in servers.log_text("monitor"), timeout=10, what="left read-only")
    assert read_only(lab, "web-02") == "1"
    db_query(lab, "web-02", "SET GLOBAL read_only = OFF")


def test_a_read_only_instance_that_follows_no_one_is_fenced_by_its_guard(lab, servers):
    assert servers.stop("monitor") == 0  # it would rejoin web-01 at once
    assert "failover: stopping" in servers.log_text("monitor")
    db_query(lab, "web-01", "STOP SLAVE; RESET SLAVE ALL")
    wait_for(lambda: "ct state new tcp dport 3306 drop" in servers.fence_table("web-01"),
             timeout=10,
             interval=0.2, what="the guard's fence on web-01")
    table = servers.fence_table("web-01")
    assert re.search(rf"ip saddr {re.escape(lab.net)}\.1 tcp dport 3306 accept", table), table
    assert 'iif "lo" accept' in table, table
    assert "read-only and no replica: fenced" in servers.log_text("guard-web-01")
    with open(os.path.join(lab.state, "secrets", "repl.password")) as f:
        pw = f.read().strip()
    db_query(lab, "web-01", f"CHANGE MASTER TO MASTER_HOST='{lab.net}.3', MASTER_PORT=3306, "
                            f"MASTER_USER='repl', MASTER_PASSWORD='{pw}', "
                            "MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1; START SLAVE")
    wait_for(lambda: servers.fence_table("web-01") == "", timeout=10, interval=0.2,
             what="the fence lifted once it replicates")


def test_a_hung_primary_is_killed_by_its_guard(lab, servers):
    pid = lab.pids()["web-02.db.pid"]
    os.kill(pid, signal.SIGSTOP)
    try:
        wait_for(lambda: not alive(pid), timeout=20, interval=0.2,
                 what="the hung mariadbd killed by its guard")
    finally:
        if alive(pid):
            os.kill(pid, signal.SIGCONT)
    log = servers.log_text("guard-web-02")
    assert "its socket takes connections but it does not answer" in log, log
    assert re.search(rf"mariadbd \(pid {pid}\) hung for \d+ ms: killed", log), log
