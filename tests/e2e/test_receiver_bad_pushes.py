"""test_receiver_bad_pushes.py - profgate's push receiver (/ingest and
push.v1.PusherService/Push) against requests it must refuse, and a few it must take.

Two profgates, each forwarding to its own test receiver: "open" (receiver enabled,
max_body_size 1MiB) and "auth" (receiver.basic_auth with a password and a password_file
user, plus receiver.bearer_tokens_file).
- bad pushes: garbage body, truncated gzip (Content-Encoding: gzip), wrong Content-Type,
  oversized body (by Content-Length, and a gzip body inflating past the limit), a series
  without service_name, 10k labels, invalid UTF-8 in a label value, an undecodable raw
  profile, an invalid tenant id, GET, time_nanos + duration_nanos overflowing int64
  (issue 15): each gets its 4xx with a distinctive reason in the
  body (connect's JSON error for push);
- hostile pushes: gzip raw profiles that each inflate to just under max_body_size but
  together past 4x it (413 resource_exhausted, refused after the fifth);
- bad /ingest: missing and malformed name, bad from/until (also out of int64 range),
  unknown format, a from/until span overflowing int64 (issue 15), undecodable and truncated
  bodies, invalid UTF-8, multipart without a
  profile part, more than 60 name labels, a sample_type_config of 300 entries: 400 with
  the reason; folded stacks of distinct frames needing more than 16x the body: 413;
- nothing refused is stored: profgate_receiver_profiles_total and
  profgate_buffer_appended_profiles_total stay unchanged, profgate_buffer_rows stays 0, and
  a valid marker push sent afterwards is the only thing the downstream receiver gets
  (the buffer forwards in order, so anything stored before it would arrive first);
- auth: missing, wrong password, unknown user, wrong bearer token -> 401 with
  WWW-Authenticate and nothing stored; the right password, password_file user and bearer
  token -> 200 and forwarded;
- valid /ingest (raw gzip pprof from tests/data/go_goroutine.pb.gz, and multipart with a
  `profile` part) -> 200 and forwarded unchanged with service_name from the name, the
  name's labels, __name__ goroutines and the request's X-Scope-OrgID; a '+' in the query
  (Python's urlencode writes spaces so) is a space, as in Pyroscope."""
import base64
import gzip
import os
import sys
import types
import urllib.parse

import pgtest
from pgtest import encode_push_request, http_request, multipart_body, remote, wait_until

PUSH = "/push.v1.PusherService/Push"
PROTO = {"Content-Type": "application/proto", "Connect-Protocol-Version": "1"}
OCTET = {"Content-Type": "application/octet-stream"}
MAX_BODY = 1024 * 1024
GOOD = [("__name__", "goroutine"), ("service_name", "bad-push-svc")]


def setup(t):
    e = types.SimpleNamespace()
    e.gor = pgtest.read_test_data("go_goroutine.pb.gz")
    e.down = t.receiver("downstream")
    e.open = t.profgate({
        "storage": {"path": t.tmpdir + "/open-data"},
        "receiver": {"enabled": True, "max_body_size": "1MiB"},
        "remote_write": [remote("down", e.down.url, "push")],
    }, name="open", start=False)
    rc, out = e.open.check_config()
    t.require(rc == 0, "open config does not load: " + out)
    e.open.start()
    pw = os.path.join(t.tmpdir, "bob.pw")
    with open(pw, "w") as f:
        f.write("bob-secret\n")
    tokens = os.path.join(t.tmpdir, "tokens")
    with open(tokens, "w") as f:
        f.write("token-one\n\ntoken-two\n")
    e.auth_down = t.receiver("auth-downstream")
    e.auth = t.profgate({
        "storage": {"path": t.tmpdir + "/auth-data"},
        "receiver": {"enabled": True,
                     "basic_auth": [{"username": "alice", "password": "alice-secret"},
                                    {"username": "bob", "password_file": pw}],
                     "bearer_tokens_file": tokens},
        "remote_write": [remote("down", e.auth_down.url, "push")],
    }, name="auth", start=False)
    rc, out = e.auth.check_config()
    t.require(rc == 0, "auth config does not load: " + out)
    e.auth.start()
    e.marker = 0
    return e


