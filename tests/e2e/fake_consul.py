"""fake_consul.py - a fake Consul agent for profgate's consul_sd tests.

Not a test itself (CTest runs only test_*.py). A Python 3 standard-library
ThreadingHTTPServer on 127.0.0.1 serving the read endpoints Prometheus's (and profgate's)
Consul discovery uses, with real-shaped JSON:

- GET /v1/agent/self                  {"Config": {"Datacenter": ..., ...}, "Member": ...}
- GET /v1/catalog/services            {"<service>": [tags...]}
- GET /v1/health/service/<name>       [{"Node": {...}, "Service": {...}, "Checks": [...]}]

Blocking queries as Consul does them: every answer carries X-Consul-Index (the index of
the catalog, or of the one service); a request with ?index=N is held until that index is
greater than N or ?wait= (Go duration, default 5m, at most 10m) expires. Query filters:
tag= (repeated, every tag must be present), node-meta=key:value (repeated), dc= (another
datacenter answers 500 "No path to datacenter"); stale and filter are accepted and
recorded (filter expressions are not evaluated). With a token set, a request without the
matching X-Consul-Token header gets 403 "ACL not found".

Control: Python methods (add_instance, remove_instance, set_health, ...) when imported,
and the real write endpoints PUT /v1/catalog/register and PUT /v1/catalog/deregister
(same JSON bodies as Consul's) when run as a program:
    python3 fake_consul.py --port 8500 [--token T] [--datacenter dc1]
Every change bumps the Raft-like index and wakes the blocked queries it concerns.
Every request is logged in .requests as (method, path, query dict, headers dict)."""
import argparse
import json
import re
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_DUR = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNIT = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(s):
    """Go's time.ParseDuration for the forms clients send ("120000ms", "2m", "1m30s")."""
    if not s:
        return None
    total, pos = 0.0, 0
    for m in _DUR.finditer(s):
        if m.start() != pos:
            raise ValueError("bad duration %r" % s)
        total += float(m.group(1)) * _UNIT[m.group(2)]
        pos = m.end()
    if pos != len(s):
        raise ValueError("bad duration %r" % s)
    return total


