"""A corpus of malformed and adversarial HTTP/1.1 requests (issue 9).

corpus(path, host) gives (name, bytes, kind) for a front end whose ordinary
resource is `path`. Every request that would smuggle carries a second
request for a path starting with `smuggled_path(name)`, placed where only a
parser that frames the message wrongly would read it as a request (inside a
body, or behind a request that must end the connection); the test asserts no
such request ever reaches a backend. kind:
  "bad"  - must be refused: a 4xx, or the connection closed with no answer
  "odd"  - legal but unusual: it must reach the backend and the backend's
           answer must come back (tests/e2e/test_hostile.py judges)
Built from families (CL/TE, chunk sizes, lengths, bytes, versions, targets,
desync); the names say which."""

MARK = "/SMUGGLED"


def smuggled_path(base, name):
    """The marker path for one entry: under base's folder, so that a web
    server would send it on to the app if it ever parsed it as a request."""
    folder = base.rsplit("/", 1)[0]
    return f"{folder}{MARK}-{name}"


def corpus(path="/", host="x"):
    out = []

    def add(kind, name, data):
        if isinstance(data, str):
            data = data.encode("latin-1")
        out.append((name, data, kind))

    def smug(name):
        s = smuggled_path(path, name)
        return f"GET {s} HTTP/1.1\r\nHost: {host}\r\n\r\n"

    def post(name, headers, body):
        return f"POST {path} HTTP/1.1\r\nHost: {host}\r\n{headers}\r\n{body}"

    # ---- CL.TE and TE.CL: Transfer-Encoding spelled every way a parser
    # may disagree with another about ----
    te_values = [
        ("plain", "chunked"), ("upper", "CHUNKED"), ("lead-space", " chunked"),
        ("trail-space", "chunked "), ("tab", "\tchunked"), ("trail-tab", "chunked\t"),
        ("identity-chunked", "identity, chunked"), ("chunked-identity", "chunked, identity"),
        ("xchunked", "xchunked"), ("chunked-x", "chunkedx"), ("chunk", "chunk"),
        ("quoted", '"chunked"'), ("comma", "chunked,"), ("lead-comma", ", chunked"),
        ("gzip-chunked", "gzip, chunked"), ("chunked-gzip", "chunked, gzip"),
        ("param", "chunked;q=1.0"), ("nul", "chunked\x00"), ("vtab", "\x0bchunked"),
        ("ff", "chunked\x0c"), ("cr", "chunked\r"), ("empty", ""),
        ("chunked-chunked", "chunked, chunked"), ("latin1", "chunked\xe9"),
    ]
    for tag, v in te_values:
        body = f"0\r\n\r\n{smug('clte-' + tag)}"
        add("bad", f"clte-{tag}",
            post("", f"Content-Length: {len(body)}\r\nTransfer-Encoding: {v}\r\n", body))
        hidden = smug("tecl-" + tag)
        add("bad", f"tecl-{tag}",
            post("", f"Transfer-Encoding: {v}\r\nContent-Length: 4\r\n",
                 f"{len(hidden):x}\r\n{hidden}\r\n0\r\n\r\n"))
    # Transfer-Encoding alone but not a final "chunked": the length is unknown
    for tag, v in [("identity", "identity"), ("gzip", "gzip"), ("xchunked", "xchunked"),
                   ("chunked-identity", "chunked, identity"), ("empty", ""),
                   ("cr", "chunked\r"), ("nul", "chunked\x00")]:
        add("bad", f"te-alone-{tag}",
            post("", f"Transfer-Encoding: {v}\r\n", f"0\r\n\r\n{smug('te-alone-' + tag)}"))
    # the header's name bent
    for tag, h in [("space-colon", "Transfer-Encoding : chunked"),
                   ("tab-colon", "Transfer-Encoding\t: chunked"),
                   ("lead-space-name", " Transfer-Encoding: chunked"),
                   ("obs-fold", "Transfer-Encoding:\r\n chunked"),
                   ("obs-fold-tab", "X-A: b\r\n\tTransfer-Encoding: chunked"),
                   ("bare-lf", "X-A: b\nTransfer-Encoding: chunked"),
                   ("bare-cr", "X-A: b\rTransfer-Encoding: chunked"),
                   ("nul-name", "Transfer-Encoding\x00: chunked"),
                   ("two-te", "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity")]:
        body = f"0\r\n\r\n{smug('name-' + tag)}"
        add("bad", f"te-name-{tag}", post("", f"Content-Length: {len(body)}\r\n{h}\r\n", body))
    # chunked in HTTP/1.0 (no chunked coding there)
    add("bad", "te-http10",
        f"POST {path} HTTP/1.0\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n\r\n"
        f"0\r\n\r\n{smug('te-http10')}")

    # ---- Content-Length spelled wrong or twice ----
    for tag, h in [("two-differ", "Content-Length: 4\r\nContent-Length: 40"),
                   ("list-differ", "Content-Length: 4, 40"),
                   # a list of equal values too, as nginx (RFC 9110 8.6 allows either)
                   ("list-same", "Content-Length: 4, 4"),
                   ("two-same", "Content-Length: 4\r\nContent-Length: 4"),
                   ("plus", "Content-Length: +4"), ("minus", "Content-Length: -4"),
                   ("hex", "Content-Length: 0x4"), ("dot", "Content-Length: 4.0"),
                   ("space-in", "Content-Length: 4 0"), ("alpha", "Content-Length: 4a"),
                   ("empty", "Content-Length: "), ("overflow",
                                                   "Content-Length: 99999999999999999999999"),
                   ("huge-neg", "Content-Length: -99999999999999999999"),
                   ("nul", "Content-Length: 4\x00"), ("space-colon", "Content-Length : 4"),
                   ("obs-fold", "Content-Length:\r\n 4"),
                   ("comma-only", "Content-Length: ,"),
                   ("unicode-digit", "Content-Length: \xd9\xa4")]:
        add("bad", f"cl-{tag}", post("", f"{h}\r\n", f"xxxx{smug('cl-' + tag)}"))

    # ---- chunk sizes and extensions ----
    def chunked(tag, chunks):
        return post("", "Transfer-Encoding: chunked\r\n", chunks + smug("chunk-" + tag))
    for tag, c in [("not-hex", "g\r\nxxxxx\r\n0\r\n\r\n"), ("negative", "-1\r\nx\r\n0\r\n\r\n"),
                   ("0x", "0x5\r\nxxxxx\r\n0\r\n\r\n"), ("lead-space", " 5\r\nxxxxx\r\n0\r\n\r\n"),
                   ("overflow", "10000000000000000\r\nxx\r\n0\r\n\r\n"),
                   ("overflow-ffff", "ffffffffffffffffffff\r\nxx\r\n0\r\n\r\n"),
                   ("empty-size", "\r\nxx\r\n0\r\n\r\n"),
                   ("lf-only", "5\nxxxxx\n0\n\n"), ("cr-only", "5\rxxxxx\r0\r\r"),
                   ("data-too-long", "3\r\nxxxxxx\r\n0\r\n\r\n"),
                   ("data-no-crlf", "3\r\nxxx0\r\n\r\n"),
                   ("ext-nul", "5;a=\x00\r\nxxxxx\r\n0\r\n\r\n"),
                   ("ext-ctl", "5;a\x01\r\nxxxxx\r\n0\r\n\r\n"),
                   ("ext-bare-lf", "5;a\nxxxxx\r\n0\r\n\r\n"),
                   ("ext-long", "5;" + "a" * 20000 + "\r\nxxxxx\r\n0\r\n\r\n"),
                   ("ext-open-quote", '5;a="b\r\nxxxxx\r\n0\r\n\r\n'),
                   ("size-space-inside", "5 5\r\nxxxxx\r\n0\r\n\r\n"),
                   ("trailer-bad", "0\r\nBad Trailer: x\r\n\r\n"),
                   ("trailer-nul", "0\r\nX-T: a\x00b\r\n\r\n"),
                   ("trailer-fold", "0\r\nX-T: a\r\n b\r\n\r\n"),
                   ("last-no-crlf", "0\r\nGET")]:
        add("bad", f"chunk-{tag}", chunked(tag, c))

    # ---- lengths: request line, headers, many headers ----
    add("bad", "long-target-9k", f"GET {path}?{'a' * 9000} HTTP/1.1\r\nHost: {host}\r\n\r\n")
    add("bad", "long-target-100k", f"GET {path}?{'a' * 100000} HTTP/1.1\r\nHost: {host}\r\n\r\n")
    add("bad", "long-method", f"{'A' * 10000} {path} HTTP/1.1\r\nHost: {host}\r\n\r\n")
    add("bad", "long-header-value",
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nX-Big: {'b' * 10000}\r\n\r\n")
    add("bad", "long-header-name", f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{'N' * 10000}: v\r\n\r\n")
    add("bad", "many-headers",
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\n" + "".join(f"X-{i}: {i}\r\n" for i in range(2000))
        + "\r\n")
    add("bad", "many-empty-lines-then", "\r\n" * 5000 + f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n")

    # ---- NUL and control bytes wherever they can go ----
    for where, tmpl in [("method", "G{c}ET {p} HTTP/1.1\r\nHost: {h}\r\n\r\n"),
                        ("target", "GET {p}{c}x HTTP/1.1\r\nHost: {h}\r\n\r\n"),
                        ("version", "GET {p} HTTP/1.1{c}\r\nHost: {h}\r\n\r\n"),
                        ("name", "GET {p} HTTP/1.1\r\nHost: {h}\r\nX-{c}A: b\r\n\r\n"),
                        ("value", "GET {p} HTTP/1.1\r\nHost: {h}\r\nX-A: b{c}c\r\n\r\n"),
                        ("host", "GET {p} HTTP/1.1\r\nHost: {h}{c}\r\n\r\n")]:
        for cname, c in [("nul", "\x00"), ("soh", "\x01"), ("bs", "\x08"), ("lf", "\n"),
                         ("cr", "\r"), ("esc", "\x1b"), ("del", "\x7f")]:
            if where == "value" and cname == "lf":
                continue  # "X-A: b\nc": a bare LF ends the line: covered by te-name-bare-lf
            add("bad", f"ctl-{where}-{cname}", tmpl.format(c=c, p=path, h=host))

    # ---- header injection and bad header syntax ----
    for tag, h in [("no-colon", "X-A b"), ("empty-name", ": b"), ("space-in-name", "X A: b"),
                   ("paren-name", "X(A): b"), ("at-name", "X@A: b"), ("slash-name", "X/A: b"),
                   ("quote-name", 'X"A: b'), ("colon-first", ":authority: evil"),
                   ("injected-cr", "X-A: b\rSet-Cookie: evil=1"),
                   ("fold-continuation", "X-A: b\r\n c"), ("fold-first", " X-A: b"),
                   ("utf8-name", "X-\xc3\xa9: b")]:
        add("bad", f"hdr-{tag}", f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{h}\r\n\r\n")

    # ---- Host: missing, twice, malformed ----
    add("bad", "host-missing", f"GET {path} HTTP/1.1\r\n\r\n")
    add("bad", "host-twice", f"GET {path} HTTP/1.1\r\nHost: {host}\r\nHost: evil\r\n\r\n")
    for tag, v in [("space", "a b"), ("slash", "a/b"), ("at", "user@evil"),
                   ("backslash", "a\\b"), ("question", "a?b"), ("hash", "a#b"),
                   ("bracket", "[a"), ("quote", 'a"b')]:
        add("bad", f"host-{tag}", f"GET {path} HTTP/1.1\r\nHost: {v}\r\n\r\n")

    # ---- methods and versions ----
    for tag, line in [("lower-version", f"GET {path} http/1.1"),
                      ("http2", f"GET {path} HTTP/2.0"), ("http3", f"GET {path} HTTP/3.0"),
                      ("http09", f"GET {path} HTTP/0.9"), ("no-minor", f"GET {path} HTTP/1"),
                      ("two-digit", f"GET {path} HTTP/11.1"),
                      ("lead-zero", f"GET {path} HTTP/01.1"),
                      ("space-version", f"GET {path} HTTP/ 1.1"),
                      ("suffix", f"GET {path} HTTP/1.1x"),
                      ("no-version", f"GET {path}"), ("trailing-space", f"GET {path} HTTP/1.1 "),
                      ("double-space", f"GET  {path} HTTP/1.1"),
                      ("tab-sep", f"GET\t{path}\tHTTP/1.1"),
                      ("lead-space", f" GET {path} HTTP/1.1"),
                      ("empty-method", f" {path} HTTP/1.1"),
                      ("method-slash", f"GE/T {path} HTTP/1.1"),
                      ("method-colon", f"GET: {path} HTTP/1.1"),
                      ("method-brace", f"GET{{}} {path} HTTP/1.1"),
                      ("three-tokens-more", f"GET {path} HTTP/1.1 extra"),
                      ("version-first", f"HTTP/1.1 GET {path}"),
                      ("response-line", "HTTP/1.1 200 OK"), ("only-crlf", ""),
                      ("pri", "PRI * HTTP/2.0")]:
        add("bad", f"line-{tag}", f"{line}\r\nHost: {host}\r\n\r\n")

    # ---- request targets ----
    for tag, t in [("star-get", "*"), ("relative", "index.html"), ("empty", ""),
                   ("fragment-only", "#x"), ("space", "/a b"), ("backslash-start", "\\a"),
                   ("control-pct", "/\x7f")]:
        add("bad", f"target-{tag}", f"GET {t} HTTP/1.1\r\nHost: {host}\r\n\r\n")
    add("bad", "connect", "CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n")
    add("bad", "absolute-bad-scheme", f"GET ftp://{host}{path} HTTP/1.1\r\nHost: {host}\r\n\r\n")
    add("bad", "absolute-no-host", f"GET http://{path} HTTP/1.1\r\nHost: {host}\r\n\r\n")
    add("bad", "absolute-userinfo",
        f"GET http://user@{host}{path} HTTP/1.1\r\nHost: {host}\r\n\r\n")
    # legal, if unusual: absolute-form (RFC 9112 3.2.2: the server takes it),
    # OPTIONS *, percent-encoded CR LF in the path, a Connection header that
    # names the framing headers (hop-by-hop removal must not unframe the body)
    add("odd", "absolute-form", f"GET http://{host}{path} HTTP/1.1\r\nHost: {host}\r\n\r\n")
    add("odd", "absolute-form-other-host",
        f"GET http://evil.example{path} HTTP/1.1\r\nHost: {host}\r\n\r\n")
    add("odd", "options-star", f"OPTIONS * HTTP/1.1\r\nHost: {host}\r\n\r\n")
    add("odd", "pct-crlf", f"GET {path}%0d%0aX-Injected:%201 HTTP/1.1\r\nHost: {host}\r\n\r\n")
    add("odd", "http10", f"GET {path} HTTP/1.0\r\n\r\n")
    # an underscore is a token character like any other: an unknown header,
    # sent on as it is (nginx drops such headers; HAProxy passes them)
    body = f"0\r\n\r\n{smug('underscore-te')}"
    add("odd", "te-underscore",
        post("", f"Content-Length: {len(body)}\r\nTransfer_Encoding: chunked\r\n", body))
    body = f"xxxx{smug('underscore-cl')}"
    add("odd", "cl-underscore-and-real",
        post("", f"Content_Length: 4\r\nContent-Length: {len(body)}\r\n", body))
    # reg-name allows sub-delims and an empty port (RFC 3986 3.2); a port
    # is digits, so "a:x" is no uri-host[:port] (RFC 9112 3.2: a 400)
    for tag, v in [("comma", "a,b"), ("empty-port", "a:"), ("big-port", "a:999999")]:
        add("odd", f"host-{tag}", f"GET {path} HTTP/1.1\r\nHost: {v}\r\n\r\n")
    add("bad", "host-alpha-port", f"GET {path} HTTP/1.1\r\nHost: a:x\r\n\r\n")
    add("odd", "http11-minor-9", f"GET {path} HTTP/1.9\r\nHost: {host}\r\n\r\n")
    add("odd", "unknown-method", f"FOO {path} HTTP/1.1\r\nHost: {host}\r\n\r\n")
    add("odd", "lower-method", f"get {path} HTTP/1.1\r\nHost: {host}\r\n\r\n")
    add("odd", "leading-crlf", f"\r\n\r\nGET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n")
    add("odd", "cl-lead-zeros", post("", "Content-Length: 0004\r\n", "xxxx"))
    s = smug("conn-cl")
    add("odd", "connection-names-cl",
        post("", f"Connection: Content-Length\r\nContent-Length: {len(s)}\r\n", s))
    s = smug("conn-te")
    add("odd", "connection-names-te",
        post("", "Connection: Transfer-Encoding\r\nTransfer-Encoding: chunked\r\n",
             f"{len(s):x}\r\n{s}\r\n0\r\n\r\n"))
    add("odd", "connection-names-host",
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: Host\r\n\r\n")
    # a body on a GET is a body (CL.0 desync: a front that ignores it
    # would let the backend read it as the next request)
    s = smug("get-body")
    add("odd", "get-with-body", f"GET {path} HTTP/1.1\r\nHost: {host}\r\n"
        f"Content-Length: {len(s)}\r\n\r\n{s}")
    s = smug("head-body")
    add("odd", "head-with-body", f"HEAD {path} HTTP/1.1\r\nHost: {host}\r\n"
        f"Content-Length: {len(s)}\r\n\r\n{s}")
    s = smug("options-body")
    add("odd", "options-with-body", f"OPTIONS {path} HTTP/1.1\r\nHost: {host}\r\n"
        f"Content-Length: {len(s)}\r\n\r\n{s}")
    s = smug("chunked-body")
    add("odd", "chunked-carrying-request",
        post("", "Transfer-Encoding: chunked\r\n", f"{len(s):x}\r\n{s}\r\n0\r\n\r\n"))
    s = smug("chunk-ext")
    add("odd", "chunk-extension",
        post("", "Transfer-Encoding: chunked\r\n", f"{len(s):x};name=\"v\"\r\n{s}\r\n0\r\n\r\n"))
    s = smug("expect")
    add("odd", "expect-100",
        post("", f"Expect: 100-continue\r\nContent-Length: {len(s)}\r\n", s))
    s = smug("upgrade")
    add("odd", "upgrade-h2c",
        post("", f"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
             f"HTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\nContent-Length: {len(s)}\r\n", s))
    add("odd", "upgrade-websocket",
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
        f"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")

    # ---- pipelined desync: a bad request with a good one behind it on the
    # same connection: the bad one ends the connection, the one behind it is
    # never read ----
    for tag, first in [("nul", f"GET {path}\x00 HTTP/1.1\r\nHost: {host}\r\n\r\n"),
                       ("clte", post("", "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
                                     "0\r\n\r\n")),
                       ("bad-chunk", post("", "Transfer-Encoding: chunked\r\n", "z\r\n\r\n")),
                       ("two-cl", post("", "Content-Length: 1\r\nContent-Length: 2\r\n", "xx")),
                       ("space-colon", f"GET {path} HTTP/1.1\r\nHost : {host}\r\n\r\n"),
                       ("http2", f"GET {path} HTTP/2.0\r\nHost: {host}\r\n\r\n"),
                       ("fold", f"GET {path} HTTP/1.1\r\nHost: {host}\r\nX: a\r\n b\r\n\r\n"),
                       ("long", f"GET {path}?{'q' * 9000} HTTP/1.1\r\nHost: {host}\r\n\r\n")]:
        add("bad", f"pipeline-{tag}", first + smug("pipeline-" + tag))
    return out
