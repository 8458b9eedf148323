"""Session-ticket keys shared by a pair of load balancers ([lb]
tls_ticket_keys, docs/deploy.md): two LB processes reading one key file
open each other's tickets, so a client that resumed on one resumes on the
other after a failover; `tristack tickets rotate` reaches running LBs
without a signal; a ticket outlives one rotation and not two; a bad file
keeps the keys in use and is reported with file:line.

What the user sees is checked with openssl s_client ("New" or "Reused")
and the ticket itself: its first 16 bytes name the key that sealed it,
which must be the file's second to last."""
import base64
import os
import re
import shutil
import subprocess
import tempfile

import pytest

from conftest import binary, wait_for
from lblab import LbLab

NAME = "a.example"
REQ = f"GET /name HTTP/1.1\r\nHost: {NAME}\r\nConnection: close\r\n\r\n".encode()
VERSIONS = ["-tls1_2", "-tls1_3"]


def run(*cmd, check=True, timeout=30):
    r = subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)}: exit {r.returncode}\n{r.stdout}{r.stderr}")
    return r


def handshake(lab, version, sess_in=None, sess_out=None):
    """One HTTPS request with s_client: (output, "New" or "Reused")."""
    args = ["openssl", "s_client", "-connect", f"{lab.lb_ip}:8443", "-servername", NAME,
            version, "-ign_eof"]
    if sess_in:
        args += ["-sess_in", sess_in]
    if sess_out:
        args += ["-sess_out", sess_out]
    r = subprocess.run(args, input=REQ, capture_output=True, timeout=15)
    out = (r.stdout + r.stderr).decode(errors="replace")
    assert r.returncode == 0 and "HTTP/1.1 200" in out, out
    m = re.search(r"^(New|Reused), TLSv1\.[23]", out, re.M)
    assert m, out
    return out, m.group(1)


def ticket_key_name(sess):
    """The key name a saved session's ticket carries (its first 16 bytes)."""
    text = run("openssl", "sess_id", "-in", sess, "-noout", "-text").stdout
    m = re.search(r"TLS session ticket:\n((?:\s+[0-9a-f]{4} - .*\n)+)", text)
    assert m, text
    hexes = re.findall(r"\b[0-9a-f]{2}\b", re.sub(r"^\s+[0-9a-f]{4} -", "", m.group(1),
                                                     flags=re.M))
    return bytes.fromhex("".join(hexes[:16]))


def file_key_names(path):
    """The names of a key file's keys, oldest first."""
    names = []
    for line in open(path):
        line = line.strip()
        if line and not line.startswith("#"):
            raw = base64.b64decode(line, validate=True)
            assert len(raw) == 80
            names.append(raw[:16])
    return names


def sealing(path):
    names = file_key_names(path)
    return names[-2] if len(names) >= 2 else names[-1]


def sealed_with(lab, version, tmp, want):
    """Does a new session from lab carry a ticket sealed by the key want?"""
    sess = os.path.join(tmp, "probe.pem")
    handshake(lab, version, sess_out=sess)
    return ticket_key_name(sess) == want


def wait_sealing(labs, path, tmp, version="-tls1_3"):
    """Poll until every LB seals new tickets with the file's sealing key
    (each reads the file again within a second of a change)."""
    want = sealing(path)
    for lab in labs:
        wait_for(lambda: sealed_with(lab, version, tmp, want), timeout=10,
                 what=f"{lab.lb_ip} sealing with the file's second to last key")


def self_signed(d):
    crt, key = os.path.join(d, "a.crt"), os.path.join(d, "a.key")
    run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes", "-keyout", key, "-out", crt, "-subj", f"/CN={NAME}", "-addext",
        f"subjectAltName=DNS:{NAME}", "-days", "30")
    return crt, key


def lb_lines(crt, key, keys):
    return f"tls_listen = :8443\ntls_cert = {crt} {key}\ntls_ticket_keys = {keys}\n"


def rotate(lab):
    """`tristack tickets rotate` with the lab's stack file: its output."""
    return run(binary("tristack"), "-c", lab.conf, *lab.daemon.args, "tickets", "rotate").stdout


@pytest.fixture(scope="module")
def pair():
    """Two LBs, each in front of a backend of its own, reading one key file
    that `tristack tickets rotate` made."""
    tmp = tempfile.mkdtemp(prefix="tristack-tickets-")
    os.chmod(tmp, 0o755)
    labs = []
    try:
        crt, key = self_signed(tmp)
        keys = os.path.join(tmp, "shared", "tls-ticket.keys")
        for name in ("a", "b"):
            d = os.path.join(tmp, name)
            os.makedirs(d)
            lab = LbLab(d)
            labs.append(lab)
            lab.backend(f"{name}1")
        os.makedirs(os.path.dirname(keys), mode=0o700)
        labs[0].write_conf(["a1:8080"], lb_lines(crt, key, keys))
        out = rotate(labs[0])
        assert "made, 3 new keys" in out, out
        assert os.stat(keys).st_mode & 0o777 == 0o600
        assert len(file_key_names(keys)) == 3
        for lab in labs:
            lab.start_lb([f"{lab.backends[0].name}:8080"], lb_lines(crt, key, keys))
        pair = type("Pair", (), {})()
        pair.a, pair.b, pair.keys, pair.tmp, pair.crt, pair.key = (*labs, keys, tmp, crt, key)
        yield pair
    finally:
        try:
            for lab in labs:
                lab.close()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


@pytest.mark.parametrize("version", VERSIONS)
def test_a_session_from_one_lb_resumes_on_the_other(pair, version):
    sess = os.path.join(pair.tmp, f"a{version}.pem")
    _, how = handshake(pair.a, version, sess_out=sess)
    assert how == "New"
    # of three keys, the second to last seals: the last is the next
    assert ticket_key_name(sess) == sealing(pair.keys) == file_key_names(pair.keys)[1]
    _, how = handshake(pair.b, version, sess_in=sess)
    assert how == "Reused", "a ticket from one LB did not resume on the other"


