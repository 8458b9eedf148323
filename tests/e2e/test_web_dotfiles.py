"""Dotfiles in the document root are not served (issue 13, finding 9a): a
path with a segment starting with '.' (/.env, /.git/config, however it is
spelt) is 404, as with nginx's usual `location ~ /\\. { deny all; }`, while
/.well-known/ (ACME challenges, RFC 8615) still is; `dotfiles = yes` serves
them all."""
import os
import tempfile

import pytest

from conftest import raw_http
from lab import http
from weblab import WebLab

SECRETS = {".env": "DB_PASSWORD=hunter2\n", ".git/config": "[core]\n\tbare = false\n",
           "static/.htpasswd": "admin:$apr1$x\n", ".well-known/.private": "not this\n"}
TOKEN = ".well-known/acme-challenge/tok3n"


def lab_with_dotfiles(tmp, extra=""):
    lab = WebLab(tmp, extra)
    for name, text in {**SECRETS, TOKEN: "tok3n.key\n"}.items():
        path = os.path.join(lab.root, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        for d in (os.path.dirname(path), os.path.dirname(os.path.dirname(path))):
            os.chmod(d, 0o755)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o644)
    return lab.start()


@pytest.fixture(scope="module")
def web():
    with tempfile.TemporaryDirectory(prefix="tristack-web-") as tmp:
        lab = lab_with_dotfiles(tmp)
        try:
            yield lab
        finally:
            lab.close()


@pytest.mark.parametrize("target", [
    "/.env", "/.git/config", "/.git/", "/static/.htpasswd", "/.well-known/.private",
    "/%2eenv", "/%2Egit/config", "/static/../.env", "/./.env", "//.env", "/.env?x=1",
    "/static/%2ehtpasswd",
])
def test_dotfiles_are_404(web, target):
    out = raw_http(web.ip, 8080, f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                   .encode())
    assert out.startswith(b"HTTP/1.1 404 "), (target, out[:200])
    for secret in SECRETS.values():
        assert secret.encode() not in out


def test_well_known_is_served(web):
    st, _, body = http(f"{web.url}/{TOKEN}")
    assert st == 200 and body == b"tok3n.key\n"
    assert http(web.url + "/index.html")[0] == 200


def test_dotfiles_yes_serves_them():
    with tempfile.TemporaryDirectory(prefix="tristack-web-") as tmp:
        lab = lab_with_dotfiles(tmp, "dotfiles = yes\n")
        try:
            st, _, body = http(lab.url + "/.env")
            assert st == 200 and body == SECRETS[".env"].encode()
        finally:
            lab.close()


def test_static_html_says_nosniff_and_is_never_framed(web):
    """Issue 13, finding 9: the site's HTML carries nosniff, a CSP with
    frame-ancestors 'none' and X-Frame-Options, whoever serves it: here the
    web server's own static pages (the app's board has them too)."""
    st, h, _ = http(web.url + "/index.html")
    assert st == 200 and h["Content-Type"].startswith("text/html")
    assert h["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'none'" in h["Content-Security-Policy"]
    assert "default-src 'self'" in h["Content-Security-Policy"]
    assert h["X-Frame-Options"] == "DENY"
    st, h, _ = http(f"{web.url}/{TOKEN}")  # not HTML: nosniff alone
    assert st == 200 and h["X-Content-Type-Options"] == "nosniff"
    assert "content-security-policy" not in h and "x-frame-options" not in h


def test_csp_empty_sends_none():
    with tempfile.TemporaryDirectory(prefix="tristack-web-") as tmp:
        lab = lab_with_dotfiles(tmp, "csp =\n")
        try:
            st, h, _ = http(lab.url + "/index.html")
            assert st == 200 and "content-security-policy" not in h
            assert h["X-Content-Type-Options"] == "nosniff"
        finally:
            lab.close()