def push_body(e, labels=None, raw=None):
    return encode_push_request([(labels if labels is not None else GOOD, [raw or e.gor])])


def counters(pg):
    m = pg.metrics()
    return (pg.metric("profgate_receiver_profiles_total", m),
            pg.metric("profgate_buffer_appended_profiles_total", m),
            pg.metric("profgate_buffer_rows", m))


def expect(t, what, resp, status, substr, connect_code=None):
    st, hdrs, body = resp
    text = body.decode("utf-8", "replace")
    t.check(st == status, "%s: status %d, want %d (body %r)" % (what, st, status, text[:200]))
    t.check(substr.lower() in text.lower(), "%s: body %r lacks %r" % (what, text[:200], substr))
    if connect_code:
        t.check('"code":"%s"' % connect_code in text.replace(" ", ""),
                "%s: connect code %r missing in %r" % (what, connect_code, text[:200]))
        t.check(hdrs.get("content-type", "").startswith("application/json"),
                "%s: error Content-Type %r, want application/json" % (what, hdrs.get("content-type")))
    return st


def nothing_stored(t, e, pg, down, before, headers=None):
    """Checks pg stored nothing since before (its counters) and that down gets nothing but
    a marker pushed now."""
    now = counters(pg)
    t.check(now[0] == before[0], "profgate_receiver_profiles_total moved %s -> %s" % (before[0], now[0]))
    t.check(now[1] == before[1], "profgate_buffer_appended_profiles_total moved %s -> %s"
            % (before[1], now[1]))
    t.check(now[2] == 0, "profgate_buffer_rows is %s, want 0" % now[2])
    n0 = len(down.snapshot())
    e.marker += 1
    mark = str(e.marker)
    st, _, body = http_request(pg.url + PUSH, push_body(e, GOOD + [("marker", mark)]),
                               dict(PROTO, **(headers or {})))
    t.require(st == 200, "marker push refused: %d %r" % (st, body[:200]))
    t.require(wait_until(lambda: down.count(marker=mark) == 1, 20), "marker %s not forwarded" % mark)
    got = down.snapshot()[n0:]
    others = [sorted(it.labels.items()) for it in got if it.labels.get("marker") != mark]
    t.check(not others, "downstream got refused profiles: %s" % others[:3])


def _varint(v):
    out = bytearray()
    while True:
        b, v = v & 0x7F, v >> 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def big_string_pprof(n):
    """A valid pprof (one sample type, string table ["", "aaa..."]) of about n bytes."""
    vt = b"\x08\x01\x10\x01"
    big = b"a" * n
    return b"\x0a" + _varint(len(vt)) + vt + b"\x32\x00" + b"\x32" + _varint(len(big)) + big


