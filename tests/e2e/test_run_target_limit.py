"""test_run_target_limit.py - `profgate run` with target_limit against a real Go target
(pprofapp), as Prometheus's scrape pool does it.

A file_sd job with target_limit: 1 discovers two targets (the Go target under two label
sets): every (target x type) entry is down with `target_limit exceeded (number of
targets: 2, limit: 1)`, nothing is fetched or forwarded, the failures are counted. Once
the file lists one target, the limit no longer applies: the target comes up and its
profiles reach the receiver. Over the limit again, a reload that raises target_limit
brings both targets up. A second job without a limit, on the same Go target, is scraped
all along."""
import json
import os
import sys

import pgtest
from pgtest import remote, wait_until

LIMIT_ERR = "target_limit exceeded (number of targets: 2, limit: 1)"


def write_sd(path, groups):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(groups, f)
    os.replace(tmp, path)


def test_target_limit(t):
    app = t.go_target("pprofapp")
    rec = t.receiver("push")
    sd = os.path.join(t.tmpdir, "targets.json")
    write_sd(sd, [{"targets": [app.address], "labels": {"service_name": "a", "replica": "1"}},
                  {"targets": [app.address], "labels": {"service_name": "a", "replica": "2"}}])
    types = {"goroutine": {"enabled": True}, "memory": {"enabled": False},
             "process_cpu": {"enabled": False}, "block": {"enabled": False}, "mutex": {"enabled": False}}
    cfg = {"global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
           "scrape_configs": [
               {"job_name": "limited", "target_limit": 1, "profiling_config": types,
                "file_sd_configs": [{"files": [sd], "refresh_interval": "1s"}]},
               {"job_name": "free", "profiling_config": types,
                "static_configs": [{"targets": [app.address], "labels": {"service_name": "b"}}]}],
           "storage": {"path": os.path.join(t.tmpdir, "data")},
           "remote_write": [remote("push", rec.url)]}
    pg = t.profgate(cfg, extra_args=["--web.enable-lifecycle"])

    def limited_down():
        a = pg.active(pool="limited")
        ok = len(a) == 2 and all(x["health"] == "down" and x["lastError"] == LIMIT_ERR for x in a)
        return a if ok else None

    a = wait_until(limited_down, 20)
    t.require(a, "limited job: %s" % [(x["health"], x["lastError"]) for x in pg.active(pool="limited")])
    t.check(wait_until(lambda: pg.metric("profgate_scrape_failures_total", job="limited") >= 4, 10),
            "the limit's failed scrapes are not counted")
    t.check(wait_until(lambda: rec.count(job="free") >= 3, 20), "the job without a limit is not scraped")
    t.check(rec.count(job="limited") == 0, "profiles of the limited job were forwarded")
    t.check(pg.metric("profgate_scrape_bytes_total", job="limited") == 0,
            "the limited job fetched %s bytes" % pg.metric("profgate_scrape_bytes_total", job="limited"))
    t.check("target_limit exceeded" in pg.log_text(), "the log does not name the limit")

    # back under the limit: scraped again
    write_sd(sd, [{"targets": [app.address], "labels": {"service_name": "a", "replica": "1"}}])
    up = wait_until(lambda: (lambda a: a if len(a) == 1 and a[0]["health"] == "up" else None)(
        pg.active(pool="limited")), 30)
    t.check(up, "limited job under its limit: %s"
            % [(x["health"], x["lastError"]) for x in pg.active(pool="limited")])
    t.check(wait_until(lambda: rec.count(job="limited") >= 2, 20),
            "no profile of the limited job arrived once under the limit")

    # over the limit again, then a reload that raises it: both targets are scraped
    write_sd(sd, [{"targets": [app.address], "labels": {"service_name": "a", "replica": "1"}},
                  {"targets": [app.address], "labels": {"service_name": "a", "replica": "2"}}])
    t.check(wait_until(limited_down, 30), "not down again with two targets: %s"
            % [(x["health"], x["lastError"]) for x in pg.active(pool="limited")])
    cfg["scrape_configs"][0]["target_limit"] = 2
    pg.write_config(cfg)
    st, body = pg.reload()
    t.check(st == 200, "reload: %d %s" % (st, body))
    both_up = wait_until(lambda: (lambda a: a if len(a) == 2 and all(x["health"] == "up" for x in a) else None)(
        pg.active(pool="limited")), 30)
    t.check(both_up, "after raising target_limit to 2: %s"
            % [(x["health"], x["lastError"]) for x in pg.active(pool="limited")])
    t.stop_profgate(pg)


if __name__ == "__main__":
    sys.exit(pgtest.run_tests([test_target_limit]))
