"""test_web_ui.py - the web UI (issue 14) in a real browser: headless Debian chromium
against `profgate run` under a route prefix (--web.external-url http://.../pg/), with a real
Go target (pprofapp), a down target, a target dropped by relabeling, two backends (one
answering 503) and a push to the receiver.

- every page's DOM after its JS ran (chromium --dump-dom --virtual-time-budget): targets
  grouped by job with up/total, states, label chips and flame graph links; service
  discovery with the dropping rule; both backends with the failing one's error; the
  buffer; the config with <secret> (scrape_config_files included); the flame graph of the Go target and of the pushed
  series, whose frames are elements named by real Go functions (runtime.*, main.*);
- the JSON endpoints behind them (/pg/api/v1/...; the targets page's counts, filters and
  paging; service discovery's search and paging), the route prefix (a path outside it
  is 404, /pg redirects to /pg/), the embedded assets' Content-Type and ETag/304;
- no secret of the config (passwords, bearer token, header value, URL password) appears
  in any page (its HTML and its DOM after the JS ran), JSON endpoint or /metrics;
- 10,000 targets: the targets page fetches only the first page of rows
  (/api/v1/targets/pools?limit=100: checked, with the bytes printed), is built in under 1 s
  (the page records its render time; read through the DevTools protocol (cdp.py), as
  virtual time stops the page's clock), and its search runs on the server over every target.
Screenshots of every page are saved in $PG_BUILD/web-ui-screenshots (CI artefacts).
Without chromium the DOM checks are skipped with a notice and the JSON/HTML checks run."""
import base64
import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import urllib.parse
import urllib.request

import cdp
import pgtest
from pgtest import free_port, http_get, http_request, job, remote, wait_until

PREFIX = "/pg"
SECRETS = ("PW-e2e-s3cret", "BEARER-e2e-t0ken", "HDR-e2e-k3y", "URLPASS-e2e", "RX-e2e-pass")
SHOTS = os.path.join(pgtest.BUILD, "web-ui-screenshots")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def config(t, app, down_port, a, b):
    aurl = a.url.replace("http://", "http://alice:URLPASS-e2e@")
    return {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
        "scrape_configs": [
            job("app", [{"targets": [app.address], "labels": {"service_name": "ui-svc", "team": "gophers"}},
                        {"targets": ["dropme.invalid:1"], "labels": {"drop_me": "yes"}}],
                types=("goroutine", "memory"),
                relabel_configs=[{"source_labels": ["drop_me"], "regex": "yes", "action": "drop"}]),
            job("dead", ["127.0.0.1:%d" % down_port], types=("goroutine",),
                basic_auth={"username": "scraper", "password": "PW-e2e-s3cret"}),
        ],
        "storage": {"path": t.tmpdir + "/data"},
        "remote_write": [
            remote("alpha", aurl),
            remote("beta", b.url, authorization={"credentials": "BEARER-e2e-t0ken"},
                   headers={"X-Api-Key": "HDR-e2e-k3y"}),
        ],
        "receiver": {"enabled": True, "basic_auth": [{"username": "sdk", "password": "RX-e2e-pass"}]},
    }


def start(t, cfg, extra=()):
    pg = t.profgate(cfg, start=False)
    pg.get = lambda path, timeout=5: http_get(pg.url + PREFIX + path, timeout)
    pg.start(extra_args=["--web.external-url", "http://profgate.example:9999%s/" % PREFIX] + list(extra))
    return pg


def chromium(args, timeout=90):
    r = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                        "--no-first-run", "--user-data-dir=" + os.path.join(pgtest.TMP, "pg-chromium-%d" % os.getpid())]
                       + args, capture_output=True, text=True, timeout=timeout)
    return r.stdout


def dom(url, budget=8000):
    return chromium(["--virtual-time-budget=%d" % budget, "--dump-dom", url])


def screenshot(url, name):
    os.makedirs(SHOTS, exist_ok=True)
    path = os.path.join(SHOTS, name + ".png")
    chromium(["--virtual-time-budget=6000", "--window-size=1400,1000", "--hide-scrollbars",
              "--screenshot=" + path, url])
    return os.path.exists(path) and os.path.getsize(path) > 1000


