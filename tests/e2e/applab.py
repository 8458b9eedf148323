"""Helpers for the application tests: a keep-alive HTTP client that keeps
the read-your-writes cookie, and queries straight to a MariaDB instance."""
import http.client
import json
import os
import ssl
import subprocess
import urllib.parse

from conftest import CA_FILES, metric_samples

COOKIE = "tristack_gtid"


class Client:
    """One keep-alive connection (to the load balancer), like a browser tab:
    it sends back the GTID cookie the app hands out."""

    def __init__(self, url, timeout=10, cookies=True):
        u = urllib.parse.urlsplit(url)
        self.tls = u.scheme == "https"
        self.host, self.port = u.hostname, u.port or (443 if self.tls else 80)
        self.ctx = None
        if self.tls:
            self.ctx = ssl.create_default_context(cafile=CA_FILES[f"{self.host}:{self.port}"])
        self.timeout = timeout
        self.conn = None
        self.cookie = None
        self.keep_cookie = cookies

    def request(self, method, path, body=None, headers=None):
        """(status, headers as a lower-cased dict, body bytes)."""
        h = dict(headers or {})
        if self.cookie and self.keep_cookie:
            h["Cookie"] = f"{COOKIE}={self.cookie}"
        for attempt in range(2):
            if self.conn is None:
                if self.tls:
                    self.conn = http.client.HTTPSConnection(self.host, self.port,
                                                            timeout=self.timeout,
                                                            context=self.ctx)
                else:
                    self.conn = http.client.HTTPConnection(self.host, self.port,
                                                           timeout=self.timeout)
            try:
                self.conn.request(method, path, body=body, headers=h)
                r = self.conn.getresponse()
                data = r.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # a kept-alive connection the server closed: once more on a new one
                self.conn.close()
                self.conn = None
                if attempt or method != "GET":
                    raise
        hdrs = {k.lower(): v for k, v in r.getheaders()}
        if r.getheader("Connection", "").lower() == "close":
            self.conn.close()
            self.conn = None
        sc = r.getheader("Set-Cookie")
        if sc and sc.startswith(COOKIE + "="):
            self.cookie = sc.split(";", 1)[0].split("=", 1)[1]
        return r.status, hdrs, data

    def post(self, author, body):
        st, h, data = self.request("POST", "/api/posts",
                                   body=json.dumps({"author": author, "body": body}).encode(),
                                   headers={"Content-Type": "application/json"})
        return st, h, (json.loads(data) if data.startswith(b"{") else data)

    def get_json(self, path):
        st, h, data = self.request("GET", path)
        return st, h, (json.loads(data) if data.startswith(b"{") else data)

    def close(self):
        if self.conn:
            self.conn.close()
            self.conn = None


def db_query(stack, host, sql):
    """Rows (tuples of strings) of a query run as root through the instance's
    Unix socket."""
    sock = os.path.join(stack.state, "run", f"{host}.db.sock")
    r = subprocess.run(["mariadb", "--socket", sock, "-uroot", "-N", "-B", "-e", sql],
                       capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        raise AssertionError(f"mariadb on {host}: {sql}: {r.stderr}")
    return [tuple(line.split("\t")) for line in r.stdout.splitlines()]


def app_metrics(stack, host_ip):
    """The app's /metrics (its admin listener, port 9001 on its host) as
    {series: value}."""
    conn = http.client.HTTPConnection(host_ip, 9001, timeout=5)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    conn.close()
    return metric_samples(text)
