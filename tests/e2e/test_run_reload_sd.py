"""test_run_reload_sd.py - a reload while an HTTP SD server is down keeps its targets.

Job "app" has a static target (pprofapp A) and an http_sd_configs source serving pprofapp
B. With the SD server stopped (connection refused), a reload must not make B look gone:
the new discovery instance adopts the previous instance's groups until its own first
answer, so B stays active and keeps being scraped across the reload and long after the
manager's readiness grace. When the SD server answers again with an empty list, that
first answer replaces the adopted groups and B goes away."""
import http.server
import json
import sys
import threading
import time

import pgtest
from pgtest import free_port, job, remote, wait_until


class SD:
    """A tiny HTTP SD server on a fixed port, serving self.targets."""

    def __init__(self, port):
        self.port, self.targets, self.srv = port, [], None

    def start(self):
        sd = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                body = json.dumps(sd.targets).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass
        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), H)
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()
        return self

    def stop(self):
        if self.srv:
            self.srv.shutdown()
            self.srv.server_close()
            self.srv = None


def config(t, a, sd_port, rec, env):
    return {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "external_labels": {"env": env}},
        "scrape_configs": [job("app", [a.address], labels={"service_name": "static-svc"},
                               types=("goroutine",),
                               http_sd_configs=[{"url": "http://127.0.0.1:%d/sd" % sd_port,
                                                 "refresh_interval": "1s"}])],
        "storage": {"path": t.tmpdir + "/data"},
        "remote_write": [remote("push", rec.url)],
    }


def test_reload_with_sd_down(t):
    a = t.go_target("pprofapp")
    b = t.go_target("pprofapp")
    rec = t.receiver("push")
    sd = SD(free_port()).start()
    t.defer(sd.stop)
    sd.targets = [{"targets": [b.address], "labels": {"service_name": "sd-svc"}}]
    pg = t.profgate(config(t, a, sd.port, rec, "one"), extra_args=["--web.enable-lifecycle"])

    def up(svc):
        return [x for x in pg.active() if x["labels"].get("service_name") == svc
                and x["health"] == "up"]
    t.require(wait_until(lambda: up("static-svc") and up("sd-svc"), 30),
              "targets A and B not both up: %s" % pg.active())

    sd.stop()  # the SD server is gone: connection refused from now on
    pg.write_config(config(t, a, sd.port, rec, "two"))
    st, body = pg.reload()
    t.require(st == 200, "reload failed: %s %r" % (st, body))
    reloaded = time.time()
    # past the readiness grace (5 s) and several failed refreshes, B is still there and
    # still scraped (its profiles now carry the new external label)
    t.check(wait_until(lambda: any(it.labels.get("service_name") == "sd-svc"
                                   and it.labels.get("env") == "two"
                                   for it in rec.snapshot()), 20),
            "B is not scraped after the reload")
    while time.time() < reloaded + 8:
        t.require(up("sd-svc"), "B disappeared after the reload with the SD server down: %s"
                  % pg.active())
        time.sleep(0.5)
    t.check(pg.metric("profgate_sd_refresh_failures_total", mechanism="http") > 0,
            "the SD failures were not counted")

    # the SD server answers again, with nothing: that full set replaces the adopted one
    sd.targets = []
    sd.start()
    t.check(wait_until(lambda: not [x for x in pg.active()
                                    if x["labels"].get("service_name") == "sd-svc"], 20),
            "B stays after the SD server reported an empty set")
    t.check(up("static-svc"), "A is not up any more")
    t.stop_profgate(pg)


if __name__ == "__main__":
    sys.exit(pgtest.run_tests([test_reload_with_sd_down]))
