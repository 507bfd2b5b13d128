"""test_receiver_workers.py - the push receiver's conversions run on the processing workers,
not on the event loop, and a full queue is answered, not waited for.

profgate runs with the receiver, one processing worker and a queue of one job, and the
test-only PROFGATE_TEST_WORK_DELAY_MS=1500 (core/workq.c) so every conversion takes at
least 1.5 s. It forwards to a test receiver. Expected:
- a push, then three more at once while it converts: one waits, two are answered 429 at once with
  Retry-After and connect's resource_exhausted ("overloaded"), counted in
  profgate_receiver_dropped_profiles_total{reason="overloaded"}; while the two accepted
  are being converted, /metrics answers (the loop is free) and shows the waiting one in
  profgate_processing_queue_length; both accepted pushes get 200 and reach downstream;
- a reload while a push is being converted keeps the request: it is answered 200 and
  stored with the new config's receiver.relabel_configs;
- SIGTERM with a push in flight exits 0 with no sanitizer report."""
import os
import sys
import threading
import types

import pgtest
from pgtest import encode_push_request, http_request, remote, wait_until

PUSH = "/push.v1.PusherService/Push"
PROTO = {"Content-Type": "application/proto", "Connect-Protocol-Version": "1"}


def config(t, e, hop):
    return {
        "storage": {"path": t.tmpdir + "/data"},
        "receiver": {"enabled": True,
                     "relabel_configs": [{"target_label": "hop", "replacement": hop}]},
        "remote_write": [remote("down", e.down.url, "push")],
        "processing": {"workers": 1, "queue_size": 1},
    }


def setup(t):
    e = types.SimpleNamespace()
    e.gor = pgtest.read_test_data("go_goroutine.pb.gz")
    e.down = t.receiver("downstream")
    e.pg = t.profgate(config(t, e, "before"), start=False,
                     extra_args=["--web.enable-lifecycle"])
    rc, out = e.pg.check_config()
    t.require(rc == 0, "config does not load: " + out)
    os.environ["PROFGATE_TEST_WORK_DELAY_MS"] = "1500"
    try:
        e.pg.start()
    finally:
        del os.environ["PROFGATE_TEST_WORK_DELAY_MS"]
    return e


def push(e, marker):
    body = encode_push_request([([("__name__", "goroutine"), ("service_name", "rx-workers"),
                                  ("marker", marker)], [e.gor])])
    return http_request(e.pg.url + PUSH, body, PROTO, timeout=60)


def push_in_thread(e, marker, results, barrier=None):
    def run():
        if barrier:
            barrier.wait()
        results[marker] = push(e, marker)
    th = threading.Thread(target=run)
    th.start()
    return th


def received_bytes(e):
    return e.pg.metric("profgate_receiver_bytes_total", route="push")


def test_full_queue_is_answered_429(t, e):
    results = {}
    before = received_bytes(e)
    first = push_in_thread(e, "m0", results)
    # the first push is on the worker (received, and no job waiting)
    t.require(wait_until(lambda: received_bytes(e) > before and
                         e.pg.metric("profgate_processing_queue_length") == 0, 10,
                         interval=0.05), "the first push never reached the worker")
    barrier = threading.Barrier(3)
    threads = [first] + [push_in_thread(e, "m%d" % i, results, barrier) for i in range(1, 4)]
    # /metrics is served while the worker is busy: the waiting job shows in the queue
    seen = wait_until(lambda: e.pg.metric("profgate_processing_queue_length") == 1, 10,
                      interval=0.05)
    in_flight = sum(th.is_alive() for th in threads)
    t.check(seen, "profgate_processing_queue_length never showed the waiting push")
    t.check(in_flight >= 1, "no push was still in flight when /metrics answered")
    for th in threads:
        th.join(60)
    codes = sorted(r[0] for r in results.values())
    t.check(codes == [200, 200, 429, 429], "push codes %s, want [200, 200, 429, 429]" % codes)
    for marker, (st, hdrs, body) in sorted(results.items()):
        if st != 429:
            continue
        text = body.decode("utf-8", "replace")
        t.check("overloaded" in text, "%s: 429 body %r lacks 'overloaded'" % (marker, text))
        t.check("resource_exhausted" in text, "%s: 429 body %r lacks the connect code"
                % (marker, text))
        t.check(hdrs.get("retry-after"), "%s: 429 without Retry-After" % marker)
    dropped = e.pg.metric("profgate_receiver_dropped_profiles_total", reason="overloaded")
    t.check(dropped == 2, "dropped{reason=overloaded} = %s, want 2" % dropped)
    ok = [m for m, r in results.items() if r[0] == 200]
    t.check(wait_until(lambda: all(e.down.count(marker=m) == 1 for m in ok), 20),
            "accepted pushes %s not all forwarded" % ok)


def test_reload_keeps_the_request_in_flight(t, e):
    results = {}
    before = received_bytes(e)
    th = push_in_thread(e, "reload", results)
    t.require(wait_until(lambda: received_bytes(e) > before, 10, interval=0.05),
              "the push never reached the receiver")
    e.pg.write_config(config(t, e, "after"))
    st, body = e.pg.reload()
    t.check(st == 200, "reload: %d %s" % (st, body))
    t.check(th.is_alive(), "the push was answered before the reload finished")
    th.join(60)
    st = results["reload"][0]
    t.check(st == 200, "push in flight over a reload: %d %r" % (st, results["reload"][2][:200]))
    t.check(wait_until(lambda: e.down.count(marker="reload") == 1, 20),
            "the push in flight over the reload was not forwarded")
    got = e.down.profiles(marker="reload")
    hops = [p.labels.get("hop") for p in got]
    t.check(hops == ["after"], "hop label %s, want ['after'] (the reloaded relabel rules)" % hops)


def test_sigterm_with_a_push_in_flight(t, e):
    results = {}
    before = received_bytes(e)
    th = push_in_thread(e, "sigterm", results)
    t.require(wait_until(lambda: received_bytes(e) > before, 10, interval=0.05),
              "the push never reached the receiver")
    t.stop_profgate(e.pg)
    th.join(60)


if __name__ == "__main__":
    sys.exit(pgtest.run_tests([test_full_queue_is_answered_429,
                               test_reload_keeps_the_request_in_flight,
                               test_sigterm_with_a_push_in_flight], setup=setup))
