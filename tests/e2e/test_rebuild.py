"""`tristack rebuild HOST` (issue 17): an old primary that came back from an
automatic failover with writes the new primary never had is marked
diverged and left fenced; rebuild makes it again from a mariabackup copy of
the new primary and starts it replicating. The divergence is made for real,
through the failover monitor's own path: the replica stops replicating, a
post is acknowledged by the primary alone (semi-sync falls back to
asynchronous with no replica connected), the primary hangs (SIGSTOP), the
monitor fences it and promotes the replica, and the old primary, restarted
read-only by the supervisor, holds a GTID the new one does not: diverged.
On a loopback stack of its own with automatic failover on."""
import glob
import os
import signal
import subprocess

import pytest

from applab import Client, db_query
from conftest import alive, own_stack, wait_for


def with_failover(text):
    return text.replace("[db]\n", "[db]\nauto_failover = on\nfailover_after = 2s\n", 1)


@pytest.fixture(scope="module")
def lab():
    with own_stack("tristack-e2e-rebuild-", edit=with_failover, up_timeout=120) as st:
        yield st


def primary_of(lab):
    try:
        with open(os.path.join(lab.state, "db", "primary")) as f:
            return f.read().strip()
    except FileNotFoundError:
        return "web-01"


def posts(lab, host):
    return db_query(lab, host, "SELECT id, author, body FROM foobar.posts ORDER BY id")


def slave_status(lab, host):
    """SHOW SLAVE STATUS as {field: value} ({} when it does not replicate)."""
    sock = os.path.join(lab.state, "run", f"{host}.db.sock")
    out = subprocess.run(["mariadb", "--socket", sock, "-uroot", "-B", "-e",
                          "SHOW SLAVE STATUS"], capture_output=True, text=True, timeout=30,
                         check=True).stdout.splitlines()
    return dict(zip(out[0].split("\t"), out[1].split("\t"))) if len(out) > 1 else {}


def db_rows(lab):
    out = lab.ctl("status", timeout=60).stdout
    return out, {l.split()[0]: l for l in out.splitlines() if l.split()[1:2] == ["mariadbd"]}


def db_restarts(lab, host):
    """What the supervisor says of host's mariadbd: its restarts."""
    with open(os.path.join(lab.state, "run", "supervisor.state")) as f:
        for line in f:
            p = line.split()
            if p[:2] == [host, "db"]:
                return int(p[3])
    raise AssertionError(f"no db unit of {host} in supervisor.state")


def diverge_web_01(lab):
    """web-01 (the primary) takes a post web-02 never gets, hangs, is failed
    over and comes back diverged. Returns the errant post's body."""
    c = Client(lab.url)
    for i in range(3):
        assert c.post("before", f"on both {i}")[0] == 201
    wait_for(lambda: posts(lab, "web-02") == posts(lab, "web-01"), timeout=20,
             what="web-02 to have every post")
    db_query(lab, "web-02", "STOP SLAVE")
    st, _, errant = c.post("errant", "acknowledged by web-01 alone")
    assert st == 201, errant
    # the monitor has seen the primary asynchronous: its fence keeps what
    # the primary has (a write it acknowledged alone), which shows as diverged
    semi = os.path.join(lab.state, "db", "primary.semi-sync")
    wait_for(lambda: os.path.exists(semi) and open(semi).read() == "off\n", timeout=10,
             interval=0.1, what="the monitor to see web-01's semi-sync off")
    pid = lab.pids()["web-01.db.pid"]
    os.kill(pid, signal.SIGSTOP)
    try:
        wait_for(lambda: primary_of(lab) == "web-02", timeout=30, interval=0.2,
                 what="the failover monitor to promote web-02")
        wait_for(lambda: not alive(pid), timeout=10, what="the hung mariadbd killed (fenced)")
    finally:
        if alive(pid):
            os.kill(pid, signal.SIGCONT)
    wait_for(lambda: os.path.exists(os.path.join(lab.state, "db", "web-01.diverged")),
             timeout=60, interval=0.2, what="web-01 back and marked diverged")
    return errant


