"""`-t` checks a stack file like `nginx -t`; mistakes name file:line and key."""
import os
import re
import subprocess

from conftest import ROOT, binary

CONF = os.path.join(ROOT, "conf", "foobar.conf")


def run(*args):
    return subprocess.run(list(args), capture_output=True, text=True, cwd=ROOT, timeout=10)


def test_every_daemon_accepts_the_default_stack():
    for daemon, extra in [("tristack-lb", []), ("tristack-web", ["--host", "web-01"]),
                          ("tristack-app", ["--host", "web-02"]), ("tristack-dns", [])]:
        r = run(binary(daemon), "-t", "-c", CONF, *extra)
        assert r.returncode == 0, r.stderr
        assert f"{CONF} is valid" in r.stderr


def test_t_prints_the_effective_configuration_with_defaults():
    r = run(binary("tristack-lb"), "-t", "-c", CONF)
    assert "[lb]" in r.stdout
    assert "balance = roundrobin" in r.stdout
    assert "server = web-01:8080 weight=1" in r.stdout
    # a key the file does not set shows its default
    assert "timeout_connect = 5s" in r.stdout
    assert "bufsize = 16k" in r.stdout


def test_a_typo_in_a_key_is_refused_with_file_line_and_key(tmp_path):
    text = open(CONF).read().replace("balance    = roundrobin", "blance     = roundrobin")
    bad = tmp_path / "typo.conf"
    bad.write_text(text)
    line = next(i for i, l in enumerate(text.splitlines(), 1) if l.startswith("blance"))
    for daemon in ("tristack-lb", "tristack-web", "tristack-app", "tristack-dns", "tristack"):
        args = [binary(daemon), "-c", str(bad)] + (["status"] if daemon == "tristack" else ["-t"])
        r = run(*args)
        assert r.returncode == 1, daemon
        assert f"{bad}:{line}: unknown key 'blance' in [lb] (did you mean 'balance'?)" in r.stderr
        assert r.stderr.count("\n") == 1, "one line"


def test_bad_values_name_their_line(tmp_path):
    cases = [
        ("balance    = roundrobin", "balance = random",
         "bad value 'random' for 'balance' in [lb]"),
        ("server     = web-02:8080 weight=1", "server = web-09:8080 weight=1",
         "unknown host 'web-09'"),
        ("server     = web-02:8080 weight=1", "server = web-02:8080 weight=many",
         "bad weight 'many'"),
        ("admin      = :8404", "timeout_connect = 5 seconds",
         "bad duration '5 seconds' for 'timeout_connect' in [lb]"),
        ("[web]", "[webb]", "unknown section [webb]"),
        ("max_lag = 5s", "thread_handling = threadpool",
         "bad value 'threadpool' for 'thread_handling' in [db]"),
    ]
    base = open(CONF).read()
    for old, new, msg in cases:
        assert old in base
        text = base.replace(old, new, 1)
        p = tmp_path / "bad.conf"
        p.write_text(text)
        line = text.splitlines().index(next(l for l in text.splitlines() if l.startswith(new))) + 1
        r = run(binary("tristack-lb"), "-t", "-c", str(p))
        assert r.returncode == 1
        assert f"{p}:{line}: " in r.stderr and msg in r.stderr, (new, r.stderr)


def test_missing_file_and_version():
    r = run(binary("tristack-lb"), "-t", "-c", "/nonexistent.conf")
    assert r.returncode == 1
    assert "/nonexistent.conf: cannot open" in r.stderr
    for daemon in ("tristack", "tristack-lb", "tristack-web", "tristack-app", "tristack-dns"):
        r = run(binary(daemon), "--version")
        assert r.returncode == 0 and r.stdout.startswith(daemon + " ")


def test_an_admin_listener_on_the_listen_address_is_refused(tmp_path):
    # SO_REUSEPORT would let both bind and split the connections between them
    base = open(CONF).read()
    for section, listen, daemon, host in [("[web]", ":8080", "tristack-web", "web-01"),
                                          ("[app]", ":9000", "tristack-app", "web-01"),
                                          ("[dns]", ":5353", "tristack-dns", "lb-01")]:
        head, _, tail = base.partition(section + "\n")
        tail = re.sub(r"^admin\s*=.*\n", "", tail, count=1, flags=re.M)  # web's own
        p = tmp_path / "clash.conf"
        p.write_text(f"{head}{section}\nadmin = {listen}\n{tail}")
        r = run(binary(daemon), "-t", "-c", str(p), "--host", host)
        assert r.returncode == 1, daemon
        assert f"{section} admin and listen are the same address" in r.stderr, r.stderr


def test_up_refuses_a_stack_whose_addresses_are_not_on_this_machine(tmp_path):
    """conf/foobar-isolated.conf names 10.0.0.x: without --isolated, up used
    to provision MariaDB there and fail ten seconds later on replication."""
    state = tmp_path / "state"
    r = subprocess.run([binary("tristack"), "-c", os.path.join(ROOT, "conf", "foobar-isolated.conf"),
                        "--state", str(state), "up"],
                       capture_output=True, text=True, cwd=ROOT, timeout=10)
    assert r.returncode == 1
    assert "lb-01's address 10.0.0.1 is not on this machine" in r.stderr, r.stderr
    assert "--isolated" in r.stderr
    assert not state.exists()  # nothing made, nothing started
