"""The supervisor `tristack up` leaves: what dies is started again, with a
backoff, and a daemon that keeps crashing right after its start is given up
on and reported. On a stack of its own."""
import os
import re
import signal

import pytest

from conftest import alive, curl, own_stack, wait_for


@pytest.fixture(scope="module")
def st():
    with own_stack("tristack-e2e-sv-") as s:
        yield s


def status_line(st, host, daemon):
    out = st.ctl("status", check=False).stdout
    return next(l for l in out.splitlines() if l.split()[:2] == [host, daemon])


def restarted(st, name, old):
    pid = st.pids().get(name)
    return pid if pid and pid != old and alive(pid) else None


def test_a_killed_app_is_started_again_and_serves(st):
    old = st.pids()["web-01.app.pid"]
    os.kill(old, signal.SIGKILL)
    new = wait_for(lambda: restarted(st, "web-01.app.pid", old), timeout=10,
                   what="the app started again")
    wait_for(lambda: "(1 restart)" in status_line(st, "web-01", "tristack-app"), timeout=5,
             what="status counting the restart")
    line = status_line(st, "web-01", "tristack-app")
    assert line.split()[2] == str(new) and " ok" in line
    for _ in range(4):  # both web servers, so both apps, answer again
        assert curl(st.url + "/api/hello")[0] == 200
    log = st.ctl("logs", "supervisor").stdout
    # (started by `up`, not by the supervisor: it sees it gone, not how it ended)
    assert re.search(r"tristack-app on web-01 (is gone|was killed by signal 9); starting it "
                     r"again in 1000 ms", log)
    assert re.search(rf"tristack-app on web-01 started again \(pid {new}, restart 1\)", log)


def test_a_killed_database_is_started_again(st):
    old = st.pids()["web-02.db.pid"]
    os.kill(old, signal.SIGKILL)
    wait_for(lambda: restarted(st, "web-02.db.pid", old), timeout=15,
             what="the replica started again")
    wait_for(lambda: "replica, 0s behind" in status_line(st, "web-02", "mariadbd"), timeout=30,
             what="the replica replicating again")


def test_a_daemon_that_keeps_crashing_is_given_up_and_reported(st):
    name = "web-02.web.pid"
    for _ in range(5):
        old = st.pids()[name]
        os.kill(old, signal.SIGKILL)
        if _ < 4:  # the backoff doubles: 1, 2, 4, 8 s
            wait_for(lambda: restarted(st, name, old), timeout=20, what="a restart")
    wait_for(lambda: "failed (gave up)" in status_line(st, "web-02", "tristack-web"),
             timeout=5, what="status reporting the give-up")
    log = st.ctl("logs", "supervisor").stdout
    assert "tristack-web on web-02 was killed by signal 9; it crashed 5 times soon after " \
           "starting: given up" in log
    # the site goes on through web-01
    for _ in range(4):
        assert curl(st.url + "/api/hello")[0] == 200
    # and `up` brings it back, under a fresh supervisor
    r = st.ctl("up")
    assert re.search(r"^  web-02 +tristack-web +up \(pid", r.stdout, re.M), r.stdout
    line = status_line(st, "web-02", "tristack-web")
    assert line.split()[3] == "running" and "gave up" not in line
