#!/usr/bin/env python3
"""bench_web_ui.py - how fast the web UI's targets and service-discovery pages are with a
large fleet: `profgate run` with N synthetic static targets (pointing at a closed port:
every scrape fails fast, which is fine here) and headless chromium driven through the
DevTools protocol (tests/e2e/cdp.py). For each page and run it prints:

- JSON: the bytes the page's fetch() calls transferred (Resource Timing transferSize:
  headers + body as sent, so compressed when compressed) and decoded;
- first rows: ms from navigation start (coming from another page of profgate) until the first table row is in the page's DOM
  (a MutationObserver installed before the page's scripts);
- painted: ms until the frame after that (the rows laid out and painted);
- render: the page's own data-render-ms (building the DOM from the JSON), when it has it.

It also times one GET of /api/v1/targets (Prometheus's shape, every target) from Python.

    bench_web_ui.py --profgate build/profgate [--targets 10000] [--types goroutine]
        [--runs 3] [--pages targets,service-discovery] [--chromium PATH]

--types is a comma-separated list of profile types (goroutine, memory, block, mutex,
process_cpu); each target is scraped for each, so the targets page has N x types rows.
The first navigation warms chromium up and is not counted. Python 3 standard library
only; not a test (nothing is asserted). Results: docs/performance.md, "Web UI"."""
import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
import cdp  # noqa: E402

TYPES = ("process_cpu", "memory", "block", "mutex", "goroutine")

# Runs before the page's scripts: records when the first row appears and the frame after.
OBSERVER = """
(function () {
  function check() {
    if (window.__pgFirstRows) return true;
    var r = document.querySelector('#groups tr td, #jobs tr td');
    if (!r) return false;
    window.__pgFirstRows = performance.now();
    requestAnimationFrame(function () { setTimeout(function () { window.__pgPainted = performance.now(); }, 0); });
    return true;
  }
  var mo = new MutationObserver(function () { if (check()) mo.disconnect(); });
  mo.observe(document, { childList: true, subtree: true });
})();
"""

RESULT = """
(function () {
  if (!window.__pgPainted) return null;
  var e = performance.getEntriesByType('resource').filter(function (r) {
    return r.initiatorType === 'fetch' && r.startTime <= window.__pgFirstRows; });
  var g = document.getElementById('groups') || document.getElementById('jobs');
  return { first: window.__pgFirstRows, painted: window.__pgPainted,
           render: g && g.getAttribute('data-render-ms') ? +g.getAttribute('data-render-ms') : null,
           transfer: e.reduce(function (s, r) { return s + r.transferSize; }, 0),
           decoded: e.reduce(function (s, r) { return s + r.decodedBodySize; }, 0),
           requests: e.map(function (r) { return r.name.replace(/^.*\\/api\\//, 'api/'); }),
           rows: document.querySelectorAll('#groups tr, #jobs tr').length };
})()
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url, headers=None, timeout=60):
    req = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.read(), dict(r.headers)


def config(work, n, types):
    closed = free_port()  # nothing listens there
    targets = ["127.%d.%d.%d:%d" % (1 + i // 62500, i // 250 % 250, 1 + i % 250, closed) for i in range(n)]
    pc = {t: {"enabled": t in types} for t in TYPES}
    cfg = {"global": {"scrape_interval": "1m", "scrape_timeout": "5s"},
           "scrape_configs": [{"job_name": "many", "profiling_config": pc,
                               "static_configs": [{"targets": targets, "labels": {"team": "bench"}}]},
                              {"job_name": "few", "profiling_config": pc,
                               "static_configs": [{"targets": ["127.0.0.1:%d" % closed]}],
                               "relabel_configs": []}],
           "storage": {"path": os.path.join(work, "data")}}
    path = os.path.join(work, "profgate.yml")
    with open(path, "w") as f:
        json.dump(cfg, f)  # JSON is YAML
    return path


def wait_active(base, want, timeout=120):
    deadline = time.time() + timeout
    n = -1
    while time.time() < deadline:
        try:
            body, _ = get(base + "api/v1/targets?state=active")
            n = len(json.loads(body)["data"]["activeTargets"])
            if n >= want:
                return n
        except OSError:
            pass
        time.sleep(1)
    raise SystemExit("only %d of %d targets active after %d s" % (n, want, timeout))


def measure(b, base, page):
    # from a page of the same origin, as a user clicking through the UI: a navigation from
    # another origin (about:blank) also waits for chromium to start a renderer process,
    # 0.3-1 s on a loaded 2-core machine, before any of the page's work
    b.call("Page.navigate", {"url": base + "-/healthy"})
    time.sleep(0.5)
    url = base + page
    b.call("Page.navigate", {"url": url})
    deadline = time.time() + 60
    while time.time() < deadline:
        r = b.evaluate(RESULT)
        if r:
            return r
        time.sleep(0.05)
    raise SystemExit("%s: no rows after 60 s" % url)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profgate", required=True)
    ap.add_argument("--targets", type=int, default=10000)
    ap.add_argument("--types", default="goroutine")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--pages", default="targets,service-discovery")
    ap.add_argument("--chromium", default=shutil.which("chromium") or shutil.which("chromium-browser"))
    a = ap.parse_args()
    types = a.types.split(",")
    if not a.chromium:
        raise SystemExit("chromium not found (scripts/deps.sh installs it)")
    work = tempfile.mkdtemp(prefix="pg_bench_ui_")
    port = free_port()
    log = open(os.path.join(work, "profgate.log"), "w")
    pg = subprocess.Popen([a.profgate, "run", config(work, a.targets, types),
                           "--web.listen-address=127.0.0.1:%d" % port], stdout=log, stderr=subprocess.STDOUT)
    base = "http://127.0.0.1:%d/" % port
    b = None
    try:
        n = wait_active(base, (a.targets + 1) * len(types))
        print("load average: %s" % " ".join(open("/proc/loadavg").read().split()[:3]))
        print("%d targets x %d profile types (%s) = %d active loops, plus 1 in a second job"
              % (a.targets, len(types), a.types, n - len(types)))
        for enc in ("identity", "gzip"):
            t0 = time.monotonic()
            body, hdrs = get(base + "api/v1/targets", {"Accept-Encoding": enc})
            print("GET /api/v1/targets (all, Accept-Encoding: %s): %d bytes%s in %.0f ms"
                  % (enc, len(body), " (" + hdrs["Content-Encoding"] + ")" if hdrs.get("Content-Encoding") else "",
                     (time.monotonic() - t0) * 1e3))
        b = cdp.Browser(a.chromium)
        b.call("Page.enable")  # needed for the script below to run
        b.call("Page.addScriptToEvaluateOnNewDocument", {"source": OBSERVER})
        for page in a.pages.split(","):
            measure(b, base, page)  # warm-up
            res = [measure(b, base, page) for _ in range(a.runs)]
            for i, r in enumerate(res):
                print("/%s run %d: JSON %d bytes transferred (%d decoded) in %d request(s); first rows %.0f ms, "
                      "painted %.0f ms, render %s ms; %d table rows"
                      % (page, i + 1, r["transfer"], r["decoded"], len(r["requests"]), r["first"], r["painted"],
                         "%.0f" % r["render"] if r["render"] is not None else "-", r["rows"]))
            print("/%s median: first rows %.0f ms, painted %.0f ms, JSON %d bytes"
                  % (page, statistics.median(r["first"] for r in res), statistics.median(r["painted"] for r in res),
                     statistics.median(r["transfer"] for r in res)))
    finally:
        if b:
            b.close()
        pg.terminate()
        pg.wait(60)
        log.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
