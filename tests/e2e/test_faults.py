"""The short form of the fault suite (tests/faults/faults.py; `make faults`
runs every scenario at full length): kill -9 a web server, kill -9 an app,
reload the LB, kill -9 the replica, and the operations of issue 18, where
not one request may fail (faults.NO_FAILURE): drain web-01, restart its web
server and ready it; add web-03 with `tristack up` and drop it again;
`tristack upgrade`; `tristack certs renew --force` against pebble. Each
under mixed reads and writes by 32 clients. Every acknowledged write is one row, as acknowledged, on both
databases; no row for a write told it failed, none twice; no load error;
no GET fails, and none needs a second try but where the LB reloads
(tests/e2e/test_fault_audit.py proves the audit itself). And slowloris,
plain and TLS, a few hundred connections (make faults: 2,000 of each kind,
and 10,000 idle ones)."""
import json
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "faults"))
import faults  # noqa: E402
import slowloris  # noqa: E402


def test_short_fault_suite_loses_no_write_and_fails_no_get(tmp_path):
    out = tmp_path / "faults.json"
    rc = faults.main(["--short", "--json", str(out)])

    results = json.loads(out.read_text())
    assert [r["scenario"] for r in results] == faults.SHORT
    for r in results:
        assert r["clients"] >= 32 and r["acked_writes"] > 100, r  # the load did write
        assert r["load_errors"] == 0, r["load_error_list"]
        # every acknowledged post once, as acknowledged, on both databases
        assert r["lost_on_primary"] == 0 and r["lost_on_replica"] == 0, r
        assert r["bad_rows_on_primary"] == 0 and r["bad_rows_on_replica"] == 0, r["audit"]
        assert r["unknown_written"] <= r["unknown_posts"], r
        assert r["failed_gets"] == 0, r
        # a GET sent again on a new connection: only where the LB reloads
        assert r["retried_gets"] == 0 or r["scenario"] in faults.RETRIES_ALLOWED, r
    assert rc == 0


def test_slowloris_plain_and_tls_is_cut_at_the_request_timeout_and_normal_traffic_goes_on(
        tmp_path):
    # at once: 300 plain connections sending a head a byte a second, and on
    # the TLS listener 100 silent ones, 100 sending their ClientHello a byte
    # a second, 100 sending a head a byte a second inside TLS
    out = tmp_path / "slow.json"
    rc = slowloris.main(["--conns", "300", "--tls", "100", "--json", str(out)])
    r = json.loads(out.read_text())
    assert r["normal_failed"] == 0 and r["normal_beside"] > 100, r
    g = r["groups"]
    assert set(g) == {"slow", "tls-silent", "tls-hello", "tls-head"}, r
    for kind, n in (("slow", 300), ("tls-silent", 100), ("tls-hello", 100), ("tls-head", 100)):
        assert g[kind]["conns"] == n and g[kind]["open_at_end"] == 0, (kind, g[kind])
        # cut by the LB within timeout_http_request (10 s) of the connect
        assert 8.5 <= g[kind]["cut_min_s"] and g[kind]["cut_max_s"] <= 11.5, (kind, g[kind])
    assert g["slow"]["408"] == 300 and g["tls-head"]["408"] == 100, g
    assert g["tls-head"]["handshakes"] == 100, g  # they did get inside TLS
    assert r["p99_ratio"] < 10, r
    assert r["lb_rss_growth_per_conn_kib"] < slowloris.RSS_PER_CONN_KIB, r
    assert r["ok"] and rc == 0, r


@pytest.mark.skipif(os.geteuid() != 0 or not os.path.exists("/usr/sbin/keepalived"),
                    reason="the LB pair needs root (isolated mode) and keepalived")
def test_short_lb_pair_fault_moves_the_address_and_loses_no_write(tmp_path):
    """kill -9 of the LB holding the floating address, under the same load:
    the other LB answers within 5 s, what fails is at most what was under
    way (one request per client), every acknowledged write is there, and
    the TLS sessions saved before resume on the other LB."""
    out = tmp_path / "ha.json"
    rc = faults.main(["--short", "--json", str(out), "ha-kill-lb"])
    [r] = json.loads(out.read_text())
    assert r["clients"] >= 32 and r["acked_writes"] > 100, r
    assert r["load_errors"] == 0, r["load_error_list"]
    assert r["lost_on_primary"] == 0 and r["lost_on_replica"] == 0, r
    assert r["bad_rows_on_primary"] == 0 and r["bad_rows_on_replica"] == 0, r["audit"]
    ha = r["ha"]
    assert ha["holder_after"] not in ("", ha["holder_before"]), ha
    assert ha["recovery_s"] is not None and ha["recovery_s"] <= faults.HA_RECOVERY_S, ha
    assert r["failed_requests"] <= r["clients"], r
    assert ha["tls_sessions"] == 20 and ha["tls_resumed"] == 20, ha
    assert r["ok"] and rc == 0, r


@pytest.mark.skipif(os.geteuid() != 0, reason="the failover lab is isolated mode: root")
def test_short_primary_kill_loses_no_acknowledged_write(tmp_path):
    """kill -9 of the primary's mariadbd under the load, automatic failover
    on: every acknowledged write is on both databases afterwards, none
    twice, and writes succeed again within 10 s."""
    out = tmp_path / "db.json"
    rc = faults.main(["--short", "--json", str(out), "db-kill-primary"])
    [r] = json.loads(out.read_text())
    assert r["clients"] >= 32 and r["acked_writes"] > 100, r
    assert r["load_errors"] == 0, r["load_error_list"]
    assert r["lost_on_primary"] == 0 and r["lost_on_replica"] == 0, r
    assert r["bad_rows_on_primary"] == 0 and r["bad_rows_on_replica"] == 0, r["audit"]
    assert r["unknown_written"] <= r["unknown_posts"], r
    assert r["db"]["writes_back_s"] is not None and r["db"]["writes_back_s"] <= 10, r["db"]
    # no row for a POST answered 503 or never sent; the ones of unknown
    # outcome were sent again with their Idempotency-Key: one row each
    # (duplicates are bad rows); no write on the old primary the new one
    # has not; neither database diverged
    for db in ("primary", "replica"):
        assert r["audit"][db]["failed_written"] == 0, r["audit"][db]
        assert r["audit"][db]["duplicates"] == 0, r["audit"][db]
    assert r["db"].get("old_primary_writes", 0) == 0 and r["diverged"] == [], r
    assert r["ok"] and rc == 0, r
