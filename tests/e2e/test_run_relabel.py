"""test_run_relabel.py - relabeling where users coming from Alloy and Prometheus expect it
(issue 12), with `profgate run` scraping a real Go target (pprofapp) into
pgtest.Receiver backends:

- relabel_configs per target x profile type: block and mutex dropped on __name__ for one
  target only (the other keeps them); /api/v1/targets and `profgate targets --json` show
  one active entry per surviving (target, type) and the dropped types with the rule;
  one type's path changed by a rule.
- profile_relabel_configs: a label made from __name__ on every profile; a drop counted in
  profgate_profiles_relabel_dropped_total{job}.
- write_relabel_configs on one of two backends: a label dropped and a type dropped there
  only (counted), the other backend untouched.
- __tenant_id__ (set by relabel_configs) reaches the backend as X-Scope-OrgID, over the
  backend's configured header, never as a label, and never shares a request with
  another tenant's profiles; set by receiver.relabel_configs on pushed profiles, while a
  __tenant_id__ label a client pushes is ignored."""
import json
import os
import subprocess
import sys
import urllib.parse

import pgtest
from pgtest import job, remote, wait_until

PROFGATE = os.environ["PROFGATE"]
TYPES = ("block", "mutex", "goroutine")


def two_targets(app, quiet_labels=None):
    """Two static groups on the same Go program: svc-a (quiet=true) and svc-b."""
    return [{"targets": [app.address], "labels": dict({"service_name": "svc-a", "quiet": "true"},
                                                       **(quiet_labels or {}))},
            {"targets": [app.address], "labels": {"service_name": "svc-b"}}]


DROP_QUIET = {"source_labels": ["quiet", "__name__"], "regex": "true;(block|mutex)",
              "action": "drop"}


def names(rec, svc):
    return {it.name for it in rec.profiles(service_name=svc)}


