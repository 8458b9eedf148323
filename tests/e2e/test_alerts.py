"""Alerts that reach someone: `tristack up` runs Debian's Alertmanager beside
Prometheus, and what fires reaches the stack file's receivers. On a loopback
stack of its own, with monitoring on, 1 s scrapes and evaluations, short
grouping times, and `[monitoring] alert_webhook` pointing at a small
receiver of the test's own (on the stack's subnet, the client's .100), which
records every notification Alertmanager posts."""
import http.server
import json
import os
import re
import signal
import stat
import subprocess
import threading
import time
import urllib.request

import pytest

from conftest import alive, own_stack, wait_for

ALERT_FOR = 2       # s: [monitoring] alert_for
GROUP_WAIT = 1      # s: alert_group_wait
GROUP_INTERVAL = 2  # s: alert_group_interval
CHECK_DOWN = 3      # s: the LB's checks find a server down (interval 1s, fall 2, timeout 1s)
CHECK_UP = 2        # s: and up again (rise 2)
SLACK = 8           # s: a scrape, an evaluation, Prometheus's send, a loaded machine

pytestmark = pytest.mark.skipif(
    not (os.path.exists("/usr/bin/prometheus") and
         os.path.exists("/usr/bin/prometheus-alertmanager")),
    reason="needs Debian's prometheus and prometheus-alertmanager")


