#!/usr/bin/env python3
"""run_bench.py - profgate's scrape benchmark (not a CTest test; see tests/bench/README.md).

For each fleet size N: starts tests/bench/loadgen with N targets (127.0.0.1, one port
each, real Go pprof bodies) and a push receiver, writes a file_sd target file and a config
(one job, the chosen profile types, storage in a temp dir, remote_write to the receiver),
runs `profgate run` for intervals+1 scrape intervals and prints one table line: scrapes/s
expected vs achieved in the steady state (after the first interval), failures, CPU seconds
per 1000 scrapes, peak RSS and RSS per target (above an idle profgate with 0 targets),
p50/p99 lateness of scrape start (from profgate_scrape_lateness_seconds), and profiles
forwarded (counted by the receiver). Python 3 standard library only; builds nothing.

--profile big: loadgen serves the generated heap profile (heapgen.h: 3,000 stacks, ~555 KB
decoded, ~217 KB gzip) with values growing per scrape; defaults become 600 targets, memory
only, 5 s interval.
"""

import argparse
import atexit
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ALL_TYPES = [
    "process_cpu", "memory", "block", "mutex", "goroutine", "fgprof",
    "godeltaprof_memory", "godeltaprof_mutex", "godeltaprof_block",
]
CLK_TCK = os.sysconf("SC_CLK_TCK")
CHILDREN = []  # Popen objects still to reap on exit


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def kill_children():
    for p in CHILDREN:
        if p.poll() is None:
            try:
                p.kill()
                p.wait(timeout=10)
            except Exception:
                pass


def on_signal(signum, _frame):
    kill_children()
    sys.exit(128 + signum)


def parse_duration(s):
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h)?", s.strip())
    if not m:
        raise argparse.ArgumentTypeError(f"bad duration {s!r} (e.g. 10s, 500ms, 1m)")
    mult = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[m.group(2)]
    return float(m.group(1)) * mult


def fmt_duration(sec):
    ms = int(round(sec * 1000))
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url, timeout=10):
    """GET url; the whole exchange must finish within timeout seconds."""
    deadline = time.time() + timeout
    with urllib.request.urlopen(url, timeout=timeout) as r:
        chunks = []
        while True:
            if time.time() > deadline:
                raise TimeoutError(f"GET {url}: body not complete after {timeout}s")
            b = r.read(65536)
            if not b:
                return b"".join(chunks).decode()
            chunks.append(b)


def proc_sample(pid):
    """(cpu seconds, VmRSS KiB, VmHWM KiB, user cpu seconds) of a live process (all its
    threads)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime (fields 14, 15)
    rss = hwm = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    return cpu, rss, hwm, int(fields[11]) / CLK_TCK


METRIC_RE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)")
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """Prometheus text format -> list of (name, {labels}, value)."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = METRIC_RE.match(line)
        if not m:
            continue
        labels = dict(LABEL_RE.findall(m.group(3) or ""))
        try:
            value = float(m.group(4))
        except ValueError:
            continue
        out.append((m.group(1), labels, value))
    return out


def metric_sum(metrics, name):
    return sum(v for n, _, v in metrics if n == name)


def histogram(metrics, name):
    """{upper bound: cumulative count} of a label-less histogram."""
    h = {}
    for n, labels, v in metrics:
        if n == name + "_bucket" and "le" in labels:
            h[float(labels["le"])] = h.get(float(labels["le"]), 0) + v
    return h


def hist_delta(a, b):
    return {le: b[le] - a.get(le, 0) for le in b}


def hist_quantile(q, h):
    """histogram_quantile as Prometheus does it: linear interpolation inside a bucket."""
    bounds = sorted(h)
    if not bounds or h[bounds[-1]] <= 0:
        return None
    total = h[bounds[-1]]
    rank = q * total
    prev_le, prev_count = 0.0, 0.0
    for le in bounds:
        count = h[le]
        if count >= rank:
            if le == float("inf"):
                return prev_le  # the highest finite bound, as Prometheus
            if count == prev_count:
                return le
            return prev_le + (le - prev_le) * (rank - prev_count) / (count - prev_count)
        prev_le, prev_count = le, count
    return bounds[-1]


