"""test_http_client_oauth2.py - oauth2 (client credentials), http_headers and
basic_auth files on profgate's HTTP clients, against real HTTP on loopback
(fake_http.py): a fake OAuth 2.0 token endpoint, pprof targets that demand the tokens it
issued, and the Pyroscope test receiver for remote_write.

- http_sd_configs uses oauth2 the same way (one loader, one client for everything);
- scrape and remote_write each get their own token (their own client_id, scope and
  endpoint_params reach the token endpoint, the credentials as HTTP Basic), cached: one
  fetch serves many scrapes and pushes; eight targets waiting for a slow token endpoint
  queue behind a single fetch;
- a token with a short expires_in is fetched again before it expires; a revoked token
  (the target answers 401) is dropped and the request retried once with a fresh one, so
  the target never goes down;
- the token endpoint down: the oauth2 job is down with "oauth2: cannot fetch token" and
  the token URL, retried every scrape, while a job without oauth2 stays up; remote_write's
  pushes fail the same way and are retried with backoff; back up, both recover;
- http_headers values, secrets and files reach the target (a file's new content on the
  next scrape), and no secret (header secret, client secret, token) appears in
  /api/v1/targets or the log; a missing header file is a clear scrape error;
- basic_auth username_file / password_file are re-read: a changed password works on the
  next scrape without a reload."""
import json
import os
import sys

import pgtest
from fake_http import Target, TokenServer
from pgtest import job, remote, wait_until

GOROUTINE_ONLY = ("goroutine",)


def oauth2(ts, client_id, secret, **extra):
    o = {"client_id": client_id, "client_secret": secret, "token_url": ts.url}
    o.update(extra)
    return o


def health(pg, pool):
    act = pg.active(pool=pool)
    return [(a["health"], a["lastError"]) for a in act]


def test_oauth2_scrape_and_remote_write(t):
    ts = TokenServer({"scraper": "s3cret-scrape", "writer": "s3cret-write"}).start()
    t.defer(ts.stop)
    tg = Target(tokens=ts, client_id="scraper").start()
    t.defer(tg.stop)
    rec = t.receiver()
    secret_file = os.path.join(t.tmpdir, "writer-secret")
    with open(secret_file, "w") as f:
        f.write("s3cret-write\n")
    cfg = {"scrape_configs": [job("oa", [tg.address], types=GOROUTINE_ONLY,
                                  oauth2=oauth2(ts, "scraper", "s3cret-scrape", scopes=["profiles:read", "x"],
                                                endpoint_params={"audience": "targets"}))],
           "remote_write": [remote("rw", rec.url, oauth2={"client_id": "writer", "client_secret_file": secret_file,
                                                          "token_url": ts.url})]}
    pg = t.profgate(cfg)
    t.require(wait_until(lambda: rec.count(job="oa") >= 4, 30),
              "profiles did not arrive: %s; receiver %d" % (health(pg, "oa"), rec.count()))
    t.check(health(pg, "oa") == [("up", "")], "oauth2 target health: %s" % health(pg, "oa"))
    # own tokens, fetched once each (cached for expires_in 3600 s)
    t.check(ts.fetches("scraper") == 1, "scraper token fetches: %d" % ts.fetches("scraper"))
    t.check(ts.fetches("writer") == 1, "writer token fetches: %d" % ts.fetches("writer"))
    reqs = {c: (form, style) for c, form, style in ts.requests}
    form, style = reqs.get("scraper", ({}, ""))
    t.check(style == "basic" and form.get("grant_type") == "client_credentials"
            and form.get("scope") == "profiles:read x" and form.get("audience") == "targets",
            "scraper token request: %s %s" % (style, form))
    t.check("client_secret" not in form, "client secret sent in the body: %s" % form)
    auths = set(tg.headers_of("Authorization"))
    t.check(auths and all(a.startswith("Bearer tok-scraper-") for a in auths), "target saw %s" % auths)
    rw_auth = {it.headers.get("authorization") for it in rec.snapshot()}
    t.check(len(rw_auth) == 1 and next(iter(rw_auth)).startswith("Bearer tok-writer-"),
            "remote_write Authorization: %s" % rw_auth)
    # no secret anywhere an operator looks
    text = json.dumps(pg.targets()) + pg.log_text()
    for s in ["s3cret-scrape", "s3cret-write"] + list(ts.issued):
        t.check(s not in text, "secret %r visible in targets API or log" % s)
    t.stop_profgate(pg)


