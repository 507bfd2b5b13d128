"""test_sdk_nodejs.py - a real Pyroscope SDK as the receiver's client: @pyroscope/nodejs,
installed from the npm registry, profiles a small Node.js program
(tests/targets/nodeapp/app.js: wall and heap profiling, appName "nodeapp", tag
region=test, flush every second) and pushes to profgate's /ingest; profgate forwards to a
test receiver.

What the SDK sends (read from its source, dist/cjs/pyroscope-api-exporter.js of 0.6.4):
`POST /ingest?format=pprof&from=<s>&name=nodeapp{otel.scope.name=...,region=test}&
spyName=nodespy&until=<s>[&sampleRate=N]`, `Content-Type: application/octet-stream`, the
gzipped pprof as the raw body (no multipart). The name carries the SDK's own tags with dots
in their names (otel.scope.name, process.runtime.version, ...).

Asserts: the SDK's requests are all answered 200 (profgate_receiver_requests_total), both
wall and memory profiles reach the test receiver with service_name=nodeapp,
region=test, pyroscope_spy=nodespy, __delta__="false", the SDK's dotted tags, and each
body parses as pprof with the expected sample types and the app's own functions.

The SDK is installed once into $PG_BUILD/nodeapp (npm ci from tests/targets/nodeapp's
package.json and package-lock.json; reused while those files are unchanged). If node, npm
or the registry is not available the test FAILS with the reason: it is not skipped."""
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys

import pgtest
from pgtest import remote, wait_until

APP_DIR = os.path.join(pgtest.SRC, "tests", "targets", "nodeapp")
CACHE = os.path.join(pgtest.BUILD, "nodeapp")
RUN_SECONDS = 12


def install_sdk():
    """Installs the app's dependencies into CACHE unless an install of the same
    package.json + package-lock.json is there. Returns the app directory to run in;
    raises RuntimeError with the reason when node/npm or the registry is not usable."""
    for tool in ("node", "npm"):
        if not shutil.which(tool):
            raise RuntimeError("%s is not on PATH: install Node.js (scripts/deps.sh installs the "
                               "Debian packages nodejs and npm)" % tool)
    files = ("package.json", "package-lock.json")
    h = hashlib.sha256()
    for f in files:
        with open(os.path.join(APP_DIR, f), "rb") as fh:
            h.update(fh.read())
    stamp_want = h.hexdigest()
    os.makedirs(CACHE, exist_ok=True)
    stamp = os.path.join(CACHE, ".installed")
    with open(os.path.join(CACHE, ".lock"), "w") as lk:
        fcntl.flock(lk, fcntl.LOCK_EX)
        have = open(stamp).read().strip() if os.path.exists(stamp) else ""
        if have != stamp_want or not os.path.isdir(os.path.join(CACHE, "node_modules", "@pyroscope",
                                                                 "nodejs")):
            if os.path.exists(stamp):
                os.unlink(stamp)
            for f in files:
                shutil.copyfile(os.path.join(APP_DIR, f), os.path.join(CACHE, f))
            pgtest.log("  npm ci @pyroscope/nodejs into %s" % CACHE)
            try:
                r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=CACHE,
                                   capture_output=True, text=True, timeout=300)
            except subprocess.TimeoutExpired:
                raise RuntimeError("npm ci did not finish within 300s (is the npm registry "
                                   "reachable?)")
            if r.returncode != 0:
                raise RuntimeError("npm ci failed (exit %d): is the npm registry reachable?\n%s"
                                   % (r.returncode, (r.stdout + r.stderr)[-2000:]))
            with open(stamp, "w") as f:
                f.write(stamp_want + "\n")
    # app.js is copied each run, so that the installed node_modules are found next to it.
    shutil.copyfile(os.path.join(APP_DIR, "app.js"), os.path.join(CACHE, "app.js"))
    return CACHE


def sdk_version(app_dir):
    with open(os.path.join(app_dir, "node_modules", "@pyroscope", "nodejs", "package.json")) as f:
        return json.load(f)["version"]