def test_bad_push_requests(t, e):
    pg, url = e.open, e.open.url + PUSH
    before = counters(pg)
    expect(t, "garbage body", http_request(url, b"\xff\xfe garbage \x00\x01", PROTO), 400,
           "invalid protobuf", "invalid_argument")
    good = push_body(e)
    expect(t, "truncated gzip", http_request(url, gzip.compress(good)[:-30],
                                             dict(PROTO, **{"Content-Encoding": "gzip"})),
           400, "invalid gzip request body", "invalid_argument")
    expect(t, "wrong content type", http_request(url, good, {"Content-Type": "text/plain"}), 415,
           "unsupported Content-Type text/plain", "invalid_argument")
    expect(t, "form content type",
           http_request(url, good, {"Content-Type": "application/x-www-form-urlencoded"}), 415,
           "unsupported Content-Type", "invalid_argument")
    # Over max_body_size by Content-Length: libevent refuses it before the handler runs.
    expect(t, "oversized body", http_request(url, b"\0" * (MAX_BODY + 1), PROTO), 413,
           "Request Entity Too Large")
    # A small gzip body that inflates past max_body_size.
    bomb = gzip.compress(encode_push_request([(GOOD, [b"\0" * (2 * MAX_BODY)])]))
    t.check(len(bomb) < MAX_BODY, "gzip bomb is not small (%d bytes)" % len(bomb))
    expect(t, "gzip inflating past max_body_size",
           http_request(url, bomb, dict(PROTO, **{"Content-Encoding": "gzip"})), 413,
           "invalid gzip request body", "resource_exhausted")
    # Raw profiles that each inflate to just under max_body_size: one request may inflate
    # 4x max_body_size in total, so the fifth is refused (413, not retried by senders).
    near = gzip.compress(big_string_pprof(MAX_BODY - 64))
    t.check(len(near) < 8192, "near-limit gzip sample is not small (%d bytes)" % len(near))
    bombs = encode_push_request([(GOOD, [near] * 200)])
    expect(t, "samples inflating past 4x max_body_size in total", http_request(url, bombs, PROTO),
           413, "sample 4: the request's raw profiles decompress to more than 4194304 bytes",
           "resource_exhausted")
    expect(t, "no service_name", http_request(url, push_body(e, [("__name__", "goroutine")]), PROTO),
           400, "service name is not provided", "invalid_argument")
    expect(t, "no __name__", http_request(url, push_body(e, [("service_name", "x")]), PROTO), 400,
           "invalid labels", "invalid_argument")
    many = GOOD + [("label_%d" % i, "v%d" % i) for i in range(10000)]
    expect(t, "10k labels", http_request(url, push_body(e, many), PROTO), 400,
           "has 10002 label names; limit 30", "invalid_argument")
    expect(t, "invalid UTF-8 value",
           http_request(url, push_body(e, GOOD + [("env", b"bad\xff\xfe")]), PROTO), 400,
           "invalid label value of env (not UTF-8)", "invalid_argument")
    expect(t, "duplicate label", http_request(url, push_body(e, GOOD + [("service_name", "y")]),
                                              PROTO), 400, "duplicate label name", "invalid_argument")
    expect(t, "undecodable raw profile", http_request(url, push_body(e, raw=b"not a pprof"), PROTO),
           400, "sample 0: pprof:", "invalid_argument")
    # One bad series refuses the whole request, the good one included.
    two = encode_push_request([(GOOD + [("n", "1")], [e.gor]), ([("__name__", "goroutine")], [e.gor])])
    expect(t, "good and bad series", http_request(url, two, PROTO), 400, "series 1:",
           "invalid_argument")
    expect(t, "invalid tenant", http_request(url, good, dict(PROTO, **{"X-Scope-OrgID": "a/b"})),
           400, "invalid X-Scope-OrgID", "invalid_argument")
    expect(t, "GET", http_request(url, None, PROTO, method="GET"), 405, "use POST", "unimplemented")
    # issue 15 fuzz reproducer: time_nanos = INT64_MAX, duration_nanos = 1
    repro = open(os.path.join(os.environ["PG_SRC"], "tests", "fuzz", "regressions", "push",
                              "time_overflow.bin"), "rb").read()
    expect(t, "time_nanos + duration_nanos overflowing", http_request(url, repro[1:], PROTO), 400,
           "time_nanos + duration_nanos overflows", "invalid_argument")
    expect(t, "bad JSON", http_request(url, b'{"series": [{"labels": 3}]}',
                                       {"Content-Type": "application/json"}), 400,
           "invalid JSON shape", "invalid_argument")
    m = pg.metrics()
    t.check(pg.metric("profgate_receiver_dropped_profiles_total", m, reason="invalid") >= 12,
            "refused requests not counted as dropped{reason=invalid}")
    t.check(pg.metric("profgate_receiver_requests_total", m, route="push", code="400") >= 10,
            "400s not counted in profgate_receiver_requests_total")
    nothing_stored(t, e, pg, e.down, before)


