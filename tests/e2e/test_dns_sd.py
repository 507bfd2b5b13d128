"""test_dns_sd.py - dns_sd_configs against a fake DNS server (fake_dns.py, python3-dnslib).

profgate reads the resolv.conf named by PROFGATE_DNS_RESOLV_CONF (the fake server on a
high port, a search domain, a 1 s timeout) instead of /etc/resolv.conf:

- the dry run (`profgate targets`): SRV (the default type), A through a search domain and
  through a CNAME, AAAA (brackets; an IPv4-mapped address printed as IPv4), MX with the
  lower-case type name, Prometheus's __meta_dns_* labels and nothing else, a truncated
  UDP answer asked again over TCP (UDP with EDNS0, TCP without), NXDOMAIN (no targets, no
  warning), SERVFAIL (logged, the config's other names still found);
- a nameserver that never answers: the next one in resolv.conf answers after the timeout;
- `profgate run`: the refresh picks up new and removed records, a failing name keeps its
  targets (counted in profgate_sd_refresh_failures_total{mechanism="dns"}), a name that
  no longer exists loses them; refresh_interval defaults to 30s."""
import json
import os
import socket
import subprocess
import sys
import time

import pgtest
from fake_dns import FakeDNS
from pgtest import wait_until

PROFGATE = os.environ["PROFGATE"]


def zone():
    d = FakeDNS().start()
    d.set("_pprof._tcp.example.test", "SRV",
          [(10, 5, 6060, "app1.example.test."), (20, 5, 6061, "app2.example.test.")])
    d.set("app.example.test", "A", ["10.0.0.1", "10.0.0.2"])
    d.set("app.example.test", "AAAA", ["2001:db8::1", "::ffff:10.0.0.3"])
    d.set("www.example.test", "CNAME", ["app.example.test."])
    d.set("mail.example.test", "MX", [(10, "mx1.example.test."), (20, "mx2.example.test.")])
    d.set("big.example.test", "SRV",
          [(1, 1, 7000 + i, "host%02d.example.test." % i) for i in range(60)])
    d.truncate.add("big.example.test")
    d.servfail.add("broken.example.test")
    return d


def dry_run(t, cfg):
    path = os.path.join(t.tmpdir, "cfg.yml")
    with open(path, "w") as f:
        f.write(json.dumps(cfg))
    t0 = time.monotonic()
    p = subprocess.run([PROFGATE, "targets", path, "--json"], capture_output=True, text=True,
                       timeout=60, env=os.environ)
    t.require(p.returncode == 0, "targets exit %d: %s" % (p.returncode, p.stderr))
    return json.loads(p.stdout)["data"], p.stderr, time.monotonic() - t0


def discovered(data, job):
    """The discovered __address__ and __meta_dns_* labels of job's targets, sorted."""
    seen = set()
    for a in data["activeTargets"]:
        if a["scrapePool"] == job:
            d = a["discoveredLabels"]
            seen.add(json.dumps({k: v for k, v in d.items()
                                 if k == "__address__" or k.startswith("__meta_")},
                                sort_keys=True))
    return [json.loads(s) for s in sorted(seen, key=lambda s: json.loads(s)["__address__"] + s)]


def srv(addr, name, target, port):
    return {"__address__": addr, "__meta_dns_name": name,
            "__meta_dns_srv_record_target": target, "__meta_dns_srv_record_port": port}


def test_dry_run_record_types(t):
    d = zone()
    t.defer(d.stop)
    os.environ["PROFGATE_DNS_RESOLV_CONF"] = d.resolv_conf(
        os.path.join(t.tmpdir, "resolv.conf"), search=["example.test"])
    data, err, secs = dry_run(t, {"scrape_configs": [
        {"job_name": "srv", "dns_sd_configs": [{"names": ["_pprof._tcp.example.test"]}]},
        {"job_name": "a", "dns_sd_configs": [{"names": ["app", "www.example.test"], "type": "A",
                                              "port": 9000}]},
        {"job_name": "aaaa", "dns_sd_configs": [{"names": ["app.example.test"], "type": "AAAA",
                                                 "port": 9001}]},
        {"job_name": "mx", "dns_sd_configs": [{"names": ["mail.example.test"], "type": "mx",
                                               "port": 25}]},
        {"job_name": "big", "dns_sd_configs": [{"names": ["big.example.test"]}]},
        {"job_name": "mixed", "dns_sd_configs": [
            {"names": ["missing.example.test", "broken.example.test", "app.example.test"],
             "type": "A", "port": 80}]},
    ]})
    t.check(discovered(data, "srv") == [
        srv("app1.example.test:6060", "_pprof._tcp.example.test", "app1.example.test.", "6060"),
        srv("app2.example.test:6061", "_pprof._tcp.example.test", "app2.example.test.", "6061")],
        "srv: %s" % discovered(data, "srv"))
    t.check(discovered(data, "a") == [
        {"__address__": "10.0.0.1:9000", "__meta_dns_name": "app"},
        {"__address__": "10.0.0.1:9000", "__meta_dns_name": "www.example.test"},
        {"__address__": "10.0.0.2:9000", "__meta_dns_name": "app"},
        {"__address__": "10.0.0.2:9000", "__meta_dns_name": "www.example.test"}],
        "a (search domain, CNAME): %s" % discovered(data, "a"))
    t.check([x["__address__"] for x in discovered(data, "aaaa")] ==
            ["10.0.0.3:9001", "[2001:db8::1]:9001"], "aaaa: %s" % discovered(data, "aaaa"))
    t.check(discovered(data, "mx") == [
        {"__address__": "mx1.example.test:25", "__meta_dns_name": "mail.example.test",
         "__meta_dns_mx_record_target": "mx1.example.test."},
        {"__address__": "mx2.example.test:25", "__meta_dns_name": "mail.example.test",
         "__meta_dns_mx_record_target": "mx2.example.test."}], "mx: %s" % discovered(data, "mx"))
    big = discovered(data, "big")
    t.check(len(big) == 60 and big[59] == srv("host59.example.test:7059", "big.example.test",
                                              "host59.example.test.", "7059"),
            "big over TCP: %d targets" % len(big))
    t.check([(q[2], q[3]) for q in d.asked("big.example.test")] == [("udp", True),
                                                                    ("tcp", False)],
            "big: UDP with EDNS0, then TCP without: %s" % d.asked("big.example.test"))
    t.check(d.asked("app.example.test", "udp")[0][3], "EDNS0 on UDP")
    t.check([x["__address__"] for x in discovered(data, "mixed")] ==
            ["10.0.0.1:80", "10.0.0.2:80"], "mixed: %s" % discovered(data, "mixed"))
    t.check("name=broken.example.test" in err and "lookup failed" in err,
            "SERVFAIL logged: %s" % err)
    t.check("missing.example.test" not in err, "NXDOMAIN is an answer, not a failure: %s" % err)
    # search order: "app" (1 label, ndots 1) goes to app.example.test first
    t.check(d.asked("app")[:1] == [], "app asked with its search domain first: %s" %
            [q for q in d.queries if q[0].startswith("app")])
    t.check(secs < 8, "no job waited for the dry run's limit (%.1f s)" % secs)


