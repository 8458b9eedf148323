"""Certificates from ACME, end to end: pebble (Let's Encrypt's test CA) in
front of a loopback stack whose [lb] acme_directory names it. `tristack
certs renew` obtains an ECDSA and an RSA certificate with certbot, the LB
answers pebble's HTTP-01 challenges itself (never the web servers), and
openssl s_client sees pebble's certificates, then new serials after a
forced renewal, from the same LB process, while a keep-alive connection
opened before goes on working."""
import calendar
import http.client as httpclient
import json
import os
import re
import shutil
import ssl
import subprocess
import tempfile
import time

import pytest

from conftest import binary, metric_samples, own_stack, raw_http, wait_for
from lab import http, read_text, stop
from test_lb_tls import cert_fields, handshake_ok, leaf_pem, openssl, s_client

WWW = "www.foobar.com"
PEBBLE = shutil.which("pebble") or "/usr/bin/pebble"
CERTBOT = shutil.which("certbot")

pytestmark = pytest.mark.skipif(
    not os.path.exists(PEBBLE) or CERTBOT is None,
    reason="pebble and certbot are not installed (scripts/install-deps.sh installs them)")


class Pebble:
    """pebble on the stack's own loopback /24 (.9), its directory over TLS
    with a certificate made here, validating HTTP-01 on the LB's plain port
    (8080) and resolving names with the stack's DNS."""

    def __init__(self, tmp, net):
        self.dir = os.path.join(tmp, "pebble")
        os.makedirs(self.dir)
        self.ip = f"{net}.9"
        self.url = f"https://{self.ip}:14000/dir"
        self.mgmt = f"https://{self.ip}:15000"
        self.cert = os.path.join(self.dir, "cert.pem")
        key = os.path.join(self.dir, "key.pem")
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes", "-keyout", key, "-out", self.cert, "-days", "2",
                "-subj", "/CN=pebble", "-addext", f"subjectAltName=IP:{self.ip},DNS:localhost")
        self.conf = os.path.join(self.dir, "pebble.json")
        with open(self.conf, "w") as f:
            json.dump({"pebble": {
                "listenAddress": f"{self.ip}:14000",
                "managementListenAddress": f"{self.ip}:15000",
                "certificate": self.cert, "privateKey": key,
                "httpPort": 8080, "tlsPort": 8443,
                "ocspResponderURL": "", "externalAccountBindingRequired": False}}, f)
        self.log = os.path.join(self.dir, "pebble.log")
        self.dns = f"{net}.1:5353"
        self.proc = None

    def start(self):
        env = dict(os.environ, PEBBLE_VA_NOSLEEP="1", PEBBLE_VA_ALWAYS_VALID="0",
                   PEBBLE_WFE_NONCEREJECT="0")
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen([PEBBLE, "-config", self.conf, "-dnsserver", self.dns],
                                         stdout=out, stderr=subprocess.STDOUT, env=env,
                                         start_new_session=True)
        self.proc.group = True
        wait_for(lambda: self.get("/roots/0") is not None, timeout=20,
                 what=f"pebble answering (its log: {read_text(self.log)[-2000:]})")

    def get(self, path):
        """A PEM of its management interface (None while it does not answer)."""
        ctx = ssl.create_default_context(cafile=self.cert)
        try:
            conn = httpclient.HTTPSConnection(self.ip, 15000, context=ctx, timeout=5)
            conn.request("GET", path)
            r = conn.getresponse()
            body = r.read().decode()
            conn.close()
            return body if r.status == 200 else None
        except OSError:
            return None

    def stop(self):
        stop(self.proc)


