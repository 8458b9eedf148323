"""[site] vip, the floating address the LB hosts share (keepalived moves it):
whichever LB host holds it answers on it at once, HTTP, HTTPS and DNS, and
says so in its metrics; the alert rules watch who holds it.

On loopback one LB host stands for the pair: the vip is another address of
its /24 (all of 127/8 is this machine's, so the host "holds" it). The
standby's case, an address the host does not have yet, is proved in a
network namespace of its own when the tests run as root."""
import json
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.request

import pytest

from conftest import ROOT, binary, curl, metric_samples, own_stack, wait_for
from lab import spawn, stop

DOMAIN = "foobar.com"
HAS_PROMETHEUS = os.path.exists("/usr/bin/prometheus")


def with_vip(text):
    net = re.search(r"address = (127\.\d+\.\d+)\.1\b", text).group(1)
    return text.replace("[site]\n", f"[site]\nvip = {net}.9\n", 1)


@pytest.fixture(scope="module")
def st():
    extra = ("\n[monitoring]\nenabled = on\nscrape_interval = 1s\nevaluation_interval = 1s\n"
             "alert_for = 4s\n") if HAS_PROMETHEUS else ""
    with own_stack("tristack-e2e-vip-", extra=extra, edit=with_vip) as s:
        s.vip = f"{s.net}.9"
        yield s


