"""fake_http.py - the servers profgate's HTTP client tests (test_http_client_*.py) talk
to, all Python 3 standard library on 127.0.0.1, real HTTP (and TLS) on loopback.

Not a test itself (CTest runs only test_*.py).
- TokenServer: an OAuth 2.0 token endpoint (RFC 6749 client credentials grant, section
  4.4) as Keycloak/Okta/Auth0 answer it: POST /token with
  application/x-www-form-urlencoded grant_type=client_credentials[&scope=...][&extra]
  and the client's id and secret as HTTP Basic (form-escaped, RFC 6749 2.3.1) or as
  client_id/client_secret form fields; 200 {"access_token", "token_type": "Bearer",
  "expires_in"}, 401 {"error": "invalid_client"} for unknown credentials, 400
  {"error": "unsupported_grant_type"} for another grant. Issued tokens are recorded,
  can be revoked (resources then answer 401), and every request is logged. stop() closes
  the port (connection refused); start() reopens the same port.
- Target: a pprof target serving a real Go goroutine profile on any
  /debug/pprof/goroutine request (and, with sd_groups set, an http_sd endpoint on /sd;
  and a Pyroscope push endpoint that accepts and forgets every POST); optionally it demands a bearer token the TokenServer
  issued (401 otherwise) or HTTP basic credentials, and it records every request's
  headers. With a TLS context it serves HTTPS (and records the client certificate's CN).
- Proxy: a forward proxy: absolute-form GET/POST (plain http through the proxy) and
  CONNECT tunnels (https), resolving every host name to 127.0.0.1 (so tests can use names
  that only the proxy knows); it records (method, target, headers) of every request.
- make_pki: a CA, a server certificate for 127.0.0.1/localhost and client certificates,
  made with the openssl command."""
import base64
import http.client
import http.server
import json
import os
import select
import socket
import ssl
import subprocess
import threading
import time
import urllib.parse

import pgtest

GOROUTINE = open(os.path.join(pgtest.SRC, "tests", "data", "go_goroutine.pb.gz"), "rb").read()


class _Server:
    """A threaded server on 127.0.0.1 that can be stopped and restarted on its port."""

    handler = None

    def __init__(self):
        self.port = 0
        self.httpd = None
        self.lock = threading.Lock()
        self.tls = None

    def start(self):
        self.httpd = pgtest.QuietHTTPServer(("127.0.0.1", self.port), self.make_handler())
        if self.tls is not None:
            self.httpd.socket = self.tls.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()
        return self

    def stop(self):
        if self.httpd:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None


def _reply(h, code, body=b"", ctype="application/json", extra=None):
    h.send_response(code)
    h.send_header("Content-Type", ctype)
    h.send_header("Content-Length", str(len(body)))
    for k, v in (extra or {}).items():
        h.send_header(k, v)
    h.end_headers()
    h.wfile.write(body)


class TokenServer(_Server):
    def __init__(self, clients, expires_in=3600, delay=0.0, styles=("basic", "body")):
        super().__init__()
        self.styles = styles  # accepted ways of sending the client credentials
        self.delay = delay  # seconds before each answer
        self.clients = dict(clients)  # client_id -> secret
        self.expires_in = expires_in
        self.requests = []  # (client_id, form dict, auth style)
        self.issued = {}  # token -> client_id
        self.revoked = set()
        self.n = 0

    @property
    def url(self):
        return "http://127.0.0.1:%d/token" % self.port

    def fetches(self, client_id):
        with self.lock:
            return sum(1 for c, _, _ in self.requests if c == client_id)

    def valid(self, token):
        with self.lock:
            return token in self.issued and token not in self.revoked

    def revoke_all(self):
        with self.lock:
            self.revoked.update(self.issued)

    def make_handler(self):
        ts = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in urllib.parse.parse_qs(
                    self.rfile.read(n).decode(), keep_blank_values=True).items()}
                cid, secret, style = form.get("client_id"), form.get("client_secret"), "body"
                auth = self.headers.get("Authorization", "")
                if auth.startswith("Basic "):
                    u, _, p = base64.b64decode(auth[6:]).decode().partition(":")
                    cid, secret, style = urllib.parse.unquote_plus(u), urllib.parse.unquote_plus(p), "basic"
                with ts.lock:
                    ts.requests.append((cid, form, style))
                time.sleep(ts.delay)
                if self.path != "/token" or \
                        self.headers.get("Content-Type") != "application/x-www-form-urlencoded":
                    _reply(self, 400, b'{"error":"invalid_request"}')
                elif form.get("grant_type") != "client_credentials":
                    _reply(self, 400, b'{"error":"unsupported_grant_type"}')
                elif style not in ts.styles or cid not in ts.clients or ts.clients[cid] != secret:
                    _reply(self, 401, b'{"error":"invalid_client"}')
                else:
                    with ts.lock:
                        ts.n += 1
                        tok = "tok-%s-%d" % (cid, ts.n)
                        ts.issued[tok] = cid
                    body = {"access_token": tok, "token_type": "bearer", "scope": form.get("scope", "")}
                    if ts.expires_in is not None:
                        body["expires_in"] = ts.expires_in
                    _reply(self, 200, json.dumps(body).encode(), extra={"Cache-Control": "no-store"})

        return H


