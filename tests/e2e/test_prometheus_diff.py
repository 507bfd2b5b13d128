"""test_prometheus_diff.py - differential test of target labels and relabeling against
Debian's real `prometheus` binary (2.42).

Each case is a relabel chain over the same file_sd targets (every address with an explicit
port, all on loopback since Prometheus may scrape them, no rule that hits the Prometheus-3-only differences listed in DESIGN.md). All cases
run as jobs of one config: Prometheus's /api/v1/targets and `profgate targets --json` must
agree on each job's active label sets and dropped targets. Labels profgate adds by design
(service_name) are left out of the comparison."""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

PROFGATE = os.environ["PROFGATE"]
PROM = shutil.which("prometheus")

TARGETS = [
    {"targets": ["127.0.0.1:6060", "127.0.0.2:6060"],
     "labels": {"env": "prod", "team": "Payments", "__meta_zone": "eu-1a", "__meta_pod": "api-0",
                "tmp_x": "1", "region": "EU"}},
    {"targets": ["localhost:8080"],
     "labels": {"env": "dev", "team": "search", "__meta_zone": "us-1b", "__meta_pod": "web-3",
                "region": "eu", "canary": "true"}},
    {"targets": ["127.0.0.3:9090", "[::1]:6060"],
     "labels": {"env": "staging", "team": "core", "__meta_zone": "eu-1a", "__meta_pod": "db-1",
                "region": "us", "owner": "core"}},
]

# (name, relabel_configs)
CASES = [
    ("none", []),
    ("replace_host", [{"source_labels": ["__address__"], "regex": "(.*):(\\d+)",
                       "target_label": "host", "replacement": "$1"}]),
    ("keep_env", [{"source_labels": ["env"], "regex": "prod|dev", "action": "keep"}]),
    ("drop_env", [{"source_labels": ["env"], "regex": "dev", "action": "drop"}]),
    ("labelmap_meta", [{"regex": "__meta_(.+)", "action": "labelmap"}]),
    ("labelmap_repl", [{"regex": "__meta_(.+)", "replacement": "k8s_$1", "action": "labelmap"}]),
    ("labeldrop", [{"regex": "tmp_.*|canary", "action": "labeldrop"}]),
    ("labelkeep", [{"regex": "__.*|job|env", "action": "labelkeep"}]),
    ("hashmod_keep", [{"source_labels": ["__address__"], "modulus": 3, "target_label": "__tmp_hash",
                       "action": "hashmod"},
                      {"source_labels": ["__tmp_hash"], "regex": "1", "action": "keep"}]),
    ("hashmod_label", [{"source_labels": ["__address__", "env"], "modulus": 1000,
                        "target_label": "shard", "action": "hashmod"}]),
    ("lowercase", [{"source_labels": ["team"], "target_label": "team_lc", "action": "lowercase"}]),
    ("uppercase", [{"source_labels": ["region"], "target_label": "region", "action": "uppercase"}]),
    ("keepequal", [{"source_labels": ["team"], "target_label": "owner", "action": "keepequal"}]),
    ("dropequal", [{"source_labels": ["team"], "target_label": "owner", "action": "dropequal"}]),
    ("named_groups", [{"source_labels": ["__address__"], "regex": "(?P<h>[^:]+):(?P<p>\\d+)",
                       "target_label": "hp", "replacement": "${h}-${p}"}]),
    ("missing_source", [{"source_labels": ["nope"], "regex": "", "target_label": "was_empty",
                         "replacement": "yes"}]),
    ("separator", [{"source_labels": ["env", "team"], "separator": "/", "target_label": "et"}]),
    ("set_instance", [{"source_labels": ["__meta_pod"], "target_label": "instance"}]),
    ("rewrite_address", [{"source_labels": ["__address__"], "regex": "(.*):\\d+",
                          "target_label": "__address__", "replacement": "$1:7777"}]),
    ("target_template", [{"source_labels": ["env"], "regex": "(.*)", "target_label": "is_$1",
                          "replacement": "1"}]),
    ("empty_deletes", [{"source_labels": ["nope"], "target_label": "team"}]),
    ("no_match", [{"source_labels": ["env"], "regex": "nomatch", "target_label": "x",
                   "replacement": "y"}]),
    ("dollar_dollar", [{"source_labels": ["env"], "target_label": "price", "replacement": "$$1"}]),
    ("unanchored_looking", [{"source_labels": ["env"], "regex": "pro", "action": "keep"}]),
    ("case_insensitive", [{"source_labels": ["team"], "regex": "(?i)payments|SEARCH",
                           "action": "keep"}]),
    ("chain", [{"regex": "__meta_(zone)", "action": "labelmap"},
               {"source_labels": ["zone"], "regex": "(eu|us)-.*", "target_label": "continent"},
               {"regex": "zone", "action": "labeldrop"},
               {"source_labels": ["continent"], "regex": "eu", "action": "keep"}]),
    ("group1x", [{"source_labels": ["env"], "regex": "(.*)", "target_label": "g",
                  "replacement": "$1x-${1}x"}]),
    ("drop_all", [{"regex": ".*", "source_labels": ["job"], "action": "drop"}]),
    ("keep_by_address", [{"source_labels": ["__address__"], "regex": "127\\.0\\.0\\.1:.*|localhost:.*",
                          "action": "keep"}]),
    ("replace_scheme_param", [{"target_label": "__param_debug", "replacement": "1"},
                              {"source_labels": ["__scrape_interval__"], "target_label": "iv"}]),
    ("default_replace", [{"source_labels": ["region"], "target_label": "r2"}]),
    ("labelmap_then_drop_meta", [{"regex": "__meta_pod", "replacement": "pod", "action": "labelmap"},
                                 {"source_labels": ["pod"], "regex": "db-.*", "action": "drop"}]),
]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def yaml_dump(obj, indent=0):
    """Minimal YAML emitter (JSON is valid YAML; we use flow style for values)."""
    return json.dumps(obj)