def api(pg, path):
    st, body = pg.get(path, 20)
    return st, (json.loads(body) if body[:1] == b"{" else body)


def flame_query(target):
    return urllib.parse.urlencode({"scrapePool": target["scrapePool"], "scrapeUrl": target["scrapeUrl"],
                                   "profileType": target["profileType"]})


def push_profile(pg, app):
    """Pushes the Go target's goroutine profile to the receiver as service pushed-svc."""
    body = app.call("/debug/pprof/goroutine")
    auth = "Basic " + base64.b64encode(b"sdk:RX-e2e-pass").decode()
    st, _, out = http_request(pg.url + PREFIX + "/ingest?name=pushed-svc&format=pprof&from=1&until=2", data=body,
                           headers={"Authorization": auth, "Content-Type": "application/octet-stream"})
    return st


def setup(t):
    app = t.go_target("pprofapp")
    a, b = t.receiver("alpha"), t.receiver("beta")
    b.set_status(503)
    pg = start(t, config(t, app, free_port(), a, b))
    env = {"pg": pg, "app": app, "base": pg.url + PREFIX + "/"}
    ok = wait_until(lambda: any(x["health"] == "up" and x["profileType"] == "goroutine" and x["scrapePool"] == "app"
                                for x in pg.active()) and any(x["health"] == "down" for x in pg.active()), 30)
    t.require(ok, "targets not up/down in time: %s" % pg.active())
    env["go"] = [x for x in pg.active() if x["scrapePool"] == "app" and x["profileType"] == "goroutine"][0]
    ok = wait_until(lambda: api(pg, "/api/v1/flamegraph?" + flame_query(env["go"]))[0] == 200, 30, interval=0.5)
    t.require(ok, "no flame graph for the Go target: %r" % (api(pg, "/api/v1/flamegraph?" + flame_query(env["go"])),))
    t.require(push_profile(pg, app) == 200, "push to the receiver failed")
    wait_until(lambda: api(pg, "/api/v1/backends")[1]["data"]["backends"][1]["lastError"] != "", 20)
    return env


