#!/usr/bin/python3
"""The fault suite (issues 9, 14): each scenario under a bounded load of
mixed reads and writes by 32 clients through the load balancer over HTTPS,
then an audit of the writes on the primary and on the replica: every post
the site acknowledged (201) is exactly one row, with the author and body
acknowledged; a post the client was told failed (a 4xx, a 503 "not
done", or never sent whole) is no row; one of unknown outcome (another 5xx,
or the connection lost after sending) at most one; no row twice. Each POST's body is unique, so
rows are matched to attempts even without an id.

    tests/faults/faults.py [--short] [--json FILE] [SCENARIO...]
    make faults            every scenario, full length
    (make test runs the short form through tests/e2e/test_faults.py)

Scenarios act on a stack of their own (loopback addresses; the partition
scenario needs isolated mode and root; renew-cert a loopback one with
pebble, the ACME test CA: tests/faults/ops.py), which the supervisor keeps running:
a killed daemon is started again by it, as in production. Between
scenarios the suite waits until every daemon is healthy again.

Per scenario it prints requests, failed GETs, GETs sent again (the client
does so once when a kept-alive connection is reset, as a browser does:
allowed, and counted), acknowledged, failed and unknown POSTs, lost
acknowledged writes and bad rows on each database, load errors, p99 and
max latency. The target: 0 lost writes, 0 bad rows and 0 load errors
everywhere (any exception in a load thread other than a network failure
is a load error), 0 failed GETs except during a full LB restart; and in
the operations (issue 18: drain-web, upgrade, renew-cert), not one request
failed, of unknown outcome or sent again."""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "e2e"))
from conftest import (HAStack, IsolatedStack, Stack, free_subnet,  # noqa: E402
                      stop_stack, write_stack)
from dbfail import (sc_db_kill_primary, sc_db_partition_primary,  # noqa: E402
                    sc_db_poweroff_primary, sc_db_poweron_primary, sc_db_stop_primary,
                    writes_back)
from ha import (in_flight, sc_ha_kill_lb, sc_ha_poweroff_lb, sc_ha_poweron_lb,  # noqa: E402
                sc_ha_stop_lb)
from scale import SCALE_SECONDS, sc_scale_web  # noqa: E402
from load import (AUDIT_FAULTS, NET_ERRORS, Client, Load, audit, kill,  # noqa: E402
                  pid_of, wait_healthy)
from ops import acme_edit, acme_ready, acme_start, acme_stop, sc_renew_cert, sc_upgrade  # noqa: E402

LB_MAXCONN = 300  # the fault stack's [lb] maxconn, small enough to fill


# ---- scenarios: fn(st, load, short) acts while the load runs ----

def sc_kill_web(st, load, short):
    load.wait_until(2)
    kill(pid_of(st, "web-02.web.pid"), signal.SIGKILL)


def sc_stop_web(st, load, short):
    load.wait_until(2)
    pid = pid_of(st, "web-02.web.pid")
    kill(pid, signal.SIGSTOP)
    try:
        load.wait_until(2 + (4 if short else 10))
    finally:
        kill(pid, signal.SIGCONT)


def sc_kill_app(st, load, short):
    load.wait_until(2)
    kill(pid_of(st, "web-02.app.pid"), signal.SIGKILL)


def sc_reload_lb(st, load, short):
    for t in (2, 3.5, 5):
        load.wait_until(t)
        kill(pid_of(st, "lb-01.lb.pid"), signal.SIGHUP)


def sc_restart_lb(st, load, short):
    load.wait_until(2)
    kill(pid_of(st, "lb-01.lb.pid"), signal.SIGKILL)


def sc_kill_replica(st, load, short):
    load.wait_until(2)
    kill(pid_of(st, "web-02.db.pid"), signal.SIGKILL)


def sc_restart_primary(st, load, short):
    load.wait_until(2)
    kill(pid_of(st, "web-01.db.pid"), signal.SIGTERM)  # mariadbd: a clean shutdown


