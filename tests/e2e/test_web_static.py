"""tristack-web's static files, as a user of nginx expects them: index files,
MIME types, validators and 304, ranges, gzip (precompressed and on the fly),
Cache-Control, custom error pages, autoindex."""
import gzip
import re
import tempfile

import pytest

from conftest import raw_http
from lab import http
from weblab import WebLab


@pytest.fixture(scope="module")
def web():
    with tempfile.TemporaryDirectory(prefix="tristack-web-") as tmp:
        lab = WebLab(tmp, "cache = /static/ 1d\nerror_page = 404 /404.html\n").start()
        try:
            yield lab
        finally:
            lab.close()


def test_get_and_head(web):
    st, h, body = http(web.url + "/")
    assert st == 200 and body == b"<!doctype html><h1>home</h1>\n"
    assert h["Content-Type"] == "text/html; charset=utf-8"
    assert h["X-Served-By"] == "web-01"
    st, h, body = http(web.url + "/", method="HEAD")
    assert st == 200 and body == b"" and h["Content-Length"] == "29"


def test_directories(web):
    assert http(web.url + "/docs/")[2] == b"<h1>docs</h1>\n"
    out = raw_http(web.ip, 8080, b"GET /docs?x=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 301") and b"\r\nLocation: /docs/?x=1\r\n" in out
    assert http(web.url + "/empty/")[0] == 403  # no index, autoindex off


def test_mime_types_from_etc_mime_types(web):
    cases = {"/static/app.css": "text/css; charset=utf-8",
             "/static/logo.png": "image/png",
             "/book.epub": "application/epub+zip",  # only /etc/mime.types knows it
             "/big.txt": "text/plain; charset=utf-8"}
    for path, want in cases.items():
        assert http(web.url + path)[1]["Content-Type"] == want, path


def test_validators_and_304(web):
    st, h, _ = http(web.url + "/big.txt")
    etag, lm = h["ETag"], h["Last-Modified"]
    assert re.fullmatch(r'"[0-9a-f]+-[0-9a-f]+"', etag)
    assert http(web.url + "/big.txt", headers={"If-None-Match": etag})[0] == 304
    assert http(web.url + "/big.txt", headers={"If-None-Match": '"other", ' + etag})[0] == 304
    assert http(web.url + "/big.txt", headers={"If-None-Match": '"other"'})[0] == 200
    assert http(web.url + "/big.txt", headers={"If-Modified-Since": lm})[0] == 304
    assert http(web.url + "/big.txt",
                headers={"If-Modified-Since": "Sun, 06 Nov 1994 08:49:37 GMT"})[0] == 200
    st, h, body = http(web.url + "/big.txt", headers={"If-None-Match": etag})
    assert body == b"" and h["ETag"] == etag


def test_ranges(web):
    full = http(web.url + "/big.txt")[2]
    st, h, body = http(web.url + "/big.txt", headers={"Range": "bytes=10-19"})
    assert st == 206 and body == full[10:20]
    assert h["Content-Range"] == f"bytes 10-19/{len(full)}"
    st, _, body = http(web.url + "/big.txt", headers={"Range": "bytes=-5"})
    assert st == 206 and body == full[-5:]
    st, h, body = http(web.url + "/big.txt", headers={"Range": "bytes=0-3, 50-53"})
    assert st == 206
    m = re.fullmatch(r"multipart/byteranges; boundary=(\S+)", h["Content-Type"])
    assert m
    parts = body.split(b"--" + m.group(1).encode())
    assert len(parts) == 4 and parts[-1].strip() == b"--"
    assert parts[1].endswith(b"\r\n\r\n" + full[0:4] + b"\r\n")
    assert b"Content-Range: bytes 50-53/" in parts[2] and full[50:54] in parts[2]
    st, h, _ = http(web.url + "/big.txt", headers={"Range": "bytes=999999-"})
    assert st == 416 and h["Content-Range"] == f"bytes */{len(full)}"
    assert http(web.url + "/big.txt", headers={"Range": "pages=1-2"})[0] == 200  # ignored
    # If-Range with an old validator: the whole file
    st, _, body = http(web.url + "/big.txt", headers={"Range": "bytes=0-1", "If-Range": '"old"'})
    assert st == 200 and body == full
    etag = http(web.url + "/big.txt")[1]["ETag"]
    assert http(web.url + "/big.txt", headers={"Range": "bytes=0-1", "If-Range": etag})[0] == 206


def test_precompressed_gz_beside_the_file(web):
    st, h, body = http(web.url + "/static/pre.js", headers={"Accept-Encoding": "gzip"})
    assert h["Content-Encoding"] == "gzip" and h["Vary"] == "Accept-Encoding"
    assert gzip.decompress(body) == b"console.log('precompressed');\n"
    st, h, body = http(web.url + "/static/pre.js")
    assert "Content-Encoding" not in h and body.startswith(b"console.log('plain')")
    st, h, _ = http(web.url + "/static/pre.js", headers={"Accept-Encoding": "gzip;q=0"})
    assert "Content-Encoding" not in h


