"""A load balancer alone in front of backends of the test's choosing: stock
nginx or tests/e2e/backend.py, on a loopback /24 of its own. Everything it
starts it stops by PID, and a sanitizer report in the LB's log fails the
test."""
import contextlib
import json
import os
import signal
import socket
import tempfile

from conftest import alive, binary, free_subnet, wait_for
from lab import Daemon, answers, http, python_backend, read_text, spawn, stop

# A load generator (wrk) on one address stands in for many clients: the
# limits per client address (on by default) would answer it 429.

NGINX_CONF = """
worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{ worker_connections 4096; }}
http {{
    access_log {d}/access.log;
    client_body_temp_path {d}/tmp/body; proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fcgi; uwsgi_temp_path {d}/tmp/uwsgi; scgi_temp_path {d}/tmp/scgi;
    keepalive_timeout 65;
    sendfile on;
    server {{
        listen {addr};
        root {root};
        location = /healthz {{ return 200 "ok"; }}
        location = /name {{ add_header X-Backend {name}; return 200 "{name}"; }}
        location = /echo {{
            return 200 "xff=$http_x_forwarded_for|proto=$http_x_forwarded_proto|xfh=$http_x_forwarded_host|host=$http_host|connection=$http_connection|keepalive=$http_keep_alive|te=$http_te|trailer=$http_trailer|proxyauth=$http_proxy_authorization|custom=$http_x_custom|hop=$http_x_hop|protocol=$server_protocol|fwd=$http_forwarded|realip=$http_x_real_ip|remote=$remote_addr";
        }}
        location = /upload {{ client_max_body_size 0; return 200 "ok"; }}
    }}
}}
"""


class Backend:
    def __init__(self, lab, name, index, kind):
        self.lab, self.name, self.kind = lab, name, kind
        self.ip = f"{lab.net}.{index}"
        self.port = 8080
        self.proc = None
        self.dir = os.path.join(lab.tmp, name)
        os.makedirs(os.path.join(self.dir, "tmp"), exist_ok=True)
        os.chmod(self.dir, 0o755)
        os.chmod(os.path.join(self.dir, "tmp"), 0o777)

    @property
    def url(self):
        return f"http://{self.ip}:{self.port}"

    def start(self, wait=True):
        # its own process group: a kill reaches nginx's worker too
        log = os.path.join(self.dir, "out.log")
        if self.kind == "python":
            self.proc = python_backend(f"{self.ip}:{self.port}", self.name, log,
                                       self.lab.backend_args)
        else:
            self.proc = spawn(self._command(), log, group=True)
        if wait:
            wait_for(self.answers, timeout=10, what=f"backend {self.name}")
        return self

    def _command(self):
        if self.kind == "tristack-web":
            root = os.path.join(self.dir, "www")
            os.makedirs(root, exist_ok=True)
            os.chmod(root, 0o755)
            for fname, text in (("name", self.name), ("healthz", "ok"), ("1k.html", "x" * 1024)):
                with open(os.path.join(root, fname), "w") as f:
                    f.write(text)
            conf = os.path.join(self.dir, "web.conf")
            with open(conf, "w") as f:
                f.write(f"[site]\nwww = {self.name}\n[host {self.name}]\naddress = {self.ip}\n"
                        f"roles = web\n[web]\nlisten = :{self.port}\nadmin =\nthreads = 1\n"
                        f"root = {root}\n")
            return [binary("tristack-web"), "-c", conf, "--host", self.name]
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF.format(d=self.dir, addr=f"{self.ip}:{self.port}",
                                      root=self.lab.docroot, name=self.name))
        return ["nginx", "-e", os.path.join(self.dir, "error.log"), "-c", conf]

    def answers(self):
        return answers(self.url + "/healthz", ok=(200, 503))

    def kill(self, sig=signal.SIGKILL):
        """Signal the backend's whole process group (nginx's master and
        worker); SIGKILL and SIGTERM wait until it is gone."""
        if self.proc and self.proc.poll() is None:
            if sig not in (signal.SIGKILL, signal.SIGTERM):
                os.killpg(self.proc.pid, sig)
                return
            stop(self.proc, sig, timeout=10)
            wait_for(lambda: not self.answers(), timeout=10, what=f"{self.name} gone")

    def control(self, what):
        return http(self.url + "/control/" + what, timeout=5)

    def stats(self):
        return json.loads(self.control("stats")[2])


