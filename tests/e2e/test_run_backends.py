"""test_run_backends.py - `profgate run` with several push backends that fail differently.

- outage: backend B's port is closed (connection refused) while A is up: A gets every
  scrape on time; once B listens again it receives the whole backlog.
- restart: profgate is SIGKILLed while B is down; restarted on the same storage with B
  up, B eventually receives every profile A had received before the kill (A only ever
  gets profiles that were committed to the buffer first).
- status codes: a backend answering 400 has its profiles dropped and counted (not
  retried), one answering 503 gets everything once it recovers, and neither disturbs A.
Targets are a real Go program (pprofapp); backends are pgtest.Receiver instances."""
import sys

import pgtest
from pgtest import free_port, job, remote, wait_until

TYPES = ("goroutine", "memory")


def config(t, app, remotes):
    return {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
        "scrape_configs": [job("app", [app.address], labels={"service_name": "backends-svc"},
                               types=TYPES)],
        "storage": {"path": t.tmpdir + "/data"},
        "remote_write": remotes,
    }


def bodies(rec):
    """The profiles rec got, as (raw profile, labels) (no backend has external labels, so
    the same profile looks the same at every backend)."""
    return {(it.raw, frozenset(it.labels.items())) for it in rec.snapshot()}


def goroutine_times(rec):
    """Scrape times (seconds) of the goroutine profiles rec received, sorted."""
    return sorted(it.profile.time_nanos / 1e9 for it in rec.profiles(__name__="goroutine"))


def longest_regular_run(times, max_gap):
    """Length of the longest run of consecutive times no more than max_gap apart."""
    best = run = 1 if times else 0
    for a, b in zip(times, times[1:]):
        run = run + 1 if b - a <= max_gap else 1
        best = max(best, run)
    return best


def test_backlog_after_outage(t):
    app = t.go_target("pprofapp")
    a = t.receiver("a")
    bport = free_port()  # nothing listens here yet: connection refused
    burl = "http://127.0.0.1:%d" % bport
    pg = t.profgate(config(t, app, [remote("a", a.url), remote("b", burl)]))
    # A gets profiles from at least 6 consecutive 1s scrapes while B is down, each
    # delivered promptly (B's retries do not hold A back).
    ok = wait_until(lambda: longest_regular_run(goroutine_times(a), 1.6) >= 6, 30, interval=0.3)
    t.check(ok, "A did not get 6 consecutive scrapes during B's outage: times %s" % goroutine_times(a))
    late = [it.t - it.profile.time_nanos / 1e9 for it in a.profiles(__name__="goroutine")]
    t.check(late and max(late) < 3.0, "A got profiles late during B's outage (delays %s)" % late)
    pgtest.log("  A's delivery delays during the outage: max %.2fs" % max(late or [0]))
    m = pg.metrics()
    t.check(pg.metric("profgate_remote_write_retried_profiles_total", m, remote="b") > 0,
            "no retries counted for the dead backend b")
    t.check(pg.metric("profgate_remote_write_profiles_total", m, remote="b") == 0,
            "profiles counted as sent to the dead backend b")
    t.check(pg.metric("profgate_remote_write_dropped_profiles_total", m, remote="b") == 0,
            "profiles dropped for b during the outage (max_retries is 0 = forever)")
    # B comes back on the same port: it receives the backlog, then keeps up.
    backlog = bodies(a)
    b = t.receiver("b", port=bport)
    ok = wait_until(lambda: backlog <= bodies(b), 30, interval=0.3)
    t.check(ok, "B is missing %d of the %d profiles of the backlog"
            % (len(backlog - bodies(b)), len(backlog)))
    later = bodies(a)
    t.check(wait_until(lambda: later <= bodies(b), 15, interval=0.3),
            "B is not keeping up after the backlog")
    got = [(it.raw, frozenset(it.labels.items())) for it in b.snapshot()]
    t.check(len(got) == len(set(got)), "B got %d duplicates" % (len(got) - len(set(got))))
    t.check(not a.errors and not b.errors, "receiver decode errors: %s %s" % (a.errors[:2], b.errors[:2]))
    for it in b.snapshot():
        t.check(it.labels.get("service_name") == "backends-svc" and it.labels.get("job") == "app",
                "B: labels %s" % it.labels)
        break
    t.stop_profgate(pg)