def main():
    if not PROM:
        print("prometheus binary not found (install Debian's prometheus)")
        return 1
    tmp = tempfile.mkdtemp(prefix="pg_promdiff_")
    sd = os.path.join(tmp, "targets.json")
    with open(sd, "w") as f:
        json.dump(TARGETS, f)
    jobs = []
    for name, rules in CASES:
        jobs.append({"job_name": name, "scrape_interval": "1h", "scrape_timeout": "10s",
                     "file_sd_configs": [{"files": [sd]}], "relabel_configs": rules})
    prom_cfg = os.path.join(tmp, "prometheus.yml")
    with open(prom_cfg, "w") as f:
        f.write(json.dumps({"global": {"scrape_interval": "1h"}, "scrape_configs": jobs}))
    pg_cfg = os.path.join(tmp, "profgate.yml")
    with open(pg_cfg, "w") as f:
        f.write(json.dumps({"global": {"scrape_interval": "1h"}, "scrape_configs": jobs}))

    port = free_port()
    prom = subprocess.Popen([PROM, "--config.file=" + prom_cfg,
                             "--storage.tsdb.path=" + os.path.join(tmp, "tsdb"),
                             "--web.listen-address=127.0.0.1:%d" % port],
                            stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "prom.log"), "w"))
    passed = failed = 0
    try:
        want_jobs = {name for name, _ in CASES}
        deadline = time.time() + 60
        data = None
        while time.time() < deadline:
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/api/v1/targets" % port, timeout=5) as r:
                    data = json.load(r)["data"]
                pools = {t["scrapePool"] for t in data["activeTargets"]}
                pools |= {t["discoveredLabels"].get("job") for t in data["droppedTargets"]}
                if want_jobs - {"drop_all"} <= pools and any(
                        t["discoveredLabels"].get("job") == "drop_all" for t in data["droppedTargets"]):
                    break
            except OSError:
                pass
            time.sleep(0.5)
        if data is None:
            print("prometheus did not come up; log:\n" + open(os.path.join(tmp, "prom.log")).read())
            return 1
        out = subprocess.run([PROFGATE, "targets", pg_cfg, "--json"], capture_output=True,
                             text=True, timeout=60)
        if out.returncode != 0:
            print("profgate targets failed:", out.stderr)
            return 1
        mine = json.loads(out.stdout)["data"]

        def active(d, job, key):
            s = set()
            for t in d["activeTargets"]:
                if t[key] == job:
                    labels = {k: v for k, v in t["labels"].items() if k != "service_name"}
                    s.add(json.dumps(labels, sort_keys=True))
            return s

        def dropped(d, job):
            return sorted(json.dumps({"address": t["discoveredLabels"]["__address__"]})
                          for t in d["droppedTargets"] if t["discoveredLabels"].get("job") == job)

        for name, _ in CASES:
            pa, ma = active(data, name, "scrapePool"), active(mine, name, "scrapePool")
            pd, md = dropped(data, name), dropped(mine, name)
            if pa == ma and pd == md:
                passed += 1
            else:
                failed += 1
                print("FAIL %s:\n prometheus active %s\n profgate   active %s\n prometheus dropped %s\n"
                      " profgate   dropped %s" % (name, sorted(pa), sorted(ma), pd, md))
        # profgate emits one active entry per enabled profile type (5 by default)
        n_prom = sum(1 for t in data["activeTargets"] if t["scrapePool"] == "none")
        n_mine = sum(1 for t in mine["activeTargets"] if t["scrapePool"] == "none")
        if n_mine == 5 * n_prom and n_prom == 5:
            passed += 1
        else:
            failed += 1
            print("FAIL: expected 5 profile types x %d targets, got %d" % (n_prom, n_mine))
    finally:
        prom.terminate()
        try:
            prom.wait(timeout=20)
        except subprocess.TimeoutExpired:
            prom.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
