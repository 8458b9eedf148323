"""The first request through every tier: tristack up, the page and the API
through the load balancer, round robin, status, down."""
import json
import os
import re
import subprocess

from conftest import alive, curl, own_stack


def test_up_prints_the_site_url(stack):
    assert "www.foobar.com is up: https://www.foobar.com:8443/" in stack.up_output
    assert (f"curl --cacert {stack.cafile} --resolve www.foobar.com:8443:{stack.lb} "
            "https://www.foobar.com:8443/") in stack.up_output
    assert f"http:    {stack.http_url}/ (redirects to HTTPS)" in stack.up_output


def test_page_through_the_load_balancer(stack):
    """/ is the message board: the app's page, through the LB and a web server."""
    status, headers, body = curl(stack.url + "/")
    assert status == 200
    assert headers["content-type"].startswith("text/html")
    assert b"<h1>www.foobar.com</h1>" in body
    assert b'<form method="post" action="/posts"' in body
    assert headers["x-served-by"] in ("web-01", "web-02")


def test_static_file_and_missing_file(stack):
    status, headers, body = curl(stack.url + "/static/site.css")
    assert status == 200
    assert headers["content-type"].startswith("text/css")
    status, _, _ = curl(stack.url + "/no-such-file.html")
    assert status == 404


def hello_hosts(stack, n, same_connection=False):
    if same_connection:
        # one curl, n URLs: curl reuses its connection for all of them
        r = subprocess.run(["curl", "-s", "--max-time", "10", "--cacert", stack.cafile] +
                           [stack.url + "/api/hello"] * n,
                           capture_output=True, text=True, timeout=20)
        assert r.returncode == 0
        return re.findall(r'"host":"([^"]+)"', r.stdout)
    out = []
    for _ in range(n):
        status, headers, body = curl(stack.url + "/api/hello")
        assert status == 200
        assert headers["content-type"] == "application/json"
        m = re.search(rb'"host":"([^"]+)"', body)
        assert m, body
        # the app's answer and the web server's header name the same host
        assert headers["x-served-by"] == m.group(1).decode()
        out.append(m.group(1).decode())
    return out


def assert_alternates(hosts):
    assert set(hosts) == {"web-01", "web-02"}, hosts
    for a, b in zip(hosts, hosts[1:]):
        assert a != b, f"round robin did not alternate: {hosts}"


def test_api_hello_alternates_between_the_web_servers(stack):
    assert_alternates(hello_hosts(stack, 8))


def test_round_robin_is_per_request_on_a_kept_alive_connection(stack):
    assert_alternates(hello_hosts(stack, 6, same_connection=True))


def test_status_lists_every_daemon_with_its_pid(stack):
    r = stack.ctl("status")
    pids = stack.pids()
    lines = r.stdout.strip().splitlines()[1:]
    assert len(lines) == 10, r.stdout
    assert re.match(r"supervisor: running \(pid \d+\)$", lines[-2]), r.stdout
    assert lines[-1] == "database primary: web-01; automatic failover off", r.stdout
    head = r.stdout.splitlines()[0].split()
    assert head == ["HOST", "DAEMON", "PID", "STATE", "REQ/S", "LAG", "ADDRESS", "HEALTH"]
    for host, daemon in [("web-01", "mariadbd"), ("web-02", "mariadbd"),
                         ("web-01", "tristack-app"), ("web-02", "tristack-app"),
                         ("web-01", "tristack-web"), ("web-02", "tristack-web"),
                         ("lb-01", "tristack-lb"), ("lb-01", "tristack-dns")]:
        line = next(l for l in lines if l.split()[:2] == [host, daemon])
        pid = int(line.split()[2])
        assert line.split()[3] == "running"
        assert line.split()[7].rstrip(",") == "ok"
        if daemon == "mariadbd":
            assert line.split()[5] == ("-" if host == "web-01" else "0s"), line  # lag
        elif daemon != "tristack-dns":
            assert line.split()[4].isdigit(), line  # requests/s
        role = "db" if daemon == "mariadbd" else daemon.split("-")[1]
        assert pids[f"{host}.{role}.pid"] == pid
        assert alive(pid)