def sc_partition_web(st, load, short):
    """web-02 drops everything from and to the LB (both ways, in its own
    namespace) for 10 s; replication between the databases goes on."""
    lb = f"{st.net}.1"
    rules = (f"table inet tsfault {{\n"
             f" chain in {{ type filter hook input priority -10; ip saddr {lb} drop; }}\n"
             f" chain out {{ type filter hook output priority -10; ip daddr {lb} drop; }}\n}}\n")
    ns = st.ns("web-02")
    load.wait_until(2)
    subprocess.run(["ip", "netns", "exec", ns, "nft", "-f", "-"], input=rules, text=True,
                   check=True)
    try:
        load.wait_until(2 + (5 if short else 10))
    finally:
        subprocess.run(["ip", "netns", "exec", ns, "nft", "delete", "table", "inet", "tsfault"],
                       check=True)


def drained(st, host):
    """Every LB has host drained and no request of it in flight
    (`tristack servers`: ... ADMIN ... ACTIVE ...)."""
    rows = [ln.split() for ln in st.ctl("servers", check=False).stdout.splitlines()]
    mine = [r for r in rows if len(r) >= 8 and r[1] == host]
    return bool(mine) and all(r[4] == "DRAIN" and r[7] == "0" for r in mine)


def sc_drain_web(st, load, short):
    """An upgrade of web-01's web server as an operator does it (issue 18):
    `tristack drain web-01`, its last request finished, tristack-web
    restarted (SIGTERM; the supervisor starts it again), healthy, then
    `tristack ready web-01`. Not one request may fail."""
    host = "web-01"
    load.wait_until(2)
    t = time.monotonic()
    st.ctl("drain", host)
    deadline = time.monotonic() + 15
    while not drained(st, host):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{host} still had requests in flight 15 s after the drain")
        time.sleep(0.1)
    t_drained = time.monotonic() - t
    old = pid_of(st, f"{host}.web.pid")
    kill(old, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while st.pids().get(f"{host}.web.pid") in (None, old):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{host}'s tristack-web was not started again within 30 s")
        time.sleep(0.1)
    wait_healthy(st, timeout=30)
    st.ctl("ready", host)
    load.note = (f"{host} drained (last request done) after {t_drained:.2f} s, its web server "
                 f"restarted ({old} -> {pid_of(st, f'{host}.web.pid')}), ready after "
                 f"{time.monotonic() - t:.2f} s")


def sc_fill_lb(st, load, short):
    """LB_MAXCONN idle connections (a TCP connect each, then nothing) for 8 s
    beside the load; meanwhile 20 GETs on new connections. The load's
    kept-alive connections must not notice; the new ones wait their turn."""
    load.wait_until(2)
    host, port = st.lb, int(st.url.rsplit(":", 1)[1])
    fillers = []
    fresh = {"ok": 0, "failed": 0, "max_s": 0.0}

    def fresh_get():
        c = Client(st.url, timeout=20)
        t = time.monotonic()
        try:
            ok = c.request("GET", "/static/site.css")[0] == 200
        except NET_ERRORS:
            ok = False
        except Exception as e:
            ok = False
            with load.lock:
                load.errors.append(f"fill-lb's new-connection GET: {e!r}")
        c.close()
        fresh["ok" if ok else "failed"] += 1
        fresh["max_s"] = max(fresh["max_s"], time.monotonic() - t)

    try:
        for _ in range(LB_MAXCONN):
            try:
                fillers.append(socket.create_connection((host, port), timeout=2))
            except OSError:
                break  # the backlog is full too: that is full enough
        getters = [threading.Thread(target=fresh_get) for _ in range(20)]
        for g in getters:
            g.start()
        load.wait_until(10)
    finally:
        for f in fillers:
            f.close()
    for g in getters:
        g.join(timeout=30)
    load.note = (f"{len(fillers)} idle connections held; 20 new-connection GETs: "
                 f"{fresh['ok']} ok, {fresh['failed']} failed, slowest {fresh['max_s']:.1f} s")
    if fresh["failed"]:
        raise RuntimeError(load.note)


SCENARIOS = {
    "kill-web": (sc_kill_web, "kill -9 tristack-web on web-02 (the supervisor starts it again)"),
    "stop-web": (sc_stop_web, "SIGSTOP tristack-web on web-02 for 10 s (hung, not dead)"),
    "kill-app": (sc_kill_app, "kill -9 tristack-app on web-02"),
    "reload-lb": (sc_reload_lb, "SIGHUP the LB three times (reload)"),
    "restart-lb": (sc_restart_lb, "kill -9 the LB; the supervisor starts it again"),
    "kill-replica": (sc_kill_replica, "kill -9 the replica's mariadbd; it comes back"),
    "restart-primary": (sc_restart_primary,
                        "graceful restart of the primary (SIGTERM; the supervisor starts it)"),
    "drain-web": (sc_drain_web, "drain web-01, restart its web server (an upgrade), ready it: "
                                "no request may fail"),
    "scale-web": (sc_scale_web, "add web-03 to the stack file and `tristack up`, then remove it "
                                "and `tristack up` (drained first): no request may fail"),
    "scale-web-isolated": (sc_scale_web, "scale-web in isolated mode: web-03's namespace made "
                                         "and firewalls reloaded, then all of it gone"),
    "upgrade": (sc_upgrade, "tristack upgrade: every daemon of ours replaced, web hosts drained "
                            "in turn, the LB handing its listening sockets over: no request "
                            "may fail"),
    "renew-cert": (sc_renew_cert, "tristack certs renew --force from pebble (ACME), the LB "
                                  "reloaded: no request may fail"),
    "fill-lb": (sc_fill_lb, f"fill the LB to maxconn ({LB_MAXCONN}) with idle connections"),
    "partition-web": (sc_partition_web,
                      "partition web-02 from the LB for 10 s (isolated mode, nftables)"),
    "db-kill-primary": (sc_db_kill_primary,
                        "kill -9 of the primary's mariadbd (restarted, or failed over)"),
    "db-stop-primary": (sc_db_stop_primary,
                        "the primary's mariadbd hung (SIGSTOP): fenced, the replica promoted"),
    "db-partition-primary": (sc_db_partition_primary,
                             "the primary's host cut off from everything for 10 s (nftables "
                             "in its namespace): failover, then the old primary back"),
    "db-poweroff-primary": (sc_db_poweroff_primary,
                            "the primary's host powered off (web, app, MariaDB; link down): "
                            "automatic failover"),
    "db-poweron-primary": (sc_db_poweron_primary,
                           "the old primary's host back: read-only, it rejoins as a replica"),
    "ha-kill-lb": (sc_ha_kill_lb, "LB pair: kill -9 tristack-lb on the holder of the address"),
    "ha-stop-lb": (sc_ha_stop_lb,
                   "LB pair: SIGSTOP tristack-lb on the holder for 10 s (hung, not dead)"),
    "ha-poweroff-lb": (sc_ha_poweroff_lb,
                       "LB pair: the holder powered off (every process killed, link down)"),
    "ha-poweron-lb": (sc_ha_poweron_lb,
                      "LB pair: the powered-off LB back (it must not take the address back)"),
}
DB_FAILOVER = {"db-kill-primary", "db-stop-primary", "db-partition-primary",
               "db-poweroff-primary", "db-poweron-primary"}
ISOLATED = {"partition-web", "scale-web-isolated"} | DB_FAILOVER
HA = {"ha-kill-lb", "ha-stop-lb", "ha-poweroff-lb", "ha-poweron-lb"}
ACME = {"renew-cert"}  # a loopback stack of its own, with pebble (tests/faults/ops.py)
HA_RECOVERY_S = 5  # the address answers again within this
RETRIES_ALLOWED = {"reload-lb", "restart-lb"} | HA  # the LB's own connections close
SHORT = ["kill-web", "kill-app", "reload-lb", "kill-replica", "drain-web", "scale-web",
         "upgrade", "renew-cert"]
# operations, not faults: not one request may fail
NO_FAILURE = {"drain-web", "scale-web", "scale-web-isolated", "upgrade", "renew-cert"}
# seconds of load at least (short form, full): the operation and a while after it
# (certbot takes 6-11 s for the two certificates on a busy machine; an
# operation that ends less than 2 s before the load fails its scenario;
# scale-web runs two ups)
MIN_LOAD_S = {"upgrade": (12, 20), "renew-cert": (20, 20), "scale-web": SCALE_SECONDS,
              "scale-web-isolated": SCALE_SECONDS}


def p99(xs):
    if not xs:
        return 0.0
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * 0.99))]


