"""test_http_client_proxy_tls.py - proxies and TLS on profgate's HTTP clients, real HTTP
and TLS on loopback (fake_http.py): a forward/CONNECT proxy that resolves every name to
127.0.0.1, pprof targets over HTTP and HTTPS (openssl-made CA, server and client
certificates).

Proxies (Prometheus's rules, Go's httpproxy):
- proxy_url: plain http goes through the proxy in absolute form; https through CONNECT,
  with proxy_connect_header sent to the proxy (and not to the target);
- proxy_url + no_proxy: a listed host goes direct (here: a name only the proxy can
  resolve, so it fails), others through the proxy;
- proxy_from_environment: HTTP_PROXY / NO_PROXY of profgate's environment;
- without either, http_proxy / HTTP_PROXY in the environment are ignored (libcurl's own
  environment handling is off): a name only the proxy knows fails to resolve, a loopback
  target is reached directly, the proxy sees nothing.
HTTP/2: against a Go HTTPS server, scrapes use HTTP/2 by default and HTTP/1.1 with
enable_http2: false; remote_write the other way round (Prometheus's defaults).
TLS:
- min_version TLS13 against a server capped at TLS 1.2 fails with a TLS error; TLS12
  works;
- inline ca, cert and key (PEM in the YAML) against a server demanding a client
  certificate; without a client certificate the handshake fails;
- cert_file / key_file replaced while running: the next scrape presents the new
  certificate (the server sees the new CN) without a reload; remote_write, which keeps
  its connection, does too (the reused connection does not hide the change)."""
import json
import os
import shutil
import ssl
import subprocess
import sys
import urllib.request

import pgtest
from fake_http import Proxy, Target, make_pki, server_tls
from pgtest import job, remote, wait_until

G = ("goroutine",)


def health(pg, pool):
    return [(a["health"], a["lastError"]) for a in pg.active(pool=pool)]


def up(pg, pool):
    return health(pg, pool) == [("up", "")]


def down_with(pg, pool, *words):
    h = health(pg, pool)
    return len(h) == 1 and h[0][0] == "down" and all(w.lower() in h[0][1].lower() for w in words)


class Env:
    """Sets environment variables for the profgate started inside the block."""

    def __init__(self, **kv):
        self.kv = kv
        self.old = {}

    def __enter__(self):
        for k, v in self.kv.items():
            self.old[k] = os.environ.get(k)
            os.environ[k] = v

    def __exit__(self, *a):
        for k, v in self.old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def test_proxy_url_and_no_proxy(t):
    px = Proxy().start()
    t.defer(px.stop)
    tg = Target().start()
    t.defer(tg.stop)
    rec = t.receiver()
    cfg = {"scrape_configs": [
        job("via", [tg.address], types=G, proxy_url=px.url),
        job("named", ["pg-via.test:%d" % tg.port], types=G, proxy_url=px.url, no_proxy="pg-skip.test,10.0.0.0/8"),
        job("skipped", ["pg-skip.test:%d" % tg.port], types=G, proxy_url=px.url, no_proxy="pg-skip.test")],
        "remote_write": [remote("rw", "http://pg-backend.test:%d" % rec.port, proxy_url=px.url)]}
    pg = t.profgate(cfg)
    t.require(wait_until(lambda: up(pg, "via") and up(pg, "named"), 15),
              "via proxy: %s %s" % (health(pg, "via"), health(pg, "named")))
    t.check(px.seen("GET", "http://%s/debug/pprof/goroutine" % tg.address), "proxy saw no scrape of the loopback target")
    t.check(px.seen("GET", "http://pg-via.test:%d/" % tg.port), "proxy saw no scrape of pg-via.test")
    t.check(wait_until(lambda: down_with(pg, "skipped", "pg-skip.test"), 10), "no_proxy host: %s" % health(pg, "skipped"))
    t.check(not px.seen(contains="pg-skip.test"), "no_proxy host went through the proxy")
    t.check(wait_until(lambda: rec.count() > 0, 15), "remote_write through the proxy: nothing arrived")
    t.check(px.seen("POST", "http://pg-backend.test:%d/" % rec.port), "remote_write did not use the proxy")
    t.stop_profgate(pg)


