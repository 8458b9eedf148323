"""Upgrading without an outage (docs/operations.md, "Upgrading").

An LB alone: a new tristack-lb started with --takeover the old one's
runtime socket takes its listening sockets while clients open new
connections as fast as they can (and one keeps its connection alive): not
one connection is refused or fails; the old process lets its slow request
finish with a 200 and exits; the new PID serves; a TLS session saved
before resumes after (the ticket key file is the same).

A whole stack: `tristack upgrade` under 8 clients reading and writing
through the API: not one request fails, every daemon of ours has a new
PID, and `tristack status` says the stack is healthy."""
import http.client as httpc
import json
import os
import re
import shutil
import ssl
import subprocess
import tempfile
import threading
import time

from conftest import ONE_ADDRESS_LOAD, alive, binary, own_stack, wait_for
from lab import assert_no_sanitizer_report, read_text, spawn, stop
from lblab import LbLab

NAME = "a.example"
CHECK = "check = GET /healthz interval=200ms timeout=300ms rise=2 fall=2 expect=2xx\n"


def run(*cmd, timeout=30):
    r = subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"{' '.join(cmd)}: exit {r.returncode}\n{r.stdout}{r.stderr}"
    return r


def handshake(ip, sess_in=None, sess_out=None):
    """One HTTPS request with s_client (TLS 1.3): "New" or "Reused"."""
    args = ["openssl", "s_client", "-connect", f"{ip}:8443", "-servername", NAME, "-tls1_3",
            "-ign_eof"]
    args += ["-sess_in", sess_in] if sess_in else []
    args += ["-sess_out", sess_out] if sess_out else []
    req = f"GET /name HTTP/1.1\r\nHost: {NAME}\r\nConnection: close\r\n\r\n".encode()
    r = subprocess.run(args, input=req, capture_output=True, timeout=15)
    out = (r.stdout + r.stderr).decode(errors="replace")
    assert r.returncode == 0 and "HTTP/1.1 200" in out, out
    m = re.search(r"^(New|Reused), TLSv1\.3", out, re.M)
    assert m, out
    return m.group(1)


class Load:
    """Clients in threads until stop(): each counts its answers, and every
    failure (an exception, a status not expected) with what it was."""

    def __init__(self):
        self.halt = threading.Event()
        self.lock = threading.Lock()
        self.ok = 0
        self.failed = []
        self.threads = []

    def count(self, good, what):
        with self.lock:
            if good:
                self.ok += 1
            else:
                self.failed.append(what)

    def run(self, fn, n=1):
        for _ in range(n):
            t = threading.Thread(target=self._loop, args=(fn,), daemon=True)
            t.start()
            self.threads.append(t)

    def _loop(self, fn):
        while not self.halt.is_set():
            try:
                fn()
            except (OSError, httpc.HTTPException) as e:
                self.count(False, repr(e))

    def stop(self):
        self.halt.set()
        for t in self.threads:
            t.join(timeout=30)
        assert not any(t.is_alive() for t in self.threads), "a client did not end"


def tls_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the lab's self-signed certificate
    return ctx