def ingest_url(pg, name, **q):
    q = dict({"name": name, "format": "pprof"}, **q) if name is not None else dict(q)
    return pg.url + "/ingest?" + urllib.parse.urlencode(q)


def test_bad_ingest_requests(t, e):
    pg = e.open
    before = counters(pg)
    expect(t, "no name", http_request(pg.url + "/ingest?format=pprof", e.gor, OCTET), 400,
           "service name is required")
    expect(t, "unterminated name", http_request(ingest_url(pg, "app{a=b"), e.gor, OCTET), 400,
           "unterminated label set")
    expect(t, "bad app name", http_request(ingest_url(pg, "a pp!"), e.gor, OCTET), 400,
           "invalid service name")
    expect(t, "bad from", http_request(ingest_url(pg, "app", **{"from": "abc"}), e.gor, OCTET), 400,
           "from: cannot parse time abc")
    expect(t, "bad until", http_request(ingest_url(pg, "app", until="12x3"), e.gor, OCTET), 400,
           "until: cannot parse time 12x3")
    expect(t, "unknown format", http_request(ingest_url(pg, "app", format="jfr"), e.gor, OCTET), 400,
           'unsupported format "jfr"')
    expect(t, "garbage pprof", http_request(ingest_url(pg, "app"), b"garbage\xff", OCTET), 400,
           "undecodable profile")
    expect(t, "truncated gzip", http_request(ingest_url(pg, "app"), e.gor[:-40],
                                             dict(OCTET, **{"Content-Encoding": "gzip"})),
           400, "gzip: truncated input")
    expect(t, "invalid UTF-8 in a name label",
           http_request(pg.url + "/ingest?format=pprof&name=app%7Benv%3Dbad%FF%7D", e.gor, OCTET),
           400, "not UTF-8")
    expect(t, "from out of range",
           http_request(ingest_url(pg, "app", **{"from": "99991231"}), e.gor, OCTET), 400,
           "from: time 99991231 is out of range")
    expect(t, "until out of range",
           http_request(ingest_url(pg, "app", until="now-99999999y"), e.gor, OCTET), 400,
           "until: time now-99999999y is out of range")
    # issue 15 fuzz reproducer: each bound fits, until - from does not
    expect(t, "from/until span overflowing",
           http_request(pg.url + "/ingest?name=app.cpu&format=folded&from=now-290y"
                        "&until=9000000000000000000", b"main;work 1\n",
                        {"Content-Type": "text/plain"}), 400, "the time range overflows")
    expect(t, "61 name labels",
           http_request(ingest_url(pg, "app{%s}" % ",".join("k%d=v" % i for i in range(61))),
                        e.gor, OCTET), 400, "too many labels")
    stcfg = "{%s}" % ",".join('"t%d": {"display-name": "x"}' % i for i in range(300))
    ct, body = multipart_body([("profile", "p", e.gor), ("sample_type_config", None, stcfg.encode())])
    expect(t, "300 sample types", http_request(ingest_url(pg, "app"), body, {"Content-Type": ct}),
           400, "too many sample types (300; limit 256)")
    lines, i, n = [], 0, 0
    while n < MAX_BODY - 4096:
        line = ";".join("%x" % (i + k) for k in range(50)) + " 1\n"
        i += 50
        n += len(line)
        lines.append(line)
    expect(t, "folded stacks of distinct frames",
           http_request(ingest_url(pg, "app.cpu", format="folded"), "".join(lines).encode(),
                        {"Content-Type": "text/plain"}), 413, "folded profile too large")
    ct, body = multipart_body([("sample_type_config", None, b"{}")])
    expect(t, "multipart without profile", http_request(ingest_url(pg, "app"), body,
                                                        {"Content-Type": ct}),
           400, 'no "profile" part')
    expect(t, "oversized ingest", http_request(ingest_url(pg, "app"), b"\0" * (MAX_BODY + 1), OCTET),
           413, "Request Entity Too Large")
    t.check(pg.metric("profgate_receiver_requests_total", route="ingest", code="400") >= 10,
            "ingest 400s not counted")
    nothing_stored(t, e, pg, e.down, before)


