"""test_cluster_auth.py - clustering with protected web ports: replicas started with a
--web.config.file (TLS from an openssl-made CA and basic_auth_users with a bcrypt hash)
probe each other with the peers block's client options, spelled as in a scrape config
(scheme: https, tls_config.ca_file, basic_auth with password_file; the files named
relative to the config file's directory).

The targets and the checks of a settled split are test_cluster.py's (one Go target as 40
static groups, health_check_interval 1s).

- three replicas, all right: every replica sees the other two up with no lastError, and
  the active sets are disjoint and cover all 40 targets;
- a wrong password: the replica with it sees its peer down with lastError "server returned
  HTTP status 401 Unauthorized" (and scrapes everything, as a cluster of one), while the
  peer sees it up; neither password is in its /api/v1/cluster answer, its /metrics or its
  log; a reload with the right password_file brings the peer up and the two split the
  targets disjointly;
- without tls_config the self-signed CA is not trusted: the peer is down with a
  certificate error."""
import os
import sys
import time

import pgtest
from pgtest import free_port, log, wait_until
from test_cluster import ALL, N, active, base_config, cluster, split, steady
from test_web_tls import Certs, basic, bcrypt, client_ctx, write

USER = "profgate"
PEER_PW = "peer-pw-7f3a9c"       # the right password (in peer-password, mode 0600)
WRONG_PW = "wrong-pw-c41d2e"     # inline in one replica's config


def web_config(t, certs):
    """A web config file with TLS (a cert for 127.0.0.1) and one bcrypt user."""
    crt, key = certs.issue("web")
    pw, h = bcrypt(PEER_PW)
    path = os.path.join(t.tmpdir, "web.yml")
    write(path, "tls_server_config:\n  cert_file: %s\n  key_file: %s\nbasic_auth_users:\n"
                "  %s: '%s'\n" % (crt, key, USER, h))
    pwfile = os.path.join(t.tmpdir, "peer-password")
    write(pwfile, pw + "\n")
    os.chmod(pwfile, 0o600)
    return path, pw, h


def peers_block(addrs, ca=True, password=None):
    """Static peers reached over https with basic auth; relative file names (the config
    files are in t.tmpdir, like ca.crt and peer-password)."""
    b = {"static_configs": [{"targets": list(addrs)}], "scheme": "https",
         "basic_auth": {"username": USER}}
    if ca:
        b["tls_config"] = {"ca_file": "ca.crt"}
    if password:
        b["basic_auth"]["password"] = password
    else:
        b["basic_auth"]["password_file"] = "peer-password"
    return b


def start_replica(t, app, name, web, pw, ca, port, peers):
    pg = t.profgate(base_config(t, app, name, peers), name=name, start=False,
                    extra_args=["--web.config.file", web, "--web.enable-lifecycle"])
    rc, out = pg.check_config()
    t.require(rc == 0 and "cluster enabled" in out, "config does not load: " + out)
    pg.scheme = "https"
    pg.ssl_context = client_ctx(ca)
    pg.headers = basic(USER, pw)
    pg.start(port=port)
    return pg


def peer_view(pg):
    """address -> (state, lastError) as pg sees its members."""
    return {p["address"]: (p["state"], p["lastError"]) for p in cluster(pg)["peers"]}


def test_https_basic_auth_peers(t):
    app = t.go_target("pprofapp")
    certs = Certs(t.tmpdir)
    web, pw, _ = web_config(t, certs)
    ports = [free_port() for _ in range(3)]
    addrs = ["127.0.0.1:%d" % p for p in ports]
    pgs = [start_replica(t, app, "r%d" % (i + 1), web, pw, certs.ca, ports[i], peers_block(addrs))
           for i in range(3)]
    t0 = time.monotonic()
    sets = wait_until(lambda: steady(pgs), 40)
    t.require(sets, "no steady split over https + basic auth: %s; views %s"
              % (split(pgs), [peer_view(pg) for pg in pgs]))
    log("  steady over https + basic auth after %.2fs: %s"
        % (time.monotonic() - t0, [len(s) for s in sets]))
    t.check(all(len(s) > 0 for s in sets), "a replica owns nothing: %s" % sets)
    t.check(set().union(*sets) == ALL and sum(len(s) for s in sets) == N,
            "active sets not disjoint and complete: %s" % sets)
    for pg in pgs:
        view = peer_view(pg)
        t.check(len(view) == 3 and all(st == "up" and not err for st, err in view.values()),
                "%s does not see every peer up without errors: %s" % (pg.name, view))
        t.check(pg.metric("profgate_cluster_peers", state="up") == 3,
                "%s: profgate_cluster_peers{state=up} != 3" % pg.name)
    for pg in pgs:
        t.stop_profgate(pg)
        t.check("scheme=https" in pg.log_text(), "%s: the probe scheme is not logged" % pg.name)
        t.check(pw not in pg.log_text(), "%s: the peer password is in the log" % pg.name)