def test_gzip_on_the_fly_for_text_above_the_size(web):
    plain = http(web.url + "/static/app.css")[2]
    st, h, body = http(web.url + "/static/app.css", headers={"Accept-Encoding": "br, gzip"})
    assert h["Content-Encoding"] == "gzip" and gzip.decompress(body) == plain
    assert len(body) < len(plain) / 10
    assert h["ETag"].startswith('W/"')
    st, h, _ = http(web.url + "/static/small.css", headers={"Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in h  # under gzip_min_size
    st, h, _ = http(web.url + "/static/logo.png", headers={"Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in h  # not a text type


def test_cache_control_for_static(web):
    assert http(web.url + "/static/app.css")[1]["Cache-Control"] == "public, max-age=86400"
    assert "Cache-Control" not in http(web.url + "/big.txt")[1]


def test_custom_error_page(web):
    st, h, body = http(web.url + "/missing.html")
    assert st == 404 and body == b"<!doctype html><h1>custom not found</h1>\n"
    assert h["Content-Type"] == "text/html; charset=utf-8" and h["X-Served-By"] == "web-01"


def test_method_not_allowed_and_bad_request_carry_x_served_by(web):
    st, h, _ = http(web.url + "/index.html", method="POST", data=b"x")
    assert st == 405 and h["Allow"] == "GET, HEAD"
    out = raw_http(web.ip, 8080, b"GET / HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 400") and b"\r\nX-Served-By: web-01\r\n" in out


def test_autoindex_when_turned_on():
    with tempfile.TemporaryDirectory(prefix="tristack-web-") as tmp:
        lab = WebLab(tmp, "autoindex = yes\n").start()
        try:
            st, h, body = http(lab.url + "/")
            assert st == 200  # index.html wins
            st, h, body = http(lab.url + "/static/")
            assert st == 200 and h["Content-Type"] == "text/html; charset=utf-8"
            assert b'<a href="app.css">app.css</a>' in body
            assert b'<a href="pre.js.gz">pre.js.gz</a>' in body
            st, _, body = http(lab.url + "/empty/")
            assert st == 200 and b".keep" not in body  # dotfiles are not listed
            assert http(lab.url + "/docs/")[2] == b"<h1>docs</h1>\n"  # an index wins
        finally:
            lab.close()


def test_open_file_cache_sees_changes_within_its_period():
    """Files are kept open (small ones in memory) for file_cache; a change, a
    removal, or a symlink swapped in that leads out shows within that time."""
    import os
    import time

    from conftest import wait_for
    from weblab import SECRET
    with tempfile.TemporaryDirectory(prefix="tristack-web-") as tmp:
        lab = WebLab(tmp, "file_cache = 300ms\n").start()
        try:
            path = os.path.join(lab.root, "changing.txt")
            with open(path, "w") as f:
                f.write("one")
            assert http(lab.url + "/changing.txt")[2] == b"one"
            with open(path, "w") as f:
                f.write("two, longer")
            t0 = time.monotonic()
            wait_for(lambda: http(lab.url + "/changing.txt")[2] == b"two, longer", timeout=3,
                     what="the new content")
            assert time.monotonic() - t0 < 1.0
            os.unlink(path)
            os.symlink(os.path.join(tmp, "outside", "secret.txt"), path)
            wait_for(lambda: http(lab.url + "/changing.txt")[0] in (403, 404), timeout=3,
                     what="the symlink refused")
            assert SECRET.encode() not in http(lab.url + "/changing.txt")[2]
            os.unlink(path)
            wait_for(lambda: http(lab.url + "/changing.txt")[0] == 404, timeout=3,
                     what="the removal seen")
            # a large file (kept open, not in memory) changes too
            big = os.path.join(lab.root, "large.bin")
            with open(big, "wb") as f:
                f.write(b"a" * 100000)
            assert http(lab.url + "/large.bin")[2] == b"a" * 100000
            with open(big, "wb") as f:
                f.write(b"b" * 50000)
            wait_for(lambda: http(lab.url + "/large.bin")[2] == b"b" * 50000, timeout=3,
                     what="the new large content")
        finally:
            lab.close()


def test_file_cache_zero_checks_every_request():
    import os
    with tempfile.TemporaryDirectory(prefix="tristack-web-") as tmp:
        lab = WebLab(tmp, "file_cache = 0\n").start()
        try:
            path = os.path.join(lab.root, "now.txt")
            for i in range(5):
                with open(path, "w") as f:
                    f.write(f"version {i}" + "x" * i)
                assert http(lab.url + "/now.txt")[2] == (f"version {i}" + "x" * i).encode()
        finally:
            lab.close()
