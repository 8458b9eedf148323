"""The app's defences (issue 13): a read-your-writes cookie is honoured only
when this stack signed it and the primary has its GTID; other sites cannot
make a browser post (the API takes only JSON, the form a token of its own
page, and no cross-site Origin / Sec-Fetch-Site); pages carry a CSP,
X-Frame-Options and nosniff; cookies are Secure over HTTPS."""
import base64
import hashlib
import hmac
import http.client
import json
import os
import re

import pytest

from applab import COOKIE, Client, app_metrics
from conftest import wait_for

CSP = ("default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; "
       "object-src 'none'")
WAITS = "tristack_app_db_gtid_waits_total"


def rejected(reason):
    return f'tristack_app_gtid_cookie_rejected_total{{reason="{reason}"}}'


def both_apps(stack):
    """The two apps' metrics, summed."""
    m = {}
    for ip in (f"{stack.net}.2", f"{stack.net}.3"):
        for k, v in app_metrics(stack, ip).items():
            m[k] = m.get(k, 0) + v
    return m


@pytest.fixture
def replica_read(stack):
    """Both apps read from the replica (its lag known and small): a cookie
    matters only there, where a read would wait for its GTID."""
    lag = 'tristack_app_db_replica_lag_seconds{server="web-02"}'
    wait_for(lambda: all(0 <= app_metrics(stack, f"{stack.net}.{i}")[lag] < 1 for i in (2, 3)),
             timeout=20, what="both apps reading from the replica")
    return stack


def signed(stack, gtid):
    """A cookie value as the app signs one, with the stack's own key."""
    with open(os.path.join(stack.state, "secrets", "cookie.key"), "rb") as f:
        key = f.read().strip()
    mac = hmac.new(key, b"gtid\0" + gtid.encode(), hashlib.sha256).digest()
    return gtid + "." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def posted(c, what):
    """A new post's id, once the replica has it too (so that a read without
    a cookie, as a rejected one is answered, finds it)."""
    st, _, post = c.post("sec", what)
    assert st == 201
    wait_for(lambda: c.get_json(f"/api/posts/{post['id']}")[0] == 200, timeout=10,
             what="the post on both databases")
    return post


def test_a_forged_gtid_cookie_never_makes_a_read_wait(replica_read):
    stack = replica_read
    """The issue's cookie, a plausible unsigned one, a made-up MAC: ignored,
    counted, and the read is answered as without a cookie."""
    for forged in ("4000000000-1-18446744073709551615", "0-1-1", "0-1-1." + "A" * 43):
        c = Client(stack.url, cookies=False)
        post = posted(c, "forged")
        before = both_apps(stack)
        for _ in range(5):
            st, _, got = c.request("GET", f"/api/posts/{post['id']}",
                                   headers={"Cookie": f"{COOKIE}={forged}"})
            assert st == 200
        after = both_apps(stack)
        assert after[WAITS] == before[WAITS], forged
        assert after.get(rejected("signature"), 0) - before.get(rejected("signature"), 0) == 5


def test_a_signed_gtid_ahead_of_the_primary_is_ignored(replica_read):
    stack = replica_read
    """Even a correctly signed GTID is honoured only if the primary has it;
    and a real MAC moved to another GTID is no signature."""
    future = signed(stack, "0-1-18446744073709551615")
    c = Client(stack.url, cookies=False)
    post = posted(c, "ahead")
    moved = "0-1-2." + signed(stack, "0-1-1").split(".")[1]
    before = both_apps(stack)
    st, _, _ = c.request("GET", f"/api/posts/{post['id']}",
                         headers={"Cookie": f"{COOKIE}={moved}"})
    assert st == 200
    for _ in range(5):
        st, _, _ = c.request("GET", f"/api/posts/{post['id']}",
                             headers={"Cookie": f"{COOKIE}={future}"})
        assert st == 200
    after = both_apps(stack)
    assert after[WAITS] == before[WAITS]
    assert after.get(rejected("ahead"), 0) - before.get(rejected("ahead"), 0) == 5
    assert after.get(rejected("signature"), 0) - before.get(rejected("signature"), 0) == 1


def test_the_cookie_the_app_signed_is_honoured(replica_read):
    stack = replica_read
    c = Client(stack.url)
    st, h, post = c.post("sec", "genuine")
    assert st == 201
    assert re.match(r"\d+-\d+-\d+\.[A-Za-z0-9_-]{43}$", c.cookie)
    assert c.cookie == signed(stack, c.cookie.split(".")[0])
    before = both_apps(stack)
    for _ in range(5):
        st, _, got = c.get_json(h["location"])
        assert st == 200 and got == post
    after = both_apps(stack)
    assert after[WAITS] - before[WAITS] == 5
    assert after[rejected("signature")] == before[rejected("signature")]
    assert after[rejected("ahead")] == before[rejected("ahead")]