def test_oauth2_http_sd(t):
    # discovery shares the options: http_sd with its own oauth2 client
    ts = TokenServer({"sd": "sdpw"}).start()
    t.defer(ts.stop)
    tg = Target().start()
    t.defer(tg.stop)
    sd = Target(tokens=ts, client_id="sd").start()
    t.defer(sd.stop)
    sd.sd_groups = [{"targets": [tg.address], "labels": {"team": "a"}}]
    j = job("sd", [], types=GOROUTINE_ONLY)
    del j["static_configs"]
    j["http_sd_configs"] = [{"url": "http://%s/sd" % sd.address, "refresh_interval": "1s",
                             "oauth2": oauth2(ts, "sd", "sdpw")}]
    pg = t.profgate({"scrape_configs": [j]})
    t.require(wait_until(lambda: health(pg, "sd") == [("up", "")], 15), "health: %s" % health(pg, "sd"))
    t.check(ts.fetches("sd") == 1 and sd.unauthorized == 0, "sd token: %d fetches, %d refusals"
            % (ts.fetches("sd"), sd.unauthorized))
    t.stop_profgate(pg)


def test_oauth2_one_fetch_for_many(t):
    # a slow token endpoint and eight targets scraped at once: they queue behind one fetch
    ts = TokenServer({"scraper": "pw"}, delay=0.5).start()
    t.defer(ts.stop)
    tgs = [Target(tokens=ts, client_id="scraper").start() for _ in range(8)]
    for tg in tgs:
        t.defer(tg.stop)
    cfg = {"scrape_configs": [job("many", [tg.address for tg in tgs], types=GOROUTINE_ONLY,
                                  oauth2=oauth2(ts, "scraper", "pw"))]}
    pg = t.profgate(cfg)
    t.require(wait_until(lambda: all(len(tg.seen) >= 2 for tg in tgs), 20),
              "targets not scraped: %s" % [len(tg.seen) for tg in tgs])
    t.check(ts.fetches("scraper") == 1, "token fetches for 8 targets: %d" % ts.fetches("scraper"))
    t.check(all(h == ("up", "") for h in health(pg, "many")), "health: %s" % health(pg, "many"))
    t.stop_profgate(pg)


def test_oauth2_token_wait_bounded(t):
    # the scrape timeout covers the wait for the token: a token endpoint slower than the
    # scrape timeout makes that scrape time out, the token still arrives and is used next
    ts = TokenServer({"scraper": "pw"}, delay=2.5).start()
    t.defer(ts.stop)
    tg = Target(tokens=ts, client_id="scraper").start()
    t.defer(tg.stop)
    pg = t.profgate({"scrape_configs": [job("slow", [tg.address], types=GOROUTINE_ONLY, interval="3s",
                                            timeout="1s", oauth2=oauth2(ts, "scraper", "pw"))]})
    t.require(wait_until(lambda: health(pg, "slow") and health(pg, "slow")[0][0] == "down", 10),
              "health: %s" % health(pg, "slow"))
    t.check("waiting for the oauth2 token" in health(pg, "slow")[0][1], "lastError: %s" % health(pg, "slow"))
    t.check(wait_until(lambda: health(pg, "slow") == [("up", "")], 10), "health: %s" % health(pg, "slow"))
    t.check(ts.fetches("scraper") == 1, "fetches: %d" % ts.fetches("scraper"))
    t.stop_profgate(pg)


def test_oauth2_credentials_in_body(t):
    # a token endpoint that ignores HTTP Basic: Go's auto-detection sends them in the form
    # on the second try, and keeps doing so
    ts = TokenServer({"scraper": "pw&1"}, expires_in=11, styles=("body",)).start()
    t.defer(ts.stop)
    tg = Target(tokens=ts, client_id="scraper").start()
    t.defer(tg.stop)
    pg = t.profgate({"scrape_configs": [job("oa", [tg.address], types=GOROUTINE_ONLY,
                                            oauth2=oauth2(ts, "scraper", "pw&1"))]})
    t.require(wait_until(lambda: ts.fetches("scraper") >= 3, 20), "fetches: %s" % ts.requests)
    styles = [st for _, _, st in ts.requests]
    t.check(styles[:2] == ["basic", "body"] and set(styles[2:]) == {"body"}, "styles: %s" % styles)
    t.check(ts.requests[1][1].get("client_secret") == "pw&1", "form: %s" % ts.requests[1][1])
    t.check(health(pg, "oa") == [("up", "")], "health: %s" % health(pg, "oa"))
    t.check("pw&1" not in pg.log_text() + json.dumps(pg.targets()), "secret visible")
    t.stop_profgate(pg)