def judge(name, what, seconds, load, audits, action_error=None):
    """A scenario's figures and verdict from its finished load and the
    audits of both databases. ok: no load error, no fault in either audit
    (every acknowledged write once, as acknowledged, on both; no row for a
    write the client was told failed; none twice), the action went as
    planned, and no GET failed (but in restart-lb, where the only LB is
    down for a second). A GET the client sent again on a new connection
    (as a browser does when a kept-alive one is closed under it) is
    allowed where the LB itself is reloaded or restarted, and counted;
    anywhere else the LB must not close a client's connection, so one
    fails the scenario."""
    rows = load.rows
    reads = [r for r in rows if r[1] == "read"]
    outcomes = [a["outcome"] for a in load.attempts]
    p, r = audits["primary"], audits["replica"]
    res = {
        "scenario": name,
        "what": what,
        "seconds": seconds,
        "clients": len(load.threads),
        "requests": len(rows),
        "reads": len(reads),
        "failed_gets": sum(1 for x in reads if not x[2]),
        "retried_gets": load.retries,
        "writes": len(load.attempts),
        "acked_writes": outcomes.count("acked"),
        "failed_posts": outcomes.count("failed"),
        "unknown_posts": outcomes.count("unknown"),
        "unknown_written": p["unknown_written"],
        # sent again with their Idempotency-Key after an unknown outcome
        "retried_posts": sum(1 for a in load.attempts if a.get("retried")),
        "retried_acked": sum(1 for a in load.attempts
                             if a.get("retried") and a["outcome"] == "acked"),
        "diverged": audits.get("diverged", []),
        "lost_on_primary": p["missing"],
        "lost_on_replica": r["missing"],
        "bad_rows_on_primary": sum(p[k] for k in AUDIT_FAULTS if k != "missing"),
        "bad_rows_on_replica": sum(r[k] for k in AUDIT_FAULTS if k != "missing"),
        "load_errors": len(load.errors),
        "p99_ms": round(p99([x[3] for x in rows]) * 1000, 1),
        "max_ms": round(max((x[3] for x in rows), default=0) * 1000, 1),
        "errors": sorted({x[4] for x in rows if not x[2]})[:8],
        "load_error_list": load.errors[:8],
        "audit": audits,
        "action_error": action_error,
        "note": load.note,
    }
    res["ok"] = (p["ok"] and r["ok"] and not load.errors and action_error is None and
                 not res["diverged"] and
                 (res["failed_gets"] == 0 or name == "restart-lb" or name in HA) and
                 (res["retried_gets"] == 0 or name in RETRIES_ALLOWED) and
                 (name not in NO_FAILURE or
                  res["failed_posts"] + res["unknown_posts"] + res["retried_posts"] == 0))
    if name in DB_FAILOVER:
        db = load.db or {}
        db["writes_back_s"] = writes_back(load, db["fault_at"], db["fault_done"]) \
            if db.get("fault_at") is not None else None
        res["db"] = db
        # reads go on through the other web server; writes wait for the
        # failover: failed and unknown POSTs allowed (counted), none lost
        # writes the old primary took after the promotion: rows it has
        # that the new primary has not (its audit as the replica)
        if audits["hosts"][1] == db.get("old"):
            db["old_primary_writes"] = r["not_on_primary"]
        res["ok"] = (p["ok"] and r["ok"] and not load.errors and action_error is None and
                     not res["diverged"] and
                     (name == "db-poweron-primary" or
                      (db.get("writes_back_s") is not None and db["writes_back_s"] <= 10)))
        load.note = (f"{db} {load.note}").rstrip()
        res["note"] = load.note
    if name in HA:
        ha = load.ha or {}
        ha["in_flight"] = in_flight(rows, ha.get("fault_at"))
        res["ha"] = ha
        failed = res["failed_gets"] + res["failed_posts"] + res["unknown_posts"]
        res["failed_requests"] = failed
        if name == "ha-poweron-lb":
            # nothing may notice a standby coming back
            res["ok"] = (res["ok"] and failed == 0 and ha.get("watch_failed") == 0 and
                         ha.get("holder_after") == ha.get("holder_before"))
        else:
            # what fails is what was under way on the holder: at most one
            # request per client (its connection to the old holder), and
            # the address answers again within HA_RECOVERY_S
            rec = ha.get("recovery_s")
            res["ok"] = (res["ok"] and failed <= res["clients"] and rec is not None and
                         rec <= HA_RECOVERY_S and
                         ha.get("holder_after") not in ("", ha.get("holder_before")))
        load.note = (f"{ha.get('holder_before')} -> {ha.get('holder_after')}: answered again "
                     f"after {ha.get('recovery_s')} s; {failed} failed requests "
                     f"({ha.get('in_flight')} in flight at the fault); TLS sessions resumed "
                     f"{ha.get('tls_resumed')}/{ha.get('tls_sessions')}; new-visitor probes "
                     f"failed {ha.get('watch_failed')} {load.note}").rstrip()
        res["note"] = load.note
    return res


