"""test_cluster_examples.py - the clustering examples find the right peers.

The `cluster.peers` block of each example (a discovery block plus relabel_configs) is cut
out of the shipped file as text and run as a scrape job's discovery, so the examples' own
rules are what is tested:
- examples/kubernetes/profgate-cluster.yml, in-cluster against the fake API server of
  fake_kube.py: exactly the pods behind the headless Service's port "http" in profgate's
  own namespace (not-ready ones too, not the pods' other ports, not another Service's
  endpoints, not another namespace), as <pod IP>:4100; an endpoints change adds and
  removes peers; the field selectors reach the API;
- examples/cluster_consul.yml against fake_consul.py: the passing instances of the
  service "profgate" only; a failing check removes an instance, a passing one restores it;
- examples/cluster_static.yml: the three local replicas.
Also: the Kubernetes manifests (cluster.yml) and the config agree on the names the peers'
discovery relies on (Service, port, POD_IP, ConfigMap, StatefulSet, HPA, RBAC)."""
import os
import re
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pgtest  # noqa: E402
from pgtest import wait_until  # noqa: E402
import fake_kube as fk  # noqa: E402
from fake_consul import FakeConsul  # noqa: E402
from test_kubernetes_sd import make_cert, start_in_cluster  # noqa: E402

EX = os.path.join(pgtest.SRC, "examples")
DEADLINE = 30  # seconds for a discovery change to reach /api/v1/targets (ASan, coalescing)


def read(*path):
    with open(os.path.join(EX, *path)) as f:
        return f.read()


def peers_block(text):
    """The lines under `cluster:` / `  peers:` of an example, dedented to a job's level
    (`kubernetes_sd_configs:` ... `relabel_configs:` ... at column 0)."""
    lines = text.splitlines(True)
    i = lines.index("cluster:\n")
    j = next((k for k in range(i + 1, len(lines)) if lines[k].strip() and not lines[k].startswith(" ")),
             len(lines))
    block = lines[i + 1:j]
    p = block.index("  peers:\n")
    out = []
    for ln in block[p + 1:]:
        if ln.strip() and not ln.startswith("    "):
            break  # the next key of cluster:
        out.append(ln[4:])
    return "".join(out)


def peers_config(tmpdir, text, edit=None):
    """A config whose one job ("peers") discovers with the example's peers block."""
    block = peers_block(text)
    if edit:
        block = edit(block)
    job = "".join("    " + ln if ln.strip() else ln for ln in block.splitlines(True))
    return ("global:\n  scrape_interval: 1h\n  scrape_timeout: 10s\n"
            "scrape_configs:\n  - job_name: peers\n" + job +
            "storage:\n  path: %s/data\n" % tmpdir)


def peer_addrs(pg):
    """The host:port of every active target of the peers job (its final __address__)."""
    return {urllib.parse.urlsplit(t["scrapeUrl"]).netloc for t in pg.active(pool="peers")}


# ---- Kubernetes ---------------------------------------------------------------------

PORTS = [{"name": "http", "containerPort": 4100, "protocol": "TCP"},
         {"name": "debug", "containerPort": 6060, "protocol": "TCP"}]


def replica_pod(name, ip, ns="profgate", app="profgate-cluster"):
    return fk.pod(name, ns=ns, ip=ip, labels={"app.kubernetes.io/name": app},
                  containers=[{"name": "profgate", "image": "profgate:1", "ports": PORTS}])


def endpoints(name, ready, not_ready=(), ns="profgate"):
    """ready/not_ready: lists of (ip, pod name)."""
    def addr(ip, pod):
        return {"ip": ip, "nodeName": "node-1",
                "targetRef": {"kind": "Pod", "name": pod, "namespace": ns}}
    subset = {"addresses": [addr(*a) for a in ready],
              "ports": [{"name": "http", "port": 4100, "protocol": "TCP"}]}
    if not_ready:
        subset["notReadyAddresses"] = [addr(*a) for a in not_ready]
    return {"metadata": {"name": name, "namespace": ns, "labels": {}}, "subsets": [subset]}


