"""Operating tristack-web: SIGHUP reloads the file under load without a
failed request, a broken file is refused, SIGTERM drains."""
import re
import signal
import subprocess
import tempfile
import threading
import time

import pytest

from conftest import wait_for
from lab import http
from weblab import WebLab


@pytest.fixture
def web():
    with tempfile.TemporaryDirectory(prefix="tristack-web-") as tmp:
        lab = WebLab(tmp).start()
        try:
            yield lab
        finally:
            lab.close()


def reload(lab, extra):
    lab.web_extra = extra
    lab.write_conf()
    n = lab.log_text().count("reloaded ") + lab.log_text().count("reload refused")
    lab.web.send_signal(signal.SIGHUP)
    wait_for(lambda: lab.log_text().count("reloaded ") + lab.log_text().count("reload refused")
             > n, what="the reload")


def test_reload_applies_and_drops_nothing_under_load(web):
    result = {}

    def load():
        r = subprocess.run(["wrk", "-t1", "-c16", "-d4s", web.url + "/big.txt"],
                           capture_output=True, text=True, timeout=30)
        result["out"] = r.stdout

    t = threading.Thread(target=load)
    t.start()
    for i in range(6):
        time.sleep(0.5)
        reload(web, "cache = /big.txt 1h\n" if i % 2 == 0 else "")
    t.join()
    out = result["out"]
    assert re.search(r"\d+ requests in", out) and "Non-2xx" not in out
    assert "Socket errors" not in out, out
    reload(web, "cache = /big.txt 1h\n")
    assert http(web.url + "/big.txt")[1]["Cache-Control"] == "public, max-age=3600"


def test_broken_file_is_refused_and_the_old_one_serves(web):
    reload(web, "gzip = maybe\n")
    assert re.search(r"reload refused.*web\.conf:\d+: bad value 'maybe' for 'gzip' in \[web\]",
                     web.log_text())
    assert http(web.url + "/index.html")[0] == 200


def test_sigterm_lets_a_request_in_flight_finish(web):
    result = {}
    t = threading.Thread(target=lambda: result.update(
        r=http(web.url + "/api/slow?ms=800")))
    t.start()
    wait_for(lambda: "tristack_web_connections 1" in http(web.admin + "/metrics")[2].decode(),
             what="the request in flight")
    web.web.send_signal(signal.SIGTERM)
    t.join()
    assert result["r"][0] == 200 and result["r"][2] == b"app0"
    web.web.wait(timeout=10)
    assert web.web.returncode == 0