def test_lb_takeover_refuses_no_connection_and_finishes_what_is_in_flight():
    tmp = tempfile.mkdtemp(prefix="tristack-upgrade-")
    os.chmod(tmp, 0o755)
    lab, new, load = LbLab(tmp), None, Load()
    try:
        crt, key = os.path.join(tmp, "a.crt"), os.path.join(tmp, "a.key")
        run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", key, "-out", crt, "-subj", f"/CN={NAME}", "-addext",
            f"subjectAltName=DNS:{NAME}", "-days", "30")
        keys = os.path.join(tmp, "keys", "tls-ticket.keys")
        os.makedirs(os.path.dirname(keys), mode=0o700)
        extra = (CHECK + ONE_ADDRESS_LOAD + f"tls_listen = :8443\ntls_cert = {crt} {key}\n"
                 f"tls_ticket_keys = {keys}\nthreads = 2\n")
        for name in ("b1", "b2"):
            lab.backend(name)
        servers = ["b1:8080", "b2:8080"]
        lab.write_conf(servers, extra)
        run(binary("tristack"), "-c", lab.conf, "--state", lab.state, "tickets", "rotate")
        old = lab.start_lb(servers, extra)
        sess = os.path.join(tmp, "sess.pem")
        assert handshake(lab.lb_ip, sess_out=sess) == "New"
        ctx = tls_context()

        def fresh_plain():  # a new connection each time: the redirect
            c = httpc.HTTPConnection(lab.lb_ip, 8080, timeout=10)
            c.request("GET", "/name", headers={"Host": NAME})
            r = c.getresponse()
            r.read()
            c.close()
            load.count(r.status == 301, f"plain {r.status}")

        def fresh_tls():
            c = httpc.HTTPSConnection(lab.lb_ip, 8443, timeout=10, context=ctx)
            c.request("GET", "/name", headers={"Host": NAME})
            r = c.getresponse()
            body = r.read()
            c.close()
            load.count(r.status == 200 and body in (b"b1", b"b2"), f"tls {r.status}")

        kept = httpc.HTTPSConnection(lab.lb_ip, 8443, timeout=10, context=ctx)

        def kept_alive():  # http.client opens again after a "Connection: close"
            kept.request("GET", "/name", headers={"Host": NAME})
            r = kept.getresponse()
            r.read()
            load.count(r.status == 200, f"kept-alive {r.status}")

        slow = {}

        def slow_request():
            c = httpc.HTTPSConnection(lab.lb_ip, 8443, timeout=30, context=ctx)
            c.request("GET", "/slow?ms=5000", headers={"Host": NAME})
            r = c.getresponse()
            slow["status"], slow["body"] = r.status, r.read()

        load.run(fresh_plain, 2)
        load.run(fresh_tls, 2)
        load.run(kept_alive)
        wait_for(lambda: load.ok >= 100, timeout=20, what="load flowing")
        t_slow = threading.Thread(target=slow_request)
        t_slow.start()
        wait_for(lambda: any(["GET", "/slow"] in b.stats()["requests"] for b in lab.backends),
                 timeout=10, what="the slow request at a backend")

        new_log = os.path.join(tmp, "lb-new.log")
        new = spawn([binary("tristack-lb"), "-c", lab.conf, "--state", lab.state,
                     "--takeover", lab.socket], new_log)
        assert t_slow.is_alive()  # the hand-over starts with it in flight
        # the old one stops once the new one serves, after its slow request
        wait_for(lambda: new.poll() is not None or old.poll() is not None, timeout=20,
                 what="the old LB's exit")
        assert new.poll() is None, read_text(new_log)
        assert old.returncode == 0, lab.log_text()[-2000:]
        t_slow.join(timeout=10)
        assert slow.get("status") == 200, slow
        text = read_text(new_log)
        assert re.search(r"took (\d+) listening sockets over", text), text
        assert "handed over" in lab.log_text()
        # the new one alone now: the load goes on a while longer
        ok0 = load.ok
        wait_for(lambda: load.ok >= ok0 + 100, timeout=20, what="load on the new LB")
        load.stop()
        assert load.failed == [], (len(load.failed), load.failed[:10])
        assert handshake(lab.lb_ip, sess_in=sess) == "Reused"
        assert lab.runtime("show servers")[0].count("UP") == 2
        assert_no_sanitizer_report(lab.log_text(), "the old LB's log")
        lab.daemon.proc = new  # lab.close() stops it and reads its log
        lab.daemon.log = new_log
        new = None
    finally:
        load.halt.set()
        try:
            if new is not None:
                stop(new)
            lab.close()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def test_a_refused_takeover_leaves_the_old_lb_serving():
    """A --takeover socket that is no LB's: the new process exits with an
    error, binding nothing of its own meanwhile."""
    tmp = tempfile.mkdtemp(prefix="tristack-upgrade-")
    os.chmod(tmp, 0o755)
    lab = LbLab(tmp)
    try:
        lab.backend("b1")
        lab.start_lb(["b1:8080"], "threads = 1\n")
        # what a successor is sent: the listener and the admin listener
        ip = lab.lb_ip
        assert lab.runtime("handover listeners") == [
            f"listeners 2\nstream {ip}:8080\nstream {ip}:8404"]
        log = os.path.join(tmp, "lb-new.log")
        bogus = os.path.join(tmp, "nobody.sock")
        p = spawn([binary("tristack-lb"), "-c", lab.conf, "--state", lab.state,
                   "--takeover", bogus], log)
        try:
            assert p.wait(timeout=10) == 1
        finally:
            stop(p)
        assert "nobody.sock" in read_text(log)
        assert lab.lb.poll() is None
        assert lab.runtime("show servers")[0].count("UP") == 1
        assert_no_sanitizer_report(read_text(log), "the refused LB's log")
    finally:
        try:
            lab.close()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


OURS = ("lb", "web", "app", "dns")


def test_tristack_upgrade_under_load_fails_no_request():
    with own_stack() as st:
        ctx = st.ssl_context()
        load = Load()
        hdr = {"Host": "www.foobar.com"}

        def client():
            c = httpc.HTTPSConnection(st.lb, 8443, context=ctx, timeout=10)
            try:
                for i in range(20):
                    if load.halt.is_set():
                        break
                    if i % 4 == 3:
                        doc = {"author": "upgrade", "body": f"post {time.monotonic_ns()}"}
                        c.request("POST", "/api/posts", body=json.dumps(doc).encode(),
                                  headers={**hdr, "Content-Type": "application/json"})
                        want = 201
                    else:
                        c.request("GET", "/api/posts?limit=5", headers=hdr)
                        want = 200
                    r = c.getresponse()
                    r.read()
                    load.count(r.status == want, f"{want} expected, got {r.status}")
            finally:
                c.close()

        before = {n: p for n, p in st.pids().items() if n.split(".")[1] in OURS}
        assert len(before) == 6, before  # lb and dns; web and app twice
        load.run(client, 8)
        try:
            wait_for(lambda: load.ok >= 50, timeout=20, what="load flowing")
            r = st.ctl("upgrade", timeout=240)
            assert "listening sockets handed over" in r.stdout, r.stdout
            ok0 = load.ok
            wait_for(lambda: load.ok >= ok0 + 50, timeout=20, what="load after the upgrade")
        finally:
            load.stop()
        assert load.failed == [], (len(load.failed), load.failed[:10], r.stdout)
        after = {n: p for n, p in st.pids().items() if n.split(".")[1] in OURS}
        assert after.keys() == before.keys()
        for n in before:
            assert after[n] != before[n], (n, before, after)
            assert alive(after[n]) and not alive(before[n]), n
        doc = json.loads(st.ctl("status", "--json").stdout)
        assert doc["supervisor"]["running"] is True
        for u in doc["units"]:
            assert u["state"] == "running" and u["healthy"] is True, u
