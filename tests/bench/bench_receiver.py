#!/usr/bin/env python3
"""bench_receiver.py - push receiver throughput: N clients push one profile over and over
to `profgate run` (receiver enabled, nothing scraped) for a while, and the figures are
printed: requests/s by answer, profgate CPU ms per stored profile, cores used, event loop
lag p50/p99 (profgate_event_loop_lag_seconds) and RSS.

    bench_receiver.py --profgate build-rel/profgate [--route push|ingest] [--clients 8]
        [--seconds 20] [--body FILE] [--heapgen build-rel/tests/bench/heapgen]
        [--profgate-arg=--processing.workers=1 ...]

The body is a gzip pprof: FILE, or the generator's heap profile (`heapgen --gzip`: 3 000
stacks, about 217 KB gzip / 556 KB decoded) by default. push sends it as one
push.v1 PushRequest (protobuf) per request, ingest as a raw /ingest body
(name=bench-svc). The buffer keeps everything (its remote_write points at a closed port
with a 1 h backoff), so the figures are the receiver's path only: checks, conversion,
relabeling and the SQLite append and commit. Python 3 standard library only; not a test
(nothing is asserted). Clients run in this process and share the machine with profgate:
on a 2-core machine they take a good part of a core at high rates."""
import argparse
import http.client
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run_bench import hist_delta, hist_quantile, histogram, parse_metrics  # noqa: E402

PUSH = "/push.v1.PusherService/Push"


def varint(v):
    out = bytearray()
    while True:
        b, v = v & 0x7F, v >> 7
        out.append(b | 0x80 if v else b)
        if not v:
            return bytes(out)


def field(fn, b):
    return varint(fn << 3 | 2) + varint(len(b)) + b


def push_request(raw):
    labels = [("__name__", "memory"), ("service_name", "bench-svc")]
    s = b"".join(field(1, field(1, k.encode()) + field(2, v.encode())) for k, v in labels)
    s += field(2, field(1, raw))
    return field(1, s)


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0


def metrics(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10) as r:
        return parse_metrics(r.read().decode())


def client(port, path, headers, body, deadline, counts, lock):
    conn = None
    while time.monotonic() < deadline:
        try:
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("POST", path, body, headers)
            r = conn.getresponse()
            r.read()
            code = r.status
            if r.getheader("Connection", "").lower() == "close":
                conn.close()
                conn = None
        except (OSError, http.client.HTTPException):
            code = 0
            if conn:
                conn.close()
            conn = None
        with lock:
            counts[code] = counts.get(code, 0) + 1
    if conn:
        conn.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--profgate", required=True)
    ap.add_argument("--route", choices=("push", "ingest"), default="push")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--body")
    ap.add_argument("--heapgen")
    ap.add_argument("--profgate-arg", action="append", default=[])
    a = ap.parse_args()
    if a.body:
        with open(a.body, "rb") as f:
            raw = f.read()
    else:
        hg = a.heapgen or os.path.join(os.path.dirname(a.profgate), "tests/bench/heapgen")
        raw = subprocess.run([hg, "--gzip"], check=True, capture_output=True).stdout
    if a.route == "push":
        path, body = PUSH, push_request(raw)
        headers = {"Content-Type": "application/proto", "Connect-Protocol-Version": "1"}
    else:
        path, body = "/ingest?name=bench-svc", raw
        headers = {"Content-Type": "application/octet-stream"}
    work = tempfile.mkdtemp(prefix="pg_bench_rx_")
    port = free_port()
    cfg = os.path.join(work, "profgate.yml")
    with open(cfg, "w") as f:
        f.write("storage: {path: %s/data, max_size: 8GiB}\n"
                "receiver: {enabled: true, max_body_size: 4MiB}\n"
                "remote_write:\n"
                "  - {name: nowhere, url: \"http://127.0.0.1:9\", api: push, min_backoff: 1h,"
                " max_backoff: 1h}\n" % work)
    log = open(os.path.join(work, "profgate.log"), "w")
    pg = subprocess.Popen([a.profgate, "run", cfg, "--web.listen-address=127.0.0.1:%d" % port]
                          + a.profgate_arg, stdout=log, stderr=subprocess.STDOUT)
    try:
        for _ in range(100):
            try:
                metrics(port)
                break
            except OSError:
                time.sleep(0.1)
        m0, c0, t0 = metrics(port), cpu_seconds(pg.pid), time.monotonic()
        counts, lock = {}, threading.Lock()
        deadline = t0 + a.seconds
        ths = [threading.Thread(target=client, args=(port, path, headers, body, deadline, counts,
                                                    lock)) for _ in range(a.clients)]
        for th in ths:
            th.start()
        for th in ths:
            th.join()
        c1, t1, m1 = cpu_seconds(pg.pid), time.monotonic(), metrics(port)
        rss = rss_mib(pg.pid)
    finally:
        pg.terminate()
        pg.wait(60)
        log.close()
    wall, cpu = t1 - t0, c1 - c0
    stored = sum(v for n, _, v in m1 if n == "profgate_receiver_profiles_total") - \
        sum(v for n, _, v in m0 if n == "profgate_receiver_profiles_total")
    lag = hist_delta(histogram(m0, "profgate_event_loop_lag_seconds"),
                     histogram(m1, "profgate_event_loop_lag_seconds"))
    p50, p99 = hist_quantile(0.5, lag), hist_quantile(0.99, lag)
    print("route %s, %d clients, %.0f s, body %d bytes (gzip pprof %d bytes)"
          % (a.route, a.clients, wall, len(body), len(raw)))
    print("answers: %s" % ", ".join("%s: %d (%.1f/s)" % (k, v, v / wall)
                                    for k, v in sorted(counts.items())))
    print("stored %.0f profiles (%.1f/s); profgate CPU %.2f s = %.2f cores, %.2f ms per stored"
          " profile; RSS %.0f MiB" % (stored, stored / wall, cpu, cpu / wall,
                                      1000 * cpu / stored if stored else float("nan"), rss))
    print("event loop lag p50 %s ms, p99 %s ms" % tuple(
        "%.1f" % (1000 * q) if q is not None else "n/a" for q in (p50, p99)))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