def test_json_endpoints(t, env):
    pg = env["pg"]
    st, d = api(pg, "/api/v1/flamegraph?" + flame_query(env["go"]))
    t.require(st == 200, "flamegraph: %s %r" % (st, d))
    fl = d["data"]["flame"]
    t.check(fl["sampleTypes"] == [{"type": "goroutine", "unit": "count"}], "sample types %s" % fl["sampleTypes"])
    t.check(fl["total"] >= 1 and fl["tree"][1] == fl["total"], "root total %s vs %s" % (fl["tree"][1], fl["total"]))
    t.check(any(n.startswith("runtime.") for n in fl["names"]) and any(n.startswith("main.") for n in fl["names"]),
            "no Go function names: %s" % fl["names"][:20])
    t.check(fl["nodes"] <= 2000, "too many nodes %s" % fl["nodes"])
    mem = [x for x in pg.active() if x["scrapePool"] == "app" and x["profileType"] == "memory"][0]
    st, d = api(pg, "/api/v1/flamegraph?%s&sampleType=1&maxNodes=50" % flame_query(mem))
    if st == 200:
        t.check(d["data"]["flame"]["unit"] == "bytes" and d["data"]["flame"]["nodes"] <= 50, "memory flame %s" % d)
    st, d = api(pg, "/api/v1/flamegraph?scrapePool=app&scrapeUrl=http://nope/")
    t.check(st == 404 and d["status"] == "error", "unknown target: %s %r" % (st, d))
    # service discovery: the dropped target with its rule; discovered vs final labels
    st, d = api(pg, "/api/v1/service-discovery")
    jobs = {j["name"]: j for j in d["data"]["jobs"]}
    t.check(jobs["app"]["droppedCount"] == 1, "dropped count %s" % jobs["app"]["droppedCount"])
    dr = jobs["app"]["droppedTargets"][0]
    t.check(dr["droppedBy"] and dr["droppedBy"]["action"] == "drop" and dr["droppedBy"]["index"] == 0 and
            dr["droppedBy"]["source_labels"] == ["drop_me"], "droppedBy %s" % dr)
    act = jobs["app"]["activeTargets"][0]
    t.check(act["discoveredLabels"]["__address__"] == env["app"].address and act["labels"]["team"] == "gophers" and
            sorted(act["profileTypes"]) == ["goroutine", "memory"], "active %s" % act)
    st, d = api(pg, "/api/v1/targets/relabel_steps?" + urllib.parse.urlencode(
        {"scrapePool": "app", "labels": json.dumps(dr["discoveredLabels"])}))
    t.check(st == 200 and d["data"]["keep"] is False and d["data"]["steps"][0]["keep"] is False, "steps %r" % d)
    # the targets page's endpoint: every job's counts, filters on the server, a page of rows
    st, d = api(pg, "/api/v1/targets/pools")
    pools = {p["name"]: p for p in d["data"]["pools"]} if st == 200 else {}
    t.require(set(pools) == {"app", "dead"}, "pools %s %r" % (st, d))
    t.check(pools["app"]["total"] == 2 and pools["app"]["up"] >= 1 and len(pools["app"]["targets"]) == 2 and
            pools["dead"]["total"] == pools["dead"]["down"] == pools["dead"]["matched"] == 1 and
            d["data"]["total"] == len(pg.active()) == 3 and d["data"]["dropped"] == 1, "pools %s" % d["data"])
    t.check("discoveredLabels" not in pools["app"]["targets"][0] and
            pools["app"]["targets"][0]["labels"]["team"] == "gophers", "pool row %s" % pools["app"]["targets"][0])
    st, d = api(pg, "/api/v1/targets/pools?health=down")
    t.check(st == 200 and d["data"]["matched"] >= 1 and d["data"]["total"] == 3 and
            all(x["health"] == "down" for p in d["data"]["pools"] for x in p["targets"]), "health=down %s" % d)
    st, d = api(pg, "/api/v1/targets/pools?search=GOPHERS")
    pools = {p["name"]: p for p in d["data"]["pools"]}
    t.check(pools["app"]["matched"] == 2 and pools["dead"]["matched"] == 0 and pools["dead"]["total"] == 1,
            "search=GOPHERS %s" % d["data"])
    st, two = api(pg, "/api/v1/targets/pools?scrapePool=app&limit=2")
    st1, d = api(pg, "/api/v1/targets/pools?scrapePool=app&limit=1&offset=1")
    t.check(st1 == 200 and [p["name"] for p in d["data"]["pools"]] == ["app"] and
            d["data"]["pools"][0]["targets"] == two["data"]["pools"][0]["targets"][1:] and
            d["data"]["pools"][0]["matched"] == 2, "limit/offset %s" % d)
    for bad in ("health=sideways", "limit=-1", "offset=x"):
        st, d = api(pg, "/api/v1/targets/pools?" + bad)
        t.check(st == 400 and d["errorType"] == "bad_data", "%s: %s %r" % (bad, st, d))
    st, d = api(pg, "/api/v1/service-discovery?search=DROP_ME%3Dyes&limit=5")
    j = {x["name"]: x for x in d["data"]["jobs"]}["app"]
    t.check(j["droppedMatched"] == 1 and j["activeMatched"] == 0 and j["activeCount"] == 1 and
            j["droppedCount"] == 1 and not j["activeTargets"] and len(j["droppedTargets"]) == 1,
            "SD search %s" % j)
    st, d = api(pg, "/api/v1/service-discovery?scrapePool=app&offset=1")
    j = d["data"]["jobs"][0]
    t.check(j["activeMatched"] == 1 and not j["activeTargets"] and not j["droppedTargets"], "SD offset %s" % j)
    # backends: both, the failing one with its error and backoff, URLs without credentials
    st, d = api(pg, "/api/v1/backends")
    bs = {x["name"]: x for x in d["data"]["backends"]}
    t.check(set(bs) == {"alpha", "beta"}, "backends %s" % list(bs))
    t.check(bs["alpha"]["sentProfiles"] > 0 and bs["alpha"]["lastSuccess"][:4] != "0001", "alpha %s" % bs["alpha"])
    t.check("alice:<secret>@" in bs["alpha"]["url"], "alpha url %s" % bs["alpha"]["url"])
    t.check(bs["beta"]["lastErrorStatus"] == 503 and bs["beta"]["failedProfiles"] > 0 and
            bs["beta"]["pendingProfiles"] > 0, "beta %s" % bs["beta"])
    st, d = api(pg, "/api/v1/buffer")
    t.check(st == 200 and d["data"]["rows"] > 0 and d["data"]["appendedProfiles"] > 0 and
            d["data"]["droppedProfiles"] == {"commit_failed": 0, "buffer_error": 0}, "buffer %s" % d)
    st, d = api(pg, "/api/v1/status/config")
    y = d["data"]["yaml"]
    t.check(y.count("<secret>") >= 5 and "job_name: app" in y and "username: scraper" in y, "config yaml:\n%s" % y)
    t.check(pg.metric("profgate_ui_profile_cache_bytes") > 0, "profile cache gauge")
    st, d = api(pg, "/api/v1/pushes")
    t.check(any(p["service"] == "pushed-svc" and p["kept"] for p in d["data"]["pushes"]), "pushes %s" % d)
    print("pushes: %s" % d["data"]["pushes"])
    pushed = [p for p in d["data"]["pushes"] if p["service"] == "pushed-svc"]
    st, d = api(pg, "/api/v1/flamegraph?" + urllib.parse.urlencode(
        {"service": "pushed-svc", "profileType": pushed[0]["profileType"] if pushed else ""}))
    t.check(st == 200 and any(n.startswith("runtime.") for n in d["data"]["flame"]["names"]), "push flame %s %r" % (st, d))