class LbLab:
    def __init__(self, tmp, backend_args=()):
        self.tmp = tmp
        self.net = free_subnet()
        self.backends = []
        self.backend_args = list(backend_args)
        self.lb_ip = f"{self.net}.1"
        self.url = f"http://{self.lb_ip}:8080"
        self.admin = f"http://{self.lb_ip}:8404"
        self.conf = os.path.join(tmp, "lb.conf")
        self.log = os.path.join(tmp, "lb.log")
        # its own state folder: the runtime API's socket, the servers' states
        self.state = os.path.join(tmp, "state")
        self.socket = os.path.join(self.state, "run", "lb-01.lb.sock")
        self.daemon = Daemon("tristack-lb", self.conf, self.log, ["--state", self.state])
        self.access = os.path.join(tmp, "lb.access.log")
        self.docroot = os.path.join(tmp, "www")
        os.makedirs(self.docroot, exist_ok=True)
        os.chmod(tmp, 0o755)
        os.chmod(self.docroot, 0o755)
        with open(os.path.join(self.docroot, "1k.html"), "w") as f:
            f.write("x" * 1024)

    @property
    def lb(self):
        """The LB's process (None until started, and once stopped)."""
        return self.daemon.proc

    def backend(self, name, kind="python"):
        b = Backend(self, name, 11 + len(self.backends), kind)
        self.backends.append(b)
        return b.start()

    def write_conf(self, servers, lb_extra="", threads="1"):
        """servers: lines after 'server = ' (name:port options)."""
        hosts = "".join(f"[host {b.name}]\naddress = {b.ip}\nroles = web\n\n"
                        for b in self.backends)
        lines = "".join(f"server = {s}\n" for s in servers)
        text = (f"[site]\nwww = lb-01\n\n[host lb-01]\naddress = {self.lb_ip}\nroles = lb\n\n"
                f"{hosts}[lb]\nlisten = :8080\nadmin = :8404\n"
                f"{'threads = ' + threads + chr(10) if 'threads' not in lb_extra else ''}"
                f"access_log = {self.access}\n{lines}{lb_extra}\n")
        self.daemon.write(text)

    def start_lb(self, servers, lb_extra=""):
        self.write_conf(servers, lb_extra)
        return self.daemon.start(lambda: answers(self.admin + "/healthz", ok=(200, 503)))

    def reload(self, servers, lb_extra=""):
        self.write_conf(servers, lb_extra)
        before = self.log_text().count("reloaded ")
        refused = self.log_text().count("reload refused")
        self.daemon.signal(signal.SIGHUP)
        wait_for(lambda: self.log_text().count("reloaded ") > before or
                 self.log_text().count("reload refused") > refused, what="the reload")
        return self.log_text().count("reloaded ") > before

    def stop_lb(self):
        try:
            self.daemon.stop()
        finally:
            self.daemon.proc = None

    def stats(self):
        return json.loads(http(self.admin + "/stats.json")[2])

    def server(self, name):
        return next(s for s in self.stats()["servers"] if s["name"] == name)

    def metrics(self):
        return http(self.admin + "/metrics")[2].decode()

    def runtime(self, *lines, timeout=5):
        """The answers of the runtime API to lines (one connection): each
        answer's text without the empty line that ends it."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(self.socket)
            s.sendall("".join(line + "\n" for line in lines).encode())
            data = b""
            while data.count(b"\n\n") < len(lines):
                b = s.recv(65536)
                if not b:
                    break
                data += b
        return data.decode().split("\n\n")[:len(lines)]

    def log_text(self):
        return self.daemon.log_text()

    def access_lines(self):
        return read_text(self.access).splitlines()

    def close(self):
        try:
            self.stop_lb()
        finally:
            for b in self.backends:
                b.kill(signal.SIGTERM)
        left = [b.name for b in self.backends if b.proc and alive(b.proc.pid)]
        assert not left, f"backends left: {left}"
        self.daemon.check_log()


@contextlib.contextmanager
def lab_of(*names, kind="python"):
    """An LbLab in a temporary folder with a backend of kind per name (not
    started: the test starts the LB), closed at the end, also when the test
    or a backend's start fails."""
    with tempfile.TemporaryDirectory(prefix="tristack-lb-") as tmp:
        lab = LbLab(tmp)
        try:
            for name in names:
                lab.backend(name, kind)
            yield lab
        finally:
            lab.close()