def run_scenario(st, name, short):
    fn, what = SCENARIOS[name]
    # a failover needs its seconds, and the writes after it to be seen
    limit = 20 if name in DB_FAILOVER or not short else 8
    limit = max(limit, MIN_LOAD_S.get(name, (0, 0))[0 if short else 1])
    wait_healthy(st)
    load = Load(st, limit)
    err = None
    try:
        fn(st, load, short)
    except Exception as e:  # the load still stops and is audited
        err = repr(e)
    load.wait_until(limit)
    load.finish()
    try:
        wait_healthy(st)
    except RuntimeError as e:  # audited all the same: the figures say what broke
        err = err or repr(e)
    return judge(name, what, limit, load, audit(st, load.attempts, load.tag), err)


def start_stack(isolated=False, maxconn=LB_MAXCONN, ha=False, acme=False):
    tmp = tempfile.mkdtemp(prefix="tristack-faults-")
    os.chmod(tmp, 0o755)
    if isolated:
        st = HAStack(tmp) if ha else IsolatedStack(tmp)
        # automatic failover on, and one failover after another, scenario
        # after scenario: a cool-down shorter than a scenario (the default,
        # 5 min, is for production)
        with open(st.conf) as f:
            text = f.read()
        with open(st.conf, "w") as f:
            on = "" if re.search(r"^auto_failover\s*=", text, re.M) else "auto_failover = on\n"
            f.write(text.replace("[db]\n", f"[db]\n{on}failover_cooldown = 15s\n", 1))
        try:
            st.ctl("up", "--isolated", timeout=240)
        except Exception:
            stop_isolated(st, tmp)
            raise
        return st, tmp
    st = Stack(tmp, free_subnet())
    write_stack(st.conf, st.net)  # no per-address limits: one address, many clients
    with open(st.conf) as f:
        text = f.read()
    if maxconn:
        text = text.replace("[lb]\n", f"[lb]\nmaxconn = {maxconn}\n", 1)
    with open(st.conf, "w") as f:
        f.write(acme_edit(text, st.net) if acme else text)
    st.ctl("up", timeout=180)
    if acme:
        try:
            acme_start(st)  # pebble, and the LB's first certificates from it
        except Exception:
            acme_stop(st)
            stop_stack(st)
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return st, tmp