def test_prefix_and_assets(t, env):
    pg = env["pg"]
    st, _ = http_get(pg.url + "/api/v1/targets")
    t.check(st == 404, "outside the prefix: %s" % st)
    st, hdrs, _ = http_request(pg.url + PREFIX, method="GET", data=None)
    t.check(st == 302 and hdrs.get("location") == PREFIX + "/", "prefix without slash: %s" % st)
    for path, ctype in (("/", "text/html"), ("/targets", "text/html"), ("/static/app.css", "text/css"),
                        ("/static/flamegraph.js", "text/javascript")):
        st, body = http_get(env["base"] + path.lstrip("/"))
        t.check(st == 200 and body, "%s: %s" % (path, st))
        r = urllib.request.urlopen(env["base"] + path.lstrip("/"), timeout=5)
        t.check(r.headers["Content-Type"].startswith(ctype) and r.headers["ETag"], "%s headers %s" % (path, r.headers))
        etag = r.headers["ETag"]
        st, _, _ = http_request(env["base"] + path.lstrip("/"), method="GET", data=None, headers={"If-None-Match": etag})
        t.check(st == 304, "%s with If-None-Match: %s" % (path, st))
    st, body = http_get(env["base"] + "targets")
    t.check(b'href="static/app.css"' in body and b'href="/' not in body, "page links must be relative")


def no_secrets(t, where, text):
    for s in SECRETS:
        t.check(s not in text, "secret %s visible in %s" % (s, where))


def test_no_secret_anywhere(t, env):
    pg = env["pg"]
    for path in ("/api/v1/targets", "/api/v1/service-discovery", "/api/v1/backends", "/api/v1/buffer",
                 "/api/v1/status/config", "/api/v1/pushes", "/metrics", "/", "/targets", "/config",
                 "/api/v1/flamegraph?" + flame_query(env["go"])):
        st, body = pg.get(path, 20)
        t.check(st == 200, "%s: %s" % (path, st))
        no_secrets(t, path, body.decode(errors="replace"))
    # the pages' DOMs after their JS ran are checked in test_pages_in_chromium


