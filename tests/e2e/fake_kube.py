"""fake_kube.py - a fake Kubernetes API server for profgate's kubernetes_sd tests.

Not a test itself (CTest runs only test_*.py). FakeKube is a ThreadingHTTPServer on
127.0.0.1 that answers the requests a client-go reflector makes, in the real API's shapes:

- LIST  GET /api/v1/pods, /api/v1/namespaces/<ns>/pods, /apis/discovery.k8s.io/v1/...,
  /apis/networking.k8s.io/v1/..., /api/v1/nodes, /api/v1/namespaces → {"kind":"PodList",
  "apiVersion":"v1","metadata":{"resourceVersion":"N"[,"continue":"..."]},"items":[...]},
  with labelSelector (k=v, k==v, k!=v, k, !k) and fieldSelector (dotted paths, = == !=),
  limit/continue pagination (an expired continue token answers 410);
- WATCH ?watch=1&resourceVersion=N&allowWatchBookmarks=true&timeoutSeconds=S → a chunked
  stream of newline-delimited {"type":"ADDED|MODIFIED|DELETED","object":{...}} events after
  N (replayed from the history, then live), BOOKMARK events every bookmark_interval
  seconds, selector transitions as the API does them (an object leaving the selection is
  DELETED, entering it ADDED), the stream ends after timeoutSeconds; when N is older than
  the compacted history the stream carries one ERROR event with a 410 Status (as the API
  does), or, with http_410_watch, the request is answered with HTTP 410;
- one global resourceVersion counter; every object change gets the next one;
- bearer token check (401 Status when the Authorization header is wrong); HTTPS with a
  given certificate;
- faults: drop_watches() cuts every open watch mid-stream (no terminating chunk),
  end_watches() ends them cleanly, slow_s delays each event, fail_lists=N answers the
  next N lists with 500, expire_continue=N answers the next N continue requests with 410
  (as after compaction), fail_unpaginated=N answers the next N lists without a limit
  with 500 (as a list too large to read whole);
- a request log (path, query, whether it was a watch, Authorization header).

The control interface is this module: the test imports it and calls add/modify/delete,
compact (forces 410 on older resourceVersions) and the fault switches. Standard library
only; `python3 fake_kube.py PORT` serves an empty cluster for manual poking."""
import base64
import bisect
import copy
import http.server
import json
import socket
import sys
import threading
import time
import urllib.parse

# resource -> (prefix, kind, apiVersion, namespaced)
RESOURCES = {
    "pods": ("/api/v1", "Pod", "v1", True),
    "services": ("/api/v1", "Service", "v1", True),
    "endpoints": ("/api/v1", "Endpoints", "v1", True),
    "endpointslices": ("/apis/discovery.k8s.io/v1", "EndpointSlice", "discovery.k8s.io/v1", True),
    "nodes": ("/api/v1", "Node", "v1", False),
    "ingresses": ("/apis/networking.k8s.io/v1", "Ingress", "networking.k8s.io/v1", True),
    "namespaces": ("/api/v1", "Namespace", "v1", False),
}


def status_obj(code, reason, message):
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}


def _field(obj, path):
    cur = obj
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return ""
        cur = cur[part]
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return "" if cur is None else str(cur)


def parse_selector(s):
    """'a=b,c!=d,e,!f' → list of (key, op, value); op in =, !=, exists, !exists."""
    out = []
    for term in (s or "").split(","):
        term = term.strip()
        if not term:
            continue
        if "!=" in term:
            k, v = term.split("!=", 1)
            out.append((k.strip(), "!=", v.strip()))
        elif "==" in term:
            k, v = term.split("==", 1)
            out.append((k.strip(), "=", v.strip()))
        elif "=" in term:
            k, v = term.split("=", 1)
            out.append((k.strip(), "=", v.strip()))
        elif term.startswith("!"):
            out.append((term[1:].strip(), "!exists", ""))
        else:
            out.append((term, "exists", ""))
    return out


