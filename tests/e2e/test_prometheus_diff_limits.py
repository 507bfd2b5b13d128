"""test_prometheus_diff_limits.py - differential tests of limits, relabel validation and
per-target intervals against Debian's real Prometheus 2.42 (`prometheus`, `promtool`).

- validation: relabel rules Prometheus rejects (a replacement on lowercase, uppercase,
  keepequal, dropequal; extra fields on keepequal) must fail `profgate check` with the
  message `promtool check config` prints;
- per-target intervals: __scrape_interval__/__scrape_timeout__ set per target by
  relabeling: the active targets and their scrapeInterval/scrapeTimeout in Prometheus's
  /api/v1/targets must equal `profgate targets --json`'s and `profgate run`'s, the
  targets Prometheus rejects (timeout above interval, unparsable or zero durations) must
  be missing from both active lists, and each rejection message profgate prints must be
  one Prometheus logged; process_cpu's seconds= follows the target's interval;
- limits: target_limit (exceeded and not), label_limit, label_name_length_limit and
  label_value_length_limit: every active target of each job must show the same lastError
  in Prometheus and in `profgate run` (the metric name in the label limit messages, the
  scraped series' __name__, is replaced by M before comparing: Prometheus's is the
  metric, profgate's the profile type). A tiny Python server serves `m 1` so Prometheus
  has a series to apply the label limits to; every target carries service_name so both
  count the same labels (__name__, instance, job, service_name and the target's own).
  keep_dropped_targets is not in 2.42 and is checked on profgate alone."""
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.request

import pgtest
from pgtest import free_port, wait_until

PROM = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")

BAD_RULES = [
    ("lowercase_repl", {"source_labels": ["a"], "target_label": "b", "replacement": "x", "action": "lowercase"}),
    ("uppercase_repl", {"source_labels": ["a"], "target_label": "b", "replacement": "", "action": "uppercase"}),
    ("keepequal_repl", {"source_labels": ["a"], "target_label": "b", "replacement": "y", "action": "keepequal"}),
    ("dropequal_repl", {"source_labels": ["a"], "target_label": "b", "replacement": "z", "action": "dropequal"}),
    ("keepequal_sep", {"source_labels": ["a"], "target_label": "b", "separator": ",", "action": "keepequal"}),
    ("dropequal_regex", {"source_labels": ["a"], "target_label": "b", "regex": "x", "action": "dropequal"}),
]


class MetricsServer:
    """Answers every GET with one sample, `m 1`, in the text format."""

    def __init__(self):
        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                body = b"# TYPE m gauge\nm 1\n"
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = pgtest.QuietHTTPServer(("127.0.0.1", 0), H)
        self.address = "127.0.0.1:%d" % self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def interval_job(ports):
    """Five targets whose interval/timeout labels relabeling turns into
    __scrape_interval__/__scrape_timeout__: two valid, three Prometheus rejects."""
    groups = [
        {"targets": ["127.0.0.1:%d" % ports[0]], "labels": {"iv": "30s", "service_name": "s"}},
        {"targets": ["127.0.0.1:%d" % ports[1]], "labels": {"iv": "1m", "to": "45s", "service_name": "s"}},
        {"targets": ["127.0.0.1:%d" % ports[2]], "labels": {"to": "20s", "service_name": "s"}},
        {"targets": ["127.0.0.1:%d" % ports[3]], "labels": {"iv": "5x", "service_name": "s"}},
        {"targets": ["127.0.0.1:%d" % ports[4]], "labels": {"iv": "0s", "service_name": "s"}},
    ]
    return {"job_name": "intervals", "scrape_interval": "15s", "scrape_timeout": "10s",
            "static_configs": groups,
            "relabel_configs": [
                {"source_labels": ["iv"], "regex": "(.+)", "target_label": "__scrape_interval__"},
                {"source_labels": ["to"], "regex": "(.+)", "target_label": "__scrape_timeout__"}]}


def limit_jobs(addr):
    def j(name, targets, labels, **limits):
        d = {"job_name": name, "scrape_interval": "1s", "scrape_timeout": "1s",
             "static_configs": [{"targets": targets, "labels": labels}]}
        d.update(limits)
        return d
    svc = {"service_name": "svc"}
    three = ["127.0.0.1:%d" % free_port() for _ in range(3)]
    return [
        j("tl_over", three, svc, target_limit=2),
        j("tl_ok", [addr], svc, target_limit=1),
        j("label_limit", [addr], dict(svc, a="1"), label_limit=4),
        j("name_len", [addr], dict(svc, a_long_label_name="1"), label_name_length_limit=10),
        j("value_len", [addr], svc, label_value_length_limit=12),
    ]


