"""[monitoring]: `tristack up` runs a real Prometheus scraping every daemon,
MariaDB (prometheus-mysqld-exporter) and the supervisor, with the stack's
alert rules; faults show as alerts on Prometheus's own API. On a loopback
stack of its own with monitoring on and 1 s scrapes and evaluations."""
import json
import os
import re
import signal
import stat
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from conftest import alive, own_stack, wait_for

ALERT_FOR = 4    # s: the stack's [monitoring] alert_for
SLACK = 6        # s: a scrape, an evaluation, and a loaded machine
CHECK_DOWN = 3   # s: the LB's check finds a server down (interval 1s, fall 2, timeout 1s)

pytestmark = pytest.mark.skipif(not os.path.exists("/usr/bin/prometheus"),
                                reason="needs Debian's prometheus")


@pytest.fixture(scope="module")
def st():
    with own_stack("tristack-e2e-prom-",
                   extra="\n[monitoring]\nenabled = on\nscrape_interval = 1s\n"
                         f"evaluation_interval = 1s\nalert_for = {ALERT_FOR}s\n") as s:
        s.prom = f"http://{s.net}.1:9090"
        yield s


def api(st, path):
    with urllib.request.urlopen(st.prom + path, timeout=5) as r:
        return json.loads(r.read())["data"]


def alerts(st, name, state="firing", **labels):
    """The alerts called name in state whose labels include labels."""
    return [a for a in api(st, "/api/v1/alerts")["alerts"]
            if a["labels"]["alertname"] == name and a["state"] == state and
            all(a["labels"].get(k) == v for k, v in labels.items())]


def all_up(st):
    active = api(st, "/api/v1/targets")["activeTargets"]
    return active if active and all(t["health"] == "up" for t in active) else None


def mariadb(st, host, sql):
    sock = os.path.join(st.state, "run", f"{host}.db.sock")
    return subprocess.run(["mariadb", "--socket", sock, "-uroot", "-N", "-e", sql],
                          capture_output=True, text=True, timeout=20, check=True).stdout


