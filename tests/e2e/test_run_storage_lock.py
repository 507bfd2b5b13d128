"""test_run_storage_lock.py - one storage.path, one profgate.

A second `profgate run` pointed at the storage.path of a running one must refuse to start
(exit non-zero, naming the path, the holder's pid and the lock file) instead of sharing the
SQLite buffer; the first keeps running. The lock dies with its holder: after a clean stop,
and after SIGKILL, a new profgate starts on the same storage."""
import os
import subprocess
import sys

import pgtest
from pgtest import PROFGATE, free_port


def config(storage):
    return {"global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
            "scrape_configs": [], "storage": {"path": storage}}


def run_second(t, pg2, storage):
    """Runs `profgate run` in the foreground on storage; returns (rc, output)."""
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
    r = subprocess.run([PROFGATE, "run", pg2.cfg_path,
                        "--web.listen-address", "127.0.0.1:%d" % free_port(),
                        "--storage.path=" + storage], capture_output=True, text=True,
                       timeout=60, env=env)
    return r.returncode, r.stdout + r.stderr


def test_second_instance_refused(t):
    storage = t.tmpdir + "/data"
    pg1 = t.profgate(config(storage), storage=storage, name="first")
    pg2 = t.profgate(config(storage), storage=storage, name="second", start=False)
    rc, out = run_second(t, pg2, storage)
    pgtest.log("  second instance: rc=%d %s" % (rc, out.strip().splitlines()[-1:]))
    t.check(rc != 0, "the second profgate exited %d; output:\n%s" % (rc, out))
    want = "storage.path %s is in use by another profgate (pid %d; lock file %s/lock)" % (
        storage, pg1.pid, storage)
    t.check(want in out, "no %r in the output:\n%s" % (want, out))
    for m in pgtest.SANITIZER_MARKERS:
        t.check(m not in out, "sanitizer report in the second profgate's output")
    t.check(pg1.running(), "the first profgate died")
    t.check(pg1.get("/-/ready")[0] == 200, "the first profgate is not ready any more")
    t.stop_profgate(pg1)
    pg2.start()  # the lock went with the first process
    t.check(pg2.get("/-/ready")[0] == 200, "profgate did not start after the holder stopped")
    pg2.kill()  # SIGKILL: the kernel releases the lock
    pg3 = t.profgate(config(storage), storage=storage, name="third")
    t.check(pg3.running(), "profgate did not start after the holder was killed")
    t.stop_profgate(pg3)


if __name__ == "__main__":
    sys.exit(pgtest.run_tests([test_second_instance_refused]))