class Receiver:
    """A webhook receiver: records the JSON body of every POST, with the
    time it came, and answers 200."""

    def __init__(self, address):
        self.posts = []
        self.lock = threading.Lock()
        rec = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with rec.lock:
                    rec.posts.append((time.monotonic(), self.path, json.loads(body)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer((address, 0), Handler)
        self.url = f"http://{address}:{self.server.server_address[1]}/alerts"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def alerts(self, since, status, pred):
        """The alerts in notifications received after since whose status
        is status and for which pred(labels) holds."""
        with self.lock:
            posts = list(self.posts)
        return [a for t, _, p in posts if t >= since for a in p["alerts"]
                if a["status"] == status and pred(a["labels"])]


@pytest.fixture(scope="module")
def st():
    held = {}

    def edit(text):
        net = re.search(r"^address\s*=\s*(127\.\d+\.\d+)\.1$", text, re.M).group(1)
        held["receiver"] = Receiver(f"{net}.100")
        return text + f"alert_webhook = {held['receiver'].url}\n"

    try:
        with own_stack("tristack-e2e-alerts-", edit=edit,
                       extra="\n[monitoring]\nenabled = on\nscrape_interval = 1s\n"
                             f"evaluation_interval = 1s\nalert_for = {ALERT_FOR}s\n"
                             f"alert_group_wait = {GROUP_WAIT}s\n"
                             f"alert_group_interval = {GROUP_INTERVAL}s\n"
                             "alert_repeat = 1h\n") as s:
            s.receiver = held["receiver"]
            s.prom = f"http://{s.net}.1:9090"
            s.am = f"http://{s.net}.1:9093"
            yield s
    finally:
        if "receiver" in held:
            held["receiver"].stop()


def get(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())


def ready(url):
    """Does it answer 200 (Alertmanager's /-/ready)?"""
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status == 200
    except OSError:
        return False


def prom_alerts(st, state):
    return [a for a in get(st.prom + "/api/v1/alerts")["data"]["alerts"] if a["state"] == state]


def amtool_check(path):
    r = subprocess.run(["amtool", "check-config", path], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def test_up_runs_alertmanager_beside_prometheus(st):
    assert f"alerts: http://{st.net}.1:9093/ (Alertmanager on lb-01; to: the webhook)" \
        in st.up_output
    assert st.receiver.url not in st.up_output  # a webhook's URL may carry a token
    assert re.search(r"lb-01\s+alertmanager\s+up", st.up_output)
    status = st.ctl("status").stdout
    assert re.search(r"lb-01\s+alertmanager\s+\d+\s+running .* ok$", status, re.M), status
    mon = os.path.join(st.state, "monitoring")
    out = amtool_check(os.path.join(mon, "alertmanager.yml"))
    assert "1 receivers" in out
    r = subprocess.run(["promtool", "check", "config", os.path.join(mon, "prometheus.yml")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    # Prometheus sends to it; gossip is off (no cluster port)
    wait_for(lambda: get(st.prom + "/api/v1/alertmanagers")["data"]["activeAlertmanagers"],
             timeout=15, interval=0.5, what="Prometheus finds its Alertmanager")
    status = get(st.am + "/api/v2/status")
    assert status["cluster"]["status"] == "disabled", status["cluster"]
    assert "send_resolved: true" in status["config"]["original"]
    pid = st.pids()["lb-01.alertmanager.pid"]
    args = open(f"/proc/{pid}/cmdline").read().split("\0")
    assert f"--storage.path={mon}/alertmanager" in args
    assert "--cluster.listen-address=" in args


def test_prometheus_scrapes_alertmanager(st):
    def up():
        for t in get(st.prom + "/api/v1/targets")["data"]["activeTargets"]:
            if t["labels"]["job"] == "alertmanager" and t["health"] == "up":
                return t
        return None
    t = wait_for(up, timeout=20, interval=0.5, what="the alertmanager job up")
    assert t["labels"]["host"] == "lb-01"


def test_web_02_stopped_reaches_the_receiver_firing_then_resolved(st):
    """web-02's web server frozen (SIGSTOP: the supervisor sees it alive and
    leaves it): the LB's checks take it out, BackendDown fires after
    alert_for, Prometheus sends it to Alertmanager, and after group_wait the
    receiver has it, naming web-02. Thawed, the receiver gets it resolved
    within a group_interval of Prometheus resolving it."""
    wait_for(lambda: not prom_alerts(st, "firing") and not prom_alerts(st, "pending"),
             timeout=30, interval=0.5, what="no alert before the fault")
    pid = st.pids()["web-02.web.pid"]

    def web02(labels):
        return labels.get("server") == "web-02" or labels.get("host") == "web-02"

    t0 = time.monotonic()
    os.kill(pid, signal.SIGSTOP)
    try:
        # docs/monitoring.md: the LB's checks + alert_for + a scrape and an
        # evaluation + group_wait
        fired = wait_for(lambda: st.receiver.alerts(t0, "firing", web02),
                         timeout=CHECK_DOWN + ALERT_FOR + GROUP_WAIT + SLACK, interval=0.25,
                         what="a firing alert naming web-02 at the receiver")
        assert time.monotonic() - t0 >= ALERT_FOR  # not before its for: window
        names = {a["labels"]["alertname"] for a in fired}
        assert names <= {"BackendDown", "TargetDown"}, names
        a = fired[0]
        assert a["labels"]["severity"] in ("warning", "critical")
        assert "web-02" in a["annotations"]["summary"]
        assert a["generatorURL"].startswith("http")
        with st.receiver.lock:
            body = [p for t, _, p in st.receiver.posts if t >= t0][0]
        assert body["receiver"] == "stack" and body["status"] == "firing"
        assert body["externalURL"] == st.am
        assert body["commonLabels"].get("alertname") in names
    finally:
        os.kill(pid, signal.SIGCONT)
    t1 = time.monotonic()
    fingerprints = {a["fingerprint"] for a in fired}
    resolved = wait_for(
        lambda: [a for a in st.receiver.alerts(t1, "resolved", web02)
                 if a["fingerprint"] in fingerprints],
        timeout=CHECK_UP + GROUP_INTERVAL + SLACK, interval=0.25,
        what="the alert resolved at the receiver")
    assert resolved[0]["endsAt"] > resolved[0]["startsAt"]


def test_alertmanager_is_a_supervised_unit(st):
    old = st.pids()["lb-01.alertmanager.pid"]
    os.kill(old, signal.SIGKILL)
    wait_for(lambda: st.pids().get("lb-01.alertmanager.pid") not in (None, old) and
             alive(st.pids()["lb-01.alertmanager.pid"]), timeout=15,
             what="the supervisor starts Alertmanager again")
    wait_for(lambda: ready(st.am + "/-/ready"), timeout=15, interval=0.5, what="Alertmanager answers again")


def test_e_mail_through_a_smarthost_with_a_password_file(st):
    """alert_email with an SMTP login: the password is read from
    {state}/secrets/alert-smtp.password (never the stack file); up refuses
    while it is missing, then writes a configuration amtool accepts and the
    running Alertmanager reads it (SIGHUP)."""
    with open(st.conf, "a") as f:  # still [monitoring], the file's last section
        f.write("alert_email = ops@foobar.com, oncall@foobar.com\n"
                "alert_smarthost = 127.0.0.1:2525\nalert_smtp_user = alerts\n")
    secret = os.path.join(st.state, "secrets", "alert-smtp.password")
    r = st.ctl("up", check=False)
    assert r.returncode != 0
    assert f"put its password in {secret}" in r.stderr
    with open(secret, "w") as f:
        f.write("s3cret-Pw\n")
    os.chmod(secret, 0o644)
    out = st.ctl("up").stdout
    assert "to: the webhook, ops@foobar.com, oncall@foobar.com)" in out
    assert stat.S_IMODE(os.stat(secret).st_mode) == 0o600  # made private
    path = os.path.join(st.state, "monitoring", "alertmanager.yml")
    amtool_check(path)
    text = open(path).read()
    assert f"auth_password_file: '{secret}'" in text
    assert "s3cret" not in text
    assert "from: 'tristack@foobar.com'" in text

    def reloaded():
        return "email_configs" in get(st.am + "/api/v2/status")["config"]["original"]
    wait_for(reloaded, timeout=10, interval=0.25, what="Alertmanager reads the new file")


def test_alertmanager_off_stops_it(st):
    """`alertmanager =` (empty), receivers gone: `up` stops the running
    Alertmanager (a leftover of the file) and Prometheus sends nowhere."""
    pid = st.pids()["lb-01.alertmanager.pid"]
    with open(st.conf) as f:
        text = re.sub(r"^alert_(webhook|email|smarthost|smtp_user) = .*\n", "", f.read(),
                      flags=re.M)
    with open(st.conf, "w") as f:
        f.write(text + "alertmanager =\n")
    out = st.ctl("up").stdout
    assert "Alertmanager" not in out
    wait_for(lambda: not alive(pid), timeout=20, interval=0.25, what="Alertmanager stopped")
    assert "lb-01.alertmanager.pid" not in st.pids()
    prom = open(os.path.join(st.state, "monitoring", "prometheus.yml")).read()
    assert "alerting:" not in prom and "job_name: alertmanager" not in prom
    rules = open(os.path.join(st.state, "monitoring", "rules.yml")).read()
    assert "AlertsNotDelivered" not in rules
