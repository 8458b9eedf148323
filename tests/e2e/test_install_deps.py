"""scripts/install-deps.sh, the first step of `make run` and `make test`,
driven with stub apt-get, dpkg-query and id on PATH: its exit status must
be apt-get's, whether or not the machine already has a policy-rc.d (most
container images do: the script used to print "done" and exit 1 there, so
the first `make run` on such a machine failed)."""
import os
import stat
import subprocess

from conftest import ROOT

SCRIPT = os.path.join(ROOT, "scripts", "install-deps.sh")


def stubs(tmp_path, apt_status=0):
    """A PATH folder where every package is missing, id says root, and
    apt-get records its calls (and whether the policy file was there)."""
    d = tmp_path / "bin"
    d.mkdir()
    log = tmp_path / "apt.log"
    files = {
        "dpkg-query": "#!/bin/sh\nexit 1\n",
        "id": "#!/bin/sh\necho 0\n",
        "apt-get": f"#!/bin/sh\necho \"$* policy=$(test -e \"$TRISTACK_POLICY_RC\" && echo yes "
                   f"|| echo no)\" >> {log}\nexit {apt_status}\n",
    }
    for name, text in files.items():
        (d / name).write_text(text)
        os.chmod(d / name, 0o755)
    return d, log


def run(tmp_path, policy, apt_status=0):
    d, log = stubs(tmp_path, apt_status)
    env = dict(os.environ, PATH=f"{d}:{os.environ['PATH']}", TRISTACK_POLICY_RC=str(policy))
    r = subprocess.run(["sh", SCRIPT], capture_output=True, text=True, env=env, timeout=30)
    return r, log.read_text() if log.exists() else ""


def test_an_existing_policy_rc_is_kept_and_the_script_succeeds(tmp_path):
    policy = tmp_path / "policy-rc.d"
    policy.write_text("#!/bin/sh\nexit 101\n")
    r, calls = run(tmp_path, policy)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "install-deps: done" in r.stdout
    assert "update" in calls and "install -y" in calls, calls
    assert policy.read_text() == "#!/bin/sh\nexit 101\n"  # the machine's own, untouched


def test_a_policy_rc_it_makes_is_there_during_the_install_and_gone_after(tmp_path):
    policy = tmp_path / "policy-rc.d"
    r, calls = run(tmp_path, policy)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "install -y" in calls and "policy=yes" in calls, calls
    assert not policy.exists()


def test_a_failed_install_fails_the_script_and_cleans_up(tmp_path):
    policy = tmp_path / "policy-rc.d"
    r, _ = run(tmp_path, policy, apt_status=100)
    assert r.returncode != 0
    assert "install-deps: done" not in r.stdout
    assert not policy.exists()


def test_nothing_missing_is_silent_and_succeeds(tmp_path):
    d = tmp_path / "bin"
    d.mkdir()
    (d / "dpkg-query").write_text("#!/bin/sh\necho 'install ok installed'\n")
    os.chmod(d / "dpkg-query", stat.S_IRWXU)
    env = dict(os.environ, PATH=f"{d}:{os.environ['PATH']}")
    r = subprocess.run(["sh", SCRIPT], capture_output=True, text=True, env=env, timeout=30)
    assert r.returncode == 0 and r.stdout == "" and r.stderr == ""
