"""test_run_reload.py - live reconfiguration of `profgate run` (POST /-/reload and SIGHUP)
with two real Go targets (pprofapp A and B), goroutine and memory profiles every 1s.

The tests run in order on one profgate: add B (A keeps its schedule and its delta state:
its memory profiles continue without the gap a re-primed loop would leave); change A's
labels (new labels appear, the old series stop); remove A (gone from the API, no more
profiles); a broken config answers 500, sets profgate_config_last_reload_successful to 0
and leaves the old config running; SIGHUP with a good config reloads (metric back to 1)."""
import datetime
import signal
import sys
import time
import types

import pgtest
from pgtest import job, remote, wait_until

TYPES = ("goroutine", "memory")
GRACE = 2.0     # in-flight scrapes and sends of a removed target may still land
OBSERVE = 3.0   # then nothing more may arrive during this window


def config(e, groups, broken=False):
    return {
        "global": {"scrape_interval": "1x" if broken else "1s", "scrape_timeout": "1s"},
        "scrape_configs": [job("app", groups, types=TYPES)],
        "storage": {"path": e.tmpdir + "/data"},
        "remote_write": [remote("push", e.rec.url)],
    }


def group(target, version):
    return {"targets": [target.address], "labels": {"service_name": "reload-svc", "version": version}}


def setup(t):
    e = types.SimpleNamespace(tmpdir=t.tmpdir)
    e.a = t.go_target("pprofapp")
    e.b = t.go_target("pprofapp")
    e.rec = t.receiver("push")
    e.pg = t.profgate(config(e, [group(e.a, "v1")]), start=False,
                     extra_args=["--web.enable-lifecycle"])
    rc, out = e.pg.check_config()
    t.require(rc == 0, "config does not load: " + out)
    e.pg.start()
    return e


def entries(e, target):
    return [x for x in e.pg.active(pool="app") if x["labels"].get("instance") == target.address]


def all_up(e, target, n=len(TYPES)):
    x = entries(e, target)
    return x if len(x) == n and all(a["health"] == "up" for a in x) else None


def reload(t, e, groups):
    e.pg.write_config(config(e, groups))
    st, body = e.pg.reload()
    t.check(st == 200, "POST /-/reload: %d %s" % (st, body))


def stops_arriving(t, e, what, **labels):
    """After GRACE, no new profile with labels arrives during OBSERVE (a window of
    observation: absence cannot be awaited)."""
    time.sleep(GRACE)
    n = e.rec.count(**labels)
    time.sleep(OBSERVE)
    t.check(e.rec.count(**labels) == n, "%s: %d more profiles arrived after %.0fs"
            % (what, e.rec.count(**labels) - n, GRACE))


def ts(s):
    try:
        return datetime.datetime.fromisoformat(s).timestamp()
    except (TypeError, ValueError):
        return 0.0


def test_add_target(t, e):
    t.require(wait_until(lambda: all_up(e, e.a), 20), "A not up: %s" % entries(e, e.a))
    t.require(wait_until(lambda: e.rec.count(instance=e.a.address, __name__="memory") >= 2, 20),
              "no memory profiles from A")
    before = {x["profileType"]: ts(x["lastScrape"]) for x in entries(e, e.a)}
    t.check(len(before) == len(TYPES) and all(v > 0 for v in before.values()),
            "A's lastScrape before the reload: %s" % [x["lastScrape"] for x in entries(e, e.a)])
    reload(t, e, [group(e.a, "v1"), group(e.b, "v1")])
    after = entries(e, e.a)
    for x in after:
        t.check(x["health"] == "up" and ts(x["lastScrape"]) >= before.get(x["profileType"], 0),
                "A's %s entry was reset by the reload: %s (lastScrape before %s)"
                % (x["profileType"], x, before.get(x["profileType"])))
    t.check(wait_until(lambda: all_up(e, e.b), 15), "B not up after the reload: %s" % entries(e, e.b))
    t.check(wait_until(lambda: e.rec.count(instance=e.b.address, __name__="memory") >= 1 and
                       e.rec.count(instance=e.b.address, __name__="goroutine") >= 1, 15),
            "no profiles from B after the reload")
    # A's scrape loops survived: its memory profiles (a re-primed loop would skip one)
    # and goroutine profiles continue about every second across the reload.
    n = e.rec.count(instance=e.a.address, __name__="memory")
    wait_until(lambda: e.rec.count(instance=e.a.address, __name__="memory") >= n + 2, 10)
    for typ in TYPES:
        times = sorted(it.profile.time_nanos / 1e9 for it in e.rec.profiles(instance=e.a.address, __name__=typ))
        gaps = [round(b - a, 2) for a, b in zip(times, times[1:])]
        t.check(gaps and max(gaps) < 1.7, "A's %s profiles have a gap across the reload: %s" % (typ, gaps))
    t.check(e.pg.metric("profgate_config_last_reload_successful") == 1, "last_reload_successful != 1")


