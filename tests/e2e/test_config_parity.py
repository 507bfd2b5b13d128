"""test_config_parity.py - config and dry-run behaviour that Prometheus users expect.

- relative paths in the config (file_sd `files`, `password_file`, the receiver's
  `bearer_tokens_file`) resolve against the config file's directory, not the working
  directory: `profgate check` and `profgate targets` give the same answer from `/`, from
  the config's parent with a relative config path and from the config's own directory,
  and promtool (Debian's Prometheus 2.42) accepts the same password_file from `/`;
- `profgate targets` and `check` print each config error once, each on its own line;
- a config with scrape jobs and no remote_write gets a WARNING line from `check` (stderr)
  and a warn-level log line from `run`, and one with a remote_write gets none;
- `scrape_config_files` (globs relative to the config's directory) adds the jobs of each
  matching file, whose own relative paths are that file's directory's; errors name the
  included file, and a job name used twice names the first file;
- `profgate targets --timeout` bounds the wait for a source that does not answer."""
import json
import os
import shutil
import subprocess
import sys
import time

import pgtest
from pgtest import free_port, wait_until

PROMTOOL = shutil.which("promtool")


def run(args, cwd):
    p = subprocess.run([pgtest.PROFGATE] + args, capture_output=True, text=True, timeout=120, cwd=cwd)
    return p.returncode, p.stdout, p.stderr


def make_tree(t):
    """<tmp>/conf/p.yml with relative paths next to it: pw, tokens, sd/targets.json."""
    conf = os.path.join(t.tmpdir, "conf")
    os.makedirs(os.path.join(conf, "sd"))
    with open(os.path.join(conf, "pw"), "w") as f:
        f.write("s3cret\n")
    with open(os.path.join(conf, "tokens"), "w") as f:
        f.write("token-1\n")
    with open(os.path.join(conf, "sd", "targets.json"), "w") as f:
        json.dump([{"targets": ["127.0.0.1:7001", "127.0.0.1:7002"], "labels": {"team": "a"}}], f)
    job = {"job_name": "rel", "basic_auth": {"username": "u", "password_file": "pw"},
           "file_sd_configs": [{"files": ["sd/*.json"]}]}
    with open(os.path.join(conf, "p.yml"), "w") as f:
        json.dump({"scrape_configs": [job], "receiver": {"enabled": True, "bearer_tokens_file": "tokens"},
                   "remote_write": [{"url": "http://127.0.0.1:1"}]}, f)
    with open(os.path.join(conf, "prom.yml"), "w") as f:
        json.dump({"scrape_configs": [job]}, f)
    return conf


def test_relative_paths(t):
    conf = make_tree(t)
    absolute = os.path.join(conf, "p.yml")
    for cwd, path in (("/", absolute), (t.tmpdir, "conf/p.yml"), (conf, "p.yml")):
        rc, out, err = run(["check", path], cwd)
        t.check(rc == 0 and ": OK:" in out, "check %s from %s: rc=%d %s%s" % (path, cwd, rc, out, err))
        rc, out, err = run(["targets", path, "--json"], cwd)
        t.check(rc == 0, "targets %s from %s: rc=%d %s" % (path, cwd, rc, err))
        if rc == 0:
            act = json.loads(out)["data"]["activeTargets"]
            addrs = sorted({a["labels"]["instance"] for a in act})
            t.check(addrs == ["127.0.0.1:7001", "127.0.0.1:7002"],
                    "targets %s from %s: file_sd relative to the config found %s" % (path, cwd, addrs))
            paths = {a["discoveredLabels"].get("__meta_filepath") for a in act}
            want = os.path.join(os.path.dirname(path), "sd", "targets.json")
            t.check(paths == {want}, "__meta_filepath %s, want %s" % (paths, want))
    # a missing relative secret is named by its resolved path
    os.remove(os.path.join(conf, "pw"))
    rc, out, err = run(["check", absolute], "/")
    t.check(rc == 1 and ("unable to read file %s:" % os.path.join(conf, "pw")) in err,
            "missing pw: rc=%d %s" % (rc, err))
    with open(os.path.join(conf, "pw"), "w") as f:
        f.write("s3cret\n")
    if PROMTOOL:
        p = subprocess.run([PROMTOOL, "check", "config", os.path.join(conf, "prom.yml")],
                           capture_output=True, text=True, timeout=60, cwd="/")
        t.check(p.returncode == 0, "promtool rejects the relative password_file: %s" % (p.stdout + p.stderr))


def test_errors_once(t):
    bad = os.path.join(t.tmpdir, "bad.yml")
    with open(bad, "w") as f:
        f.write("scrape_configs:\n"
                "  - job_name: a\n"
                "    scrape_interval: 5x\n"
                "    bogus: 1\n"
                "    static_configs: [{targets: ['127.0.0.1:1']}]\n"
                "    relabel_configs: [{source_labels: [a], target_label: b, action: lowercase, replacement: x}]\n")
    want = ["%s:4:5: field bogus not found in type config.ScrapeConfig" % bad,
            "%s:3:22: scrape_interval: not a valid duration string: \"5x\"" % bad,
            "%s:6:93: 'replacement' can not be set for lowercase action" % bad]
    for cmd in ("targets", "check"):
        rc, out, err = run([cmd, bad], "/")
        lines = (out + err).splitlines()
        t.check(rc == 1, "%s: rc %d" % (cmd, rc))
        for w in want:
            t.check(lines.count(w) == 1, "%s: %r is printed %d times as a line in:\n%s"
                    % (cmd, w, lines.count(w), out + err))
        for w in want:
            msg = w.split(": ", 1)[1]
            t.check((out + err).count(msg) == 1, "%s: %r repeated" % (cmd, msg))


