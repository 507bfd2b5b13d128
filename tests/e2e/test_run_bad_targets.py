"""test_run_bad_targets.py - `profgate run` against targets that misbehave, next to one
good Go target (pprofapp).

One Python server plays every bad target, one job per kind (goroutine profile only,
path_prefix selecting the behaviour, body_size_limit 1MiB): an HTML 200 page, a 404, a
truncated gzip, a gzip bomb (256 MiB of zeros in ~250 KiB), a 2 MiB body, a target that
never answers (scrape_timeout 1s); plus a closed port (connection refused). Each must be
"down" with a clear lastError and counted in profgate_scrape_failures_total, while the
good target stays "up" and its profiles keep arriving, and profgate's RSS stays far below
what inflating the bomb would take."""
import gzip
import http.server
import os
import re
import sys
import threading
import types
import zlib

import pgtest
from pgtest import free_port, job, remote, wait_until

RSS_LIMIT_KIB = 200 * 1024
# kind -> what lastError must say (a case-insensitive regex), as profgate words it
EXPECT = {
    "html": r"html",
    "notfound": r"404",
    "truncgzip": r"gzip.*truncat|truncat.*gzip",
    "bomb": r"decompress.*limit",
    "big": r"limit",
    "hang": r"timed? ?out",
    "refused": r"refused|connect",
}


def gzip_bomb(mib):
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    zero = bytes(1 << 20)
    return b"".join([c.compress(zero) for _ in range(mib)] + [c.flush()])