class FakeConsul:
    def __init__(self, token=None, datacenter="dc1"):
        self.token = token
        self.datacenter = datacenter
        self.cond = threading.Condition()
        self.raft_index = 100
        self.catalog_index = 100
        self.service_index = {}     # service name -> index of its last change
        self.nodes = {}             # node name -> {"Address", "Meta", "TaggedAddresses", "ID"}
        self.instances = {}         # (node, service id) -> instance dict
        self.requests = []
        self.closing = False
        self.httpd = None
        self.thread = None
        self.port = None

    # -- state -------------------------------------------------------------------------

    def _bump(self, services, catalog=True):
        """Caller holds self.cond."""
        self.raft_index += 1
        if catalog:
            self.catalog_index = self.raft_index
        for s in services:
            self.service_index[s] = self.raft_index
        self.cond.notify_all()

    def add_node(self, node, address, meta=None, tagged_addresses=None):
        with self.cond:
            self.nodes[node] = {
                "ID": "%08x-0000-0000-0000-%012x" % (abs(hash(node)) & 0xffffffff, len(self.nodes)),
                "Address": address, "Meta": dict(meta or {}),
                "TaggedAddresses": dict(tagged_addresses or {"lan": address, "wan": address}),
            }
            self._bump([i["Service"] for (n, _), i in self.instances.items() if n == node])

    def add_instance(self, service, service_id, node, port, address="", tags=(), meta=None,
                     checks=("passing",), namespace=None, partition=None, node_address=None):
        """Registers an instance of service on node (created with node_address, default
        127.0.0.1, when unknown). checks: the service check statuses (the node's
        serfHealth check is always passing)."""
        with self.cond:
            if node not in self.nodes:
                self.nodes[node] = {"ID": "%08x-0000-0000-0000-000000000000" % len(self.nodes),
                                    "Address": node_address or "127.0.0.1", "Meta": {},
                                    "TaggedAddresses": {"lan": node_address or "127.0.0.1",
                                                        "wan": node_address or "127.0.0.1"}}
            inst = {"ID": service_id, "Service": service, "Tags": list(tags), "Address": address,
                    "Port": int(port), "Meta": dict(meta or {}), "Checks": list(checks),
                    "CreateIndex": self.raft_index + 1}
            if namespace is not None:
                inst["Namespace"] = namespace
            if partition is not None:
                inst["Partition"] = partition
            self.instances[(node, service_id)] = inst
            self._bump([service])

    def remove_instance(self, service_id, node=None):
        with self.cond:
            keys = [k for k in self.instances if k[1] == service_id and (node is None or k[0] == node)]
            services = {self.instances[k]["Service"] for k in keys}
            for k in keys:
                del self.instances[k]
            self._bump(services)

    def set_health(self, service_id, *statuses):
        """Replaces the service check statuses of an instance (health only: the catalog
        index does not move, as in Consul)."""
        with self.cond:
            services = set()
            for (n, sid), inst in self.instances.items():
                if sid == service_id:
                    inst["Checks"] = list(statuses)
                    services.add(inst["Service"])
            self._bump(services, catalog=False)

    def services(self, node_meta=()):
        out = {}
        for (node, _), inst in self.instances.items():
            if not self._node_ok(node, node_meta):
                continue
            tags = out.setdefault(inst["Service"], [])
            for t in inst["Tags"]:
                if t not in tags:
                    tags.append(t)
        return {k: sorted(v) for k, v in sorted(out.items())}

    def _node_ok(self, node, node_meta):
        meta = self.nodes[node]["Meta"]
        return all(meta.get(k) == v for k, v in node_meta)

    def health(self, service, tags=(), node_meta=()):
        out = []
        for (node, sid), inst in sorted(self.instances.items()):
            if inst["Service"] != service or not self._node_ok(node, node_meta):
                continue
            if any(t not in inst["Tags"] for t in tags):
                continue
            n = self.nodes[node]
            svc = {k: inst[k] for k in ("ID", "Service", "Tags", "Address", "Meta", "Port")}
            svc.update({"TaggedAddresses": {}, "Weights": {"Passing": 1, "Warning": 1},
                        "EnableTagOverride": False, "Proxy": {}, "Connect": {},
                        "CreateIndex": inst["CreateIndex"], "ModifyIndex": inst["CreateIndex"]})
            for k in ("Namespace", "Partition"):
                if k in inst:
                    svc[k] = inst[k]
            checks = [{"Node": node, "CheckID": "serfHealth", "Name": "Serf Health Status",
                       "Status": "passing", "Notes": "", "Output": "Agent alive and reachable",
                       "ServiceID": "", "ServiceName": "", "ServiceTags": [], "Type": "",
                       "CreateIndex": 1, "ModifyIndex": 1}]
            for i, st in enumerate(inst["Checks"]):
                cid = st if st.startswith("_") else "service:%s%s" % (sid, ":%d" % (i + 1) if i else "")
                status = "critical" if st.startswith("_") else st
                checks.append({"Node": node, "CheckID": cid, "Name": "Service check",
                               "Status": status, "Notes": "", "Output": "",
                               "ServiceID": sid, "ServiceName": service,
                               "ServiceTags": inst["Tags"], "Type": "http",
                               "CreateIndex": inst["CreateIndex"], "ModifyIndex": inst["CreateIndex"]})
            out.append({
                "Node": {"ID": n["ID"], "Node": node, "Address": n["Address"],
                         "Datacenter": self.datacenter, "TaggedAddresses": n["TaggedAddresses"],
                         "Meta": n["Meta"], "CreateIndex": 5, "ModifyIndex": 5},
                "Service": svc, "Checks": checks})
        return out

    # -- server ------------------------------------------------------------------------

    def start(self, port=0):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt, *args):
                pass

            def do_GET(self):
                fake._handle(self, "GET")

            def do_PUT(self):
                fake._handle(self, "PUT")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        return self

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def stop(self):
        with self.cond:
            self.closing = True
            self.cond.notify_all()
        if self.httpd:
            self.httpd.shutdown()
            self.httpd.server_close()

    def count(self, path_prefix, **query):
        """Number of logged requests whose path starts with path_prefix and whose query has
        every given key=value."""
        n = 0
        for _, path, q, _ in list(self.requests):
            if path.startswith(path_prefix) and all(q.get(k) == [v] for k, v in query.items()):
                n += 1
        return n

    def _reply(self, h, code, body, index=None, ctype="application/json"):
        data = body if isinstance(body, bytes) else (
            json.dumps(body).encode() if ctype == "application/json" else body.encode())
        try:
            h.send_response(code)
            h.send_header("Content-Type", ctype)
            h.send_header("Content-Length", str(len(data)))
            if index is not None:
                h.send_header("X-Consul-Index", str(index))
                h.send_header("X-Consul-Knownleader", "true")
                h.send_header("X-Consul-Lastcontact", "0")
            h.end_headers()
            h.wfile.write(data)
        except OSError:
            pass  # the client went away (cancelled query)

    def _handle(self, h, method):
        u = urllib.parse.urlsplit(h.path)
        q = urllib.parse.parse_qs(u.query, keep_blank_values=True)
        self.requests.append((method, u.path, q, {k.lower(): v for k, v in h.headers.items()}))
        body = b""
        if h.headers.get("Content-Length"):
            body = h.rfile.read(int(h.headers["Content-Length"]))
        if self.token is not None and h.headers.get("X-Consul-Token") != self.token:
            return self._reply(h, 403, "ACL not found", ctype="text/plain; charset=utf-8")
        dc = q.get("dc", [self.datacenter])[0]
        if dc != self.datacenter:
            return self._reply(h, 500, "No path to datacenter", ctype="text/plain; charset=utf-8")
        try:
            want = int(q.get("index", ["0"])[0] or 0)
            wait = parse_duration(q.get("wait", [""])[0])
        except ValueError as e:
            return self._reply(h, 400, str(e), ctype="text/plain; charset=utf-8")
        wait = min(wait if wait is not None else 300.0, 600.0)
        node_meta = [tuple(v.split(":", 1)) for v in q.get("node-meta", []) if ":" in v]
        path = u.path
        if method == "PUT":
            return self._write(h, path, body)
        if path == "/v1/agent/self":
            return self._reply(h, 200, {
                "Config": {"Datacenter": self.datacenter, "NodeName": "fake-agent",
                           "NodeID": "00000000-0000-0000-0000-000000000001", "Revision": "fake",
                           "Server": True, "Version": "1.15.0", "PrimaryDatacenter": self.datacenter},
                "Member": {"Name": "fake-agent", "Addr": "127.0.0.1", "Port": 8301},
                "Meta": {"consul-network-segment": ""}})
        if path == "/v1/catalog/services":
            def index():
                return self.catalog_index
            produce = lambda: self.services(node_meta)  # noqa: E731
        elif path.startswith("/v1/health/service/"):
            service = urllib.parse.unquote(path[len("/v1/health/service/"):])
            tags = q.get("tag", [])

            def index():
                return self.service_index.get(service, self.catalog_index)
            produce = lambda: self.health(service, tags, node_meta)  # noqa: E731
        else:
            return self._reply(h, 404, "Invalid URL path: not a recognized HTTP API endpoint",
                               ctype="text/plain; charset=utf-8")
        with self.cond:
            if want > 0:
                self.cond.wait_for(lambda: self.closing or index() > want, timeout=wait)
            if self.closing:
                return
            idx, result = index(), produce()
        self._reply(h, 200, result, index=idx)

    def _write(self, h, path, body):
        try:
            doc = json.loads(body or b"{}")
        except ValueError:
            return self._reply(h, 400, "bad JSON", ctype="text/plain")
        if path == "/v1/catalog/register":
            node = doc["Node"]
            self.add_node(node, doc.get("Address", "127.0.0.1"), doc.get("NodeMeta"),
                          doc.get("TaggedAddresses"))
            s = doc.get("Service")
            if s:
                statuses = [c.get("Status", "passing") for c in doc.get("Checks", [])
                            if c.get("ServiceID")] or ["passing"]
                self.add_instance(s["Service"], s.get("ID", s["Service"]), node, s.get("Port", 0),
                                  s.get("Address", ""), s.get("Tags", []), s.get("Meta"), statuses)
            return self._reply(h, 200, True, index=self.raft_index)
        if path == "/v1/catalog/deregister":
            if doc.get("ServiceID"):
                self.remove_instance(doc["ServiceID"], doc.get("Node"))
            return self._reply(h, 200, True, index=self.raft_index)
        return self._reply(h, 405, "method not allowed", ctype="text/plain")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=8500)
    ap.add_argument("--token")
    ap.add_argument("--datacenter", default="dc1")
    a = ap.parse_args()
    fc = FakeConsul(a.token, a.datacenter).start(a.port)
    print("fake consul on %s" % fc.address, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        fc.stop()


if __name__ == "__main__":
    main()