class Target(_Server):
    """A pprof target; tokens (a TokenServer) makes it demand a valid bearer token of
    client_id, basic=(user, password-file) makes it demand HTTP basic credentials."""

    def __init__(self, tokens=None, client_id=None, basic=None, tls=None):
        super().__init__()
        self.tokens, self.client_id, self.basic, self.tls = tokens, client_id, basic, tls
        self.seen = []  # (path, headers as a list of (name, value), client CN)
        self.posts = []  # (path, client CN, client port): push requests answered 200
        self.sd_groups = None  # when set, GET /sd answers them (Prometheus http_sd JSON)
        self.unauthorized = 0

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def headers_of(self, name):
        """Every value of header name, over every request, in order."""
        with self.lock:
            return [v for _, hs, _ in self.seen for k, v in hs if k.lower() == name.lower()]

    def allowed(self, h):
        auth = h.headers.get("Authorization", "")
        if self.tokens is not None:
            tok = auth[7:] if auth.startswith("Bearer ") else ""
            return self.tokens.valid(tok) and self.tokens.issued.get(tok) == self.client_id
        if self.basic is not None:
            user, pwfile = self.basic
            want = "Basic " + base64.b64encode(("%s:%s" % (user, open(pwfile).read().strip())).encode()).decode()
            return auth == want
        return True

    def make_handler(self):
        tg = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def peer_cn(self):
                if isinstance(self.connection, ssl.SSLSocket):
                    cert = self.connection.getpeercert()
                    for rdn in (cert or {}).get("subject", ()):
                        for k, v in rdn:
                            if k == "commonName":
                                return v
                return None

            def do_POST(self):
                # a Pyroscope push endpoint that keeps nothing: 200, empty protobuf answer
                n = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(n)
                with tg.lock:
                    tg.posts.append((self.path, self.peer_cn(), self.client_address[1]))
                _reply(self, 200, b"", "application/proto")

            def do_GET(self):
                cn = self.peer_cn()
                with tg.lock:
                    tg.seen.append((self.path, list(self.headers.items()), cn))
                if not tg.allowed(self):
                    with tg.lock:
                        tg.unauthorized += 1
                    _reply(self, 401, b"unauthorized\n", "text/plain",
                           {"WWW-Authenticate": 'Bearer error="invalid_token"'})
                elif self.path.startswith("/sd") and tg.sd_groups is not None:
                    _reply(self, 200, json.dumps(tg.sd_groups).encode(), "application/json")
                elif self.path.startswith("/debug/pprof/goroutine"):
                    _reply(self, 200, GOROUTINE, "application/octet-stream")
                else:
                    _reply(self, 404, b"404 page not found\n", "text/plain")

        return H


class Proxy(_Server):
    """A forward proxy for http (absolute-form requests) and CONNECT; every host is
    127.0.0.1 to it. requests: (method, target, headers dict)."""

    def __init__(self):
        super().__init__()
        self.requests = []

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def seen(self, method=None, contains=""):
        with self.lock:
            return [r for r in self.requests if (method is None or r[0] == method) and contains in r[1]]

    def make_handler(self):
        px = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def record(self):
                with px.lock:
                    px.requests.append((self.command, self.path, dict(self.headers.items())))

            def do_CONNECT(self):
                self.record()
                host, _, port = self.path.rpartition(":")
                try:
                    up = socket.create_connection(("127.0.0.1", int(port)), timeout=5)
                except OSError:
                    _reply(self, 502, b"", "text/plain")
                    return
                self.send_response(200, "Connection established")
                self.end_headers()
                self.close_connection = True
                pipe(self.connection, up)

            def forward(self):
                self.record()
                u = urllib.parse.urlsplit(self.path)
                if u.scheme != "http":
                    _reply(self, 400, b"absolute-form http URL expected", "text/plain")
                    return
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else None
                conn = http.client.HTTPConnection("127.0.0.1", u.port or 80, timeout=10)
                hdrs = {k: v for k, v in self.headers.items()
                        if k.lower() not in ("proxy-connection", "connection")}
                try:
                    conn.request(self.command, u.path + ("?" + u.query if u.query else ""), body, hdrs)
                    r = conn.getresponse()
                    data = r.read()
                except OSError as e:
                    _reply(self, 502, str(e).encode(), "text/plain")
                    return
                _reply(self, r.status, data, r.getheader("Content-Type") or "text/plain")

            do_GET = forward
            do_POST = forward

        return H


def pipe(a, b):
    socks = [a, b]
    try:
        while True:
            r, _, _ = select.select(socks, [], [], 30)
            if not r:
                return
            for s in r:
                data = s.recv(65536)
                if not data:
                    return
                (b if s is a else a).sendall(data)
    except OSError:
        pass
    finally:
        b.close()


def _openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, capture_output=True, timeout=60)


def make_pki(d, clients=("client-a", "client-b")):
    """Writes ca.pem, server.pem/server.key (CN 127.0.0.1, SAN 127.0.0.1 and localhost) and
    <name>.pem/<name>.key per client under d, all signed by the CA. Returns d."""
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=pg-test-ca",
             "-keyout", "ca.key", "-out", "ca.pem", cwd=d)
    ext = os.path.join(d, "san.ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name, extra in [("server", ["-extfile", ext])] + [(c, []) for c in clients]:
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=" + name,
                 "-keyout", name + ".key", "-out", name + ".csr", cwd=d)
        _openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                 "-CAcreateserial", "-days", "2", "-out", name + ".pem", *extra, cwd=d)
    return d


def server_tls(d, max_version=None, client_ca=False):
    """An SSLContext for Target: the PKI's server certificate, TLS capped at max_version,
    client certificates signed by the CA required when client_ca."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(d, "server.pem"), os.path.join(d, "server.key"))
    if max_version is not None:
        ctx.maximum_version = max_version
    if client_ca:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(os.path.join(d, "ca.pem"))
    return ctx


def wait(cond, timeout):
    return pgtest.wait_until(cond, timeout)


__all__ = ["TokenServer", "Target", "Proxy", "make_pki", "server_tls", "wait", "time"]
