"""test_run_pipeline.py - `profgate run` end to end: two real Go targets (workapp, whose
work happens only on demand, and pprofapp, always busy) scraped every 3s with every
default profile type, forwarded to a push backend and an ingest backend (test receivers).

One profgate serves every test below (they run in order): client-side deltas of
memory/block/mutex sum exactly to the target's own cumulative counts and are never
negative; every type reaches both backends as a well-formed pprof with Go's sample types;
series labels (target, __name__, service_name, __delta__, external labels with the
per-remote ones winning); seconds= for process_cpu; /api/v1/targets; /metrics; SIGTERM."""
import datetime
import sys
import time
import types

import pgtest
from pgtest import DEFAULT_TYPES, DELTA_TYPES, SAMPLE_TYPES, job, remote, wait_until

INTERVAL = 3.0
ALLOWED_PUSH_LABELS = {"job", "instance", "service_name", "team", "cluster", "region", "env", "rw",
                       "__name__", "__delta__"}
# Sample types that carry client-side deltas, per type.
DELTA_VALUES = {"memory": ("alloc_objects", "alloc_space"), "block": ("contentions", "delay"),
                "mutex": ("contentions", "delay")}
# Function (substring) doing workapp's on-demand work, per type.
BURST_FRAME = {"memory": "allocBurst", "mutex": "contendBurst", "block": "blockBurst"}
BURST_PATH = {"memory": "/debug/pprof/allocs", "mutex": "/debug/pprof/mutex",
              "block": "/debug/pprof/block"}


def setup(t):
    e = types.SimpleNamespace()
    e.work = t.go_target("workapp")
    e.app = t.go_target("pprofapp")
    e.push = t.receiver("push")
    e.ing = t.receiver("ingest")
    e.svc = {e.work.address: "workapp-svc", e.app.address: "pprofapp-svc"}
    e.team = {e.work.address: "a", e.app.address: "b"}
    cfg = {
        "global": {"scrape_interval": "3s", "scrape_timeout": "1s",
                   "external_labels": {"cluster": "e2e", "env": "global", "region": "g"}},
        "scrape_configs": [job("apps", [
            {"targets": [e.work.address], "labels": {"service_name": "workapp-svc", "team": "a"}},
            {"targets": [e.app.address], "labels": {"service_name": "pprofapp-svc", "team": "b"}}],
            interval="3s", timeout="1s", delta_profiling_duration="2s")],
        "storage": {"path": t.tmpdir + "/data"},
        "remote_write": [
            remote("p", e.push.url, "push", external_labels={"env": "push-remote", "rw": "p"}),
            remote("i", e.ing.url, "ingest", external_labels={"env": "ingest-remote", "rw": "i"})],
    }
    e.pg = t.profgate(cfg, start=False)
    rc, out = e.pg.check_config()
    t.require(rc == 0, "config does not load: " + out)
    e.pg.start()
    return e


def push_names(e):
    """raw body -> __name__ as sent to the push backend (bodies are the same at both)."""
    return {it.raw: it.name for it in e.push.snapshot()}


def no_receiver_errors(t, e):
    t.check(not e.push.errors, "push receiver could not decode requests: %s" % e.push.errors[:3])
    t.check(not e.ing.errors, "ingest receiver could not decode requests: %s" % e.ing.errors[:3])


def delta_sum(items, typ, value):
    return sum(it.profile.total(value, BURST_FRAME[typ]) for it in items)


