"""Issue 13, findings 1 and 2: no way from a local account to MariaDB root
(and through it to root), and no daemon running as root.

The stack is the session's loopback stack, brought up as CI does (as
root): every daemon must have dropped to the tristack account, MariaDB's
root must be reachable only by root over the socket, and a local user
(`runuser -u nobody`) trying the reviewer's exploit commands must get a
clear refusal."""
import os
import pwd
import re
import stat
import subprocess

import pytest

AS_ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not AS_ROOT, reason="the drop is what tristack does as root")


def as_nobody(*cmd, timeout=20):
    return subprocess.run(["runuser", "-u", "nobody", "--", *cmd], capture_output=True, text=True,
                          timeout=timeout)


def root_sql(stack, host, q):
    sock = os.path.join(stack.state, "run", f"{host}.db.sock")
    r = subprocess.run(["mariadb", "--no-defaults", "-S", sock, "-u", "root", "-N", "-B", "-e", q],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 0, r.stderr
    return r.stdout


def uids(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Uid:"):
                return [int(x) for x in line.split()[1:]]
    raise AssertionError(f"no Uid line for {pid}")


def daemon_pids(stack):
    """Every daemon's pid: the pid files of the units, MariaDB's included;
    the supervisor is the operator's process manager, like systemd."""
    return {n: p for n, p in stack.pids().items() if not n.startswith("supervisor")}


@needs_root
def test_every_daemon_runs_as_the_tristack_account(stack):
    pids = daemon_pids(stack)
    names = {n.split(".")[1] for n in pids}
    assert {"lb", "web", "app", "dns", "db"} <= names, pids
    account = pwd.getpwnam("tristack")
    assert account.pw_uid != 0
    for name, pid in pids.items():
        assert uids(pid) == [account.pw_uid] * 4, f"{name} (pid {pid}) runs as {uids(pid)}"


@needs_root
def test_only_the_front_daemons_keep_a_capability_and_only_to_bind(stack):
    with open("/proc/sys/kernel/cap_last_cap") as f:
        assert int(f.read()) >= 10
    net_bind = 1 << 10
    for name, pid in daemon_pids(stack).items():
        caps = {}
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("Cap"):
                    k, v = line.split(":")
                    caps[k] = int(v, 16)
        want = net_bind if name.split(".")[1] in ("lb", "web", "dns") else 0
        assert caps["CapEff"] == caps["CapPrm"] == want, (name, caps)
        assert caps["CapBnd"] & ~net_bind == 0, (name, hex(caps["CapBnd"]))


def test_mariadb_root_is_refused_over_tcp_from_a_local_user(stack):
    for host in (f"{stack.net}.2", f"{stack.net}.3"):
        r = as_nobody("mariadb", "--no-defaults", "-h", host, "-P", "3306", "-u", "root", "-e",
                      "SELECT 1")
        assert r.returncode != 0
        assert "Access denied for user 'root'" in r.stderr, r.stderr


def test_mariadb_socket_is_closed_to_a_local_user(stack):
    sock = os.path.join(stack.state, "run", "web-01.db.sock")
    r = as_nobody("mariadb", "--no-defaults", "-S", sock, "-u", "root", "-e", "SELECT 1")
    assert r.returncode != 0
    assert "Can't connect to local server through socket" in r.stderr, r.stderr
    for d in ("run", "db"):
        st = os.stat(os.path.join(stack.state, d))
        assert stat.S_IMODE(st.st_mode) & 0o027 == 0, f"{d}/ is {oct(st.st_mode)}"
        if AS_ROOT:
            assert st.st_uid == pwd.getpwnam("tristack").pw_uid, d


def test_root_exists_only_on_the_socket_with_unix_socket_auth(stack):
    for host in ("web-01", "web-02"):
        rows = root_sql(stack, host, "SELECT User, Host FROM mysql.user WHERE User IN ('root', '')")
        assert rows.split("\n")[:-1] == ["root\tlocalhost"], (host, rows)
        grants = root_sql(stack, host, "SHOW GRANTS FOR 'root'@'localhost'")
        assert "unix_socket" in grants and "USING 'invalid'" in grants, grants
        empty = root_sql(stack, host,
                         "SELECT CONCAT(User, '@', Host) FROM mysql.global_priv WHERE "
                         "JSON_VALUE(Priv, '$.authentication_string') = '' AND "
                         "JSON_EXISTS(Priv, '$.auth_or') = 0 AND "
                         "IFNULL(JSON_VALUE(Priv, '$.account_locked'), 0) NOT IN ('1', 'true')")
        assert empty == "", f"accounts with no password on {host}: {empty}"


def test_files_reach_only_the_instances_own_folder(stack):
    for host in ("web-01", "web-02"):
        folder = root_sql(stack, host, "SELECT @@secure_file_priv").strip()
        assert folder == os.path.join(stack.state, "db", f"{host}.files") + "/", folder
    sock = os.path.join(stack.state, "run", "web-01.db.sock")
    r = subprocess.run(["mariadb", "--no-defaults", "-S", sock, "-u", "root", "-e",
                        "SELECT 'x' INTO OUTFILE '/etc/cron.d/tristack-probe'"],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode != 0 and "secure-file-priv" in r.stderr, r.stderr
    assert not os.path.exists("/etc/cron.d/tristack-probe")


def test_the_app_account_may_only_read_and_add_posts(stack):
    grants = root_sql(stack, "web-01", "SHOW GRANTS FOR 'app'@'127.%'")
    lines = grants.strip().split("\n")
    assert lines[0].startswith("GRANT USAGE ON *.*"), lines
    posts = [g for g in lines if "`posts`" in g]
    assert posts and "GRANT SELECT, INSERT ON" in posts[0], grants
    assert "UPDATE" not in grants and "ALL PRIVILEGES" not in grants, grants
    assert not any(".* TO" in g and "USAGE" not in g for g in lines), grants


@needs_root
def test_a_stack_below_a_folder_the_account_cannot_search_still_runs(tmp_path):
    """A checkout in /root (0700) as root: the daemons, run as tristack,
    could not reach its state folder, stack file or document root. They get
    a view of their own (a mount namespace where that folder is a tmpfs
    holding only the subtree on their way), and the folder keeps its mode."""
    import shutil

    from conftest import ROOT, curl, own_stack
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    os.chmod(private, 0o700)
    home = private / "checkout"
    home.mkdir()
    shutil.copytree(os.path.join(ROOT, "www"), home / "www")

    def own_root(text):  # the document root in there too
        return re.sub(r"^root\s*=.*$", f"root = {home}/www", text, count=1, flags=re.M)

    with own_stack(folder=str(home), edit=own_root, up_timeout=120) as st:
        status, _, body = curl(st.url + "/api/hello")
        assert status == 200 and b"Hello from" in body
        status, _, _ = curl(st.url + "/static/site.css")
        assert status == 200
        uid = pwd.getpwnam("tristack").pw_uid
        for name, pid in daemon_pids(st).items():
            assert uids(pid) == [uid] * 4, name
        assert stat.S_IMODE(os.stat(private).st_mode) == 0o700  # nothing opened up