def stop_isolated(st, tmp):
    left = st.stop()
    shutil.rmtree(tmp, ignore_errors=True)
    return left


TABLE = ["scenario", "requests", "failed_gets", "retried_gets", "acked_writes", "failed_posts",
         "unknown_posts", "unknown_written", "retried_posts", "lost_on_primary", "lost_on_replica",
         "bad_rows_on_primary", "bad_rows_on_replica", "load_errors", "p99_ms", "max_ms", "ok"]


def print_table(results):
    w = {c: max([len(c)] + [len(str(r[c])) for r in results]) for c in TABLE}
    print(" ".join(f"{c:>{w[c]}}" for c in TABLE))
    for r in results:
        print(" ".join(f"{str(r[c]):>{w[c]}}" for c in TABLE))
        ex = r["audit"]["primary"]["examples"] + r["audit"]["replica"]["examples"]
        if r["errors"] or r["action_error"] or r["note"] or r["load_error_list"] or ex:
            print(f"    errors: {r['errors']} {r['action_error'] or ''} {r['note']}")
            for e in r["load_error_list"] + ex:
                print(f"    {e}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--short", action="store_true", help="the short form of make test")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("scenarios", nargs="*", help=f"of: {', '.join(SCENARIOS)}")
    a = ap.parse_args(argv)
    names = a.scenarios or (SHORT if a.short else list(SCENARIOS))
    for n in names:
        if n not in SCENARIOS:
            ap.error(f"no scenario '{n}'")
    if any(n in HA for n in names) and not os.path.exists("/usr/sbin/keepalived"):
        print("faults: the LB pair's scenarios need keepalived (scripts/install-deps.sh)",
              file=sys.stderr)
        return 1
    if any(n in ACME for n in names) and acme_ready():
        print(f"faults: {acme_ready()}", file=sys.stderr)
        return 1
    results = []
    left = []
    for kind in ("loopback", "acme", "isolated", "ha"):
        isolated = kind in ("isolated", "ha")
        group = [n for n in names
                 if (n in HA and kind == "ha") or (n in ISOLATED and kind == "isolated") or
                 (n in ACME and kind == "acme") or
                 (n not in HA | ISOLATED | ACME and kind == "loopback")]
        if not group:
            continue
        if isolated and os.geteuid() != 0:
            print(f"== {', '.join(group)}: skipped (isolated mode needs root)")
            continue
        st, tmp = start_stack(isolated, ha=kind == "ha", acme=kind == "acme")
        if kind == "ha":
            # the lab's client gives up a connect after ~3 s (tcp_syn_retries
            # = 1, for quick tests of dropped ones); a visitor's machine has
            # the kernel's default, 6, and keeps trying through a failover
            subprocess.run(["ip", "netns", "exec", st.ns("client"), "sysctl", "-q", "-w",
                            "net.ipv4.tcp_syn_retries=6"], check=True)
        try:
            for n in group:
                print(f"== {n}: {SCENARIOS[n][1]}", flush=True)
                results.append(run_scenario(st, n, a.short))
                r = results[-1]
                print(f"   {r['requests']} requests by {r['clients']} clients, "
                      f"{r['failed_gets']} failed GETs ({r['retried_gets']} sent again), "
                      f"{r['acked_writes']} acknowledged POSTs, {r['failed_posts']} failed, "
                      f"{r['unknown_posts']} unknown ({r['unknown_written']} written), "
                      f"{r['retried_posts']} sent again with their key "
                      f"({r['retried_acked']} then acknowledged), "
                      f"lost {r['lost_on_primary']}/{r['lost_on_replica']}, "
                      f"bad rows {r['bad_rows_on_primary']}/{r['bad_rows_on_replica']}, "
                      f"{r['load_errors']} load errors, "
                      f"p99 {r['p99_ms']} ms, max {r['max_ms']} ms -> "
                      f"{'ok' if r['ok'] else 'FAILED'} {r['note']}", flush=True)
        finally:
            if isolated:
                left += stop_isolated(st, tmp)
            else:
                acme_stop(st)
                left += stop_stack(st)
                shutil.rmtree(tmp, ignore_errors=True)
    print()
    print_table(results)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=2)
    for r in results:
        n = f"fault_{r['scenario'].replace('-', '_')}"
        print(f"RESULT {n}_failed_gets={r['failed_gets']}")
        print(f"RESULT {n}_retried_gets={r['retried_gets']}")
        print(f"RESULT {n}_lost_writes={r['lost_on_primary'] + r['lost_on_replica']}")
        print(f"RESULT {n}_bad_rows={r['bad_rows_on_primary'] + r['bad_rows_on_replica']}")
        print(f"RESULT {n}_load_errors={r['load_errors']}")
        print(f"RESULT {n}_retried_posts={r['retried_posts']}")
        print(f"RESULT {n}_failed_posts_written="
              f"{r['audit']['primary']['failed_written'] + r['audit']['replica']['failed_written']}")
        if "db" in r and r["db"].get("writes_back_s") is not None:
            print(f"RESULT {n}_writes_back_s={r['db']['writes_back_s']}")
        if "db" in r and "old_primary_writes" in r["db"]:
            print(f"RESULT {n}_old_primary_writes={r['db']['old_primary_writes']}")
        if "ha" in r:
            print(f"RESULT {n}_failed_requests={r['failed_requests']}")
            print(f"RESULT {n}_in_flight={r['ha'].get('in_flight')}")
            print(f"RESULT {n}_recovery_s={r['ha'].get('recovery_s')}")
            print(f"RESULT {n}_tls_resumed={r['ha'].get('tls_resumed')}/"
                  f"{r['ha'].get('tls_sessions')}")
    if left:
        print(f"faults: processes left after down: {left}", file=sys.stderr)
        return 1
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