def test_deltas_sum_to_growth(t, e):
    w = e.work.address
    # The first scrape of each cumulative type only primes; once one profile of each has
    # arrived, the baseline is taken and workapp has done none of its burst work yet.
    for typ in DELTA_TYPES:
        t.require(wait_until(lambda: e.push.count(instance=w, __name__=typ) >= 1, 30),
                  "no %s profile from workapp within 30s" % typ)
    start = time.monotonic()
    bursts = 0
    while time.monotonic() - start < 2 * INTERVAL:  # spans at least two scrapes of each type
        e.work.call("/alloc?n=300")
        e.work.call("/contend?n=8")
        e.work.call("/block?n=8")
        bursts += 1
        time.sleep(0.7)  # shapes the workload over several intervals, not a synchronisation
    want = {}
    for typ in DELTA_TYPES:
        prof = e.work.profile(BURST_PATH[typ])
        want[typ] = {v: prof.total(v, BURST_FRAME[typ]) for v in DELTA_VALUES[typ]}
    t.check(want["memory"]["alloc_objects"] == 300 * bursts,
            "workapp's own allocs profile: %s allocBurst objects, want %d" % (want["memory"], 300 * bursts))
    t.check(want["mutex"]["contentions"] >= 8 * bursts * 0.9 and want["block"]["contentions"] >= 8 * bursts * 0.9,
            "workapp's own mutex/block profiles too small: %s" % want)

    def sums(rec, typ):
        if rec is e.push:
            items = rec.profiles(instance=w, __name__=typ)
        else:
            names = push_names(e)
            items = [it for it in rec.profiles(instance=w) if names.get(it.raw) == typ]
        return {v: delta_sum(items, typ, v) for v in DELTA_VALUES[typ]}

    pgtest.log("  %d bursts; workapp's cumulative counts: %s" % (bursts, want))
    for rec in (e.push, e.ing):
        for typ in DELTA_TYPES:
            ok = wait_until(lambda: sums(rec, typ) == want[typ], 4 * INTERVAL + 10, interval=0.5)
            t.check(ok, "%s backend: sum of %s deltas for %s = %s, want the target's cumulative %s"
                    % (rec.name, typ, BURST_FRAME[typ], sums(rec, typ), want[typ]))

    # every delta value of every profile (both targets) is >= 0
    neg = []
    for it in e.push.snapshot():
        if it.name in DELTA_VALUES:
            for v in DELTA_VALUES[it.name]:
                bad = [x for x in it.profile.values(v) if x < 0]
                if bad:
                    neg.append("%s %s %s: %s" % (it.labels.get("instance"), it.name, v, bad[:5]))
    t.check(not neg, "negative delta values: %s" % neg[:5])
    no_receiver_errors(t, e)


def test_every_type_reaches_both_backends(t, e):
    for addr in (e.work.address, e.app.address):
        for typ in DEFAULT_TYPES:
            t.check(wait_until(lambda: e.push.count(instance=addr, __name__=typ) >= 1, 20),
                    "push backend: no %s profile from %s" % (typ, addr))
    for it in e.push.snapshot():
        try:
            st = it.profile.sample_types
        except Exception as ex:  # noqa: BLE001
            t.check(False, "push: %s profile from %s is not a valid pprof: %r"
                    % (it.name, it.labels.get("instance"), ex))
            continue
        t.check(st == SAMPLE_TYPES.get(it.name), "push: %s profile has sample types %s, want %s"
                % (it.name, st, SAMPLE_TYPES.get(it.name)))
    hdr = {(it.headers.get("content-type"), it.headers.get("connect-protocol-version")) for it in e.push.snapshot()}
    t.check(hdr == {("application/proto", "1")}, "push requests' Content-Type/Connect-Protocol-Version: %s" % hdr)
    # both backends get the same profiles (the buffer stores one body, sent to each)
    p_bodies = {it.raw for it in e.push.snapshot()}
    t.check(wait_until(lambda: p_bodies <= {it.raw for it in e.ing.snapshot()}, 15),
            "ingest backend is missing %d of the %d profiles the push backend got"
            % (len(p_bodies - {it.raw for it in e.ing.snapshot()}), len(p_bodies)))
    i_bodies = {it.raw for it in e.ing.snapshot()}
    t.check(wait_until(lambda: i_bodies <= {it.raw for it in e.push.snapshot()}, 15),
            "push backend is missing profiles the ingest backend got")
    names = push_names(e)
    seen = set()
    for it in e.ing.snapshot():
        typ = names.get(it.raw)
        try:
            st = it.profile.sample_types
        except Exception as ex:  # noqa: BLE001
            t.check(False, "ingest: profile is not a valid pprof: %r" % ex)
            continue
        if typ:
            seen.add((it.labels.get("instance"), typ))
            t.check(st == SAMPLE_TYPES[typ], "ingest: %s profile has sample types %s" % (typ, st))
    for addr in (e.work.address, e.app.address):
        for typ in DEFAULT_TYPES:
            t.check((addr, typ) in seen, "ingest backend: no %s profile from %s" % (typ, addr))
    counts = {}
    for it in e.push.snapshot():
        k = (it.labels.get("service_name"), it.name)
        counts[k] = counts.get(k, 0) + 1
    pgtest.log("  push profiles per (service, type): %s; ingest total %d" % (sorted(counts.items()), e.ing.count()))
    # a healthy run delivers each profile once per backend
    for rec in (e.push, e.ing):
        bodies = [it.raw for it in rec.snapshot()]
        t.check(len(bodies) == len(set(bodies)), "%s backend got %d duplicate profiles"
                % (rec.name, len(bodies) - len(set(bodies))))
    no_receiver_errors(t, e)


