"""The live dashboard on the LB's admin listener: /dashboard.json tells the
LB's figures and the health of every host and daemon of the stack; the page
(built into tristack-lb, no file on disk, nothing from a CDN) loads in
headless Chromium with no console error, shows both backends, and marks
web-02 down within 2 s of the LB's checks doing so. On a stack of its own,
with checks every 500 ms.

TRISTACK_SCREENSHOT=1 keeps the page's screenshot as docs/dashboard.png."""
import http.client
import json
import os
import re
import signal
import struct
import threading
import time

import pytest

from cdp import Browser, kill_leftovers
from conftest import ROOT, alive, own_stack, wait_for

CHECK_INTERVAL = 0.5
FALL = 2
KEEP_SCREENSHOT = os.environ.get("TRISTACK_SCREENSHOT") == "1"


@pytest.fixture(scope="module")
def st():
    def fast_checks(text):
        text, n = re.subn(r"^check(\s*)= GET /healthz .*$",
                          rf"check\1= GET /healthz interval={int(CHECK_INTERVAL * 1000)}ms "
                          rf"timeout=500ms rise=2 fall={FALL} expect=2xx", text, flags=re.M)
        assert n == 1
        return text

    with own_stack("tristack-e2e-dash-", edit=fast_checks) as s:
        try:
            yield s
        finally:
            kill_leftovers(os.path.join(s.tmp, "chromium-profile"))


def get(st, path, headers=None):
    """(status, headers, body) of a GET on the admin listener, no redirects."""
    c = http.client.HTTPConnection(st.lb, 8404, timeout=5)
    try:
        c.request("GET", path, headers=headers or {})
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def dash(st):
    status, headers, body = get(st, "/dashboard.json")
    assert status == 200 and headers["content-type"] == "application/json"
    return json.loads(body)


def daemon(d, host, name):
    h = next(h for h in d["hosts"] if h["name"] == host)
    return next(x for x in h["daemons"] if x["name"] == name)


def all_scraped(d):
    """Every daemon scraped with an answer and every server checked at least
    once. (A daemon's admin listener may open a moment after the port `up`
    waited for, so a first scrape can be refused: the next one answers.)"""
    return all(x["self"] or (x["scraped_ms"] and x["up"]) for h in d["hosts"]
               for x in h["daemons"] if x["name"] != "mariadb") and \
        all(s["check"]["last_code"] for s in d["servers"])


def test_dashboard_json_tells_every_backend_host_and_daemon(st):
    d = wait_for(lambda: (lambda d: d if all_scraped(d) else None)(dash(st)), timeout=10,
                 what="a first answered scrape of every daemon")
    assert d["site"] == "foobar.com" and d["lb"] == "lb-01"
    assert abs(d["time_ms"] / 1000 - time.time()) < 5
    assert [s["name"] for s in d["servers"]] == ["web-01", "web-02"]
    for s in d["servers"]:
        assert s["state"] == "UP" and s["weight"] == 1 and s["check"]["last_code"] == 200
        assert set(s["responses"]) == {"other", "1xx", "2xx", "3xx", "4xx", "5xx"}
    assert set(d["requests"]) == {"other", "1xx", "2xx", "3xx", "4xx", "5xx"}
    lat = d["latency"]
    assert len(lat["counts"]) == len(lat["bounds"]) + 1
    assert lat["bounds"] == sorted(lat["bounds"]) and all(c >= 0 for c in lat["counts"])
    assert set(d["tls"]) == {"full", "resumed", "failed"}
    hosts = {h["name"]: h for h in d["hosts"]}
    assert set(hosts) == {"lb-01", "web-01", "web-02"}
    assert hosts["lb-01"]["roles"] == ["lb", "dns"]
    assert [x["name"] for x in hosts["lb-01"]["daemons"]] == ["tristack-lb", "tristack-dns"]
    for h in ("web-01", "web-02"):
        names = [x["name"] for x in hosts[h]["daemons"]]
        assert names == ["tristack-web", "tristack-app", "mariadb"], names
    now = time.time() * 1000
    for h in d["hosts"]:
        for x in h["daemons"]:
            assert x["up"] is True, (h["name"], x)
            assert x["error"] is None
            if not x.get("self") and x["name"] != "mariadb":
                assert abs(now - x["scraped_ms"]) < 5000 and 0 <= x["duration_ms"] < 1000
                assert re.fullmatch(rf"{re.escape(h['address'])}:\d+", x["address"])
    assert daemon(d, "web-01", "tristack-web")["requests"] >= 0
    assert daemon(d, "web-01", "tristack-app")["requests"] >= 0
    dbs = {db["host"]: db for db in d["databases"]}
    assert dbs["web-01"]["role"] == "primary" and dbs["web-02"]["role"] == "replica"
    assert dbs["web-02"]["up"] and dbs["web-02"]["seen_by"] == 2
    # the apps learn the lag from the replica's heartbeat: once they have
    def replica_lag():
        lag = next(db for db in dash(st)["databases"] if db["host"] == "web-02")["lag_seconds"]
        return None if lag is None else (lag,)
    lag, = wait_for(replica_lag, timeout=10, what="the replica's lag")
    assert 0 <= lag < 5


