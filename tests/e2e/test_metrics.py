"""Every daemon's /metrics follows Prometheus' conventions (promtool accepts
it without a lint remark) and counts exactly: N requests make the matching
counters rise by N. The LB exports each certificate's expiry, and a reload
shows a new certificate's. On a stack of its own.

The LB's health checks would hit the web servers (and, through /healthz,
the apps) on their own schedule; this stack checks a path the web servers
answer 404, so the 2xx counters count the test's requests and nothing else.
"""
import http.client
import os
import re
import signal
import subprocess
from datetime import datetime, timezone

import pytest

from conftest import curl, metric_samples, own_stack, wait_for

N = 37
CHECK = "check      = GET /healthz interval=1s timeout=1s rise=2 fall=2 expect=2xx"
CHECK_404 = "check      = GET /no-such-page interval=1s timeout=1s rise=2 fall=2 expect=404"


@pytest.fixture(scope="module")
def st():
    def check_404(text):
        assert CHECK in text
        return text.replace(CHECK, CHECK_404)

    with own_stack("tristack-e2e-metrics-", edit=check_404) as s:
        # both servers up: every request may go to either
        wait_for(lambda: value(scrape(admin(s, "lb")), "tristack_lb_servers_up") == 2,
                 timeout=15, what="both web servers up")
        yield s


def admin(st, which):
    """The admin URL of a daemon: lb, dns, web-01, web-02, app-01, app-02."""
    host = {"lb": 1, "dns": 1, "web-01": 2, "app-01": 2, "web-02": 3, "app-02": 3}[which]
    port = {"lb": 8404, "dns": 8406, "web": 8405, "app": 9001}[which.split("-")[0]]
    return f"http://{st.net}.{host}:{port}"


def scrape(url):
    status, headers, body = curl(url + "/metrics")
    assert status == 200
    assert headers["content-type"].startswith("text/plain; version=0.0.4")
    return body.decode()


def value(text, series):
    return metric_samples(text).get(series)


def total(text, family, **labels):
    """The sum over a family's series whose labels include the given ones."""
    want = [f'{k}="{v}"' for k, v in labels.items()]
    s = 0.0
    for series, v in metric_samples(text).items():
        name, _, rest = series.partition("{")
        if name == family and all(w in rest.rstrip("}").split(",") for w in want):
            s += v
    return s


DAEMONS = ["lb", "web-01", "web-02", "app-01", "app-02", "dns"]


@pytest.mark.parametrize("which", DAEMONS)
def test_promtool_accepts_every_daemons_metrics(st, which):
    text = scrape(admin(st, which))
    r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout == "" and r.stderr == "", r.stdout + r.stderr


@pytest.mark.parametrize("which", DAEMONS)
def test_every_daemon_has_process_metrics_and_build_info(st, which):
    text = scrape(admin(st, which))
    daemon = which.split("-")[0]
    assert value(text, f'tristack_{daemon}_build_info{{version="0.1.0"}}') == 1
    pid = st.pids()[{"lb": "lb-01.lb", "dns": "lb-01.dns", "web-01": "web-01.web",
                     "web-02": "web-02.web", "app-01": "web-01.app",
                     "app-02": "web-02.app"}[which] + ".pid"]
    # the start time is the process's own (ps counts from boot too)
    ps = subprocess.run(["ps", "-o", "lstart=", "-p", str(pid)], capture_output=True, text=True,
                        env={**os.environ, "LC_ALL": "C", "TZ": "UTC"}, check=True)
    started = datetime.strptime(ps.stdout.strip(), "%a %b %d %H:%M:%S %Y")
    started = started.replace(tzinfo=timezone.utc).timestamp()
    assert abs(value(text, "process_start_time_seconds") - started) < 2
    assert value(text, "process_cpu_seconds_total") >= 0
    assert value(text, "process_resident_memory_bytes") > 1 << 20
    assert value(text, "process_virtual_memory_bytes") > value(text,
                                                               "process_resident_memory_bytes")
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    assert abs(value(text, "process_open_fds") - fds) <= 5  # connections come and go
    assert value(text, "process_max_fds") >= 1024


