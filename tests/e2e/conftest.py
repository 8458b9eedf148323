"""Fixtures for the end-to-end tests: a whole tristack stack on loopback.

Each test session gets its own stack file on its own 127.x.y.0/24 addresses
(so it never collides with a stack brought up by `make run`), its own state
folder, and is brought down by PID at the end, failing the test run if any
process is left or any sanitizer complained in a daemon's log.
"""
import atexit
import contextlib
import json
import os
import random
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("TRISTACK_BIN", os.path.join(ROOT, "build", "bin"))
SANITIZED = os.environ.get("TRISTACK_SANITIZED") == "1"


def cpu_count():
    return os.cpu_count() or 1


def binary(name):
    return os.path.join(BIN, name)


def free_subnet():
    """A 127.a.b.0/24 with nothing listening on the ports we use."""
    for _ in range(50):
        a, b = random.randint(100, 250), random.randint(1, 250)
        ok = True
        for host in (1, 2, 3):
            for port in (8080, 8443, 8404, 8405, 8406, 9000, 9001, 3306, 9090, 9093, 9104,
                         9110):
                s = socket.socket()
                try:
                    s.bind((f"127.{a}.{b}.{host}", port))
                except OSError:
                    ok = False
                finally:
                    s.close()
        if ok:
            return f"127.{a}.{b}"
    raise RuntimeError("no free loopback subnet")


# The stacks the tests start stand for many users behind one loopback
# address (load loops, the fault suite, the 1000 read-your-writes pairs):
# no per-address limits there. test_lb_ratelimit.py proves the limits on a
# load balancer of its own, with two client addresses.
ONE_ADDRESS_LOAD = "rate_limit = off\nrate_limit_write = off\nconn_limit = off\n"


def one_address_load(text):
    """A stack file's text with the LB's per-address limits off."""
    return text.replace("[lb]\n", "[lb]\n" + ONE_ADDRESS_LOAD, 1)


def others_reach(path):
    """Can an account that is neither owner nor group (the daemons' own,
    as root) reach path? Every folder on the way searchable by others."""
    path = os.path.abspath(path)
    while path != "/":
        path = os.path.dirname(path)
        if not os.stat(path).st_mode & 0o001:
            return False
    return True


_SITE_ROOT = []


def site_root():
    """The document root of the stacks `tristack up` starts here. As root the
    daemons drop to the tristack account, which must read it: the checkout's
    www/ when the account reaches it, else a copy of it that it reaches (a
    clone under a private folder, as CI's may be)."""
    if not _SITE_ROOT:
        www = os.path.join(ROOT, "www")
        if os.geteuid() != 0 or others_reach(www):
            _SITE_ROOT.append(www)
        else:
            tmp = tempfile.mkdtemp(prefix="tristack-www-")
            os.chmod(tmp, 0o755)
            shutil.copytree(www, os.path.join(tmp, "www"))
            atexit.register(shutil.rmtree, tmp, ignore_errors=True)
            _SITE_ROOT.append(os.path.join(tmp, "www"))
    return _SITE_ROOT[0]


def write_stack(path, net, extra=""):
    """The default stack of DESIGN.md, on the given loopback /24."""
    text = open(os.path.join(ROOT, "conf", "foobar.conf")).read()
    text = text.replace("127.0.0.1", f"{net}.1").replace("127.0.0.2", f"{net}.2")
    text = text.replace("127.0.0.3", f"{net}.3")
    text = re.sub(r"^root(\s*)= www", rf"root\1= {site_root()}", text, flags=re.M)
    with open(path, "w") as f:
        f.write(one_address_load(text) + extra)


def stack_with_web03(text, address, port):
    """A stack file's text with a third web host, web-03 (web, app,
    db-replica), and the LB's server for it."""
    host = f"[host web-03]\naddress = {address}\nroles   = web, app, db-replica\n\n"
    text = text.replace("[lb]\n", host + "[lb]\n", 1)
    return re.sub(r"^(server\s*= web-02:\d+.*)$", rf"\1\nserver     = web-03:{port} weight=1",
                  text, count=1, flags=re.M)


def stack_without_web03(text):
    """stack_with_web03 undone."""
    text = re.sub(r"^\[host web-03\]\n(?:[^\[\n].*\n)*\n?", "", text, flags=re.M)
    return re.sub(r"^server\s*= web-03:.*\n", "", text, flags=re.M)


# https://HOST:PORT -> the CA file that certifies it, for curl() and
# raw_http(): each stack's local CA (its certificate also names the LB's
# address, so the address verifies as well as www.foobar.com does).
CA_FILES = {}