def test_proxy_from_environment(t):
    px = Proxy().start()
    t.defer(px.stop)
    tg = Target().start()
    t.defer(tg.stop)
    cfg = {"scrape_configs": [
        job("env", ["pg-env.test:%d" % tg.port], types=G, proxy_from_environment=True),
        job("env-excluded", ["pg-noproxy.test:%d" % tg.port], types=G, proxy_from_environment=True),
        job("env-loopback", [tg.address], types=G, proxy_from_environment=True)]}
    with Env(HTTP_PROXY=px.url, NO_PROXY="pg-noproxy.test"):
        pg = t.profgate(cfg)
    t.require(wait_until(lambda: up(pg, "env"), 15), "HTTP_PROXY not used: %s" % health(pg, "env"))
    t.check(wait_until(lambda: down_with(pg, "env-excluded", "pg-noproxy.test"), 10),
            "NO_PROXY host: %s" % health(pg, "env-excluded"))
    t.check(not px.seen(contains="pg-noproxy.test"), "NO_PROXY host went through the proxy")
    t.check(wait_until(lambda: up(pg, "env-loopback"), 10) and not px.seen(contains=tg.address),
            "loopback must not be proxied (Go's rule): %s" % health(pg, "env-loopback"))
    t.stop_profgate(pg)


def test_environment_ignored_without_config(t):
    px = Proxy().start()
    t.defer(px.stop)
    tg = Target().start()
    t.defer(tg.stop)
    cfg = {"scrape_configs": [job("named", ["pg-env.test:%d" % tg.port], types=G),
                              job("loop", [tg.address], types=G)]}
    with Env(HTTP_PROXY=px.url, http_proxy=px.url, ALL_PROXY=px.url, all_proxy=px.url):
        pg = t.profgate(cfg)
    t.require(wait_until(lambda: up(pg, "loop"), 15), "loopback target: %s" % health(pg, "loop"))
    t.check(wait_until(lambda: down_with(pg, "named", "pg-env.test"), 10),
            "a name only the proxy knows must not resolve: %s" % health(pg, "named"))
    t.check(px.requests == [], "the environment's proxy was used: %s" % px.requests[:2])
    t.stop_profgate(pg)


def test_connect_proxy_https(t):
    pki = make_pki(t.tmpdir)
    px = Proxy().start()
    t.defer(px.stop)
    tg = Target(tls=server_tls(pki)).start()
    t.defer(tg.stop)
    tls = {"ca_file": os.path.join(pki, "ca.pem")}
    cfg = {"scrape_configs": [job("tunnel", ["localhost:%d" % tg.port], types=G, scheme="https", tls_config=tls,
                                  proxy_url=px.url,
                                  proxy_connect_header={"Proxy-Authorization": ["Basic cHJveHk6czNjcmV0"]})]}
    pg = t.profgate(cfg)
    t.require(wait_until(lambda: up(pg, "tunnel"), 15), "https through CONNECT: %s" % health(pg, "tunnel"))
    conn = px.seen("CONNECT", "localhost:%d" % tg.port)
    t.check(conn and conn[0][2].get("Proxy-Authorization") == "Basic cHJveHk6czNjcmV0",
            "CONNECT request: %s" % conn[:1])
    t.check(not tg.headers_of("Proxy-Authorization"), "proxy_connect_header leaked to the target")
    t.check("cHJveHk6czNjcmV0" not in json.dumps(pg.targets()) + pg.log_text(), "proxy header visible")
    t.stop_profgate(pg)


