"""tristack bundle HOST: one host's tarball for a real Debian 12 server.

Bundles of the default stack file (and of deploy/servers.conf, the one for
three real servers) are made into a temporary state folder, unpacked and
read: the right binaries and only those, systemd units that systemd accepts,
MariaDB settings and SQL per database role with the state folder's
passwords, an install.sh that parses, a firewall nft accepts, and tar
members whose modes keep the secrets secret. No stack is started.
"""
import filecmp
import os
import re
import shutil
import stat
import subprocess
import tarfile

import pytest

from conftest import ROOT, binary

CONF = os.path.join(ROOT, "conf", "foobar.conf")
SERVERS = os.path.join(ROOT, "deploy", "servers.conf")

ROLE_BINARIES = {
    "lb-01": {"tristack", "tristack-lb", "tristack-dns"},
    "web-01": {"tristack", "tristack-web", "tristack-app"},
    "web-02": {"tristack", "tristack-web", "tristack-app"},
}
ADDRESSES = {"lb-01": "127.0.0.1", "web-01": "127.0.0.2", "web-02": "127.0.0.3"}
SECRET_MEMBERS = re.compile(r"/(tls/site-[a-z]+\.pem|secrets/.*|mariadb/(provision|replica)\.sql)$")


def bundle(conf, state, host, out=None, cwd=None):
    cmd = [binary("tristack"), "-c", conf, "--state", state, "bundle", host]
    if out:
        cmd += ["-o", out]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd or ROOT, timeout=60)


class Made:
    """Bundles of one stack file: tarballs, unpacked trees, the state."""

    def __init__(self, base, conf, hosts):
        self.state = os.path.join(base, "state")
        self.tars, self.trees = {}, {}
        for host in hosts:
            out = os.path.join(base, f"{host}.tar.gz")
            r = bundle(conf, self.state, host, out)
            assert r.returncode == 0, r.stderr
            assert os.path.exists(out) and not os.path.exists(out + ".tmp")
            with tarfile.open(out) as t:
                t.extractall(os.path.join(base, "x"))  # our own tarball
            self.tars[host] = out
            self.trees[host] = os.path.join(base, "x", f"tristack-{host}")

    def read(self, host, rel):
        with open(os.path.join(self.trees[host], rel)) as f:
            return f.read()

    def secret(self, name):
        with open(os.path.join(self.state, "secrets", f"{name}.password")) as f:
            return f.read().strip()


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    return Made(str(tmp_path_factory.mktemp("bundle")), CONF, ROLE_BINARIES)


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    return Made(str(tmp_path_factory.mktemp("servers")), SERVERS, ROLE_BINARIES)


def unit_keys(text):
    """{key: [values]} of a unit file, sections ignored."""
    keys = {}
    for line in text.splitlines():
        m = re.match(r"([A-Za-z]+)=(.*)", line)
        if m:
            keys.setdefault(m.group(1), []).append(m.group(2))
    return keys


def test_binaries_are_the_roles_and_only_those(made):
    for host, want in ROLE_BINARIES.items():
        bindir = os.path.join(made.trees[host], "bin")
        assert set(os.listdir(bindir)) == want, host
        for b in want:
            assert filecmp.cmp(os.path.join(bindir, b), binary(b), shallow=False), b
            assert os.access(os.path.join(bindir, b), os.X_OK)


def test_stack_file_and_host_name(made):
    for host in ROLE_BINARIES:
        assert made.read(host, "etc/tristack/foobar.conf") == open(CONF).read()
        assert made.read(host, "etc/tristack/host") == host + "\n"