def test_series_labels(t, e):
    items = e.push.snapshot()
    t.require(items, "no profiles at the push backend")
    for it in items:
        names = [k for k, _ in it.label_list]
        lab = it.labels
        inst = lab.get("instance")
        t.check(len(names) == len(set(names)), "push: duplicate label names %s" % names)
        t.check(lab.get("job") == "apps", "push: job label %r" % lab.get("job"))
        t.check(inst in e.svc, "push: instance %r is not a target" % inst)
        t.check(lab.get("service_name") == e.svc.get(inst), "push: service_name %r for %s"
                % (lab.get("service_name"), inst))
        t.check(lab.get("team") == e.team.get(inst), "push: static label team %r" % lab.get("team"))
        t.check(lab.get("__name__") in DEFAULT_TYPES, "push: __name__ %r" % lab.get("__name__"))
        want_delta = "false" if lab.get("__name__") in DELTA_TYPES else None
        t.check(lab.get("__delta__") == want_delta, "push: %s has __delta__=%r, want %r"
                % (lab.get("__name__"), lab.get("__delta__"), want_delta))
        t.check(lab.get("cluster") == "e2e" and lab.get("region") == "g",
                "push: global external labels missing: %s" % lab)
        t.check(lab.get("env") == "push-remote" and lab.get("rw") == "p",
                "push: remote external labels (env must be the remote's, overriding global): %s" % lab)
        extra = set(lab) - ALLOWED_PUSH_LABELS
        t.check(not extra, "push: unexpected labels %s" % sorted(extra))
        if t.failures:
            break
    now = time.time()
    for it in e.ing.snapshot():
        lab = it.labels
        inst = lab.get("instance")
        want = {"job": "apps", "instance": inst, "service_name": e.svc.get(inst), "team": e.team.get(inst),
                "cluster": "e2e", "region": "g", "env": "ingest-remote", "rw": "i"}
        t.check(inst in e.svc and lab == want, "ingest: labels from name= %s, want %s" % (lab, want))
        q = it.query
        t.check(q.get("format") == "pprof" and q.get("spyName") == "profgate", "ingest: query %s" % q)
        try:
            frm, until = int(q["from"]), int(q["until"])
            t.check(frm <= until and abs(until - now) < 600, "ingest: from=%s until=%s" % (frm, until))
        except (KeyError, ValueError):
            t.check(False, "ingest: from/until missing or not integers: %s" % q)
        if t.failures:
            break


def test_seconds_honoured(t, e):
    for addr in (e.work.address, e.app.address):
        cpu = e.push.profiles(instance=addr, __name__="process_cpu")
        t.check(cpu, "no process_cpu profile from %s" % addr)
        for it in cpu:
            d = it.profile.duration_nanos
            t.check(1.5e9 <= d <= 3e9, "process_cpu from %s: duration_nanos %d, want 2s (seconds=2)" % (addr, d))


