"""Semi-synchronous replication ([db] semi_sync, on by default): the primary
acknowledges a write once the replica has it; when the replica stops
answering, a write waits semi_sync_timeout and then succeeds asynchronously,
and `tristack status` says so on the primary's row until the replica is back.
On a loopback stack of its own with a short timeout."""
import os
import re
import signal
import time

import pytest

from applab import Client, db_query
from conftest import own_stack, wait_for

TIMEOUT = 0.5  # s: the stack's [db] semi_sync_timeout


@pytest.fixture(scope="module")
def lab():
    with own_stack("tristack-e2e-semi-",
                   edit=lambda t: t.replace("[db]\n", "[db]\nsemi_sync_timeout = 500ms\n", 1)) as st:
        yield st


def status_of(lab, host, name):
    rows = db_query(lab, host, f"SHOW GLOBAL STATUS LIKE '{name}'")
    return rows[0][1]


def primary_row(lab):
    out = lab.ctl("status", timeout=60).stdout
    rows = [l for l in out.splitlines() if l.split()[:2] == ["web-01", "mariadbd"]]
    assert len(rows) == 1, out
    return rows[0]


def semi_on(lab):
    return (status_of(lab, "web-01", "Rpl_semi_sync_master_status") == "ON" and
            status_of(lab, "web-01", "Rpl_semi_sync_master_clients") == "1")


def test_the_primary_waits_for_the_replica(lab):
    for host in ("web-01", "web-02"):
        v = db_query(lab, host, "SELECT @@rpl_semi_sync_master_enabled, "
                                "@@rpl_semi_sync_slave_enabled, "
                                "@@rpl_semi_sync_master_wait_point, "
                                "@@rpl_semi_sync_master_timeout, "
                                "@@rpl_semi_sync_master_wait_no_slave")[0]
        assert v == ("1", "1", "AFTER_SYNC", "500", "0"), (host, v)
    wait_for(lambda: semi_on(lab), timeout=20, interval=0.2,
             what="semi-sync on with the replica connected")
    assert status_of(lab, "web-02", "Rpl_semi_sync_slave_status") == "ON"
    yes = int(status_of(lab, "web-01", "Rpl_semi_sync_master_yes_tx"))
    st, _, post = Client(lab.url).post("semi", "acknowledged by the replica")
    assert st == 201, post
    # acknowledged once in the replica's relay log (it applies it just after)
    assert int(status_of(lab, "web-01", "Rpl_semi_sync_master_yes_tx")) > yes
    wait_for(lambda: db_query(lab, "web-02", "SELECT COUNT(*) FROM foobar.posts WHERE id = "
                                             f"{post['id']}") == [("1",)],
             timeout=10, what="the post on the replica")
    assert "semi-sync: on (1 replica acking)" in primary_row(lab)


def test_a_frozen_replica_costs_one_timeout_then_writes_go_on(lab):
    pid = lab.pids()["web-02.db.pid"]
    c = Client(lab.url)
    offs = int(status_of(lab, "web-01", "Rpl_semi_sync_master_no_times"))
    os.kill(pid, signal.SIGSTOP)
    try:
        times, ids = [], []
        for i in range(5):
            t0 = time.monotonic()
            st, _, post = c.post("frozen", f"written while the replica is frozen {i}")
            times.append(time.monotonic() - t0)
            assert st == 201, post
            ids.append(post["id"])
        # the first write may wait the timeout (or the apps' heartbeat
        # did); none waits much longer, and once off, none waits at all
        assert max(times) < TIMEOUT + 1.5, times
        assert min(times) < TIMEOUT / 2, times
        assert int(status_of(lab, "web-01", "Rpl_semi_sync_master_no_times")) > offs
        assert status_of(lab, "web-01", "Rpl_semi_sync_master_status") == "OFF"
        assert "semi-sync: OFF (waiting for a replica)" in primary_row(lab)
    finally:
        os.kill(pid, signal.SIGCONT)
    # back: the replica catches up and the primary waits for it again
    wait_for(lambda: semi_on(lab), timeout=30, interval=0.2, what="semi-sync on again")
    rows = db_query(lab, "web-02", "SELECT COUNT(*) FROM foobar.posts WHERE id IN "
                                   f"({','.join(map(str, ids))})")
    assert rows == [(str(len(ids)),)]
    assert "semi-sync: on (1 replica acking)" in primary_row(lab)


def test_semi_sync_off_in_the_stack_file_is_off_on_the_next_up(lab):
    """Without a restart: up sets it on the running instances."""
    text = open(lab.conf).read()
    with open(lab.conf, "w") as f:
        f.write(text.replace("[db]\n", "[db]\nsemi_sync = off\n", 1))
    try:
        lab.ctl("up", timeout=120)
        for host in ("web-01", "web-02"):
            assert db_query(lab, host, "SELECT @@rpl_semi_sync_master_enabled, "
                                       "@@rpl_semi_sync_slave_enabled")[0] == ("0", "0")
        row = primary_row(lab)
        assert "semi-sync" not in row and re.search(r"ok, primary", row), row
    finally:
        with open(lab.conf, "w") as f:
            f.write(text)
    lab.ctl("up", timeout=120)
    wait_for(lambda: semi_on(lab), timeout=20, interval=0.2, what="semi-sync on again")