def test_wrong_password_then_reload(t):
    app = t.go_target("pprofapp")
    certs = Certs(t.tmpdir)
    web, pw, h = web_config(t, certs)
    ports = [free_port() for _ in range(2)]
    addrs = ["127.0.0.1:%d" % p for p in ports]
    good = start_replica(t, app, "good", web, pw, certs.ca, ports[0], peers_block(addrs))
    bad = start_replica(t, app, "bad", web, pw, certs.ca, ports[1],
                        peers_block(addrs, password=WRONG_PW))

    def bad_sees_good_down():
        st, err = peer_view(bad).get(good.address, (None, None))
        return (st, err) if st == "down" else None
    got = wait_until(bad_sees_good_down, 30)
    t.require(got, "the replica with the wrong password does not see its peer down: %s"
              % peer_view(bad))
    t.check("401" in got[1] and "Unauthorized" in got[1],
            "lastError of a peer refusing the password: %r, want a 401" % got[1])
    t.check(wait_until(lambda: peer_view(good).get(bad.address, ("",))[0] == "up", 20),
            "the replica with the right password does not see the other up: %s" % peer_view(good))
    # the wrong-password replica is a cluster of one: it scrapes every target
    t.check(wait_until(lambda: set(active(bad)) == ALL, 30),
            "a replica whose peers are all down does not scrape everything: %d of %d"
            % (len(active(bad)), N))
    for pg in (good, bad):
        st, body = pg.get("/api/v1/cluster")
        text = body.decode()
        t.check(st == 200 and WRONG_PW not in text and pw not in text and h not in text,
                "%s: a password is in /api/v1/cluster: %s" % (pg.name, text))
        st, body = pg.get("/metrics")
        t.check(WRONG_PW.encode() not in body and pw.encode() not in body,
                "%s: a password is in /metrics" % pg.name)
        logs = pg.log_text()
        t.check(WRONG_PW not in logs and pw not in logs and h not in logs,
                "%s: a password or its hash is in the log" % pg.name)
    t.check('err="server returned HTTP status 401 Unauthorized"' in bad.log_text(),
            "the peer going down with its 401 is not logged")

    # the right password by reload: the peer comes up and the two split the targets
    bad.write_config(base_config(t, app, "bad", peers_block(addrs)))
    st, body = bad.reload()
    t.require(st == 200, "reload with the right password_file failed: %s %s" % (st, body))
    sets = wait_until(lambda: steady([good, bad]), 30)
    t.require(sets, "no disjoint split after the password was fixed: %s; %s"
              % (split([good, bad]), peer_view(bad)))
    t.check(all(len(s) > 0 for s in sets), "a replica owns nothing: %s" % sets)
    view = peer_view(bad)
    t.check(view.get(good.address) == ("up", ""), "after the reload: %s" % view)
    for pg in (good, bad):
        t.stop_profgate(pg)
        t.check(WRONG_PW not in pg.log_text() and pw not in pg.log_text(),
                "%s: a password is in the log" % pg.name)


def test_untrusted_certificate(t):
    app = t.go_target("pprofapp")
    certs = Certs(t.tmpdir)
    web, pw, _ = web_config(t, certs)
    ports = [free_port() for _ in range(2)]
    addrs = ["127.0.0.1:%d" % p for p in ports]
    a = start_replica(t, app, "a", web, pw, certs.ca, ports[0], peers_block(addrs))
    b = start_replica(t, app, "b", web, pw, certs.ca, ports[1], peers_block(addrs, ca=False))

    def down():
        st, err = peer_view(b).get(a.address, (None, None))
        return err if st == "down" else None
    err = wait_until(down, 30)
    t.require(err, "a peer with a certificate from an untrusted CA is not down: %s" % peer_view(b))
    t.check("certificate" in err.lower() or "ssl" in err.lower(),
            "lastError of an untrusted peer certificate: %r" % err)
    log("  untrusted CA: %s" % err)
    for pg in (a, b):
        t.stop_profgate(pg)


if __name__ == "__main__":
    sys.exit(pgtest.run_tests([test_https_basic_auth_peers, test_wrong_password_then_reload,
                               test_untrusted_certificate]))