def test_pages_in_chromium(t, env):
    if not CHROMIUM:
        print("NOTICE: chromium not installed: DOM checks skipped (scripts/deps.sh installs it)")
        return
    base = env["base"]
    seen = {}

    def dom(url, budget=8000):  # every DOM is also checked for secrets
        d = seen[url] = globals()["dom"](url, budget)
        no_secrets(t, "page " + url, d)
        return d

    d = dom(base + "targets")
    t.check('data-job="app"' in d and 'data-job="dead"' in d, "targets grouped by job:\n%s" % d[:3000])
    t.check("(1/2 up)" in d or "(2/2 up)" in d, "app group up/total missing")
    t.check("(0/1 up)" in d, "dead group up/total missing")
    t.check('class="state up"' in d and 'class="state down"' in d, "states missing")
    t.check('team="gophers"' in d and 'class="chip' in d, "label chips missing")
    t.check("flamegraph?scrapePool=app" in d, "flame graph links missing")
    d = dom(base + "targets?health=down")
    t.check('data-job="dead"' in d and 'data-job="app"' not in d, "health filter: %s" % d[:2000])
    d = dom(base + "targets?search=gophers")
    t.check('data-job="app"' in d and 'data-job="dead"' not in d, "text search")
    d = dom(base + "service-discovery")
    t.check("rule 1: action=drop" in d and "drop_me" in d and "dropme.invalid" in d, "SD dropped rule:\n%s" % d[:3000])
    t.check('__address__="%s"' % env["app"].address in d, "SD discovered labels")
    d = dom(base + "backends")
    t.check("alpha" in d and "beta" in d and "HTTP 503" in d, "backends page:\n%s" % d[:3000])
    d = dom(base + "buffer")
    t.check("Profiles buffered" in d and "Evicted" in d and "Dropped before the buffer" in d, "buffer page")
    d = dom(base + "config")
    t.check("&lt;secret&gt;" in d and "job_name: app" in d, "config page:\n%s" % d[:2000])
    d = dom(base + "flamegraph?" + flame_query(env["go"]))
    frames = re.findall(r'<div class="frame[^"]*"[^>]*>([^<]*)</div>', d)
    t.check(len(frames) > 5, "flame frames: %d\n%s" % (len(frames), d[:3000]))
    t.check(any(f.startswith("runtime.") for f in frames) and any(f.startswith("main.") for f in frames),
            "flame graph lacks Go function names: %s" % frames[:30])
    t.check('<option value="0" selected="">goroutine (count)</option>' in d, "sample type selector")
    d = dom(base + "flamegraph")
    t.check("pushed-svc" in d, "receiver pushes list")
    d = dom(base + "flamegraph?service=pushed-svc&profileType=goroutines")
    t.check(re.search(r'<div class="frame[^"]*"[^>]*>runtime\.', d), "push flame graph")
    d = dom(base)
    t.check("Targets up" in d and "Backends" in d and " / 3<" in d and "1 dropped" in d, "overview:\n%s" % d[:3000])
    for name, page in (("overview", ""), ("targets", "targets"), ("service-discovery", "service-discovery"),
                       ("backends", "backends"), ("buffer", "buffer"), ("config", "config"),
                       ("flamegraph", "flamegraph?" + flame_query(env["go"]))):
        t.check(screenshot(base + page, name), "screenshot %s" % name)