def test_targets_api(t, e):
    def all_up():
        act = e.pg.active(pool="apps")
        return len(act) == 10 and all(a["health"] == "up" for a in act) and act

    act = wait_until(all_up, 15) or e.pg.active(pool="apps")
    t.check(len(act) == 10, "want 10 active entries (2 targets x 5 types), got %d" % len(act))
    by_inst = {}
    now = datetime.datetime.now(datetime.timezone.utc)
    paths = {"process_cpu": "/debug/pprof/profile", "memory": "/debug/pprof/allocs",
             "block": "/debug/pprof/block", "mutex": "/debug/pprof/mutex",
             "goroutine": "/debug/pprof/goroutine"}
    for a in act:
        lab = a.get("labels", {})
        inst = lab.get("instance")
        typ = a.get("profileType")
        by_inst.setdefault(inst, set()).add(typ)
        what = "%s %s" % (inst, typ)
        t.check(a.get("health") == "up" and a.get("lastError") == "", "%s: health %r lastError %r"
                % (what, a.get("health"), a.get("lastError")))
        t.check(a.get("scrapePool") == "apps" and lab.get("job") == "apps", "%s: pool/job %s" % (what, a))
        t.check(lab.get("__name__") == typ and lab.get("service_name") == e.svc.get(inst),
                "%s: labels %s" % (what, lab))
        url = a.get("scrapeUrl", "")
        t.check(url.startswith("http://%s%s" % (inst, paths.get(typ, "?"))), "%s: scrapeUrl %s" % (what, url))
        if typ == "process_cpu":
            t.check("seconds=2" in url, "process_cpu scrapeUrl without seconds=2: %s" % url)
        t.check(a.get("scrapeInterval") == "3s", "%s: scrapeInterval %r" % (what, a.get("scrapeInterval")))
        try:
            ls = datetime.datetime.fromisoformat(a["lastScrape"])
            t.check(abs((now - ls).total_seconds()) < 30, "%s: lastScrape %s not recent" % (what, a["lastScrape"]))
        except (KeyError, ValueError, TypeError):
            t.check(False, "%s: lastScrape %r is not RFC3339" % (what, a.get("lastScrape")))
        d = a.get("lastScrapeDuration")
        t.check(isinstance(d, (int, float)) and 0 <= d < 10, "%s: lastScrapeDuration %r" % (what, d))
    for addr in (e.work.address, e.app.address):
        t.check(by_inst.get(addr) == set(DEFAULT_TYPES), "types of %s: %s" % (addr, by_inst.get(addr)))
    # filters
    d = e.pg.targets(state="active")
    t.check(len(d["activeTargets"]) == 10 and not d["droppedTargets"], "state=active: %d active, %d dropped"
            % (len(d["activeTargets"]), len(d["droppedTargets"])))
    d = e.pg.targets(state="dropped")
    t.check(not d["activeTargets"], "state=dropped returned %d active targets" % len(d["activeTargets"]))
    d = e.pg.targets(pool="nope")
    t.check(not d["activeTargets"], "scrapePool=nope returned %d active targets" % len(d["activeTargets"]))


def test_metrics(t, e):
    m = e.pg.metrics()
    for typ in DEFAULT_TYPES:
        t.check(e.pg.metric("profgate_scrapes_total", m, job="apps", type=typ) >= 2,
                "profgate_scrapes_total{job=apps,type=%s} = %s" % (typ, e.pg.metric("profgate_scrapes_total", m, job="apps", type=typ)))
    t.check(e.pg.metric("profgate_scrape_failures_total", m, job="apps") == 0,
            "scrape failures: %s" % e.pg.metric("profgate_scrape_failures_total", m, job="apps"))
    for name, rec in (("p", e.push), ("i", e.ing)):
        sent = e.pg.metric("profgate_remote_write_profiles_total", m, remote=name)
        got = rec.count()
        t.check(0 < sent <= got, "profgate_remote_write_profiles_total{remote=%s} = %s, receiver has %d"
                % (name, sent, got))
        t.check(e.pg.metric("profgate_remote_write_dropped_profiles_total", m, remote=name) == 0,
                "profiles dropped for %s" % name)
    t.check(any(n == "profgate_buffer_rows" for n, _ in m), "profgate_buffer_rows missing")
    t.check(e.pg.metric("profgate_config_last_reload_successful", m) == 1,
            "profgate_config_last_reload_successful != 1")


def test_sigterm_clean_exit(t, e):
    t.stop_profgate(e.pg)


if __name__ == "__main__":
    sys.exit(pgtest.run_tests([test_deltas_sum_to_growth, test_every_type_reaches_both_backends,
                               test_series_labels, test_seconds_honoured, test_targets_api,
                               test_metrics, test_sigterm_clean_exit], setup=setup))