def verify_with_systemd(tree, tmp_path):
    """systemd-analyze verify, the binaries pointed at the bundle's own
    (it checks that ExecStart is executable)."""
    if shutil.which("systemd-analyze") is None:
        return False
    bindir = os.path.join(tree, "bin")
    for name in os.listdir(os.path.join(tree, "systemd")):
        text = open(os.path.join(tree, "systemd", name)).read()
        copy = tmp_path / name
        copy.write_text(text.replace("/usr/local/bin/", bindir + "/"))
        r = subprocess.run(["systemd-analyze", "verify", str(copy)], capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 0 and r.stderr.strip() == "", f"{name}: {r.stderr}"
    return True


def test_units_run_each_daemon_hardened(made, tmp_path):
    for host, want in ROLE_BINARIES.items():
        tree = made.trees[host]
        daemons = sorted(b for b in want if b != "tristack")
        assert sorted(os.listdir(os.path.join(tree, "systemd"))) == \
            sorted(f"{d}.service" for d in daemons)
        for d in daemons:
            k = unit_keys(made.read(host, f"systemd/{d}.service"))
            assert k["ExecStart"] == [f"/usr/local/bin/{d} -c /etc/tristack/foobar.conf "
                                      f"--host {host} --state /var/lib/tristack"]
            assert k["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
            assert k["Restart"] == ["on-failure"] and k["RestartSec"] == ["1"]
            assert k["StartLimitIntervalSec"] and k["StartLimitBurst"]
            assert k["LimitNOFILE"] == ["65536"]
            assert k["User"] == ["tristack"]
            for key, value in (("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"),
                               ("ReadWritePaths", "/var/lib/tristack"), ("PrivateTmp", "yes"),
                               ("ProtectHome", "yes"), ("WantedBy", "multi-user.target")):
                assert k[key] == [value], f"{d}: {key}"
            after = k["After"][0].split()
            assert "network-online.target" in after
            assert ("mariadb.service" in after) == (d == "tristack-app"), d
            # the loopback stack's ports are all above 1024
            assert "AmbientCapabilities" not in k, d
        checked = verify_with_systemd(tree, tmp_path)
    if not checked:
        pytest.skip("systemd-analyze is not installed: the units' keys were checked by hand")


def test_units_of_real_ports_bind_them_without_root(servers):
    for host, daemon in (("lb-01", "tristack-lb"), ("lb-01", "tristack-dns"),
                         ("web-01", "tristack-web")):
        k = unit_keys(servers.read(host, f"systemd/{daemon}.service"))
        assert k["AmbientCapabilities"] == ["CAP_NET_BIND_SERVICE"], daemon
        assert k["CapabilityBoundingSet"] == ["CAP_NET_BIND_SERVICE"], daemon
        assert k["User"] == ["tristack"]
    k = unit_keys(servers.read("web-01", "systemd/tristack-app.service"))  # :9000
    assert "AmbientCapabilities" not in k and k["CapabilityBoundingSet"] == [""]


def cnf(made, host):
    out = {}
    for line in made.read(host, "mariadb/60-tristack.cnf").splitlines():
        m = re.match(r"(\w+)\s*(?:=\s*(\S+))?$", line)
        if m:
            out[m.group(1)] = m.group(2)
    return out


def test_mariadb_settings_per_database_role(made):
    assert "[mariadbd]" in made.read("web-01", "mariadb/60-tristack.cnf")
    primary, replica = cnf(made, "web-01"), cnf(made, "web-02")
    # server ids as db_argv gives them: the host's place in the file, from 1
    assert primary["server_id"] == "2" and replica["server_id"] == "3"
    assert primary["read_only"] == "OFF" and replica["read_only"] == "ON"
    for host, c in (("web-01", primary), ("web-02", replica)):
        assert c["bind_address"] == ADDRESSES[host]
        assert c["port"] == "3306"
        assert c["log_bin"] == "mysql-bin" and c["binlog_format"] == "ROW"
        assert c["log_slave_updates"] == "ON" and c["relay_log"] == "relay-bin"
        assert c["character_set_server"] == "utf8mb4"
        assert "skip_name_resolve" in c and "innodb_buffer_pool_size" in c
        assert c["thread_handling"] == "pool-of-threads"
        # semi-sync, both sides on every instance (roles swap), as the lab's
        assert c["rpl_semi_sync_master_enabled"] == "ON"
        assert c["rpl_semi_sync_slave_enabled"] == "ON"
        assert c["rpl_semi_sync_master_wait_point"] == "AFTER_SYNC"
        assert c["rpl_semi_sync_master_timeout"] == "1000"
        assert c["rpl_semi_sync_master_wait_no_slave"] == "OFF"
        assert "datadir" not in c and "socket" not in c  # Debian's
    assert not os.path.exists(os.path.join(made.trees["lb-01"], "mariadb"))


def test_provision_holds_the_state_folders_passwords(made):
    app, repl = made.secret("app"), made.secret("repl")
    assert len(app) >= 16 and len(repl) >= 16 and app != repl
    for name in ("app", "repl"):
        mode = stat.S_IMODE(os.stat(os.path.join(made.state, "secrets", f"{name}.password")).st_mode)
        assert mode == 0o600, oct(mode)
    sql = made.read("web-01", "mariadb/provision.sql")
    assert "CREATE DATABASE IF NOT EXISTS `foobar`" in sql
    for host in ("web-01", "web-02"):
        a = ADDRESSES[host]
        assert f"CREATE USER IF NOT EXISTS 'app'@'{a}' IDENTIFIED BY '{app}'" in sql
        assert "REVOKE" not in sql.split(f"'app'@'{a}'", 1)[1].split(";", 2)[1]
        grants = made.read("web-01", "mariadb/grants.sql")
        # narrowed right before its grants, not before the migrations
        revoke = f"REVOKE ALL PRIVILEGES, GRANT OPTION FROM 'app'@'{a}';\nGRANT SELECT"
        assert revoke in grants, grants
        assert f"GRANT SELECT, INSERT ON `foobar`.`posts` TO 'app'@'{a}'" in grants
        assert f"GRANT SELECT, INSERT, DELETE ON `foobar`.`heartbeat` TO 'app'@'{a}'" in grants
        assert "UPDATE" not in grants and ".*" not in grants
        assert f"CREATE USER IF NOT EXISTS 'repl'@'{a}' IDENTIFIED BY '{repl}'" in sql
        assert re.search(rf"GRANT REPLICATION SLAVE\b.* TO 'repl'@'{re.escape(a)}'", sql)
    assert "'app'@'127.0.0.1'" not in sql  # the LB runs no app
    assert "schema_migrations" in sql
    # the primary's migrations are the checkout's
    mig = os.path.join(ROOT, "db", "migrations")
    assert sorted(os.listdir(os.path.join(made.trees["web-01"], "mariadb", "migrations"))) == \
        sorted(os.listdir(mig))
    # the replica gets everything by replication
    assert sorted(os.listdir(os.path.join(made.trees["web-02"], "mariadb"))) == \
        ["60-tristack.cnf", "replica.sql"]
    rsql = made.read("web-02", "mariadb/replica.sql")
    assert re.search(r"CHANGE MASTER TO MASTER_HOST='127\.0\.0\.2', MASTER_PORT=3306, "
                     rf"MASTER_USER='repl', MASTER_PASSWORD='{repl}',\s+MASTER_USE_GTID=slave_pos",
                     rsql)
    assert "START SLAVE" in rsql
    # each app host carries the password its app reads; every bundle agrees
    for host in ("web-01", "web-02"):
        assert made.read(host, "secrets/app.password") == app
    assert not os.path.exists(os.path.join(made.trees["lb-01"], "secrets"))


def test_existing_passwords_are_kept(tmp_path):
    state = tmp_path / "state"
    (state / "secrets").mkdir(parents=True)
    (state / "secrets" / "app.password").write_text("KeptAppPassword0123\n")
    (state / "secrets" / "repl.password").write_text("KeptReplPassword0123\n")
    r = bundle(CONF, str(state), "web-02", str(tmp_path / "b.tar.gz"))
    assert r.returncode == 0, r.stderr
    with tarfile.open(tmp_path / "b.tar.gz") as t:
        rsql = t.extractfile("tristack-web-02/mariadb/replica.sql").read().decode()
        app = t.extractfile("tristack-web-02/secrets/app.password").read().decode()
    assert "MASTER_PASSWORD='KeptReplPassword0123'" in rsql and app == "KeptAppPassword0123"


def test_every_app_host_gets_the_same_signing_key(made):
    keys = {h: made.read(h, "secrets/cookie.key") for h in ("web-01", "web-02")}
    assert keys["web-01"] == keys["web-02"], keys
    assert re.fullmatch(r"[0-9a-f]{64}", keys["web-01"]), keys
    for h in keys:
        mode = os.stat(os.path.join(made.trees[h], "secrets", "cookie.key")).st_mode
        assert stat.S_IMODE(mode) == 0o600
    assert not os.path.exists(os.path.join(made.trees["lb-01"], "secrets", "cookie.key"))


def test_lb_carries_the_local_cas_certificates_not_its_key(made):
    tls = os.path.join(made.trees["lb-01"], "tls")
    assert sorted(os.listdir(tls)) == ["ca.crl", "ca.crt", "site-ecdsa.pem", "site-rsa.pem"]
    for name in os.listdir(tls):
        assert filecmp.cmp(os.path.join(tls, name), os.path.join(made.state, "tls", name),
                           shallow=False)
    assert "BEGIN PRIVATE KEY" in open(os.path.join(tls, "site-ecdsa.pem")).read()
    for host in ("web-01", "web-02"):
        assert not os.path.exists(os.path.join(made.trees[host], "tls"))


def openssl(*args, cwd=None):
    return subprocess.run(["openssl", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=30)


def test_the_local_ca_is_name_constrained(made, tmp_path):
    tls = os.path.join(made.state, "tls")
    ca, ca_key = os.path.join(tls, "ca.crt"), os.path.join(tls, "ca.key")
    ext = openssl("x509", "-in", ca, "-noout", "-ext", "nameConstraints").stdout
    assert "X509v3 Name Constraints: critical" in ext, ext
    permitted = re.findall(r"^\s+(DNS:\S+|IP:\S+)$", ext, re.M)
    # the addresses its certificates name (the LB's), not every host's: a
    # host added to the stack must not make a new CA (test_scale.py)
    assert permitted == ["DNS:foobar.com", f"IP:{ADDRESSES['lb-01']}/255.255.255.255"], ext
    # the site's certificates verify under it...
    for leaf in ("site-ecdsa.pem", "site-rsa.pem"):
        r = openssl("verify", "-CAfile", ca, os.path.join(tls, leaf))
        assert r.returncode == 0, r.stdout + r.stderr
    # ...a certificate its key signs for another site does not
    for i, san in enumerate(["DNS:evil.example", "DNS:foobar.com.evil.example",
                             "IP:192.0.2.1"]):
        key, csr, crt = (str(tmp_path / f"{i}.{x}") for x in ("key", "csr", "crt"))
        assert openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                       "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=evil",
                       "-addext", f"subjectAltName={san}").returncode == 0
        r = openssl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-out", crt,
                    "-days", "2", "-copy_extensions", "copy")
        assert r.returncode == 0, r.stderr
        r = openssl("verify", "-CAfile", ca, crt)
        assert r.returncode != 0 and "permitted subtree violation" in r.stdout + r.stderr, \
            (san, r.stdout, r.stderr)


def test_an_unconstrained_local_ca_is_made_again(tmp_path):
    tls = tmp_path / "state" / "tls"
    tls.mkdir(parents=True)
    ca, ca_key = str(tls / "ca.crt"), str(tls / "ca.key")
    r = openssl("req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes", "-keyout", ca_key, "-out", ca, "-days", "30", "-subj", "/CN=old CA",
                "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    assert r.returncode == 0, r.stderr
    r = bundle(CONF, str(tmp_path / "state"), "lb-01", str(tmp_path / "lb.tar.gz"))
    assert r.returncode == 0, r.stderr
    assert "lacks this stack's name constraints" in r.stdout, r.stdout
    ext = openssl("x509", "-in", ca, "-noout", "-ext", "nameConstraints").stdout
    assert "critical" in ext and "DNS:foobar.com" in ext, ext
    r = openssl("verify", "-CAfile", ca, str(tls / "site-ecdsa.pem"))
    assert r.returncode == 0, r.stdout + r.stderr


def test_lb_with_tls_cert_names_the_operators_files(tmp_path):
    conf = tmp_path / "le.conf"
    conf.write_text(open(SERVERS).read().replace(
        "; tls_cert  =", "tls_cert  ="))
    r = bundle(str(conf), str(tmp_path / "state"), "lb-01", str(tmp_path / "lb.tar.gz"))
    assert r.returncode == 0, r.stderr
    with tarfile.open(tmp_path / "lb.tar.gz") as t:
        names = t.getnames()
        install = t.extractfile("tristack-lb-01/install.sh").read().decode()
        readme = t.extractfile("tristack-lb-01/README").read().decode()
    assert not any("/tls/" in n for n in names)
    assert "TLS_CERT_FILES=( '/var/lib/tristack/tls/letsencrypt/fullchain.pem' " \
           "'/var/lib/tristack/tls/letsencrypt/privkey.pem' )" in install
    assert "tls_cert" in readme


def test_lb_with_acme_directory_installs_certbot(tmp_path):
    conf = tmp_path / "acme.conf"
    conf.write_text(open(SERVERS).read().replace("; acme_directory =", "acme_directory ="))
    for host, want in (("lb-01", True), ("web-01", False)):
        out = tmp_path / f"{host}.tar.gz"
        r = bundle(str(conf), str(tmp_path / "state"), host, str(out))
        assert r.returncode == 0, r.stderr
        with tarfile.open(out) as t:
            install = t.extractfile(f"tristack-{host}/install.sh").read().decode()
        packages = re.search(r"^PACKAGES=\((.*)\)$", install, re.M).group(1)
        assert ("certbot" in packages) == want, (host, packages)


RENEW = "/usr/local/bin/tristack -c /etc/tristack/foobar.conf --state /var/lib/tristack certs renew"


def with_acme(text, tmp_path, name="acme.conf"):
    """The stack file with [lb] acme_directory set (Let's Encrypt's)."""
    acme = "acme_directory = https://acme-v02.api.letsencrypt.org/directory\n"
    if "; acme_directory =" in text:
        text = re.sub(r"^; acme_directory =.*\n", acme, text, flags=re.M)
    else:
        text = text.replace("[lb]\n", "[lb]\n" + acme, 1)
    conf = tmp_path / name
    conf.write_text(text)
    return str(conf)


def verify_units(tree, names, tmp_path):
    """systemd-analyze verify of names (the timer finds its service beside
    it), the binaries pointed at the bundle's own."""
    if shutil.which("systemd-analyze") is None:
        return
    bindir = os.path.join(tree, "bin")
    for name in names:
        text = open(os.path.join(tree, "systemd", name)).read()
        (tmp_path / name).write_text(text.replace("/usr/local/bin/", bindir + "/"))
    for name in names:
        r = subprocess.run(["systemd-analyze", "verify", "--man=no", str(tmp_path / name)],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and r.stderr.strip() == "", f"{name}: {r.stderr}"


def test_an_lb_with_acme_directory_renews_from_a_daily_timer(tmp_path):
    """[lb] acme_directory: the LB's bundle carries tristack-certs-renew
    .service (oneshot, certs renew as tristack, hardened, holding the LB's
    CAP_NET_BIND_SERVICE alone so that it may read the LB's /proc/PID/exe)
    and its daily .timer; install.sh enables the timer and disables
    Debian's certbot.timer. The other hosts carry neither."""
    m = Made(str(tmp_path), with_acme(open(SERVERS).read(), tmp_path), ["lb-01", "web-01"])
    units = sorted(os.listdir(os.path.join(m.trees["lb-01"], "systemd")))
    assert units == ["tristack-certs-renew.service", "tristack-certs-renew.timer",
                     "tristack-dns.service", "tristack-lb.service"], units
    k = unit_keys(m.read("lb-01", "systemd/tristack-certs-renew.service"))
    assert k["Type"] == ["oneshot"] and k["ExecStart"] == [RENEW]
    assert k["User"] == ["tristack"] and k["Group"] == ["tristack"]
    assert k["AmbientCapabilities"] == ["CAP_NET_BIND_SERVICE"]  # the LB's, on :80
    assert k["CapabilityBoundingSet"] == ["CAP_NET_BIND_SERVICE"]
    for key, value in (("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"),
                       ("ReadWritePaths", "/var/lib/tristack"), ("PrivateTmp", "yes"),
                       ("ProtectHome", "yes"), ("PrivateDevices", "yes"),
                       ("SystemCallFilter", "@system-service")):
        assert k[key] == [value], key
    assert "tristack-lb.service" in k["After"][0].split()
    assert "WantedBy" not in k and "Restart" not in k  # the timer starts it
    assert "ExecCondition" not in k  # one LB: no floating address to hold
    t = unit_keys(m.read("lb-01", "systemd/tristack-certs-renew.timer"))
    assert t["OnCalendar"] == ["daily"] and t["RandomizedDelaySec"] == ["1h"]
    assert t["Persistent"] == ["true"] and t["WantedBy"] == ["timers.target"]
    install = m.read("lb-01", "install.sh")
    assert "TIMERS=( 'tristack-certs-renew' )" in install
    assert 'systemctl enable --now --quiet "$t.timer"' in install
    assert "systemctl disable --now --quiet certbot.timer" in install
    assert "tristack-certs-renew" in m.read("lb-01", "README")
    assert not any("certs-renew" in u for u in os.listdir(os.path.join(m.trees["web-01"],
                                                                       "systemd")))
    assert "TIMERS=( )" in m.read("web-01", "install.sh")
    verify_units(m.trees["lb-01"], ["tristack-certs-renew.service",
                                    "tristack-certs-renew.timer"], tmp_path)


def test_the_renewal_keeps_no_capability_when_the_lb_has_none(tmp_path):
    """The loopback stack's LB listens above 1024: the renewal holds no
    capability either."""
    conf = with_acme(open(CONF).read(), tmp_path)
    r = bundle(conf, str(tmp_path / "state"), "lb-01", str(tmp_path / "lb.tar.gz"))
    assert r.returncode == 0, r.stderr
    with tarfile.open(tmp_path / "lb.tar.gz") as t:
        unit = t.extractfile("tristack-lb-01/systemd/tristack-certs-renew.service").read()
    k = unit_keys(unit.decode())
    assert k["ExecStart"] == [RENEW] and k["CapabilityBoundingSet"] == [""]
    assert "AmbientCapabilities" not in k


def test_without_acme_directory_no_renewal_timer(made, servers):
    for m in (made, servers):
        for host in ROLE_BINARIES:
            units = os.listdir(os.path.join(m.trees[host], "systemd"))
            assert not any("certs-renew" in u or u.endswith(".timer") for u in units), units
            assert "TIMERS=( )" in m.read(host, "install.sh")
            assert "certs-renew" not in m.read(host, "README")


def test_the_lb_pair_renews_on_the_holder_of_the_floating_address(tmp_path):
    conf = with_acme(open(ha_servers(str(tmp_path))).read(), tmp_path, "ha-acme.conf")
    m = Made(str(tmp_path), conf, ["lb-01", "lb-02"])
    for host in ("lb-01", "lb-02"):
        k = unit_keys(m.read(host, "systemd/tristack-certs-renew.service"))
        assert k["ExecCondition"] == [
            f"/bin/grep -qx state=MASTER /var/lib/tristack/vrrp/{host}.state"], host
        assert k["ExecStart"] == [RENEW]
        assert "TIMERS=( 'tristack-certs-renew' )" in m.read(host, "install.sh")
        verify_units(m.trees[host], ["tristack-certs-renew.service",
                                     "tristack-certs-renew.timer"], tmp_path)


def test_acme_with_tls_cert_ships_no_timer_and_says_why(tmp_path):
    text = open(SERVERS).read().replace("; tls_cert  =", "tls_cert  =")
    conf = with_acme(text, tmp_path)
    r = bundle(conf, str(tmp_path / "state"), "lb-01", str(tmp_path / "lb.tar.gz"))
    assert r.returncode == 0, r.stderr
    assert "gets no renewal timer" in r.stderr, r.stderr
    with tarfile.open(tmp_path / "lb.tar.gz") as t:
        assert not any("certs-renew" in n for n in t.getnames())
        assert "TIMERS=( )" in t.extractfile("tristack-lb-01/install.sh").read().decode()


def test_web_hosts_carry_the_web_root(made):
    for host in ("web-01", "web-02"):
        share = os.path.join(made.trees[host], "share", "www")
        assert filecmp.cmp(os.path.join(share, "index.html"),
                           os.path.join(ROOT, "www", "index.html"), shallow=False)
    assert not os.path.exists(os.path.join(made.trees["lb-01"], "share"))


def test_the_web_root_ships_without_dotfiles_or_links_out(tmp_path):
    www = tmp_path / "www"
    (www / ".git").mkdir(parents=True)
    (www / ".git" / "config").write_text("[remote]\n")
    (www / ".env").write_text("DB_PASSWORD=secret\n")
    (www / "index.html").write_text("<!doctype html>hi\n")
    (www / "sub").mkdir()
    (www / "sub" / ".htpasswd").write_text("ann:x\n")
    (www / "sub" / "page.html").write_text("page\n")
    os.symlink("/etc/passwd", www / "passwd")
    os.symlink("/etc", www / "etc")
    os.symlink("../outside.txt", www / "sub" / "up.txt")
    (tmp_path / "outside.txt").write_text("not the site's\n")
    os.symlink("index.html", www / "home.html")  # inside: followed, as the web server does
    conf = tmp_path / "stack.conf"
    conf.write_text(open(CONF).read())
    out = tmp_path / "web.tar.gz"
    r = bundle(str(conf), str(tmp_path / "state"), "web-01", str(out), cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    with tarfile.open(out) as t:
        names = {n.split("/share/www", 1)[1] for n in t.getnames() if "/share/www" in n}
        assert not any(m.issym() or m.islnk() for m in t.getmembers())
    assert names == {"", "/index.html", "/home.html", "/sub", "/sub/page.html"}, names


def test_install_sh_parses_and_knows_its_host(made):
    for host in ROLE_BINARIES:
        path = os.path.join(made.trees[host], "install.sh")
        assert os.access(path, os.X_OK)
        r = subprocess.run(["bash", "-n", path], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        text = open(path).read()
        assert f"HOST='{host}'" in text and "@BUNDLE_SETTINGS@" not in text
        if shutil.which("shellcheck"):
            r = subprocess.run(["shellcheck", "-S", "warning", path], capture_output=True,
                               text=True)
            assert r.returncode == 0, r.stdout
    assert "DB_ROLE='primary'" in made.read("web-01", "install.sh")
    assert "DB_ROLE='replica'" in made.read("web-02", "install.sh")
    assert "DB_ROLE=''" in made.read("lb-01", "install.sh")
    assert "mariadb-server" in made.read("web-01", "install.sh")
    assert "mariadb-server" not in made.read("lb-01", "install.sh")


def test_readme_gives_the_order_of_installation(made):
    readme = made.read("lb-01", "README")
    order = [readme.index(f"{h} ") for h in ("1. web-01", "2. web-02", "3. lb-01")]
    assert order == sorted(order)


def test_firewall_loads(made, servers):
    for m in (made, servers):
        for host in ROLE_BINARIES:
            text = m.read(host, "nftables/tristack.nft")
            assert "table inet tristack" in text and "tcp dport 22 accept" in text
    db = servers.read("web-01", "nftables/tristack.nft")
    assert re.search(r"ip saddr \{ 10\.0\.0\.2, 10\.0\.0\.3 \} tcp dport 3306", db)
    if os.geteuid() != 0 or shutil.which("nft") is None:
        pytest.skip("nft -c needs root and nft: the rules were read, not loaded")
    for m in (made, servers):
        for host in ROLE_BINARIES:
            path = os.path.join(m.trees[host], "nftables", "tristack.nft")
            r = subprocess.run(["nft", "-c", "-f", path], capture_output=True, text=True)
            assert r.returncode == 0, f"{host}: {r.stderr}"


def test_tar_members_have_sane_modes(made):
    for host, path in made.tars.items():
        with tarfile.open(path) as t:
            for m in t.getmembers():
                assert m.name == f"tristack-{host}" or m.name.startswith(f"tristack-{host}/")
                assert m.uid == 0 and m.gid == 0, m.name
                mode = stat.S_IMODE(m.mode)
                if m.isdir():
                    assert mode == 0o755, (m.name, oct(mode))
                elif SECRET_MEMBERS.search(m.name):
                    assert mode == 0o600, (m.name, oct(mode))
                elif "/bin/" in m.name or m.name.endswith("/install.sh"):
                    assert mode == 0o755, (m.name, oct(mode))
                else:
                    assert m.isfile() and mode == 0o644, (m.name, oct(mode))
                assert not m.name.endswith("ca.key"), "the CA's key never leaves"
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600  # it holds secrets


def test_servers_stack_file_bundles_real_addresses(servers):
    c = cnf(servers, "web-02")
    assert c["bind_address"] == "10.0.0.3" and c["read_only"] == "ON"
    sql = servers.read("web-01", "mariadb/provision.sql")
    assert "'app'@'10.0.0.2'" in sql and "'repl'@'10.0.0.3'" in sql
    assert "CHECKS=( 'tristack-lb http://10.0.0.1:8404/healthz' )" in \
        servers.read("lb-01", "install.sh")


def test_default_output_name_in_the_current_directory(tmp_path):
    r = bundle(CONF, str(tmp_path / "state"), "web-02", cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "tristack-web-02.tar.gz").exists()
    assert "loopback" in r.stderr  # the one-machine stack file is no server's


def test_unknown_host_is_a_clear_error(tmp_path):
    r = bundle(CONF, str(tmp_path / "state"), "web-09", str(tmp_path / "x.tar.gz"))
    assert r.returncode == 1
    assert "no host 'web-09'" in r.stderr and "lb-01, web-01, web-02" in r.stderr
    assert not (tmp_path / "x.tar.gz").exists()
    r = subprocess.run([binary("tristack"), "-c", CONF, "--state", str(tmp_path), "bundle"],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "usage: tristack bundle HOST" in r.stderr


def test_bundling_changes_no_folder_it_did_not_make(tmp_path):
    """Its staging folder goes under TMPDIR: making it once set every folder
    on the way to 0755, /tmp itself included (a sticky 1777 /tmp became
    0755, and no user but root could make a temporary file again)."""
    shared = tmp_path / "shared-tmp"
    shared.mkdir()
    os.chmod(shared, 0o1777)
    os.chmod(tmp_path, 0o711)
    env = dict(os.environ, TMPDIR=str(shared))
    r = subprocess.run([binary("tristack"), "-c", CONF, "--state", str(tmp_path / "state"),
                        "bundle", "web-02", "-o", str(tmp_path / "b.tar.gz")],
                       capture_output=True, text=True, cwd=ROOT, timeout=60, env=env)
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(os.stat(shared).st_mode) == 0o1777
    assert stat.S_IMODE(os.stat(tmp_path).st_mode) == 0o711


def ha_servers(tmp):
    """deploy/servers.conf made the LB pair of conf/foobar-ha.conf."""
    text = open(SERVERS).read()
    text = text.replace("www    = lb-01", "vip    = 10.0.0.1")
    text = text.replace("[host lb-01]\naddress = 10.0.0.1\n",
                        "[host lb-01]\naddress = 10.0.0.11\n")
    text = text.replace("[host web-01]",
                        "[host lb-02]\naddress = 10.0.0.12\nroles   = lb, dns\n\n[host web-01]")
    text += "\n[vrrp]\ninterface = ens3\n"
    path = os.path.join(tmp, "servers-ha.conf")
    with open(path, "w") as f:
        f.write(text)
    return path


def test_the_lb_pair_bundles_keepalived_its_agent_and_one_ticket_key_file(tmp_path):
    conf = ha_servers(str(tmp_path))
    m = Made(str(tmp_path), conf, ["lb-01", "lb-02", "web-01"])
    for host, peer, prio in (("lb-01", "10.0.0.12", 150), ("lb-02", "10.0.0.11", 140)):
        ka = m.read(host, "etc/tristack/keepalived.conf")
        assert "virtual_router_id 51" in ka and "nopreempt" in ka and "version 3" in ka
        assert f"priority {prio}" in ka
        assert f"unicast_peer {{\n\t\t{peer}\n\t}}" in ka
        assert "10.0.0.1/32 dev ens3" in ka and "interface ens3" in ka
        assert "/var/lib/tristack/vrrp/" + host + ".check" in ka
        unit = m.read(host, "systemd/tristack-keepalived.service")
        assert "User=tristack" in unit
        assert "AmbientCapabilities=CAP_NET_ADMIN CAP_NET_RAW CAP_NET_BROADCAST" in unit
        assert "--use-file=/etc/tristack/keepalived.conf" in unit
        agent = m.read(host, "systemd/tristack-vrrp-check.service")
        assert f"vrrp-check {host}" in agent and "CapabilityBoundingSet=\n" in agent
        install = m.read(host, "install.sh")
        assert re.search(r"^UNITS=\(.*tristack-vrrp-check.*tristack-keepalived", install, re.M)
        assert re.search(r"^PACKAGES=\(.*keepalived", install, re.M)
        fw = m.read(host, "nftables/tristack.nft")
        assert f"ip saddr {{ {peer} }} ip protocol vrrp accept" in fw
    # both LBs seal tickets with the same keys; a web server gets none
    a = os.path.join(m.trees["lb-01"], "secrets", "tls-ticket.keys")
    b = os.path.join(m.trees["lb-02"], "secrets", "tls-ticket.keys")
    assert filecmp.cmp(a, b, shallow=False)
    assert stat.S_IMODE(os.stat(a).st_mode) == 0o600
    assert not os.path.exists(os.path.join(m.trees["web-01"], "systemd",
                                           "tristack-keepalived.service"))
    assert not os.path.exists(os.path.join(m.trees["web-01"], "secrets", "tls-ticket.keys"))
    if shutil.which("systemd-analyze"):
        for host in ("lb-01", "lb-02"):
            for u in ("tristack-keepalived", "tristack-vrrp-check"):
                r = subprocess.run(["systemd-analyze", "verify", "--man=no",
                                    os.path.join(m.trees[host], "systemd", f"{u}.service")],
                                   capture_output=True, text=True)
                assert "Unknown key" not in r.stderr, r.stderr


def test_a_second_replica_gets_a_bundle_of_its_own(tmp_path):
    """web-03, a replica and nothing else: its own server id, read-only,
    replication from the primary; the primary provisions its repl account and
    lets it through the firewall; semi-sync off in the stack file is off in
    every cnf."""
    text = open(SERVERS).read()
    text = text.replace("[lb]", "[host web-03]\naddress = 10.0.0.4\nroles   = db-replica\n\n[lb]", 1)
    text = text.replace("\n[db]\n", "\n[db]\nsemi_sync = off\n", 1)
    conf = tmp_path / "three-db.conf"
    conf.write_text(text)
    m = Made(str(tmp_path), str(conf), ["web-01", "web-02", "web-03"])
    third = cnf(m, "web-03")
    assert third["server_id"] == "4" and third["read_only"] == "ON"
    assert third["bind_address"] == "10.0.0.4"
    for host in ("web-01", "web-02", "web-03"):
        assert cnf(m, host)["rpl_semi_sync_master_enabled"] == "OFF"
    assert sorted(os.listdir(os.path.join(m.trees["web-03"], "mariadb"))) == \
        ["60-tristack.cnf", "replica.sql"]
    assert "MASTER_HOST='10.0.0.2'" in m.read("web-03", "mariadb/replica.sql")
    sql = m.read("web-01", "mariadb/provision.sql")
    assert "CREATE USER IF NOT EXISTS 'repl'@'10.0.0.4'" in sql
    assert "'app'@'10.0.0.4'" not in sql  # no app there
    for host in ("web-01", "web-02"):
        fw = m.read(host, "nftables/tristack.nft")
        assert re.search(r"ip saddr \{ [^}]*10\.0\.0\.4[^}]* \} tcp dport 3306", fw), fw
    assert not os.path.exists(os.path.join(m.trees["web-03"], "secrets", "app.password"))


def auto_failover_servers(tmp, extra=""):
    """deploy/servers.conf with [db] auto_failover = on (and extra lines in
    [db])."""
    text = open(SERVERS).read().replace("\n[db]\n", "\n[db]\nauto_failover = on\n" + extra, 1)
    path = os.path.join(tmp, "servers-failover.conf")
    with open(path, "w") as f:
        f.write(text)
    return path


def test_automatic_failover_bundles_the_monitor_the_guards_and_the_account(tmp_path):
    """[db] auto_failover = on: the monitoring host (lb-01, [site] www) runs
    tristack failover-monitor as tristack with no capability and carries its
    password and repl's; each db host runs tristack db-guard as mysql with
    CAP_NET_ADMIN alone and starts read-only; the primary's provision.sql
    makes the monitor's account at lb-01's address with the privileges the
    monitor uses and no data; the db hosts' firewalls take lb-01 on 3306."""
    m = Made(str(tmp_path), auto_failover_servers(str(tmp_path)), ["lb-01", "web-01", "web-02"])
    k = unit_keys(m.read("lb-01", "systemd/tristack-failover-monitor.service"))
    assert k["ExecStart"] == ["/usr/local/bin/tristack -c /etc/tristack/foobar.conf "
                              "--state /var/lib/tristack failover-monitor lb-01"]
    assert k["User"] == ["tristack"] and k["CapabilityBoundingSet"] == [""]
    assert "AmbientCapabilities" not in k and k["Restart"] == ["always"]
    for key, value in (("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"),
                       ("ReadWritePaths", "/var/lib/tristack"), ("PrivateTmp", "yes"),
                       ("ProtectHome", "yes"), ("WantedBy", "multi-user.target")):
        assert k[key] == [value], key
    for name in ("tsfailover", "repl"):
        path = os.path.join(m.trees["lb-01"], "secrets", f"{name}.password")
        assert open(path).read() == m.secret(name)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, name
        with tarfile.open(m.tars["lb-01"]) as t:
            member = t.getmember(f"tristack-lb-01/secrets/{name}.password")
            assert stat.S_IMODE(member.mode) == 0o600, name
    assert len(m.secret("tsfailover")) >= 16
    mode = os.stat(os.path.join(m.state, "secrets", "tsfailover.password")).st_mode
    assert stat.S_IMODE(mode) == 0o600
    for host in ("web-01", "web-02"):
        k = unit_keys(m.read(host, "systemd/tristack-db-guard.service"))
        assert k["ExecStart"] == ["/usr/local/bin/tristack -c /etc/tristack/foobar.conf "
                                  f"--state /var/lib/tristack db-guard {host}"]
        assert k["User"] == ["mysql"] and k["SupplementaryGroups"] == ["tristack"]
        assert k["AmbientCapabilities"] == ["CAP_NET_ADMIN"]
        assert k["CapabilityBoundingSet"] == ["CAP_NET_ADMIN"]
        assert k["NoNewPrivileges"] == ["yes"] and k["ProtectSystem"] == ["strict"]
        assert "ReadWritePaths" not in k  # it writes nothing but its nftables table
        assert "mariadb.service" in k["After"][0].split()
        # every instance starts read-only: the monitor makes the primary writable
        assert cnf(m, host)["read_only"] == "ON"
        assert not os.path.exists(os.path.join(m.trees[host], "systemd",
                                               "tristack-failover-monitor.service"))
        assert not os.path.exists(os.path.join(m.trees[host], "secrets", "tsfailover.password"))
        install = m.read(host, "install.sh")
        assert re.search(r"^UNITS=\(.*'tristack-db-guard' \)", install, re.M)
        assert "FAILOVER_MONITOR='lb-01'" in install
        fw = m.read(host, "nftables/tristack.nft")
        assert re.search(r"ip saddr \{ [^}]*\b10\.0\.0\.1\b[^}]* \} tcp dport 3306 accept", fw), fw
    assert not os.path.exists(os.path.join(m.trees["lb-01"], "systemd", "tristack-db-guard.service"))
    assert re.search(r"^UNITS=\(.*'tristack-failover-monitor' \)", m.read("lb-01", "install.sh"),
                     re.M)
    assert "dport 3306" not in m.read("lb-01", "nftables/tristack.nft")
    sql = m.read("web-01", "mariadb/provision.sql")
    pw = m.secret("tsfailover")
    assert f"CREATE USER IF NOT EXISTS 'tsfailover'@'10.0.0.1' IDENTIFIED BY '{pw}'" in sql
    assert "REVOKE ALL PRIVILEGES, GRANT OPTION FROM 'tsfailover'@'10.0.0.1'" in sql
    grants = re.findall(r"^GRANT (.*) ON \*\.\* TO 'tsfailover'@'(.*)';$", sql, re.M)
    assert grants == [("PROCESS, RELOAD, CONNECTION ADMIN, READ_ONLY ADMIN, "
                       "REPLICATION SLAVE ADMIN, SLAVE MONITOR", "10.0.0.1")], grants
    assert not re.search(r"TO 'tsfailover'@'10\.0\.0\.[23]'", sql)
    if shutil.which("systemd-analyze"):
        for host, u in (("lb-01", "tristack-failover-monitor"), ("web-01", "tristack-db-guard")):
            r = subprocess.run(["systemd-analyze", "verify", "--man=no",
                                os.path.join(m.trees[host], "systemd", f"{u}.service")],
                               capture_output=True, text=True)
            assert "Unknown key" not in r.stderr and "Unknown lvalue" not in r.stderr, r.stderr


def test_without_automatic_failover_no_agent_and_no_account(servers):
    assert cnf(servers, "web-01")["read_only"] == "OFF"
    for host in ROLE_BINARIES:
        units = os.listdir(os.path.join(servers.trees[host], "systemd"))
        assert not any("failover" in u or "guard" in u for u in units), units
        assert "FAILOVER_MONITOR=''" in servers.read(host, "install.sh")
    sql = servers.read("web-01", "mariadb/provision.sql")
    assert "DROP USER IF EXISTS 'tsfailover'@'10.0.0.1';" in sql
    assert "CREATE USER IF NOT EXISTS 'tsfailover'" not in sql


def test_a_monitor_on_a_database_host_is_warned_of(tmp_path):
    conf = auto_failover_servers(str(tmp_path))
    with open(conf, "a") as f:
        f.write("\n[monitoring]\nhost = web-02\n")
    r = bundle(conf, str(tmp_path / "state"), "web-02", str(tmp_path / "w2.tar.gz"))
    assert r.returncode == 0, r.stderr
    assert "the failover monitor runs on web-02, a database host" in r.stderr, r.stderr
    with tarfile.open(tmp_path / "w2.tar.gz") as t:
        names = t.getnames()
    assert "tristack-web-02/systemd/tristack-failover-monitor.service" in names
    assert "tristack-web-02/systemd/tristack-db-guard.service" in names
