"""The application tier under faults, on a stack of its own: the replica
stopped under reads, an app killed under writes, a planned failover under
writes. What a client was told succeeded must be in both databases."""
import os
import random
import re
import signal
import threading
import time

import pytest

from applab import Client, app_metrics, db_query
from conftest import alive, own_stack, wait_for


@pytest.fixture(scope="module")
def lab():
    with own_stack("tristack-e2e-app-") as st:
        yield st


class Load:
    """Threads that repeat one request until stopped (at most `limit` s)."""

    def __init__(self, lab, fn, threads=4, limit=30.0):
        self.stop = threading.Event()
        self.results = []
        self.lock = threading.Lock()
        self.deadline = time.monotonic() + limit
        self.threads = [threading.Thread(target=self._run, args=(lab, fn)) for _ in range(threads)]
        for t in self.threads:
            t.start()

    def _run(self, lab, fn):
        c = Client(lab.url, timeout=10, cookies=False)
        while not self.stop.is_set() and time.monotonic() < self.deadline:
            try:
                r = fn(c)
            except OSError as e:
                c.close()
                r = ("error", repr(e))
            with self.lock:
                self.results.append(r)
        c.close()

    def count(self):
        with self.lock:
            return len(self.results)

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=30)
        return self.results


def wait_count(load, n, what):
    wait_for(lambda: load.count() >= n, timeout=20, what=what)


def kill_and_wait(pid, sig):
    os.kill(pid, sig)
    wait_for(lambda: not alive(pid), timeout=30, what=f"pid {pid} to exit")


def rows_on(lab, host, ids):
    if not ids:
        return 0
    sql = f"SELECT COUNT(*) FROM foobar.posts WHERE id IN ({','.join(map(str, ids))})"
    return int(db_query(lab, host, sql)[0][0])


def metric_sum(lab, name):
    total = 0
    for ip in (f"{lab.net}.2", f"{lab.net}.3"):
        total += app_metrics(lab, ip).get(name, 0)
    return total


def writer(c):
    st, h, post = c.post("load", "a post under load")
    return (st, post["id"] if st == 201 else None)


def test_reads_survive_the_replica_stopping(lab):
    c = Client(lab.url)
    ids = [c.post("seed", f"seed {i}")[2]["id"] for i in range(20)]
    before = metric_sum(lab, 'tristack_app_db_read_fallbacks_total{reason="replica_down"}')

    def reader(c):
        st, _, body = c.get_json(f"/api/posts/{random.choice(ids)}")
        return (st, body)

    load = Load(lab, reader)
    try:
        wait_count(load, 200, "reads before the stop")
        kill_and_wait(lab.pids()["web-02.db.pid"], signal.SIGTERM)
        n = load.count()
        wait_count(load, n + 500, "reads while the replica is down")
        # writes while it is down: the replica must catch up on them
        during = [c.post("outage", f"written while the replica was down {i}")[2]["id"]
                  for i in range(10)]
        wait_count(load, load.count() + 200, "more reads")
    finally:
        results = load.finish()
    errors = [r for r in results if r[0] != 200]
    assert errors == [], f"{len(errors)} of {len(results)} reads failed: {errors[:5]}"
    after = metric_sum(lab, 'tristack_app_db_read_fallbacks_total{reason="replica_down"}')
    assert after > before, "no read was counted as served by the primary"
    # the replica comes back and catches up on what it missed
    lab.ctl("up")
    wait_for(lambda: rows_on(lab, "web-02", during) == len(during), timeout=30,
             what="the replica to catch up")
    # and the apps read from it again
    q = 'tristack_app_db_queries_total{target="replica"}'
    base = metric_sum(lab, q)

    def replica_read_again():
        for _ in range(10):
            c.get_json(f"/api/posts/{ids[0]}")
        return metric_sum(lab, q) > base
    wait_for(replica_read_again, timeout=20, interval=0.2, what="reads to return to the replica")


