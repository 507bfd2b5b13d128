"""test_federation.py - two profgates in a chain: a sidecar (A) scrapes a real Go program
(pprofapp) and forwards with `api: push` to a gateway (B, receiver enabled), which forwards
to a test receiver ("final"). A also forwards everything to a second test receiver
("mirror"), which records exactly what A sent, so the tests can compare both ends.

- round trip: at the final receiver every profile carries A's target labels (job,
  instance, service_name, __name__), __delta__="false" on memory/block/mutex only, A's
  global and per-remote external_labels and B's external_labels, and no other label; the
  tenant A sets with its remote's `headers: {X-Scope-OrgID: team-a}` is stored by B and
  sent on B's pushes; every profile parses as pprof of its type; no duplicates (sample
  IDs and (labels, body) pairs); what arrives is exactly what A sent (plus B's labels,
  minus the label B's receiver.relabel_configs drops).
- kill -9 between acknowledging and forwarding: the final receiver is down (connection
  refused) so B only buffers what it acknowledges; once A has delivered everything it
  scraped (target stopped, A's queues empty) B is SIGKILLed and restarted on the same
  storage with the final receiver up: every profile B acknowledged arrives (count >= B's
  profgate_receiver_profiles_total, and A's whole set is a subset of what arrived), with
  the tenant header."""
import sys

import pgtest
from pgtest import DEFAULT_TYPES, DELTA_TYPES, free_port, job, profile_type_of, remote, wait_until

SVC = "fed-svc"
TENANT = "team-a"
A_GLOBAL = {"cluster": "edge-1"}   # A's global external_labels
A_REMOTE = {"via": "sidecar"}      # external_labels of A's remote "b"
B_GLOBAL = {"gateway": "central"}  # B's global external_labels
SCRATCH = "scratch"                # a target label of A's that B's receiver.relabel_configs drops
ALLOWED = {"job", "instance", "service_name", "__name__", "__delta__"} | set(A_GLOBAL) | \
    set(A_REMOTE) | set(B_GLOBAL)


def gateway_config(t, final_url):
    return {
        "global": {"external_labels": B_GLOBAL},
        "storage": {"path": t.tmpdir + "/b-data"},
        "receiver": {"enabled": True,
                     "relabel_configs": [{"action": "labeldrop", "regex": SCRATCH}]},
        "remote_write": [remote("final", final_url, "push")],
    }


def sidecar_config(t, app, gateway_url, mirror_url):
    return {
        "global": {"scrape_interval": "2s", "scrape_timeout": "1s", "external_labels": A_GLOBAL},
        "scrape_configs": [job("fed", [app.address], labels={"service_name": SVC, SCRATCH: "1"},
                               interval="2s", timeout="1s", delta_profiling_duration="1s")],
        "storage": {"path": t.tmpdir + "/a-data"},
        "remote_write": [
            remote("b", gateway_url, "push", headers={"X-Scope-OrgID": TENANT},
                   external_labels=A_REMOTE),
            remote("mirror", mirror_url, "push"),
        ],
    }


def start_chain(t, final_url):
    """Starts the Go target, B (forwarding to final_url) and A; returns (app, mirror, a, b)."""
    app = t.go_target("pprofapp")
    mirror = t.receiver("mirror")
    b = t.profgate(gateway_config(t, final_url), name="gateway", start=False)
    rc, out = b.check_config()
    t.require(rc == 0, "gateway config does not load: " + out)
    b.start()
    a = t.profgate(sidecar_config(t, app, b.url, mirror.url), name="sidecar", start=False)
    rc, out = a.check_config()
    t.require(rc == 0, "sidecar config does not load: " + out)
    a.start()
    return app, mirror, a, b


def key(it, drop=()):
    """(labels without the names in drop, body) of a received profile."""
    return (frozenset((k, v) for k, v in it.labels.items() if k not in drop), it.raw)


def sent_by_a(mirror):
    """What A sent, as it should look at the final receiver minus B's labels."""
    out = set()
    for it in mirror.snapshot():
        labels = dict(it.labels)
        labels.pop(SCRATCH, None)  # dropped by B's receiver.relabel_configs
        labels.update(A_REMOTE)  # remote "b" adds these, remote "mirror" does not
        out.add((frozenset(labels.items()), it.raw))
    return out