def test_oauth2_expiry_and_401(t):
    ts = TokenServer({"scraper": "pw"}, expires_in=11).start()  # valid 1 s after the 10 s margin
    t.defer(ts.stop)
    tg = Target(tokens=ts, client_id="scraper").start()
    t.defer(tg.stop)
    cfg = {"scrape_configs": [job("oa", [tg.address], types=GOROUTINE_ONLY, oauth2=oauth2(ts, "scraper", "pw"))]}
    pg = t.profgate(cfg)
    t.require(wait_until(lambda: ts.fetches("scraper") >= 3, 20),
              "short-lived token not refreshed: %d fetches" % ts.fetches("scraper"))
    t.check(tg.unauthorized == 0, "an expired token was sent %d times" % tg.unauthorized)
    # long-lived tokens now; revoke them: the next scrape gets 401, refreshes and retries
    ts.expires_in = 3600
    n0 = ts.fetches("scraper")
    t.require(wait_until(lambda: ts.fetches("scraper") > n0, 10), "no fetch after the change")
    long_lived = "Bearer " + list(ts.issued)[-1]
    t.require(wait_until(lambda: long_lived in tg.headers_of("Authorization")
                         and health(pg, "oa") == [("up", "")], 10), "health %s" % health(pg, "oa"))
    before = ts.fetches("scraper")
    fails = pg.metric("profgate_scrape_failures_total", job="oa")
    ts.revoke_all()
    t.require(wait_until(lambda: tg.unauthorized >= 1, 10), "the revoked token was never refused")
    t.check(wait_until(lambda: ts.fetches("scraper") == before + 1, 10),
            "fetches after 401: %d -> %d" % (before, ts.fetches("scraper")))
    n = len(tg.seen)
    t.check(wait_until(lambda: len(tg.seen) >= n + 2, 10), "scrapes stopped after the 401")
    t.check(pg.metric("profgate_scrape_failures_total", job="oa") == fails,
            "the 401 was not retried: failures %s -> %s" % (fails, pg.metric("profgate_scrape_failures_total", job="oa")))
    t.check(health(pg, "oa") == [("up", "")], "health after 401: %s" % health(pg, "oa"))
    t.stop_profgate(pg)


def test_oauth2_token_server_down(t):
    ts = TokenServer({"scraper": "pw", "writer": "wpw"}).start()
    port = ts.port
    ts.stop()  # refused from the start
    tg = Target(tokens=ts, client_id="scraper").start()
    t.defer(tg.stop)
    plain = Target().start()
    t.defer(plain.stop)
    rec = t.receiver()
    cfg = {"scrape_configs": [job("oa", [tg.address], types=GOROUTINE_ONLY, oauth2=oauth2(ts, "scraper", "pw")),
                              job("plain", [plain.address], types=GOROUTINE_ONLY)],
           "remote_write": [remote("rw", rec.url, oauth2=oauth2(ts, "writer", "wpw"))]}
    pg = t.profgate(cfg)
    t.require(wait_until(lambda: health(pg, "oa") and health(pg, "oa")[0][0] == "down", 15),
              "oauth2 job health: %s" % health(pg, "oa"))
    err = health(pg, "oa")[0][1]
    t.check("oauth2: cannot fetch token" in err and "127.0.0.1:%d/token" % port in err and tg.address in err,
            "lastError: %r" % err)
    t.check(wait_until(lambda: pg.metric("profgate_scrape_failures_total", job="oa") >= 3, 15),
            "the failing job is not retried every scrape")
    t.check(health(pg, "plain") == [("up", "")], "the other job: %s" % health(pg, "plain"))
    t.check(len(tg.seen) == 0, "the target was scraped without a token")
    # remote_write: the push fails with the token error and is retried with backoff
    t.check(wait_until(lambda: pg.metric("profgate_remote_write_retried_profiles_total", remote="rw") > 0, 15),
            "remote_write not retried")
    t.check(rec.requests == 0, "pushed without a token: %d requests" % rec.requests)
    t.check("oauth2: cannot fetch token" in pg.log_text(), "no token error in the log")
    ts.start()  # same port
    t.defer(ts.stop)
    t.check(wait_until(lambda: health(pg, "oa") == [("up", "")], 15), "no recovery: %s" % health(pg, "oa"))
    t.check(wait_until(lambda: rec.count(job="plain") > 0, 15), "remote_write did not recover")
    t.check(ts.fetches("scraper") >= 1 and ts.fetches("writer") >= 1, "tokens after recovery: %s" % ts.requests)
    t.stop_profgate(pg)


