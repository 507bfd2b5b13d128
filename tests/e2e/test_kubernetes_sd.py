"""test_kubernetes_sd.py - kubernetes_sd_configs end to end: `profgate run` against the fake
API server of fake_kube.py.

One profgate with a job per role (pod, pod with attach_metadata, service, endpoints,
endpointslice, node, ingress, pod with selectors) watches one fake cluster; the tests then
check the discovered label sets (exact sets for pod, service and node, as Prometheus's
documentation lists them), that add/modify/delete events reach the targets within a few
seconds, that related objects re-emit dependent groups (pod/service → endpoints, node →
pods), that selectors are sent on list and watch, the bearer token on every request, and
recovery from a dropped connection, a cleanly ended watch, 410 Gone (as an ERROR event and
as an HTTP status) and failing lists (targets kept meanwhile), and that a node update
without addresses keeps the node's target. Others test that an expired continue token
whose unpaginated relist fails pages again, and that an api_server password never reaches
the log. Separate profgates test
in-cluster auth over HTTPS (service-account CA, own_namespace, token rotation) and a
kubeconfig with certificate-authority-data, and a scale run: 5,000 pods and ~50 events/s of
churn (PG_KUBE_CHURN_SECONDS, default 20) must converge with bounded RSS.

Targets use 127.x addresses with nothing listening and a 60s scrape interval, so scrapes
fail fast and rarely; only discovery is under test."""
import base64
import os
import random
import subprocess
import sys
import time
import types

import pgtest
from pgtest import wait_until

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fake_kube as fk  # noqa: E402

TOKEN = "s3cr3t-token"
WAIT = 8.0  # events must reach the targets API within this (manager coalescing included)


def kube_job(name, sd, interval="60s"):
    pc = {t: {"enabled": t == "goroutine"} for t in pgtest.DEFAULT_TYPES}
    return {"job_name": name, "scrape_interval": interval, "scrape_timeout": "10s",
            "profiling_config": pc, "kubernetes_sd_configs": [sd]}


def sd(k, role, **extra):
    d = {"role": role, "api_server": k.url, "authorization": {"credentials": TOKEN}}
    d.update(extra)
    return d


def config(tmpdir, jobs):
    return {"global": {"scrape_interval": "60s", "scrape_timeout": "10s"},
            "scrape_configs": jobs, "storage": {"path": tmpdir + "/data"}}


def fill(k):
    k.add("nodes", fk.node("node-1", ip="127.3.0.1", labels={"zone": "a"}))
    k.add("nodes", fk.node("node-2", ip="127.3.0.2", labels={"zone": "b"}))
    k.add("namespaces", fk.namespace("default", labels={"team": "core"}))
    k.add("namespaces", fk.namespace("other"))
    k.add("pods", fk.pod("web-1", ip="127.1.0.1", node="node-1", labels={"app": "web"},
                         annotations={"profiles.grafana.com/goroutine.scrape": "true"}))
    k.add("pods", fk.pod("web-2", ip="127.1.0.2", node="node-2", labels={"app": "web"},
                         host_ip="192.168.1.2"))
    k.add("pods", fk.pod("db-1", ns="other", ip="127.1.0.9", node="node-1", labels={"app": "db"},
                         containers=[{"name": "db", "image": "db:1"}]))
    k.add("services", fk.service("web", labels={"app": "web"}))
    k.add("endpoints", fk.endpoints("web", addrs=[("127.1.0.1", "web-1", "node-1"),
                                                  ("127.1.0.2", "web-2", "node-2")]))
    k.add("endpointslices", fk.endpointslice("web-abc", "web", addrs=[("127.1.0.1", "web-1", "node-1"),
                                                                      ("127.1.0.2", "web-2", "node-2")]))
    k.add("ingresses", fk.ingress("web", host="web.example.com", path="/app"))


def disc(pg, job):
    """{__address__: discoveredLabels} of the job's active targets."""
    return {t["discoveredLabels"]["__address__"]: t["discoveredLabels"] for t in pg.active(pool=job)}


def meta(labels, extra=("__address__",)):
    return {k: v for k, v in labels.items() if k.startswith("__meta_") or k in extra}


def addrs_are(pg, job, want):
    have = set(disc(pg, job))
    return have == set(want) and have