def test_change_labels(t, e):
    reload(t, e, [group(e.a, "v2"), group(e.b, "v1")])
    ok = wait_until(lambda: (lambda x: len(x) == len(TYPES) and all(a["labels"].get("version") == "v2" for a in x))(
        entries(e, e.a)), 10)
    t.check(ok, "A's entries do not show version v2: %s" % [a["labels"] for a in entries(e, e.a)])
    t.check(wait_until(lambda: e.rec.count(instance=e.a.address, version="v2") >= 2, 15),
            "no profiles from A with version v2")
    stops_arriving(t, e, "A with the old version v1", instance=e.a.address, version="v1")
    t.check(e.rec.count(instance=e.b.address, version="v1") > 0, "B lost its profiles")


def test_remove_target(t, e):
    reload(t, e, [group(e.b, "v1")])
    t.check(wait_until(lambda: not entries(e, e.a), 5), "A still active after removal: %s" % entries(e, e.a))
    n_b = e.rec.count(instance=e.b.address)
    stops_arriving(t, e, "removed target A", instance=e.a.address)
    t.check(e.rec.count(instance=e.b.address) >= n_b + 3, "B stopped being scraped")
    t.check(e.a.proc.poll() is None, "target A died")


def test_broken_config_keeps_old(t, e):
    e.pg.write_config(config(e, [group(e.a, "v9"), group(e.b, "v9")], broken=True))
    st, body = e.pg.reload()
    t.check(st == 500, "POST /-/reload with a broken config: %d, want 500" % st)
    t.check("not a valid duration" in body, "the 500 does not carry the error text: %r" % body[:300])
    t.check(e.pg.metric("profgate_config_last_reload_successful") == 0,
            "profgate_config_last_reload_successful is not 0 after a failed reload")
    t.check("not a valid duration" in e.pg.log_text(), "the config error is not logged")
    # the old config keeps running
    t.check(e.pg.get("/-/ready")[0] == 200, "not ready after a failed reload")
    t.check(not entries(e, e.a) and all_up(e, e.b), "targets changed by a failed reload: %s"
            % [(x["labels"], x["health"]) for x in e.pg.active()])
    n = e.rec.count(instance=e.b.address)
    t.check(wait_until(lambda: e.rec.count(instance=e.b.address) >= n + 3, 10),
            "B is no longer scraped after a failed reload")
    t.check(e.rec.count(version="v9") == 0, "profiles with the broken config's labels arrived")


def test_sighup_reload(t, e):
    e.pg.write_config(config(e, [group(e.a, "v3"), group(e.b, "v1")]))
    e.pg.signal(signal.SIGHUP)
    t.check(wait_until(lambda: e.pg.metric("profgate_config_last_reload_successful") == 1, 10),
            "profgate_config_last_reload_successful not back to 1 after SIGHUP")
    t.check(wait_until(lambda: all_up(e, e.a), 15), "A not back after SIGHUP: %s" % entries(e, e.a))
    t.check(wait_until(lambda: e.rec.count(instance=e.a.address, version="v3") >= 2, 15),
            "no profiles from A with version v3 after SIGHUP")
    t.check(not e.rec.errors, "receiver errors: %s" % e.rec.errors[:2])


def test_sigterm_clean_exit(t, e):
    t.stop_profgate(e.pg)


if __name__ == "__main__":
    sys.exit(pgtest.run_tests([test_add_target, test_change_labels, test_remove_target,
                               test_broken_config_keeps_old, test_sighup_reload, test_sigterm_clean_exit],
                              setup=setup))