def test_every_metric_is_in_the_reference(st):
    """docs/metrics.md has a row for each family; the HTTP front end's,
    shared by lb, web and app, under its tristack_lb_ name."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    doc = open(os.path.join(root, "docs", "metrics.md")).read()
    rows = set(re.findall(r"^\| `([a-z_<>]+)` \|", doc, re.M))
    missing = set()
    for which in DAEMONS:
        for name in re.findall(r"^# TYPE (\S+) ", scrape(admin(st, which)), re.M):
            shared = re.sub(r"^tristack_(web|app)_", "tristack_lb_", name)
            generic = re.sub(r"^tristack_[a-z]+_build_info$", "tristack_<daemon>_build_info",
                             name)
            if not {name, shared, generic} & rows:
                missing.add(name)
    assert not missing, f"not in docs/metrics.md: {sorted(missing)}"


def https_get(st, paths):
    """GET each path through the LB on one keep-alive connection; statuses."""
    conn = http.client.HTTPSConnection(st.lb, 8443, context=st.ssl_context(), timeout=10)
    try:
        out = []
        for p in paths:
            conn.request("GET", p)
            r = conn.getresponse()
            r.read()
            out.append(r.status)
        return out
    finally:
        conn.close()


def test_static_requests_are_counted_exactly_by_lb_and_web_servers(st):
    lb0 = scrape(admin(st, "lb"))
    webs0 = [scrape(admin(st, w)) for w in ("web-01", "web-02")]
    assert https_get(st, ["/static/site.css"] * N) == [200] * N
    lb1 = scrape(admin(st, "lb"))
    webs1 = [scrape(admin(st, w)) for w in ("web-01", "web-02")]
    series = 'tristack_lb_http_requests_total{code="2xx"}'
    assert value(lb1, series) - value(lb0, series) == N
    family = "tristack_lb_backend_requests_total"
    assert total(lb1, family) - total(lb0, family) == N
    assert total(lb1, "tristack_lb_backend_responses_total", code="2xx") - \
        total(lb0, "tristack_lb_backend_responses_total", code="2xx") == N
    series = 'tristack_web_http_requests_total{code="2xx"}'
    rose = [value(a, series) - value(b, series) for a, b in zip(webs1, webs0)]
    assert sum(rose) == N
    assert all(r > 0 for r in rose), rose  # round robin: both served


def test_api_requests_are_counted_exactly_by_the_apps(st):
    before = [scrape(admin(st, a)) for a in ("app-01", "app-02")]
    assert https_get(st, ["/api/posts?limit=1"] * N) == [200] * N
    after = [scrape(admin(st, a)) for a in ("app-01", "app-02")]
    series = 'tristack_app_http_requests_total{code="2xx"}'
    assert sum(value(a, series) - value(b, series) for a, b in zip(after, before)) == N
    family = "tristack_app_http_request_duration_seconds_count"
    assert sum(value(a, family) - value(b, family) for a, b in zip(after, before)) == N
    # each request reads the database once
    family = "tristack_app_db_query_duration_seconds_count"
    assert sum(total(a, family) - total(b, family) for a, b in zip(after, before)) == N


def dig(st, name, *args):
    r = subprocess.run(["dig", "-p", "5353", f"@{st.lb}", "+tries=1", "+time=5", *args, name],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return re.search(r"status: (\w+)", r.stdout).group(1)


def test_dns_queries_are_counted_exactly_by_transport_and_rcode(st):
    before = scrape(admin(st, "dns"))
    for _ in range(N):
        assert dig(st, "www.foobar.com") == "NOERROR"
    for _ in range(3):
        assert dig(st, "nope.foobar.com") == "NXDOMAIN"
    assert dig(st, "www.foobar.com", "+tcp") == "NOERROR"
    assert dig(st, "www.example.org") == "REFUSED"
    after = scrape(admin(st, "dns"))

    def rose(**labels):
        return total(after, "tristack_dns_queries_total", **labels) - \
            total(before, "tristack_dns_queries_total", **labels)

    assert rose() == N + 5
    assert rose(proto="udp", rcode="NOERROR") == N
    assert rose(proto="udp", rcode="NXDOMAIN") == 3
    assert rose(proto="tcp", rcode="NOERROR") == 1
    assert rose(proto="udp", rcode="REFUSED") == 1
    by_type = 'tristack_dns_queries_by_type_total{type="A"}'
    assert value(after, by_type) - value(before, by_type) == N + 5
    accepted = "tristack_dns_tcp_connections_accepted_total"
    assert value(after, accepted) - value(before, accepted) == 1


def not_after(path):
    r = subprocess.run(["openssl", "x509", "-enddate", "-noout", "-in", path],
                       capture_output=True, text=True, check=True)
    when = r.stdout.strip().removeprefix("notAfter=")
    return datetime.strptime(when, "%b %d %H:%M:%S %Y %Z").replace(
        tzinfo=timezone.utc).timestamp()


EXPIRY = "tristack_lb_tls_certificate_expiry_timestamp_seconds"


def test_certificate_expiry_is_the_certificates_not_after(st):
    text = scrape(admin(st, "lb"))
    for key_type in ("ecdsa", "rsa"):
        pem = os.path.join(st.state, "tls", f"site-{key_type}.pem")
        series = f'{EXPIRY}{{name="www.foobar.com",key_type="{key_type}"}}'
        assert value(text, series) == not_after(pem)


def test_a_reload_shows_a_new_certificates_expiry(st):
    """A certificate due in 10 days (the alert's 14-day window) replaces the
    ECDSA one; SIGHUP; the gauge follows. The old file comes back after."""
    pem = os.path.join(st.state, "tls", "site-ecdsa.pem")
    saved = open(pem, "rb").read()
    new = os.path.join(st.tmp, "short.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "10",
                    "-subj", "/CN=www.foobar.com", "-addext",
                    "subjectAltName=DNS:www.foobar.com,DNS:foobar.com",
                    "-keyout", new, "-out", new + ".crt"], capture_output=True, check=True)
    series = f'{EXPIRY}{{name="www.foobar.com",key_type="ecdsa"}}'
    lb = st.pids()["lb-01.lb.pid"]
    try:
        with open(pem, "wb") as f:
            f.write(open(new + ".crt", "rb").read() + open(new, "rb").read())
        os.kill(lb, signal.SIGHUP)
        want = not_after(new + ".crt")
        wait_for(lambda: value(scrape(admin(st, "lb")), series) == want, timeout=10,
                 what="the new certificate's expiry")
        text = scrape(admin(st, "lb"))
        assert value(text, series) < datetime.now(timezone.utc).timestamp() + 14 * 86400
        assert value(text, f'{EXPIRY}{{name="www.foobar.com",key_type="rsa"}}') == \
            not_after(os.path.join(st.state, "tls", "site-rsa.pem"))
    finally:
        with open(pem, "wb") as f:
            f.write(saved)
        os.kill(lb, signal.SIGHUP)
    wait_for(lambda: value(scrape(admin(st, "lb")), series) == not_after(pem), timeout=10,
             what="the old certificate's expiry again")