def test_kubernetes_peers(t):
    cert, key = make_cert(t.tmpdir)
    k = fk.FakeKube(token="sa-token", bookmark_interval=0.5).start(tls=(cert, key))
    t.defer(k.stop)
    svc_ports = [{"name": "http", "port": 4100, "protocol": "TCP", "targetPort": "http"}]
    k.add("services", fk.service("profgate-cluster", ns="profgate", cluster_ip="None", ports=svc_ports))
    for i in range(3):
        k.add("pods", replica_pod("profgate-cluster-%d" % i, "127.6.0.%d" % (i + 1)))
    k.add("endpoints", endpoints("profgate-cluster",
                                 ready=[("127.6.0.1", "profgate-cluster-0"), ("127.6.0.2", "profgate-cluster-1")],
                                 not_ready=[("127.6.0.3", "profgate-cluster-2")]))
    # another Service in the namespace, and the same names in another namespace
    k.add("services", fk.service("other", ns="profgate", ports=svc_ports))
    k.add("pods", replica_pod("other-0", "127.6.1.1", app="other"))
    k.add("endpoints", endpoints("other", ready=[("127.6.1.1", "other-0")]))
    k.add("services", fk.service("profgate-cluster", ns="shop", cluster_ip="None", ports=svc_ports))
    k.add("pods", replica_pod("profgate-cluster-0", "127.6.2.1", ns="shop"))
    k.add("endpoints", endpoints("profgate-cluster", ns="shop", ready=[("127.6.2.1", "profgate-cluster-0")]))

    cfg = peers_config(t.tmpdir, read("kubernetes", "profgate-cluster.yml"))
    _, pg = start_in_cluster(t, k, cert, "profgate", cfg, "kube-peers")
    want = {"127.6.0.1:4100", "127.6.0.2:4100", "127.6.0.3:4100"}
    t.check(wait_until(lambda: peer_addrs(pg) == want, DEADLINE),
            "peers %r, want %r" % (sorted(peer_addrs(pg)), sorted(want)))

    # a replica goes away, another one comes
    k.modify("endpoints", endpoints("profgate-cluster", ready=[("127.6.0.1", "profgate-cluster-0")],
                                    not_ready=[("127.6.0.3", "profgate-cluster-2")]))
    want = {"127.6.0.1:4100", "127.6.0.3:4100"}
    t.check(wait_until(lambda: peer_addrs(pg) == want, DEADLINE),
            "after a replica left: peers %r, want %r" % (sorted(peer_addrs(pg)), sorted(want)))
    k.add("pods", replica_pod("profgate-cluster-3", "127.6.0.4"))
    k.modify("endpoints", endpoints("profgate-cluster",
                                    ready=[("127.6.0.1", "profgate-cluster-0"), ("127.6.0.4", "profgate-cluster-3")],
                                    not_ready=[("127.6.0.3", "profgate-cluster-2")]))
    want = {"127.6.0.1:4100", "127.6.0.3:4100", "127.6.0.4:4100"}
    t.check(wait_until(lambda: peer_addrs(pg) == want, DEADLINE),
            "after a replica joined: peers %r, want %r" % (sorted(peer_addrs(pg)), sorted(want)))

    # the API server was asked for profgate's namespace and the Service's objects only
    for res, sel in (("endpoints", "fieldSelector=metadata.name=profgate-cluster"),
                     ("services", "fieldSelector=metadata.name=profgate-cluster"),
                     ("pods", "labelSelector=app.kubernetes.io/name=profgate-cluster")):
        reqs = k.requests_for(res)
        key, val = sel.split("=", 1)
        t.check(reqs and all(r.path == "/api/v1/namespaces/profgate/" + res and r.query.get(key) == val
                             for r in reqs),
                "%s requests: %r" % (res, [(r.path, r.query) for r in reqs[:3]]))
    t.stop_profgate(pg)


# ---- Consul -------------------------------------------------------------------------

def test_consul_peers(t):
    fc = FakeConsul().start()
    t.defer(fc.stop)
    for i in range(1, 4):
        fc.add_instance("profgate", "profgate-%d" % i, "host-%d" % i, 4100, address="127.7.0.%d" % i,
                        node_address="127.7.0.%d" % i)
    fc.add_instance("profgate", "profgate-4", "host-4", 4100, address="127.7.0.4",
                    node_address="127.7.0.4", checks=["critical"])
    fc.add_instance("api", "api-1", "host-1", 8080, address="127.7.0.1", tags=["pprof"])

    text = read("cluster_consul.yml")
    t.require("server: 127.0.0.1:8500" in peers_block(text), "the Consul example's peers name the local agent")
    cfg = peers_config(t.tmpdir, text,
                       edit=lambda b: b.replace("server: 127.0.0.1:8500", "server: " + fc.address)
                                       .replace("refresh_interval: 5s", "refresh_interval: 1s"))
    pg = t.profgate(cfg, name="consul-peers")
    want = {"127.7.0.1:4100", "127.7.0.2:4100", "127.7.0.3:4100"}
    t.check(wait_until(lambda: peer_addrs(pg) == want, DEADLINE),
            "peers %r, want the passing ones %r" % (sorted(peer_addrs(pg)), sorted(want)))
    fc.set_health("profgate-2", "critical")
    want = {"127.7.0.1:4100", "127.7.0.3:4100"}
    t.check(wait_until(lambda: peer_addrs(pg) == want, DEADLINE),
            "after a failing check: peers %r, want %r" % (sorted(peer_addrs(pg)), sorted(want)))
    fc.set_health("profgate-2", "passing")
    fc.set_health("profgate-4", "passing")
    want = {"127.7.0.1:4100", "127.7.0.2:4100", "127.7.0.3:4100", "127.7.0.4:4100"}
    t.check(wait_until(lambda: peer_addrs(pg) == want, DEADLINE),
            "after passing checks: peers %r, want %r" % (sorted(peer_addrs(pg)), sorted(want)))
    t.check(fc.count("/v1/health/service/profgate") > 0, "no health query for the service profgate")
    t.stop_profgate(pg)