def norm(err):
    return re.sub(r"\(metric: [^,]*,", "(metric: M,", err)


def prom_targets(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/api/v1/targets" % port, timeout=5) as r:
        return json.load(r)["data"]


def errors_by_job(data, jobs):
    out = {}
    for t in data["activeTargets"]:
        if t["scrapePool"] in jobs:
            out.setdefault(t["scrapePool"], set()).add(norm(t["lastError"]))
    return out


def intervals(data, job):
    # run's process_cpu entries show the request's timeout, which adds seconds=: left out
    return sorted((t["labels"]["instance"], t["scrapeInterval"], t["scrapeTimeout"])
                  for t in data["activeTargets"]
                  if t["scrapePool"] == job and t.get("profileType", t["labels"].get("__name__")) != "process_cpu")


def setup(t):
    if not PROM or not PROMTOOL:
        t.require(False, "prometheus/promtool not installed (Debian's prometheus package)")
    e = type("E", (), {})()
    e.srv = MetricsServer()
    t.defer(e.srv.stop)
    e.ports = [free_port() for _ in range(5)]
    e.limit_jobs = limit_jobs(e.srv.address)
    jobs = [interval_job(e.ports)] + e.limit_jobs
    cfg = {"global": {"scrape_interval": "15s"}, "scrape_configs": jobs}
    e.prom_cfg = os.path.join(t.tmpdir, "prometheus.yml")
    with open(e.prom_cfg, "w") as f:
        json.dump(cfg, f)
    e.prom_port = free_port()
    e.prom_log = os.path.join(t.tmpdir, "prom.log")
    e.prom = pgtest.spawn([PROM, "--config.file=" + e.prom_cfg,
                           "--storage.tsdb.path=" + os.path.join(t.tmpdir, "tsdb"),
                           "--web.listen-address=127.0.0.1:%d" % e.prom_port],
                          stdout=subprocess.DEVNULL, stderr=open(e.prom_log, "w"))
    t.defer(lambda: (e.prom.terminate(), e.prom.wait(20)))
    pcfg = dict(cfg, storage={"path": os.path.join(t.tmpdir, "data")})
    # keep_dropped_targets (not in 2.42): profgate only
    pcfg["scrape_configs"] = jobs + [{
        "job_name": "keep_dropped", "keep_dropped_targets": 2,
        "static_configs": [{"targets": ["127.0.0.9:%d" % (1000 + i) for i in range(5)]}],
        "relabel_configs": [{"source_labels": ["__address__"], "regex": ".*", "action": "drop"}]}]
    e.pg = t.profgate(pcfg)
    e.pg_cfg = e.pg.cfg_path
    return e


def test_validation_messages(t, e):
    for name, rule in BAD_RULES:
        cfg = {"scrape_configs": [{"job_name": "j", "static_configs": [{"targets": ["127.0.0.1:1"]}],
                                   "relabel_configs": [rule]}]}
        path = os.path.join(t.tmpdir, name + ".yml")
        with open(path, "w") as f:
            json.dump(cfg, f)
        p = subprocess.run([PROMTOOL, "check", "config", path], capture_output=True, text=True, timeout=60)
        m = re.search(r"FAILED: parsing YAML file [^:]+: (.*)", p.stdout + p.stderr)
        t.check(p.returncode != 0 and m, "%s: promtool accepted it: %s" % (name, p.stdout + p.stderr))
        if not m:
            continue
        want = m.group(1).strip()
        r = subprocess.run([pgtest.PROFGATE, "check", path], capture_output=True, text=True, timeout=60)
        out = r.stdout + r.stderr
        t.check(r.returncode == 1 and any(l.startswith(path + ":") and l.endswith(": " + want)
                                          for l in out.splitlines()),
                "%s: promtool says %r, profgate check says %r" % (name, want, out.strip()))


def test_per_target_intervals(t, e):
    data = wait_until(lambda: (lambda d: d if intervals(d, "intervals") else None)(prom_targets(e.prom_port)), 60)
    t.require(data, "prometheus shows no target of job intervals")
    want = intervals(data, "intervals")
    t.check(len(want) == 2, "prometheus keeps 2 of the 5 targets: %s" % want)
    r = subprocess.run([pgtest.PROFGATE, "targets", e.pg_cfg, "--json"], capture_output=True, text=True,
                       timeout=60)
    t.require(r.returncode == 0, "profgate targets: %s" % r.stderr)
    mine = json.loads(r.stdout)["data"]
    got = sorted(set(intervals(mine, "intervals")))
    t.check(got == want, "targets --json intervals %s, prometheus %s" % (got, want))
    run = wait_until(lambda: sorted(set(intervals(e.pg.targets(), "intervals"))) or None, 20)
    t.check(run == want, "run's /api/v1/targets intervals %s, prometheus %s" % (run, want))
    # every target profgate rejects is rejected by Prometheus with the same words
    msgs = [l.split(": skipping target: ", 1)[1] for l in r.stderr.splitlines() if ": skipping target: " in l]
    t.check(len(msgs) == 3, "profgate targets rejected %d targets: %s" % (len(msgs), r.stderr))
    plog = open(e.prom_log).read().replace('\\"', '"')
    for m in msgs:
        t.check(m in plog, "prometheus did not log %r" % m)
    cpu = [x["scrapeUrl"] for x in mine["activeTargets"]
           if x["scrapePool"] == "intervals" and x["profileType"] == "process_cpu"]
    t.check(sorted(u.split("seconds=")[1] for u in cpu) == ["29", "59"],
            "process_cpu seconds= does not follow the target intervals (30s, 1m): %s" % cpu)


def test_limits(t, e):
    jobs = {j["job_name"] for j in e.limit_jobs}

    def settled(d):
        errs = errors_by_job(d, jobs)
        return errs if set(errs) == jobs and all("" not in v or k == "tl_ok" for k, v in errs.items()) else None

    want = wait_until(lambda: settled(prom_targets(e.prom_port)), 60)
    t.require(want, "prometheus did not report every limit job: %s"
              % errors_by_job(prom_targets(e.prom_port), jobs))
    got = wait_until(lambda: settled(e.pg.targets()), 30) or errors_by_job(e.pg.targets(), jobs)
    for j in sorted(jobs):
        w, g = want.get(j, set()), got.get(j, set())
        if j == "tl_ok":  # scraped: profgate's error is about the body, never a limit
            t.check(not any("limit" in x for x in w | g), "tl_ok: %s / %s" % (w, g))
            continue
        t.check(w == g and len(w) == 1 and "limit exceeded" in next(iter(w)),
                "%s: prometheus lastError %s, profgate %s" % (j, w, g))
        pgtest.log("  %s: %s" % (j, next(iter(g), "")))
    # nothing of tl_over was fetched and every entry is down
    tl = [x for x in e.pg.active(pool="tl_over")]
    t.check(len(tl) == 15 and all(x["health"] == "down" for x in tl),
            "tl_over: %s" % [(x["health"], x["lastError"]) for x in tl])
    # the dry run says the same as run
    r = subprocess.run([pgtest.PROFGATE, "targets", e.pg_cfg, "--json"], capture_output=True, text=True,
                       timeout=60)
    dry = errors_by_job(json.loads(r.stdout)["data"], jobs - {"tl_ok"})
    for j in jobs - {"tl_ok"}:
        t.check(dry.get(j) == got.get(j), "%s: targets --json %s, run %s" % (j, dry.get(j), got.get(j)))


def test_keep_dropped_targets(t, e):
    d = wait_until(lambda: (lambda x: x if x else None)(
        [x for x in e.pg.targets(state="dropped")["droppedTargets"]
         if x["discoveredLabels"]["__address__"].startswith("127.0.0.9:")]), 20) or []
    t.check(len(d) == 2, "keep_dropped_targets: 2 kept of 5 dropped, got %d" % len(d))
    r = subprocess.run([pgtest.PROFGATE, "targets", e.pg_cfg, "--json"], capture_output=True, text=True,
                       timeout=60)
    dd = [x for x in json.loads(r.stdout)["data"]["droppedTargets"]
          if x["discoveredLabels"]["__address__"].startswith("127.0.0.9:")]
    t.check(len(dd) == 2, "targets --json keeps %d dropped targets, want 2" % len(dd))


if __name__ == "__main__":
    sys.exit(pgtest.run_tests([test_validation_messages, test_per_target_intervals, test_limits,
                               test_keep_dropped_targets], setup=setup))