def test_http_headers_and_secrets(t):
    tg = Target().start()
    t.defer(tg.stop)
    hfile = os.path.join(t.tmpdir, "tenant")
    with open(hfile, "w") as f:
        f.write("tenant-from-file-1\n")
    headers = {"X-Scope-OrgID": {"values": ["team-a"], "secrets": ["hdr-s3cret-value"]},
               "X-Tenant": {"files": [hfile]}}
    missing = {"X-Tenant": {"files": [os.path.join(t.tmpdir, "nope")], "secrets": ["other-hdr-s3cret"]}}
    cfg = {"scrape_configs": [job("hdr", [tg.address], types=GOROUTINE_ONLY, http_headers=headers),
                              job("missing", [tg.address], types=GOROUTINE_ONLY, http_headers=missing,
                                  params={"job": ["missing"]})]}
    pg = t.profgate(cfg)
    t.require(wait_until(lambda: "tenant-from-file-1" in tg.headers_of("X-Tenant"), 15),
              "X-Tenant never arrived: %s" % tg.seen[:2])
    org = [hs for p, hs, _ in tg.seen if "job=missing" not in p]
    vals = [v for k, v in org[-1] if k.lower() == "x-scope-orgid"]
    t.check(sorted(vals) == ["hdr-s3cret-value", "team-a"], "X-Scope-OrgID values: %s" % vals)
    with open(hfile, "w") as f:
        f.write("tenant-from-file-2\n")
    t.check(wait_until(lambda: "tenant-from-file-2" in tg.headers_of("X-Tenant"), 10),
            "changed header file not re-read")
    h = health(pg, "missing")
    t.check(h and h[0][0] == "down" and "unable to read headers file" in h[0][1] and "nope" in h[0][1],
            "missing header file: %s" % h)
    text = json.dumps(pg.targets()) + pg.log_text()
    for s in ("hdr-s3cret-value", "other-hdr-s3cret"):
        t.check(s not in text, "header secret %r visible" % s)
    t.stop_profgate(pg)


def test_basic_auth_files_reread(t):
    pw = os.path.join(t.tmpdir, "pw")
    user = os.path.join(t.tmpdir, "user")
    with open(pw, "w") as f:
        f.write("first-pw\n")
    with open(user, "w") as f:
        f.write("alice\n")
    tg = Target(basic=("alice", pw)).start()
    t.defer(tg.stop)
    # the target reads the same file: profgate must follow every change of it
    cfg = {"scrape_configs": [job("ba", [tg.address], types=GOROUTINE_ONLY,
                                  basic_auth={"username_file": user, "password_file": pw})]}
    pg = t.profgate(cfg)
    t.require(wait_until(lambda: health(pg, "ba") == [("up", "")], 15), "health %s" % health(pg, "ba"))
    n = tg.unauthorized
    with open(pw + ".tmp", "w") as f:
        f.write("second-pw\n")
    os.replace(pw + ".tmp", pw)
    seen = len(tg.seen)
    t.check(wait_until(lambda: len(tg.seen) >= seen + 3, 10), "scrapes stopped")
    t.check(tg.unauthorized <= n + 1 and health(pg, "ba") == [("up", "")],
            "new password not used: %d refusals, %s" % (tg.unauthorized - n, health(pg, "ba")))
    t.check("second-pw" not in pg.log_text() + json.dumps(pg.targets()), "password visible")
    t.stop_profgate(pg)


if __name__ == "__main__":
    sys.exit(pgtest.run_tests([test_oauth2_scrape_and_remote_write, test_oauth2_http_sd,
                               test_oauth2_one_fetch_for_many,
                               test_oauth2_token_wait_bounded, test_oauth2_credentials_in_body,
                               test_oauth2_expiry_and_401,
                               test_oauth2_token_server_down, test_http_headers_and_secrets,
                               test_basic_auth_files_reread]))
