"""Scale out and in under load (issue 18): web-03 added to the stack file and
`tristack up` run on the running stack (its MariaDB replica, app and web
server started, the LB and the apps reloaded to take it), web-03 serving a
share of the load, then dropped from the file and `tristack up` run again
(drained on the LB, the rest reloaded, then stopped). An operation, not a
fault: not one request may fail (faults.py, NO_FAILURE)."""
import os
import subprocess
import threading
import time

from conftest import IsolatedStack, alive, binary, stack_with_web03, stack_without_web03

SCALE_SECONDS = (20, 30)  # the scenario's load, short and full: both ups fit in it


def edit(st, fn):
    with open(st.conf) as f:
        text = fn(f.read())
    with open(st.conf, "w") as f:
        f.write(text)


def timed_up(st, timeout=120):
    """`tristack up`, each line of its output timed as it comes: the three
    slowest steps, as "seconds line" (raises when up fails or outlasts
    timeout: then it is killed)."""
    p = subprocess.Popen([binary("tristack"), "-c", st.conf, "--state", st.state, "up"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    timer = threading.Timer(timeout, p.kill)
    timer.start()
    t = time.monotonic()
    steps, out = [], []
    try:
        for line in p.stdout:
            now = time.monotonic()
            steps.append((now - t, line.strip()))
            out.append(line)
            t = now
        p.wait()
    finally:
        timer.cancel()
        if p.poll() is None:
            p.kill()
            p.wait()
    if p.returncode != 0:
        raise RuntimeError(f"tristack up failed ({p.returncode}):\n{''.join(out)}")
    return [f"{s:.1f}s {l}" for s, l in sorted(steps, reverse=True)[:3]]


def lb_state(st, host):
    """(health, admin) of server host on the LB, or None."""
    for row in st.ctl("servers", check=False).stdout.splitlines()[1:]:
        f = row.split()
        if len(f) >= 8 and f[1] == host:
            return f[3], f[4]
    return None


def served(st, host):
    """Requests in host's web server's access log, the LBs' health checks
    not counted."""
    path = os.path.join(st.state, "log", f"{host}.web.access.log")
    try:
        with open(path) as f:
            return sum(1 for line in f if "/healthz" not in line)
    except FileNotFoundError:
        return 0


def until(pred, seconds, what):
    deadline = time.monotonic() + seconds
    while not pred():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not within {seconds} s")
        time.sleep(0.1)


def sc_scale_web(st, load, short):
    with open(st.conf) as f:
        original = f.read()
    try:
        scale(st, load, short)
    finally:  # the next scenario has the stack it began with
        with open(st.conf) as f:
            changed = f.read() != original
        if changed:  # failed half way: web-03 goes
            with open(st.conf, "w") as f:
                f.write(original)
            st.ctl("up", check=False, timeout=120)


def scale(st, load, short):
    host = "web-03"
    load.wait_until(2)
    t = time.monotonic()
    at = [load_at(load)]
    # isolated: web-03 a namespace of its own, on the lab's port 80
    port = 80 if isinstance(st, IsolatedStack) else 8080
    edit(st, lambda text: stack_with_web03(text, f"{st.net}.4", port))
    slow_add = timed_up(st)
    t_added = time.monotonic() - t
    at.append(load_at(load))
    until(lambda: lb_state(st, host) == ("UP", "READY"), 15, f"{host} UP and READY on the LB")
    # it takes a share of the load (round robin: about a third)
    until(lambda: served(st, host) >= 50, 15, f"{host} serving the load")
    load.wait_until(load_at(load) + (3 if short else 8))
    n = served(st, host)
    pids = {k: v for k, v in st.pids().items() if k.startswith(f"{host}.")}
    t = time.monotonic()
    at.append(load_at(load))
    edit(st, stack_without_web03)
    slow_remove = timed_up(st)
    t_removed = time.monotonic() - t
    at.append(load_at(load))
    if lb_state(st, host) is not None:
        raise RuntimeError(f"the LB still has {host} after the up that removed it")
    running = [k for k, p in pids.items() if alive(p)]
    if running:
        raise RuntimeError(f"{host}'s {running} still run after the up that removed it")
    load.note = (f"{host} added in {t_added:.1f} s (at {at[0]:.1f}..{at[1]:.1f} s of the "
                 f"load), served {n} requests, removed (drained, stopped) in {t_removed:.1f} s "
                 f"(at {at[2]:.1f}..{at[3]:.1f} s); slowest steps of the add: {slow_add}; "
                 f"of the removal: {slow_remove}")


def load_at(load):
    """Seconds since the load began."""
    return time.monotonic() - load.t0
