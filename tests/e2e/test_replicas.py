"""More than one replica: a stack file with web-03 as a second `db-replica`
(a database host and nothing else). `up` makes it replicate from the
primary, the apps spread their reads across both replicas, `status` lists
every instance, and `promote web-03` makes web-02 follow the new primary
as well as the old one; with the primary gone, `promote` refuses a replica
that has less than another. On a loopback stack of its own."""
import os
import re
import signal
import subprocess

import pytest

from applab import Client, db_query
from conftest import own_stack, wait_for


def add_web_03(text):
    """The stack file with web-03, a database replica and nothing else, at
    .4 of the stack's /24 (read back from lb-01's address)."""
    net = re.search(r"^address = (127\.\d+\.\d+)\.1$", text, re.M).group(1)
    return text.replace("[lb]\n", f"[host web-03]\naddress = {net}.4\nroles   = db-replica\n\n"
                                  "[lb]\n", 1)


@pytest.fixture(scope="module")
def lab():
    with own_stack("tristack-e2e-replicas-", edit=add_web_03, up_timeout=120) as st:
        yield st


def rows_on(lab, host, ids):
    sql = f"SELECT COUNT(*) FROM foobar.posts WHERE id IN ({','.join(map(str, ids))})"
    return int(db_query(lab, host, sql)[0][0])


def master_host(lab, host):
    """The address a host replicates from (None: it does not)."""
    sock = os.path.join(lab.state, "run", f"{host}.db.sock")
    out = subprocess.run(["mariadb", "--socket", sock, "-uroot", "-e", "SHOW SLAVE STATUS\\G"],
                         capture_output=True, text=True, timeout=30, check=True).stdout
    m = re.search(r"^\s*Master_Host: (\S+)$", out, re.M)
    return m.group(1) if m else None


def status_rows(lab):
    out = lab.ctl("status", timeout=60).stdout
    return {l.split()[0]: l for l in out.splitlines() if l.split()[1:2] == ["mariadbd"]}


def test_up_makes_every_replica_replicate(lab):
    assert "web-03 replicates from web-01" in lab.up_output, lab.up_output
    assert master_host(lab, "web-03") == f"{lab.net}.2"
    c = Client(lab.url)
    ids = [c.post("both", f"on both replicas {i}")[2]["id"] for i in range(10)]
    for host in ("web-02", "web-03"):
        wait_for(lambda: rows_on(lab, host, ids) == len(ids), timeout=20,
                 what=f"the posts on {host}")
        assert db_query(lab, host, "SELECT @@read_only")[0][0] == "1"
    rows = status_rows(lab)
    assert sorted(rows) == ["web-01", "web-02", "web-03"], rows
    assert "ok, primary, semi-sync: on (2 replicas acking)" in rows["web-01"], rows
    for host in ("web-02", "web-03"):
        assert "ok, replica" in rows[host], rows


def executed(lab, host):
    return int(db_query(lab, host, "SHOW GLOBAL STATUS LIKE 'Com_stmt_execute'")[0][1])


def test_reads_are_spread_across_both_replicas(lab):
    c = Client(lab.url, cookies=False)  # no read-your-writes: every read may go to a replica
    ids = [c.post("seed", f"seed {i}")[2]["id"] for i in range(3)]
    for host in ("web-02", "web-03"):
        wait_for(lambda: rows_on(lab, host, ids) == len(ids), timeout=20,
                 what=f"the seeds on {host}")
    # the apps' monitors count too (a status query per server every 0.5 s),
    # a few per second: far fewer than the reads
    before = {h: executed(lab, h) for h in ("web-01", "web-02", "web-03")}
    n = 300
    for _ in range(n):
        st, _, body = c.get_json("/api/posts?limit=5")
        assert st == 200, body
    got = {h: executed(lab, h) - before[h] for h in before}
    for host in ("web-02", "web-03"):
        assert got[host] >= n // 4, got  # an even share is n / 2
    assert got["web-01"] < n // 4, got   # the primary takes no reads (but heartbeats)


def test_promote_the_second_replica_and_the_other_follows(lab):
    c = Client(lab.url)
    before = [c.post("before", f"before the promotion {i}")[2]["id"] for i in range(5)]
    r = lab.ctl("promote", "web-03", timeout=120)
    assert "web-03 is the primary" in r.stdout, r.stdout
    assert "web-01 replicates from web-03" in r.stdout, r.stdout
    assert "web-02 replicates from web-03" in r.stdout, r.stdout
    assert master_host(lab, "web-02") == f"{lab.net}.4"
    assert master_host(lab, "web-01") == f"{lab.net}.4"
    assert db_query(lab, "web-03", "SELECT @@read_only")[0][0] == "0"
    assert master_host(lab, "web-03") is None
    # the apps find the new primary; what they write reaches both others
    wait_for(lambda: c.post("probe", "the new primary takes writes")[0] == 201, timeout=10,
             interval=0.2, what="writes on the new primary")
    after = [c.post("after", f"after the promotion {i}")[2]["id"] for i in range(5)]
    assert rows_on(lab, "web-03", before + after) == 10
    for host in ("web-01", "web-02"):
        wait_for(lambda: rows_on(lab, host, before + after) == 10, timeout=20,
                 what=f"every post on {host}")
    rows = status_rows(lab)
    assert "ok, primary" in rows["web-03"], rows
    for host in ("web-01", "web-02"):
        assert "ok, replica" in rows[host], rows
    wait_for(lambda: "semi-sync: on (2 replicas acking)" in status_rows(lab)["web-03"],
             timeout=20, interval=0.5, what="both replicas acking the new primary")


def test_promote_with_the_primary_gone_takes_the_replica_that_has_the_most(lab):
    """web-03 (the primary now) hangs; web-02 had stopped replicating, so
    only web-01 has the last posts (semi-sync: it acknowledged them).
    Promoting web-02 is refused, naming web-01; promoting web-01 loses
    nothing, and web-02 follows it and catches up."""
    c = Client(lab.url)
    db_query(lab, "web-02", "STOP SLAVE")
    late = [c.post("late", f"only web-01 has this {i}")[2]["id"] for i in range(5)]
    wait_for(lambda: rows_on(lab, "web-01", late) == 5, timeout=10, what="the posts on web-01")
    assert rows_on(lab, "web-02", late) == 0
    pid = lab.pids()["web-03.db.pid"]
    os.kill(pid, signal.SIGSTOP)
    try:
        r = lab.ctl("promote", "web-02", check=False, timeout=120)
        assert r.returncode != 0, r.stdout
        assert "web-03 is down" in r.stdout, r.stdout
        assert "web-01 received more than web-02" in r.stderr + r.stdout, r.stdout + r.stderr
        assert db_query(lab, "web-02", "SELECT @@read_only")[0][0] == "1"
        r = lab.ctl("promote", "web-01", timeout=120)
        assert "web-01 is the primary" in r.stdout, r.stdout
        assert "web-02 replicates from web-01" in r.stdout, r.stdout
        assert rows_on(lab, "web-01", late) == 5
        wait_for(lambda: rows_on(lab, "web-02", late) == 5, timeout=20,
                 what="web-02 to catch up from the new primary")
        wait_for(lambda: c.post("after", "on web-01")[0] == 201, timeout=10, interval=0.2,
                 what="writes on web-01")
    finally:
        os.kill(pid, signal.SIGCONT)