def test_no_remote_write_warning(t):
    cfg = {"scrape_configs": [{"job_name": "a", "static_configs": [{"targets": ["127.0.0.1:%d" % free_port()]}]}],
           "storage": {"path": os.path.join(t.tmpdir, "data")}}
    path = os.path.join(t.tmpdir, "norw.yml")
    with open(path, "w") as f:
        json.dump(cfg, f)
    rc, out, err = run(["check", path], "/")
    t.check(rc == 0 and ": OK:" in out, "check: rc=%d %s" % (rc, out + err))
    t.check(any(l.startswith("WARNING: ") and "no remote_write" in l for l in err.splitlines()),
            "check prints no WARNING line on stderr: %r" % err)
    pg = t.profgate(cfg)
    t.check(wait_until(lambda: "no remote_write" in pg.log_text(), 10), "run logs no warning")
    line = next((l for l in pg.log_text().splitlines() if "no remote_write" in l), "")
    t.check("level=warn" in line, "the run warning is not at warn level: %r" % line)
    t.stop_profgate(pg)
    cfg["remote_write"] = [{"url": "http://127.0.0.1:1"}]
    with open(path, "w") as f:
        json.dump(cfg, f)
    rc, out, err = run(["check", path], "/")
    t.check(rc == 0 and "WARNING" not in err, "warning with a remote_write: %r" % err)


def test_scrape_config_files(t):
    conf = os.path.join(t.tmpdir, "etc")
    os.makedirs(os.path.join(conf, "jobs.d", "sd"))
    main = os.path.join(conf, "p.yml")
    with open(main, "w") as f:
        json.dump({"global": {"scrape_interval": "30s"},
                   "scrape_config_files": ["jobs.d/*.yml", "missing/*.yml"],
                   "scrape_configs": [{"job_name": "main", "static_configs": [{"targets": ["127.0.0.1:7001"]}]}],
                   "remote_write": [{"url": "http://127.0.0.1:1"}]}, f)
    with open(os.path.join(conf, "jobs.d", "b.yml"), "w") as f:
        json.dump({"scrape_configs": [{"job_name": "from_file_sd", "file_sd_configs": [{"files": ["sd/*.json"]}]}]}, f)
    with open(os.path.join(conf, "jobs.d", "a.yml"), "w") as f:
        json.dump({"scrape_configs": [{"job_name": "static", "scrape_interval": "1m",
                                       "static_configs": [{"targets": ["127.0.0.1:7002"]}]}]}, f)
    with open(os.path.join(conf, "jobs.d", "sd", "t.json"), "w") as f:
        json.dump([{"targets": ["127.0.0.1:7003"]}], f)
    rc, out, err = run(["check", main], "/")
    t.check(rc == 0 and ": OK: 3 scrape job(s)" in out, "check: rc=%d %s%s" % (rc, out, err))
    rc, out, err = run(["targets", main, "--json"], "/")
    t.require(rc == 0, "targets: %s" % err)
    got = sorted({(a["scrapePool"], a["labels"]["instance"], a["scrapeInterval"])
                  for a in json.loads(out)["data"]["activeTargets"]})
    want = [("from_file_sd", "127.0.0.1:7003", "30s"), ("main", "127.0.0.1:7001", "30s"),
            ("static", "127.0.0.1:7002", "1m")]
    t.check(got == want, "targets from scrape_config_files: %s, want %s" % (got, want))
    # errors in an included file name it; a job name used twice names the first file
    bad = os.path.join(conf, "jobs.d", "c.yml")
    with open(bad, "w") as f:
        f.write("scrape_configs:\n"
                "  - job_name: main\n"
                "    bogus: 1\n"
                "global: {}\n")
    rc, out, err = run(["check", main], "/")
    lines = err.splitlines()
    for w in ("%s:4:1: field global not found in type config.ScrapeConfigs" % bad,
              "%s:3:5: field bogus not found in type config.ScrapeConfig" % bad,
              "%s:2:15: found multiple scrape configs with job name \"main\", first found in \"%s\"" % (bad, main)):
        t.check(rc == 1 and lines.count(w) == 1, "want the line %r in:\n%s" % (w, err))


def test_targets_timeout(t):
    down = "http://127.0.0.1:%d/sd" % free_port()
    path = os.path.join(t.tmpdir, "down.yml")
    with open(path, "w") as f:
        json.dump({"scrape_configs": [{"job_name": "down", "http_sd_configs": [{"url": down}]}]}, f)
    t0 = time.monotonic()
    rc, out, err = run(["targets", path, "--timeout", "1s"], "/")
    dt = time.monotonic() - t0
    t.check(rc == 0 and "job down: discovery found nothing within 1s" in err,
            "rc=%d stderr %r" % (rc, err))
    t.check(dt < 8, "targets --timeout 1s took %.1fs" % dt)
    for bad in ("--timeout=0s", "--timeout=soon"):
        rc, out, err = run(["targets", path, bad], "/")
        t.check(rc == 2 and "--timeout" in err, "%s: rc=%d %r" % (bad, rc, err))


if __name__ == "__main__":
    sys.exit(pgtest.run_tests([test_relative_paths, test_errors_once, test_no_remote_write_warning,
                               test_scrape_config_files, test_targets_timeout]))