def label_match(obj, sel):
    labels = (obj.get("metadata") or {}).get("labels") or {}
    for k, op, v in sel:
        if op == "=" and labels.get(k) != v:
            return False
        if op == "!=" and labels.get(k) == v:
            return False
        if op == "exists" and k not in labels:
            return False
        if op == "!exists" and k in labels:
            return False
    return True


def field_match(obj, sel):
    for k, op, v in sel:
        have = _field(obj, k)
        if op == "=" and have != v:
            return False
        if op == "!=" and have == v:
            return False
    return True


class Req:
    def __init__(self, method, path, query, watch, auth):
        self.method, self.path, self.query, self.watch, self.auth = method, path, query, watch, auth

    def __repr__(self):
        return "Req(%s %s %r watch=%s)" % (self.method, self.path, self.query, self.watch)


class FakeKube:
    def __init__(self, token=None, bookmark_interval=1.0, max_history=200000):
        self.token = token
        self.bookmark_interval = bookmark_interval
        self.max_history = max_history
        self.cv = threading.Condition()
        self.rv = 100
        self.objects = {r: {} for r in RESOURCES}  # resource -> {(ns, name): obj}
        self.hist_rv = []  # rvs of history entries (ascending)
        self.hist = []     # (rv, resource, type, old, new)
        self.compacted = 0  # watches/continues from an rv below this get 410
        self.requests = []
        self.fail_lists = 0
        self.expire_continue = 0
        self.fail_unpaginated = 0
        self.slow_s = 0.0
        self.http_410_watch = False
        self.gen_drop = 0  # bumped by drop_watches
        self.gen_end = 0   # bumped by end_watches
        self.open_watches = 0
        self.server = None
        self.thread = None

    # ---- lifecycle -------------------------------------------------------------------

    def start(self, port=0, tls=None):
        """Serves on 127.0.0.1:port (0 = any); tls=(certfile, keyfile) serves HTTPS."""
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                fake._handle(self)

        class Server(http.server.ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                pass  # clients cutting connections (reconnects, shutdown) are expected

        self.server = Server(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.scheme = "http"
        if tls:
            import ssl
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(tls[0], tls[1])
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
            self.scheme = "https"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    @property
    def port(self):
        return self.server.server_address[1]

    @property
    def url(self):
        return "%s://127.0.0.1:%d" % (self.scheme, self.port)

    def stop(self):
        if self.server:
            self.drop_watches()
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    # ---- control ---------------------------------------------------------------------

    def _bump(self, resource, typ, old, new):
        """Records one change (lock held)."""
        self.hist_rv.append(self.rv)
        self.hist.append((self.rv, resource, typ, old, new))
        if len(self.hist) > self.max_history:
            drop = len(self.hist) - self.max_history
            self.compacted = self.hist[drop - 1][0] + 1
            del self.hist[:drop]
            del self.hist_rv[:drop]
        self.cv.notify_all()

    def _prepare(self, resource, obj):
        prefix, kind, api, namespaced = RESOURCES[resource]
        o = copy.deepcopy(obj)
        o.setdefault("kind", kind)
        o.setdefault("apiVersion", api)
        md = o.setdefault("metadata", {})
        if namespaced:
            md.setdefault("namespace", "default")
        else:
            md.pop("namespace", None)
        md.setdefault("uid", "uid-%s-%s-%s" % (resource, md.get("namespace", ""), md["name"]))
        md.setdefault("creationTimestamp", "2024-01-01T00:00:00Z")
        return o

    def put(self, resource, obj):
        """Adds or replaces obj; returns its new resourceVersion."""
        o = self._prepare(resource, obj)
        md = o["metadata"]
        key = (md.get("namespace", ""), md["name"])
        with self.cv:
            self.rv += 1
            md["resourceVersion"] = str(self.rv)
            old = self.objects[resource].get(key)
            self.objects[resource][key] = o
            self._bump(resource, "MODIFIED" if old else "ADDED", old, o)
            return self.rv

    add = put
    modify = put

    def delete(self, resource, name, namespace="default"):
        ns = namespace if RESOURCES[resource][3] else ""
        with self.cv:
            old = self.objects[resource].pop((ns, name), None)
            if old is None:
                return None
            self.rv += 1
            gone = copy.deepcopy(old)
            gone["metadata"]["resourceVersion"] = str(self.rv)
            self._bump(resource, "DELETED", old, gone)
            return self.rv

    def get(self, resource, name, namespace="default"):
        ns = namespace if RESOURCES[resource][3] else ""
        with self.cv:
            o = self.objects[resource].get((ns, name))
            return copy.deepcopy(o) if o else None

    def compact(self):
        """Forgets the history: any resourceVersion older than now gets 410."""
        with self.cv:
            self.rv += 1
            self.compacted = self.rv
            self.hist, self.hist_rv = [], []
            self.cv.notify_all()

    def drop_watches(self):
        """Cuts every open watch connection without ending the chunked body."""
        with self.cv:
            self.gen_drop += 1
            self.cv.notify_all()

    def end_watches(self):
        """Ends every open watch cleanly (as timeoutSeconds would)."""
        with self.cv:
            self.gen_end += 1
            self.cv.notify_all()

    def requests_for(self, resource=None, watch=None):
        with self.cv:
            return [r for r in self.requests
                    if (resource is None or r.path.endswith("/" + resource))
                    and (watch is None or r.watch == watch)]

    # ---- HTTP ------------------------------------------------------------------------

    def _send_json(self, h, code, obj):
        body = json.dumps(obj).encode()
        h.send_response(code)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    @staticmethod
    def _route(path):
        """→ (resource, namespace or None) or None."""
        for prefix in ("/api/v1", "/apis/discovery.k8s.io/v1", "/apis/networking.k8s.io/v1"):
            if not path.startswith(prefix + "/"):
                continue
            parts = path[len(prefix) + 1:].split("/")
            if len(parts) == 1:
                res, ns = parts[0], None
            elif len(parts) == 3 and parts[0] == "namespaces":
                res, ns = parts[2], parts[1]
            else:
                return None
            if res in RESOURCES and RESOURCES[res][0] == prefix and (ns is None or RESOURCES[res][3]):
                return res, ns
        return None

    def _handle(self, h):
        u = urllib.parse.urlsplit(h.path)
        q = {k: v[-1] for k, v in urllib.parse.parse_qs(u.query, keep_blank_values=True).items()}
        watch = q.get("watch") in ("1", "true")
        auth = h.headers.get("Authorization")
        with self.cv:
            self.requests.append(Req("GET", u.path, q, watch, auth))
        if self.token is not None and auth != "Bearer " + self.token:
            self._send_json(h, 401, status_obj(401, "Unauthorized", "Unauthorized"))
            return
        route = self._route(u.path)
        if route is None:
            self._send_json(h, 404, status_obj(404, "NotFound", "the server could not find the requested resource"))
            return
        res, ns = route
        lsel = parse_selector(q.get("labelSelector"))
        fsel = parse_selector(q.get("fieldSelector"))

        def match(o):
            if o is None:
                return False
            if ns is not None and o["metadata"].get("namespace") != ns:
                return False
            return label_match(o, lsel) and field_match(o, fsel)

        if watch:
            self._watch(h, res, match, q)
        else:
            self._list(h, res, match, q)

    def _list(self, h, res, match, q):
        prefix, kind, api, _ = RESOURCES[res]
        with self.cv:
            fail = expire = False
            if self.fail_lists > 0:
                self.fail_lists -= 1
                fail = True
            elif self.fail_unpaginated > 0 and not q.get("limit"):
                self.fail_unpaginated -= 1
                fail = True
            elif self.expire_continue > 0 and q.get("continue"):
                self.expire_continue -= 1
                expire = True
            items = sorted((k, copy.deepcopy(o)) for k, o in self.objects[res].items() if match(o))
            rv = self.rv
            compacted = self.compacted
        if fail:
            self._send_json(h, 500, status_obj(500, "InternalError", "injected failure"))
            return
        if expire:
            self._send_json(h, 410, status_obj(410, "Expired", "The provided continue parameter is too old"))
            return
        offset = 0
        cont = q.get("continue")
        if cont:
            try:
                tok = json.loads(base64.b64decode(cont))
                offset, rv = int(tok["offset"]), int(tok["rv"])
            except Exception:  # noqa: BLE001
                self._send_json(h, 400, status_obj(400, "BadRequest", "invalid continue token"))
                return
            if rv < compacted:
                self._send_json(h, 410, status_obj(410, "Expired", "The provided continue parameter is too old"))
                return
        limit = int(q.get("limit") or 0)
        page = items[offset:offset + limit] if limit > 0 else items[offset:]
        md = {"resourceVersion": str(rv)}
        if limit > 0 and offset + limit < len(items):
            md["continue"] = base64.b64encode(json.dumps({"offset": offset + limit, "rv": rv}).encode()).decode()
            md["remainingItemCount"] = len(items) - offset - limit
        self._send_json(h, 200, {"kind": kind + "List", "apiVersion": api, "metadata": md,
                                 "items": [o for _, o in page]})

    def _watch(self, h, res, match, q):
        prefix, kind, api, _ = RESOURCES[res]
        try:
            since = int(q.get("resourceVersion") or 0)
        except ValueError:
            since = 0
        timeout = float(q.get("timeoutSeconds") or 1800)
        bookmarks = q.get("allowWatchBookmarks") == "true"
        deadline = time.monotonic() + timeout
        with self.cv:
            too_old = since != 0 and since < self.compacted
            gen_drop, gen_end = self.gen_drop, self.gen_end
            if since == 0:
                since = self.rv
        if too_old and self.http_410_watch:
            self._send_json(h, 410, status_obj(410, "Expired", "too old resource version: %d" % since))
            return
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()

        def chunk(data):
            h.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            h.wfile.flush()

        def event(typ, obj):
            chunk(json.dumps({"type": typ, "object": obj}).encode() + b"\n")

        try:
            if too_old:
                event("ERROR", status_obj(410, "Expired", "too old resource version: %d (%d)" % (since, self.compacted)))
                chunk(b"")
                return
            with self.cv:
                self.open_watches += 1
            try:
                self._stream(h, res, match, since, deadline, bookmarks, gen_drop, gen_end, event, kind, api)
            finally:
                with self.cv:
                    self.open_watches -= 1
            chunk(b"")  # clean end
        except _Dropped:
            try:
                h.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            h.close_connection = True
        except (BrokenPipeError, ConnectionResetError, OSError):
            h.close_connection = True

    def _stream(self, h, res, match, since, deadline, bookmarks, gen_drop, gen_end, event, kind, api):
        last = since
        next_bookmark = time.monotonic() + self.bookmark_interval
        while True:
            with self.cv:
                if self.gen_drop != gen_drop:
                    raise _Dropped()
                if self.gen_end != gen_end:
                    return
                if last < self.compacted:
                    # history compacted under us: the API sends 410 and ends the watch
                    pending = [("ERROR", status_obj(410, "Expired", "too old resource version"))]
                    last = self.rv
                else:
                    i = bisect.bisect_right(self.hist_rv, last)
                    pending = []
                    for rv, r, typ, old, new in self.hist[i:]:
                        last = rv
                        if r != res:
                            continue
                        mo, mn = match(old) if typ != "ADDED" else False, match(new)
                        if typ == "DELETED":
                            if mo:
                                pending.append(("DELETED", new))
                        elif mo and mn:
                            pending.append(("MODIFIED", new))
                        elif mn:
                            pending.append(("ADDED", new))
                        elif mo:
                            pending.append(("DELETED", new))
                    if not pending:
                        now = time.monotonic()
                        if now >= deadline:
                            return
                        if bookmarks and now >= next_bookmark:
                            pending.append(("BOOKMARK", {"kind": kind, "apiVersion": api,
                                                         "metadata": {"resourceVersion": str(self.rv)}}))
                            last = max(last, self.rv)
                            next_bookmark = now + self.bookmark_interval
                        else:
                            wait = min(deadline, next_bookmark if bookmarks else deadline) - now
                            self.cv.wait(max(0.01, min(wait, 0.5)))
                            continue
            for typ, obj in pending:
                if self.slow_s:
                    time.sleep(self.slow_s)
                    with self.cv:
                        if self.gen_drop != gen_drop:
                            raise _Dropped()
                event(typ, obj)
                if typ == "ERROR":
                    return


class _Dropped(Exception):
    pass


# ---- fixtures: objects of every kind, shaped as the API serves them ---------------------

def pod(name, ns="default", ip="10.0.0.1", node="node-1", labels=None, annotations=None,
        containers=None, phase="Running", ready=True, host_ip="192.168.1.1"):
    if containers is None:
        containers = [{"name": "app", "image": "app:1",
                       "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]}]
    return {
        "metadata": {"name": name, "namespace": ns, "uid": "uid-pod-%s-%s" % (ns, name),
                     "labels": labels or {}, "annotations": annotations or {},
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                          "name": name.rsplit("-", 1)[0], "uid": "rs-uid",
                                          "controller": True}]},
        "spec": {"nodeName": node, "containers": containers},
        "status": {"phase": phase, "podIP": ip, "hostIP": host_ip,
                   "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
                   "containerStatuses": [{"name": c["name"], "ready": ready,
                                          "containerID": "containerd://%s-%s" % (name, c["name"])}
                                         for c in containers]},
    }


def service(name, ns="default", cluster_ip="10.96.0.10", ports=None, labels=None, type_="ClusterIP"):
    return {
        "metadata": {"name": name, "namespace": ns, "labels": labels or {}, "annotations": {}},
        "spec": {"type": type_, "clusterIP": cluster_ip,
                 "ports": ports or [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}]},
    }


def endpoints(name, ns="default", addrs=(), port=8080, port_name="http"):
    """addrs: list of (ip, pod_name or None, node or None)."""
    return {
        "metadata": {"name": name, "namespace": ns, "labels": {}},
        "subsets": [{
            "addresses": [dict({"ip": ip},
                               **({"targetRef": {"kind": "Pod", "name": p, "namespace": ns}} if p else {}),
                               **({"nodeName": n} if n else {}))
                          for ip, p, n in addrs],
            "ports": [{"name": port_name, "port": port, "protocol": "TCP"}],
        }],
    }


def endpointslice(name, service_name, ns="default", addrs=(), port=8080, port_name="http"):
    return {
        "metadata": {"name": name, "namespace": ns,
                     "labels": {"kubernetes.io/service-name": service_name}},
        "addressType": "IPv4",
        "endpoints": [dict({"addresses": [ip], "conditions": {"ready": True, "serving": True, "terminating": False}},
                           **({"targetRef": {"kind": "Pod", "name": p, "namespace": ns}} if p else {}),
                           **({"nodeName": n} if n else {}))
                      for ip, p, n in addrs],
        "ports": [{"name": port_name, "port": port, "protocol": "TCP"}],
    }


def node(name, ip="192.168.1.1", labels=None, kubelet_port=10250):
    return {
        "metadata": {"name": name, "labels": labels or {}, "annotations": {}},
        "spec": {"providerID": "fake://" + name},
        "status": {"addresses": [{"type": "InternalIP", "address": ip},
                                 {"type": "Hostname", "address": name}],
                   "daemonEndpoints": {"kubeletEndpoint": {"Port": kubelet_port}}},
    }


def namespace(name, labels=None, annotations=None):
    return {"metadata": {"name": name, "labels": labels or {}, "annotations": annotations or {}}}


def ingress(name, ns="default", host="example.com", path="/", tls=False, class_name="nginx"):
    spec = {"ingressClassName": class_name,
            "rules": [{"host": host, "http": {"paths": [{"path": path, "pathType": "Prefix",
                                                          "backend": {"service": {"name": "svc", "port": {"number": 80}}}}]}}]}
    if tls:
        spec["tls"] = [{"hosts": [host]}]
    return {"metadata": {"name": name, "namespace": ns, "labels": {}, "annotations": {}}, "spec": spec}


if __name__ == "__main__":
    fk = FakeKube().start(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
    print("fake kube API on", fk.url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        fk.stop()