def test_auth(t, e):
    pg, down = e.auth, e.auth_down
    url = pg.url + PUSH
    before = counters(pg)

    def basic(u, p):
        return {"Authorization": "Basic " + base64.b64encode(("%s:%s" % (u, p)).encode()).decode()}
    refused = [("missing", {}), ("wrong password", basic("alice", "nope")),
               ("unknown user", basic("mallory", "alice-secret")),
               ("password of another user", basic("alice", "bob-secret")),
               ("wrong bearer", {"Authorization": "Bearer token-three"}),
               ("empty bearer", {"Authorization": "Bearer "}),
               ("malformed basic", {"Authorization": "Basic !!!"})]
    for what, h in refused:
        expect(t, "push, " + what, http_request(url, push_body(e), dict(PROTO, **h)), 401,
               "unauthorized", "unauthenticated")
        r = http_request(ingest_url(pg, "authapp"), e.gor, dict(OCTET, **h))
        expect(t, "ingest, " + what, r, 401, "missing or wrong credentials")
        t.check("www-authenticate" in r[1], "ingest, %s: no WWW-Authenticate header" % what)
    nothing_stored(t, e, pg, down, before, headers=basic("alice", "alice-secret"))
    # The right credentials: each accepted and forwarded.
    ok = [("alice", basic("alice", "alice-secret")), ("bob", basic("bob", "bob-secret")),
          ("token-one", {"Authorization": "Bearer token-one"}),
          ("token-two", {"Authorization": "Bearer token-two"})]
    for who, h in ok:
        st, _, body = http_request(url, push_body(e, GOOD + [("who", who)]), dict(PROTO, **h))
        t.check(st == 200, "push as %s: %d %r" % (who, st, body[:200]))
        st, _, body = http_request(ingest_url(pg, "authapp{who=%s}" % who), e.gor, dict(OCTET, **h))
        t.check(st == 200, "ingest as %s: %d %r" % (who, st, body[:200]))
    for who, _ in ok:
        t.check(wait_until(lambda: down.count(who=who, service_name="bad-push-svc") == 1
                           and down.count(who=who, service_name="authapp") == 1, 20),
                "profiles pushed as %s not forwarded exactly once" % who)