def test_restart_after_sigkill(t):
    app = t.go_target("pprofapp")
    a = t.receiver("a")
    bport = free_port()
    cfg = config(t, app, [remote("a", a.url), remote("b", "http://127.0.0.1:%d" % bport)])
    storage = t.tmpdir + "/storage"
    pg = t.profgate(cfg, storage=storage)
    t.require(wait_until(lambda: a.count() >= 8, 30), "A got only %d profiles in 30s" % a.count())
    scraped = pg.metric("profgate_scrapes_total", job="app")
    pg.kill()
    committed = bodies(a)  # everything A got was in the buffer before it was sent
    t.check(committed and scraped > 0, "A got %d profiles, profgate_scrapes_total says %s scrapes"
            % (len(committed), scraped))
    b = t.receiver("b", port=bport)
    pg2 = t.profgate(cfg, storage=storage, name="profgate-restarted")
    ok = wait_until(lambda: committed <= bodies(b), 40, interval=0.3)
    t.check(ok, "after the restart B is missing %d of the %d profiles committed before SIGKILL"
            % (len(committed - bodies(b)), len(committed)))
    # A resumes too, with new profiles
    t.check(wait_until(lambda: bodies(a) - committed, 15), "A got nothing after the restart")
    t.check(not a.errors and not b.errors, "receiver decode errors: %s %s" % (a.errors[:2], b.errors[:2]))
    t.stop_profgate(pg2)


def test_status_codes(t):
    app = t.go_target("pprofapp")
    a = t.receiver("a")
    c = t.receiver("c")
    c.set_status(400)
    d = t.receiver("d")
    d.set_status(503)
    pg = t.profgate(config(t, app, [remote("a", a.url), remote("c", c.url), remote("d", d.url)]))

    def dropped():
        return pg.metric("profgate_remote_write_dropped_profiles_total", remote="c")

    t.check(wait_until(lambda: dropped() >= 4, 30), "dropped{remote=c} = %s after 30s" % dropped())
    n_a = a.count()
    t.check(wait_until(lambda: a.count() >= n_a + 3, 15), "A stopped receiving while c answered 400")
    m = pg.metrics()
    t.check(pg.metric("profgate_remote_write_retried_profiles_total", m, remote="c") == 0,
            "a 400 was retried (%s)" % pg.metric("profgate_remote_write_retried_profiles_total", m, remote="c"))
    t.check(pg.metric("profgate_remote_write_profiles_total", m, remote="c") == 0, "c counted as sent")
    # each profile is offered to c once, not over and over
    t.check(c.requests <= a.count() + 3, "c got %d requests for %d profiles" % (c.requests, a.count()))
    t.check("injected failure from test receiver" in pg.log_text(),
            "the 400's message from the server is not in profgate's log")
    t.check(pg.metric("profgate_remote_write_retried_profiles_total", m, remote="d") > 0,
            "no retries counted for d answering 503")
    t.check(pg.metric("profgate_remote_write_dropped_profiles_total", m, remote="d") == 0,
            "d's 503s caused drops")
    # d recovers: it gets everything A got
    d.set_status(200)
    want = bodies(a)
    t.check(wait_until(lambda: want <= bodies(d), 20, interval=0.3),
            "d is missing %d of %d profiles after recovering from 503" % (len(want - bodies(d)), len(want)))
    t.check(c.count() == 0, "c recorded profiles")
    t.check(not a.errors and not d.errors, "receiver decode errors: %s %s" % (a.errors[:2], d.errors[:2]))
    t.stop_profgate(pg)


if __name__ == "__main__":
    sys.exit(pgtest.run_tests([test_backlog_after_outage, test_restart_after_sigkill, test_status_codes]))