def setup(t):
    e = types.SimpleNamespace(tmpdir=t.tmpdir)
    e.k = fk.FakeKube(token=TOKEN, bookmark_interval=0.5).start()
    t.defer(e.k.stop)
    fill(e.k)
    k = e.k
    jobs = [
        kube_job("pods", sd(k, "pod")),
        kube_job("podsmeta", sd(k, "pod", attach_metadata={"node": True, "namespace": True})),
        kube_job("svc", sd(k, "service")),
        kube_job("eps", sd(k, "endpoints")),
        kube_job("slices", sd(k, "endpointslice")),
        kube_job("nodes", sd(k, "node")),
        kube_job("ing", sd(k, "ingress")),
        kube_job("sel", sd(k, "pod", namespaces={"names": ["default"]},
                           selectors=[{"role": "pod", "field": "spec.nodeName=node-1", "label": "app=web"}])),
    ]
    e.pg = t.profgate(config(t.tmpdir, jobs), start=False)
    rc, out = e.pg.check_config()
    t.require(rc == 0, "config does not load: " + out)
    e.pg.start()
    want = {"pods": 3, "podsmeta": 3, "svc": 1, "eps": 2, "slices": 2, "nodes": 2, "ing": 1, "sel": 1}
    t.require(wait_until(lambda: all(len(disc(e.pg, j)) == n for j, n in want.items()), 15),
              "initial targets did not appear: %r" % {j: len(disc(e.pg, j)) for j in want})
    return e


# ---------------------------------------------------------------------------------------

def test_labels_per_role(t, e):
    pg = e.pg
    pods = disc(pg, "pods")
    # db-1 has no container ports: one target on the bare pod IP
    t.check(set(pods) == {"127.1.0.1:8080", "127.1.0.2:8080", "127.1.0.9"}
            or set(pods) == {"127.1.0.1:8080", "127.1.0.2:8080"}, "pod targets: %r" % sorted(pods))
    want_pod = {
        "__address__": "127.1.0.1:8080",
        "__meta_kubernetes_namespace": "default",
        "__meta_kubernetes_pod_name": "web-1",
        "__meta_kubernetes_pod_ip": "127.1.0.1",
        "__meta_kubernetes_pod_label_app": "web",
        "__meta_kubernetes_pod_labelpresent_app": "true",
        "__meta_kubernetes_pod_annotation_profiles_grafana_com_goroutine_scrape": "true",
        "__meta_kubernetes_pod_annotationpresent_profiles_grafana_com_goroutine_scrape": "true",
        "__meta_kubernetes_pod_container_name": "app",
        "__meta_kubernetes_pod_container_image": "app:1",
        "__meta_kubernetes_pod_container_id": "containerd://web-1-app",
        "__meta_kubernetes_pod_container_init": "false",
        "__meta_kubernetes_pod_container_port_name": "http",
        "__meta_kubernetes_pod_container_port_number": "8080",
        "__meta_kubernetes_pod_container_port_protocol": "TCP",
        "__meta_kubernetes_pod_ready": "true",
        "__meta_kubernetes_pod_phase": "Running",
        "__meta_kubernetes_pod_node_name": "node-1",
        "__meta_kubernetes_pod_host_ip": "192.168.1.1",
        "__meta_kubernetes_pod_uid": "uid-pod-default-web-1",
        "__meta_kubernetes_pod_controller_kind": "ReplicaSet",
        "__meta_kubernetes_pod_controller_name": "web",
    }
    got = meta(pods.get("127.1.0.1:8080", {}))
    t.check(got == want_pod, "pod label set differs:\n  extra %r\n  missing %r" % (
        {k: v for k, v in got.items() if want_pod.get(k) != v},
        {k: v for k, v in want_pod.items() if got.get(k) != v}))

    want_svc = {
        "__address__": "web.default.svc:80",
        "__meta_kubernetes_namespace": "default",
        "__meta_kubernetes_service_name": "web",
        "__meta_kubernetes_service_label_app": "web",
        "__meta_kubernetes_service_labelpresent_app": "true",
        "__meta_kubernetes_service_cluster_ip": "10.96.0.10",
        "__meta_kubernetes_service_port_name": "http",
        "__meta_kubernetes_service_port_number": "80",
        "__meta_kubernetes_service_port_protocol": "TCP",
        "__meta_kubernetes_service_type": "ClusterIP",
    }
    svc = disc(pg, "svc")
    got = meta(svc.get("web.default.svc:80", {}))
    t.check(got == want_svc, "service label set differs: got %r" % got)

    want_node = {
        "__address__": "127.3.0.1:10250",
        "instance": "node-1",
        "__meta_kubernetes_node_name": "node-1",
        "__meta_kubernetes_node_provider_id": "fake://node-1",
        "__meta_kubernetes_node_label_zone": "a",
        "__meta_kubernetes_node_labelpresent_zone": "true",
        "__meta_kubernetes_node_address_InternalIP": "127.3.0.1",
        "__meta_kubernetes_node_address_Hostname": "node-1",
    }
    nodes = disc(pg, "nodes")
    got = meta(nodes.get("127.3.0.1:10250", {}), extra=("__address__", "instance"))
    t.check(got == want_node, "node label set differs: got %r" % got)

    eps = disc(pg, "eps").get("127.1.0.1:8080", {})
    for k, v in {"__meta_kubernetes_endpoints_name": "web", "__meta_kubernetes_namespace": "default",
                 "__meta_kubernetes_endpoint_port_name": "http", "__meta_kubernetes_endpoint_ready": "true",
                 "__meta_kubernetes_endpoint_address_target_kind": "Pod",
                 "__meta_kubernetes_endpoint_address_target_name": "web-1",
                 "__meta_kubernetes_endpoint_node_name": "node-1",
                 "__meta_kubernetes_pod_name": "web-1", "__meta_kubernetes_pod_label_app": "web",
                 "__meta_kubernetes_service_name": "web"}.items():
        t.check(eps.get(k) == v, "endpoints target: %s=%r, want %r" % (k, eps.get(k), v))
    sl = disc(pg, "slices").get("127.1.0.1:8080", {})
    for k, v in {"__meta_kubernetes_endpointslice_name": "web-abc",
                 "__meta_kubernetes_endpointslice_address_target_name": "web-1",
                 "__meta_kubernetes_pod_name": "web-1", "__meta_kubernetes_service_name": "web"}.items():
        t.check(sl.get(k) == v, "endpointslice target: %s=%r, want %r" % (k, sl.get(k), v))
    ing = disc(pg, "ing").get("web.example.com", {})
    for k, v in {"__meta_kubernetes_ingress_name": "web", "__meta_kubernetes_ingress_path": "/app",
                 "__meta_kubernetes_ingress_scheme": "http",
                 "__meta_kubernetes_ingress_class_name": "nginx"}.items():
        t.check(ing.get(k) == v, "ingress target: %s=%r, want %r" % (k, ing.get(k), v))
    pm = disc(pg, "podsmeta").get("127.1.0.1:8080", {})
    for k, v in {"__meta_kubernetes_node_name": "node-1", "__meta_kubernetes_node_label_zone": "a",
                 "__meta_kubernetes_namespace_label_team": "core"}.items():
        t.check(pm.get(k) == v, "attach_metadata pod target: %s=%r, want %r" % (k, pm.get(k), v))


