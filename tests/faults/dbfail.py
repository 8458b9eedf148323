"""The fault suite's scenarios of the database primary's loss (issue 17):
automatic failover, fencing, rejoin (tests/faults/faults.py)."""
import os
import signal
import subprocess
import time

from load import db_hosts, is_off, kill, pid_of

# ---- the database primary's host lost (issue 17): automatic failover ----

def writes_back(load, t, t_done):
    """Seconds from t (load time: the fault began) until a POST sent after
    t_done (the fault was complete) was acknowledged, or None."""
    ends = [r[0] + r[3] for r in load.rows if r[1] == "write" and r[2] and r[0] >= t_done]
    return round(min(ends) - t, 2) if ends else None


def wait_promoted(st, load, old, t, timeout=30):
    """Seconds from t (load time) until old is no longer the primary, or
    None after timeout; and whether old was marked fenced then."""
    deadline = time.monotonic() + timeout
    while db_hosts(st)[0] == old and time.monotonic() < deadline:
        time.sleep(0.1)
    if db_hosts(st)[0] == old:
        return None, False
    return round(load.elapsed() - t, 2), os.path.exists(
        os.path.join(st.state, "db", f"{old}.fenced"))


def failed_over(st, load, old, new, t, t_done, promoted, fenced, **more):
    """The figures of a scenario that must fail over (load.db); raises
    when the replica was not promoted or the old primary not fenced."""
    load.db = {"old": old, "new": db_hosts(st)[0], "fault_at": t, "fault_done": t_done,
               "promoted_after_s": promoted, "fenced": fenced, **more}
    if promoted is None:
        raise RuntimeError(f"{new} was not promoted within 30 s")
    if not fenced:
        raise RuntimeError(f"{old} was not marked fenced when {new} was promoted")


def sc_db_partition_primary(st, load, short):
    """The primary's host cut off from everything for 10 s: its namespace
    drops every packet in and out but loopback's (its web server, app and
    MariaDB keep running, unreachable). The LB stops sending it requests,
    the monitor's probe and the replica's I/O thread lose the primary, the
    replica is promoted and the old primary fenced; when the cut heals,
    the old primary must take no write and rejoin as a replica."""
    old, new = db_hosts(st)
    ns = st.ns(old)
    cut = ("table inet tscut {\n"
           " chain in { type filter hook input priority -20; iif \"lo\" accept; drop; }\n"
           " chain out { type filter hook output priority -20; oif \"lo\" accept; drop; }\n}\n")
    load.wait_until(2)
    t = load.elapsed()
    subprocess.run(["ip", "netns", "exec", ns, "nft", "-f", "-"], input=cut, text=True,
                   check=True)
    t_done = load.elapsed()
    status = ""
    try:
        promoted, fenced = wait_promoted(st, load, old, t)
        if promoted is not None:  # what the operator sees meanwhile
            status = st.ctl("status", check=False).stdout
        load.wait_until(t + 10)
    finally:
        subprocess.run(["ip", "netns", "exec", ns, "nft", "delete", "table", "inet", "tscut"],
                       check=True)
    healed = load.elapsed()
    load.wait_until(healed + 4)  # the old primary back under load
    failed_over(st, load, old, new, t, t_done, promoted, fenced, healed_at=round(healed, 2))
    if f"database primary: {new}" not in status or f"{old} fenced" not in status:
        raise RuntimeError(f"tristack status does not show {new} primary, {old} fenced: "
                           f"{status[-600:]!r}")


def sc_db_poweroff_primary(st, load, short):
    """The primary's host (its web server, app and MariaDB) powered off:
    the supervisor promotes the replica. Left off: db-poweron-primary."""
    old, new = db_hosts(st)
    load.wait_until(2)
    t = load.elapsed()
    st.ctl("poweroff", old)
    t_done = load.elapsed()
    promoted, fenced = wait_promoted(st, load, old, t)
    load.wait_until(t + 12)
    failed_over(st, load, old, new, t, t_done, promoted, fenced)


def sc_db_kill_primary(st, load, short):
    """kill -9 of the primary's mariadbd: the supervisor starts it again,
    and the failover monitor promotes the replica if it is not back within
    [db] failover_after; either way no acknowledged write may be lost."""
    old, _ = db_hosts(st)
    load.wait_until(2)
    t = load.elapsed()
    kill(pid_of(st, f"{old}.db.pid"), signal.SIGKILL)
    t_done = load.elapsed()
    load.wait_until(t + 12)
    load.db = {"old": old, "new": db_hosts(st)[0], "fault_at": t, "fault_done": t_done}


def sc_db_stop_primary(st, load, short):
    """The primary's mariadbd hung (SIGSTOP): the supervisor fences it
    (kills it: what sits in its sockets never runs) and promotes the
    replica; SIGCONT after the promotion finds nothing to wake."""
    old, new = db_hosts(st)
    pid = pid_of(st, f"{old}.db.pid")
    load.wait_until(2)
    t = load.elapsed()
    kill(pid, signal.SIGSTOP)
    t_done = load.elapsed()
    try:
        promoted, fenced = wait_promoted(st, load, old, t)
    finally:
        kill(pid, signal.SIGCONT)
    load.wait_until(t + 12)
    failed_over(st, load, old, new, t, t_done, promoted, fenced)


def sc_db_poweron_primary(st, load, short):
    """The old primary's host back under load: it comes up read-only and
    rejoins as a replica of the new primary (audited as the replica)."""
    off = [h for h in ("web-01", "web-02") if is_off(st, h)]
    load.wait_until(2)
    for h in off:
        st.ctl("poweron", h, timeout=180)
    load.db = {"powered_on": ",".join(off), "fault_at": None}
    if not off:
        raise RuntimeError("no database host was off (run db-poweroff-primary first)")