def test_the_api_takes_only_json(stack):
    """A body another site's page can send without a CORS preflight (no
    Content-Type, text/plain, a form) is 415 with a JSON error."""
    c = Client(stack.url)
    doc = json.dumps({"author": "sec", "body": "content type"}).encode()
    for ctype in (None, "text/plain", "text/plain;charset=UTF-8",
                  "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                  "application/jsonx", ""):
        h = {} if ctype is None else {"Content-Type": ctype}
        st, hd, body = c.request("POST", "/api/posts", body=doc, headers=h)
        assert st == 415, ctype
        assert hd["content-type"] == "application/json"
        assert json.loads(body) == {"error": "send the post as Content-Type: application/json"}
    for ctype in ("application/json", "application/json; charset=utf-8", "Application/JSON"):
        st, _, _ = c.request("POST", "/api/posts", body=doc, headers={"Content-Type": ctype})
        assert st == 201, ctype


def form(c, token, **extra):
    body = f"author=sec&body=form+test&csrf={token}".encode()
    return c.request("POST", "/posts", body=body,
                     headers={"Content-Type": "application/x-www-form-urlencoded", **extra})


def test_a_form_post_needs_the_token_of_its_page(stack):
    c = Client(stack.url)
    token = c.form_token()
    nonce_cookie = [k for k in c.cookies if k.endswith("tristack_csrf")]
    assert nonce_cookie == ["__Host-tristack_csrf"]  # over HTTPS
    cases = {
        "no token": b"author=sec&body=x",
        "empty token": b"author=sec&body=x&csrf=",
        "a wrong token": b"author=sec&body=x&csrf=" + b"A" * 43,
        "a token cut short": b"author=sec&body=x&csrf=" + token[:-1].encode(),
    }
    for what, body in cases.items():
        st, h, page = c.request("POST", "/posts", body=body,
                                headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert st == 403, what
        assert h["content-type"].startswith("text/html")
        assert b"the form has expired or did not come from this site" in page, what
    # the right token, but not the nonce cookie it was made for
    other = Client(stack.url)
    other.form_token()
    c2 = Client(stack.url)
    c2.cookies = dict(other.cookies)
    assert form(c2, token)[0] == 403
    c3 = Client(stack.url)  # no cookie at all
    assert form(c3, token)[0] == 403
    # the page's own token and cookie: posted; the same nonce serves again
    st, h, _ = form(c, token)
    assert st == 303 and h["location"] == "/"
    assert c.form_token() == token
    assert form(c, token)[0] == 303


def test_cross_site_form_posts_are_403(stack):
    c = Client(stack.url)
    token = c.form_token()
    origin = stack.url  # https://ADDR:8443, as a browser names the site
    for what, h in (("Sec-Fetch-Site cross-site", {"Sec-Fetch-Site": "cross-site"}),
                    ("Sec-Fetch-Site same-site", {"Sec-Fetch-Site": "same-site"}),
                    ("another origin", {"Origin": "https://evil.example"}),
                    ("the site over plain HTTP", {"Origin": origin.replace("https", "http")}),
                    ("an opaque origin", {"Origin": "null"}),
                    ("ours, but cross-site", {"Origin": origin, "Sec-Fetch-Site": "cross-site"})):
        st, hd, page = form(c, token, **h)
        assert st == 403, what
        assert b"posts from other sites are refused" in page, what
    for what, h in (("same-origin", {"Origin": origin, "Sec-Fetch-Site": "same-origin"}),
                    ("typed by the user", {"Sec-Fetch-Site": "none"}),
                    ("an older browser", {})):
        assert form(c, token, **h)[0] == 303, what
    m = both_apps(stack)
    assert m["tristack_app_form_rejected_total"] >= 6


def test_pages_carry_csp_frame_and_nosniff_headers(stack):
    c = Client(stack.url)
    st, h, page = c.request("GET", "/")
    assert st == 200
    assert h["content-security-policy"] == CSP
    assert h["x-frame-options"] == "DENY"
    assert h["x-content-type-options"] == "nosniff"
    # the page runs nothing inline that the policy would block
    assert b"<script" not in page and b"style=" not in page and b"<style" not in page
    assert re.match(r"__Host-tristack_csrf=[A-Za-z0-9_-]{22}; Path=/; HttpOnly; SameSite=Lax; "
                    r"Secure$", h["set-cookie"])
    st, h, _ = c.request("POST", "/posts", body=b"author=a&body=b",
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert st == 403 and h["content-security-policy"] == CSP
    for path in ("/api/hello", "/api/posts?limit=1", "/api/posts/999999999", "/api/nope"):
        st, h, _ = c.request("GET", path)
        assert h["content-type"] == "application/json", path
        assert h["x-content-type-options"] == "nosniff", path


def test_cookies_are_secure_only_over_https(stack):
    """Straight to an app: without the LB's X-Forwarded-Proto: https the
    cookies cannot be Secure (the browser would drop them), and the form's
    cookie cannot take the __Host- name."""
    def get_home(headers):
        conn = http.client.HTTPConnection(f"{stack.net}.2", 9000, timeout=5)
        conn.request("GET", "/", headers=headers)
        r = conn.getresponse()
        r.read()
        conn.close()
        return r.getheader("Set-Cookie")
    plain = get_home({})
    assert re.match(r"tristack_csrf=[A-Za-z0-9_-]{22}; Path=/; HttpOnly; SameSite=Lax$", plain)
    tls = get_home({"X-Forwarded-Proto": "https"})
    assert tls.startswith("__Host-tristack_csrf=") and tls.endswith("; Secure")