def test_selectors_and_token(t, e):
    t.check(addrs_are(e.pg, "sel", ["127.1.0.1:8080"]), "sel job: %r" % sorted(disc(e.pg, "sel")))
    reqs = [r for r in e.k.requests_for("pods") if r.path == "/api/v1/namespaces/default/pods"]
    lists = [r for r in reqs if not r.watch]
    watches = [r for r in reqs if r.watch]
    t.check(lists and watches, "no namespaced list/watch requests: %r" % reqs[:4])
    for r in lists + watches:
        t.check(r.query.get("fieldSelector") == "spec.nodeName=node-1" and r.query.get("labelSelector") == "app=web",
                "selectors missing on %r" % r)
    for r in watches:
        t.check(r.query.get("allowWatchBookmarks") == "true" and r.query.get("resourceVersion")
                and 300 <= int(r.query.get("timeoutSeconds", "0")) <= 600, "watch params: %r" % r)
    bad = [r for r in e.k.requests_for() if r.auth != "Bearer " + TOKEN]
    t.check(not bad, "requests without the bearer token: %r" % bad[:3])


def test_events_flow(t, e):
    pg, k = e.pg, e.k
    k.add("pods", fk.pod("web-3", ip="127.1.0.3", node="node-1", labels={"app": "web"}))
    t0 = time.monotonic()
    t.check(wait_until(lambda: "127.1.0.3:8080" in disc(pg, "pods") and "127.1.0.3:8080" in disc(pg, "sel"), WAIT),
            "added pod not discovered")
    pgtest.log("  add → target in %.2fs" % (time.monotonic() - t0))
    p = k.get("pods", "web-3")
    p["metadata"]["labels"]["version"] = "v2"
    k.modify("pods", p)
    t.check(wait_until(lambda: disc(pg, "pods").get("127.1.0.3:8080", {}).get(
        "__meta_kubernetes_pod_label_version") == "v2", WAIT), "modified label not seen")
    p["metadata"]["labels"]["app"] = "other"  # leaves the sel job's label selector
    k.modify("pods", p)
    t.check(wait_until(lambda: "127.1.0.3:8080" not in disc(pg, "sel"), WAIT), "pod leaving the selector stays")
    k.delete("pods", "web-3")
    t.check(wait_until(lambda: "127.1.0.3:8080" not in disc(pg, "pods"), WAIT), "deleted pod still a target")
    k.add("nodes", fk.node("node-3", ip="127.3.0.3"))
    t.check(wait_until(lambda: "127.3.0.3:10250" in disc(pg, "nodes"), WAIT), "added node not discovered")
    k.delete("nodes", "node-3")
    t.check(wait_until(lambda: "127.3.0.3:10250" not in disc(pg, "nodes"), WAIT), "deleted node stays")
    m = pg.metrics()
    t.check(pg.metric("profgate_sd_kubernetes_events_total", m, role="pod", event="delete") >= 1,
            "events metric not counted")