def test_tls_versions_and_inline_pem(t):
    pki = make_pki(t.tmpdir)
    old = Target(tls=server_tls(pki, max_version=ssl.TLSVersion.TLSv1_2)).start()
    t.defer(old.stop)
    mtls = Target(tls=server_tls(pki, client_ca=True)).start()
    t.defer(mtls.stop)
    pem = {n: open(os.path.join(pki, n)).read() for n in ("ca.pem", "client-a.pem", "client-a.key")}
    cfg = {"scrape_configs": [
        job("tls13", [old.address], types=G, scheme="https",
            tls_config={"ca_file": os.path.join(pki, "ca.pem"), "min_version": "TLS13"}),
        job("tls12", [old.address], types=G, scheme="https",
            tls_config={"ca": pem["ca.pem"], "min_version": "TLS12", "max_version": "TLS12"}),
        job("inline", [mtls.address], types=G, scheme="https",
            tls_config={"ca": pem["ca.pem"], "cert": pem["client-a.pem"], "key": pem["client-a.key"]}),
        job("nocert", [mtls.address], types=G, scheme="https", tls_config={"ca": pem["ca.pem"]})]}
    pg = t.profgate(cfg)
    t.require(wait_until(lambda: up(pg, "tls12") and up(pg, "inline"), 15),
              "tls12 %s inline %s" % (health(pg, "tls12"), health(pg, "inline")))
    t.check(wait_until(lambda: down_with(pg, "tls13", "ssl"), 10) or down_with(pg, "tls13", "tls"),
            "min_version TLS13 against a TLS 1.2 server: %s" % health(pg, "tls13"))
    pgtest.log("  min_version TLS13 against TLS 1.2: %s" % health(pg, "tls13"))
    t.check(wait_until(lambda: health(pg, "nocert") and health(pg, "nocert")[0][0] == "down", 10),
            "no client certificate: %s" % health(pg, "nocert"))
    t.check("client-a" in [cn for _, _, cn in mtls.seen], "client CN not seen: %s" % {cn for _, _, cn in mtls.seen})
    key_line = pem["client-a.key"].splitlines()[1]
    t.check(key_line not in json.dumps(pg.targets()) + pg.log_text(), "inline key visible")
    t.stop_profgate(pg)


def test_client_cert_files_rotated(t):
    pki = make_pki(t.tmpdir)
    mtls = Target(tls=server_tls(pki, client_ca=True)).start()
    t.defer(mtls.stop)
    cert, key = os.path.join(t.tmpdir, "cur.pem"), os.path.join(t.tmpdir, "cur.key")
    shutil.copy(os.path.join(pki, "client-a.pem"), cert)
    shutil.copy(os.path.join(pki, "client-a.key"), key)
    cfg = {"scrape_configs": [job("rot", [mtls.address], types=G, scheme="https",
                                  tls_config={"ca_file": os.path.join(pki, "ca.pem"),
                                              "cert_file": cert, "key_file": key})]}
    pg = t.profgate(cfg)
    t.require(wait_until(lambda: "client-a" in [cn for _, _, cn in mtls.seen], 15),
              "first certificate: %s" % health(pg, "rot"))
    # rotate: both files replaced atomically (key first: a mismatched pair is refused)
    for src, dst in (("client-b.key", key), ("client-b.pem", cert)):
        shutil.copy(os.path.join(pki, src), dst + ".tmp")
        os.replace(dst + ".tmp", dst)
    t.check(wait_until(lambda: mtls.seen[-1][2] == "client-b", 10),
            "rotated certificate not used: last CN %s" % mtls.seen[-1][2])
    t.check(up(pg, "rot"), "health after rotation: %s" % health(pg, "rot"))
    t.stop_profgate(pg)


def test_client_cert_rotated_on_reused_connection(t):
    # remote_write keeps its connection: a rotated client certificate must still be used
    # by the next request (a new connection), not hidden by the reused one
    pki = make_pki(t.tmpdir)
    backend = Target(tls=server_tls(pki, client_ca=True)).start()
    t.defer(backend.stop)
    tg = Target().start()
    t.defer(tg.stop)
    cert, key = os.path.join(t.tmpdir, "cur.pem"), os.path.join(t.tmpdir, "cur.key")
    shutil.copy(os.path.join(pki, "client-a.pem"), cert)
    shutil.copy(os.path.join(pki, "client-a.key"), key)
    tls = {"ca_file": os.path.join(pki, "ca.pem"), "cert_file": cert, "key_file": key}
    cfg = {"scrape_configs": [job("src", [tg.address], types=G)],
           "remote_write": [remote("tls", "https://127.0.0.1:%d" % backend.port, tls_config=tls)]}
    pg = t.profgate(cfg)
    t.require(wait_until(lambda: len(backend.posts) >= 3, 20), "pushes: %s" % backend.posts)
    ports = [p for _, cn, p in backend.posts if cn == "client-a"]
    t.check(len(set(ports)) < len(ports), "no connection reuse before the rotation: %s" % ports)
    for src, dst in (("client-b.key", key), ("client-b.pem", cert)):
        shutil.copy(os.path.join(pki, src), dst + ".tmp")
        os.replace(dst + ".tmp", dst)
    t.check(wait_until(lambda: backend.posts[-1][1] == "client-b", 15),
            "rotated certificate not used on the kept connection: %s" % backend.posts[-3:])
    t.stop_profgate(pg)


