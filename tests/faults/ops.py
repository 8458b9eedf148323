"""The fault suite's operations (issue 18): changes an operator makes to a
running site, under the suite's load, where not one request may fail
(tests/faults/faults.py, NO_FAILURE):

  upgrade     `tristack upgrade`: every daemon of ours replaced by the
              binary in build/bin, the LB last, handing its listening
              sockets to the new process (the command has no way to
              upgrade the LB alone: it is the whole rolling upgrade)
  renew-cert  `tristack certs renew --force` against pebble (the ACME test
              CA): new certificates, the LB reloaded

renew-cert needs a stack of its own (acme_start): [lb] acme_directory
names pebble, which runs beside it, and the LB serves pebble's
certificates from before the load on (a first `certs renew`), so that the
scenario is a renewal, one ACME certificate for another. The load's
clients then verify the LB's certificate for www.foobar.com (SNI too)
against the local CA and pebble's root: a new connection that met a
certificate they cannot verify is a failed request."""
import os
import ssl
import subprocess
import threading
import time
from collections import Counter

from conftest import alive, binary  # alive: a zombie is not
from load import pid_of
from test_acme import CERTBOT, PEBBLE, WWW, Pebble, served

MIN_LEFT_S = 2  # load still to run after the action: it is seen through


def lb_pidfile(st):
    return os.path.join(st.state, "run", "lb-01.lb.pid")


def read_pid(path):
    with open(path) as f:
        text = f.read().strip()
    return int(text) if text.isdigit() else None


def served_after(load, t):
    """Requests of the load answered well that began after t (monotonic)."""
    since = t - load.t0
    with load.lock:
        return sum(1 for r in load.rows if r[0] >= since and r[2])


def seen_through(load, what):
    """The action ended with load still to run (else its end was not
    under load: the scenario proves nothing). Raise otherwise."""
    left = load.deadline - time.monotonic()
    if left < MIN_LEFT_S:
        raise RuntimeError(f"{what} ended {left:.1f} s before the load's end "
                           f"(needs {MIN_LEFT_S} s of load after it): a longer load")


def sc_upgrade(st, load, short):
    """`tristack upgrade` under the load: web-01 and web-02 drained and
    their app and web server replaced in turn, the DNS replaced, then the
    LB hands its listening sockets over to a new tristack-lb (SCM_RIGHTS):
    not one connection refused, not one request failed. The LB's pid must
    change (and the old one be gone), as every daemon of ours must, so
    that the scenario cannot pass without an upgrade."""
    ours = ("lb", "web", "app", "dns")
    before = {n: p for n, p in st.pids().items() if n.split(".")[1] in ours}
    lb_old = read_pid(lb_pidfile(st))
    if lb_old is None or len(before) != 6:
        raise RuntimeError(f"not the stack expected: lb pid {lb_old}, daemons {before}")
    load.wait_until(2)
    t = time.monotonic()
    r = st.ctl("upgrade", timeout=240)
    took = time.monotonic() - t
    t_done = time.monotonic()
    seen_through(load, "the upgrade")
    if "listening sockets handed over" not in r.stdout:
        raise RuntimeError(f"no hand-over in the upgrade's output:\n{r.stdout}")
    lb_new = read_pid(lb_pidfile(st))
    if lb_new in (None, lb_old) or alive(lb_old) or not alive(lb_new):
        raise RuntimeError(f"the LB was not replaced: pid {lb_old} -> {lb_new}, "
                           f"old alive {alive(lb_old)}")
    after = {n: p for n, p in st.pids().items() if n.split(".")[1] in ours}
    same = [n for n in before if after.get(n) == before[n]]
    if same:
        raise RuntimeError(f"not replaced by the upgrade: {same} ({before} -> {after})")
    # the new LB serves the load (before the judge also counts what failed)
    deadline = min(load.deadline, time.monotonic() + MIN_LEFT_S)
    while served_after(load, t_done) < 100:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {served_after(load, t_done)} requests answered after "
                               f"the upgrade")
        time.sleep(0.05)
    load.note = (f"tristack upgrade took {took:.1f} s; LB pid {lb_old} -> {lb_new} "
                 f"(listening sockets handed over), every daemon of ours replaced")


# ---- renew-cert: a stack with pebble ----

class NamedContext(ssl.SSLContext):
    """A client context that sends SNI `name` and verifies the certificate
    for it, whatever address the connection goes to (an ACME certificate
    names www.foobar.com, not the LB's address), and counts the serials of
    the certificates it verified: which certificate new connections got."""

    def setup(self, name, cafile):
        self.verify_mode = ssl.CERT_REQUIRED
        self.check_hostname = True
        self.load_verify_locations(cafile=cafile)
        self.tls_name = name
        self.seen = Counter()
        self.seen_lock = threading.Lock()
        return self

    def wrap_socket(self, sock, *args, **kw):
        kw["server_hostname"] = self.tls_name
        s = super().wrap_socket(sock, *args, **kw)
        cert = s.getpeercert()  # the handshake is done: http.client connects first
        if cert:
            with self.seen_lock:
                self.seen[int(cert["serialNumber"], 16)] += 1
        return s

    def count(self, serial):
        with self.seen_lock:
            return self.seen[serial]


