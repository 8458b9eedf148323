"""The fault suite's scenarios of the LB pair (conf/foobar-ha.conf): the
holder of the floating address fails (tests/faults/faults.py)."""
import os
import signal
import socket
import ssl
import threading
import time

from load import NET_ERRORS, Client, enter_netns, kill, pid_of

# ---- the LB pair (conf/foobar-ha.conf): the holder of the floating address fails ----

class Watch:
    """From the client host, a GET of a static file on a new connection
    every 100 ms, each in a thread of its own (one that hangs on a hung LB
    does not hold up the next): the site as a new visitor sees it, to time
    the failover. Stops by itself at deadline."""

    EVERY = 0.1

    def __init__(self, st, deadline):
        self.st = st
        self.deadline = deadline
        self.results = []  # (monotonic start, end, ok)
        self.errors = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.probes = []
        self.t = threading.Thread(target=self._spawn, daemon=True)
        self.t.start()

    def _spawn(self):
        while not self.stop.is_set() and time.monotonic() < self.deadline:
            p = threading.Thread(target=self._probe, daemon=True)
            p.start()
            self.probes.append(p)
            time.sleep(self.EVERY)

    def _probe(self):
        try:
            enter_netns(self.st.ns("client"))
            t = time.monotonic()
            c = Client(self.st.url, timeout=5, cookies=False)
            try:
                ok = c.request("GET", "/static/site.css")[0] == 200
            except NET_ERRORS:
                ok = False
            c.close()
            with self.lock:
                self.results.append((t, time.monotonic(), ok))
        except BaseException as e:  # never silently
            with self.lock:
                self.errors.append(repr(e))

    def recovery(self, t_fault, t_done):
        """Seconds from t_fault (the fault began) until a request sent after
        t_done (it was complete: a power cut takes a moment) was first
        answered, or None. An upper bound, by up to t_done - t_fault."""
        ends = [end for start, end, ok in self.results if start >= t_done and ok]
        return round(min(ends) - t_fault, 2) if ends else None

    def failed(self):
        return sum(1 for r in self.results if not r[2])

    def finish(self):
        self.stop.set()
        self.t.join(timeout=15)
        for p in self.probes:
            p.join(timeout=15)
        if any(p.is_alive() for p in self.probes):
            self.errors.append("a probe still running 15 s after the end")


def tls_sessions(st, n):
    """n TLS sessions (tickets) from the site, saved from the client host:
    (context, [session])."""
    ctx = ssl.create_default_context(cafile=st.cafile)
    out = {}

    def run():
        enter_netns(st.ns("client"))
        sessions = []
        for _ in range(n):
            with socket.create_connection((st.vip, 443), timeout=5) as raw:
                with ctx.wrap_socket(raw, server_hostname="www.foobar.com") as s:
                    s.sendall(b"GET /static/site.css HTTP/1.1\r\nHost: www.foobar.com\r\n"
                              b"Connection: close\r\n\r\n")
                    while s.recv(65536):
                        pass
                    sessions.append(s.session)
        out["s"] = sessions

    t = threading.Thread(target=run)
    t.start()
    t.join(timeout=60)
    return ctx, out.get("s", [])


def tls_resumed(st, ctx, sessions):
    """How many of the saved sessions resume now (on whichever LB holds
    the address)."""
    out = {"n": 0}

    def run():
        enter_netns(st.ns("client"))
        for sess in sessions:
            try:
                with socket.create_connection((st.vip, 443), timeout=5) as raw:
                    with ctx.wrap_socket(raw, server_hostname="www.foobar.com",
                                         session=sess) as s:
                        out["n"] += bool(s.session_reused)
            except (OSError, ssl.SSLError):
                pass

    t = threading.Thread(target=run)
    t.start()
    t.join(timeout=60)
    return out["n"]


def in_flight(rows, t):
    """Requests of a finished load that were under way at t (load time)."""
    if t is None:
        return 0
    return sum(1 for r in rows if r[0] <= t < r[0] + r[3])


def ha_scenario(st, load, short, act, fault_name):
    """The holder of the floating address meets act(holder) at 2 s; the
    figures: seconds until the site answered a new visitor again, requests
    in flight then, TLS sessions saved before that resume after."""
    holder = st.holder()
    ctx, sessions = tls_sessions(st, 20)
    watch = Watch(st, load.deadline + 5)
    load.wait_until(2)
    t_fault = time.monotonic()
    lt_fault = load.elapsed()
    try:
        act(holder)
        t_done = time.monotonic()
        # the address has moved once the other LB holds it
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and st.holders() in ([holder], []):
            time.sleep(0.1)
        load.wait_until(lt_fault + 6)
    finally:
        watch.finish()
    now = st.holders()
    resumed = tls_resumed(st, ctx, sessions)
    load.ha = {"fault": fault_name, "holder_before": holder, "holder_after": ",".join(now),
               "recovery_s": watch.recovery(t_fault, t_done), "fault_at": lt_fault,
               "fault_took_s": round(t_done - t_fault, 2),
               "tls_sessions": len(sessions), "tls_resumed": resumed,
               "watch_failed": watch.failed()}
    load.errors += [f"watch: {e}" for e in watch.errors]
    return holder


def sc_ha_kill_lb(st, load, short):
    ha_scenario(st, load, short,
                lambda h: kill(pid_of(st, f"{h}.lb.pid"), signal.SIGKILL), "kill -9 tristack-lb")


def sc_ha_stop_lb(st, load, short):
    stopped = {}

    def act(h):
        stopped["pid"] = pid_of(st, f"{h}.lb.pid")
        kill(stopped["pid"], signal.SIGSTOP)

    try:
        ha_scenario(st, load, short, act, "SIGSTOP tristack-lb")
        load.wait_until(2 + (6 if short else 10))
    finally:
        if "pid" in stopped:
            kill(stopped["pid"], signal.SIGCONT)


def sc_ha_poweroff_lb(st, load, short):
    """Left off: ha-poweron brings it back (wait_healthy skips it)."""
    ha_scenario(st, load, short, lambda h: st.ctl("poweroff", h), "power off")


def sc_ha_poweron_lb(st, load, short):
    """The LB host that is off comes back under load: nothing may fail and
    the address must stay where it is (preempt off)."""
    off = [h for h in ("lb-01", "lb-02")
           if os.path.exists(os.path.join(st.state, "power", f"{h}.off"))]
    holder = st.holder()
    watch = Watch(st, load.deadline + 5)
    load.wait_until(2)
    try:
        for h in off:
            st.ctl("poweron", h, timeout=120)
        load.wait_until(load.elapsed() + 6)  # six advertisement intervals
    finally:
        watch.finish()
    load.ha = {"fault": "power on", "holder_before": holder,
               "holder_after": ",".join(st.holders()), "recovery_s": 0.0, "fault_at": None,
               "tls_sessions": 0, "tls_resumed": 0, "powered_on": ",".join(off),
               "watch_failed": watch.failed()}
    load.errors += [f"watch: {e}" for e in watch.errors]
    if not off:
        raise RuntimeError("no LB host was off (run ha-poweroff-lb first)")