def test_enable_http2(t):
    # a Go HTTPS server (HTTP/2 through ALPN, as Go serves it) records each request's
    # protocol: scrapes and http_sd default to HTTP/2, remote_write to HTTP/1.1 (as
    # Prometheus), enable_http2 turns either way
    pki = make_pki(t.tmpdir)
    binary = pgtest.build_go("tlsapp")
    port = pgtest.free_port()
    logf = open(os.path.join(t.tmpdir, "tlsapp.log"), "w")
    proc = pgtest.spawn([binary, "-listen", "127.0.0.1:%d" % port, "-cert", os.path.join(pki, "server.pem"),
                         "-key", os.path.join(pki, "server.key")], stdout=logf, stderr=subprocess.STDOUT)
    logf.close()
    t.defer(lambda: (proc.kill(), proc.wait(10)))
    ctx = ssl.create_default_context(cafile=os.path.join(pki, "ca.pem"))

    def protos():
        try:
            with urllib.request.urlopen("https://127.0.0.1:%d/protos" % port, context=ctx, timeout=2) as r:
                return json.loads(r.read())
        except OSError:
            return None

    t.require(wait_until(lambda: protos() is not None, 20), "tlsapp did not start")
    tls = {"ca_file": os.path.join(pki, "ca.pem")}
    addr = "127.0.0.1:%d" % port
    # HTTP/2-allowed clients use the name localhost, the others 127.0.0.1: libcurl may hand
    # a request that allows HTTP/2 an open HTTP/1.1 connection to the same host:port
    # (never the other way round)
    cfg = {"scrape_configs": [job("h2", ["localhost:%d" % port], types=G, scheme="https", tls_config=tls,
                                  params={"j": ["h2"]}),
                              job("h1", [addr], types=G, scheme="https", tls_config=tls, params={"j": ["h1"]},
                                  enable_http2=False)],
           "remote_write": [remote("rw1", "https://%s/rw1" % addr, tls_config=tls),
                            remote("rw2", "https://localhost:%d/rw2" % port, tls_config=tls, enable_http2=True)]}
    pg = t.profgate(cfg)

    def seen(prefix):
        return {line.rsplit(" ", 1)[1] for line in (protos() or []) if line.startswith(prefix)}

    t.require(wait_until(lambda: seen("POST /rw1/") and seen("POST /rw2/") and seen("GET /debug/pprof/goroutine?j=h1")
                         and seen("GET /debug/pprof/goroutine?j=h2"), 20), "requests: %s" % (protos() or [])[:6])
    t.check(seen("GET /debug/pprof/goroutine?j=h2") == {"HTTP/2.0"}, "scrape default: %s" % seen("GET /debug/pprof/goroutine?j=h2"))
    t.check(seen("GET /debug/pprof/goroutine?j=h1") == {"HTTP/1.1"}, "enable_http2 false: %s" % seen("GET /debug/pprof/goroutine?j=h1"))
    t.check(seen("POST /rw1/") == {"HTTP/1.1"}, "remote_write default: %s" % seen("POST /rw1/"))
    t.check(seen("POST /rw2/") == {"HTTP/2.0"}, "remote_write enable_http2: %s" % seen("POST /rw2/"))
    t.stop_profgate(pg)


if __name__ == "__main__":
    sys.exit(pgtest.run_tests([test_proxy_url_and_no_proxy, test_proxy_from_environment,
                               test_environment_ignored_without_config, test_connect_proxy_https,
                               test_tls_versions_and_inline_pem, test_client_cert_files_rotated,
                               test_client_cert_rotated_on_reused_connection, test_enable_http2]))