def test_a_diverged_old_primary_is_rebuilt_from_the_new_one(lab):
    errant = diverge_web_01(lab)
    assert (errant["id"], "errant", errant["body"]) in [
        (int(i), a, b) for i, a, b in posts(lab, "web-01")]
    out, rows = db_rows(lab)
    assert "DIVERGED" in rows["web-01"], out
    assert "web-01 DIVERGED" in out, out
    # the new primary takes posts web-01 does not have
    c = Client(lab.url)
    wait_for(lambda: c.post("after", "on web-02, the new primary")[0] == 201, timeout=20,
             interval=0.2, what="writes on web-02")
    restarts = db_restarts(lab, "web-01")

    r = lab.ctl("rebuild", "web-01", timeout=300)
    for step in ("backup of web-02", "prepared: the copy is web-02 at GTID",
                 "web-01's mariadbd stopped", "its datadir kept in",
                 "web-01 replicates from web-02", "caught up with web-02",
                 "web-01 is rebuilt: a replica of web-02"):
        assert step in r.stdout, r.stdout + r.stderr

    # web-01 has what web-02 has, row for row, and not the errant post
    primary = posts(lab, "web-02")
    assert primary and posts(lab, "web-01") == primary
    assert ("errant", errant["body"]) not in [(a, b) for _, a, b in posts(lab, "web-01")]
    s = slave_status(lab, "web-01")
    assert s["Slave_IO_Running"] == "Yes" and s["Slave_SQL_Running"] == "Yes", s
    assert s["Master_Host"] == f"{lab.net}.3" and s["Using_Gtid"] == "Slave_Pos", s
    assert db_query(lab, "web-01", "SELECT @@read_only, @@server_id") == [("1", "2")]
    # a post written through the site now reaches it
    st, _, post = c.post("rebuilt", "written after the rebuild")
    assert st == 201, post
    wait_for(lambda: db_query(lab, "web-01", "SELECT body FROM foobar.posts WHERE id = "
                                             f"{post['id']}") == [(post["body"],)],
             timeout=20, interval=0.2, what="the new post on the rebuilt web-01")
    # no longer diverged nor fenced; the supervisor left it alone meanwhile
    for mark in ("web-01.diverged", "web-01.fenced", "web-01.rebuilding", "promoting"):
        assert not os.path.exists(os.path.join(lab.state, "db", mark)), mark
    out, rows = db_rows(lab)
    assert "DIVERGED" not in out and "fenced" not in out, out
    assert "ok, replica" in rows["web-01"], out
    assert db_restarts(lab, "web-01") == restarts
    # the old datadir is kept aside, errant post and all
    kept = glob.glob(os.path.join(lab.state, "db", "web-01.pre-rebuild-*"))
    assert len(kept) == 1 and os.path.isdir(os.path.join(kept[0], "foobar")), kept
    assert not os.path.exists(os.path.join(lab.state, "db", "web-01.rebuild"))


def test_rebuild_refuses_what_it_cannot_rebuild(lab):
    primary = primary_of(lab)
    r = lab.ctl("rebuild", primary, check=False)
    assert r.returncode != 0 and f"{primary} is the primary" in r.stderr, r.stderr
    r = lab.ctl("rebuild", "web-09", check=False)
    assert r.returncode != 0 and "no host 'web-09'" in r.stderr, r.stderr
    r = lab.ctl("rebuild", "lb-01", check=False)
    assert r.returncode != 0 and "lb-01 is not a database host" in r.stderr, r.stderr
    r = lab.ctl("rebuild", check=False)
    assert r.returncode != 0 and "usage: tristack rebuild HOST" in r.stderr, r.stderr


def test_rebuild_refuses_a_stack_that_is_not_up(lab, tmp_path):
    """The same stack file with a state folder where nothing runs."""
    os.chmod(tmp_path, 0o755)
    r = lab.ctl("--state", str(tmp_path / "state"), "rebuild", "web-02", check=False)
    assert r.returncode != 0 and "the stack is not up" in r.stderr, r.stderr