def test_valid_ingest(t, e):
    pg, down = e.open, e.down
    n0 = len(down.snapshot())
    st, _, body = http_request(ingest_url(pg, "rawapp{env=staging,k8s.pod=p-1}", spyName="gospy"),
                               e.gor, dict(OCTET, **{"X-Scope-OrgID": "tenant-1"}))
    t.check(st == 200, "raw /ingest: %d %r" % (st, body[:200]))
    ct, mp = multipart_body([("profile", "profile.pprof", e.gor),
                             ("sample_type_config", "sample_type_config.json",
                              b'{"goroutine": {"units": "goroutines", "display-name": "goroutines"}}')])
    st, _, body = http_request(ingest_url(pg, "mpapp{env=prod}", **{"from": "1700000000",
                                                                   "until": "1700000010"}),
                               mp, {"Content-Type": ct})
    t.check(st == 200, "multipart /ingest: %d %r" % (st, body[:200]))
    # urlencode writes the space as '+': Go's url.ParseQuery (Pyroscope) reads it back so
    plus_url = ingest_url(pg, "plusapp{team=a b}", spyName="my spy")
    t.check("team%3Da+b" in plus_url, "urlencode did not use '+': %s" % plus_url)
    st, _, body = http_request(plus_url, e.gor, OCTET)
    t.check(st == 200, "/ingest with '+': %d %r" % (st, body[:200]))
    t.require(wait_until(lambda: len(down.snapshot()) >= n0 + 3, 20),
              "the three valid /ingest profiles were not forwarded")
    got = {it.labels.get("service_name"): it for it in down.snapshot()[n0:]}
    raw, mpi, plus = got.get("rawapp"), got.get("mpapp"), got.get("plusapp")
    t.require(raw and mpi and plus,
              "forwarded service names %s, want rawapp, mpapp and plusapp" % sorted(got))
    t.check(plus.labels.get("team") == "a b" and plus.labels.get("pyroscope_spy") == "my spy",
            "'+' not decoded as a space: %s" % sorted(plus.labels.items()))
    want = {"__name__": "goroutines", "__delta__": "false", "service_name": "rawapp",
            "env": "staging", "k8s.pod": "p-1", "pyroscope_spy": "gospy"}
    t.check(raw.labels == want, "raw /ingest labels %s, want %s" % (sorted(raw.labels.items()),
                                                                    sorted(want.items())))
    t.check(raw.headers.get("x-scope-orgid") == "tenant-1",
            "raw /ingest tenant forwarded as %r" % raw.headers.get("x-scope-orgid"))
    t.check(mpi.labels.get("env") == "prod" and mpi.labels.get("__name__") == "goroutines",
            "multipart /ingest labels %s" % sorted(mpi.labels.items()))
    t.check("x-scope-orgid" not in mpi.headers, "multipart /ingest got a tenant it did not send")
    for it in (raw, mpi):
        t.check(it.raw == e.gor, "%s: forwarded body differs from the one pushed"
                % it.labels.get("service_name"))
        t.check(it.profile.type_names() == ["goroutine"], "%s: not the goroutine profile"
                % it.labels.get("service_name"))
    t.check(pg.metric("profgate_receiver_profiles_total", route="ingest") >= 3,
            "profgate_receiver_profiles_total{route=ingest} not counted")


def test_max_connections(t, e):
    """receiver.max_connections: a connection beyond the cap gets 503 on its first request
    and is closed; closing one frees a slot."""
    import http.client
    down = t.receiver("limited-downstream")
    pg = t.profgate({
        "storage": {"path": t.tmpdir + "/limited-data"},
        "receiver": {"enabled": True, "max_connections": 2},
        "remote_write": [remote("down", down.url, "push")],
    }, name="limited")

    def get(c):
        c.request("GET", "/-/healthy")
        r = c.getresponse()
        r.read()
        return r.status

    conns = []

    def admit_one():
        # connections of the startup readiness probe may take a moment to be seen closed
        c = http.client.HTTPConnection("127.0.0.1", pg.port, timeout=10)
        if get(c) == 200:
            conns.append(c)
            return True
        c.close()
        return False
    t.require(wait_until(admit_one, 20) and wait_until(admit_one, 20),
              "could not open two connections under max_connections: 2")
    conns.append(http.client.HTTPConnection("127.0.0.1", pg.port, timeout=10))
    t.check(get(conns[2]) == 503, "third connection was not refused")
    t.check(get(conns[0]) == 200, "an admitted connection was refused on its second request")
    conns[0].close()

    def fresh_ok():
        c = http.client.HTTPConnection("127.0.0.1", pg.port, timeout=10)
        try:
            return get(c) == 200
        finally:
            c.close()
    t.check(wait_until(fresh_ok, 20), "closing a connection did not free a slot")
    t.check(pg.metric("profgate_http_rejected_connections_total") >= 1,
            "profgate_http_rejected_connections_total not counted")
    for c in conns:
        c.close()
    t.stop_profgate(pg)


def test_clean_shutdown(t, e):
    for pg in (e.open, e.auth):
        t.stop_profgate(pg)
    t.check(not e.down.errors and not e.auth_down.errors,
            "downstream decode errors: %s %s" % (e.down.errors[:2], e.auth_down.errors[:2]))


if __name__ == "__main__":
    sys.exit(pgtest.run_tests([test_bad_push_requests, test_bad_ingest_requests, test_auth,
                               test_valid_ingest, test_max_connections, test_clean_shutdown], setup=setup))
