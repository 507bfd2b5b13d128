"""test_web_tls.py - profgate's HTTP listeners with TLS, client certificates and basic
authentication (issue 13, sections 2 and 3), against a real `profgate run`.

Certificates are made at test time with the openssl command (a CA, server certificates
for 127.0.0.1, a client certificate, and a second CA that profgate does not trust). bcrypt
hashes are made with libxcrypt's crypt(3) through ctypes (the library profgate itself
uses), else a fixed hash of "secret" is used.

- the receiver on its own TLS listener: pushes over HTTPS are stored, the web port's
  routes are not served there and /ingest is not on the web port; plain HTTP to it gets
  no HTTP answer and counts in profgate_http_tls_handshake_errors_total{listener="receiver"};
- receiver.max_connections caps the receiver's listener, not the web port;
- mTLS (RequireAndVerifyClientCert): no client certificate and one from another CA are
  refused, a certificate from client_ca_file is accepted;
- a certificate and key rotated on disk while running are served to new connections
  without a restart (profgate_http_tls_config_reloads_total{result="success"});
- a reload adds TLS to the receiver's port, moves it to another port (the old one
  closes), and one with a certificate that does not load fails and keeps the running TLS;
- --web.config.file basic_auth_users: no credentials 401 with WWW-Authenticate: Basic on
  /metrics, /api/v1/targets, / and /-/healthy; a wrong password 401; the right one 200;
  repeated and concurrent requests cost one bcrypt (profgate_http_basic_auth_total{source=
  "bcrypt"}); the
  password and hash are in no log line; the receiver's routes sharing the port need the
  users too; TLS on the web port; a changed web config file applies without a restart;
- --web.enable-lifecycle: without it POST /-/reload answers 403 "Lifecycle API is not
  enabled." and SIGHUP still reloads; with it 200;
- a bad web config file stops `profgate run` with file:line:col and exit 1, and
  `profgate check-web-config` reports every kind of problem (never quoting a hash)."""
import base64
import ctypes
import http.client
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time

import pgtest
from pgtest import free_port, http_request, wait_until

PASSWORD = "s3cret-pw"
FIXED = ("secret", "$2b$10$1jceOoFaUle4YayKNUctpe5H2MJryzyw19wjiEQ.htwC3iIHdHVLK")


def bcrypt(password):
    """(password, hash): a fresh $2b$ hash at cost 10 from libcrypt, else the fixed pair."""
    try:
        lc = ctypes.CDLL("libcrypt.so.1")
        lc.crypt_gensalt.restype = ctypes.c_char_p
        lc.crypt_gensalt.argtypes = [ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p, ctypes.c_int]
        lc.crypt.restype = ctypes.c_char_p
        lc.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
        salt = lc.crypt_gensalt(b"$2b$", 10, None, 0)
        h = lc.crypt(password.encode(), salt) if salt else None
        if h and h.startswith(b"$2b$10$") and len(h) == 60:
            return password, h.decode()
    except OSError:
        pass
    return FIXED


def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, capture_output=True, timeout=60)


class Certs:
    """A CA and certificates signed by it, as files in dir."""

    def __init__(self, d, name="ca"):
        self.dir = d
        self.ca = os.path.join(d, name + ".crt")
        self.ca_key = os.path.join(d, name + ".key")
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                "/CN=profgate test " + name, "-keyout", self.ca_key, "-out", self.ca, cwd=d)

    def issue(self, name, server=True):
        """Returns (cert, key) paths of a new certificate (for 127.0.0.1 when server)."""
        key, csr, crt = (os.path.join(self.dir, name + x) for x in (".key", ".csr", ".crt"))
        ext = os.path.join(self.dir, name + ".ext")
        with open(ext, "w") as f:
            f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n" if server
                    else "extendedKeyUsage=clientAuth\n")
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=" + name, "-keyout", key,
                "-out", csr, cwd=self.dir)
        openssl("x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey", self.ca_key,
                "-set_serial", str(int(time.time() * 1000) % 2**31), "-days", "2",
                "-extfile", ext, "-out", crt, cwd=self.dir)
        return crt, key


def client_ctx(ca, cert=None):
    ctx = ssl.create_default_context(cafile=ca)
    if cert:
        ctx.load_cert_chain(*cert)
    return ctx