def test_dependents_reemitted(t, e):
    pg, k = e.pg, e.k
    p = k.get("pods", "web-2")
    p["metadata"]["labels"]["tier"] = "front"
    k.modify("pods", p)
    t.check(wait_until(lambda: disc(pg, "eps").get("127.1.0.2:8080", {}).get(
        "__meta_kubernetes_pod_label_tier") == "front", WAIT), "pod change not re-emitted in endpoints")
    t.check(wait_until(lambda: disc(pg, "slices").get("127.1.0.2:8080", {}).get(
        "__meta_kubernetes_pod_label_tier") == "front", WAIT), "pod change not re-emitted in endpointslice")
    s = k.get("services", "web")
    s["metadata"]["labels"]["owner"] = "team-a"
    k.modify("services", s)
    t.check(wait_until(lambda: all(d.get("__meta_kubernetes_service_label_owner") == "team-a"
                                   for d in disc(pg, "eps").values()) and len(disc(pg, "eps")) == 2, WAIT),
            "service change not re-emitted in endpoints")
    t.check(wait_until(lambda: all(d.get("__meta_kubernetes_service_label_owner") == "team-a"
                                   for d in disc(pg, "slices").values()), WAIT),
            "service change not re-emitted in endpointslices")
    n = k.get("nodes", "node-1")
    n["metadata"]["labels"]["zone"] = "c"
    k.modify("nodes", n)
    t.check(wait_until(lambda: disc(pg, "podsmeta").get("127.1.0.1:8080", {}).get(
        "__meta_kubernetes_node_label_zone") == "c", WAIT), "node change not re-emitted in attach_metadata pods")
    ns = k.get("namespaces", "default")
    ns["metadata"]["labels"]["team"] = "infra"
    k.modify("namespaces", ns)
    t.check(wait_until(lambda: disc(pg, "podsmeta").get("127.1.0.1:8080", {}).get(
        "__meta_kubernetes_namespace_label_team") == "infra", WAIT), "namespace change not re-emitted")


def test_dropped_connection(t, e):
    pg, k = e.pg, e.k
    before = pg.metric("profgate_sd_kubernetes_watch_restarts_total")
    k.drop_watches()
    k.add("pods", fk.pod("web-4", ip="127.1.0.4", node="node-2"))
    t.check(wait_until(lambda: "127.1.0.4:8080" in disc(pg, "pods"), WAIT), "pod added after a drop not seen")
    t.check(pg.metric("profgate_sd_kubernetes_watch_restarts_total") > before, "watch restarts not counted")
    # a slow stream still delivers
    k.slow_s = 0.3
    k.delete("pods", "web-4")
    t.check(wait_until(lambda: "127.1.0.4:8080" not in disc(pg, "pods"), WAIT), "slow stream: delete not seen")
    k.slow_s = 0.0
    # a watch ended cleanly (as after timeoutSeconds) is re-opened at once
    k.end_watches()
    k.add("pods", fk.pod("web-5", ip="127.1.0.5", node="node-2"))
    t.check(wait_until(lambda: "127.1.0.5:8080" in disc(pg, "pods"), WAIT), "pod added after a clean end not seen")
    k.delete("pods", "web-5")
    t.check(wait_until(lambda: "127.1.0.5:8080" not in disc(pg, "pods"), WAIT), "web-5 stays")


