"""HTTPS at the load balancer, as a client sees it: the certificate and the
protocols it offers (TLS 1.2 and 1.3, forward-secret AEAD suites only),
plain HTTP redirected, session resumption, garbage on the TLS port, SNI
among ECDSA, RSA and wildcard certificates, bad certificate files refused,
renewed certificates picked up by a reload, and testssl.sh's verdict."""
import http.client as httpclient
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import time

import pytest

from conftest import alive, binary, curl, raw_http, wait_for
from lab import http
from lblab import LbLab

# ---- shared helpers: a test PKI with the openssl CLI, s_client, metrics ----


def openssl(*args, input=None, timeout=30):
    r = subprocess.run(["openssl", *args], input=input, capture_output=True, timeout=timeout)
    if r.returncode != 0:
        raise AssertionError(f"openssl {' '.join(args)} failed:\n{r.stderr.decode()}")
    return r.stdout


def new_key(path, kind):
    """An ECDSA P-256 ("ec") or RSA 2048 ("rsa") private key, PEM."""
    if kind == "ec":
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-out", path)
    else:
        openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", path)
    return path


class Pki:
    """A test CA in a folder, and the server certificates it issues."""

    def __init__(self, d):
        self.dir = d
        self.ca_key = new_key(os.path.join(d, "ca.key"), "ec")
        self.ca = os.path.join(d, "ca.crt")
        openssl("req", "-x509", "-new", "-key", self.ca_key, "-out", self.ca, "-days", "30",
                "-subj", "/O=tristack tests/CN=tristack test CA",
                "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign")

    def issue(self, name, names, kind="ec", serial=1, key=None, issuer=None):
        """Certificate for names (the first is the CN), signed by the CA (or
        issuer: (crt, key) of an intermediate). Writes NAME.crt, NAME.key (or
        uses key) and NAME.pem (cert then key); returns (crt, key, pem)."""
        ext = ("basicConstraints = critical, CA:FALSE\n"
               "extendedKeyUsage = serverAuth\n"
               f"keyUsage = critical, digitalSignature"
               f"{', keyEncipherment' if kind == 'rsa' else ''}\n"
               "subjectAltName = " + ",".join(f"DNS:{n}" for n in names) + "\n")
        crt, key = self._sign(name, f"/CN={names[0]}", ext, kind, serial, key, issuer)
        pem = os.path.join(self.dir, name + ".pem")
        with open(pem, "w") as f:
            f.write(open(crt).read() + open(key).read())
        return crt, key, pem

    def intermediate(self, name, serial):
        """An intermediate CA under the root: (crt, key)."""
        ext = ("basicConstraints = critical, CA:TRUE, pathlen:0\n"
               "keyUsage = critical, keyCertSign, cRLSign\n")
        return self._sign(name, f"/O=tristack tests/CN={name}", ext, "ec", serial, None, None)

    def _sign(self, name, subj, ext_text, kind, serial, key, issuer):
        crt = os.path.join(self.dir, name + ".crt")
        key = key or new_key(os.path.join(self.dir, name + ".key"), kind)
        csr = os.path.join(self.dir, name + ".csr")
        ext = os.path.join(self.dir, name + ".ext")
        with open(ext, "w") as f:
            f.write(ext_text)
        ca_crt, ca_key = issuer or (self.ca, self.ca_key)
        openssl("req", "-new", "-key", key, "-out", csr, "-subj", subj)
        openssl("x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key,
                "-set_serial", str(serial), "-days", "30", "-extfile", ext, "-out", crt)
        return crt, key


def s_client(host, port, *args, stdin=b"", timeout=15):
    """openssl s_client's output (stdout and stderr together) and exit code.
    stdin is sent, then EOF (s_client then quits unless -ign_eof)."""
    r = subprocess.run(["openssl", "s_client", "-connect", f"{host}:{port}", *args],
                       input=stdin, capture_output=True, timeout=timeout)
    return (r.stdout + r.stderr).decode(errors="replace"), r.returncode


def handshake_ok(out):
    """Did s_client get a cipher (a finished handshake)?"""
    return re.search(r"Cipher is (TLS_|ECDHE-|DHE-)", out) is not None


def leaf_pem(out):
    """The server's certificate as printed by s_client."""
    m = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", out, re.S)
    assert m, out
    return m.group(0)


def cert_fields(pem):
    """(serial as int, subject text, SAN text, key algorithm) of a PEM cert."""
    text = openssl("x509", "-noout", "-serial", "-subject", "-text",
                   input=pem.encode()).decode()
    serial = int(re.search(r"^serial=([0-9A-F]+)$", text, re.M).group(1), 16)
    subject = re.search(r"^subject=(.*)$", text, re.M).group(1)
    m = re.search(r"Subject Alternative Name:.*\n\s*(.*)", text)
    san = m.group(1).strip() if m else ""
    alg = re.search(r"Public Key Algorithm: (\S+)", text).group(1)
    return serial, subject, san, alg


def der_to_pem(der):
    return ssl.DER_cert_to_PEM_cert(der)


def metrics_text(admin):
    return http(admin + "/metrics")[2].decode()


def metric(admin, name):
    """One sample of the LB's /metrics, by its full name with labels."""
    m = re.search(r"^" + re.escape(name) + r" (\d+)$", metrics_text(admin), re.M)
    assert m, f"{name} not in /metrics"
    return int(m.group(1))


def failures(reason):
    return f'tristack_lb_tls_handshake_failures_total{{reason="{reason}"}}'


RESUMED = 'tristack_lb_tls_handshakes_total{type="resumed"}'
FULL = 'tristack_lb_tls_handshakes_total{type="full"}'