@pytest.fixture(scope="module")
def acme():
    """A stack whose acme_directory is pebble's, and pebble; both stopped by
    PID at the end, also when a step fails."""
    tmp = tempfile.mkdtemp(prefix="tristack-acme-")
    pebble = None

    def edit(text):
        net = re.search(r"^address\s*=\s*(127\.\d+\.\d+)\.1\b", text, re.M).group(1)
        return text.replace("[lb]\n", f"[lb]\nacme_directory = https://{net}.9:14000/dir\n"
                            "timeout_http_keep_alive = 120s\n", 1)

    try:
        with own_stack(folder=tmp, up=False, edit=edit) as st:
            pebble = Pebble(tmp, st.net)
            assert f"acme_directory = {pebble.url}" in read_text(st.conf)
            st.up_output = st.ctl("up", timeout=90).stdout
            pebble.start()
            st.pebble = pebble
            yield st
    finally:
        try:
            if pebble:
                pebble.stop()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def renew(st, *args):
    env = dict(os.environ, REQUESTS_CA_BUNDLE=st.pebble.cert)
    r = subprocess.run([binary("tristack"), "-c", st.conf, "--state", st.state, "certs", "renew",
                        *args], capture_output=True, text=True, timeout=180, env=env)
    logs = read_text(os.path.join(st.state, "log", "certbot", "letsencrypt.log"))
    assert r.returncode == 0, f"{r.stdout}\n{r.stderr}\n{logs[-4000:]}"
    return r.stdout


def served(st, rsa=False):
    """(serial, issuer, PEM) of the certificate the LB serves now, verified
    with pebble's root."""
    root = os.path.join(st.tmp, "pebble", "root.pem")
    with open(root, "w") as f:
        f.write(st.pebble.get("/roots/0"))
    args = ["-servername", WWW, "-verify_hostname", WWW, "-CAfile", root,
            "-verify_return_error"]
    if rsa:
        args += ["-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256"]
    out, rc = s_client(st.lb, 8443, *args)
    assert rc == 0 and handshake_ok(out), out
    pem = leaf_pem(out)
    issuer = openssl("x509", "-noout", "-issuer", input=pem.encode()).decode()
    return cert_fields(pem)[0], issuer.split("=", 1)[1].strip(), pem


def intermediate_subject(st):
    pem = st.pebble.get("/intermediates/0")
    return openssl("x509", "-noout", "-subject", input=pem.encode()).decode() \
        .split("=", 1)[1].strip()


def lb_pid(st):
    return st.pids()["lb-01.lb.pid"]


def keep_alive_get(conn):
    conn.request("GET", "/healthz", headers={"Host": WWW})
    r = conn.getresponse()
    r.read()
    return r.status


def wait_serial(st, old, rsa=False):
    """The serial the LB serves once it differs from old (a deadline)."""
    got, last = [], [""]

    def changed():
        try:  # pebble's root verifies none but pebble's certificates
            got[:] = [served(st, rsa)]
        except AssertionError as e:
            last[0] = str(e)[-1500:]
            return False
        return got[0][0] not in old

    try:
        wait_for(changed, timeout=15, interval=0.2, what="the LB serving the new certificate")
    except AssertionError as e:
        lb_log = read_text(os.path.join(st.state, "log", "lb-01.lb.log"))
        raise AssertionError(f"{e}; the last try: {last[0]}\nthe LB's log: {lb_log[-1500:]}") \
            from None
    return got[0]


def expiry_metric(st):
    text = http(st.admin + "/metrics")[2].decode()
    return {k: v for k, v in metric_samples(text).items()
            if "_tls_certificate_expiry_timestamp_seconds" in k}


def not_after(pem):
    end = openssl("x509", "-noout", "-enddate", input=pem.encode()).decode()
    return calendar.timegm(time.strptime(end.split("=", 1)[1].strip(), "%b %d %H:%M:%S %Y %Z"))


