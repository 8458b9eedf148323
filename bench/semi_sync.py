#!/usr/bin/env python3
"""What semi-synchronous replication costs a write, and what a frozen
replica costs: on a loopback stack of its own (the default layout, [db]
semi_sync on, semi_sync_timeout 1s), one client posting in sequence through
the LB over HTTPS.

1. Latency of POST /api/posts with semi-sync on, then off (SET GLOBAL on the
   primary), ROUNDS times N posts each: median and p99.
2. The replica's mariadbd SIGSTOPped, then 5 posts: how long each took (the
   first waits semi_sync_timeout, then the primary is asynchronous), and,
   after SIGCONT, how soon the primary reports semi-sync on again.

Run: TRISTACK_BIN=$PWD/build/bin bash bench/record.sh semi-sync \\
         /usr/bin/python3 bench/semi_sync.py
"""
import os
import signal
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))

from applab import Client, db_query  # noqa: E402
from conftest import own_stack, wait_for  # noqa: E402

N = int(os.environ.get("SEMI_POSTS", "500"))
ROUNDS = int(os.environ.get("SEMI_ROUNDS", "2"))


def semi_status(st):
    return db_query(st, "web-01", "SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_master_status'")[0][1]


def posts(c, n):
    """n posts in sequence: (median, p99) in ms."""
    t = []
    for i in range(n):
        t0 = time.perf_counter()
        status, _, body = c.post("bench", f"semi-sync bench {i}")
        t.append((time.perf_counter() - t0) * 1000)
        if status != 201:
            raise SystemExit(f"POST answered {status}: {body}")
    t.sort()
    return statistics.median(t), t[min(n - 1, int(n * 0.99))]


def latency(st, c):
    print(f"POST /api/posts, one client in sequence, {N} posts per run")
    for r in range(ROUNDS):
        on = posts(c, N)
        db_query(st, "web-01", "SET GLOBAL rpl_semi_sync_master_enabled = OFF")
        off = posts(c, N)
        db_query(st, "web-01", "SET GLOBAL rpl_semi_sync_master_enabled = ON")
        wait_for(lambda: semi_status(st) == "ON", timeout=20, what="semi-sync on again")
        print(f"  round {r}: semi-sync on: median {on[0]:.2f} ms, p99 {on[1]:.2f} ms; "
              f"off: median {off[0]:.2f} ms, p99 {off[1]:.2f} ms")


def frozen(st, c):
    print("the replica's mariadbd SIGSTOPped, then 5 posts (ms each); after SIGCONT, "
          "time until semi-sync is on again")
    for r in range(3):
        time.sleep(0.3)
        pid = st.pids()["web-02.db.pid"]
        os.kill(pid, signal.SIGSTOP)
        t = []
        try:
            for i in range(5):
                t0 = time.perf_counter()
                status, _, body = c.post("bench", f"replica frozen {i}")
                t.append(round((time.perf_counter() - t0) * 1000))
                if status != 201:
                    raise SystemExit(f"POST answered {status}: {body}")
            off = semi_status(st)
        finally:
            os.kill(pid, signal.SIGCONT)
        t0 = time.monotonic()
        wait_for(lambda: semi_status(st) == "ON", timeout=30, interval=0.02,
                 what="semi-sync on again")
        print(f"  round {r}: posts {t} ms, semi-sync {off} while frozen, on again "
              f"{time.monotonic() - t0:.2f} s after SIGCONT")


def main():
    with own_stack("tristack-bench-semi-") as st:
        wait_for(lambda: semi_status(st) == "ON", timeout=20, what="semi-sync on")
        c = Client(st.url)
        posts(c, 50)  # warm up
        latency(st, c)
        frozen(st, c)
        c.close()


if __name__ == "__main__":
    main()