def test_per_type_relabel_and_profile_relabel(t):
    app = t.go_target("pprofapp")
    rec = t.receiver("a")
    groups = two_targets(app) + [{"targets": [app.address],
                                  "labels": {"service_name": "svc-c", "env": "dev"}}]
    j = job("app", groups, types=TYPES, relabel_configs=[
        DROP_QUIET,
        # goroutine of svc-b from another path
        {"source_labels": ["service_name", "__name__"], "regex": "svc-b;goroutine",
         "target_label": "__profile_path__", "replacement": "/debug/pprof/heap"},
        # every type of svc-c, by a rule that runs per type: listed as one dropped target
        {"source_labels": ["env", "__name__"], "regex": "dev;.*", "action": "drop"},
    ], profile_relabel_configs=[
        {"source_labels": ["__name__"], "target_label": "kind", "replacement": "k_$1"},
        {"source_labels": ["service_name", "__name__"], "regex": "svc-b;mutex",
         "action": "drop"},
    ])
    cfg = {"scrape_configs": [j], "storage": {"path": t.tmpdir + "/data"},
           "remote_write": [remote("a", rec.url)]}
    pg = t.profgate(cfg)

    wait_until(lambda: len(pg.active()) >= 4, 10)
    active = pg.active()
    got = sorted((a["labels"]["service_name"], a["profileType"]) for a in active)
    t.check(got == [("svc-a", "goroutine"), ("svc-b", "block"), ("svc-b", "goroutine"),
                    ("svc-b", "mutex")], "active (target, type): %s" % got)
    urls = {a["profileType"]: a["scrapeUrl"] for a in active if a["labels"]["service_name"] == "svc-b"}
    t.check(urls.get("goroutine", "").endswith("/debug/pprof/heap"),
            "svc-b goroutine URL from the relabeled __profile_path__: %s" % urls)
    dropped = pg.targets(state="dropped")["droppedTargets"]
    dd = sorted((d.get("profileType", ""), d.get("droppedBy"), d["discoveredLabels"].get("service_name"))
                for d in dropped)
    t.check(dd == [("", "relabel_configs[2]", "svc-c"), ("block", "relabel_configs[0]", "svc-a"),
                   ("mutex", "relabel_configs[0]", "svc-a")], "dropped (type, rule, target): %s" % dd)
    # the relabel steps endpoint runs the rules per type when asked for one
    disc = json.dumps({"__address__": app.address, "service_name": "svc-a", "quiet": "true"})

    def steps(ptype=None):
        q = {"scrapePool": "app", "labels": disc}
        if ptype:
            q["profileType"] = ptype
        return pg.get_json("/api/v1/targets/relabel_steps?" + urllib.parse.urlencode(q))["data"]
    blk, gor, none = steps("block"), steps("goroutine"), steps()
    t.check(blk["keep"] is False and blk["steps"][0]["keep"] is False,
            "relabel_steps for block does not drop at rule 0: %s" % blk)
    t.check(gor["keep"] is True and gor["labels"].get("__name__") == "goroutine",
            "relabel_steps for goroutine: %s" % gor)
    t.check(none["keep"] is True, "relabel_steps without a type: %s" % none)
    st, _ = pg.get("/api/v1/targets/relabel_steps?" + urllib.parse.urlencode(
        {"scrapePool": "app", "labels": disc, "profileType": "nope"}))
    t.check(st == 400, "an unknown profileType: %d" % st)

    # profiles: svc-a only goroutine; svc-b block and goroutine (mutex dropped after the
    # scrape by profile_relabel_configs); every profile carries kind=k_<name>
    ok = wait_until(lambda: names(rec, "svc-b") >= {"block", "goroutine"} and
                    names(rec, "svc-a") >= {"goroutine"}, 30, interval=0.3)
    t.check(ok, "profiles: svc-a %s svc-b %s" % (names(rec, "svc-a"), names(rec, "svc-b")))
    t.check(names(rec, "svc-a") == {"goroutine"}, "svc-a types: %s" % names(rec, "svc-a"))
    t.check("mutex" not in names(rec, "svc-b"), "svc-b mutex was sent")
    bad = [(it.name, it.labels.get("kind")) for it in rec.snapshot()
           if it.labels.get("kind") != "k_" + it.name]
    t.check(not bad, "profiles without kind=k_<name>: %s" % bad[:5])
    t.check(all("quiet" not in it.labels or it.labels["quiet"] == "true" for it in rec.snapshot()),
            "labels")
    ok = wait_until(lambda: pg.metric("profgate_profiles_relabel_dropped_total", job="app") >= 2,
                    20, interval=0.3)
    t.check(ok, "profgate_profiles_relabel_dropped_total{job=app} = %s" %
            pg.metric("profgate_profiles_relabel_dropped_total", job="app"))
    t.check(pg.metric("profgate_scrapes_total", job="app", type="mutex") >= 1,
            "the discarded series is still scraped (health shown)")
    t.check(not rec.errors, "receiver errors: %s" % rec.errors[:2])

    # the dry run shows the same
    r = subprocess.run([PROFGATE, "targets", pg.cfg_path, "--json"], capture_output=True,
                       text=True, timeout=60)
    t.require(r.returncode == 0, "targets: %s" % r.stderr)
    data = json.loads(r.stdout)["data"]
    got2 = sorted((a["labels"]["service_name"], a["profileType"]) for a in data["activeTargets"])
    t.check(got2 == got, "targets --json active %s != run %s" % (got2, got))
    dd2 = sorted((d.get("profileType", ""), d.get("droppedBy"), d["discoveredLabels"].get("service_name"))
                 for d in data["droppedTargets"])
    t.check(dd2 == dd, "targets --json dropped %s != run %s" % (dd2, dd))
    r = subprocess.run([PROFGATE, "targets", pg.cfg_path, "--explain"], capture_output=True,
                       text=True, timeout=60)
    t.check("once per profile type" in r.stdout and "type block:" in r.stdout and
            "DROPPED" in r.stdout, "--explain per type:\n%s" % r.stdout[:2000])
    t.stop_profgate(pg)


def test_write_relabel_one_backend(t):
    app = t.go_target("pprofapp")
    a = t.receiver("a")
    b = t.receiver("b")
    j = job("app", [app.address], labels={"service_name": "wr-svc", "team": "x"},
            types=("goroutine", "mutex"))
    cfg = {"global": {"external_labels": {"region": "eu"}},
           "scrape_configs": [j], "storage": {"path": t.tmpdir + "/data"},
           "remote_write": [
               remote("a", a.url, write_relabel_configs=[
                   {"action": "labeldrop", "regex": "team"},
                   {"source_labels": ["__name__"], "regex": "mutex", "action": "drop"},
                   {"source_labels": ["region"], "target_label": "where", "replacement": "in-$1"},
               ]),
               remote("b", b.url)]}
    pg = t.profgate(cfg)
    ok = wait_until(lambda: b.count(__name__="mutex") >= 2 and a.count(__name__="goroutine") >= 2,
                    30, interval=0.3)
    t.check(ok, "a %d goroutine, b %d mutex" % (a.count(__name__="goroutine"), b.count(__name__="mutex")))
    t.check(a.count(__name__="mutex") == 0, "a got mutex profiles")
    t.check(all("team" not in it.labels for it in a.snapshot()), "a got the team label")
    t.check(all(it.labels.get("where") == "in-eu" for it in a.snapshot()),
            "a: external labels visible to write_relabel_configs: %s" % [it.labels for it in a.snapshot()][:2])
    t.check(all(it.labels.get("team") == "x" and "where" not in it.labels for it in b.snapshot()),
            "b's labels were touched: %s" % [it.labels for it in b.snapshot()][:2])
    m = pg.metrics()
    t.check(pg.metric("profgate_remote_write_relabel_dropped_profiles_total", m, remote="a") >= 1,
            "relabel drops counted for a")
    t.check(pg.metric("profgate_remote_write_relabel_dropped_profiles_total", m, remote="b") == 0,
            "relabel drops counted for b")
    # a's cursor passes the rows it dropped: nothing stays pending for it
    ok = wait_until(lambda: pg.metric("profgate_remote_write_pending_profiles", remote="a") <= 3, 15)
    t.check(ok, "a keeps rows pending: %s" % pg.metric("profgate_remote_write_pending_profiles", remote="a"))
    t.check(not a.errors and not b.errors, "receiver errors")
    t.stop_profgate(pg)