def test_nodejs_sdk_push(t):
    try:
        app_dir = install_sdk()
    except RuntimeError as e:
        t.require(False, "cannot install the Pyroscope Node.js SDK: %s" % e)
        return
    pgtest.log("  @pyroscope/nodejs %s, node %s" % (
        sdk_version(app_dir), subprocess.run(["node", "--version"], capture_output=True,
                                             text=True).stdout.strip()))
    rec = t.receiver("backend")
    pg = t.profgate({
        "storage": {"path": t.tmpdir + "/data"},
        "receiver": {"enabled": True},
        "remote_write": [remote("backend", rec.url, "push")],
    }, start=False)
    rc, out = pg.check_config()
    t.require(rc == 0, "config does not load: " + out)
    pg.start()
    logp = os.path.join(t.tmpdir, "nodeapp.log")
    with open(logp, "w") as logf:
        env = dict(os.environ, DEBUG="pyroscope*")
        env.pop("NODE_OPTIONS", None)
        proc = pgtest.spawn(["node", os.path.join(app_dir, "app.js"), pg.url, str(RUN_SECONDS)],
                            cwd=app_dir, stdout=logf, stderr=subprocess.STDOUT, env=env)
    t.defer(lambda: proc.poll() is None and (proc.kill(), proc.wait(10)))

    def node_log():
        with open(logp, errors="replace") as f:
            return f.read()[-3000:]

    def both_types():
        names = {it.name for it in rec.profiles(service_name="nodeapp")}
        return {"wall", "memory"} <= names
    ok = wait_until(lambda: both_types() or proc.poll() is not None, RUN_SECONDS + 30, interval=0.3)
    t.check(ok and both_types(), "wall and memory profiles did not both arrive: got %s; nodeapp "
            "exit %s; log:\n%s" % (sorted({it.name for it in rec.snapshot()}), proc.poll(),
                                    node_log()))
    try:
        rc = proc.wait(timeout=RUN_SECONDS + 40)
    except subprocess.TimeoutExpired:
        rc = None
    t.check(rc == 0, "nodeapp exit code %s; log:\n%s" % (rc, node_log()))
    t.check(wait_until(lambda: pg.metric("profgate_remote_write_pending_profiles") == 0, 15),
            "profgate did not forward everything")
    m = pg.metrics()
    ok200 = pg.metric("profgate_receiver_requests_total", m, route="ingest", code="200")
    bad = sum(v for (n, ls), v in m.items() if n == "profgate_receiver_requests_total"
              and dict(ls).get("code") != "200")
    t.check(bad == 0, "profgate refused %d SDK requests (requests by code: %s); nodeapp log:\n%s"
            % (bad, {dict(ls).get("code"): v for (n, ls), v in m.items()
                     if n == "profgate_receiver_requests_total"}, node_log()))
    t.check("rejected" not in node_log() and "Error sending" not in node_log(),
            "the SDK logged a refused upload:\n" + node_log())
    items = rec.snapshot()
    stored = pg.metric("profgate_receiver_profiles_total", m, route="ingest")
    pgtest.log("  SDK requests answered 200: %d; profiles stored %d, forwarded %d (%s)"
               % (ok200, stored, len(items),
                  ", ".join("%s=%d" % (n, rec.count(__name__=n)) for n in ("wall", "memory"))))
    t.check(len(items) == stored > 0, "forwarded %d profiles, stored %d" % (len(items), stored))
    for it in items:
        ls = it.labels
        what = "%s %s" % (ls.get("__name__"), sorted(ls.items()))
        t.check(ls.get("service_name") == "nodeapp", "service_name wrong: " + what)
        t.check(ls.get("region") == "test", "tag region=test missing: " + what)
        t.check(ls.get("pyroscope_spy") == "nodespy", "pyroscope_spy not nodespy: " + what)
        t.check(ls.get("__delta__") == "false", "__delta__ not \"false\": " + what)
        t.check(ls.get("process.runtime.name") == "nodejs"
                and ls.get("otel.scope.name") == "com.grafana.pyroscope/nodejs",
                "the SDK's dotted tags are missing: " + what)
        t.check(ls.get("__name__") in ("wall", "memory"), "unexpected __name__: " + what)
        try:
            prof = it.profile
        except Exception as e:  # noqa: BLE001
            t.check(False, "body does not parse as pprof (%r): %s" % (e, what))
            continue
        types_ = prof.type_names()
        if ls.get("__name__") == "wall":
            t.check("wall" in types_, "wall profile sample types %s" % types_)
        else:
            t.check("space" in types_ or "inuse_space" in types_ or "alloc_space" in types_,
                    "memory profile sample types %s" % types_)
    walls = rec.profiles(service_name="nodeapp", __name__="wall")
    t.check(any(s.has_frame("fibonacciBurn") for it in walls for s in it.profile.samples),
            "no wall profile has the app's fibonacciBurn frames")
    t.check(not rec.errors, "test receiver decode errors: %s" % rec.errors[:2])
    t.stop_profgate(pg)


if __name__ == "__main__":
    sys.exit(pgtest.run_tests([test_nodejs_sdk_push]))