def test_reads_survive_a_frozen_replica(lab):
    """SIGSTOP: the replica's connections hang rather than close. Reads in
    flight time out (the [db] timeout) and are served by the primary; new
    ones go there once the monitor gives up on the replica."""
    c = Client(lab.url)
    ids = [c.post("seed", f"seed {i}")[2]["id"] for i in range(5)]
    # the readers carry no read-your-writes cookie: the replica must have
    # the seeds first (after the restarts of the tests before, replication
    # may take a moment), or a read is a 404 before the freeze is reached
    wait_for(lambda: rows_on(lab, "web-02", ids) == len(ids), timeout=10,
             what="the seeds on the replica")
    pid = lab.pids()["web-02.db.pid"]

    def reader(c):
        st, _, body = c.get_json(f"/api/posts/{random.choice(ids)}")
        return (st, body)

    load = Load(lab, reader)
    try:
        wait_count(load, 200, "reads before the freeze")
        os.kill(pid, signal.SIGSTOP)
        try:
            time.sleep(0.1)  # let reads pile up on the frozen server
            before = metric_sum(lab, 'tristack_app_db_read_fallbacks_total{reason="replica_down"}')
            wait_count(load, load.count() + 300, "reads while the replica is frozen")
        finally:
            os.kill(pid, signal.SIGCONT)
    finally:
        results = load.finish()
    errors = [r for r in results if r[0] != 200]
    assert errors == [], f"{len(errors)} of {len(results)} reads failed: {errors[:5]}"
    after = metric_sum(lab, 'tristack_app_db_read_fallbacks_total{reason="replica_down"}')
    assert after > before


def test_every_acknowledged_write_survives_an_app_killed_mid_load(lab):
    load = Load(lab, writer)
    try:
        wait_count(load, 100, "writes before the kill")
        killed = lab.pids()["web-01.app.pid"]
        kill_and_wait(killed, signal.SIGKILL)
        wait_count(load, load.count() + 200, "writes after the kill")
    finally:
        results = load.finish()
    acked = [i for st, i in results if st == 201]
    assert len(acked) >= 150  # those that went to the dead app got 502
    assert rows_on(lab, "web-01", acked) == len(acked)
    wait_for(lambda: rows_on(lab, "web-02", acked) == len(acked), timeout=30,
             what="every acknowledged write on the replica")
    # the app runs again: `up` starts it, unless the supervisor did first
    r = lab.ctl("up")
    m = re.search(r"^  web-01 +tristack-app +(?:up|already running) \(pid (\d+)", r.stdout, re.M)
    assert m and int(m.group(1)) != killed, r.stdout


def test_planned_failover_under_writes_loses_nothing(lab):
    load = Load(lab, writer)
    try:
        wait_count(load, 100, "writes before the promotion")
        r = lab.ctl("promote", "web-02")
        assert "web-02 is the primary" in r.stdout
        n = load.count()
        wait_count(load, n + 200, "writes after the promotion")
    finally:
        results = load.finish()
    acked = [i for st, i in results if st == 201]
    failed = [r for r in results if r[0] != 201]
    # writes during the switch wait for the new primary rather than fail
    assert len(failed) <= 5, failed[:5]
    assert rows_on(lab, "web-02", acked) == len(acked)
    wait_for(lambda: rows_on(lab, "web-01", acked) == len(acked), timeout=30,
             what="the old primary, now a replica, to have every write")
    assert db_query(lab, "web-01", "SELECT @@read_only")[0][0] == "1"
    assert db_query(lab, "web-01", "SELECT @@thread_handling")[0][0] == "pool-of-threads"
    assert db_query(lab, "web-02", "SELECT @@read_only")[0][0] == "0"
    # the apps found the new primary by themselves
    c = Client(lab.url)
    st, _, post = c.post("after", "on the new primary")
    assert st == 201
    assert rows_on(lab, "web-02", [post["id"]]) == 1
    status = lab.ctl("status").stdout
    assert any(l.split()[:2] == ["web-02", "mariadbd"] and "primary" in l
               for l in status.splitlines()), status
    # and back
    lab.ctl("promote", "web-01")
    st, _, post = c.post("back", "on the first primary again")
    assert st == 201
    assert rows_on(lab, "web-01", [post["id"]]) == 1