@pytest.mark.parametrize("version", VERSIONS)
def test_a_restarted_lb_resumes_its_old_sessions(pair, version):
    sess = os.path.join(pair.tmp, f"restart{version}.pem")
    handshake(pair.a, version, sess_out=sess)
    pair.a.stop_lb()
    pair.a.start_lb(["a1:8080"], lb_lines(pair.crt, pair.key, pair.keys))
    _, how = handshake(pair.a, version, sess_in=sess)
    assert how == "Reused"


@pytest.mark.parametrize("version", VERSIONS)
def test_a_ticket_outlives_one_rotation_and_not_two(pair, version):
    sess = os.path.join(pair.tmp, f"old{version}.pem")
    handshake(pair.a, version, sess_out=sess)
    sealed_by = ticket_key_name(sess)
    assert sealed_by == sealing(pair.keys)

    out = rotate(pair.a)
    assert "rotated" in out, out
    names = file_key_names(pair.keys)
    assert len(names) == 3 and names[0] == sealed_by  # now the previous key
    wait_sealing([pair.a, pair.b], pair.keys, pair.tmp)  # no signal sent
    for lab in (pair.a, pair.b):
        _, how = handshake(lab, version, sess_in=sess)
        assert how == "Reused", f"{lab.lb_ip}: a ticket did not survive one rotation"

    rotate(pair.a)
    assert sealed_by not in file_key_names(pair.keys)
    wait_sealing([pair.a, pair.b], pair.keys, pair.tmp)
    for lab in (pair.a, pair.b):
        _, how = handshake(lab, version, sess_in=sess)
        assert how == "New", f"{lab.lb_ip}: a ticket of a dropped key still resumed"


def test_a_bad_file_keeps_the_keys_in_use(pair):
    sess = os.path.join(pair.tmp, "before-bad.pem")
    handshake(pair.b, "-tls1_3", sess_out=sess)
    good = open(pair.keys).read()
    bad = pair.keys + ".new"
    with open(bad, "w") as f:
        f.write(good + "this is not base64\n")
    os.replace(bad, pair.keys)
    lines = good.count("\n") + 1
    for lab in (pair.a, pair.b):
        wait_for(lambda: f"{pair.keys}:{lines}: not base64" in lab.log_text(), timeout=10,
                 what="the bad file's error in the log")
    for lab in (pair.a, pair.b):
        _, how = handshake(lab, "-tls1_3", sess_in=sess)
        assert how == "Reused"
    # said once, not every second
    assert pair.b.log_text().count("not base64") == 1
    # the rotation command refuses to build on it too
    r = run(binary("tristack"), "-c", pair.a.conf, "tickets", "rotate", check=False)
    assert r.returncode != 0 and f"{pair.keys}:{lines}: not base64" in r.stderr, r.stderr
    with open(bad, "w") as f:
        f.write(good)
    os.replace(bad, pair.keys)


def test_the_check_names_a_bad_file_by_line(pair, tmp_path):
    keys = tmp_path / "bad.keys"
    keys.write_text("# a comment\n\n" + base64.b64encode(bytes(48)).decode() + "\n")
    conf = tmp_path / "lb.conf"
    text = open(pair.a.conf).read().replace(pair.keys, str(keys))
    conf.write_text(text)
    r = run(binary("tristack-lb"), "-t", "-c", str(conf), check=False)
    assert r.returncode != 0
    assert f"{keys}:3: a key of 48 bytes, not 80" in r.stderr, r.stderr


def test_auto_takes_the_file_tristack_makes_when_it_appears(pair, tmp_path):
    """tls_ticket_keys = auto (the default): {state}/secrets/tls-ticket.keys
    when it is there; an LB that started before it was made takes it up."""
    d = tmp_path / "lab"
    d.mkdir()
    state = tmp_path / "state"
    lab = LbLab(str(d))
    try:
        lab.backend("c1")
        lab.daemon.args = ["--state", str(state)]
        lines = f"tls_listen = :8443\ntls_cert = {pair.crt} {pair.key}\n"
        lab.start_lb(["c1:8080"], lines)
        keys = state / "secrets" / "tls-ticket.keys"
        assert not keys.exists()
        handshake(lab, "-tls1_3")  # the LB's own keys meanwhile
        out = rotate(lab)
        assert str(keys) in out and "made" in out, out
        assert os.stat(state / "secrets").st_mode & 0o777 == 0o700
        wait_sealing([lab], str(keys), str(tmp_path))
    finally:
        lab.close()


def test_a_reload_with_a_bad_file_goes_on_with_the_keys_in_use(pair):
    """SIGHUP reads the file again; a bad one does not refuse the reload
    (the stack file is fine) and the keys in use stay."""
    sess = os.path.join(pair.tmp, "before-reload.pem")
    handshake(pair.b, "-tls1_2", sess_out=sess)
    good = open(pair.keys).read()
    try:
        with open(pair.keys, "w") as f:  # in place, as cp would
            f.write("# emptied\n")
        servers = [f"{pair.b.backends[0].name}:8080"]
        assert pair.b.reload(servers, lb_lines(pair.crt, pair.key, pair.keys))
        # the reload's own word (the once-a-second watcher says it without
        # "reload:"), so the reload did read the file
        assert f"reload: {pair.keys}: no key" in pair.b.log_text()
        _, how = handshake(pair.b, "-tls1_2", sess_in=sess)
        assert how == "Reused"
    finally:
        with open(pair.keys, "w") as f:
            f.write(good)