def renew(st, *args):
    """tristack certs renew [args]: its output, or raise with certbot's log."""
    env = dict(os.environ, REQUESTS_CA_BUNDLE=st.pebble.cert)
    r = subprocess.run([binary("tristack"), "-c", st.conf, "--state", st.state, "certs", "renew",
                        *args], capture_output=True, text=True, timeout=180, env=env)
    if r.returncode != 0:
        log = os.path.join(st.state, "log", "certbot", "letsencrypt.log")
        tail = open(log, errors="replace").read()[-3000:] if os.path.exists(log) else ""
        raise RuntimeError(f"tristack certs renew {' '.join(args)}: exit {r.returncode}\n"
                           f"{r.stdout}{r.stderr}\n{tail}")
    return r.stdout


def acme_edit(text, net):
    """The stack file with pebble (net.9) as its ACME CA."""
    return text.replace("[lb]\n", f"[lb]\nacme_directory = https://{net}.9:14000/dir\n", 1)


def acme_start(st):
    """pebble beside the running stack st, the LB's first certificates
    from it (ECDSA and RSA), and the load's TLS context: the local CA and
    pebble's root trusted, www.foobar.com verified. st.pebble is stopped
    by acme_stop (by PID), also when this fails."""
    st.pebble = Pebble(st.tmp, st.net)
    st.pebble.start()
    said = renew(st)
    if "installed" not in said or "reloaded" not in said:
        raise RuntimeError(f"the first certs renew installed nothing:\n{said}")
    bundle = os.path.join(st.tmp, "pebble", "trust.pem")
    with open(st.cafile) as f, open(bundle, "w") as out:
        out.write(f.read().rstrip("\n") + "\n" + st.pebble.get("/roots/0"))
    st.tls_ctx = NamedContext(ssl.PROTOCOL_TLS_CLIENT).setup(WWW, bundle)
    # what the LB serves now: pebble's (served() verifies with its root)
    deadline = time.monotonic() + 15
    while True:
        try:
            served(st)
            served(st, rsa=True)
            break
        except AssertionError as e:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the LB does not serve pebble's certificates: {e}")
            time.sleep(0.2)


def acme_stop(st):
    p = getattr(st, "pebble", None)
    if p is not None:
        p.stop()


def wait_serial(st, old, rsa, deadline):
    """The serial the LB serves (ECDSA, or RSA) once it is not old."""
    last = ""
    while True:
        try:
            serial = served(st, rsa)[0]
            if serial != old:
                return serial
            last = f"still serial {serial:X}"
        except AssertionError as e:
            last = str(e)[-600:]
        if time.monotonic() > deadline:
            raise RuntimeError(f"the LB still does not serve a new "
                               f"{'RSA' if rsa else 'ECDSA'} certificate: {last}")
        time.sleep(0.2)


def sc_renew_cert(st, load, short):
    """`tristack certs renew --force` under the load: certbot renews both
    certificates from pebble and the LB is reloaded (SIGHUP: a new
    generation serves the new certificates, the old one finishes its
    connections). The served serials must change, and the load's clients
    must have verified the new one on their new connections: every client
    reconnects after the old generation's `Connection: close`."""
    ec_old, rsa_old = served(st)[0], served(st, rsa=True)[0]
    pid = pid_of(st, "lb-01.lb.pid")
    load.wait_until(2)
    t = time.monotonic()
    out = renew(st, "--force")
    took = time.monotonic() - t
    if "reloaded" not in out:
        raise RuntimeError(f"certs renew --force reloaded no LB:\n{out}")
    deadline = time.monotonic() + 15
    ec_new = wait_serial(st, ec_old, False, deadline)
    rsa_new = wait_serial(st, rsa_old, True, deadline)
    t_served = time.monotonic() - t
    if pid_of(st, "lb-01.lb.pid") != pid:
        raise RuntimeError("the LB was restarted, not reloaded")
    # every client has met the new certificate on a new connection
    want = len(load.threads)
    while st.tls_ctx.count(ec_new) + st.tls_ctx.count(rsa_new) < want:
        if time.monotonic() > load.deadline - 0.5:
            raise RuntimeError(f"only {st.tls_ctx.count(ec_new)} of the load's connections "
                               f"verified the new certificate (want {want})")
        time.sleep(0.05)
    seen_through(load, "the renewal")
    load.note = (f"certs renew --force took {took:.1f} s; serials ECDSA {ec_old:X} -> "
                 f"{ec_new:X}, RSA {rsa_old:X} -> {rsa_new:X} served {t_served:.1f} s after "
                 f"the start; {st.tls_ctx.count(ec_new) + st.tls_ctx.count(rsa_new)} new "
                 f"connections of the load verified the new certificate so far; same LB pid")


def acme_ready():
    """Why renew-cert cannot run here (pebble or certbot missing), or None."""
    if not os.path.exists(PEBBLE) or CERTBOT is None:
        return "renew-cert needs pebble and certbot (scripts/install-deps.sh)"
    return None