def test_requests_through_the_lb_count_on_the_backends(st):
    n = 30
    before = sum(s["requests"] for s in dash(st)["servers"])
    c = http.client.HTTPSConnection(st.lb, 8443, context=st.ssl_context(), timeout=5)
    try:
        for _ in range(n):
            c.request("GET", "/api/hello", headers={"Host": "www.foobar.com"})
            r = c.getresponse()
            r.read()
            assert r.status == 200
    finally:
        c.close()
    d = wait_for(lambda: (lambda d: d if sum(s["requests"] for s in d["servers"]) >= before + n
                          else None)(dash(st)), timeout=5, what="the backends' counts")
    assert sum(s["requests"] for s in d["servers"]) == before + n
    assert all(s["requests"] > 0 for s in d["servers"])  # round robin: both took some


def test_the_page_is_built_in_with_types_and_etags(st):
    status, h, _ = get(st, "/")
    assert status == 302 and h["location"] == "/dashboard/"
    status, h, body = get(st, "/dashboard/")
    assert status == 200 and h["content-type"] == "text/html; charset=utf-8"
    assert b"dashboard.js" in body and b"http://" not in body and b"https://" not in body
    # nothing but its own files: no CDN, no inline script
    assert "default-src 'none'" in h["content-security-policy"]
    assert "script-src 'self'" in h["content-security-policy"]
    etag = h["etag"]
    assert h["cache-control"] == "no-cache"
    assert get(st, "/dashboard/", {"If-None-Match": etag})[0] == 304
    with open(os.path.join(ROOT, "www", "dashboard", "dashboard.js"), "rb") as f:
        js = f.read()
    status, h, body = get(st, "/dashboard/dashboard.js")
    assert status == 200 and h["content-type"].startswith("text/javascript") and body == js
    assert get(st, "/dashboard/dashboard.css")[1]["content-type"].startswith("text/css")
    assert get(st, "/dashboard/nothing.js")[0] == 404
    assert get(st, "/dashboard/../metrics")[0] == 404


class Traffic:
    """Requests through the LB in the background (so the charts have lines):
    new TLS connections now and then, a 404 among them."""

    def __init__(self, st):
        self.st = st
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        i = 0
        while not self.stop.is_set():
            c = http.client.HTTPSConnection(self.st.lb, 8443, context=self.st.ssl_context(),
                                            timeout=3)
            try:
                for _ in range(10):
                    i += 1
                    path = "/nothing-here" if i % 7 == 0 else "/api/hello"
                    c.request("GET", path, headers={"Host": "www.foobar.com"})
                    c.getresponse().read()
                    if self.stop.wait(0.03):
                        break
            except OSError:
                pass
            finally:
                c.close()

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=10)
        assert not self.thread.is_alive()


def page_state(page):
    return page.evaluate("""(() => {
      const b = {};
      document.querySelectorAll('#backends tr[data-backend]').forEach(
        tr => b[tr.dataset.backend] = tr.dataset.state);
      const d = {};
      document.querySelectorAll('.badge[data-host]').forEach(
        e => d[e.dataset.host + '/' + e.dataset.daemon] = e.dataset.up);
      return {backends: b, daemons: d, status: document.getElementById('status').dataset.state,
              updated: Number(document.body.dataset.updated || 0)};
    })()""")


def server_state(st, name):
    c = http.client.HTTPConnection(st.lb, 8404, timeout=2)
    try:
        c.request("GET", "/stats.json")
        d = json.loads(c.getresponse().read())
    finally:
        c.close()
    return next(s["state"] for s in d["servers"] if s["name"] == name)


def check_png(data):
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    w, h = struct.unpack(">II", data[16:24])
    assert w >= 800 and h >= 600 and len(data) > 20000, (w, h, len(data))


