"""test_targets_dry_run.py - `profgate targets` runs every discovery mechanism of the
registry once, through the discovery manager: an http_sd_configs source next to
static_configs, a source that is down (reported on stderr, the job printed with what the
others found), and a job whose only source is down (printed empty after the wait)."""
import http.server
import json
import os
import subprocess
import sys
import threading
import time

import pgtest

PROFGATE = os.environ["PROFGATE"]


class SD(http.server.BaseHTTPRequestHandler):
    body = json.dumps([{"targets": ["127.0.0.1:7001", "127.0.0.1:7002"],
                        "labels": {"team": "a"}}]).encode()

    def do_GET(self):  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *a):
        pass


def targets(t, cfg):
    path = os.path.join(t.tmpdir, "cfg.yml")
    with open(path, "w") as f:
        f.write(json.dumps(cfg))
    t0 = time.monotonic()
    p = subprocess.run([PROFGATE, "targets", path, "--json"], capture_output=True, text=True,
                       timeout=60)
    t.require(p.returncode == 0, "targets exit %d: %s" % (p.returncode, p.stderr))
    return json.loads(p.stdout)["data"], p.stderr, time.monotonic() - t0


def addresses(data, job):
    return sorted({a["discoveredLabels"]["__address__"] for a in data["activeTargets"]
                   if a["scrapePool"] == job})


def test_http_sd_and_down_source(t):
    srv = pgtest.QuietHTTPServer(("127.0.0.1", 0), SD)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    t.defer(srv.shutdown)
    url = "http://127.0.0.1:%d/sd" % srv.server_address[1]
    down = "http://127.0.0.1:%d/sd" % pgtest.free_port()
    data, err, secs = targets(t, {"scrape_configs": [
        {"job_name": "mixed", "static_configs": [{"targets": ["127.0.0.1:7000"]}],
         "http_sd_configs": [{"url": url}]},
        {"job_name": "partly_down", "static_configs": [{"targets": ["127.0.0.1:7003"]}],
         "http_sd_configs": [{"url": down}]},
    ]})
    t.check(addresses(data, "mixed") == ["127.0.0.1:7000", "127.0.0.1:7001", "127.0.0.1:7002"],
            "mixed: %s" % addresses(data, "mixed"))
    team = {a["discoveredLabels"].get("team") for a in data["activeTargets"]
            if a["discoveredLabels"]["__address__"] == "127.0.0.1:7001"}
    t.check(team == {"a"}, "http_sd group labels: %s" % team)
    meta = {a["discoveredLabels"].get("__meta_url") for a in data["activeTargets"]
            if a["discoveredLabels"]["__address__"] == "127.0.0.1:7001"}
    t.check(meta == {url}, "__meta_url: %s" % meta)
    t.check(addresses(data, "partly_down") == ["127.0.0.1:7003"],
            "partly_down keeps its static target: %s" % addresses(data, "partly_down"))
    t.check("sd.http" in err and "refresh failed" in err, "the down source is logged: %s" % err)
    t.check(secs < 9, "a job with a down source waits the manager's grace only (%.1f s)" % secs)


def test_only_source_down(t):
    down = "http://127.0.0.1:%d/sd" % pgtest.free_port()
    data, err, secs = targets(t, {"scrape_configs": [
        {"job_name": "down", "http_sd_configs": [{"url": down}]}]})
    t.check(data["activeTargets"] == [], "no targets: %s" % data["activeTargets"])
    t.check("job down: discovery found nothing" in err, "reported: %s" % err)
    t.check(9 <= secs < 30, "waited the dry run's limit (%.1f s)" % secs)


if __name__ == "__main__":
    sys.exit(pgtest.run_tests([test_http_sd_and_down_source, test_only_source_down]))