class BadServer:
    def __init__(self):
        good = open(os.path.join(pgtest.SRC, "tests", "data", "go_goroutine.pb.gz"), "rb").read()
        self.bodies = {
            "html": (200, "text/html; charset=utf-8",
                     b"<!DOCTYPE html>\n<html><head><title>Sign in</title></head>"
                     b"<body><form>please sign in</form></body></html>\n"),
            "notfound": (404, "text/plain; charset=utf-8", b"404 page not found\n"),
            "truncgzip": (200, "application/octet-stream", good[:len(good) // 2]),
            "bomb": (200, "application/octet-stream", gzip_bomb(256)),
            "big": (200, "application/octet-stream", gzip.compress(os.urandom(2 << 20), 1)),
        }
        self.hits = {}
        self.stopping = threading.Event()
        srv = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                kind = self.path.strip("/").split("/")[0]
                srv.hits[kind] = srv.hits.get(kind, 0) + 1
                if kind == "hang":
                    srv.stopping.wait(60)
                    return
                code, ctype, body = srv.bodies.get(kind, (500, "text/plain", b"unknown kind"))
                try:
                    self.send_response(code)
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the client gave up (size limit)

        self.httpd = pgtest.QuietHTTPServer(("127.0.0.1", 0), H)
        self.address = "127.0.0.1:%d" % self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def stop(self):
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()


class RssMonitor:
    def __init__(self, pg):
        self.pg = pg
        self.max_kib = 0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.done.wait(0.05):
            try:
                self.max_kib = max(self.max_kib, self.pg.rss_kib())
            except OSError:
                return

    def stop(self):
        self.done.set()
        self.thread.join(5)


def setup(t):
    e = types.SimpleNamespace()
    e.bad = BadServer()
    t.defer(e.bad.stop)
    e.app = t.go_target("pprofapp")
    e.rec = t.receiver("push")
    refused = "127.0.0.1:%d" % free_port()
    jobs = [job("good", [e.app.address], labels={"service_name": "good-svc"}, types=("goroutine", "memory"))]
    for kind in EXPECT:
        addr = refused if kind == "refused" else e.bad.address
        jobs.append(job("bad-" + kind, [addr], labels={"service_name": "bad-svc"}, types=("goroutine",),
                        profiling_config={"path_prefix": "/" + kind}, body_size_limit="1MiB"))
    cfg = {"global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
           "scrape_configs": jobs,
           "storage": {"path": t.tmpdir + "/data"},
           "remote_write": [remote("push", e.rec.url)]}
    e.pg = t.profgate(cfg, start=False)
    rc, out = e.pg.check_config()
    t.require(rc == 0, "config does not load: " + out)
    e.pg.start()
    e.rss = RssMonitor(e.pg)
    t.defer(e.rss.stop)
    # every bad job has been scraped (and failed) at least twice before the tests look
    ok = wait_until(lambda: all(e.pg.metric("profgate_scrape_failures_total", job="bad-" + k) >= 2
                                for k in EXPECT), 30)
    if not ok:
        t.check(False, "not every bad job failed twice within 30s: %s" % {
            k: e.pg.metric("profgate_scrape_failures_total", job="bad-" + k) for k in EXPECT})
    return e


def entry(e, kind):
    act = e.pg.active(pool="bad-" + kind)
    return act[0] if len(act) == 1 else {"health": "?", "lastError": "%d entries" % len(act)}


def make_test(kind):
    def test(t, e):
        a = wait_until(lambda: (lambda x: x if x["health"] == "down" and x["lastError"] else None)(entry(e, kind)), 15)
        a = a or entry(e, kind)
        err = a.get("lastError", "")
        t.check(a.get("health") == "down", "bad-%s: health %r (lastError %r)" % (kind, a.get("health"), err))
        t.check(re.search(EXPECT[kind], err, re.I), "bad-%s: lastError %r does not match /%s/"
                % (kind, err, EXPECT[kind]))
        n = e.pg.metric("profgate_scrape_failures_total", job="bad-" + kind)
        t.check(wait_until(lambda: e.pg.metric("profgate_scrape_failures_total", job="bad-" + kind) > n, 10),
                "profgate_scrape_failures_total{job=bad-%s} stays at %s" % (kind, n))
        t.check(e.rec.count(job="bad-" + kind) == 0, "profiles from bad-%s were forwarded" % kind)
        pgtest.log("  bad-%s lastError: %s" % (kind, err))

    test.__name__ = "test_" + kind
    return test


def test_good_target_unaffected(t, e):
    act = wait_until(lambda: (lambda a: a if len(a) == 2 and all(x["health"] == "up" for x in a) else None)(
        e.pg.active(pool="good")), 10) or e.pg.active(pool="good")
    t.check(len(act) == 2 and all(x["health"] == "up" and x["lastError"] == "" for x in act),
            "good target entries: %s" % [(x["health"], x["lastError"]) for x in act])
    n = e.rec.count(job="good")
    t.check(wait_until(lambda: e.rec.count(job="good") >= n + 4, 15),
            "good target's profiles stopped arriving (%d then %d)" % (n, e.rec.count(job="good")))
    t.check(e.pg.metric("profgate_scrape_failures_total", job="good") == 0, "good job has scrape failures")
    for it in e.rec.profiles(job="good")[:20]:
        it.profile  # parses
    t.check(not e.rec.errors, "receiver errors: %s" % e.rec.errors[:2])


def test_rss_bounded(t, e):
    t.check(e.bad.hits.get("bomb", 0) >= 2, "the bomb was fetched %d times" % e.bad.hits.get("bomb", 0))
    t.check(e.pg.running(), "profgate is not running")
    t.check(0 < e.rss.max_kib < RSS_LIMIT_KIB, "profgate's peak RSS %d KiB (limit %d KiB)"
            % (e.rss.max_kib, RSS_LIMIT_KIB))
    pgtest.log("  peak RSS %d KiB" % e.rss.max_kib)


def test_sigterm_clean_exit(t, e):
    # scrapes of the never-answering target are in flight now: they are cancelled
    e.rss.stop()
    t.stop_profgate(e.pg)


if __name__ == "__main__":
    sys.exit(pgtest.run_tests([make_test(k) for k in EXPECT] +
                              [test_good_target_unaffected, test_rss_bounded, test_sigterm_clean_exit],
                              setup=setup))
