"""test_run_workers.py - `profgate run` with the scrape processing on worker threads,
overloaded on purpose.

One Go target (pprofapp) is scraped by 20 loops (the same address in 20 static groups with
distinct labels, goroutine only) every 1s. Processing is made slow with the test-only
PROFGATE_TEST_WORK_DELAY_MS=300 (core/workq.c) on one worker with a queue of one job,
so profgate can process ~3 scrapes/s of the 20/s due. Expected: profgate sheds
(profgate_scrapes_skipped_total{reason="overloaded"} > 0, logged), no scrape fails, no
target is ever shown down and every one ends up "up", the slow worker does not delay the
loop (no scrape started more than 1s late, no loop lag above 1s: bounds with wide
margins, not timings), --processing.workers overrides the config (and the config is used
without it), and SIGTERM with jobs
on the worker exits cleanly (the sanitizer builds check for leaks)."""
import os
import sys
import types

import pgtest
from pgtest import job, wait_until

LOOPS = 20


def setup(t):
    e = types.SimpleNamespace()
    e.app = t.go_target("pprofapp")
    groups = [{"targets": [e.app.address], "labels": {"replica": str(i)}} for i in range(LOOPS)]
    cfg = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
        "scrape_configs": [job("busy", groups, types=("goroutine",))],
        "storage": {"path": t.tmpdir + "/data"},
        "processing": {"workers": 2, "queue_size": 1},
    }
    e.pg = t.profgate(cfg, start=False)
    rc, out = e.pg.check_config()
    t.require(rc == 0, "config does not load: " + out)
    os.environ["PROFGATE_TEST_WORK_DELAY_MS"] = "300"
    try:
        e.pg.start(extra_args=["--processing.workers=1"])
    finally:
        del os.environ["PROFGATE_TEST_WORK_DELAY_MS"]
    return e


def test_flag_overrides_config(t, e):
    m = e.pg.metrics()
    t.check(e.pg.metric("profgate_processing_workers", m) == 1,
            "profgate_processing_workers = %s, want 1 (--processing.workers=1 over workers: 2)"
            % e.pg.metric("profgate_processing_workers", m))


def test_config_sets_workers(t, e):
    """Without the flag, processing.workers from the config is used."""
    cfg = {"scrape_configs": [], "storage": {"path": t.tmpdir + "/data2"},
           "processing": {"workers": 3, "queue_size": 5}}
    pg = t.profgate(cfg, name="cfgonly")
    m = pg.metrics()
    t.check(pg.metric("profgate_processing_workers", m) == 3,
            "profgate_processing_workers = %s, want 3 (processing.workers: 3)"
            % pg.metric("profgate_processing_workers", m))
    t.stop_profgate(pg)


def test_overload_sheds_without_target_down(t, e):
    down = set()

    def all_up():
        act = e.pg.active(pool="busy")
        for a in act:
            if a["health"] == "down":
                down.add((a["labels"].get("replica"), a["lastError"]))
        return len(act) == LOOPS and all(a["health"] == "up" for a in act)

    # each loop gets a turn whenever it finds the queue empty; 60s is far more than needed
    ok = wait_until(all_up, 60, interval=0.5)
    t.check(not down, "targets shown down while profgate was busy: %s" % sorted(down)[:5])
    t.require(ok, "not every loop became up within 60s: %s" %
              [(a["labels"].get("replica"), a["health"]) for a in e.pg.active(pool="busy")])
    m = e.pg.metrics()
    skipped = e.pg.metric("profgate_scrapes_skipped_total", m, job="busy", type="goroutine",
                          reason="overloaded")
    t.check(skipped > 0, "profgate_scrapes_skipped_total{reason=overloaded} = %s" % skipped)
    t.check(e.pg.metric("profgate_scrape_failures_total", m, job="busy") == 0,
            "scrape failures: %s" % e.pg.metric("profgate_scrape_failures_total", m, job="busy"))
    t.check(e.pg.metric("profgate_scrape_profiles_total", m, job="busy") > 0,
            "no profile was processed")
    t.check("skipping scrapes (profgate is overloaded" in e.pg.log_text(),
            "no rate-limited overload line in the log")


def test_slow_worker_does_not_delay_the_loop(t, e):
    m = e.pg.metrics()

    def bucket(name, le):
        return e.pg.metric(name + "_bucket", m, le=le)

    starts = bucket("profgate_scrape_lateness_seconds", "+Inf")
    t.check(starts > LOOPS, "only %s scrape starts observed" % starts)
    late = starts - bucket("profgate_scrape_lateness_seconds", "1")
    t.check(late == 0, "%s scrape starts were more than 1s late" % late)
    ticks = bucket("profgate_event_loop_lag_seconds", "+Inf")
    t.check(ticks > 10, "only %s loop lag observations" % ticks)
    lagged = ticks - bucket("profgate_event_loop_lag_seconds", "1")
    t.check(lagged == 0, "%s loop lag observations above 1s" % lagged)
    t.check(e.pg.metric("profgate_processing_busy_seconds_total", m) > 0,
            "profgate_processing_busy_seconds_total is 0")
    t.check(("profgate_processing_queue_length", frozenset()) in m,
            "profgate_processing_queue_length missing")


def test_sigterm_with_jobs_in_flight(t, e):
    t.stop_profgate(e.pg)


if __name__ == "__main__":
    sys.exit(pgtest.run_tests([test_flag_overrides_config, test_config_sets_workers,
                               test_overload_sheds_without_target_down,
                               test_slow_worker_does_not_delay_the_loop,
                               test_sigterm_with_jobs_in_flight], setup=setup))