def test_tenant_from_label(t):
    app = t.go_target("pprofapp")
    rec = t.receiver("a")
    groups = [{"targets": [app.address], "labels": {"service_name": "t-a", "tenant": "team-a"}},
              {"targets": [app.address], "labels": {"service_name": "t-b"}}]
    j = job("app", groups, types=("goroutine", "memory", "block"), relabel_configs=[
        {"source_labels": ["tenant"], "regex": "(.+)", "target_label": "__tenant_id__"}])
    cfg = {"scrape_configs": [j], "storage": {"path": t.tmpdir + "/data"},
           "remote_write": [remote("a", rec.url, headers={"X-Scope-OrgID": "configured"})]}
    pg = t.profgate(cfg)
    ok = wait_until(lambda: rec.count(service_name="t-a") >= 4 and rec.count(service_name="t-b") >= 4,
                    30, interval=0.3)
    t.check(ok, "profiles: t-a %d t-b %d" % (rec.count(service_name="t-a"), rec.count(service_name="t-b")))
    wrong = [(it.labels.get("service_name"), it.headers.get("x-scope-orgid")) for it in rec.snapshot()
             if it.headers.get("x-scope-orgid") != {"t-a": "team-a", "t-b": "configured"}
             [it.labels.get("service_name")]]
    t.check(not wrong, "X-Scope-OrgID per profile (a request mixing tenants shows here): %s" % wrong[:5])
    t.check(all("__tenant_id__" not in it.labels for it in rec.snapshot()), "__tenant_id__ sent as a label")
    t.check(any(a["labels"].get("tenant") == "team-a" for a in pg.active()), "target labels")
    t.check(not rec.errors, "receiver errors: %s" % rec.errors[:2])
    t.stop_profgate(pg)


def test_tenant_from_receiver_relabel(t):
    rec = t.receiver("a")
    cfg = {"storage": {"path": t.tmpdir + "/data"},
           "receiver": {"enabled": True, "relabel_configs": [
               {"source_labels": ["org"], "regex": "(.+)", "target_label": "__tenant_id__"}]},
           "remote_write": [remote("a", rec.url)]}
    pg = t.profgate(cfg)
    gor = pgtest.read_test_data("go_goroutine.pb.gz")
    body = pgtest.encode_push_request([
        ([("__name__", "goroutine"), ("service_name", "rx-a"), ("org", "team-r")], [gor]),
        ([("__name__", "goroutine"), ("service_name", "rx-b"), ("__tenant_id__", "evil")], [gor]),
    ])
    st, _, out = pgtest.http_request(pg.url + "/push.v1.PusherService/Push", body,
                                     {"Content-Type": "application/proto",
                                      "Connect-Protocol-Version": "1"}, timeout=30)
    t.require(st == 200, "push: %d %r" % (st, out[:200]))
    ok = wait_until(lambda: rec.count(service_name="rx-a") >= 1 and rec.count(service_name="rx-b") >= 1,
                    15, interval=0.2)
    t.require(ok, "forwarded: %s" % [it.labels for it in rec.snapshot()])
    a = rec.profiles(service_name="rx-a")[0]
    b = rec.profiles(service_name="rx-b")[0]
    t.check(a.headers.get("x-scope-orgid") == "team-r", "rx-a tenant: %s" % a.headers.get("x-scope-orgid"))
    t.check(b.headers.get("x-scope-orgid") is None, "rx-b tenant: %s" % b.headers.get("x-scope-orgid"))
    t.check(all("__tenant_id__" not in it.labels for it in rec.snapshot()), "__tenant_id__ sent as a label")
    t.stop_profgate(pg)


if __name__ == "__main__":
    sys.exit(pgtest.run_tests([test_per_type_relabel_and_profile_relabel,
                               test_write_relabel_one_backend, test_tenant_from_label,
                               test_tenant_from_receiver_relabel]))
