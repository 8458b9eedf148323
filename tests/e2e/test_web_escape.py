"""No request reads a file outside the document root: 34 hostile targets
(dot segments plain and encoded, encoded slashes, NUL and control bytes,
overlong and malformed escapes, symlinks leading out) each get 400, 403,
404 or 414, and the secret beside the root never appears."""
import tempfile

import pytest

from conftest import raw_http
from weblab import SECRET, WebLab

HOSTILE = [
    b"/../outside/secret.txt",
    b"/..%2foutside%2fsecret.txt",
    b"/%2e%2e/outside/secret.txt",
    b"/%2E%2E/outside/secret.txt",
    b"/static/../../outside/secret.txt",
    b"/static/%2e%2e/%2e%2e/outside/secret.txt",
    b"/./../outside/secret.txt",
    b"/..\\outside\\secret.txt",
    b"/%00",
    b"/index.html%00.txt",
    b"/link-out",
    b"/link-out/",
    b"//../outside/secret.txt",
    b"/static/..%2f..%2foutside/secret.txt",
    b"/%2e%2e%2f%2e%2e%2foutside/secret.txt",
    b"/.%2e/outside/secret.txt",
    b"/%252e%252e/outside/secret.txt",
    b"/static/%c0%ae%c0%ae/outside/secret.txt",
    b"/a/b/c/../../../../outside/secret.txt",
    b"/..",
    b"/../",
    b"/%",
    b"/%g0",
    b"/" + b"a/" * 600 + b"x",
    b"/static/%0a",
    b"/static/%0d%0aX-Injected:%20yes",
    b"http://www.foobar.com/../outside/secret.txt",
    b"/%2fetc%2fpasswd",
    b"/static/.%2e/.%2e/outside/secret.txt",
    b"/proc/self/environ",
    b"/link-dir-out/secret.txt",
    b"/link-dir-out/../outside/secret.txt",
    b"/%2e%2e%5coutside%5csecret.txt",
    b"/static/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
]


@pytest.fixture(scope="module")
def web():
    with tempfile.TemporaryDirectory(prefix="tristack-web-") as tmp:
        lab = WebLab(tmp).start()
        try:
            yield lab
        finally:
            lab.close()


@pytest.mark.parametrize("target", HOSTILE, ids=[t[:40].decode(errors="replace") for t in HOSTILE])
def test_hostile_target_never_leaves_the_root(web, target):
    out = raw_http(web.ip, 8080, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    status = int(out[9:12])
    assert status in (400, 403, 404, 414), out[:200]
    assert SECRET.encode() not in out
    assert b"root:" not in out  # no /etc/passwd either
    assert b"X-Injected" not in out.split(b"\r\n\r\n")[0]


def test_there_are_at_least_30(web):
    assert len(HOSTILE) >= 30


def test_symlinks_inside_the_root_are_followed(web):
    out = raw_http(web.ip, 8080, b"GET /link-in HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 200") and b"<h1>home</h1>" in out


def test_encoded_names_that_stay_inside_are_served(web):
    out = raw_http(web.ip, 8080, b"GET /name%20with%20space.txt HTTP/1.1\r\nHost: x\r\n"
                                 b"Connection: close\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 200") and out.endswith(b"spaced\n")
    out = raw_http(web.ip, 8080, b"GET /static/../index.html HTTP/1.1\r\nHost: x\r\n"
                                 b"Connection: close\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 200") and b"<h1>home</h1>" in out