def https(port, path, ctx, method="POST", body=b"", headers=None, timeout=10):
    """One request over TLS. Returns (status, body); status 0 with the reason when the
    connection or handshake failed."""
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, r.read()
    except (OSError, http.client.HTTPException) as e:
        return 0, str(e).encode()
    finally:
        conn.close()


def served_cert(port, ca):
    """The DER certificate the server at port presents (None when the handshake fails)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            with client_ctx(ca).wrap_socket(s, server_hostname="127.0.0.1") as tls:
                return tls.getpeercert(binary_form=True)
    except OSError:
        return None


def der(path):
    with open(path) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


def plain_http_answer(port):
    """What a plain HTTP request to port gets back (bytes, b"" when closed)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"POST /ingest?name=x HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
            s.settimeout(5)
            out = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    return out
                out += chunk
    except OSError:
        return b""


FOLDED = b"main;work;spin 10\nmain;idle 3\n"


def ingest_path(marker):
    return "/ingest?name=app.cpu%7Bmarker%3D" + marker + "%7D&format=folded"


def receiver_config(t, port, tls):
    return {"storage": {"path": os.path.join(t.tmpdir, "data")},
            "receiver": {"enabled": True, "listen_address": "127.0.0.1:%d" % port,
                         "tls_server_config": tls}}