class Loadgen:
    def __init__(self, binary, n, workdir, idle_timeout, extra=()):
        self.n = n
        lo = 32768
        try:
            with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
                lo = int(f.read().split()[0])
        except OSError:
            pass
        # below the ephemeral range, so no client socket can be sitting on a target port
        bases = [b for b in range(10001, max(lo - n, 10002), 1000)] or [lo + 1]
        last_err = ""
        for base in bases:
            self.base_port, self.receiver_port = base, base - 1
            self.out_path = os.path.join(workdir, f"loadgen-{n}.out")
            self.err_path = os.path.join(workdir, f"loadgen-{n}.err")
            self.proc = subprocess.Popen(
                [binary, "--targets", str(n), "--base-port", str(base),
                 "--receiver-port", str(self.receiver_port),
                 "--idle-timeout", str(idle_timeout), *extra],
                stdout=subprocess.PIPE, stderr=open(self.err_path, "w"), text=True)
            CHILDREN.append(self.proc)
            line = self._readline(deadline=time.time() + 60)
            if line == "ready":
                return
            self.proc.wait(timeout=10)
            with open(self.err_path) as f:
                last_err = f.read().strip()
            if "cannot bind" not in last_err:
                break
            log(f"loadgen: {last_err}; trying another port range")
        raise RuntimeError(f"loadgen did not start: {last_err}")

    def _readline(self, deadline):
        buf = ""
        fd = self.proc.stdout.fileno()
        while time.time() < deadline:
            r, _, _ = select.select([fd], [], [], 0.5)
            if r:
                ch = os.read(fd, 1).decode()
                if not ch:
                    return None
                if ch == "\n":
                    return buf
                buf += ch
            elif self.proc.poll() is not None:
                return None
        return None

    def targets(self):
        return [f"127.0.0.1:{self.base_port + i}" for i in range(self.n)]

    def stats(self):
        return json.loads(http_get(f"http://127.0.0.1:{self.receiver_port}/stats"))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            out, _ = self.proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
        return out


def write_config(workdir, name, targets, interval, types, receiver_port):
    tdir = os.path.join(workdir, name)
    os.makedirs(tdir, exist_ok=True)
    sd_file = os.path.join(tdir, "targets.json")
    groups = [{"targets": targets, "labels": {"service_name": "bench-app"}}] if targets else []
    with open(sd_file, "w") as f:
        json.dump(groups, f)
    prof = "\n".join(f"      {t}: {{enabled: {'true' if t in types else 'false'}}}"
                     for t in ALL_TYPES)
    cfg = f"""# generated by tests/bench/run_bench.py
global:
  scrape_interval: {fmt_duration(interval)}
scrape_configs:
  - job_name: bench
    scrape_interval: {fmt_duration(interval)}
    scrape_timeout: {fmt_duration(min(interval, 10.0))}
    profiling_config:
{prof}
    file_sd_configs:
      - files: ["{sd_file}"]
        refresh_interval: 5m
storage:
  path: {os.path.join(tdir, "data")}
remote_write:
  - name: loadgen
    url: http://127.0.0.1:{receiver_port}
    api: push
"""
    path = os.path.join(tdir, "profgate.yml")
    with open(path, "w") as f:
        f.write(cfg)
    return path


class Profgate:
    def __init__(self, binary, config, workdir, name, log_level, extra=()):
        chk = subprocess.run([binary, "check", config], capture_output=True, text=True,
                             timeout=60)
        if chk.returncode != 0:
            raise RuntimeError(f"profgate check {config} failed:\n{chk.stdout}{chk.stderr}")
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = os.path.join(workdir, f"profgate-{name}.log")
        self.proc = subprocess.Popen(
            [binary, "run", config, "--web.listen-address", f"127.0.0.1:{self.port}",
             "--log.level", log_level, *extra],
            stdout=subprocess.DEVNULL, stderr=open(self.log_path, "w"))
        CHILDREN.append(self.proc)
        deadline = time.time() + 60
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"profgate exited with {self.proc.returncode}; "
                                   f"log: {self.log_path}\n{self.log_tail()}")
            try:
                http_get(self.base + "/-/ready", timeout=2)
                break
            except (urllib.error.URLError, OSError):
                pass
            if time.time() > deadline:
                raise RuntimeError(f"profgate not ready after 60s; log: {self.log_path}")
            time.sleep(0.1)

    def log_tail(self, n=20):
        try:
            with open(self.log_path) as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def metrics(self):
        """(parsed /metrics, time it was taken: the middle of the request)."""
        t = time.time()
        try:
            text = http_get(self.base + "/metrics", timeout=120)
        except Exception as e:
            raise RuntimeError(f"GET /metrics failed after {time.time() - t:.1f}s: {e}")
        return parse_metrics(text), (t + time.time()) / 2

    def sample(self):
        return proc_sample(self.proc.pid)

    def errors(self, limit=5):
        """The most common lastError values of targets that are down."""
        try:
            data = json.loads(http_get(self.base + "/api/v1/targets?state=active",
                                       timeout=60))
        except Exception as e:
            return [f"(cannot read /api/v1/targets: {e})"]
        counts = {}
        for t in data.get("data", {}).get("activeTargets", []):
            if t.get("health") == "down":
                err = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", t.get("lastError", ""))
                counts[err] = counts.get(err, 0) + 1
        return [f"{c} x {e}" for e, c in sorted(counts.items(), key=lambda x: -x[1])[:limit]]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            log("profgate did not exit 60s after SIGTERM; killing it")
            self.proc.kill()
            self.proc.wait()
            return None