def test_status_json_gives_the_same_table_to_scripts(stack):
    r = stack.ctl("status", "--json")
    doc = json.loads(r.stdout)
    assert doc["mode"] == "loopback"
    assert doc["supervisor"]["running"] is True and alive(doc["supervisor"]["pid"])
    pids = stack.pids()
    units = {(u["host"], u["daemon"]): u for u in doc["units"]}
    assert len(units) == 8, r.stdout
    for (host, daemon), u in units.items():
        assert u["state"] == "running" and u["healthy"] is True, u
        role = "db" if daemon == "mariadbd" else daemon.split("-")[1]
        assert u["pid"] == pids[f"{host}.{role}.pid"]
        assert u["restarts"] == 0
    assert units[("web-02", "mariadbd")]["replica_lag_seconds"] == 0
    assert units[("web-01", "mariadbd")]["replica_lag_seconds"] is None
    # the primary waits for its replica's acknowledgement (semi-sync)
    health = units[("web-01", "mariadbd")]["health"]
    assert re.fullmatch(r"ok, primary, semi-sync: on \(1 replica acking\), gtid [-0-9,]+",
                        health), health
    assert units[("lb-01", "tristack-lb")]["requests_per_second"] >= 0
    assert units[("lb-01", "tristack-dns")]["requests_per_second"] >= 0  # queries/s


def test_status_rejects_an_unknown_argument(stack):
    r = stack.ctl("status", "--jsn", check=False)
    assert r.returncode == 1 and "--jsn" in r.stderr


def test_dns_answers_for_www(stack):
    r = subprocess.run(["dig", "+short", "-p", "5353", f"@{stack.lb}", "www.foobar.com"],
                       capture_output=True, text=True, timeout=10)
    assert r.stdout.strip() == stack.lb


def test_up_twice_and_down_leave_no_process_behind():
    with own_stack() as st:
        pids = st.pids()
        assert len(pids) == 9  # eight daemons and the supervisor
        assert all(alive(p) for p in pids.values())
        again = st.ctl("up")
        assert again.stdout.count("already running") == 8
        daemons = {k: v for k, v in pids.items() if k != "supervisor.pid"}
        assert {k: v for k, v in st.pids().items() if k != "supervisor.pid"} == daemons
        pids = st.pids()  # up starts a fresh supervisor
        down = st.ctl("down")
        assert down.stdout.count("stopped") == 9
        assert not any(alive(p) for p in pids.values()), "a daemon survived down"
        assert st.pids() == {}
        r = st.ctl("status", check=False)
        assert r.returncode == 3
        assert r.stdout.count("stopped") == 8
        assert "supervisor: not running" in r.stdout


def test_up_fails_cleanly_when_an_address_is_taken():
    """A daemon that cannot start makes `up` fail, say why, and stop the rest."""
    import socket
    with own_stack(up=False) as st, socket.socket() as blocker:
        blocker.bind((st.lb, 8080))
        blocker.listen(1)
        r = st.ctl("up", check=False)
        assert r.returncode == 1
        assert "tristack-lb on lb-01 exited" in r.stderr
        assert "cannot listen on" in r.stderr
        assert st.pids() == {}


def test_access_logs_in_combined_format_reopen_on_sigusr1(stack):
    """Each web server writes nginx's combined format to its own file; after
    logrotate-style renaming, SIGUSR1 makes it write to a new file."""
    import signal
    from conftest import wait_for
    log = os.path.join(stack.state, "log", "web-01.web.access.log")
    curl(stack.url + "/static/site.css", "-A", "e2e-agent/1.0", "-e", "http://ref.example/")
    curl(stack.url + "/static/site.css", "-A", "e2e-agent/1.0", "-e", "http://ref.example/")
    line_re = re.compile(
        r'^127\.\d+\.\d+\.\d+ - - \[\d{2}/\w{3}/\d{4}:\d{2}:\d{2}:\d{2} \+0000\] '
        r'"GET /static/site\.css HTTP/1\.1" 200 \d+ "http://ref\.example/" "e2e-agent/1\.0"$')
    text = wait_for(lambda: open(log).read() if os.path.exists(log) else "", what="access log")
    assert any(line_re.match(l) for l in text.splitlines()), text[-500:]
    os.rename(log, log + ".1")
    pid = stack.pids()["web-01.web.pid"]
    os.kill(pid, signal.SIGUSR1)
    wait_for(lambda: os.path.exists(log), what="reopened access log")
    for _ in range(2):
        curl(stack.url + "/static/site.css", "-A", "after-rotate")
    wait_for(lambda: "after-rotate" in open(log).read(), what="a line in the new file")
    assert "after-rotate" not in open(log + ".1").read()
    # the load balancer logs too, in HAProxy's httplog format ('~': over TLS)
    lb_log = os.path.join(stack.state, "log", "lb-01.lb.access.log")
    lb_re = re.compile(
        r'^127\.\d+\.\d+\.\d+:\d+ \[\d{2}/\w{3}/\d{4}:\d{2}:\d{2}:\d{2}\.\d{3}\] lb-01~ '
        r'servers/web-0[12] \d+/\d+/\d+/\d+/\d+ 200 \d+ - - ---- \d+/0 '
        r'"GET /static/site\.css HTTP/1\.1"$')
    assert any(lb_re.match(l) for l in open(lb_log).read().splitlines())