def test_410_relist(t, e):
    pg, k = e.pg, e.k
    lists_before = len(e.k.requests_for("pods", watch=False))
    for http_status in (False, True):
        k.http_410_watch = http_status
        # changes the watches will never see as events: compacted away before delivery
        with k.cv:
            k.slow_s = 0.0
        k.drop_watches()
        k.add("pods", fk.pod("gone-1", ip="127.1.0.6", node="node-1"))
        k.delete("pods", "web-2")
        k.compact()
        t.check(wait_until(lambda: "127.1.0.6:8080" in disc(pg, "pods") and "127.1.0.2:8080" not in disc(pg, "pods"),
                           WAIT + 4), "after 410 (http=%s): %r" % (http_status, sorted(disc(pg, "pods"))))
        # the endpoints object still lists the address; the vanished pod's labels go
        t.check(wait_until(lambda: "__meta_kubernetes_pod_name" not in disc(pg, "eps").get("127.1.0.2:8080", {"__meta_kubernetes_pod_name": 1}), WAIT),
                "endpoints still join the vanished pod")
        k.delete("pods", "gone-1")
        k.add("pods", fk.pod("web-2", ip="127.1.0.2", node="node-2", labels={"app": "web"}, host_ip="192.168.1.2"))
        t.check(wait_until(lambda: "127.1.0.6:8080" not in disc(pg, "pods") and "127.1.0.2:8080" in disc(pg, "pods"),
                           WAIT), "events after the relist not seen")
    k.http_410_watch = False
    t.check(len(e.k.requests_for("pods", watch=False)) > lists_before, "no relist happened")


def test_errors_keep_targets(t, e):
    pg, k = e.pg, e.k
    want = set(disc(pg, "pods"))
    fails = pg.metric("profgate_sd_refresh_failures_total", mechanism="kubernetes")
    k.fail_lists = 10 ** 6
    k.compact()  # every informer must relist, and every list fails
    t.check(wait_until(lambda: pg.metric("profgate_sd_refresh_failures_total", mechanism="kubernetes") > fails, WAIT),
            "failed lists not counted")
    time.sleep(1.5)  # give a wrong emit the chance to land; the targets must stay
    t.check(set(disc(pg, "pods")) == want, "targets changed during list failures: %r" % sorted(disc(pg, "pods")))
    k.add("pods", fk.pod("late-1", ip="127.1.0.7", node="node-1"))
    k.fail_lists = 0
    t.check(wait_until(lambda: "127.1.0.7:8080" in disc(pg, "pods"), 40), "no recovery after list failures")
    k.delete("pods", "late-1")
    t.check(wait_until(lambda: "127.1.0.7:8080" not in disc(pg, "pods"), WAIT), "late-1 stays")
    t.check(pg.metric("profgate_sd_refreshes_total", mechanism="kubernetes") > 0, "refreshes not counted")


def test_node_without_addresses_kept(t, e):
    """A node update without usable addresses builds no group: Prometheus sends nothing
    for it, so the node keeps its previous target instead of losing it."""
    pg, k = e.pg, e.k
    before = disc(pg, "nodes").get("127.3.0.2:10250")
    t.require(before, "node-2 not a target: %r" % sorted(disc(pg, "nodes")))
    n = k.get("nodes", "node-2")
    n["status"]["addresses"] = []
    k.modify("nodes", n)
    # a later event on the same watch: once it shows, the update before it was handled
    k.add("nodes", fk.node("node-5", ip="127.3.0.5"))
    t.check(wait_until(lambda: "127.3.0.5:10250" in disc(pg, "nodes"), WAIT), "node-5 not discovered")
    t.check(disc(pg, "nodes").get("127.3.0.2:10250") == before,
            "node-2 without addresses lost or changed its target: %r" % sorted(disc(pg, "nodes")))
    del n["status"]["addresses"]
    k.modify("nodes", n)
    k.delete("nodes", "node-5")
    t.check(wait_until(lambda: "127.3.0.5:10250" not in disc(pg, "nodes"), WAIT), "node-5 stays")
    t.check(disc(pg, "nodes").get("127.3.0.2:10250") == before, "node-2 without status.addresses lost its target")
    # usable addresses again: the group is rebuilt
    n = fk.node("node-2", ip="127.3.0.2", labels={"zone": "b", "back": "yes"})
    k.modify("nodes", n)
    t.check(wait_until(lambda: disc(pg, "nodes").get("127.3.0.2:10250", {}).get(
        "__meta_kubernetes_node_label_back") == "yes", WAIT), "node-2 update after the addresses returned not seen")


def test_clean_shutdown(t, e):
    t.stop_profgate(e.pg)


# ---- auth: in-cluster (HTTPS, service account, rotation) and kubeconfig -----------------

