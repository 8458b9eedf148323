"""The message board through the load balancer: posts in and out, paging,
validation, escaping, read-your-writes across the web servers, /healthz and
the app's database metrics."""
import json
import time
import re
import secrets

from applab import Client, app_metrics, db_query
from conftest import curl, wait_for


def tag():
    return "t" + secrets.token_hex(4)


def test_post_then_get_the_same_post(stack):
    c = Client(stack.url)
    author = tag()
    st, h, post = c.post(author, "hello, board")
    assert st == 201, post
    assert h["content-type"] == "application/json"
    assert h["location"] == f"/api/posts/{post['id']}"
    # GTID.MAC, and Secure: the client came over HTTPS
    assert re.match(r"tristack_gtid=\d+-\d+-\d+\.[A-Za-z0-9_-]{43}; Path=/; Max-Age=\d+; "
                    r"HttpOnly; SameSite=Lax; Secure$", h["set-cookie"])
    assert post["author"] == author and post["body"] == "hello, board"
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$", post["created_at"])
    st, _, got = c.get_json(h["location"])
    assert st == 200
    assert got == post
    # the row itself, on the primary
    rows = db_query(stack, "web-01", f"SELECT author, body FROM foobar.posts WHERE id = {post['id']}")
    assert rows == [(author, "hello, board")]


def test_unknown_posts_are_404(stack):
    c = Client(stack.url)
    for path in ("/api/posts/999999999999", "/api/posts/0", "/api/posts/abc",
                 "/api/posts/1x", "/api/posts/-1", "/api/posts/99999999999999999999999"):
        st, h, body = c.get_json(path)
        assert st == 404, path
        assert body == {"error": "no such post"}


def test_paging_with_a_cursor(stack):
    c = Client(stack.url)
    ids = [c.post(tag(), f"page test {i}")[2]["id"] for i in range(5)]
    st, _, page = c.get_json("/api/posts?limit=2")
    assert st == 200
    assert [p["id"] for p in page["posts"]][:2] == sorted(ids, reverse=True)[:2]
    # follow the cursor through the five, newest first, nothing twice
    seen, url = [], "/api/posts?limit=2"
    while url and len(seen) < 5:
        st, _, page = c.get_json(url)
        assert st == 200 and 1 <= len(page["posts"]) <= 2
        seen += [p["id"] for p in page["posts"]]
        url = page["next"]
    assert seen[:5] == sorted(ids, reverse=True)
    st, _, page = c.get_json(f"/api/posts?limit=3&before={ids[2]}")
    assert [p["id"] for p in page["posts"]][:2] == [ids[1], ids[0]]
    st, _, page = c.get_json("/api/posts")
    assert st == 200 and len(page["posts"]) <= 20
    st, _, page = c.get_json("/api/posts?before=1")
    assert page == {"posts": [], "next": None}


def test_bad_paging_parameters_are_400(stack):
    c = Client(stack.url)
    for q in ("limit=0", "limit=101", "limit=abc", "limit=-5", "before=x", "before=0",
              "limit=%zz"):
        st, h, body = c.get_json("/api/posts?" + q)
        assert st == 400, q
        assert h["content-type"] == "application/json"
        assert "error" in body