def test_interaction(t, env):
    """Clicks and typing through the DevTools protocol: the flame graph's search highlights
    runtime.* frames, a click zooms (the frame spans the width), the tooltip shows units;
    service discovery's explain shows the dropping step; collapsing a targets group."""
    if not CHROMIUM:
        print("NOTICE: chromium not installed: interaction checks skipped")
        return
    b = cdp.Browser(CHROMIUM)
    t.defer(b.close)
    b.call("Page.navigate", {"url": env["base"] + "flamegraph?" + flame_query(env["go"])})
    t.require(b.wait_for("document.querySelectorAll('.frame').length > 5", 30), "flame graph did not render")
    b.evaluate("(function(){var s=document.getElementById('search');s.value='^runtime\\\\.';"
               "s.dispatchEvent(new Event('input'));return 1;})()")
    matches = b.wait_for("document.querySelectorAll('.frame.match').length", 10)
    t.check(matches and matches > 0, "search highlighted nothing")
    t.check(all(x.startswith("runtime.") for x in b.evaluate(
        "Array.from(document.querySelectorAll('.frame.match')).map(function(e){return e.textContent})")),
        "search highlighted a non-matching frame")
    t.check("matched" in (b.evaluate("document.getElementById('matched').textContent") or ""), "matched total")
    name = b.evaluate("(function(){var f=Array.from(document.querySelectorAll('.frame')).filter(function(e){"
                      "return e.textContent.indexOf('main.')===0})[0];var r=f.getBoundingClientRect();"
                      "f.dispatchEvent(new MouseEvent('mousemove',{bubbles:true,clientX:r.left+2,clientY:r.top+2}));"
                      "f.click();return f.textContent;})()")
    t.check(b.evaluate("document.getElementById('tip').textContent.indexOf('total:')>=0"), "tooltip without totals")
    zoomed = b.wait_for("(function(){var f=Array.from(document.querySelectorAll('.frame')).filter(function(e){"
                        "return e.textContent===%s&&!e.classList.contains('dim')})[0];return f&&f.style.width;})()"
                        % json.dumps(name), 10)
    t.check(zoomed == "100%", "click on %s did not zoom (width %s)" % (name, zoomed))
    b.call("Page.navigate", {"url": env["base"] + "service-discovery"})
    t.require(b.wait_for("!!document.querySelector('button.explain')", 30), "no explain button")
    b.evaluate("document.querySelector('button.explain').click()")
    steps = b.wait_for("(function(){var s=document.querySelector('.steps');return s&&s.textContent;})()", 10)
    t.check(steps and "rule 1: action=drop" in steps and "dropped" in steps, "explain steps: %r" % steps)
    b.call("Page.navigate", {"url": env["base"] + "targets"})
    t.require(b.wait_for("!!document.querySelector('.group[data-job=\"app\"] tr')", 30), "targets did not render")
    b.evaluate("document.querySelector('.group[data-job=\"app\"] .ghead').click()")
    t.check(b.wait_for("document.querySelector('.group[data-job=\"app\"]').classList.contains('collapsed')&&"
                       "!document.querySelector('.group[data-job=\"app\"] tr')", 5), "group did not collapse")


def test_config_with_scrape_config_files(t, env):
    """/config shows each scrape_config_files file a job came from, redacted too."""
    os.makedirs(os.path.join(t.tmpdir, "jobs.d"))
    with open(os.path.join(t.tmpdir, "jobs.d", "inc.yml"), "w") as f:
        json.dump({"scrape_configs": [job("included", ["127.0.0.1:%d" % free_port()], types=("goroutine",),
                                          basic_auth={"username": "u", "password": "INC-e2e-s3cret"})]}, f)
    cfg = {"scrape_config_files": [os.path.join(t.tmpdir, "jobs.d", "*.yml")],
           "scrape_configs": [], "storage": {"path": t.tmpdir + "/data-inc"}}
    pg = t.profgate(cfg, name="inc", start=False)
    pg.get = lambda path, timeout=5: http_get(pg.url + PREFIX + path, timeout)
    pg.start(extra_args=["--web.route-prefix", PREFIX])
    st, d = api(pg, "/api/v1/status/config")
    y = d["data"]["yaml"] if st == 200 else ""
    t.check("# scrape_config_files: " in y and "job_name: included" in y and "password: <secret>" in y,
            "config with scrape_config_files:\n%s" % y)
    t.check("INC-e2e-s3cret" not in y, "included file's secret visible")
    t.stop_profgate(pg)