def arrived(final):
    return {key(it, drop=B_GLOBAL) for it in final.snapshot()}


def check_item(t, it, app, where):
    """Labels, tenant header and pprof of one profile at the final receiver."""
    ls = it.labels
    name = ls.get("__name__")
    what = "%s %s %s" % (where, name, sorted(ls.items()))
    t.check(name in DEFAULT_TYPES, "unexpected __name__: " + what)
    t.check(ls.get("job") == "fed" and ls.get("instance") == app.address
            and ls.get("service_name") == SVC, "target labels wrong: " + what)
    if name in DELTA_TYPES:
        t.check(ls.get("__delta__") == "false", "__delta__ not \"false\": " + what)
    else:
        t.check("__delta__" not in ls, "__delta__ on a non-delta type: " + what)
    for k, v in list(A_GLOBAL.items()) + list(A_REMOTE.items()) + list(B_GLOBAL.items()):
        t.check(ls.get(k) == v, "external label %s=%s missing: %s" % (k, v, what))
    extra = set(ls) - ALLOWED
    t.check(not extra, "unexpected labels %s: %s" % (sorted(extra), what))
    t.check(it.headers.get("x-scope-orgid") == TENANT,
            "X-Scope-OrgID %r, want %r: %s" % (it.headers.get("x-scope-orgid"), TENANT, what))
    try:
        prof = it.profile
        got = profile_type_of(prof)
        t.check(got == name or (name == "mutex" and got == "block" and not prof.samples),
                "body of %s looks like %s" % (what, got))
    except Exception as e:  # noqa: BLE001
        t.check(False, "body does not parse as pprof (%r): %s" % (e, what))


def test_round_trip(t):
    final = t.receiver("final")
    app, mirror, a, b = start_chain(t, final.url)
    ok = wait_until(lambda: {it.name for it in final.snapshot()} >= set(DEFAULT_TYPES), 60,
                    interval=0.3)
    t.require(ok, "final receiver did not get every type within 60s: got %s (B log: %s)"
              % (sorted({it.name for it in final.snapshot()}), b.log_tail(10)))
    # Let a few more rounds through, then stop scraping and let both hops drain.
    n0 = len(final.snapshot())
    wait_until(lambda: len(final.snapshot()) >= n0 + 10, 20, interval=0.3)
    app.stop()
    drained = wait_until(lambda: sent_by_a(mirror) and sent_by_a(mirror) <= arrived(final)
                         and a.metric("profgate_remote_write_pending_profiles") == 0
                         and b.metric("profgate_remote_write_pending_profiles") == 0, 30,
                         interval=0.3)
    t.check(drained, "the chain did not drain: A sent %d, final has %d of them"
            % (len(sent_by_a(mirror)), len(sent_by_a(mirror) & arrived(final))))
    items = final.snapshot()
    pgtest.log("  final receiver: %d profiles (%s)"
               % (len(items), ", ".join("%s=%d" % (n, final.count(__name__=n)) for n in DEFAULT_TYPES)))
    for it in items:
        check_item(t, it, app, "final")
    t.check(not final.errors and not mirror.errors,
            "receiver decode errors: %s %s" % (final.errors[:2], mirror.errors[:2]))
    # No duplicates: B's sample IDs are unique, and so are (labels, body) pairs.
    ids = [it.id for it in items]
    t.check(all(ids), "a sample without ID at the final receiver")
    t.check(len(ids) == len(set(ids)), "%d duplicate sample IDs" % (len(ids) - len(set(ids))))
    pairs = [key(it) for it in items]
    t.check(len(pairs) == len(set(pairs)), "%d duplicate (labels, body) pairs"
            % (len(pairs) - len(set(pairs))))
    # Exactly what A sent arrived (plus B's labels), nothing else.
    t.check(arrived(final) == sent_by_a(mirror),
            "final and A's mirror differ: %d only at final, %d only at mirror"
            % (len(arrived(final) - sent_by_a(mirror)), len(sent_by_a(mirror) - arrived(final))))
    t.check(all(it.labels.get(SCRATCH) == "1" for it in mirror.snapshot()),
            "A's mirror lacks the %s label that B's relabeling drops" % SCRATCH)
    # The mirror got no tenant (only remote "b" sets the header).
    t.check(all("x-scope-orgid" not in it.headers for it in mirror.snapshot()),
            "the mirror remote got an X-Scope-OrgID header")
    # Counters agree along the chain.
    ma, mb = a.metrics(), b.metrics()
    sent_b = a.metric("profgate_remote_write_profiles_total", ma, remote="b")
    acked = b.metric("profgate_receiver_profiles_total", mb, route="push")
    fwd = b.metric("profgate_remote_write_profiles_total", mb, remote="final")
    t.check(sent_b == acked == fwd == len(items),
            "counts differ: A sent %d, B acknowledged %d, B forwarded %d, final got %d"
            % (sent_b, acked, fwd, len(items)))
    t.check(b.metric("profgate_receiver_dropped_profiles_total", mb) == 0,
            "B dropped pushed profiles: %s" % {k: v for k, v in mb.items()
                                               if k[0] == "profgate_receiver_dropped_profiles_total"})
    t.stop_profgate(a)
    t.stop_profgate(b)