# ---- static -------------------------------------------------------------------------

def test_static_peers(t):
    pg = t.profgate(peers_config(t.tmpdir, read("cluster_static.yml")), name="static-peers")
    want = {"127.0.0.1:4101", "127.0.0.1:4102", "127.0.0.1:4103"}
    t.check(wait_until(lambda: peer_addrs(pg) == want, DEADLINE),
            "peers %r, want %r" % (sorted(peer_addrs(pg)), sorted(want)))
    t.stop_profgate(pg)


# ---- the manifests and the config agree ---------------------------------------------

def documents(text):
    """{(kind, metadata.name): document text} of a multi-document manifest."""
    out = {}
    for doc in re.split(r"^---\s*$", text, flags=re.M):
        kind = re.search(r"^kind:\s*(\S+)", doc, re.M)
        name = re.search(r"^metadata:\s*\n(?:  .*\n)*?  name:\s*(\S+)", doc, re.M)
        if kind and name:
            out[(kind.group(1), name.group(1))] = doc
    return out


def test_manifests_match_config(t):
    man, cfg = read("kubernetes", "cluster.yml"), read("kubernetes", "profgate-cluster.yml")
    docs = documents(man)
    svc = docs.get(("Service", "profgate-cluster"), "")
    sts = docs.get(("StatefulSet", "profgate-cluster"), "")
    hpa = docs.get(("HorizontalPodAutoscaler", "profgate-cluster"), "")
    role = docs.get(("Role", "profgate-cluster-peers"), "")
    t.require(svc and sts and hpa and role, "documents found: %r" % sorted(docs))
    block = peers_block(cfg)
    # peers: the Service's name and port name, in profgate's own namespace
    t.check("regex: profgate-cluster;http" in block, "peers keep rule does not name profgate-cluster;http")
    t.check("own_namespace: true" in block, "peers do not use own_namespace")
    t.check(re.search(r"clusterIP:\s*None", svc), "the Service is not headless")
    t.check(re.search(r"\{name: http, port: 4100", svc), "the Service has no port http 4100")
    t.check(re.search(r"serviceName:\s*profgate-cluster", sts), "StatefulSet serviceName")
    t.check(re.search(r"\{name: http, containerPort: 4100\}", sts), "container port http 4100")
    # advertise_address is the pod IP and that port, as the peers' __address__
    t.check(re.search(r"^  advertise_address: \$\{POD_IP\}:4100$", cfg, re.M), "advertise_address")
    t.check(re.search(r"name: POD_IP.*\n\s*valueFrom: \{fieldRef: \{fieldPath: status\.podIP\}\}", sts),
            "POD_IP from status.podIP")
    t.check(re.search(r"httpGet: \{path: /-/ready, port: http\}", sts), "readiness probe on /-/ready")
    # the ConfigMap the StatefulSet mounts is the one the header creates
    t.check(re.search(r"configMap: \{name: profgate-cluster\}", sts) and
            "create configmap profgate-cluster \\\n#     --from-file=profgate.yml=examples/kubernetes/profgate-cluster.yml"
            in man, "ConfigMap name and creation")
    t.check(re.search(r"kind: StatefulSet\n\s*name: profgate-cluster", hpa), "HPA scaleTargetRef")
    t.check(not re.search(r"^  replicas:", sts, re.M), "the StatefulSet fixes replicas next to an HPA")
    t.check(re.search(r"resources: \[endpoints, services, pods\]", role), "peers Role resources")
    t.check(re.search(r"serviceAccountName: profgate-cluster", sts), "service account")


if __name__ == "__main__":
    sys.exit(pgtest.run_tests([test_kubernetes_peers, test_consul_peers, test_static_peers,
                               test_manifests_match_config]))