def test_the_page_in_chromium_shows_web02_down(st):
    pids = st.pids()
    supervisor, web02 = pids["supervisor.pid"], pids["web-02.web.pid"]
    paused = killed = False
    with Browser(st.tmp) as browser, Traffic(st):
        page = browser.page()
        try:
            page.navigate(st.admin + "/")
            assert page.evaluate("location.pathname") == "/dashboard/"
            wait_for(lambda: (lambda s: s["status"] == "ok" and
                              s["backends"] == {"web-01": "UP", "web-02": "UP"} and
                              s["daemons"].get("web-02/tristack-web") == "true")(
                                  page_state(page)),
                     timeout=10, what="the page showing both backends up")
            # a few seconds of traffic on the charts (more for the picture kept)
            first = page_state(page)["updated"]
            history = 30 if KEEP_SCREENSHOT else 6
            wait_for(lambda: page_state(page)["updated"] >= first + history * 1000,
                     timeout=history * 2, what=f"{history} s of updates")
            # web-02's web server stops; its supervisor is held so it stays down
            os.kill(supervisor, signal.SIGSTOP)
            paused = True
            os.kill(web02, signal.SIGKILL)
            killed = True
            t_kill = time.monotonic()
            t_lb = t_page = None
            deadline = t_kill + CHECK_INTERVAL * FALL + 6
            while time.monotonic() < deadline and t_page is None:
                now = time.monotonic()
                if t_lb is None and server_state(st, "web-02") == "DOWN":
                    t_lb = now
                s = page_state(page)
                if s["backends"].get("web-02") == "DOWN" and \
                        s["daemons"].get("web-02/tristack-web") == "false":
                    t_page = now
                time.sleep(0.05)
            assert t_lb is not None and t_page is not None, page_state(page)
            print(f"web-02 DOWN: LB {t_lb - t_kill:.2f}s, page {t_page - t_kill:.2f}s after the kill")
            assert t_page - t_lb <= 2.0, (t_lb - t_kill, t_page - t_kill)
            assert t_page - t_kill <= CHECK_INTERVAL * FALL + 2.0, (t_lb - t_kill,
                                                                     t_page - t_kill)
            s = page_state(page)
            assert s["backends"]["web-01"] == "UP"
            assert s["daemons"]["web-01/tristack-web"] == "true"
            title = page.evaluate("document.querySelector("
                                  "'.badge[data-host=\"web-02\"][data-daemon=\"tristack-web\"]')"
                                  ".title")
            assert "down" in title
            # the whole page in the picture, after one more update (the drop
            # on the charts)
            height = page.evaluate("document.documentElement.scrollHeight")
            page.call("Emulation.setDeviceMetricsOverride", width=1400, height=height,
                      deviceScaleFactor=1, mobile=False)
            upd = s["updated"]
            wait_for(lambda: page_state(page)["updated"] > upd, timeout=3, what="an update")
            png = page.screenshot()
            check_png(png)
            path = os.path.join(ROOT, "docs", "dashboard.png") if KEEP_SCREENSHOT else \
                os.path.join(st.tmp, "dashboard.png")
            with open(path, "wb") as f:
                f.write(png)
            page.pump(0.2)
            assert page.errors == [], page.errors
        finally:
            page.close()
            if paused:
                os.kill(supervisor, signal.SIGCONT)
    if killed:
        # the supervisor starts it again and the LB takes it back
        wait_for(lambda: (lambda p: p if p and p != web02 and alive(p) else None)(
            st.pids().get("web-02.web.pid")), timeout=15, what="web-02's web server again")
        wait_for(lambda: server_state(st, "web-02") == "UP", timeout=10,
                 what="web-02 back in the LB")


def test_the_page_survives_a_failed_fetch_and_says_so(st):
    """/dashboard.json fails (Chromium refuses it on the page's behalf): the
    page says the LB is unreachable, keeps trying, and is live again once
    the LB answers, with no script error on the way."""
    with Browser(st.tmp) as browser:
        page = browser.page()
        try:
            page.navigate(st.admin + "/dashboard/")
            wait_for(lambda: page_state(page)["status"] == "ok", timeout=10, what="live")

            def refuse(msg):
                if msg["method"] == "Fetch.requestPaused":
                    page.send("Fetch.failRequest", requestId=msg["params"]["requestId"],
                              errorReason="ConnectionRefused")
            page.on_event = refuse
            page.call("Fetch.enable", patterns=[{"urlPattern": "*/dashboard.json*"}])
            wait_for(lambda: page_state(page)["status"] == "unreachable", timeout=5,
                     what="the page saying the LB is unreachable")
            assert "LB unreachable" in page.evaluate("document.getElementById('status')"
                                                     ".textContent")
            # what it knew stays on the page
            assert page_state(page)["backends"] == {"web-01": "UP", "web-02": "UP"}
            page.call("Fetch.disable")
            page.on_event = None
            wait_for(lambda: page_state(page)["status"] == "ok", timeout=5, what="live again")
            page.pump(0.2)
            # the browser's own note of the refused load is not the page's error
            errors = [e for e in page.errors if not e.startswith("log (network)")]
            assert errors == [], page.errors
        finally:
            page.close()