def test_validation_errors_are_400_with_a_json_error(stack):
    c = Client(stack.url)
    cases = [
        ({"author": "", "body": "x"}, "author must be 1 to 64 characters"),
        ({"author": "a" * 65, "body": "x"}, "author must be 1 to 64 characters"),
        ({"author": "a", "body": ""}, "body must be 1 to 4000 bytes"),
        ({"author": "a", "body": "b" * 4001}, "body must be 1 to 4000 bytes"),
        ({"author": "a", "body": "é" * 2001}, "body must be 1 to 4000 bytes"),  # 4002 bytes
        ({"author": "a"}, "author and body are required strings"),
        ({"author": 5, "body": "x"}, "author and body are required strings"),
        ({"author": "a\u0000b", "body": "x"}, "author and body must not contain NUL"),
    ]
    for doc, err in cases:
        st, h, body = c.request("POST", "/api/posts", body=json.dumps(doc).encode(),
                                headers={"Content-Type": "application/json"})
        assert st == 400, doc
        assert h["content-type"] == "application/json"
        assert json.loads(body) == {"error": err}, doc
    for raw in (b"not json", b"[1,2]", b'{"author":"a","author":"b","body":"x"}', b"",
                b'{"author":"\xff\xfe","body":"x"}'):
        st, _, body = c.request("POST", "/api/posts", body=raw,
                                headers={"Content-Type": "application/json"})
        assert st == 400, raw
        assert json.loads(body) == {"error": "the body must be a JSON object"}
    st, _, body = c.request("POST", "/api/posts", body=b"author=a&body=b",
                            headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert st == 415
    # the limits are inclusive: 64 characters (of any width), 4000 bytes
    st, _, post = c.post("é" * 64, "b" * 4000)
    assert st == 201 and post["author"] == "é" * 64 and len(post["body"]) == 4000


def test_a_body_over_16k_is_413(stack):
    c = Client(stack.url)
    doc = json.dumps({"author": "a", "body": "x" * 17000}).encode()
    st, h, body = c.request("POST", "/api/posts", body=doc,
                            headers={"Content-Type": "application/json"})
    assert st == 413
    assert json.loads(body) == {"error": "Content Too Large"}


def test_sql_injection_strings_are_stored_verbatim(stack):
    c = Client(stack.url)
    nasty = ["'; DROP TABLE posts; --", "Robert'); DROP TABLE students;--",
             "1' OR '1'='1", "\" OR \"\"=\"", "\\'; SELECT SLEEP(5); --", "%' OR 1=1 #",
             "0x27 UNION SELECT user, password FROM mysql.user --", "`id`", "\\\\ \\n \\0",
             "😀 ünïcødé ✓"]
    for s in nasty:
        st, _, post = c.post(s[:64], s)
        assert st == 201, s
        st, _, got = c.get_json(f"/api/posts/{post['id']}")
        assert got["author"] == s[:64] and got["body"] == s
    assert db_query(stack, "web-01", "SELECT COUNT(*) > 0 FROM foobar.posts") == [("1",)]


def test_the_page_escapes_what_users_wrote(stack):
    c = Client(stack.url)
    author = "<img src=x onerror=alert(1)>"
    body = "<script>alert('xss')</script> & \"quotes\""
    st, _, post = c.post(author, body)
    assert st == 201
    st, h, page = c.request("GET", "/")
    assert st == 200 and h["content-type"] == "text/html; charset=utf-8"
    page = page.decode()
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "&lt;script&gt;alert(&#39;xss&#39;)&lt;/script&gt; &amp; &quot;quotes&quot;" in page
    assert "<script>" not in page and "<img" not in page
    assert f'id="post-{post["id"]}"' in page


def test_the_form_posts_and_redirects_home(stack):
    c = Client(stack.url)
    author = tag()
    st, h, _ = c.post_form({"author": author, "body": "from the form & more"})
    assert st == 303
    assert h["location"] == "/"
    assert c.cookie
    st, _, page = c.request("GET", "/")
    assert st == 200
    assert f"<strong>{author}</strong>".encode() in page
    assert b"from the form &amp; more" in page
    # a bad form is a 400 page that says why
    st, h, page = c.post_form({"author": "", "body": "x"})
    assert st == 400 and h["content-type"].startswith("text/html")
    assert b"author must be 1 to 64 characters" in page
    token = c.form_token()
    st, _, page = c.request("POST", "/posts", body=b"author=a&body=%ff&csrf=" + token.encode(),
                            headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert st == 400 and b"UTF-8" in page


def test_home_page_shows_twenty_newest_and_links_older(stack):
    c = Client(stack.url)
    ids = [c.post(tag(), f"home {i}")[2]["id"] for i in range(21)]
    st, _, page = c.request("GET", "/")
    shown = [int(x) for x in re.findall(rb'<article id="post-(\d+)">', page)]
    assert len(shown) == 20
    assert shown == sorted(shown, reverse=True)
    assert shown[0] == ids[-1]
    older = re.search(rb'<a href="/\?before=(\d+)">Older posts</a>', page)
    assert older and int(older.group(1)) == shown[-1]
    st, _, page = c.request("GET", f"/?before={shown[-1]}")
    assert int(re.findall(rb'<article id="post-(\d+)">', page)[0]) < shown[-1]


def test_methods_are_checked(stack):
    c = Client(stack.url)
    st, _, body = c.request("DELETE", "/api/posts/1")
    assert st == 405 and json.loads(body) == {"error": "method not allowed"}
    st, _, body = c.request("PUT", "/api/posts", body=b"{}")
    assert st == 405


def test_read_your_writes_across_web_servers_1000_times(stack):
    """POST then GET of the same post, 1000 times; the load balancer's round
    robin sends the two to different web servers (and so different apps);
    the GET carries the cookie and must always find the post."""
    c = Client(stack.url)
    misses, crossed = [], 0
    for i in range(1000):
        st, h, post = c.post("ryw", f"read your writes {i}")
        assert st == 201, post
        st2, h2, got = c.get_json(h["location"])
        if st2 != 200 or got != post:
            misses.append((i, st2, got))
        crossed += h["x-served-by"] != h2["x-served-by"]
    assert misses == []
    assert crossed >= 900, f"only {crossed} pairs crossed web servers"


def test_healthz_names_the_databases(stack):
    st, h, body = curl(stack.url + "/healthz")
    assert st == 200
    doc = json.loads(body)
    assert doc["status"] == "ok"
    assert doc["databases"]["web-01"]["up"] is True
    assert doc["databases"]["web-01"]["role"] == "primary"
    assert doc["databases"]["web-02"]["role"] == "replica"


def test_a_replica_that_has_everything_lags_zero(stack):
    """Lag is the primary's newest heartbeat minus the replica's: 0 when the
    replica has caught up, not the 0-0.5 s since the last heartbeat."""
    series = 'tristack_app_db_replica_lag_seconds{server="web-02"}'

    def zero_for_a_second():
        for _ in range(6):  # over two heartbeats of each app
            for ip in (f"{stack.net}.2", f"{stack.net}.3"):
                if app_metrics(stack, ip)[series] != 0:
                    return False
            time.sleep(0.2)
        return True
    wait_for(zero_for_a_second, timeout=20, what="a replica lag of 0 for a second")
    for ip in (f"{stack.net}.2", f"{stack.net}.3"):
        assert app_metrics(stack, ip)['tristack_app_db_replica_lag_seconds{server="web-01"}'] == 0


def test_metrics_show_queries_by_target_and_pools(stack):
    c = Client(stack.url, cookies=False)
    st, _, post = c.post(tag(), "metrics")
    for _ in range(20):
        c.get_json(f"/api/posts/{post['id']}")
    m = {}
    for ip in (f"{stack.net}.2", f"{stack.net}.3"):
        for k, v in app_metrics(stack, ip).items():
            m[k] = m.get(k, 0) + v
    assert m['tristack_app_db_queries_total{target="primary"}'] >= 1
    assert m['tristack_app_db_queries_total{target="replica"}'] >= 10
    assert m['tristack_app_db_up{server="web-01"}'] == 2  # both apps see both
    assert m['tristack_app_db_pool_connections{server="web-02"}'] > 0
    assert 'tristack_app_db_read_fallbacks_total{reason="replica_lag"}' in m
    assert 0 <= m['tristack_app_db_replica_lag_seconds{server="web-02"}'] < 10
    assert m['tristack_app_http_request_duration_seconds_count'] > 0
