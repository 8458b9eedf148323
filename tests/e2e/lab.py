"""What the e2e labs share (lblab.LbLab, weblab.WebLab, test_integrity's
lab, test_dns_nsd's servers): a tristack daemon run from a stack file the
lab writes, processes of the test's own (backends, app servers, nsd,
haproxy), and a one-shot HTTP client.

The rules they keep: nothing sleeps and hopes (wait_for polls with a
deadline, and a daemon that exits while it is waited for fails at once with
its log); every process a lab starts it stops by PID (by its process group
when it leads one), SIGKILL when it does not end in time, also when the
test fails; never anything by name. A sanitizer report in a daemon's log
fails the test."""
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request

from conftest import SANITIZER_RE, binary, wait_for

BACKEND_PY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "backend.py")


class Headers(dict):
    """Response headers, looked up whatever their case (HAProxy sends
    them in lower case)."""

    def __init__(self, items):
        super().__init__((k.lower(), v) for k, v in items)

    def __getitem__(self, k):
        return super().__getitem__(k.lower())

    def __contains__(self, k):
        return super().__contains__(k.lower())

    def get(self, k, default=None):
        return super().get(k.lower(), default)


def http(url, method="GET", data=None, headers=None, timeout=10):
    """(status, headers, body) of one request on a new connection."""
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, Headers(r.headers.items()), r.read()
    except urllib.error.HTTPError as e:
        return e.code, Headers(e.headers.items()), e.read()


def answers(url, ok=(200,)):
    """Does url answer, within a second, with one of the statuses ok?"""
    try:
        return http(url, timeout=1)[0] in ok
    except OSError:
        return False


def read_text(path):
    """A file's text ("" while it does not exist)."""
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def assert_no_sanitizer_report(text, what):
    assert not SANITIZER_RE.search(text), f"sanitizer report in {what}:\n" + text[-4000:]


def spawn(cmd, log, group=False):
    """Start cmd, its output appended to the file log. group: in a process
    group of its own, which stop() signals whole (nginx's workers, nsd's
    forks, a Python backend's threads' children)."""
    with open(log, "ab") as f:
        p = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, start_new_session=group)
    p.group = group
    return p


def stop(proc, sig=signal.SIGTERM, timeout=20):
    """Stop a process spawn() started, by its PID (its group's, if it leads
    one): sig, then SIGKILL if it has not ended within timeout (proc.killed
    says so). Returns its exit status (None for no process)."""
    if proc is None:
        return None
    proc.killed = False
    if proc.poll() is None:
        kill = os.killpg if getattr(proc, "group", False) else os.kill
        try:
            kill(proc.pid, sig)
            proc.wait(timeout=timeout)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            kill(proc.pid, signal.SIGKILL)
            proc.killed = True
        proc.wait(timeout=10)
    return proc.returncode


class Daemon:
    """A tristack daemon (name: its binary) run as `name -c conf ARGS`, its
    output appended to log. The lab writes conf, starts the daemon and waits
    until ready() holds, signals it, and stops it by PID."""

    def __init__(self, name, conf, log, args=()):
        self.name, self.conf, self.log, self.args = name, conf, log, list(args)
        self.proc = None

    def write(self, text):
        with open(self.conf, "w") as f:
            f.write(text)

    def start(self, ready, timeout=10):
        """Start it and wait until ready() holds; if it exits first, fail
        with the end of its log (one that never gets ready is stopped).
        Returns its Popen."""
        self.proc = spawn([binary(self.name), "-c", self.conf, *self.args], self.log)
        try:
            wait_for(lambda: self._ready(ready), timeout=timeout, what=self.name)
        except BaseException:
            stop(self.proc, timeout=5)  # not left running when it never got ready
            raise
        return self.proc

    def _ready(self, ready):
        if self.proc.poll() is not None:
            raise AssertionError(f"{self.name} exited ({self.proc.returncode}):\n"
                                 f"{self.log_text()[-2000:]}")
        return ready()

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=20):
        """SIGTERM; its exit status. One that has not ended within timeout
        is killed, and fails the test."""
        rc = stop(self.proc, timeout=timeout)
        assert self.proc is None or not self.proc.killed, \
            f"{self.name} did not end within {timeout}s of SIGTERM (killed):\n" \
            f"{self.log_text()[-2000:]}"
        return rc

    def log_text(self):
        return read_text(self.log)

    def check_log(self):
        assert_no_sanitizer_report(self.log_text(), f"the {self.name} log")


def python_backend(listen, name, log, args=()):
    """tests/e2e/backend.py on listen (HOST:PORT or unix:PATH), in a process
    group of its own."""
    return spawn([sys.executable, BACKEND_PY, "--listen", listen, "--name", name, *args], log,
                 group=True)