def make_cert(d):
    cert, key = os.path.join(d, "tls.crt"), os.path.join(d, "tls.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    return cert, key


def start_in_cluster(t, k, cert, namespace, config_obj, name, extra_env=None):
    """Starts profgate with in-cluster settings pointing at fake k (HTTPS with cert)."""
    sa = os.path.join(t.tmpdir, "sa-" + name)
    os.makedirs(sa)
    with open(os.path.join(sa, "ca.crt"), "w") as f:
        f.write(open(cert).read())
    with open(os.path.join(sa, "namespace"), "w") as f:
        f.write(namespace)
    with open(os.path.join(sa, "token"), "w") as f:
        f.write(k.token + "\n")
    env = {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(k.port),
           "PROFGATE_K8S_SA_DIR": sa}
    env.update(extra_env or {})
    saved = {v: os.environ.get(v) for v in env}
    os.environ.update(env)
    try:
        return sa, t.profgate(config_obj, name=name)
    finally:
        for v, val in saved.items():
            if val is None:
                os.environ.pop(v, None)
            else:
                os.environ[v] = val


def test_in_cluster_and_rotation(t, e):
    cert, key = make_cert(t.tmpdir)
    k = fk.FakeKube(token="tok-1").start(tls=(cert, key))
    t.defer(k.stop)
    k.add("pods", fk.pod("a-1", ns="team", ip="127.2.0.1"))
    k.add("pods", fk.pod("x-1", ns="elsewhere", ip="127.2.0.2"))
    sa, pg = start_in_cluster(t, k, cert, "team",
                              config(t.tmpdir, [kube_job("ic", {"role": "pod", "namespaces": {"own_namespace": True}})]),
                              "incluster")
    t.check(wait_until(lambda: addrs_are(pg, "ic", ["127.2.0.1:8080"]), 15),
            "in-cluster pods: %r" % sorted(disc(pg, "ic")))
    paths = {r.path for r in k.requests_for("pods")}
    t.check(paths == {"/api/v1/namespaces/team/pods"}, "own_namespace paths: %r" % paths)
    # rotate the token: the server accepts only the new one, the file changes
    time.sleep(0.05)
    with open(os.path.join(sa, "token.tmp"), "w") as f:
        f.write("tok-2-rotated\n")
    os.replace(os.path.join(sa, "token.tmp"), os.path.join(sa, "token"))
    k.token = "tok-2-rotated"
    k.drop_watches()
    k.add("pods", fk.pod("a-2", ns="team", ip="127.2.0.3"))
    t.check(wait_until(lambda: "127.2.0.3:8080" in disc(pg, "ic"), 15), "no recovery after token rotation")
    t.check(any(r.auth == "Bearer tok-2-rotated" for r in k.requests_for()), "rotated token never sent")
    t.stop_profgate(pg)


def test_kubeconfig(t, e):
    cert, key = make_cert(t.tmpdir)
    k = fk.FakeKube(token="kc-token").start(tls=(cert, key))
    t.defer(k.stop)
    k.add("services", fk.service("api", ns="prod"))
    ca = base64.b64encode(open(cert, "rb").read()).decode()
    kc = os.path.join(t.tmpdir, "kubeconfig")
    with open(kc, "w") as f:
        f.write("""apiVersion: v1
kind: Config
clusters:
- name: other
  cluster: {server: "https://127.0.0.1:1"}
- name: fake
  cluster:
    server: %s
    certificate-authority-data: %s
contexts:
- name: ctx
  context: {cluster: fake, user: me, namespace: prod}
current-context: ctx
users:
- name: me
  user:
    token: kc-token
""" % (k.url, ca))
    pg = t.profgate(config(t.tmpdir, [kube_job("kc", {"role": "service", "kubeconfig_file": kc})]), name="kubeconfig")
    t.check(wait_until(lambda: addrs_are(pg, "kc", ["api.prod.svc:80"]), 15), "kubeconfig services: %r" % sorted(disc(pg, "kc")))
    t.check(all(r.auth == "Bearer kc-token" for r in k.requests_for()), "kubeconfig token not sent")
    t.stop_profgate(pg)


def test_example_daemonset(t, e):
    """examples/kubernetes/profgate-daemonset.yml as shipped: in-cluster, spec.nodeName
    field selector from ${NODE_NAME}, Grafana's profiles.grafana.com annotations."""
    cert, key = make_cert(t.tmpdir)
    k = fk.FakeKube(token="sa-token").start(tls=(cert, key))
    t.defer(k.stop)
    two_ports = [{"name": "app", "image": "app:1", "ports": [
        {"name": "http", "containerPort": 8080, "protocol": "TCP"},
        {"name": "pprof", "containerPort": 6060, "protocol": "TCP"}]}]
    ann = {"profiles.grafana.com/cpu.scrape": "true", "profiles.grafana.com/cpu.port_name": "pprof",
           "profiles.grafana.com/memory.scrape": "true", "profiles.grafana.com/memory.port": "8080",
           "profiles.grafana.com/service_name": "shop"}
    k.add("pods", fk.pod("ann-1", ns="shop", ip="127.4.0.1", node="node-1", annotations=ann, containers=two_ports))
    k.add("pods", fk.pod("ann-2", ns="shop", ip="127.4.0.2", node="node-2", annotations=ann, containers=two_ports))
    k.add("pods", fk.pod("plain-1", ns="shop", ip="127.4.0.4", node="node-1", containers=two_ports))
    k.add("pods", fk.pod("bare-1", ns="shop", ip="127.4.0.3", node="node-1",
                         annotations={"profiles.grafana.com/goroutine.scrape": "true",
                                      "profiles.grafana.com/goroutine.port": "6060",
                                      "profiles.grafana.com/goroutine.path": "/internal/pprof/goroutine"},
                         containers=[{"name": "worker", "image": "w:1"}]))
    text = open(os.path.join(pgtest.SRC, "examples", "kubernetes", "profgate-daemonset.yml")).read()
    _, pg = start_in_cluster(t, k, cert, "profgate", text, "example", {"NODE_NAME": "node-1", "CLUSTER": "test"})

    def urls(job):
        return sorted(x["scrapeUrl"] for x in pg.active(pool=job))
    want = {"kubernetes-pods-cpu": ["http://127.4.0.1:6060/debug/pprof/profile?seconds=14"],
            "kubernetes-pods-memory": ["http://127.4.0.1:8080/debug/pprof/allocs"],
            "kubernetes-pods-goroutine": ["http://127.4.0.3:6060/internal/pprof/goroutine"],
            "kubernetes-pods-block": [], "kubernetes-pods-mutex": []}
    ok = wait_until(lambda: all(urls(j) == u for j, u in want.items()), 15)
    t.check(ok, "example targets: %r" % {j: urls(j) for j in want})
    cpu = pg.active(pool="kubernetes-pods-cpu")
    if cpu:
        lb = cpu[0]["labels"]
        for kk, v in {"service_name": "shop", "namespace": "shop", "pod": "ann-1", "container": "app",
                      "node": "node-1"}.items():
            t.check(lb.get(kk) == v, "example label %s=%r, want %r" % (kk, lb.get(kk), v))
    reqs = k.requests_for("pods")
    t.check(reqs and all(r.query.get("fieldSelector") == "spec.nodeName=node-1" for r in reqs),
            "field selector not sent: %r" % reqs[:2])
    t.stop_profgate(pg)


# ---- pagination and secrets -------------------------------------------------------------

def test_pagination_after_expired_continue(t, e):
    """An expired continue token relists unpaginated; when that list fails too (as one too
    large to read whole would), the retry pages again instead of failing forever."""
    k = fk.FakeKube(token=TOKEN).start()
    t.defer(k.stop)
    n_pods = 700  # two pages of 500
    for i in range(n_pods):
        k.add("pods", fk.pod("pg-%d" % i, ip="127.11.%d.%d" % (i // 250, i % 250 + 1)))
    k.expire_continue = 1
    k.fail_unpaginated = 1
    pg = t.profgate(config(t.tmpdir, [kube_job("paged", sd(k, "pod"))]), name="paged")
    t.check(wait_until(lambda: len(pg.active(pool="paged")) == n_pods, 30),
            "pods after an expired continue token: %d of %d" % (len(pg.active(pool="paged")), n_pods))
    lists = [r.query for r in k.requests_for("pods", watch=False)]
    # limit, continue (410), unpaginated (500), then paginated again: limit, continue
    unpaged = [i for i, q in enumerate(lists) if not q.get("limit")]
    t.check(len(unpaged) == 1, "unpaginated lists: %r" % lists)
    if unpaged:
        after = lists[unpaged[0] + 1:]
        t.check(after and after[0].get("limit") == "500" and not after[0].get("continue"),
                "the retry after the failed unpaginated list is not paginated: %r" % after[:2])
    t.stop_profgate(pg)


def test_secrets_redacted(t, e):
    """A password in api_server's userinfo never reaches the log: the start line and the
    error texts show bob:<secret>@, and quoted error values stay valid logfmt."""
    port = pgtest.free_port()
    d = {"role": "pod", "api_server": "http://bob:KubeSecret@127.0.0.1:%d" % port}
    pg = t.profgate(config(t.tmpdir, [kube_job("secret", d)]), name="secret")
    t.check(wait_until(lambda: "list failed" in pg.log_text(), 15), "no list failure logged:\n" + pg.log_tail())
    text = pg.log_text()
    t.check("KubeSecret" not in text, "the password is in the log:\n" + text)
    t.check("bob:<secret>@127.0.0.1:%d" % port in text, "no redacted URL in the log:\n" + text)
    for line in text.splitlines():
        if "list failed" in line:
            t.check(line.count('"') % 2 == 0 and "err=\"Get '" in line, "list failure line not logfmt: " + line)
    t.stop_profgate(pg)


# ---- scale ------------------------------------------------------------------------------

def test_scale_churn(t, e):
    n_pods = 5000
    seconds = float(os.environ.get("PG_KUBE_CHURN_SECONDS", "20"))
    rate = 50.0
    k = fk.FakeKube(token=TOKEN, bookmark_interval=5.0).start()
    t.defer(k.stop)
    ips = {}
    for i in range(n_pods):
        ip = "127.10.%d.%d" % (i // 250, i % 250 + 1)
        ips["p-%d" % i] = ip
        k.add("pods", fk.pod("p-%d" % i, ip=ip, node="node-%d" % (i % 50), labels={"app": "scale", "gen": "0"}))
    pg = t.profgate(config(t.tmpdir, [kube_job("scale", sd(k, "pod"), interval="1h")]), name="scale")
    t0 = time.monotonic()
    t.require(wait_until(lambda: len(pg.active(pool="scale")) == n_pods, 60),
              "initial %d pods not discovered (have %d)" % (n_pods, len(pg.active(pool="scale"))))
    pgtest.log("  %d pods discovered in %.1fs, RSS %d KiB" % (n_pods, time.monotonic() - t0, pg.rss_kib()))
    rss0 = pg.rss_kib()
    rng = random.Random(5)
    names = list(ips)
    extra = 0
    events = 0
    end = time.monotonic() + seconds
    peak = rss0
    next_tick = time.monotonic()
    while time.monotonic() < end:
        r = rng.random()
        if r < 0.6:  # label update
            name = rng.choice(names)
            p = k.get("pods", name)
            if p:
                p["metadata"]["labels"]["gen"] = str(events)
                k.modify("pods", p)
        elif r < 0.8:  # add
            name = "x-%d" % extra
            extra += 1
            k.add("pods", fk.pod(name, ip="127.200.%d.%d" % (extra // 250 % 250, extra % 250 + 1), node="node-1"))
            names.append(name)
        else:  # delete
            name = rng.choice(names)
            if k.delete("pods", name) is not None:
                names.remove(name)
        events += 1
        if events % 250 == 0:
            peak = max(peak, pg.rss_kib())
            if events % 1000 == 0:
                k.drop_watches()  # reconnects during churn, too
        next_tick += 1.0 / rate
        time.sleep(max(0.0, next_tick - time.monotonic()))
    with k.cv:
        truth = {o["metadata"]["name"]: o["metadata"]["labels"].get("gen") for o in k.objects["pods"].values()}

    def stale():
        have = {d["discoveredLabels"]["__meta_kubernetes_pod_name"]:
                d["discoveredLabels"].get("__meta_kubernetes_pod_label_gen") for d in pg.active(pool="scale")}
        return [n for n in set(truth) | set(have) if have.get(n) != truth.get(n)]

    t0 = time.monotonic()
    ok = wait_until(lambda: not stale(), 30, interval=0.5)
    rss = pg.rss_kib()
    pgtest.log("  churn: %d events in %.0fs; converged=%s in %.1fs to %d targets; RSS start %d KiB, peak %d, end %d"
               % (events, seconds, bool(ok), time.monotonic() - t0, len(truth), rss0, peak, rss))
    if not ok:
        bad = stale()
        t.check(False, "targets did not converge: %d of %d differ (missing, extra or stale labels), e.g. %r"
                % (len(bad), len(truth), bad[:3]))
    # bounded, generously: ASan's quarantine alone holds up to 256 MiB of freed memory; a
    # plain build stays flat (about 120 MiB for 5,000 pods)
    limit = rss0 * 2 + 400_000
    t.check(peak < limit and rss < limit, "RSS not bounded: start %d KiB, peak %d, end %d" % (rss0, peak, rss))
    t.stop_profgate(pg)


if __name__ == "__main__":
    sys.exit(pgtest.run_tests([
        test_labels_per_role,
        test_selectors_and_token,
        test_events_flow,
        test_dependents_reemitted,
        test_dropped_connection,
        test_410_relist,
        test_errors_keep_targets,
        test_node_without_addresses_kept,
        test_clean_shutdown,
        test_in_cluster_and_rotation,
        test_kubeconfig,
        test_example_daemonset,
        test_pagination_after_expired_continue,
        test_secrets_redacted,
        test_scale_churn,
    ], setup=setup))