def test_nameserver_failover(t):
    d = zone()
    t.defer(d.stop)
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # takes queries, never answers
    silent.bind(("127.0.0.1", 0))
    t.defer(silent.close)
    os.environ["PROFGATE_DNS_RESOLV_CONF"] = d.resolv_conf(
        os.path.join(t.tmpdir, "resolv.conf"), timeout=1,
        before=["127.0.0.1:%d" % silent.getsockname()[1]])
    data, err, secs = dry_run(t, {"scrape_configs": [
        {"job_name": "srv", "dns_sd_configs": [{"names": ["_pprof._tcp.example.test"]}]}]})
    t.check(len(discovered(data, "srv")) == 2, "answered by the second nameserver: %s" % err)
    t.check(1 <= secs < 8, "after the first one's 1 s timeout (%.1f s)" % secs)


def run_targets(pg, job):
    return sorted(a["discoveredLabels"]["__address__"] for a in pg.active(job)
                  if a.get("profileType") in (None, "goroutine"))


def test_run_refresh(t):
    d = zone()
    t.defer(d.stop)
    os.environ["PROFGATE_DNS_RESOLV_CONF"] = d.resolv_conf(
        os.path.join(t.tmpdir, "resolv.conf"), timeout=1)
    only_goroutine = {k: {"enabled": k == "goroutine"} for k in pgtest.DEFAULT_TYPES}
    pg = t.profgate({"scrape_configs": [
        {"job_name": "dns", "scrape_interval": "5s", "profiling_config": only_goroutine,
         "dns_sd_configs": [{"names": ["app.example.test"], "type": "A", "port": 6060,
                             "refresh_interval": "1s"}]},
        {"job_name": "default", "profiling_config": only_goroutine,
         "dns_sd_configs": [{"names": ["_pprof._tcp.example.test"]}]}],
        "storage": {"path": t.tmpdir + "/data"}})
    t.require(wait_until(lambda: run_targets(pg, "dns") == ["10.0.0.1:6060", "10.0.0.2:6060"],
                         15), "first lookup: %s" % run_targets(pg, "dns"))
    t.check("job=default type=SRV names=1 msg=\"started\" refresh_interval_ms=30000"
            in pg.log_text(), "defaults: type SRV, refresh_interval 30s")
    d.set("app.example.test", "A", ["10.0.0.2", "10.0.0.9"])
    t.check(wait_until(lambda: run_targets(pg, "dns") == ["10.0.0.2:6060", "10.0.0.9:6060"], 15),
            "records changed: %s" % run_targets(pg, "dns"))
    failures = pg.metric("profgate_sd_refresh_failures_total", mechanism="dns")
    d.servfail.add("app.example.test")
    t.check(wait_until(lambda: pg.metric("profgate_sd_refresh_failures_total",
                                         mechanism="dns") >= failures + 2, 15),
            "SERVFAIL counted as failures")
    t.check(run_targets(pg, "dns") == ["10.0.0.2:6060", "10.0.0.9:6060"],
            "a failing lookup keeps the targets: %s" % run_targets(pg, "dns"))
    d.servfail.discard("app.example.test")
    d.set("app.example.test", "A", [])
    d.set("app.example.test", "AAAA", [])
    t.check(wait_until(lambda: run_targets(pg, "dns") == [], 15),
            "NXDOMAIN removes the targets: %s" % run_targets(pg, "dns"))
    t.check(pg.metric("profgate_sd_refreshes_total", mechanism="dns") >= 5, "refreshes counted")
    t.stop_profgate(pg)


if __name__ == "__main__":
    sys.exit(pgtest.run_tests([test_dry_run_record_types, test_nameserver_failover,
                               test_run_refresh]))