def idle_baseline(args, workdir):
    """Peak RSS (KiB) of a profgate with the same config shape but 0 targets."""
    port = free_port()
    cfg = write_config(workdir, "idle", [], args.interval, args.types, port)
    pg = Profgate(args.profgate, cfg, workdir, "idle", args.log_level,
                  args.profgate_arg)
    try:
        time.sleep(min(args.interval, 5.0))
        _, rss, hwm, _ = pg.sample()
    finally:
        pg.stop()
    return rss, hwm


def run_one(args, workdir, n, idle_rss, idle_hwm):
    """Runs one fleet size. Returns the result dict; when profgate misbehaves (its
    /metrics does not answer, it exits), the dict carries "error" and whatever could be
    measured from the outside (CPU, RSS, requests served by loadgen)."""
    extra = ["--no-hold"] if args.no_hold else []
    if args.profile == "big":
        # one epoch per scrape of a target: never wrap (a wrap looks like a restart)
        extra += ["--profile", "big", "--epochs", str(max(32, args.intervals + 4))]
    lg = Loadgen(args.loadgen, n, workdir, args.idle_timeout, extra)
    pg = None
    r = {"targets": n, "types": len(args.types), "interval_s": args.interval,
         "expected_per_s": n * len(args.types) / args.interval, "errors": [],
         "error": None}
    try:
        cfg = write_config(workdir, f"n{n}", lg.targets(), args.interval, args.types,
                           lg.receiver_port)
        pg = Profgate(args.profgate, cfg, workdir, f"n{n}", args.log_level,
                      args.profgate_arg)
        t_ready = time.time()
        lg_cpu0 = proc_sample(lg.proc.pid)[0]
        log(f"N={n}: profgate ready (pid {pg.proc.pid}, loadgen ports "
            f"{lg.base_port}..{lg.base_port + n - 1}); running "
            f"{args.intervals + 1} x {fmt_duration(args.interval)}")

        def wait_until(t):
            while time.time() < t:
                if pg.proc.poll() is not None:
                    raise RuntimeError(f"profgate exited with {pg.proc.returncode} during "
                                       f"the run; log: {pg.log_path}\n{pg.log_tail()}")
                time.sleep(min(0.5, max(0.0, t - time.time())))

        def snapshot():
            snap = {"proc": pg.sample(), "t_out": time.time(), "lg": lg.stats()}
            try:
                snap["m"], snap["t"] = pg.metrics()
            except RuntimeError as e:
                snap["m"], snap["t"] = None, None
                r["error"] = r["error"] or str(e)
                log(f"N={n}: {e}")
            return snap

        wait_until(t_ready + args.interval)
        a = snapshot()
        wait_until(max(t_ready + (args.intervals + 1) * args.interval, time.time()))
        b = snapshot()
        lg_cpu1 = proc_sample(lg.proc.pid)[0]

        served = lambda st: sum(v for k, v in st.items() if k.startswith("/debug/"))
        out_elapsed = b["t_out"] - a["t_out"]
        cpu = b["proc"][0] - a["proc"][0]
        user = b["proc"][3] - a["proc"][3]
        r.update({
            "cpu_s_window": cpu,
            "cpu_user_s_window": user,
            "cpu_sys_s_window": cpu - user,
            "cpu_util": cpu / out_elapsed,
            "peak_rss_mib": b["proc"][2] / 1024,
            "rss_end_mib": b["proc"][1] / 1024,
            "idle_peak_rss_mib": idle_hwm / 1024,
            "rss_per_target_kib": (b["proc"][2] - idle_hwm) / n if n else None,
            "rss_end_above_idle_kib": b["proc"][1] - idle_rss,
            "held_in_flight": b["lg"].get("held_now", 0),
            "rss_per_held_kib": ((b["proc"][1] - idle_rss) / b["lg"]["held_now"]
                                 if b["lg"].get("held_now") else None),
            "served_per_s": (served(b["lg"]) - served(a["lg"])) / out_elapsed,
            "loadgen_cpu_util": (lg_cpu1 - lg_cpu0) / (b["t_out"] - t_ready),
        })
        if a["m"] is not None and b["m"] is not None:
            m0, m1 = a["m"], b["m"]
            elapsed = b["t"] - a["t"]
            scrapes = (metric_sum(m1, "profgate_scrapes_total")
                       - metric_sum(m0, "profgate_scrapes_total"))
            lat = hist_delta(histogram(m0, "profgate_scrape_lateness_seconds"),
                             histogram(m1, "profgate_scrape_lateness_seconds"))
            p50, p99 = hist_quantile(0.5, lat), hist_quantile(0.99, lat)
            lag = hist_delta(histogram(m0, "profgate_event_loop_lag_seconds"),
                             histogram(m1, "profgate_event_loop_lag_seconds"))
            lag50, lag99 = hist_quantile(0.5, lag), hist_quantile(0.99, lag)
            r.update({
                "window_s": elapsed,
                "scrapes_window": scrapes,
                "achieved_per_s": scrapes / elapsed if elapsed > 0 else 0.0,
                "failures_window": (metric_sum(m1, "profgate_scrape_failures_total")
                                    - metric_sum(m0, "profgate_scrape_failures_total")),
                "failures_total": metric_sum(m1, "profgate_scrape_failures_total"),
                "cpu_per_1k": cpu / scrapes * 1000 if scrapes else None,
                "lateness_p50_ms": None if p50 is None else p50 * 1000,
                "lateness_p99_ms": None if p99 is None else p99 * 1000,
                "loop_lag_p50_ms": None if lag50 is None else lag50 * 1000,
                "loop_lag_p99_ms": None if lag99 is None else lag99 * 1000,
                "profiles_sent_metric": metric_sum(m1, "profgate_remote_write_profiles_total"),
            })
            if r["failures_total"] > 0:
                r["errors"] = pg.errors()
        if pg.proc.poll() is None:
            r["profgate_fds"] = len(os.listdir(f"/proc/{pg.proc.pid}/fd"))
        r["profgate_exit"] = pg.stop()
        r["profgate_log_lines"] = sum(1 for _ in open(pg.log_path))
        pg = None
        time.sleep(0.2)
        st = lg.stats()
        r.update({
            "push_requests": st["push_requests"],
            "profiles_forwarded": st["push_profiles"],
            "push_bytes": st["push_bytes"],
            "loadgen_shed": st.get("shed", 0),
        })
        return r
    finally:
        if pg is not None:
            pg.stop()
        out = lg.stop()
        if args.verbose and out:
            log(f"loadgen totals:\n{out.strip()}")


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


