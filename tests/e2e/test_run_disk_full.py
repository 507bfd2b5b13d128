"""test_run_disk_full.py - the buffer's storage runs out of space while the backend is down.

profgate must log and count the failed writes, keep scraping, stay healthy and, once space
is back, buffer and deliver again. "Full disk" is RLIMIT_FSIZE on the profgate process
(set and lifted with prlimit): SQLite's writes past it fail with EFBIG (profgate ignores
SIGXFSZ), as they fail with ENOSPC on a full file system. Targets are the real Go pprofapp,
listed eight times with different labels so rows pile up quickly."""
import glob
import os
import resource
import sys
import time

import pgtest
from pgtest import free_port, job, remote, wait_until

TYPES = ("goroutine", "memory", "mutex", "block")


def storage_bytes(path):
    return max([os.path.getsize(f) for f in glob.glob(os.path.join(path, "*"))] or [0])


def test_disk_full(t):
    app = t.go_target("pprofapp")
    bport = free_port()  # the backend is down: rows accumulate in the buffer
    groups = [{"targets": [app.address], "labels": {"service_name": "disk-svc", "replica": str(i)}}
              for i in range(8)]
    pg = t.profgate({
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
        "scrape_configs": [job("app", groups, types=TYPES)],
        "storage": {"path": t.tmpdir + "/data"},
        "remote_write": [remote("b", "http://127.0.0.1:%d" % bport)],
    }, storage=t.tmpdir + "/data")
    limit = storage_bytes(t.tmpdir + "/data") + 192 * 1024
    # soft limit only, so that the test may lift it again without privileges
    resource.prlimit(pg.pid, resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
    pgtest.log("  RLIMIT_FSIZE %d bytes" % limit)

    def errors():
        m = pg.metrics()
        return (pg.metric("profgate_buffer_errors_total", m),
                sum(v for (n, _), v in m.items() if n == "profgate_buffer_dropped_profiles_total"))
    t.require(wait_until(lambda: errors()[0] > 0, 60, interval=0.5),
              "no buffer error counted with the storage full; log:\n" + pg.log_tail())
    e0, d0 = errors()
    s0 = pg.metric("profgate_scrapes_total")
    pgtest.log("  storage full: buffer errors %d, dropped profiles %d" % (e0, d0))
    t.check(d0 > 0, "profiles lost to the full storage are not counted in "
                    "profgate_buffer_dropped_profiles_total")
    # scraping carries on, the process stays up and healthy
    t.check(wait_until(lambda: pg.metric("profgate_scrapes_total") >= s0 + 40, 30, interval=0.5),
            "scraping stopped with the storage full")
    t.check(pg.running() and pg.get("/-/healthy")[0] == 200, "profgate is not healthy")
    log = pg.log_text()
    t.check("level=error" in log and "buffer" in log, "the storage errors were not logged")

    # space comes back, then the backend: new profiles are buffered and delivered
    resource.prlimit(pg.pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    lifted = time.time()
    b = t.receiver("b", port=bport)
    ok = wait_until(lambda: any(it.profile.time_nanos / 1e9 > lifted + 1
                                for it in b.profiles(__name__="goroutine")), 40, interval=0.5)
    t.check(ok, "no profile scraped after the storage recovered reached the backend; log:\n"
            + pg.log_tail())
    t.check(not b.errors, "receiver decode errors: %s" % b.errors[:2])
    t.stop_profgate(pg)


if __name__ == "__main__":
    sys.exit(pgtest.run_tests([test_disk_full]))