def test_renew_issues_then_renews_without_restarting_the_lb(acme):
    st = acme
    local = {served_local(st, rsa) for rsa in (False, True)}
    pid = lb_pid(st)
    ctx = ssl.create_default_context(cafile=st.cafile)  # the local CA's, still
    conn = httpclient.HTTPSConnection(st.lb, 8443, context=ctx, timeout=10)
    try:
        assert keep_alive_get(conn) == 200
        out = renew(st)
        assert "installed" in out and "reloaded" in out, out
        inter = intermediate_subject(st)
        ec_serial, ec_issuer, ec_pem = wait_serial(st, local)
        # the new certificate is served: the connection opened before it
        # still answers, from the same process
        assert keep_alive_get(conn) == 200
        assert lb_pid(st) == pid
    finally:
        conn.close()
    rsa_serial, rsa_issuer, _ = wait_serial(st, local, rsa=True)
    assert ec_issuer == inter and rsa_issuer == inter, (ec_issuer, rsa_issuer, inter)
    assert ec_serial != rsa_serial
    assert cert_fields(ec_pem)[3] == "id-ecPublicKey"
    # the expiry alert's metric follows the new certificate
    wait_for(lambda: any(abs(v - not_after(ec_pem)) < 2 for v in expiry_metric(st).values()),
             timeout=10, what=f"the expiry metric of the new certificate: {expiry_metric(st)}")
    # the account key and the lineages stay in the secrets folder, 0700
    secrets = os.path.join(st.state, "secrets", "acme")
    assert os.stat(secrets).st_mode & 0o777 == 0o700
    assert os.path.isdir(os.path.join(secrets, "accounts"))
    for name in ("site-ecdsa.pem", "site-rsa.pem"):
        assert os.stat(os.path.join(st.state, "tls", name)).st_mode & 0o777 == 0o600

    # nothing due: certbot keeps them, the LB is left alone
    out = renew(st)
    assert "nothing to reload" in out, out
    assert served(st)[0] == ec_serial

    # forced: new serials, the same LB process
    pid = lb_pid(st)
    out = renew(st, "--force")
    assert "reloaded" in out, out
    new_ec = wait_serial(st, {ec_serial})
    new_rsa = wait_serial(st, {rsa_serial}, rsa=True)
    assert new_ec[1] == inter and new_rsa[1] == inter
    assert lb_pid(st) == pid
    # pebble's validations were answered by the LB itself (<NOSRV>: no server)
    lb_log = read_text(os.path.join(st.state, "log", "lb-01.lb.access.log"))
    assert re.search(r'servers/<NOSRV> \S+ 200 .*"GET /\.well-known/acme-challenge/'
                     r'[A-Za-z0-9_-]+ HTTP/1\.1"', lb_log), lb_log[-2000:]


def served_local(st, rsa):
    """The serial of the local CA's certificate served before any renewal."""
    args = ["-servername", WWW, "-CAfile", st.cafile]
    if rsa:
        args += ["-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256"]
    out, rc = s_client(st.lb, 8443, *args)
    assert rc == 0 and handshake_ok(out), out
    return cert_fields(leaf_pem(out))[0]


def test_challenges_are_never_forwarded_to_the_web_servers(acme):
    st = acme
    for path in ("/.well-known/acme-challenge/unknownToken_-1",
                 "/.well-known/acme-challenge/" + "a" * 129,
                 "/.well-known/acme-challenge/bad.token",
                 "/.well-known/acme-challenge/../../api/hello",
                 "/.well-known/acme-challenge/%2e%2e/%2e%2e/etc/passwd",
                 "/.well-known/acme-challenge/..%2f..%2fsecrets"):
        req = f"GET {path} HTTP/1.1\r\nHost: {WWW}\r\nConnection: close\r\n\r\n"
        out = raw_http(st.lb, 8080, req.encode())
        assert re.match(rb"HTTP/1.1 (400|404) ", out), (path, out[:300])
        assert b"Location:" not in out and b"X-Served-By" not in out, (path, out[:300])
    # nothing of ACME reached a web server (pebble's validations neither,
    # when the test above ran)
    for web in ("web-01", "web-02"):
        text = read_text(os.path.join(st.state, "log", f"{web}.web.access.log"))
        assert text, f"{web} has no access log"
        assert "acme-challenge" not in text, text[-2000:]


def test_renew_refuses_a_stack_without_acme():
    with own_stack(up=False) as st:
        r = st.ctl("certs", "renew", check=False)
        assert r.returncode == 1 and "acme_directory is not set" in r.stderr, r.stderr
        r = st.ctl("certs", "bogus", check=False)
        assert r.returncode == 2 and "usage" in r.stderr
