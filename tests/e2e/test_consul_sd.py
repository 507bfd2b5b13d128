"""test_consul_sd.py - end-to-end test of consul_sd_configs: `profgate run` against the fake
Consul agent of fake_consul.py (blocking queries, X-Consul-Index, X-Consul-Token).

One fake agent (token required) and one profgate with three jobs are shared by the tests:
- consul-tagged: every service carrying the tag "pprof", datacenter from /v1/agent/self;
- consul-named:  the service "api" only (watched directly, no catalog), datacenter set;
- consul-badtoken: a wrong token (every request answered 403).
Checked: the exact __meta_consul_* label set of discovered targets (Prometheus's list),
tag filtering, health aggregation (critical instances stay, with their health), the token
header and its failure metric, and that added/removed instances and services show up
within a deadline through blocking queries (not a polling loop)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import pgtest  # noqa: E402
from fake_consul import FakeConsul  # noqa: E402

TOKEN = "s3cret-token"
DEADLINE = 30  # seconds for a change to reach /api/v1/targets (ASan, coalescing)


def job(name, sd):
    sd = dict(sd)
    sd.setdefault("refresh_interval", "1s")
    return {"job_name": name, "scrape_interval": "1h", "scrape_timeout": "10s",
            "profiling_config": {t: {"enabled": t == "goroutine"} for t in pgtest.DEFAULT_TYPES},
            "consul_sd_configs": [sd]}


def setup(t):
    fc = FakeConsul(token=TOKEN, datacenter="dc1").start()
    t.defer(fc.stop)
    fc.add_node("n1", "127.0.0.1", meta={"rack": "r1", "env-name": "prod"},
                tagged_addresses={"lan": "127.0.0.1", "wan": "198.51.100.1"})
    fc.add_node("n2", "127.0.0.2", meta={"rack": "r2"},
                tagged_addresses={"lan": "127.0.0.2", "wan": "198.51.100.2"})
    fc.add_instance("web", "web-1", "n1", 6061, address="127.0.0.10", tags=["pprof", "v1"],
                    meta={"version": "1.2.3"}, checks=["passing"])
    fc.add_instance("web", "web-2", "n2", 6062, tags=["pprof"], checks=["passing", "critical"])
    fc.add_instance("db", "db-1", "n1", 5432, tags=["sql"], checks=["passing"])
    fc.add_instance("api", "api-1", "n2", 8080, tags=["http"], checks=["warning"])
    server = fc.address
    cfg = {"global": {"scrape_interval": "1h"}, "scrape_configs": [
        job("consul-tagged", {"server": server, "token": TOKEN, "tags": ["pprof"]}),
        job("consul-named", {"server": server, "token": TOKEN, "services": ["api"],
                             "datacenter": "dc1", "tag_separator": ";"}),
        job("consul-badtoken", {"server": server, "token": "wrong-token"}),
    ]}
    pg = t.profgate(cfg, name="profgate", start=False)
    pg.start(ready_timeout=60)
    return {"fc": fc, "pg": pg}


def discovered(pg, pool):
    """{service id: discovered labels (only __address__ and __meta_consul_*)} of pool."""
    out = {}
    for tg in pg.active(pool=pool):
        d = tg["discoveredLabels"]
        if tg.get("scrapePool") != pool:
            continue
        out[d.get("__meta_consul_service_id", "?")] = {
            k: v for k, v in d.items() if k == "__address__" or k.startswith("__meta_consul_")}
    return out


def wait_ids(pg, pool, ids, timeout=DEADLINE):
    return pgtest.wait_until(lambda: set(discovered(pg, pool)) == set(ids), timeout, 0.3)


def test_labels_exact(t, env):
    pg = env["pg"]
    t.require(wait_ids(pg, "consul-tagged", {"web-1", "web-2"}),
              "consul-tagged targets: %s" % sorted(discovered(pg, "consul-tagged")))
    got = discovered(pg, "consul-tagged")
    want1 = {
        "__address__": "127.0.0.10:6061",
        "__meta_consul_address": "127.0.0.1",
        "__meta_consul_dc": "dc1",
        "__meta_consul_health": "passing",
        "__meta_consul_metadata_env_name": "prod",
        "__meta_consul_metadata_rack": "r1",
        "__meta_consul_namespace": "",
        "__meta_consul_node": "n1",
        "__meta_consul_partition": "",
        "__meta_consul_service": "web",
        "__meta_consul_service_address": "127.0.0.10",
        "__meta_consul_service_id": "web-1",
        "__meta_consul_service_metadata_version": "1.2.3",
        "__meta_consul_service_port": "6061",
        "__meta_consul_tagged_address_lan": "127.0.0.1",
        "__meta_consul_tagged_address_wan": "198.51.100.1",
        "__meta_consul_tags": ",pprof,v1,",
    }
    t.check(got["web-1"] == want1, "web-1 labels:\n got  %s\n want %s" % (
        sorted(got["web-1"].items()), sorted(want1.items())))
    # no service address: the node's address is used, health is the worst check
    w2 = got["web-2"]
    t.check(w2.get("__address__") == "127.0.0.2:6062", "web-2 address %r" % w2.get("__address__"))
    t.check(w2.get("__meta_consul_service_address") == "", "web-2 service address %r" % w2)
    t.check(w2.get("__meta_consul_health") == "critical", "web-2 health %r" % w2)
    t.check(w2.get("__meta_consul_tags") == ",pprof,", "web-2 tags %r" % w2)
    t.check(w2.get("__meta_consul_metadata_rack") == "r2", "web-2 node meta %r" % w2)


def test_tag_and_service_filters(t, env):
    pg = env["pg"]
    t.require(wait_ids(pg, "consul-tagged", {"web-1", "web-2"}), "consul-tagged targets")
    t.require(wait_ids(pg, "consul-named", {"api-1"}),
              "consul-named targets: %s" % sorted(discovered(pg, "consul-named")))
    api = discovered(pg, "consul-named")["api-1"]
    t.check(api.get("__meta_consul_tags") == ";http;", "custom tag_separator: %r" % api)
    t.check(api.get("__meta_consul_health") == "warning", "api health %r" % api)
    t.check(api.get("__meta_consul_dc") == "dc1", "api dc %r" % api)
    fc = env["fc"]
    # the tagged job asks the catalog and only watches services with the tag
    t.check(fc.count("/v1/health/service/db") == 0, "db (no pprof tag) was watched")
    t.check(fc.count("/v1/health/service/web", tag="pprof") > 0, "web watched without tag=pprof")
    # services: [api] alone is watched directly: that job never reads the catalog
    t.check(fc.count("/v1/health/service/api") > 0, "api not watched")


def test_token_header(t, env):
    pg, fc = env["pg"], env["fc"]
    t.require(wait_ids(pg, "consul-tagged", {"web-1", "web-2"}), "consul-tagged targets")
    tokens = {h.get("x-consul-token") for _, _, _, h in list(fc.requests)}
    t.check(tokens == {TOKEN, "wrong-token"}, "X-Consul-Token values seen: %r" % tokens)
    fails = pgtest.wait_until(
        lambda: pg.metric("profgate_sd_refresh_failures_total", mechanism="consul") >= 1, DEADLINE)
    t.check(fails, "no consul refresh failure counted for the wrong token")
    t.check(pg.metric("profgate_sd_refreshes_total", mechanism="consul") >= 3,
            "refreshes not counted")
    t.check(discovered(pg, "consul-badtoken") == {}, "targets with a wrong token: %s" %
            discovered(pg, "consul-badtoken"))


def test_add_remove_and_health(t, env):
    pg, fc = env["pg"], env["fc"]
    t.require(wait_ids(pg, "consul-tagged", {"web-1", "web-2"}), "consul-tagged targets")
    # a new instance of a watched service
    fc.add_instance("web", "web-3", "n2", 6063, tags=["pprof"], checks=["passing"])
    t.check(wait_ids(pg, "consul-tagged", {"web-1", "web-2", "web-3"}),
            "web-3 did not appear: %s" % sorted(discovered(pg, "consul-tagged")))
    # a new service with the tag
    fc.add_instance("cache", "cache-1", "n1", 7000, tags=["pprof"], checks=["passing"])
    t.check(wait_ids(pg, "consul-tagged", {"web-1", "web-2", "web-3", "cache-1"}),
            "cache-1 did not appear: %s" % sorted(discovered(pg, "consul-tagged")))
    # health changes only (the catalog index stays)
    fc.set_health("web-1", "warning")
    t.check(pgtest.wait_until(lambda: discovered(pg, "consul-tagged").get("web-1", {}).get(
        "__meta_consul_health") == "warning", DEADLINE), "web-1 health did not become warning")
    # an instance leaves, then a whole service
    fc.remove_instance("web-3")
    t.check(wait_ids(pg, "consul-tagged", {"web-1", "web-2", "cache-1"}),
            "web-3 did not disappear: %s" % sorted(discovered(pg, "consul-tagged")))
    fc.remove_instance("cache-1")
    t.check(wait_ids(pg, "consul-tagged", {"web-1", "web-2"}),
            "cache did not disappear: %s" % sorted(discovered(pg, "consul-tagged")))


def test_blocking_queries(t, env):
    pg, fc = env["pg"], env["fc"]
    t.require(wait_ids(pg, "consul-tagged", {"web-1", "web-2"}), "consul-tagged targets")
    blocking = [q for _, p, q, _ in list(fc.requests)
                if p == "/v1/health/service/web" and q.get("index", ["0"])[0] not in ("0", "")]
    t.check(blocking, "no blocking query (index>0) on /v1/health/service/web")
    t.check(all(q.get("wait") == ["120000ms"] for q in blocking), "wait param: %r" %
            [q.get("wait") for q in blocking][:3])
    t.check(all("stale" in q for q in blocking), "allow_stale not sent")
    t.check(fc.count("/v1/agent/self") >= 1, "datacenter not asked from /v1/agent/self")
    # quiet: the queries hang in the fake instead of polling every refresh_interval (let
    # the requests that follow the previous test's changes settle first)
    pgtest.wait_until(lambda: False, 2.5, 0.5)
    before = fc.count("/v1/health/service/web") + fc.count("/v1/catalog/services")
    pgtest.wait_until(lambda: False, 3.0, 0.5)
    after = fc.count("/v1/health/service/web") + fc.count("/v1/catalog/services")
    t.check(after - before <= 1, "%d web/catalog requests in 3s without changes" % (after - before))


def test_clean_shutdown(t, env):
    t.stop_profgate(env["pg"])


if __name__ == "__main__":
    sys.exit(pgtest.run_tests([test_labels_exact, test_tag_and_service_filters, test_token_header,
                               test_add_remove_and_health, test_blocking_queries,
                               test_clean_shutdown], setup=setup))