def test_sigkill_between_ack_and_forward(t):
    fport = free_port()  # nothing listens here yet: connection refused
    furl = "http://127.0.0.1:%d" % fport
    app, mirror, a, b = start_chain(t, furl)
    ok = wait_until(lambda: b.metric("profgate_receiver_profiles_total") >= 12, 60, interval=0.3)
    t.require(ok, "B acknowledged only %d profiles in 60s"
              % b.metric("profgate_receiver_profiles_total"))
    # Stop scraping; wait until A has delivered everything it has to B (and to the mirror),
    # so that the mirror holds exactly what B acknowledged.
    app.stop()

    def a_drained():
        m = a.metrics()
        return (a.metric("profgate_remote_write_pending_profiles", m) == 0
                and a.metric("profgate_remote_write_in_flight_requests", m) == 0
                and a.metric("profgate_remote_write_profiles_total", m, remote="b")
                == a.metric("profgate_remote_write_profiles_total", m, remote="mirror")
                == len(mirror.snapshot()))
    t.require(wait_until(a_drained, 30, interval=0.3), "A did not drain its queues in 30s")
    t.stop_profgate(a)
    sent = sent_by_a(mirror)
    mb = b.metrics()
    acked = b.metric("profgate_receiver_profiles_total", mb)
    t.check(acked == len(mirror.snapshot()),
            "B acknowledged %d profiles, A delivered %d" % (acked, len(mirror.snapshot())))
    t.check(b.metric("profgate_remote_write_profiles_total", mb, remote="final") == 0,
            "B counts profiles delivered to a final receiver that is down")
    t.check(b.metric("profgate_buffer_rows", mb) == acked,
            "B's buffer holds %d rows, acknowledged %d" % (b.metric("profgate_buffer_rows", mb), acked))
    pgtest.log("  B acknowledged %d profiles (A sent %d distinct); SIGKILL B" % (acked, len(sent)))
    b.kill()
    final = t.receiver("final", port=fport)
    b.start()
    ok = wait_until(lambda: sent <= arrived(final), 45, interval=0.3)
    got = final.snapshot()
    t.check(ok, "after the restart %d of the %d profiles B acknowledged are missing"
            % (len(sent - arrived(final)), len(sent)))
    t.check(len(got) >= acked, "final got %d profiles, B had acknowledged %d" % (len(got), acked))
    t.check(arrived(final) <= sent, "final got %d profiles A never sent"
            % len(arrived(final) - sent))
    ids = [it.id for it in got]
    pgtest.log("  after restart: final got %d profiles (%d duplicate IDs)"
               % (len(got), len(ids) - len(set(ids))))
    for it in got:
        check_item(t, it, app, "final after restart")
    t.check(not final.errors, "final receiver decode errors: %s" % final.errors[:2])
    t.check(wait_until(lambda: b.metric("profgate_buffer_rows") == 0, 15, interval=0.3),
            "B's buffer still holds rows after delivering everything")
    t.stop_profgate(b)


if __name__ == "__main__":
    sys.exit(pgtest.run_tests([test_round_trip, test_sigkill_between_ack_and_forward]))