HEADER = (f"{'targets':>8} {'types':>5} {'interval':>8} {'exp/s':>8} {'got/s':>8} "
          f"{'served/s':>8} {'fail':>6} {'cpu_ms/scr':>10} {'cpu%':>5} {'peakMiB':>8} "
          f"{'KiB/tgt':>8} {'p50ms':>7} {'p99ms':>7} {'lag50ms':>7} {'lag99ms':>7} "
          f"{'forwarded':>9} {'fwdMiB':>7} {'held':>6} {'KiB/held':>8}")


def row(r):
    g = r.get
    return (f"{r['targets']:>8} {r['types']:>5} {fmt_duration(r['interval_s']):>8} "
            f"{r['expected_per_s']:>8.1f} {fmt(g('achieved_per_s'), '.1f'):>8} "
            f"{fmt(g('served_per_s'), '.1f'):>8} {fmt(g('failures_window'), '.0f'):>6} "
            f"{fmt(g('cpu_per_1k'), '.3f'):>10} {fmt(g('cpu_util', 0) * 100, '.1f'):>5} "
            f"{fmt(g('peak_rss_mib'), '.1f'):>8} {fmt(g('rss_per_target_kib'), '.1f'):>8} "
            f"{fmt(g('lateness_p50_ms'), '.1f'):>7} {fmt(g('lateness_p99_ms'), '.1f'):>7} "
            f"{fmt(g('loop_lag_p50_ms'), '.2f'):>7} {fmt(g('loop_lag_p99_ms'), '.2f'):>7} "
            f"{fmt(g('profiles_forwarded'), 'd'):>9} "
            f"{fmt(g('push_bytes', 0) / 1048576, '.1f'):>7} {fmt(g('held_in_flight'), 'd'):>6} "
            f"{fmt(g('rss_per_held_kib'), '.1f'):>8}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profgate", default="./build/profgate")
    ap.add_argument("--loadgen", default="./build/tests/bench/loadgen")
    ap.add_argument("--profile", choices=["small", "big"], default="small",
                    help="small: real Go bodies of 1-2 KB; big: the generated 555 KB heap "
                         "profile on /allocs (changes the defaults of --targets, --interval, "
                         "--types to 600, 5s, memory)")
    ap.add_argument("--targets", default=None,
                    help="comma-separated fleet sizes (default 1000,10000; big: 600)")
    ap.add_argument("--interval", type=parse_duration, default=None,
                    help="scrape_interval (default 10s; big: 5s)")
    ap.add_argument("--intervals", type=int, default=4,
                    help="measured intervals after the first one (default 4)")
    ap.add_argument("--types", default=None,
                    help="profile types to enable (default goroutine,memory; big: memory)")
    ap.add_argument("--no-hold", action="store_true",
                    help="loadgen answers /profile?seconds=N at once instead of after N s")
    ap.add_argument("--idle-timeout", type=int, default=3,
                    help="loadgen: close idle keep-alive connections after this many seconds")
    ap.add_argument("--log-level", default="warn")
    ap.add_argument("--profgate-arg", action="append", default=[],
                    help="extra flag for `profgate run`, repeatable "
                         "(e.g. --profgate-arg=--processing.workers=1)")
    ap.add_argument("--json", help="also write the results to this JSON file")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (configs, logs)")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    big = args.profile == "big"
    if args.targets is None:
        args.targets = "600" if big else "1000,10000"
    if args.interval is None:
        args.interval = 5.0 if big else 10.0
    if args.types is None:
        args.types = "memory" if big else "goroutine,memory"
    args.types = [t.strip() for t in args.types.split(",") if t.strip()]
    for t in args.types:
        if t not in ALL_TYPES:
            ap.error(f"unknown profile type {t!r} (one of {', '.join(ALL_TYPES)})")
    sizes = [int(x) for x in args.targets.split(",") if x.strip()]
    for b in (args.profgate, args.loadgen):
        if not os.access(b, os.X_OK):
            ap.error(f"{b} is not an executable (build it first)")
    if args.intervals < 1:
        ap.error("--intervals must be at least 1")

    atexit.register(kill_children)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    workdir = tempfile.mkdtemp(prefix="profgate-bench-")
    results = []
    ok = True
    try:
        idle_rss, idle_hwm = idle_baseline(args, workdir)
        log(f"idle profgate (0 targets): VmRSS {idle_rss / 1024:.1f} MiB, "
            f"VmHWM {idle_hwm / 1024:.1f} MiB")
        for n in sizes:
            try:
                r = run_one(args, workdir, n, idle_rss, idle_hwm)
            except Exception as e:  # report and go on with the next size
                ok = False
                log(f"N={n}: FAILED: {e}")
                continue
            results.append(r)
            g = r.get
            log(f"N={n}: profgate cpu {fmt(g('cpu_util', 0) * 100, '.1f')}%, loadgen cpu "
                f"{fmt(g('loadgen_cpu_util', 0) * 100, '.1f')}%, scrapes in window "
                f"{fmt(g('scrapes_window'), '.0f')}, failures total "
                f"{fmt(g('failures_total'), '.0f')}, push requests {g('push_requests')}, "
                f"loadgen shed {g('loadgen_shed')} connections, profgate fds at end "
                f"{g('profgate_fds')}, log lines {g('profgate_log_lines')}, "
                f"exit {g('profgate_exit')}")
            cores = g("cpu_util")
            if cores is not None:
                log(f"N={n}: profgate user {g('cpu_user_s_window'):.2f}s sys "
                    f"{g('cpu_sys_s_window'):.2f}s over the window = {cores:.2f} cores"
                    f"{' (more than one core)' if cores > 1.0 else ''}; loop lag "
                    + ("not exported" if g("loop_lag_p99_ms") is None else
                       f"p50 {g('loop_lag_p50_ms'):.2f} ms p99 {g('loop_lag_p99_ms'):.2f} ms")
                    + f"; held /profile transfers at end {g('held_in_flight')}, VmRSS above "
                      f"idle {g('rss_end_above_idle_kib', 0) / 1024:.1f} MiB")
            if r["error"]:
                ok = False
                log(f"N={n}: ERROR: {r['error']}")
            for e in r["errors"]:
                log(f"N={n}: down: {e}")
        print(f"machine: {os.cpu_count()} CPUs; idle profgate peak RSS "
              f"{idle_hwm / 1024:.1f} MiB")
        print(HEADER)
        for r in results:
            print(row(r))
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"idle_rss_kib": idle_rss, "idle_hwm_kib": idle_hwm,
                           "results": results}, f, indent=2)
    finally:
        kill_children()
        if args.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