def write(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------


def test_receiver_on_its_own_tls_listener(t):
    c = Certs(t.tmpdir)
    crt, key = c.issue("server")
    rport = free_port()
    pg = t.profgate(receiver_config(t, rport, {"cert_file": crt, "key_file": key}))
    ctx = client_ctx(c.ca)
    st, body = https(rport, ingest_path("tls"), ctx, body=FOLDED)
    t.check(st == 200, "push over TLS: %d %r" % (st, body[:200]))
    st, _ = https(rport, "/metrics", ctx, method="GET")
    t.check(st == 404, "/metrics on the receiver's listener: %d, want 404" % st)
    st, _, _ = http_request(pg.url + ingest_path("web"), FOLDED)
    t.check(st == 404, "/ingest on the web port with a listener of its own: %d, want 404" % st)
    before = pg.metric("profgate_http_tls_handshake_errors_total", listener="receiver")
    ans = plain_http_answer(rport)
    t.check(not ans.startswith(b"HTTP/"), "plain HTTP on the TLS port got an HTTP answer: %r" % ans[:80])
    t.check(wait_until(lambda: pg.metric("profgate_http_tls_handshake_errors_total",
                                         listener="receiver") >= before + 1, 10),
            "plain HTTP not counted in profgate_http_tls_handshake_errors_total")
    t.check(pg.metric("profgate_receiver_profiles_total") == 1,
            "profiles stored: %s" % pg.metric("profgate_receiver_profiles_total"))
    t.stop_profgate(pg)


def test_limits_apply_to_the_receivers_listener_alone(t):
    rport = free_port()
    cfg = receiver_config(t, rport, None)
    del cfg["receiver"]["tls_server_config"]
    cfg["receiver"]["max_connections"] = 1
    pg = t.profgate(cfg)
    held = http.client.HTTPConnection("127.0.0.1", rport, timeout=10)
    held.request("POST", ingest_path("first"), body=FOLDED)
    r = held.getresponse()
    r.read()
    t.check(r.status == 200, "first connection to the receiver: %d" % r.status)
    st, hdrs, body = http_request("http://127.0.0.1:%d" % rport + ingest_path("second"), FOLDED)
    t.check(st == 503, "second connection to the receiver with max_connections 1: %d %r, want 503" %
            (st, body[:100]))
    # the web port is not capped by receiver.max_connections
    conns = []
    for i in range(3):
        c = http.client.HTTPConnection("127.0.0.1", pg.port, timeout=10)
        c.request("GET", "/-/healthy")
        r = c.getresponse()
        r.read()
        t.check(r.status == 200, "web port connection %d: %d" % (i, r.status))
        conns.append(c)
    for c in conns + [held]:
        c.close()
    t.stop_profgate(pg)


def test_receiver_mtls(t):
    c = Certs(t.tmpdir)
    other = Certs(t.tmpdir, "other-ca")
    crt, key = c.issue("server")
    good = c.issue("client", server=False)
    bad = other.issue("stranger", server=False)
    rport = free_port()
    pg = t.profgate(receiver_config(t, rport, {
        "cert_file": crt, "key_file": key, "client_ca_file": c.ca,
        "client_auth_type": "RequireAndVerifyClientCert", "min_version": "TLS12"}))
    st, body = https(rport, ingest_path("nocert"), client_ctx(c.ca), body=FOLDED)
    t.check(st == 0, "no client certificate: %d %r, want a failed handshake" % (st, body[:100]))
    st, body = https(rport, ingest_path("stranger"), client_ctx(c.ca, bad), body=FOLDED)
    t.check(st == 0, "client certificate of another CA: %d %r, want a failed handshake" % (st, body[:100]))
    st, body = https(rport, ingest_path("client"), client_ctx(c.ca, good), body=FOLDED)
    t.check(st == 200, "valid client certificate: %d %r" % (st, body[:200]))
    t.check(wait_until(lambda: pg.metric("profgate_http_tls_handshake_errors_total",
                                         listener="receiver") >= 2, 10),
            "refused handshakes not counted: %s" %
            pg.metric("profgate_http_tls_handshake_errors_total", listener="receiver"))
    t.check(pg.metric("profgate_receiver_profiles_total") == 1, "only the valid client's push stored")
    t.stop_profgate(pg)


def test_certificate_rotated_while_running(t):
    c = Certs(t.tmpdir)
    first = c.issue("first")
    second = c.issue("second")
    crt, key = os.path.join(t.tmpdir, "live.crt"), os.path.join(t.tmpdir, "live.key")
    for src, dst in ((first[0], crt), (first[1], key)):
        write(dst, open(src).read())
    rport = free_port()
    pg = t.profgate(receiver_config(t, rport, {"cert_file": crt, "key_file": key}))
    t.require(served_cert(rport, c.ca) == der(first[0]), "the first certificate is not served")
    pid = pg.pid
    # as cert-manager or a Kubernetes secret update: both files replaced while running
    write(key, open(second[1]).read())
    write(crt, open(second[0]).read())
    t.check(wait_until(lambda: served_cert(rport, c.ca) == der(second[0]), 15),
            "the rotated certificate is not served")
    t.check(pg.pid == pid and pg.running(), "profgate restarted")
    st, body = https(rport, ingest_path("rotated"), client_ctx(c.ca), body=FOLDED)
    t.check(st == 200, "push after rotation: %d %r" % (st, body[:200]))
    t.check(pg.metric("profgate_http_tls_config_reloads_total", listener="receiver",
                      result="success") >= 1, "reload not counted")
    # a broken file keeps the running certificate
    write(crt, "not a certificate\n")
    t.check(served_cert(rport, c.ca) == der(second[0]), "a broken file replaced the certificate")
    t.check(wait_until(lambda: pg.metric("profgate_http_tls_config_reloads_total",
                                         listener="receiver", result="failure") >= 1, 10),
            "failed reload not counted")
    t.check("do not load; keeping the previous ones" in pg.log_text(), "failed reload not logged")
    t.stop_profgate(pg)


def test_reload_changes_the_receiver_listener(t):
    c = Certs(t.tmpdir)
    crt, key = c.issue("server")
    p1, p2 = free_port(), free_port()
    cfg = receiver_config(t, p1, None)
    del cfg["receiver"]["tls_server_config"]
    pg = t.profgate(cfg, extra_args=["--web.enable-lifecycle"])
    st, _, body = http_request("http://127.0.0.1:%d" % p1 + ingest_path("plain"), FOLDED)
    t.check(st == 200, "plain push to the receiver's own port: %d %r" % (st, body[:200]))
    # TLS added by a reload: the same port now wants TLS
    pg.write_config(receiver_config(t, p1, {"cert_file": crt, "key_file": key}))
    st, body = pg.reload()
    t.require(st == 200, "reload adding TLS: %d %s" % (st, body))
    st, _, _ = http_request("http://127.0.0.1:%d" % p1 + ingest_path("plain2"), FOLDED)
    t.check(st == 0, "plain push after TLS was added: %d, want no HTTP answer" % st)
    st, body = https(p1, ingest_path("tls"), client_ctx(c.ca), body=FOLDED)
    t.check(st == 200, "TLS push after the reload: %d %r" % (st, body[:200]))
    # another listen_address: the old port closes, the new one serves
    pg.write_config(receiver_config(t, p2, {"cert_file": crt, "key_file": key}))
    st, body = pg.reload()
    t.require(st == 200, "reload moving the receiver: %d %s" % (st, body))
    st, body = https(p2, ingest_path("moved"), client_ctx(c.ca), body=FOLDED)
    t.check(st == 200, "TLS push to the new port: %d %r" % (st, body[:200]))
    st, body = https(p1, ingest_path("old"), client_ctx(c.ca), body=FOLDED)
    t.check(st == 0 and b"refused" in body.lower(), "the old port still answers: %d %r" % (st, body[:100]))
    # a certificate that does not load: the reload fails, the running TLS stays
    bad = receiver_config(t, p2, {"cert_file": "/dev/null", "key_file": key})
    pg.write_config(bad)
    st, body = pg.reload()
    t.check(st == 500 and "cert_file /dev/null" in body, "reload with an unloadable certificate: %d %s" % (st, body))
    st, body = pg.reload()
    t.check(st == 500, "the same reload again must fail again: %d %s" % (st, body))
    st, body = https(p2, ingest_path("kept"), client_ctx(c.ca), body=FOLDED)
    t.check(st == 200, "TLS push after the failed reload: %d %r" % (st, body[:200]))
    t.check(pg.metric("profgate_receiver_profiles_total") == 4, "profiles stored: %s" %
            pg.metric("profgate_receiver_profiles_total"))
    t.stop_profgate(pg)


def basic(user, pw):
    return {"Authorization": "Basic " + base64.b64encode(("%s:%s" % (user, pw)).encode()).decode()}


def web_auth_profgate(t, web_yml, pw, tls_ca=None, extra=()):
    # the receiver shares the web port: the web port's users protect its routes too
    pg = t.profgate({"storage": {"path": os.path.join(t.tmpdir, "data")},
                     "receiver": {"enabled": True}}, start=False,
                    extra_args=["--web.config.file", web_yml] + list(extra))
    pg.headers = basic("alice", pw)
    if tls_ca:
        pg.scheme = "https"
        pg.ssl_context = client_ctx(tls_ca)
    pg.start()
    return pg


def test_web_basic_auth(t):
    pw, h = bcrypt(PASSWORD)
    web = os.path.join(t.tmpdir, "web.yml")
    write(web, "basic_auth_users:\n  alice: '%s'\n  bob: '%s'\n" % (h, h))
    pg = web_auth_profgate(t, web, pw)
    for path in ("/metrics", "/api/v1/targets", "/", "/-/healthy", "/-/ready"):
        st, hdrs, _ = http_request(pg.url + path, None, method="GET")
        t.check(st == 401 and hdrs.get("www-authenticate", "").startswith("Basic"),
                "%s without credentials: %d %s, want 401 + WWW-Authenticate: Basic" % (path, st, hdrs))
    st, _, _ = http_request(pg.url + "/-/reload", b"", method="POST")
    t.check(st == 401, "/-/reload without credentials: %d, want 401" % st)
    st, _, _ = http_request(pg.url + ingest_path("noauth"), FOLDED)
    t.check(st == 401, "/ingest on the shared web port without credentials: %d, want 401" % st)
    st, _, body = http_request(pg.url + ingest_path("auth"), FOLDED, basic("alice", pw))
    t.check(st == 200, "/ingest on the shared web port with credentials: %d %r" % (st, body[:200]))
    st, _, _ = http_request(pg.url + "/metrics", None, basic("alice", pw + "x"), method="GET")
    t.check(st == 401, "wrong password: %d, want 401" % st)
    st, _, _ = http_request(pg.url + "/metrics", None, basic("mallory", pw), method="GET")
    t.check(st == 401, "unknown user: %d, want 401" % st)
    # a burst of requests with the same new credentials costs one bcrypt: the ones that
    # wait for it are answered from the cache
    results = []
    ths = [threading.Thread(target=lambda: results.append(
        http_request(pg.url + "/metrics", None, basic("alice", pw), method="GET")[0]))
        for _ in range(6)]
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    t.check(results == [200] * 6, "right password, 6 at once: %s" % results)
    st, _, _ = http_request(pg.url + "/metrics", None, basic("bob", pw), method="GET")
    t.check(st == 200, "second user: %d" % st)
    m = pg.metrics()
    t.check(pg.metric("profgate_http_basic_auth_total", m, result="success", source="bcrypt") == 2,
            "bcrypt checks for 2 users' right passwords: %s, want 2 (the rest cached)" %
            pg.metric("profgate_http_basic_auth_total", m, result="success", source="bcrypt"))
    t.check(pg.metric("profgate_http_basic_auth_total", m, result="success", source="cache") >= 5,
            "cached successes not counted")
    t.check(pg.metric("profgate_http_basic_auth_total", m, result="failure") >= 2,
            "failures not counted")
    t.stop_profgate(pg)
    text = pg.log_text()
    t.check(pw not in text and h not in text, "the password or its hash is in the log")


def test_web_tls_and_config_change(t):
    c = Certs(t.tmpdir)
    crt, key = c.issue("web")
    pw, h = bcrypt(PASSWORD)
    web = os.path.join(t.tmpdir, "web.yml")
    write(web, "tls_server_config:\n  cert_file: %s\n  key_file: %s\nbasic_auth_users:\n"
               "  alice: '%s'\n" % (crt, key, h))
    pg = web_auth_profgate(t, web, pw, tls_ca=c.ca)
    st, _ = https(pg.port, "/metrics", client_ctx(c.ca), method="GET", headers=basic("alice", pw))
    t.check(st == 200, "GET /metrics over TLS with credentials: %d" % st)
    st, _ = https(pg.port, "/metrics", client_ctx(c.ca), method="GET")
    t.check(st == 401, "GET /metrics over TLS without credentials: %d" % st)
    ans = plain_http_answer(pg.port)
    t.check(not ans.startswith(b"HTTP/"), "plain HTTP on the TLS web port answered: %r" % ans[:80])
    t.check(wait_until(lambda: pg.metric("profgate_http_tls_handshake_errors_total",
                                         listener="web") >= 1, 10),
            "plain HTTP on the web port not counted")
    # a new password in the file applies without a restart (the toolkit reads it per request)
    pw2, h2 = bcrypt("another-pw")
    if h2 != h:  # (with the fixed fallback hash there is no second password to switch to)
        write(web, "tls_server_config:\n  cert_file: %s\n  key_file: %s\nbasic_auth_users:\n"
                   "  alice: '%s'\n" % (crt, key, h2))
        t.check(wait_until(lambda: https(pg.port, "/-/healthy", client_ctx(c.ca), method="GET",
                                         headers=basic("alice", pw2))[0] == 200, 10),
                "the changed web config file was not applied")
        st, _ = https(pg.port, "/-/healthy", client_ctx(c.ca), method="GET", headers=basic("alice", pw))
        t.check(st == 401, "the old password after the change: %d, want 401" % st)
        pg.headers = basic("alice", pw2)
    # a broken change is logged and the running config kept
    write(web, "basic_auth_users: [\n")
    st, _ = https(pg.port, "/-/healthy", client_ctx(c.ca), method="GET", headers=pg.headers)
    t.check(st == 200, "a broken web config file replaced the running one: %d" % st)
    t.check("web config file changed but does not load" in pg.log_text(), "broken change not logged")
    t.stop_profgate(pg)


def test_lifecycle_flag(t):
    cfg = {"storage": {"path": os.path.join(t.tmpdir, "data")}}
    pg = t.profgate(cfg)
    st, body = pg.reload()
    t.check(st == 403 and "Lifecycle API is not enabled." in body,
            "POST /-/reload without --web.enable-lifecycle: %d %r, want 403" % (st, body))
    st, _, _ = http_request(pg.url + "/-/reload", b"", method="PUT")
    t.check(st == 403, "PUT /-/reload without the flag: %d, want 403" % st)
    st, _, _ = http_request(pg.url + "/-/reload", None, method="GET")
    t.check(st == 405, "GET /-/reload: %d, want 405" % st)
    # SIGHUP always reloads
    n = pg.log_text().count('msg="reloaded"')
    pg.signal(signal.SIGHUP)
    t.check(wait_until(lambda: pg.log_text().count('msg="reloaded"') > n, 10),
            "SIGHUP did not reload without the flag")
    t.stop_profgate(pg)
    pg2 = t.profgate(cfg, name="lifecycle", extra_args=["--web.enable-lifecycle"])
    st, body = pg2.reload()
    t.check(st == 200, "POST /-/reload with --web.enable-lifecycle: %d %r" % (st, body))
    t.stop_profgate(pg2)


BAD_WEB_CONFIGS = [
    ("tls_server_confg: {}\n", "1:1: field tls_server_confg not found in type web.Config"),
    ("basic_auth_users:\n  alice: hunter2-plaintext\n",
     "2:10: basic_auth_users: user alice: the password hash is not a bcrypt hash"),
    ("basic_auth_users: [alice]\n", "1:19: basic_auth_users: expected a mapping"),
    ("tls_server_config:\n  cert_file: /dev/null\n",
     "2:3: tls_server_config: missing key_file or key"),
    ("tls_server_config:\n  cert_file: /dev/null\n  key_file: /nonexistent/k.pem\n",
     "3:13: tls_server_config: key_file /nonexistent/k.pem: No such file or directory"),
    ("tls_server_config:\n  cert_file: /dev/null\n  key_file: /dev/null\n"
     "  client_auth_type: Always\n", "4:21: tls_server_config: invalid client_auth_type: Always"),
    ("tls_server_config:\n  cert_file: /dev/null\n  key_file: /dev/null\n  max_version: SSL3\n",
     "4:16: tls_server_config: unknown TLS version: SSL3"),
    ("http_server_config:\n  http2: false\n", "2:3: http_server_config is not supported by profgate"),
    ("basic_auth_users:\n  alice: '%s'\n  alice: '%s'\n" % (FIXED[1], FIXED[1]),
     "3:3: basic_auth_users: duplicate user alice"),
    ("basic_auth_users: {\n", "2:1: yaml: "),
]


def test_check_web_config(t):
    for i, (text, want) in enumerate(BAD_WEB_CONFIGS):
        path = os.path.join(t.tmpdir, "bad%d.yml" % i)
        write(path, text)
        r = subprocess.run([pgtest.PROFGATE, "check-web-config", path], capture_output=True,
                           text=True, timeout=30)
        out = r.stdout + r.stderr
        t.check(r.returncode == 1 and any(l.startswith(path + ":" + want) for l in out.splitlines()),
                "check-web-config %r: want rc 1 and %s:%s, got rc=%d %s" % (text, path, want, r.returncode, out))
        t.check("hunter2" not in out, "a hash is quoted in the error: %s" % out)
    c = Certs(t.tmpdir)
    crt, key = c.issue("server")
    good = os.path.join(t.tmpdir, "good.yml")
    write(good, "tls_server_config:\n  cert_file: %s\n  key_file: %s\n  client_ca_file: %s\n"
                "  client_auth_type: RequireAndVerifyClientCert\n  min_version: TLS13\n"
                "basic_auth_users:\n  alice: '%s'\n" % (crt, key, c.ca, FIXED[1]))
    r = subprocess.run([pgtest.PROFGATE, "check-web-config", good], capture_output=True, text=True,
                       timeout=30)
    t.check(r.returncode == 0 and "OK: TLS on (client_auth_type RequireAndVerifyClientCert, TLS13 "
            "to TLS13), 1 basic auth user(s)" in r.stdout, "good web config: %d %s%s" %
            (r.returncode, r.stdout, r.stderr))
    # profgate run refuses a bad web config before starting, naming file:line:col
    cfg = os.path.join(t.tmpdir, "pg.yml")
    write(cfg, '{"storage": {"path": "%s"}}' % os.path.join(t.tmpdir, "data"))
    bad = os.path.join(t.tmpdir, "bad1.yml")
    r = subprocess.run([pgtest.PROFGATE, "run", cfg, "--web.listen-address", "127.0.0.1:0",
                        "--web.config.file", bad], capture_output=True, text=True, timeout=30)
    t.check(r.returncode == 1 and bad + ":2:10: " in r.stderr and "hunter2" not in r.stderr,
            "run with a bad web config: rc=%d %s" % (r.returncode, r.stderr))
    # a certificate that does not load stops the start too, naming the file
    junk = os.path.join(t.tmpdir, "junk.yml")
    write(junk, "tls_server_config:\n  cert_file: /dev/null\n  key_file: %s\n" % key)
    r = subprocess.run([pgtest.PROFGATE, "run", cfg, "--web.listen-address", "127.0.0.1:0",
                        "--web.config.file", junk], capture_output=True, text=True, timeout=30)
    t.check(r.returncode == 1 and "cert_file /dev/null" in r.stdout + r.stderr,
            "run with an unloadable certificate: rc=%d %s%s" % (r.returncode, r.stdout, r.stderr))


if __name__ == "__main__":
    sys.exit(pgtest.run_tests([test_receiver_on_its_own_tls_listener,
                               test_limits_apply_to_the_receivers_listener_alone, test_receiver_mtls,
                               test_certificate_rotated_while_running,
                               test_reload_changes_the_receiver_listener, test_web_basic_auth,
                               test_web_tls_and_config_change, test_lifecycle_flag,
                               test_check_web_config]))
