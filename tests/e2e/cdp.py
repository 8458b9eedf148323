"""Headless Chromium driven over the DevTools protocol, for the tests of pages
(the dashboard): Debian's chromium and python3-websocket, nothing else.

    with Browser(tmpdir) as b:
        page = b.page()
        page.navigate(url)
        page.evaluate("document.title")
        page.errors          # console errors, exceptions, failed loads

Chromium is started in a session of its own and stopped by its PID; what it
leaves (its helpers) is found by the profile folder in their command lines
and killed by PID too.
"""
import base64
import json
import os
import signal
import subprocess
import time

import websocket

CHROMIUM = "/usr/bin/chromium"


def profile_pids(profile):
    """PIDs of processes whose command line names the profile folder."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if profile.encode() in cmd:
            out.append(int(name))
    return out


def kill_leftovers(profile):
    """Kill by PID every process still using the profile folder."""
    for pid in profile_pids(profile):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


class Page:
    def __init__(self, ws_url, timeout=10.0):
        self.ws = websocket.create_connection(ws_url, timeout=timeout, suppress_origin=True)
        self.next_id = 0
        self.events = []
        self.errors = []
        self.on_event = None  # called with every event as it comes

    def close(self):
        self.ws.close()

    def _event(self, msg):
        self.events.append(msg)
        m, p = msg.get("method"), msg.get("params", {})
        if m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            args = " ".join(str(a.get("value", a.get("description", ""))) for a in p["args"])
            self.errors.append(f"console.{p['type']}: {args}")
        elif m == "Runtime.exceptionThrown":
            d = p["exceptionDetails"]
            desc = d.get("exception", {}).get("description") or d.get("text")
            self.errors.append(f"exception: {desc}")
        elif m == "Log.entryAdded" and p["entry"]["level"] == "error":
            e = p["entry"]
            self.errors.append(f"log ({e.get('source')}): {e.get('text')} {e.get('url', '')}")
        if m and self.on_event:
            self.on_event(msg)

    def send(self, method, **params):
        """A command whose answer nobody waits for (from on_event)."""
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))

    def call(self, method, timeout=10.0, **params):
        self.next_id += 1
        mid = self.next_id
        self.ws.send(json.dumps({"id": mid, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.ws.settimeout(max(0.05, deadline - time.monotonic()))
            msg = json.loads(self.ws.recv())
            if msg.get("id") == mid:
                if "error" in msg:
                    raise AssertionError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self._event(msg)
        raise AssertionError(f"{method}: no answer within {timeout}s")

    def pump(self, seconds=0.05):
        """Take in the events that come within seconds."""
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self.ws.settimeout(left)
            try:
                self._event(json.loads(self.ws.recv()))
            except websocket.WebSocketTimeoutException:
                return

    def evaluate(self, expression):
        r = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in r:
            raise AssertionError(f"evaluate {expression!r}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def navigate(self, url, timeout=10.0):
        self.call("Page.navigate", url=url)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.evaluate("document.readyState") == "complete":
                return
            time.sleep(0.05)
        raise AssertionError(f"{url} did not load within {timeout}s")

    def screenshot(self):
        return base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"])


class Browser:
    def __init__(self, tmp, width=1400, height=1000):
        self.profile = os.path.join(tmp, "chromium-profile")
        os.makedirs(self.profile, exist_ok=True)
        self.log = open(os.path.join(tmp, "chromium.log"), "wb")
        self.size = (width, height)
        self.proc = None

    def __enter__(self):
        port_file = os.path.join(self.profile, "DevToolsActivePort")
        if os.path.exists(port_file):  # a former browser's
            os.unlink(port_file)
        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless=new", "--no-sandbox", "--remote-debugging-port=0",
             f"--user-data-dir={self.profile}", "--no-first-run", "--no-default-browser-check",
             "--disable-gpu", "--disable-extensions", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--metrics-recording-only",
             f"--window-size={self.size[0]},{self.size[1]}", "about:blank"],
            stdout=self.log, stderr=self.log, start_new_session=True)
        try:
            self.port = self._wait_port(port_file)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_port(self, port_file):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"chromium exited ({self.proc.returncode})")
            try:
                with open(port_file) as f:
                    lines = f.read().split("\n")
                if len(lines) >= 2 and lines[0].strip():
                    return int(lines[0])
            except FileNotFoundError:
                pass
            time.sleep(0.05)
        raise AssertionError("chromium did not open its DevTools port")

    def page(self):
        """A new tab, its console and logs on."""
        import urllib.request
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}/json/new?about:blank",
                                     method="PUT")
        with urllib.request.urlopen(req, timeout=10) as r:
            target = json.load(r)
        p = Page(target["webSocketDebuggerUrl"])
        p.call("Page.enable")
        p.call("Runtime.enable")
        p.call("Log.enable")
        p.call("Emulation.setDeviceMetricsOverride", width=self.size[0], height=self.size[1],
               deviceScaleFactor=1, mobile=False)
        return p

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        kill_leftovers(self.profile)
        self.log.close()