class Stack:
    """A running stack and the commands to drive it. url is the site over
    HTTPS (the LB's address); http_url its plain listener, which redirects."""

    def __init__(self, tmp, net):
        # as root the daemons run as the tristack account: it must reach
        # the stack file and the state folder in here (mkdtemp makes 0700)
        os.chmod(tmp, 0o755)
        self.tmp = tmp
        self.net = net
        self.conf = os.path.join(tmp, "stack.conf")
        self.state = os.path.join(tmp, "state")
        self.lb = f"{net}.1"
        self.url = f"https://{net}.1:8443"
        self.http_url = f"http://{net}.1:8080"
        self.admin = f"http://{net}.1:8404"
        self.cafile = os.path.join(self.state, "tls", "ca.crt")
        CA_FILES[f"{net}.1:8443"] = self.cafile

    def ssl_context(self):
        return ssl.create_default_context(cafile=self.cafile)

    def ctl(self, *args, check=True, timeout=60):
        r = subprocess.run([binary("tristack"), "-c", self.conf, "--state", self.state, *args],
                           capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError(f"tristack {' '.join(args)} failed ({r.returncode}):\n"
                                 f"{r.stdout}\n{r.stderr}")
        return r

    def pids(self):
        """PIDs from the state folder's pid files."""
        run = os.path.join(self.state, "run")
        out = {}
        if os.path.isdir(run):
            for name in os.listdir(run):
                if not name.endswith(".pid"):
                    continue
                with open(os.path.join(run, name)) as f:
                    text = f.read().strip()
                if text.isdigit():  # not one being written
                    out[name] = int(text)
        return out

    def logs(self):
        d = os.path.join(self.state, "log")
        text = {}
        if os.path.isdir(d):
            for name in os.listdir(d):
                if not os.path.isfile(os.path.join(d, name)):
                    continue  # a program's folder of logs (certbot's)
                with open(os.path.join(d, name), errors="replace") as f:
                    text[name] = f.read()
        return text


class IsolatedStack(Stack):
    """The default isolated stack (conf/foobar-isolated.conf; CONF) on a
    198.18.N.0/24 of its own (RFC 2544's benchmarking range: nothing real
    lives there); clients run in its client namespace. stop() leaves
    nothing behind: no process, namespace or guard route. .1 is where
    www.foobar.com is: lb-01, or the floating address of the HA layout."""

    CONF = "foobar-isolated.conf"

    def __init__(self, tmp):
        n = random.randint(1, 250)
        super().__init__(tmp, f"198.18.{n}")
        self.url = f"https://{self.net}.1:443"
        CA_FILES[f"{self.net}.1:443"] = self.cafile
        text = open(os.path.join(ROOT, "conf", self.CONF)).read()
        text = text.replace("10.0.0.", f"{self.net}.")
        text = re.sub(r"^root(\s*)= www", rf"root\1= {site_root()}", text, flags=re.M)
        with open(self.conf, "w") as f:
            f.write(one_address_load(text))
        self.addr = dict(re.findall(r"^\[host ([\w-]+)\]\s*\naddress\s*=\s*(\S+)", text, re.M))
        self.addr["client"] = f"{self.net}.100"

    def prefix(self):
        with open(os.path.join(self.state, "run", "isolated")) as f:
            return f.read().strip()

    def ns(self, host):
        return self.prefix() + host

    def exec(self, host, *cmd, timeout=60):
        return self.ctl("exec", host, *cmd, check=False, timeout=timeout)

    def stop(self):
        """down, then whatever is left, by PID and by name. Returns the PIDs
        that down left running (then killed)."""
        pids = self.pids()
        prefix = None
        try:
            prefix = self.prefix()
        except OSError:
            pass
        self.ctl("down", check=False, timeout=120)
        left = [p for p in pids.values() if alive(p)]
        for p in left:
            os.kill(p, signal.SIGKILL)
        if prefix:
            subprocess.run(["ip", "route", "del", "unreachable", f"{self.net}.0/24"],
                           capture_output=True)
            out = subprocess.run(["ip", "netns", "list"], capture_output=True,
                                 text=True).stdout
            for line in out.splitlines():
                if line.split() and line.split()[0].startswith(prefix):
                    subprocess.run(["ip", "netns", "del", line.split()[0]],
                                   capture_output=True)
        return left


class HAStack(IsolatedStack):
    """The highly available layout (conf/foobar-ha.conf): lb-01 and lb-02
    share the floating address .1 with keepalived."""

    CONF = "foobar-ha.conf"

    def __init__(self, tmp):
        super().__init__(tmp)
        self.vip = f"{self.net}.1"

    def holders(self):
        """The LB hosts that have the floating address now (status --json)."""
        r = self.ctl("status", "--json", check=False, timeout=60)
        return json.loads(r.stdout)["vip"]["holders"]

    def holder(self, timeout=30):
        """The one LB host holding the address, waited for."""
        deadline = time.monotonic() + timeout
        while True:
            h = self.holders()
            if len(h) == 1:
                return h[0]
            if time.monotonic() > deadline:
                raise AssertionError(f"no single holder of the floating address: {h}")
            time.sleep(0.2)


def metric_samples(text):
    """{series as written: value} of a Prometheus text exposition."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            series, _, v = line.rpartition(" ")
            out[series] = float(v)
    return out


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


SANITIZER_RE = re.compile(r"ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:")


def sanitizer_reports(stack):
    """The daemon logs of a stack that hold a sanitizer report, as one
    message ("" when there is none). Read before the state folder goes."""
    bad = {n: t for n, t in stack.logs().items() if SANITIZER_RE.search(t)}
    if not bad:
        return ""
    return "sanitizer reports in daemon logs:\n" + "\n".join(
        f"== {n}\n{t[-3000:]}" for n, t in bad.items())


def rss_kib(pid):
    """A process's resident memory, KiB (0 when /proc does not say)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def stop_stack(stack):
    """Bring the stack down; kill by PID whatever `down` left; report leftovers."""
    pids = stack.pids()
    stack.ctl("down", check=False)
    left = []
    for name, pid in pids.items():
        if alive(pid):
            left.append((name, pid))
            os.kill(pid, signal.SIGKILL)
    return left


@contextlib.contextmanager
def own_stack(prefix="tristack-e2e-", extra="", edit=None, up=True, up_timeout=60, folder=None):
    """A whole stack of the caller's own, on a free loopback /24: the
    default stack file (extra appended; edit(text) -> text, when given, makes
    the last changes), `tristack up` (its output in .up_output; up=False
    leaves that to the caller), and at the end, also when the body or `up`
    fails: `tristack down`, SIGKILL by PID for whatever it left, its folder
    removed, and a failure for a process left or a sanitizer report in a
    daemon's log. folder: where the stack lives (the caller's, left in
    place) instead of a temporary folder of its own."""
    tmp = folder or tempfile.mkdtemp(prefix=prefix)
    st = Stack(tmp, free_subnet())
    write_stack(st.conf, st.net, extra)
    if edit:
        with open(st.conf) as f:
            text = edit(f.read())
        with open(st.conf, "w") as f:
            f.write(text)
    try:
        if up:
            st.up_output = st.ctl("up", timeout=up_timeout).stdout
        yield st
    finally:
        left = stop_stack(st)
        bad = sanitizer_reports(st)
        if folder is None:
            shutil.rmtree(tmp, ignore_errors=True)
        assert not left, f"processes left after down: {left}"
        assert not bad, bad


@pytest.fixture(scope="session")
def stack():
    with own_stack() as st:
        yield st


def tls_args(args):
    """--cacert for the https:// URLs of our stacks."""
    for a in args:
        if isinstance(a, str) and a.startswith("https://"):
            ca = CA_FILES.get(a[8:].split("/", 1)[0])
            if ca:
                return ["--cacert", ca]
    return []


def curl(*args, timeout=10):
    """Run curl; returns (status code, headers dict, body)."""
    r = subprocess.run(["curl", "-s", "-S", "--max-time", str(timeout), "-D", "-",
                        *tls_args(args), *args],
                       capture_output=True, timeout=timeout + 5)
    raw = r.stdout
    if r.returncode != 0:
        raise AssertionError(f"curl {' '.join(args)} failed: {r.stderr.decode()}")
    # Skip interim 1xx heads.
    while True:
        head, _, rest = raw.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        if status >= 200 or not rest:
            break
        raw = rest
    headers = {}
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        headers[k.decode().strip().lower()] = v.decode().strip()
    return status, headers, rest


def raw_http(host, port, data, timeout=5.0, read_until_close=True, source=None):
    """Send raw bytes; return everything the server sends until it closes
    (or the timeout passes). Over TLS for the HTTPS port of our stacks.
    source: the local address to send from (a proxy the server trusts)."""
    s = socket.create_connection((host, port), timeout=timeout,
                                 source_address=(source, 0) if source else None)
    ca = CA_FILES.get(f"{host}:{port}")
    if ca:
        s = ssl.create_default_context(cafile=ca).wrap_socket(s, server_hostname=host)
    try:
        s.sendall(data)
        chunks = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                b = s.recv(65536)
            except socket.timeout:
                break
            if not b:
                break
            chunks.append(b)
            if not read_until_close:
                break
        return b"".join(chunks)
    finally:
        s.close()


def wait_for(pred, timeout=5.0, interval=0.02, what="condition"):
    """Poll pred() until it is true or the deadline passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