def test_ten_thousand_targets(t, env):
    """10,000 (down) targets in one job: the targets page builds in under 1 s."""
    if not CHROMIUM:
        print("NOTICE: chromium not installed: render timing skipped")
        return
    port = free_port()  # nothing listens: every scrape fails fast
    targets = ["127.0.0.%d:%d" % (2 + i // 5000, port + i % 5000) for i in range(10000)]
    cfg = {"global": {"scrape_interval": "1m", "scrape_timeout": "5s"},
           "scrape_configs": [job("many", targets, types=("goroutine",), interval="1m", timeout="5s")],
           "storage": {"path": t.tmpdir + "/data10k"}}
    pg = t.profgate(cfg, name="many", start=False)
    pg.get = lambda path, timeout=5: http_get(pg.url + PREFIX + path, timeout)
    pg.start(extra_args=["--web.route-prefix", PREFIX])
    t.require(wait_until(lambda: len(pg.active()) == 10000, 60, interval=1), "10k targets not active")
    # a real clock: virtual time (--dump-dom's budget) stops performance.now() while JS runs
    b = cdp.Browser(CHROMIUM)
    t.defer(b.close)
    b.call("Page.navigate", {"url": pg.url + PREFIX + "/targets"})
    got = b.wait_for("(function(){var g=document.getElementById('groups');"
                     "return g&&g.getAttribute('data-done-ms')&&[+g.getAttribute('data-fetch-ms'),"
                     "+g.getAttribute('data-render-ms'),+g.getAttribute('data-done-ms'),"
                     "document.querySelectorAll('#groups tr').length,"
                     "document.getElementById('summary').textContent];})()", 60)
    t.require(got, "the targets page did not finish")
    fetch_ms, render_ms, done_ms, rows, summary = got
    # the paginated path: one request for the first page of rows, not every target
    # (name, bytes on the wire, bytes decoded): gzip'd, as chromium accepts it
    res = b.evaluate("performance.getEntriesByType('resource').filter(function(r){return r.initiatorType==='fetch'})"
                     ".map(function(r){return [r.name.replace(/^.*[/]api[/]/,'api/'),r.transferSize,"
                     "r.decodedBodySize]})")
    print("10,000 targets: JSON fetched and parsed in %.0f ms (%s), page built in %.0f ms, "
          "%.0f ms from navigation to a usable page (%d table rows)" % (fetch_ms, res, render_ms, done_ms, rows))
    t.check(res and all(n.startswith("api/v1/targets/pools?limit=100") for n, _, _ in res) and
            sum(sz for _, sz, _ in res) < 100000, "the page fetched more than the first page: %s" % res)
    t.check(all(wire * 3 < dec for _, wire, dec in res), "the page's JSON was not compressed: %s" % res)
    # Prometheus's /api/v1/targets, every target, gzip'd for a client that accepts it
    st, hdrs, body = http_request(pg.url + PREFIX + "/api/v1/targets?state=active", data=None, method="GET",
                                  headers={"Accept-Encoding": "gzip"}, timeout=60)
    plain = gzip.decompress(body) if hdrs.get("content-encoding") == "gzip" else b""
    print("/api/v1/targets, 10,000 targets: %d bytes gzip'd, %d plain" % (len(body), len(plain)))
    t.check(st == 200 and len(json.loads(plain or b"{}").get("data", {}).get("activeTargets", [])) == 10000 and
            len(body) * 5 < len(plain), "gzip'd /api/v1/targets: %s %s %d bytes" % (st, hdrs, len(body)))
    t.check(render_ms < 1000, "10,000 targets took %.1f ms to render" % render_ms)
    # includes chromium's first navigation on a shared machine: a loose sanity bound only
    # (tests/bench/bench_web_ui.py measures; docs/performance.md)
    t.check(done_ms < 30000, "10,000 targets: %.0f ms from navigation to a usable page" % done_ms)
    t.check(summary == "10000 of 10000 shown" and rows <= 201, "paginated rendering: %s, %d rows" % (summary, rows))
    # a search runs on the server over every target, not only the rows fetched
    b.evaluate("(function(){var q=document.getElementById('q');q.value='127.0.0.3:%d';"
               "q.dispatchEvent(new Event('input'));return 1;})()" % (port + 4999))
    t.check(b.wait_for("document.getElementById('summary').textContent==='1 of 10000 shown'&&"
                       "document.querySelectorAll('#groups tbody tr').length===1", 30),
            "server-side search over 10,000 targets: %s" % b.evaluate("document.getElementById('summary').textContent"))
    t.stop_profgate(pg)


if __name__ == "__main__":
    sys.exit(pgtest.run_tests([test_json_endpoints, test_prefix_and_assets, test_no_secret_anywhere,
                               test_pages_in_chromium, test_interaction, test_config_with_scrape_config_files,
                               test_ten_thousand_targets], setup=setup))