def test_up_runs_prometheus_and_says_where(st):
    assert f"monitoring: http://{st.net}.1:9090/" in st.up_output
    assert re.search(r"lb-01\s+prometheus\s+up", st.up_output)
    for host in ("web-01", "web-02"):
        assert re.search(host + r"\s+mysqld_exporter\s+up", st.up_output)
    r = subprocess.run(["promtool", "check", "config",
                        os.path.join(st.state, "monitoring", "prometheus.yml")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "rules found" in r.stdout + r.stderr
    # Alertmanager beside it, with no receiver in this stack file: it sends nothing
    assert re.search(r"lb-01\s+alertmanager\s+up", st.up_output)
    assert f"alerts: http://{st.net}.1:9093/ (Alertmanager on lb-01; to: nowhere" in st.up_output
    am = os.path.join(st.state, "monitoring", "alertmanager.yml")
    r = subprocess.run(["amtool", "check-config", am], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "receiver: nowhere" in open(am).read()


def test_every_target_is_scraped(st):
    try:
        active = wait_for(lambda: all_up(st), timeout=20, interval=0.5, what="every target up")
    except AssertionError:
        raise AssertionError(json.dumps(api(st, "/api/v1/targets"), indent=1))
    got = sorted((t["labels"]["job"], t["labels"]["host"]) for t in active)
    assert got == [("alertmanager", "lb-01"), ("app", "web-01"), ("app", "web-02"),
                   ("dns", "lb-01"), ("lb", "lb-01"),
                   ("mysqld", "web-01"), ("mysqld", "web-02"), ("prometheus", "lb-01"),
                   ("supervisor", "lb-01"), ("web", "web-01"), ("web", "web-02")], got
    # (a target scraped before it listened may have made one pending: it goes)
    wait_for(lambda: api(st, "/api/v1/alerts")["alerts"] == [], timeout=5, interval=0.25,
             what="no alert at all")


def query(st, q):
    return api(st, "/api/v1/query?" + urllib.parse.urlencode({"query": q}))["result"]


def test_mariadb_figures_reach_prometheus(st):
    def replica_io():
        r = query(st, 'mysql_slave_status_slave_io_running{host="web-02"}')
        return r if r and r[0]["value"][1] == "1" else None
    wait_for(replica_io, timeout=15, interval=0.5, what="the replica's IO thread in Prometheus")
    lag = query(st, "mysql_slave_status_seconds_behind_master")
    assert [x["metric"]["host"] for x in lag] == ["web-02"]  # the primary has no slave status
    ups = {x["metric"]["host"]: x["value"][1] for x in query(st, "mysql_up")}
    assert ups == {"web-01": "1", "web-02": "1"}
    conns = query(st, "mysql_global_status_threads_connected")
    assert len(conns) == 2 and all(float(x["value"][1]) >= 1 for x in conns)


def test_the_exporter_account_is_narrow_and_its_password_private(st):
    grants = mariadb(st, "web-01", "SHOW GRANTS FOR 'exporter'@'localhost'")
    assert "PROCESS" in grants and "SLAVE MONITOR" in grants
    assert "`performance_schema`.*" in grants
    assert "ALL PRIVILEGES" not in grants and "SELECT ON *.*" not in grants
    assert "SELECT" not in grants.split("\n")[0]  # no SELECT on every schema
    # replication took it to the replica
    assert "PROCESS" in mariadb(st, "web-02", "SHOW GRANTS FOR 'exporter'@'localhost'")
    secret = os.path.join(st.state, "secrets", "exporter.password")
    pw = open(secret).read().strip()
    assert len(pw) >= 16
    for path in (secret, os.path.join(st.state, "secrets", "web-01.exporter.cnf")):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path
    for name, text in st.logs().items():
        assert pw not in text, f"the exporter's password is in {name}"


def test_supervisor_metrics(st):
    with urllib.request.urlopen(f"http://{st.net}.1:9110/metrics", timeout=5) as r:
        text = r.read().decode()
    assert 'tristack_supervisor_restarts_total{host="web-02",daemon="tristack-web"} 0' in text
    assert 'tristack_supervisor_unit_up{host="lb-01",daemon="prometheus"} 1' in text
    assert 'tristack_supervisor_unit_failed{host="web-01",daemon="mariadbd"} 0' in text
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(f"http://{st.net}.1:9110/nothing", timeout=5)
    assert e.value.code == 404
    # a name a page rebound to this address (DNS rebinding) is refused
    for host, want in (("evil.example", 403), (f"{st.net}.1:9110", 200), ("localhost", 200)):
        req = urllib.request.Request(f"http://{st.net}.1:9110/metrics", headers={"Host": host})
        try:
            code = urllib.request.urlopen(req, timeout=5).status
        except urllib.error.HTTPError as he:
            code = he.code
        assert code == want, host
    # a client that connects and says nothing holds nothing up
    import socket
    idle = [socket.create_connection((f"{st.net}.1", 9110), timeout=5) for _ in range(12)]
    try:
        with urllib.request.urlopen(f"http://{st.net}.1:9110/metrics", timeout=5) as r:
            assert r.status == 200
    finally:
        for s in idle:
            s.close()


def test_web_02_stopped_fires_backend_down_then_all_backends_down(st):
    """web-02 frozen (SIGSTOP: the supervisor sees it alive, so does not
    restart it): the LB's checks mark it down, Prometheus sees
    tristack_lb_server_up{server="web-02"} 0 and BackendDown fires after
    its for: window."""
    wait_for(lambda: all_up(st), timeout=20, interval=0.5, what="every target up")
    pid = st.pids()["web-02.web.pid"]
    t0 = time.monotonic()
    os.kill(pid, signal.SIGSTOP)
    try:
        wait_for(lambda: alerts(st, "BackendDown", "pending", server="web-02"),
                 timeout=CHECK_DOWN + SLACK, interval=0.25, what="BackendDown pending")
        fired = wait_for(lambda: alerts(st, "BackendDown", server="web-02"),
                         timeout=ALERT_FOR + SLACK, interval=0.25, what="BackendDown firing")
        took = time.monotonic() - t0
        assert took >= ALERT_FOR  # not before its for: window
        a = fired[0]
        assert a["labels"]["severity"] == "warning" and a["labels"]["host"] == "lb-01"
        assert a["annotations"]["summary"] == \
            "server web-02 is down for the load balancer on lb-01"
        assert not alerts(st, "AllBackendsDown", "pending")
        # and web-01 too: the site is down
        other = st.pids()["web-01.web.pid"]
        os.kill(other, signal.SIGSTOP)
        try:
            fired = wait_for(lambda: alerts(st, "AllBackendsDown"),
                             timeout=CHECK_DOWN + ALERT_FOR + SLACK, interval=0.25,
                             what="AllBackendsDown firing")
            assert fired[0]["labels"]["severity"] == "critical"
            assert "has no server up" in fired[0]["annotations"]["summary"]
        finally:
            os.kill(other, signal.SIGCONT)
    finally:
        os.kill(pid, signal.SIGCONT)
    wait_for(lambda: not alerts(st, "BackendDown", server="web-02") and
             not alerts(st, "BackendDown", "pending", server="web-02"),
             timeout=CHECK_DOWN + SLACK, interval=0.25, what="BackendDown resolved")


def test_replication_stopped_fires_then_lag_high(st):
    mariadb(st, "web-02", "STOP SLAVE")
    try:
        fired = wait_for(lambda: alerts(st, "ReplicationStopped", host="web-02"),
                         timeout=ALERT_FOR + SLACK, interval=0.25,
                         what="ReplicationStopped firing")
        assert fired[0]["labels"]["severity"] == "critical"
        assert "the replica on web-02 does not replicate" in \
            fired[0]["annotations"]["summary"]
        # and the apps' heartbeat, read on the replica, ages past max_lag (5s)
        lag = wait_for(lambda: alerts(st, "ReplicaLagHigh", server="web-02"),
                       timeout=5 + ALERT_FOR + SLACK, interval=0.25,
                       what="ReplicaLagHigh firing")
        assert "over max_lag" in lag[0]["annotations"]["summary"]
    finally:
        mariadb(st, "web-02", "START SLAVE")
    wait_for(lambda: not alerts(st, "ReplicationStopped") and
             not alerts(st, "ReplicationStopped", "pending"),
             timeout=SLACK + 5, interval=0.25, what="ReplicationStopped resolved")


def test_a_replica_down_fires_replica_down(st):
    """The replica's MariaDB frozen: its exporter reports mysql_up 0, no
    replica status reaches Prometheus, and the primary, no longer
    acknowledged, is asynchronous (SemiSyncOff)."""
    pid = st.pids()["web-02.db.pid"]
    os.kill(pid, signal.SIGSTOP)
    try:
        wait_for(lambda: alerts(st, "ReplicaDown"), timeout=ALERT_FOR + SLACK + 4,
                 interval=0.25, what="ReplicaDown firing")
        # its exporter says mysql_up 0, or its scrape times out
        assert any(alerts(st, name, state, host="web-02")
                   for name in ("DatabaseDown", "TargetDown") for state in ("pending", "firing"))
        # the primary's writes (the apps' heartbeats) waited semi_sync_timeout
        # for it, then went on asynchronously: the primary says so
        fired = wait_for(lambda: alerts(st, "SemiSyncOff", host="web-01"),
                         timeout=1 + ALERT_FOR + SLACK, interval=0.25, what="SemiSyncOff firing")
        assert fired[0]["labels"]["severity"] == "critical"
        assert not alerts(st, "SemiSyncOff", host="web-02")  # a replica is not asked
    finally:
        os.kill(pid, signal.SIGCONT)
    wait_for(lambda: not alerts(st, "ReplicaDown"), timeout=SLACK + 10, interval=0.25,
             what="ReplicaDown resolved")
    wait_for(lambda: not alerts(st, "SemiSyncOff"), timeout=SLACK + 10, interval=0.25,
             what="SemiSyncOff resolved: the replica caught up and acknowledges again")


def test_a_daemon_restarted_by_the_supervisor_fires(st):
    old = st.pids()["lb-01.dns.pid"]
    os.kill(old, signal.SIGKILL)
    wait_for(lambda: st.pids().get("lb-01.dns.pid") not in (None, old) and
             alive(st.pids()["lb-01.dns.pid"]), timeout=10, what="the DNS started again")
    fired = wait_for(lambda: alerts(st, "DaemonRestarted", daemon="tristack-dns"),
                     timeout=SLACK + 4, interval=0.25, what="DaemonRestarted firing")
    a = fired[0]
    assert a["labels"]["host"] == "lb-01"  # the unit's host, not the supervisor's target's
    assert a["annotations"]["summary"] == "the supervisor restarted tristack-dns on lb-01"
    r = query(st, 'tristack_supervisor_restarts_total{daemon="tristack-dns"}')
    assert r and r[0]["value"][1] == "1"


def test_a_changed_stack_file_reaches_a_running_prometheus(st):
    """`up` again rewrites the files and makes Prometheus read them."""
    with open(st.conf, "a") as f:
        f.write("error_rate_for = 2m\n")  # still [monitoring], the file's last section
    try:
        st.ctl("up")

        def loaded():
            for g in api(st, "/api/v1/rules")["groups"]:
                for r in g["rules"]:
                    if r["name"] == "HighErrorRate" and r["duration"] == 120:
                        return True
            return False
        wait_for(loaded, timeout=10, interval=0.25, what="the new rules loaded")
    finally:
        text = open(st.conf).read().replace("error_rate_for = 2m\n", "")
        with open(st.conf, "w") as f:
            f.write(text)


def test_monitoring_turned_off_stops_prometheus_and_the_exporters(st):
    """Last on this stack: `up` with enabled = off stops what an `up` with it
    on started (and so does `down`, at the fixture's end)."""
    pids = {n: p for n, p in st.pids().items() if ".prometheus." in n or ".exporter." in n}
    assert len(pids) == 3, st.pids()
    text = open(st.conf).read().replace("enabled = on", "enabled = off")
    with open(st.conf, "w") as f:
        f.write(text)
    r = st.ctl("up")
    assert "monitoring is off" in r.stdout
    for name, pid in pids.items():
        wait_for(lambda: not alive(pid), timeout=10, what=f"{name} stopped")
    assert "prometheus" not in st.ctl("status", check=False).stdout
    assert "monitoring:" not in r.stdout


# ---- the rules themselves, on made-up series (promtool test rules) ----

RULE_TESTS = """
rule_files: ['{rules}']
evaluation_interval: 15s
tests:
  - interval: 15s
    input_series:
      - series: 'tristack_lb_http_requests_total{{code="2xx",host="lb-01",job="lb"}}'
        values: '0+98x40'
      - series: 'tristack_lb_http_requests_total{{code="5xx",host="lb-01",job="lb"}}'
        values: '0+2x40'
      - series: 'tristack_lb_http_requests_total{{code="2xx",host="lb-02",job="lb"}}'
        values: '0+995x40'
      - series: 'tristack_lb_http_requests_total{{code="5xx",host="lb-02",job="lb"}}'
        values: '0+5x40'
    alert_rule_test:
      - eval_time: 45s   # 2 % of 5xx on lb-01, but not for 1 minute yet
        alertname: HighErrorRate
        exp_alerts: []
      - eval_time: 3m    # lb-01 over 1 % for a minute; lb-02 at 0.5 % never
        alertname: HighErrorRate
        exp_alerts:
          - exp_labels: {{severity: critical, host: lb-01}}
            exp_annotations:
              summary: "2% of the responses of the load balancer on lb-01 are 5xx"
  - interval: 15s   # semi-sync off on the writable instance only
    input_series:
      - series: 'mysql_global_status_rpl_semi_sync_master_status{{host="web-01",instance="a:9104",job="mysqld"}}'
        values: '1 1 0 0 0 0'
      - series: 'mysql_global_variables_read_only{{host="web-01",instance="a:9104",job="mysqld"}}'
        values: '0x5'
      - series: 'mysql_global_status_rpl_semi_sync_master_status{{host="web-02",instance="b:9104",job="mysqld"}}'
        values: '0x5'
      - series: 'mysql_global_variables_read_only{{host="web-02",instance="b:9104",job="mysqld"}}'
        values: '1x5'
      # a primary whose replicas are all gone: its status stays ON, nothing waits
      - series: 'mysql_global_status_rpl_semi_sync_master_status{{host="web-03",instance="c:9104",job="mysqld"}}'
        values: '1x5'
      - series: 'mysql_global_status_rpl_semi_sync_master_clients{{host="web-03",instance="c:9104",job="mysqld"}}'
        values: '1 1 0 0 0 0'
      - series: 'mysql_global_variables_read_only{{host="web-03",instance="c:9104",job="mysqld"}}'
        values: '0x5'
    alert_rule_test:
      - eval_time: 15s
        alertname: SemiSyncOff
        exp_alerts: []
      - eval_time: 1m
        alertname: SemiSyncOff
        exp_alerts:
          - exp_labels: {{severity: critical, host: web-01, instance: "a:9104", job: mysqld}}
            exp_annotations:
              summary: "the primary on web-01 is asynchronous: no replica is connected, or none acknowledged a write within semi_sync_timeout"
          - exp_labels: {{severity: critical, host: web-03, instance: "c:9104", job: mysqld}}
            exp_annotations:
              summary: "the primary on web-03 is asynchronous: no replica is connected, or none acknowledged a write within semi_sync_timeout"
  - interval: 1m
    input_series:
      - series: 'tristack_lb_tls_certificate_expiry_timestamp_seconds{{name="www.foobar.com",host="lb-01",job="lb"}}'
        values: '1209660x10'    # 14 days and a minute after time 0
      - series: 'tristack_lb_tls_certificate_expiry_timestamp_seconds{{name="old.foobar.com",host="lb-01",job="lb"}}'
        values: '864000x10'     # 10 days
    alert_rule_test:
      - eval_time: 0m
        alertname: CertificateExpiringSoon
        exp_alerts:
          - exp_labels: {{severity: warning, host: lb-01, job: lb, name: old.foobar.com}}
            exp_annotations:
              summary: "the certificate old.foobar.com of the load balancer on lb-01 ends in 10d 0h 0m 0s"
      - eval_time: 2m    # www is under 14 days now too
        alertname: CertificateExpiringSoon
        exp_alerts:
          - exp_labels: {{severity: warning, host: lb-01, job: lb, name: old.foobar.com}}
            exp_annotations:
              summary: "the certificate old.foobar.com of the load balancer on lb-01 ends in 9d 23h 58m 0s"
          - exp_labels: {{severity: warning, host: lb-01, job: lb, name: www.foobar.com}}
            exp_annotations:
              summary: "the certificate www.foobar.com of the load balancer on lb-01 ends in 13d 23h 59m 0s"
"""


def test_error_ratio_and_certificate_rules(st, tmp_path):
    rules = os.path.join(st.state, "monitoring", "rules.yml")
    r = subprocess.run(["promtool", "check", "rules", rules], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Vip" not in open(rules).read()  # no [site] vip: none of its rules (test_vip.py)
    t = tmp_path / "rules_test.yml"
    t.write_text(RULE_TESTS.format(rules=rules))
    r = subprocess.run(["promtool", "test", "rules", str(t)], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def test_a_mon_host_gets_prometheus_and_reaches_every_admin_port(tmp_path):
    """A host with the `mon` role runs Prometheus: the rules `up --isolated`
    would load let it (and the LB, and [site] admin) reach every admin port,
    and only [site] admin and itself reach Prometheus."""
    from conftest import ROOT, binary
    text = open(os.path.join(ROOT, "conf", "foobar-isolated.conf")).read()
    text = text.replace("10.0.0.", "198.18.9.")
    text = text.replace("[lb]", "[host mon-01]\naddress = 198.18.9.4\nroles   = mon\n\n[lb]")
    conf = tmp_path / "mon.conf"
    conf.write_text(text)

    def rules(host):
        r = subprocess.run([binary("tristack"), "-c", str(conf), "--state",
                            str(tmp_path / "state"), "firewall", "show", host],
                           capture_output=True, text=True, check=True)
        return r.stdout

    watchers = "ip saddr { 198.18.9.100, 198.18.9.4, 198.18.9.1 }"
    mon = rules("mon-01")
    assert f"{watchers} tcp dport 9110 accept" in mon              # the supervisor's
    assert "ip saddr { 198.18.9.100, 198.18.9.4 } tcp dport 9090 accept" in mon
    web = rules("web-02")
    for port in (8405, 9001, 9104):
        assert f"{watchers} tcp dport {port} accept" in web, web
    lb = rules("lb-01")
    for port in (8404, 8406):
        assert f"{watchers} tcp dport {port} accept" in lb, lb
    assert "9090" not in lb and "9110" not in lb
