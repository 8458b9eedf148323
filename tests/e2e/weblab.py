"""One tristack-web with a document root of the test's making and app
servers (tests/e2e/backend.py) behind its proxy prefixes, on a loopback /24
of its own. Stopped by PID at the end; a sanitizer report fails the test."""
import gzip
import os
import signal

from conftest import alive, free_subnet, wait_for
from lab import Daemon, answers, python_backend, stop

SECRET = "the-secret-outside-the-root"


def make_docroot(base):
    """www/ with the files the tests ask for; outside/ beside it holds a
    secret no request may ever read."""
    www = os.path.join(base, "www")
    files = {
        "index.html": "<!doctype html><h1>home</h1>\n",
        "404.html": "<!doctype html><h1>custom not found</h1>\n",
        "static/app.css": "body { color: black; }\n" * 200,  # text, > 1 KiB
        "static/small.css": "a{}\n",
        "static/pre.js": "console.log('plain');\n" * 100,
        "docs/index.html": "<h1>docs</h1>\n",
        "empty/.keep": "",
        "big.txt": "".join(f"{i:09d}\n" for i in range(10000)),  # 100 kB
        "book.epub": "PK not really\n",
        "name with space.txt": "spaced\n",
    }
    for name, text in files.items():
        path = os.path.join(www, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
    with gzip.open(os.path.join(www, "static/pre.js.gz"), "wb") as f:
        f.write(b"console.log('precompressed');\n")
    with open(os.path.join(www, "static/logo.png"), "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 20)
    outside = os.path.join(base, "outside")
    os.makedirs(outside, exist_ok=True)
    with open(os.path.join(outside, "secret.txt"), "w") as f:
        f.write(SECRET)
    os.symlink(os.path.join(outside, "secret.txt"), os.path.join(www, "link-out"))
    os.symlink("../outside", os.path.join(www, "link-dir-out"))
    os.symlink("index.html", os.path.join(www, "link-in"))
    for d, _, fs in os.walk(base):
        os.chmod(d, 0o755)
        for f in fs:
            p = os.path.join(d, f)
            if not os.path.islink(p):
                os.chmod(p, 0o644)
    return www


class WebLab:
    def __init__(self, tmp, web_extra="", apps=1, unix=False, hosts_extra=""):
        self.tmp = tmp
        self.net = free_subnet()
        self.ip = f"{self.net}.2"
        self.url = f"http://{self.ip}:8080"
        self.admin = f"http://{self.ip}:8405"
        self.root = make_docroot(tmp)
        self.conf = os.path.join(tmp, "web.conf")
        self.log = os.path.join(tmp, "web.log")
        self.access = os.path.join(tmp, "web.access.log")
        self.apps = []
        for i in range(apps):
            addr = f"unix:{tmp}/app{i}.sock" if unix else f"{self.net}.{21 + i}:9000"
            self.apps.append({"addr": addr, "name": f"app{i}", "proc": None})
        self.web_extra = web_extra
        self.hosts_extra = hosts_extra  # more [host] sections ("{net}" = the subnet)
        self.daemon = Daemon("tristack-web", self.conf, self.log, ["--host", "web-01"])

    @property
    def web(self):
        """tristack-web's process (None until started)."""
        return self.daemon.proc

    def start_app(self, i):
        app = self.apps[i]
        app["proc"] = python_backend(app["addr"], app["name"],
                                     os.path.join(self.tmp, f"{app['name']}.log"))
        if app["addr"].startswith("unix:"):
            wait_for(lambda: os.path.exists(app["addr"][5:]), what=f"{app['name']} socket")
        else:
            host, port = app["addr"].rsplit(":", 1)
            wait_for(lambda: answers(f"http://{host}:{port}/healthz"), what=app["name"])

    def stop_app(self, i):
        stop(self.apps[i]["proc"], signal.SIGKILL, timeout=10)

    def write_conf(self):
        upstream = " ".join(a["addr"] for a in self.apps)
        text = (f"[site]\nwww = web-01\n\n[host web-01]\naddress = {self.ip}\nroles = web\n\n"
                f"{self.hosts_extra.replace('{net}', self.net)}"
                f"[web]\nlisten = :8080\nadmin = :8405\nthreads = 1\nroot = {self.root}\n"
                f"proxy = /api/\nupstream = {upstream}\naccess_log = {self.access}\n"
                f"{self.web_extra}\n")
        self.daemon.write(text)

    def start(self, with_apps=True):
        if with_apps:
            for i in range(len(self.apps)):
                self.start_app(i)
        self.write_conf()
        self.daemon.start(lambda: answers(self.admin + "/metrics"), timeout=5)
        return self

    def log_text(self):
        return self.daemon.log_text()

    def close(self):
        try:
            self.daemon.stop()
        finally:
            for i in range(len(self.apps)):
                self.stop_app(i)
        left = [a["name"] for a in self.apps if a["proc"] and alive(a["proc"].pid)]
        assert not left, f"apps left: {left}"
        self.daemon.check_log()
