"""Helpers for the application tests: a keep-alive HTTP client that keeps
the app's cookies (read-your-writes, the form's nonce) and posts the form as
its page says, and queries straight to a MariaDB instance."""
import http.client
import json
import os
import re
import ssl
import subprocess
import urllib.parse

from conftest import CA_FILES, metric_samples

COOKIE = "tristack_gtid"


class Client:
    """One keep-alive connection (to the load balancer), like a browser tab:
    it sends back the cookies the app hands out (cookies=False: none of
    them). A GET whose connection was closed or reset before its answer
    came whole is sent once more on a new connection, as browsers do with
    a kept-alive one (RFC 9112 9.3.1); `retries` counts those, so that a
    caller can report them.
    `sent` says whether the last request left whole (False: it failed
    before, so the server cannot have acted on it)."""

    def __init__(self, url, timeout=10, cookies=True):
        u = urllib.parse.urlsplit(url)
        self.tls = u.scheme == "https"
        self.host, self.port = u.hostname, u.port or (443 if self.tls else 80)
        self.ctx = None
        if self.tls:
            self.ctx = ssl.create_default_context(cafile=CA_FILES[f"{self.host}:{self.port}"])
        self.timeout = timeout
        self.conn = None
        self.cookies = {}
        self.keep_cookie = cookies
        self.retries = 0
        self.sent = False

    @property
    def cookie(self):
        """The read-your-writes cookie's value."""
        return self.cookies.get(COOKIE)

    def request(self, method, path, body=None, headers=None):
        """(status, headers as a lower-cased dict, body bytes)."""
        h = dict(headers or {})
        if self.cookies and self.keep_cookie and "Cookie" not in h:
            h["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        for attempt in range(2):
            if self.conn is None:
                if self.tls:
                    self.conn = http.client.HTTPSConnection(self.host, self.port,
                                                            timeout=self.timeout,
                                                            context=self.ctx)
                else:
                    self.conn = http.client.HTTPConnection(self.host, self.port,
                                                           timeout=self.timeout)
            self.sent = False
            try:
                self.conn.request(method, path, body=body, headers=h)
                self.sent = True
                r = self.conn.getresponse()
                data = r.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # a kept-alive connection the server closed: once more on a new one
                self.conn.close()
                self.conn = None
                if attempt or method != "GET":
                    raise
                self.retries += 1
        hdrs = {k.lower(): v for k, v in r.getheaders()}
        if r.getheader("Connection", "").lower() == "close":
            self.conn.close()
            self.conn = None
        for k, v in r.getheaders():
            if k.lower() == "set-cookie":
                name, value = v.split(";", 1)[0].split("=", 1)
                self.cookies[name] = value
        return r.status, hdrs, data

    def post(self, author, body, headers=None):
        """POST /api/posts; headers: more of them (an Idempotency-Key)."""
        st, h, data = self.request("POST", "/api/posts",
                                   body=json.dumps({"author": author, "body": body}).encode(),
                                   headers={"Content-Type": "application/json",
                                            **(headers or {})})
        return st, h, (json.loads(data) if data.startswith(b"{") else data)

    def form_hidden(self):
        """The hidden fields of the form on / ({name: value}): its
        anti-forgery token (the page also sets the nonce cookie it is tied
        to) and its idempotency token."""
        st, _, page = self.request("GET", "/")
        assert st == 200, page
        found = re.findall(rb'<input type="hidden" name="([a-z]+)" value="([A-Za-z0-9_-]+)">',
                           page)
        fields = {k.decode(): v.decode() for k, v in found}
        assert "csrf" in fields, page
        return fields

    def form_token(self):
        """The anti-forgery token of the form on /."""
        return self.form_hidden()["csrf"]

    def post_form(self, fields, headers=None):
        """POST /posts as the board's own page does: fields plus the page's
        hidden ones, urlencoded. (status, headers, body)."""
        body = urllib.parse.urlencode({**fields, **self.form_hidden()}).encode()
        h = {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})}
        return self.request("POST", "/posts", body=body, headers=h)

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