def dig(server, *args, port=5353):
    r = subprocess.run(["dig", f"@{server}", "-p", str(port), "+time=2", "+tries=1", *args],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def section(out, name):
    """The records of a dig section as [(owner, type, data)]."""
    m = re.search(rf";; {name} SECTION:\n(.*?)(\n\n|\Z)", out, re.S)
    if not m:
        return []
    return [(f[0], f[3], f[4]) for f in (line.split() for line in m.group(1).splitlines())]


@pytest.mark.parametrize("transport", ["+notcp", "+tcp"])
def test_dns_answers_on_the_vip_with_the_vip(st, transport):
    out = dig(st.vip, transport, "+norec", f"www.{DOMAIN}", "A")
    assert "status: NOERROR" in out and " aa" in out, out
    assert section(out, "ANSWER") == [(f"www.{DOMAIN}.", "A", st.vip)], out
    assert section(out, "AUTHORITY") == [(f"{DOMAIN}.", "NS", f"ns1.{DOMAIN}.")], out
    assert section(out, "ADDITIONAL") == [(f"ns1.{DOMAIN}.", "A", st.lb)], out
    # a UDP answer comes from the address it was asked at (dig checks it too)
    assert f"SERVER: {st.vip}#5353" in out


def test_dns_on_the_hosts_own_address_says_the_same(st):
    out = dig(st.lb, "+short", f"www.{DOMAIN}")
    assert out.split() == [st.vip]
    assert dig(st.vip, "+short", f"{DOMAIN}", "NS").split() == [f"ns1.{DOMAIN}."]


def test_https_on_the_vip(st):
    code, headers, body = curl("--cacert", st.cafile, "--resolve",
                               f"www.{DOMAIN}:8443:{st.vip}", f"https://www.{DOMAIN}:8443/")
    assert code == 200, body[:300]


def test_plain_http_on_the_vip_redirects(st):
    code, headers, _ = curl("-H", f"Host: www.{DOMAIN}:8080", f"http://{st.vip}:8080/")
    assert code == 301
    assert headers["location"].startswith(f"https://www.{DOMAIN}:8443/")


def test_admin_is_not_on_the_vip(st):
    r = subprocess.run(["curl", "-s", "-o", "/dev/null", "--max-time", "3",
                        f"http://{st.vip}:8404/metrics"], capture_output=True)
    assert r.returncode == 7  # connection refused: admin stays on the host's address


def lb_metrics(st):
    with urllib.request.urlopen(st.admin + "/metrics", timeout=5) as r:
        return metric_samples(r.read().decode())


def test_metrics_say_this_lb_holds_the_vip(st):
    m = lb_metrics(st)
    assert m[f'tristack_lb_vip_held{{vip="{st.vip}"}}'] == 1
    assert m[f'tristack_lb_vip_transitions_total{{vip="{st.vip}"}}'] == 0


def daemon_pid(st, role):
    """The PID of lb-01's daemon of that role ("lb", "dns")."""
    names = [n for n in st.pids() if re.fullmatch(rf"lb-01\.{role}\.pid", n)]
    assert len(names) == 1, st.pids()
    return st.pids()[names[0]]


def log_of(st, role):
    return st.logs().get(f"lb-01.{role}.log", "")


@pytest.mark.skipif(not shutil.which("promtool"), reason="needs promtool")
def test_vip_metrics_follow_the_conventions_and_are_documented(st):
    with urllib.request.urlopen(st.admin + "/metrics", timeout=5) as r:
        text = r.read().decode()
    r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0 and r.stdout == "" and r.stderr == "", r.stdout + r.stderr
    doc = open(os.path.join(ROOT, "docs", "metrics.md")).read()
    for name in ("tristack_lb_vip_held", "tristack_lb_vip_transitions_total"):
        assert f"# TYPE {name} " in text
        assert f"| `{name}` |" in doc


def test_reload_keeps_serving_on_the_vip(st):
    for role in ("lb", "dns"):
        os.kill(daemon_pid(st, role), signal.SIGHUP)
    for role in ("lb", "dns"):
        wait_for(lambda: "generation 1 has drained" in log_of(st, role), timeout=15,
                 what=f"the {role} reload")
    for _ in range(10):
        code, _, _ = curl("--cacert", st.cafile, "--resolve", f"www.{DOMAIN}:8443:{st.vip}",
                          f"https://www.{DOMAIN}:8443/healthz")
        assert code == 200
    for transport in ("+notcp", "+tcp"):
        assert dig(st.vip, transport, "+short", f"www.{DOMAIN}").split() == [st.vip]
    m = lb_metrics(st)
    assert m[f'tristack_lb_vip_held{{vip="{st.vip}"}}'] == 1
    assert m[f'tristack_lb_vip_transitions_total{{vip="{st.vip}"}}'] == 0


# ---- the alert rules (promtool, on made-up series) ----

RULE_TESTS = """
rule_files: ['{rules}']
evaluation_interval: 1s
tests:
  - interval: 15s
    input_series:   # lb-01 gives the address up at 1m, lb-02 takes it
      - series: 'tristack_lb_vip_held{{vip="{vip}",host="lb-01",job="lb"}}'
        values: '1x3 0x40'
      - series: 'tristack_lb_vip_held{{vip="{vip}",host="lb-02",job="lb"}}'
        values: '0x3 1x40'
      - series: 'tristack_lb_vip_transitions_total{{vip="{vip}",host="lb-01",job="lb"}}'
        values: '0x3 1x40'
      - series: 'tristack_lb_vip_transitions_total{{vip="{vip}",host="lb-02",job="lb"}}'
        values: '0x3 1x40'
    alert_rule_test:
      - eval_time: 30s
        alertname: FloatingAddressMoved
        exp_alerts: []
      - eval_time: 2m
        alertname: FloatingAddressMoved
        exp_alerts:
          - exp_labels: {{severity: warning, vip: "{vip}"}}
            exp_annotations:
              summary: "the floating address {vip} changed holder in the last 5m"
      - eval_time: 8m
        alertname: FloatingAddressMoved
        exp_alerts: []
      - eval_time: 2m
        alertname: FloatingAddressUnheld
        exp_alerts: []
      - eval_time: 2m
        alertname: FloatingAddressHeldTwice
        exp_alerts: []
  - interval: 1s
    input_series:   # nobody holds it from 2s on
      - series: 'tristack_lb_vip_held{{vip="{vip}",host="lb-01",job="lb"}}'
        values: '1 1 0x20'
      - series: 'tristack_lb_vip_held{{vip="{vip}",host="lb-02",job="lb"}}'
        values: '0x22'
    alert_rule_test:
      - eval_time: 4s
        alertname: FloatingAddressUnheld
        exp_alerts: []
      - eval_time: 8s
        alertname: FloatingAddressUnheld
        exp_alerts:
          - exp_labels: {{severity: critical}}
            exp_annotations:
              summary: "no load balancer holds the floating address {vip}: www.foobar.com does not answer"
  - interval: 1s
    input_series:   # both hold it from 2s on: split brain
      - series: 'tristack_lb_vip_held{{vip="{vip}",host="lb-01",job="lb"}}'
        values: '1x22'
      - series: 'tristack_lb_vip_held{{vip="{vip}",host="lb-02",job="lb"}}'
        values: '0 0 1x20'
    alert_rule_test:
      - eval_time: 4s
        alertname: FloatingAddressHeldTwice
        exp_alerts: []
      - eval_time: 8s
        alertname: FloatingAddressHeldTwice
        exp_alerts:
          - exp_labels: {{severity: critical, vip: "{vip}"}}
            exp_annotations:
              summary: "2 load balancers hold the floating address {vip} (split brain)"
"""


@pytest.mark.skipif(not HAS_PROMETHEUS, reason="needs Debian's prometheus")
def test_vip_alert_rules(st, tmp_path):
    rules = os.path.join(st.state, "monitoring", "rules.yml")
    text = open(rules).read()
    for name in ("FloatingAddressMoved", "FloatingAddressUnheld", "FloatingAddressHeldTwice"):
        assert f"alert: {name}\n" in text
    r = subprocess.run(["promtool", "check", "rules", rules], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    t = tmp_path / "vip_rules_test.yml"
    t.write_text(RULE_TESTS.format(rules=rules, vip=st.vip))
    r = subprocess.run(["promtool", "test", "rules", str(t)], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.skipif(not HAS_PROMETHEUS, reason="needs Debian's prometheus")
def test_prometheus_sees_one_holder_and_no_vip_alert(st):
    def query(q):
        url = f"http://{st.net}.1:9090/api/v1/query?query=" + urllib.request.quote(q)
        with urllib.request.urlopen(url, timeout=5) as r:
            return json.loads(r.read())["data"]["result"]

    got = wait_for(lambda: query("sum(tristack_lb_vip_held)"), timeout=20, interval=0.5,
                   what="Prometheus scraping the LB")
    assert float(got[0]["value"][1]) == 1

    def vip_alerts():
        with urllib.request.urlopen(f"http://{st.net}.1:9090/api/v1/alerts", timeout=5) as r:
            alerts = json.loads(r.read())["data"]["alerts"]
        return [(a["labels"]["alertname"], a["state"]) for a in alerts
                if "Vip" in a["labels"]["alertname"]]

    # FloatingAddressUnheld may be pending from before the first scrape; the
    # next evaluation after it clears it
    wait_for(lambda: vip_alerts() == [], timeout=10, interval=0.5, what="no vip alert")
    time.sleep(5)  # alert_for and then some: still none
    assert vip_alerts() == []


# ---- the standby: an address the host does not have yet (IP_FREEBIND) ----

NS_CONF = """[site]
domain = foobar.com
vip = 10.99.0.1
state = {state}
[host lb-01]
address = 10.99.0.11
roles = lb, dns
[host web-01]
address = 10.99.0.2
roles = web
[lb]
listen = :8080
admin = :8404
threads = 1
server = web-01:8080
[dns]
listen = :5353
admin =
"""


def in_ns(ns, *cmd, check=True):
    return subprocess.run(["ip", "netns", "exec", ns, *cmd], capture_output=True, text=True,
                          timeout=15, check=check)


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("ip"),
                    reason="needs root for a network namespace")
def test_the_standby_serves_on_the_vip_as_soon_as_it_comes(tmp_path):
    """In a network namespace of its own: the LB host's address, not the
    vip (both on the namespace's lo, which is all it needs). tristack-lb and tristack-dns start all the same
    (IP_FREEBIND); once the address is added (what keepalived does on a
    failover) they answer on it, and the LB counts it coming and going."""
    ns = f"tsvip-{os.getpid()}"
    conf = tmp_path / "ns.conf"
    conf.write_text(NS_CONF.format(state=tmp_path / "state"))
    procs = []
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        in_ns(ns, "ip", "link", "set", "lo", "up")
        in_ns(ns, "ip", "addr", "add", "10.99.0.11/32", "dev", "lo")
        for name in ("tristack-lb", "tristack-dns"):
            procs.append(spawn(["ip", "netns", "exec", ns, binary(name), "-c", str(conf)],
                               str(tmp_path / f"{name}.log")))

        def metrics():
            r = in_ns(ns, "curl", "-s", "--max-time", "2", "http://10.99.0.11:8404/metrics",
                      check=False)
            m = metric_samples(r.stdout) if r.returncode == 0 else {}
            held = m.get('tristack_lb_vip_held{vip="10.99.0.1"}')
            return None if held is None else (held, m['tristack_lb_vip_transitions_total'
                                                      '{vip="10.99.0.1"}'])

        def www(transport):
            r = in_ns(ns, "dig", "@10.99.0.1", "-p", "5353", "+time=1", "+tries=1",
                      transport, "+short", "www.foobar.com", check=False)
            return r.stdout.split() if r.returncode == 0 else []  # 9: no answer

        assert wait_for(metrics, timeout=10, what="the LB's metrics") == (0, 0)
        assert www("+notcp") == [] and www("+tcp") == []  # not here: nothing answers
        in_ns(ns, "ip", "addr", "add", "10.99.0.1/32", "dev", "lo")
        assert wait_for(lambda: www("+notcp"), timeout=5, what="DNS on the vip") == ["10.99.0.1"]
        assert www("+tcp") == ["10.99.0.1"]
        r = in_ns(ns, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "3",
                  "http://10.99.0.1:8080/")
        assert r.stdout in ("502", "503"), r.stdout  # the LB answers (its server is not there)
        assert wait_for(lambda: metrics() == (1, 1), timeout=5, what="held 1")
        in_ns(ns, "ip", "addr", "del", "10.99.0.1/32", "dev", "lo")
        assert wait_for(lambda: metrics() == (0, 2), timeout=5, what="held 0 again")
        for p in procs:
            assert p.poll() is None, "a daemon died"
    finally:
        for p in procs:
            stop(p, timeout=10)
        subprocess.run(["ip", "netns", "del", ns], check=False)
    for name in ("tristack-lb", "tristack-dns"):
        log = (tmp_path / f"{name}.log").read_text()
        assert "ERROR: AddressSanitizer" not in log, log
    assert "vip 10.99.0.1 came to this host" in (tmp_path / "tristack-lb.log").read_text()