class NamedHTTPSConnection(httpclient.HTTPSConnection):
    """HTTPS to an address, with the TLS server name (SNI and the name the
    certificate is checked against) of our choosing; servername None sends
    no SNI and checks no name."""

    def __init__(self, ip, port, servername, context, timeout=10):
        super().__init__(servername or ip, port, context=context, timeout=timeout)
        self.ip, self.servername = ip, servername

    def connect(self):
        sock = socket.create_connection((self.ip, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.servername)


def get(conn, path, headers=None):
    conn.request("GET", path, headers=headers or {})
    r = conn.getresponse()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()


def tls_context(cafile, servername=True, **kw):
    ctx = ssl.create_default_context(cafile=cafile)
    if not servername:
        ctx.check_hostname = False
    if "max_version" in kw:
        ctx.maximum_version = kw["max_version"]
    if "ciphers" in kw:
        ctx.set_ciphers(kw["ciphers"])
    return ctx


def peer(ip, port, servername, cafile, check_name=True, **kw):
    """(serial, DER certificate, cipher tuple, version) the server shows a
    client with this server name (None: no SNI); the chain is verified, and
    the name too when check_name."""
    ctx = tls_context(cafile, check_name and servername is not None, **kw)
    with socket.create_connection((ip, port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname=servername) as s:
            der = s.getpeercert(binary_form=True)
            return int(s.getpeercert()["serialNumber"], 16), der, s.cipher(), s.version()


def how_closed(sock, timeout):
    """Read until the server closes: "eof" (a FIN; over TLS, a close_notify
    first), "reset", "unclean" (TLS: a FIN without close_notify), or None
    when it is still open after timeout. Bytes that come first are dropped."""
    sock.settimeout(timeout)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if not sock.recv(65536):
                return "eof"
    except (ConnectionResetError, BrokenPipeError):
        return "reset"
    except ssl.SSLEOFError:
        return "unclean"
    except socket.timeout:
        return None
    return None


def closed_by_server(sock, timeout):
    return how_closed(sock, timeout) is not None


class KeptAlive:
    """One TLS connection for several requests, read by hand (so that what
    follows the last response, a clean close or not, can be seen)."""

    def __init__(self, ip, port, servername, ctx, timeout=10):
        raw = socket.create_connection((ip, port), timeout=timeout)
        self.sock = ctx.wrap_socket(raw, server_hostname=servername,
                                    suppress_ragged_eofs=False)
        self.servername = servername
        self.local = self.sock.getsockname()

    def get(self, path):
        self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {self.servername}\r\n\r\n".encode())
        data = b""
        while b"\r\n\r\n" not in data:
            b = self.sock.recv(65536)
            assert b, f"closed before a response to {path}: {data!r}"
            data += b
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        n = int(headers.get("content-length", "0"))
        while len(body) < n:
            b = self.sock.recv(65536)
            assert b, f"closed in the body of {path}"
            body += b
        assert len(body) == n, "more bytes than the response"
        return int(lines[0].split(" ")[1]), headers, body

    def serial(self):
        return int(self.sock.getpeercert()["serialNumber"], 16)

    def close(self):
        self.sock.close()


def client_hello(servername):
    """A real ClientHello, as Python's ssl would send it."""
    ctx = ssl.create_default_context()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname=servername)
    with pytest.raises(ssl.SSLWantReadError):
        obj.do_handshake()
    hello = outgoing.read()
    assert hello[:1] == b"\x16" and len(hello) > 100
    return hello


# ---- 1. the session stack: certificate, protocols, ciphers, ALPN ----

WWW = "www.foobar.com"
# a request s_client sends (with -ign_eof it then stays until the close, so
# a TLS 1.3 ticket, which comes after the handshake, is seen)
HELLO_REQ = f"GET /api/hello HTTP/1.1\r\nHost: {WWW}\r\nConnection: close\r\n\r\n".encode()


def www_curl(stack, path, *args):
    return curl("--cacert", stack.cafile, "--resolve", f"{WWW}:8443:{stack.lb}", *args,
                f"https://{WWW}:8443{path}")


def test_the_site_over_https_by_its_name(stack):
    status, h, body = www_curl(stack, "/")
    assert status == 200
    assert h["content-type"].startswith("text/html")
    assert b"<form" in body or b"<html" in body.lower()
    status, h, body = www_curl(stack, "/api/hello")
    assert status == 200
    assert h["content-type"].startswith("application/json")
    json.loads(body)
    assert h["strict-transport-security"] == "max-age=31536000"


def test_openssl_sees_tls13_and_a_verified_chain(stack):
    out, rc = s_client(stack.lb, 8443, "-servername", WWW, "-CAfile", stack.cafile,
                       "-ign_eof", stdin=HELLO_REQ)
    assert rc == 0, out
    assert "New, TLSv1.3, Cipher is TLS_" in out, out
    assert re.search(r"Protocol\s*: TLSv1\.3", out), out
    assert "Verify return code: 0 (ok)" in out, out
    assert "HTTP/1.1 200 OK" in out, out


def test_tls12_is_forward_secret(stack):
    out, rc = s_client(stack.lb, 8443, "-servername", WWW, "-CAfile", stack.cafile, "-tls1_2",
                       "-ign_eof", stdin=HELLO_REQ)
    assert rc == 0, out
    m = re.search(r"Cipher is (\S+)", out)
    assert m and m.group(1).startswith("ECDHE-"), out
    assert re.search(r"Protocol\s*: TLSv1\.2", out), out


@pytest.mark.parametrize("version", ["-tls1_1", "-tls1"])
def test_old_protocols_are_refused(stack, version):
    before = metric(stack.admin, failures("protocol_version"))
    out, rc = s_client(stack.lb, 8443, "-servername", WWW, "-CAfile", stack.cafile, version,
                       "-cipher", "DEFAULT@SECLEVEL=0")
    assert rc != 0, out
    assert not handshake_ok(out), out
    # the ClientHello did go out, and the server answered with its alert
    assert "alert protocol version" in out, out
    wait_for(lambda: metric(stack.admin, failures("protocol_version")) > before,
             what="the protocol_version failure counted")


def test_ciphers_without_forward_secrecy_are_refused(stack):
    before = metric(stack.admin, failures("no_shared_cipher"))
    out, rc = s_client(stack.lb, 8443, "-servername", WWW, "-CAfile", stack.cafile, "-tls1_2",
                       "-cipher", "AES128-SHA:AES256-SHA:DES-CBC3-SHA:AES128-GCM-SHA256")
    assert rc != 0, out
    assert not handshake_ok(out), out
    assert "alert handshake failure" in out, out
    wait_for(lambda: metric(stack.admin, failures("no_shared_cipher")) > before,
             what="the no_shared_cipher failure counted")


def test_alpn_offers_http11_only(stack):
    out, rc = s_client(stack.lb, 8443, "-servername", WWW, "-CAfile", stack.cafile,
                       "-alpn", "h2,http/1.1")
    assert rc == 0 and "ALPN protocol: http/1.1" in out, out
    out, rc = s_client(stack.lb, 8443, "-servername", WWW, "-CAfile", stack.cafile,
                       "-alpn", "h2")
    assert rc == 0 and "No ALPN negotiated" in out, out
    assert handshake_ok(out), out


# ---- 2. the plain listener: redirects, ACME, the CRL ----


def test_plain_http_redirects_to_https(stack):
    status, h, _ = curl(stack.http_url + "/api/posts?limit=2", "-H", f"Host: {WWW}")
    assert status == 301
    assert h["location"] == f"https://{WWW}:8443/api/posts?limit=2"
    assert "strict-transport-security" not in h  # RFC 6797: never over plain HTTP
    status, h, _ = curl(stack.http_url + "/a/b?c=d", "-H", f"Host: {WWW}:8080")
    assert status == 301 and h["location"] == f"https://{WWW}:8443/a/b?c=d"
    out = raw_http(stack.lb, 8080, b"GET /api/hello?x=1 HTTP/1.0\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 301 "), out
    assert f"\r\nLocation: https://{WWW}:8443/api/hello?x=1\r\n".encode() in out, out
    # absolute-form: its own path and query, or "/" when it has no path
    out = raw_http(stack.lb, 8080,
                   f"GET http://{WWW}/x/y?z=1 HTTP/1.1\r\nHost: {WWW}\r\n\r\n".encode())
    assert f"\r\nLocation: https://{WWW}:8443/x/y?z=1\r\n".encode() in out, out
    out = raw_http(stack.lb, 8080, f"GET http://{WWW} HTTP/1.1\r\nHost: {WWW}\r\n\r\n".encode())
    assert f"\r\nLocation: https://{WWW}:8443/\r\n".encode() in out, out
    status, h, _ = curl("-X", "POST", "--data", "text=hi", stack.http_url + "/posts",
                        "-H", f"Host: {WWW}")
    assert status == 301 and h["location"] == f"https://{WWW}:8443/posts"


def test_acme_challenges_are_answered_by_the_lb(stack):
    status, h, _ = curl(stack.http_url + "/.well-known/acme-challenge/sometoken",
                        "-H", f"Host: {WWW}")
    assert status == 404
    assert "x-served-by" not in h, h  # the LB's own 404, not a web server's
    assert "location" not in h
    # the exception is no way around the redirect to the site itself
    for path in ("/.well-known/acme-challenge/../../api/hello",
                 "/.well-known/acme-challenge/%2e%2e/%2e%2e/api/hello"):
        status, h, body = curl("--path-as-is", stack.http_url + path, "-H", f"Host: {WWW}")
        assert status in (400, 404), (path, status, body)
        assert "x-served-by" not in h, h


def test_the_local_ca_crl_is_published(stack, tmp_path):
    status, h, body = curl(stack.http_url + "/.well-known/tristack/ca.crl")
    assert status == 200
    assert h["content-type"] == "application/pkix-crl"
    crl = tmp_path / "ca.crl"
    crl.write_bytes(body)
    issuer = openssl("crl", "-inform", "DER", "-in", str(crl), "-noout", "-issuer").decode()
    subject = openssl("x509", "-in", stack.cafile, "-noout", "-subject").decode()
    assert issuer.split("=", 1)[1].strip() == subject.split("=", 1)[1].strip()
    # the CA's signature on it holds
    openssl("crl", "-inform", "DER", "-in", str(crl), "-noout", "-CAfile", stack.cafile)
    # the same over HTTPS
    assert curl(stack.url + "/.well-known/tristack/ca.crl")[2] == body
    # the certificates tristack up made point at it, and it revokes neither
    tls = os.path.join(stack.state, "tls")
    crl_pem = tmp_path / "ca.crl.pem"
    openssl("crl", "-inform", "DER", "-in", str(crl), "-out", str(crl_pem))
    for name in ("site-ecdsa.pem", "site-rsa.pem"):
        pem = os.path.join(tls, name)
        cdp = openssl("x509", "-in", pem, "-noout", "-ext", "crlDistributionPoints").decode()
        assert f"URI:http://{WWW}:8080/.well-known/tristack/ca.crl" in cdp, cdp
        r = subprocess.run(["openssl", "verify", "-crl_check", "-CAfile", stack.cafile,
                            "-CRLfile", str(crl_pem), pem],
                           capture_output=True, text=True, timeout=10)
        assert r.returncode == 0 and ": OK" in r.stdout, r.stdout + r.stderr
        assert os.stat(pem).st_mode & 0o077 == 0, f"{name} is readable by others"
    assert os.stat(os.path.join(tls, "ca.key")).st_mode & 0o077 == 0
    status, _, by_name = curl("--resolve", f"{WWW}:8080:{stack.lb}",
                              f"http://{WWW}:8080/.well-known/tristack/ca.crl")
    assert status == 200 and by_name == body


# ---- 3. session resumption ----


@pytest.mark.parametrize("version", ["-tls1_2", "-tls1_3"])
def test_openssl_resumes_its_session(stack, tmp_path, version):
    sess = str(tmp_path / "sess.pem")
    common = ("-servername", WWW, "-CAfile", stack.cafile, version, "-ign_eof")
    # a whole request and response: a TLS 1.3 ticket comes after the
    # handshake, before the response, and s_client stays until the close
    out, rc = s_client(stack.lb, 8443, *common, "-sess_out", sess, stdin=HELLO_REQ)
    assert rc == 0 and "HTTP/1.1 200 OK" in out, out
    assert "New, " in out, out
    before = metric(stack.admin, RESUMED)
    out, rc = s_client(stack.lb, 8443, *common, "-sess_in", sess, stdin=HELLO_REQ)
    assert rc == 0 and "HTTP/1.1 200 OK" in out, out
    want = "TLSv1.2" if version == "-tls1_2" else "TLSv1.3"
    assert f"Reused, {want}" in out, out
    wait_for(lambda: metric(stack.admin, RESUMED) > before, what="the resumed counter")


@pytest.mark.parametrize("tls_max", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_python_resumes_its_session(stack, tls_max):
    ctx = stack.ssl_context()
    ctx.maximum_version = tls_max
    with socket.create_connection((stack.lb, 8443), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname=stack.lb) as s:
            s.sendall(HELLO_REQ)
            while s.recv(65536):  # the ticket (1.3) arrives before the response
                pass
            sess = s.session
            assert not s.session_reused
    assert sess is not None and (tls_max == ssl.TLSVersion.TLSv1_2 or sess.has_ticket)
    with socket.create_connection((stack.lb, 8443), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname=stack.lb, session=sess) as s:
            assert s.session_reused
            assert s.version() == tls_max.name.replace("v1_", "v1.")


def test_a_resumed_tls13_session_gets_a_fresh_ticket(stack):
    """TLS 1.3 tickets are for one use (RFC 8446 C.4; OpenSSL clients that
    reuse their SSL object, wrk for one, do not resume twice on one): each
    resumption must hand out a new ticket, or every other connection of
    such a client is a full handshake."""
    ctx = stack.ssl_context()
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    sess, seen = None, []
    for i in range(4):
        with socket.create_connection((stack.lb, 8443), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname=stack.lb, session=sess) as s:
                s.sendall(HELLO_REQ)
                while s.recv(65536):
                    pass
                assert s.session_reused == (i > 0)
                sess = s.session
                seen.append(sess.id)
    assert len(set(seen)) == 4, "a resumption handed out no new ticket"


# ---- 4. garbage on the TLS port ----


def lb_pid(stack):
    pids = [pid for name, pid in stack.pids().items() if name.endswith(".lb.pid")]
    assert len(pids) == 1, stack.pids()
    return pids[0]


def send_and_expect_close(host, port, data, timeout=5):
    s = socket.create_connection((host, port), timeout=timeout)
    try:
        if data:
            s.sendall(data)
        return closed_by_server(s, timeout)
    finally:
        s.close()


def test_garbage_closes_only_its_own_connection(stack):
    pid = lb_pid(stack)
    keep = NamedHTTPSConnection(stack.lb, 8443, stack.lb, stack.ssl_context())
    try:
        assert get(keep, "/api/hello")[0] == 200
        local = keep.sock.getsockname()
        cases = [
            ("bad_message", b"\x16\x03\x01\xff\xff" + os.urandom(600)),
            ("http_request", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
        ]
        hello = client_hello(WWW)
        cases.append(("aborted", hello[:len(hello) // 2]))
        for reason, data in cases:
            before = metric(stack.admin, failures(reason))
            if reason == "aborted":
                # half a ClientHello, then the client goes away
                s = socket.create_connection((stack.lb, 8443), timeout=5)
                s.sendall(data)
                s.close()
            else:
                assert send_and_expect_close(stack.lb, 8443, data), reason
            wait_for(lambda: metric(stack.admin, failures(reason)) > before,
                     what=f"the {reason} failure counted")
            # the kept-alive connection next to it goes on, on the same socket
            status, _, body = get(keep, "/api/hello")
            assert status == 200, reason
            assert keep.sock.getsockname() == local, reason
        assert alive(pid) and lb_pid(stack) == pid
    finally:
        keep.close()


# ---- an LB alone with certificates of our own ----


@pytest.fixture(scope="module")
def pki():
    d = tempfile.mkdtemp(prefix="tristack-pki-")
    os.chmod(d, 0o755)
    try:
        p = Pki(d)
        p.a_ec = p.issue("a-ecdsa", ["a.example", "www.a.example"], "ec", serial=0xA1)
        p.a_rsa = p.issue("a-rsa", ["a.example", "www.a.example"], "rsa", serial=0xA2)
        p.b = p.issue("b", ["b.example"], "ec", serial=0xB1)
        p.c = p.issue("c-wild", ["*.c.example"], "ec", serial=0xC1)
        # d.example from an intermediate CA: the file holds leaf, then chain
        p.inter = p.intermediate("intermediate", serial=0x1D)
        crt, key, _ = p.issue("d", ["d.example"], "ec", serial=0xD1, issuer=p.inter)
        p.d_chain = os.path.join(d, "d-fullchain.pem")
        with open(p.d_chain, "w") as f:
            f.write(open(crt).read() + open(p.inter[0]).read())
        p.d = (crt, key, p.d_chain)
        yield p
    finally:
        shutil.rmtree(d, ignore_errors=True)


def tls_lines(pki, extra=""):
    return (f"tls_listen = :8443\n"
            f"tls_cert = {pki.a_ec[2]}\n"
            f"tls_cert = {pki.a_rsa[0]} {pki.a_rsa[1]}\n"
            f"tls_cert = {pki.b[0]} {pki.b[1]}\n"
            f"tls_cert = {pki.c[2]}\n"
            f"tls_cert = {pki.d_chain} {pki.d[1]}\n" + extra)


@pytest.fixture(scope="module")
def tls_lab(pki):
    """An LB with the five certificates in front of one python backend; a
    request head must come within 1 s, and an idle connection goes after 1 s."""
    tmp = tempfile.mkdtemp(prefix="tristack-lb-tls-")
    lab = LbLab(tmp)
    try:
        lab.backend("b1")
        lab.start_lb(["b1:8080"], tls_lines(pki, "timeout_http_request = 1s\n"
                                                  "timeout_http_keep_alive = 1s\n"))
        yield lab
    finally:
        try:
            lab.close()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


# ---- 5. X-Forwarded-Proto, HSTS and the access log (LbLab) ----


def test_backends_are_told_the_request_came_over_https(tls_lab, pki):
    conn = NamedHTTPSConnection(tls_lab.lb_ip, 8443, "a.example", tls_context(pki.ca))
    try:
        status, h, body = get(conn, "/echo")
    finally:
        conn.close()
    assert status == 200
    seen = {k.lower(): v for k, v in json.loads(body)["headers"]}
    assert seen["x-forwarded-proto"] == "https"
    assert h["strict-transport-security"] == "max-age=31536000"
    # a client cannot pretend otherwise
    conn = NamedHTTPSConnection(tls_lab.lb_ip, 8443, "a.example", tls_context(pki.ca))
    try:
        _, _, body = get(conn, "/echo", {"X-Forwarded-Proto": "http"})
    finally:
        conn.close()
    protos = [v for k, v in json.loads(body)["headers"] if k.lower() == "x-forwarded-proto"]
    assert protos == ["https"]
    # the plain listener redirects rather than forwarding
    out = raw_http(tls_lab.lb_ip, 8080, b"GET /echo?x=1 HTTP/1.1\r\nHost: a.example\r\n"
                   b"Connection: close\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 301 "), out
    assert b"\r\nLocation: https://a.example:8443/echo?x=1\r\n" in out, out
    assert b"strict-transport-security" not in out.lower()
    # the access log marks the TLS frontend with '~'
    wait_for(lambda: any(" lb-01~ servers/b1 " in line and '"GET /echo HTTP/1.1"' in line
                         for line in tls_lab.access_lines()),
             what="a TLS line in the access log")
    assert any(" lb-01 servers/<NOSRV> " in line and "301" in line
               for line in tls_lab.access_lines()), tls_lab.access_lines()[-5:]


ACME_REFUSED = [
    "/.well-known/acme-challenge/../../echo", "/.well-known/acme-challenge/%2e%2e/%2E%2E/echo",
    "/.well-known/acme-challenge/..%2f..%2fecho", "/.well-known/acme-challenge//../../echo",
    "/.well-known/acme-challenge/tok/../../../echo", "/.well-known/acme-challenge/a%2Fb",
    "/.well-known/acme-challenge/tok/x", "/.well-known/acme-challenge/tok%00",
    "/.well-known/acme-challenge/", "/.well-known/acme-challenge/tok.html",
    "/.well-known/acme-challenge/a-b_c?x=1"]


@pytest.mark.parametrize("path", ACME_REFUSED + ["/.well-known/acme-challenge%2ftok"])
def test_only_an_acme_token_escapes_the_redirect(tls_lab, path):
    """What names ACME's folder as sent is the LB's: 400 or 404, never the
    servers' and never the redirect; anything else is redirected."""
    req = f"GET {path} HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n"
    out = raw_http(tls_lab.lb_ip, 8080, req.encode())
    if path in ACME_REFUSED:
        assert out.startswith((b"HTTP/1.1 404 ", b"HTTP/1.1 400 ")), out[:300]
        assert b"Location:" not in out, out[:300]
    else:
        assert out.startswith(b"HTTP/1.1 301 "), out[:300]


def test_an_acme_token_is_answered_by_the_lb(tls_lab, pki):
    folder = os.path.join(tls_lab.state, "acme", ".well-known", "acme-challenge")
    os.makedirs(folder, exist_ok=True)
    token = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0"
    with open(os.path.join(folder, token), "w") as f:
        f.write(token + ".thumbprint")
    os.symlink(os.path.join(folder, token), os.path.join(folder, "link"))
    before = len(tls_lab.backends[0].stats()["requests"])
    try:
        for path in (f"/.well-known/acme-challenge/{token}", "/.well-known/./acme-challenge/%4c"
                     "oqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0"):
            req = f"GET {path} HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n"
            out = raw_http(tls_lab.lb_ip, 8080, req.encode())
            assert out.startswith(b"HTTP/1.1 200 "), (path, out[:300])
            assert out.endswith(f"\r\n\r\n{token}.thumbprint".encode()), out[-200:]
            conn = NamedHTTPSConnection(tls_lab.lb_ip, 8443, "a.example", tls_context(pki.ca))
            try:  # over HTTPS too
                status, _, body = get(conn, path)
            finally:
                conn.close()
            assert status == 200 and body == f"{token}.thumbprint".encode(), (status, body)
        for path in ("/.well-known/acme-challenge/unknownToken", "/.well-known/acme-challenge/link"):
            req = f"GET {path} HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n"
            out = raw_http(tls_lab.lb_ip, 8080, req.encode())
            assert out.startswith(b"HTTP/1.1 404 ") and b"Location:" not in out, (path, out)
    finally:
        shutil.rmtree(os.path.join(tls_lab.state, "acme"), ignore_errors=True)
    # none of it reached the server
    assert len(tls_lab.backends[0].stats()["requests"]) == before


def test_an_idle_tls_connection_is_closed_in_timeout_http_request(tls_lab):
    for data in (b"", client_hello("a.example")[:20]):
        aborted = metric(tls_lab.admin, failures("aborted"))
        s = socket.create_connection((tls_lab.lb_ip, 8443), timeout=5)
        try:
            t0 = time.monotonic()
            if data:
                s.sendall(data)
            assert closed_by_server(s, 5), f"still open after 5 s ({data!r})"
            took = time.monotonic() - t0
        finally:
            s.close()
        assert 0.8 < took < 2.5, took
        if data:  # a handshake begun and never finished
            wait_for(lambda: metric(tls_lab.admin, failures("aborted")) > aborted,
                     what="the aborted handshake counted")
        else:  # silence is not a failed handshake (port scans, TCP checks)
            assert metric(tls_lab.admin, failures("aborted")) == aborted


def test_a_bare_tcp_connect_is_not_a_failed_handshake(tls_lab):
    before = metric(tls_lab.admin, failures("aborted"))
    for _ in range(5):
        socket.create_connection((tls_lab.lb_ip, 8443), timeout=5).close()
    # a handshake after them is counted at once: the five were seen by then
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    with ctx.wrap_socket(socket.create_connection((tls_lab.lb_ip, 8443), timeout=5)):
        pass
    assert metric(tls_lab.admin, failures("aborted")) == before


def test_an_idle_kept_alive_connection_is_closed_cleanly(tls_lab, pki):
    k = KeptAlive(tls_lab.lb_ip, 8443, "b.example", tls_context(pki.ca))
    try:
        assert k.get("/name")[0] == 200
        t0 = time.monotonic()
        assert how_closed(k.sock, 5) == "eof"  # close_notify, then FIN
        assert 0.8 < time.monotonic() - t0 < 2.5
    finally:
        k.close()


def test_handshakes_are_counted_by_type_and_version(tls_lab, pki):
    names = [FULL, RESUMED, 'tristack_lb_tls_handshakes_by_version_total{version="TLSv1.2"}',
             'tristack_lb_tls_handshakes_by_version_total{version="TLSv1.3"}']

    def counts():
        return [metric(tls_lab.admin, n) for n in names]

    ctxs = {}

    def one(tls_max, session=None):
        ctx = ctxs.setdefault(tls_max, tls_context(pki.ca, max_version=tls_max))
        with socket.create_connection((tls_lab.lb_ip, 8443), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname="b.example", session=session) as s:
                s.sendall(b"GET /name HTTP/1.1\r\nHost: b.example\r\nConnection: close\r\n\r\n")
                while s.recv(65536):
                    pass
                return s.session

    for tls_max, proto in ((ssl.TLSVersion.TLSv1_2, 2), (ssl.TLSVersion.TLSv1_3, 3)):
        before = counts()
        sess = one(tls_max)
        want = [before[0] + 1, before[1], before[2] + (proto == 2), before[3] + (proto == 3)]
        wait_for(lambda: counts() == want, what=f"a full TLS 1.{proto} handshake counted")
        one(tls_max, sess)
        want = [want[0], want[1] + 1, want[2] + (proto == 2), want[3] + (proto == 3)]
        wait_for(lambda: counts() == want, what=f"a resumed TLS 1.{proto} handshake counted")


# ---- 6. SNI and key types (LbLab) ----


# server name sent, the certificate (serial, CN) that should come back, and
# whether it is the name's own (else the first configured: the default)
SNI_CASES = [
    ("a.example", 0xA1, "a.example", True),
    ("www.a.example", 0xA1, "a.example", True),
    ("A.Example", 0xA1, "a.example", True),
    ("b.example", 0xB1, "b.example", True),
    ("x.c.example", 0xC1, "*.c.example", True),
    ("d.example", 0xD1, "d.example", True),
    ("unknown.example", 0xA1, "a.example", False),
    ("c.example", 0xA1, "a.example", False),      # a wildcard needs one label more
    ("y.x.c.example", 0xA1, "a.example", False),  # ... and only one
    (None, 0xA1, "a.example", False),
]


@pytest.mark.parametrize("servername, serial, name, own", SNI_CASES)
def test_sni_chooses_the_certificate(tls_lab, pki, servername, serial, name, own):
    args = ["-CAfile", pki.ca, "-showcerts"]
    args += ["-servername", servername] if servername else ["-noservername"]
    out, rc = s_client(tls_lab.lb_ip, 8443, *args)
    assert rc == 0 and handshake_ok(out), out
    assert "Verify return code: 0 (ok)" in out, out  # the chain, up to the root
    got_serial, subject, san, alg = cert_fields(leaf_pem(out))
    assert got_serial == serial, out
    if servername == "d.example":  # the intermediate follows the leaf
        assert re.search(r"^ 1 s:O = tristack tests, CN = intermediate$", out, re.M), out
    assert subject.replace(" ", "") == f"CN={name}"
    assert f"DNS:{name}" in san
    assert alg == "id-ecPublicKey"
    # and Python, which checks the name against it when it is the name's own
    got, _, _, _ = peer(tls_lab.lb_ip, 8443, servername, pki.ca, check_name=own)
    assert got == serial


def test_an_rsa_only_client_gets_the_rsa_certificate(tls_lab, pki):
    out, rc = s_client(tls_lab.lb_ip, 8443, "-CAfile", pki.ca, "-showcerts", "-tls1_2",
                       "-sigalgs", "RSA-PSS+SHA256:RSA+SHA256", "-servername", "a.example")
    assert rc == 0 and handshake_ok(out), out
    serial, subject, san, alg = cert_fields(leaf_pem(out))
    assert (serial, alg) == (0xA2, "rsaEncryption"), out
    assert "DNS:a.example" in san and "DNS:www.a.example" in san
    assert "Verify return code: 0 (ok)" in out
    serial, _, cipher, version = peer(tls_lab.lb_ip, 8443, "a.example", pki.ca,
                                      max_version=ssl.TLSVersion.TLSv1_2,
                                      ciphers="ECDHE-RSA-AES128-GCM-SHA256")
    assert (serial, cipher[0], version) == (0xA2, "ECDHE-RSA-AES128-GCM-SHA256", "TLSv1.2")
    # anyone else gets ECDSA, TLS 1.2 or 1.3
    serial, _, cipher, version = peer(tls_lab.lb_ip, 8443, "a.example", pki.ca,
                                      max_version=ssl.TLSVersion.TLSv1_2)
    assert (serial, version) == (0xA1, "TLSv1.2") and cipher[0].startswith("ECDHE-ECDSA-")
    serial, _, _, version = peer(tls_lab.lb_ip, 8443, "a.example", pki.ca)
    assert (serial, version) == (0xA1, "TLSv1.3")


def test_tls12_session_ids_resume_without_tickets(tls_lab, pki, tmp_path):
    """One worker: its session cache alone resumes a client that takes no
    tickets."""
    sess = str(tmp_path / "sess.pem")
    common = ("-servername", "b.example", "-CAfile", pki.ca, "-tls1_2", "-no_ticket")
    out, rc = s_client(tls_lab.lb_ip, 8443, *common, "-sess_out", sess)
    assert rc == 0 and "New, TLSv1.2" in out, out
    before = metric(tls_lab.admin, RESUMED)
    out, rc = s_client(tls_lab.lb_ip, 8443, *common, "-sess_in", sess)
    assert rc == 0 and "Reused, TLSv1.2" in out, out
    wait_for(lambda: metric(tls_lab.admin, RESUMED) > before, what="the resumed counter")


@pytest.mark.parametrize("servername, serial", [("a.example", 0xA1), ("b.example", 0xB1),
                                                ("x.c.example", 0xC1)])
@pytest.mark.parametrize("tls_max", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_sessions_resume_under_each_certificate(tls_lab, pki, servername, serial, tls_max):
    ctx = tls_context(pki.ca)
    ctx.maximum_version = tls_max
    req = f"GET /name HTTP/1.1\r\nHost: {servername}\r\nConnection: close\r\n\r\n"
    sess = None
    for resumed in (False, True):
        with socket.create_connection((tls_lab.lb_ip, 8443), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname=servername, session=sess) as s:
                assert s.session_reused == resumed
                assert int(s.getpeercert()["serialNumber"], 16) == serial
                s.sendall(req.encode())
                data = b""
                while b := s.recv(65536):
                    data += b
                assert data.startswith(b"HTTP/1.1 200 ") and data.endswith(b"b1")
                sess = s.session


def lb_check(tmp, pki, cert_line, extra="", listen=":8080"):
    """tristack-lb -t on a file with this tls_cert line."""
    conf = os.path.join(tmp, "check.conf")
    with open(conf, "w") as f:
        f.write("[site]\nwww = lb-01\n\n[host lb-01]\naddress = 127.0.0.1\nroles = lb\n\n"
                "[host w]\naddress = 127.0.0.2\nroles = web\n\n"
                f"[lb]\nlisten = {listen}\ntls_listen = :8443\nserver = w:8080\n"
                f"tls_cert = {cert_line}\n{extra}")
    return subprocess.run([binary("tristack-lb"), "-t", "-c", conf], capture_output=True,
                          text=True, timeout=10)


def test_bad_certificate_files_are_refused_by_name(pki, tmp_path):
    r = lb_check(tmp_path, pki, pki.a_ec[2])
    assert r.returncode == 0, r.stderr
    assert f"tls_cert = {pki.a_ec[2]}" in r.stdout
    missing = str(tmp_path / "nope.pem")
    r = lb_check(tmp_path, pki, missing)
    assert r.returncode != 0
    assert missing in r.stderr and "cannot open" in r.stderr, r.stderr
    r = lb_check(tmp_path, pki, f"{pki.a_ec[0]} {pki.b[1]}")  # a.example with b's key
    assert r.returncode != 0
    assert pki.b[1] in r.stderr and "not the certificate's" in r.stderr, r.stderr
    r = lb_check(tmp_path, pki, pki.b[1])  # a key, no certificate
    assert r.returncode != 0
    assert pki.b[1] in r.stderr and "no PEM certificate" in r.stderr, r.stderr
    empty = tmp_path / "empty.pem"
    empty.write_text("")
    r = lb_check(tmp_path, pki, str(empty))
    assert r.returncode != 0 and str(empty) in r.stderr, r.stderr
    r = lb_check(tmp_path, pki, pki.a_ec[0])  # the certificate alone, no key
    assert r.returncode != 0
    assert pki.a_ec[0] in r.stderr and "no PEM private key" in r.stderr, r.stderr


def test_ticket_rotation_has_a_floor(pki, tmp_path):
    r = lb_check(tmp_path, pki, pki.a_ec[2], "tls_ticket_rotate = 30s\n")
    assert r.returncode != 0 and "tls_ticket_rotate" in r.stderr, r.stderr
    r = lb_check(tmp_path, pki, pki.a_ec[2], "tls_ticket_rotate = 1m\n")
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("key", ["listen", "admin"])
def test_tls_listen_may_not_share_a_port(pki, tmp_path, key):
    """SO_REUSEPORT would let the two listeners split the port's connections
    (half the handshakes would meet the plain listener): refused."""
    if key == "listen":
        r = lb_check(tmp_path, pki, pki.a_ec[2], listen=":8443")
    else:
        r = lb_check(tmp_path, pki, pki.a_ec[2], "admin = :8443\n")
    assert r.returncode != 0, r.stderr
    assert "tls_listen" in r.stderr, r.stderr


# ---- 7. a reload picks up a renewed certificate (LbLab) ----


@pytest.fixture
def lab(tmp_path):
    os.chmod(tmp_path, 0o755)
    lab = LbLab(str(tmp_path))
    try:
        lab.backend("b1")
        yield lab
    finally:
        lab.close()


def test_a_reload_serves_the_renewed_certificate_and_keeps_connections(lab, pki):
    site = os.path.join(lab.tmp, "site.pem")
    shutil.copy(pki.b[2], site)
    extra = f"tls_listen = :8443\ntls_cert = {site}\n"
    lab.start_lb(["b1:8080"], extra)
    ctx = tls_context(pki.ca)
    assert peer(lab.lb_ip, 8443, "b.example", pki.ca)[0] == 0xB1
    old = KeptAlive(lab.lb_ip, 8443, "b.example", ctx)
    try:
        status, h, body = old.get("/name")
        assert (status, body) == (200, b"b1")
        assert "connection" not in h  # kept alive
        # renewal: a new certificate (new serial, new key) replaces the file
        _, _, pem = pki.issue("b-renewed", ["b.example"], "ec", serial=0xB2)
        shutil.copy(pem, site + ".new")
        os.replace(site + ".new", site)
        assert lab.reload(["b1:8080"], extra)
        wait_for(lambda: peer(lab.lb_ip, 8443, "b.example", pki.ca)[0] == 0xB2,
                 what="the renewed certificate on new connections")
        # the kept-alive connection of the old generation answers its next
        # request (as test_lb_reload expects of plain ones), says it will
        # close, and closes cleanly: close_notify, then FIN
        status, h, body = old.get("/name")
        assert (status, body) == (200, b"b1")
        assert h.get("connection") == "close"
        assert old.serial() == 0xB1
        assert how_closed(old.sock, 5) == "eof"
    finally:
        old.close()
    wait_for(lambda: "generation 1 has drained" in lab.log_text(), what="the old one gone")
    # session tickets survive the reload (process-wide keys)
    with socket.create_connection((lab.lb_ip, 8443), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="b.example") as s:
            s.sendall(b"GET /name HTTP/1.1\r\nHost: b.example\r\nConnection: close\r\n\r\n")
            while s.recv(65536):
                pass
            sess = s.session
    assert lab.reload(["b1:8080"], extra)
    with socket.create_connection((lab.lb_ip, 8443), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="b.example", session=sess) as s:
            assert s.session_reused


def test_a_reload_with_a_broken_certificate_is_refused(lab, pki):
    site = os.path.join(lab.tmp, "site.pem")
    shutil.copy(pki.b[2], site)
    extra = f"tls_listen = :8443\ntls_cert = {site}\n"
    lab.start_lb(["b1:8080"], extra)
    with open(site, "w") as f:
        f.write(open(pki.b[0]).read() + open(pki.a_ec[1]).read())  # the wrong key
    assert not lab.reload(["b1:8080"], extra)
    assert re.search(r"reload refused.*" + re.escape(site), lab.log_text()), lab.log_text()
    assert peer(lab.lb_ip, 8443, "b.example", pki.ca)[0] == 0xB1


def test_hsts_0_sends_no_header(lab, pki):
    lab.start_lb(["b1:8080"], f"tls_listen = :8443\ntls_cert = {pki.b[2]}\nhsts = 0\n")
    conn = NamedHTTPSConnection(lab.lb_ip, 8443, "b.example", tls_context(pki.ca))
    try:
        status, h, _ = get(conn, "/name")
    finally:
        conn.close()
    assert status == 200 and "strict-transport-security" not in h


# ---- 8. testssl.sh's verdict on the session stack ----


def test_testssl_finds_nothing_high_or_critical(stack, tmp_path):
    if shutil.which("testssl") is None:
        pytest.skip("testssl (Debian package testssl.sh) is not installed")
    out = tmp_path / "testssl.json"
    r = subprocess.run(["testssl", "--quiet", "--color", "0", "--warnings", "off",
                        "--jsonfile", str(out), "--add-ca", stack.cafile,
                        f"https://{stack.lb}:8443"],
                       capture_output=True, text=True, timeout=300)
    assert out.exists(), r.stdout[-3000:] + r.stderr[-2000:]
    findings = json.loads(out.read_text())
    assert len(findings) > 50, findings
    for f in findings:  # shown with -s, or when the test fails
        if f.get("severity") in ("LOW", "MEDIUM", "HIGH", "CRITICAL"):
            print(f"{f['severity']}: {f['id']}: {f['finding']}")
    bad = [f for f in findings if f.get("severity") in ("HIGH", "CRITICAL")]
    assert not bad, "\n".join(f"{f['severity']} {f['id']}: {f['finding']}" for f in bad)
