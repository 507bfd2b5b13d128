"""pgtest.py - shared helpers for profgate's end-to-end tests of `profgate run`.

Not a test itself (CTest runs only test_*.py). It provides:
- a minimal protobuf wire-format decoder (varint, length-delimited, fixed32/64) and, on
  top of it, decoders for push.v1 PushRequest and pprof's Profile (parse_pprof gunzips
  when needed and resolves sample types, stacks (function names, leaf first), values);
- Receiver: a threaded HTTP server on 127.0.0.1 that records push.v1 Push and /ingest
  profiles with their labels; it can answer a chosen status, and be stopped (connection
  refused, open connections cut) and restarted on the same port;
- Go targets built in GOPATH mode and cached under $PG_BUILD/gotargets (GoTarget);
- Profgate: a `profgate run` process on a free port (config written as JSON, which is
  YAML), readiness, /api/v1/targets, /metrics, reload, SIGTERM with exit-code and
  sanitizer checks, SIGKILL;
- request side helpers for receiver tests: http_request (exact headers, any method),
  encode_push_request, multipart_body, read_test_data;
- wait_until (deadline-bounded polling) and a tiny runner that prints PASS/FAIL per test
  function and ends with "N passed, N failed".
A test file's arguments select test functions by name; with PG_E2E_KEEP set, a failing
test's temp dir (configs, profgate and target logs) is kept. Python 3.11 stdlib only."""
import ctypes
import fcntl
import gzip
import http.client
import http.server
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
PROFGATE = os.environ.get("PROFGATE", "")
SRC = os.environ.get("PG_SRC", os.path.dirname(os.path.dirname(HERE)))
BUILD = os.environ.get("PG_BUILD", os.path.join(SRC, "build"))
TMP = os.environ.get("TMPDIR", "/tmp")

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "WARNING: ThreadSanitizer")
DEFAULT_TYPES = ("process_cpu", "memory", "block", "mutex", "goroutine")
DELTA_TYPES = ("memory", "block", "mutex")
# Expected (type, unit) sample types per profile type (Go's net/http/pprof).
SAMPLE_TYPES = {
    "process_cpu": [("samples", "count"), ("cpu", "nanoseconds")],
    "memory": [("alloc_objects", "count"), ("alloc_space", "bytes"),
               ("inuse_objects", "count"), ("inuse_space", "bytes")],
    "block": [("contentions", "count"), ("delay", "nanoseconds")],
    "mutex": [("contentions", "count"), ("delay", "nanoseconds")],
    "goroutine": [("goroutine", "count")],
}


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, flush=True)


# ---------------------------------------------------------------------------------------
# Waiting

def wait_until(cond, timeout, interval=0.1):
    """Polls cond() until it returns a truthy value (returned) or timeout seconds pass
    (returns the last falsy value). Exceptions from cond count as falsy."""
    deadline = time.monotonic() + timeout
    v = None
    while True:
        try:
            v = cond()
        except Exception:  # noqa: BLE001 - a condition that cannot be evaluated yet
            v = None
        if v:
            return v
        if time.monotonic() >= deadline:
            return v
        time.sleep(interval)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


# ---------------------------------------------------------------------------------------
# Protobuf wire format (https://protobuf.dev/programming-guides/encoding/)

class ProtoError(ValueError):
    pass


def read_varint(buf, i):
    """Returns (value, next index) of the base-128 varint at buf[i]."""
    result = 0
    shift = 0
    n = len(buf)
    while True:
        if i >= n:
            raise ProtoError("truncated varint")
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, i
        shift += 7
        if shift >= 70:
            raise ProtoError("varint too long")


def to_int64(v):
    """Reinterprets a decoded varint as a two's-complement int64."""
    v &= (1 << 64) - 1
    return v - (1 << 64) if v >= (1 << 63) else v


def iter_fields(buf):
    """Yields (field number, wire type, value) for each field of a message: wire type 0
    gives an int (unsigned), 1 and 5 an int read little-endian, 2 the bytes."""
    i = 0
    n = len(buf)
    while i < n:
        key, i = read_varint(buf, i)
        fn, wt = key >> 3, key & 7
        if fn == 0:
            raise ProtoError("field number 0")
        if wt == 0:
            v, i = read_varint(buf, i)
        elif wt == 1:
            if i + 8 > n:
                raise ProtoError("truncated fixed64")
            v = int.from_bytes(buf[i:i + 8], "little")
            i += 8
        elif wt == 2:
            ln, i = read_varint(buf, i)
            if i + ln > n:
                raise ProtoError("truncated length-delimited field %d" % fn)
            v = bytes(buf[i:i + ln])
            i += ln
        elif wt == 5:
            if i + 4 > n:
                raise ProtoError("truncated fixed32")
            v = int.from_bytes(buf[i:i + 4], "little")
            i += 4
        else:
            raise ProtoError("unsupported wire type %d (field %d)" % (wt, fn))
        yield fn, wt, v


def repeated_varints(wt, v):
    """A repeated scalar varint field occurrence: packed (wire type 2) or one value."""
    if wt == 0:
        return [v]
    if wt != 2:
        raise ProtoError("bad wire type %d for repeated varint" % wt)
    out = []
    i = 0
    while i < len(v):
        x, i = read_varint(v, i)
        out.append(x)
    return out


def _want(wt, expected, what):
    if wt != expected:
        raise ProtoError("%s: wire type %d, want %d" % (what, wt, expected))


def _str(v):
    return v.decode("utf-8")


# push.v1 ------------------------------------------------------------------------------

def decode_push_request(body):
    """Decodes a push.v1 PushRequest into a list of series, each
    {"labels": [(name, value), ...], "samples": [(raw_profile bytes, ID str), ...]}."""
    series = []
    for fn, wt, v in iter_fields(body):
        if fn != 1:
            continue
        _want(wt, 2, "PushRequest.series")
        labels, samples = [], []
        for sfn, swt, sv in iter_fields(v):
            if sfn == 1:
                _want(swt, 2, "RawProfileSeries.labels")
                name = value = ""
                for lfn, lwt, lv in iter_fields(sv):
                    if lfn == 1:
                        _want(lwt, 2, "LabelPair.name")
                        name = _str(lv)
                    elif lfn == 2:
                        _want(lwt, 2, "LabelPair.value")
                        value = _str(lv)
                labels.append((name, value))
            elif sfn == 2:
                _want(swt, 2, "RawProfileSeries.samples")
                raw, ident = b"", ""
                for rfn, rwt, rv in iter_fields(sv):
                    if rfn == 1:
                        _want(rwt, 2, "RawSample.raw_profile")
                        raw = rv
                    elif rfn == 2:
                        _want(rwt, 2, "RawSample.ID")
                        ident = _str(rv)
                samples.append((raw, ident))
        series.append({"labels": labels, "samples": samples})
    return series


# pprof --------------------------------------------------------------------------------

class Sample:
    __slots__ = ("stack", "values", "labels")

    def __init__(self, stack, values, labels):
        self.stack = stack      # function names, leaf first
        self.values = values    # one per sample type
        self.labels = labels    # {key: str or (num, unit)}

    def has_frame(self, substr):
        return any(substr in f for f in self.stack)


class Profile:
    def __init__(self):
        self.sample_types = []  # [(type, unit)]
        self.samples = []
        self.time_nanos = 0
        self.duration_nanos = 0
        self.period_type = None
        self.period = 0
        self.default_sample_type = None

    def type_names(self):
        return [t for t, _ in self.sample_types]

    def index(self, type_name):
        return self.type_names().index(type_name)

    def total(self, type_name, frame=None):
        """Sum of the values of sample type type_name, over the samples whose stack has a
        function whose name contains frame (all samples when frame is None)."""
        k = self.index(type_name)
        return sum(s.values[k] for s in self.samples if frame is None or s.has_frame(frame))

    def values(self, type_name):
        k = self.index(type_name)
        return [s.values[k] for s in self.samples]


def parse_pprof(data):
    """Parses a pprof profile (gzip-compressed when it starts with 1f 8b, else raw
    protobuf) into a Profile; raises ProtoError (or OSError/EOFError from gzip) when it is
    not a well-formed profile (bad wire format, string or id references out of range,
    value count not matching the sample types, empty string table)."""
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    p = Profile()
    vtypes, raw_samples, strings = [], [], []
    locs, funcs = {}, {}
    period_type = None
    default_st = 0
    for fn, wt, v in iter_fields(data):
        if fn == 1:
            _want(wt, 2, "Profile.sample_type")
            vtypes.append(_value_type(v))
        elif fn == 2:
            _want(wt, 2, "Profile.sample")
            raw_samples.append(v)
        elif fn == 4:
            _want(wt, 2, "Profile.location")
            lid, lines = 0, []
            for lfn, lwt, lv in iter_fields(v):
                if lfn == 1:
                    _want(lwt, 0, "Location.id")
                    lid = lv
                elif lfn == 4:
                    _want(lwt, 2, "Location.line")
                    fid = 0
                    for nfn, nwt, nv in iter_fields(lv):
                        if nfn == 1:
                            _want(nwt, 0, "Line.function_id")
                            fid = nv
                    lines.append(fid)
            if lid == 0:
                raise ProtoError("location with id 0")
            locs[lid] = lines
        elif fn == 5:
            _want(wt, 2, "Profile.function")
            f = {1: 0, 2: 0, 3: 0, 4: 0}
            for ffn, fwt, fv in iter_fields(v):
                if ffn in f:
                    _want(fwt, 0, "Function field %d" % ffn)
                    f[ffn] = to_int64(fv)
            if f[1] == 0:
                raise ProtoError("function with id 0")
            funcs[f[1]] = f
        elif fn == 6:
            _want(wt, 2, "Profile.string_table")
            strings.append(v.decode("utf-8", "replace"))
        elif fn == 9:
            _want(wt, 0, "Profile.time_nanos")
            p.time_nanos = to_int64(v)
        elif fn == 10:
            _want(wt, 0, "Profile.duration_nanos")
            p.duration_nanos = to_int64(v)
        elif fn == 11:
            _want(wt, 2, "Profile.period_type")
            period_type = _value_type(v)
        elif fn == 12:
            _want(wt, 0, "Profile.period")
            p.period = to_int64(v)
        elif fn == 14:
            _want(wt, 0, "Profile.default_sample_type")
            default_st = to_int64(v)
    if not strings or strings[0] != "":
        raise ProtoError("string table must start with the empty string")

    def s(idx):
        if idx < 0 or idx >= len(strings):
            raise ProtoError("string index %d out of range (%d strings)" % (idx, len(strings)))
        return strings[idx]

    p.sample_types = [(s(t), s(u)) for t, u in vtypes]
    if period_type is not None:
        p.period_type = (s(period_type[0]), s(period_type[1]))
    if default_st:
        p.default_sample_type = s(default_st)
    fname = {}
    for fid, f in funcs.items():
        fname[fid] = s(f[2])
        s(f[3])
        s(f[4])
    for raw in raw_samples:
        loc_ids, values, labels = [], [], {}
        for sfn, swt, sv in iter_fields(raw):
            if sfn == 1:
                loc_ids.extend(repeated_varints(swt, sv))
            elif sfn == 2:
                values.extend(to_int64(x) for x in repeated_varints(swt, sv))
            elif sfn == 3:
                _want(swt, 2, "Sample.label")
                lab = {1: 0, 2: 0, 3: 0, 4: 0}
                for lfn, lwt, lv in iter_fields(sv):
                    if lfn in lab:
                        lab[lfn] = to_int64(lv)
                labels[s(lab[1])] = s(lab[2]) if lab[2] else (lab[3], s(lab[4]))
        if len(values) != len(vtypes):
            raise ProtoError("sample has %d values for %d sample types" % (len(values), len(vtypes)))
        stack = []
        for lid in loc_ids:
            if lid not in locs:
                raise ProtoError("sample references unknown location %d" % lid)
            for fid in locs[lid]:
                if fid not in fname:
                    raise ProtoError("line references unknown function %d" % fid)
                stack.append(fname[fid])
        p.samples.append(Sample(stack, values, labels))
    return p


def _value_type(v):
    t = u = 0
    for fn, wt, x in iter_fields(v):
        if fn == 1:
            t = to_int64(x)
        elif fn == 2:
            u = to_int64(x)
    return (t, u)


def profile_type_of(prof):
    """Guesses the profgate profile type from sample types (block and mutex are told apart
    by their stacks: mutex samples end in an Unlock)."""
    names = prof.type_names()
    if "cpu" in names:
        return "process_cpu"
    if "alloc_objects" in names:
        return "memory"
    if "goroutine" in names:
        return "goroutine"
    if "contentions" in names:
        for smp in prof.samples:
            if smp.stack and "Unlock" in smp.stack[0]:
                return "mutex"
        return "block"
    return None


class QuietHTTPServer(http.server.ThreadingHTTPServer):
    """A ThreadingHTTPServer that does not print a traceback when a client resets or
    abandons a connection (profgate does so on purpose: size limits, timeouts)."""
    daemon_threads = True

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


# ---------------------------------------------------------------------------------------
# Test receiver (push.v1 Push and /ingest)

class Received:
    """One profile a Receiver accepted."""

    def __init__(self, kind, labels, label_list, raw, ident, query=None, headers=None):
        self.kind = kind              # "push" or "ingest"
        self.labels = labels          # dict
        self.label_list = label_list  # as sent, to spot duplicates
        self.raw = raw
        self.id = ident
        self.query = query or {}
        self.headers = headers or {}
        self.t = time.time()
        self._prof = None

    @property
    def name(self):
        return self.labels.get("__name__")

    @property
    def profile(self):
        if self._prof is None:
            self._prof = parse_pprof(self.raw)
        return self._prof


def parse_ingest_name(name):
    """Splits Pyroscope's ingest name "app{k=v,k2=v2}" into (app, {k: v})."""
    app, labels = name, {}
    if "{" in name and name.endswith("}"):
        app, rest = name.split("{", 1)
        rest = rest[:-1]
        if rest:
            for part in rest.split(","):
                k, _, v = part.partition("=")
                labels[k] = v
    return app, labels


class Receiver:
    """A Pyroscope-compatible backend on 127.0.0.1 that records every profile. status
    (default 200) is the answer to give; anything but 2xx records nothing."""

    def __init__(self, name="receiver"):
        self.name = name
        self.port = None
        self.status = 200
        self.retry_after = None
        self.items = []
        self.requests = 0
        self.rejected = 0
        self.errors = []
        self.lock = threading.Lock()
        self.server = None
        self.thread = None
        self._conns = set()

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def start(self, port=None):
        port = port if port is not None else (self.port or 0)
        rec = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                super().setup()
                with rec.lock:
                    rec._conns.add(self.connection)

            def finish(self):
                with rec.lock:
                    rec._conns.discard(self.connection)
                try:
                    super().finish()
                except OSError:
                    pass

            def log_message(self, *a):
                pass

            def reply(self, code, body=b"", ctype="text/plain", extra=None):
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for k, v in (extra or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                with rec.lock:
                    rec.requests += 1
                    status, retry_after = rec.status, rec.retry_after
                if status < 200 or status > 299:
                    with rec.lock:
                        rec.rejected += 1
                    extra = {"Retry-After": str(retry_after)} if retry_after is not None else None
                    self.reply(status, b"injected failure from test receiver", extra=extra)
                    return
                if self.headers.get("Content-Encoding", "") == "gzip":
                    body = gzip.decompress(body)
                u = urllib.parse.urlsplit(self.path)
                hdrs = {k.lower(): v for k, v in self.headers.items()}
                try:
                    if u.path.endswith("/push.v1.PusherService/Push"):
                        got = []
                        for ser in decode_push_request(body):
                            for raw, ident in ser["samples"]:
                                got.append(Received("push", dict(ser["labels"]), ser["labels"], raw,
                                                    ident, headers=hdrs))
                        with rec.lock:
                            rec.items.extend(got)
                        self.reply(200, b"", "application/proto")
                    elif u.path.endswith("/ingest"):
                        q = {k: v[0] for k, v in urllib.parse.parse_qs(u.query, keep_blank_values=True).items()}
                        app, labels = parse_ingest_name(q.get("name", ""))
                        labels["service_name"] = app
                        if "multipart/form-data" in hdrs.get("content-type", ""):
                            raise ProtoError("multipart ingest bodies are not handled by the test receiver")
                        item = Received("ingest", labels, sorted(labels.items()), body, "", q, hdrs)
                        with rec.lock:
                            rec.items.append(item)
                        self.reply(200, b"")
                    else:
                        raise ProtoError("unexpected path " + self.path)
                except Exception as e:  # noqa: BLE001 - recorded, the test asserts none
                    with rec.lock:
                        rec.errors.append("%s %s: %r" % (self.path, hdrs.get("content-type"), e))
                    self.reply(400, ("test receiver: " + str(e)).encode())

        srv = QuietHTTPServer(("127.0.0.1", port), Handler)
        self.server = srv
        self.port = srv.server_address[1]
        self.thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()
        return self

    def stop(self):
        """Stops listening (new connections are refused) and cuts open connections."""
        if not self.server:
            return
        self.server.shutdown()
        self.server.server_close()
        with self.lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.server = None

    def set_status(self, code, retry_after=None):
        with self.lock:
            self.status = code
            self.retry_after = retry_after

    def snapshot(self):
        with self.lock:
            return list(self.items)

    def profiles(self, **want):
        """The received profiles whose labels include every want item (a value of None
        means the label must be absent)."""
        out = []
        for it in self.snapshot():
            if all(it.labels.get(k) == v for k, v in want.items()):
                out.append(it)
        return out

    def count(self, **want):
        return len(self.profiles(**want))


# ---------------------------------------------------------------------------------------
# Child processes

_children = []
_libc = None


def _pdeathsig():
    # Runs in the child between fork and exec: die with the test (PR_SET_PDEATHSIG=1).
    if _libc is not None:
        _libc.prctl(1, signal.SIGKILL, 0, 0, 0)


def spawn(argv, **kw):
    global _libc
    if _libc is None:
        try:
            _libc = ctypes.CDLL("libc.so.6", use_errno=True)
        except OSError:
            _libc = False
    p = subprocess.Popen(argv, preexec_fn=_pdeathsig if _libc else None, **kw)
    _children.append(p)
    return p


def kill_children():
    for p in _children:
        if p.poll() is None:
            try:
                p.kill()
                p.wait(timeout=10)
            except Exception:  # noqa: BLE001
                pass


def http_get(url, timeout=5, headers=None, context=None):
    """Returns (status, body bytes); status 0 with the reason when the request failed.
    headers: extra request headers; context: an ssl.SSLContext for https URLs."""
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=context) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except (OSError, http.client.HTTPException) as e:
        return 0, str(e).encode()


def http_post(url, data=b"", timeout=30, headers=None, context=None):
    req = urllib.request.Request(url, data=data, method="POST", headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=context) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except (OSError, http.client.HTTPException) as e:
        return 0, str(e).encode()


def http_request(url, data=b"", headers=None, method="POST", timeout=30):
    """Sends one request with exactly the given headers (no urllib defaults such as a form
    Content-Type). Returns (status, {lower-case header: value}, body bytes); status 0 with
    the reason as body when the request failed (refused, reset, timed out)."""
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    path = u.path + ("?" + u.query if u.query else "")
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        hdrs = dict(headers or {})
        if data is not None and not any(k.lower() == "content-length" for k in hdrs):
            hdrs["Content-Length"] = str(len(data))
        for k, v in hdrs.items():
            conn.putheader(k, v)
        conn.endheaders()
        if data:
            conn.send(data)
        r = conn.getresponse()
        body = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, body
    except (OSError, http.client.HTTPException) as e:
        return 0, {}, str(e).encode()
    finally:
        conn.close()


def _enc_varint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _enc_bytes(fn, b):
    """One length-delimited field (str values are UTF-8 encoded; bytes are sent as is,
    so a test can put invalid UTF-8 into a string field)."""
    if isinstance(b, str):
        b = b.encode("utf-8")
    return _enc_varint(fn << 3 | 2) + _enc_varint(len(b)) + b


def encode_push_request(series):
    """Encodes a push.v1 PushRequest: series is a list of (labels, samples) where labels
    is a list of (name, value) pairs (str or bytes) and samples a list of raw profile
    bytes or (raw profile, ID) pairs. The inverse of decode_push_request."""
    out = bytearray()
    for labels, samples in series:
        s = bytearray()
        for name, value in labels:
            s += _enc_bytes(1, _enc_bytes(1, name) + _enc_bytes(2, value))
        for smp in samples:
            raw, ident = smp if isinstance(smp, tuple) else (smp, "")
            s += _enc_bytes(2, _enc_bytes(1, raw) + (_enc_bytes(2, ident) if ident else b""))
        out += _enc_bytes(1, bytes(s))
    return bytes(out)


def multipart_body(parts, boundary=None):
    """Builds a multipart/form-data body from [(field name, filename or None, bytes)].
    Returns (content type, body)."""
    boundary = boundary or "pgtest-%x" % int(time.time() * 1e6)
    out = bytearray()
    for name, filename, data in parts:
        out += b"--" + boundary.encode() + b"\r\n"
        disp = 'form-data; name="%s"' % name
        if filename:
            disp += '; filename="%s"' % filename
        out += ("Content-Disposition: %s\r\n" % disp).encode()
        out += b"Content-Type: application/octet-stream\r\n\r\n"
        out += data + b"\r\n"
    out += b"--" + boundary.encode() + b"--\r\n"
    return "multipart/form-data; boundary=" + boundary, bytes(out)


def read_test_data(name):
    """The bytes of tests/data/<name>."""
    with open(os.path.join(SRC, "tests", "data", name), "rb") as f:
        return f.read()


# Go targets ---------------------------------------------------------------------------

def build_go(name):
    """Builds tests/targets/<name>/main.go (GOPATH mode) into $PG_BUILD/gotargets/<name>
    unless an up-to-date binary is there; safe when several tests build at once (a lock
    file, and an atomic rename). Returns the binary path; raises on build failure."""
    src_dir = os.path.join(SRC, "tests", "targets", name)
    out_dir = os.path.join(BUILD, "gotargets")
    os.makedirs(out_dir, exist_ok=True)
    out = os.path.join(out_dir, name)
    newest = max(os.path.getmtime(os.path.join(src_dir, f)) for f in os.listdir(src_dir))
    with open(os.path.join(out_dir, ".lock"), "w") as lk:
        fcntl.flock(lk, fcntl.LOCK_EX)
        if os.path.exists(out) and os.path.getmtime(out) >= newest:
            return out
        gopath = tempfile.mkdtemp(prefix="pg_gopath_", dir="/tmp")
        env = dict(os.environ, GO111MODULE="off", GOPATH=gopath, GOFLAGS="",
                   GOCACHE=os.path.join("/tmp", "profgate-e2e-gocache-%d" % os.getuid()))
        tmp_out = out + ".tmp%d" % os.getpid()
        try:
            r = subprocess.run(["go", "build", "-o", tmp_out, "."], cwd=src_dir, env=env,
                               capture_output=True, text=True, timeout=300)
            if r.returncode != 0:
                raise RuntimeError("go build %s failed:\n%s%s" % (name, r.stdout, r.stderr))
            os.replace(tmp_out, out)
        finally:
            shutil.rmtree(gopath, ignore_errors=True)
            if os.path.exists(tmp_out):
                os.unlink(tmp_out)
    return out


class GoTarget:
    """A Go test program serving net/http/pprof on a free loopback port."""

    def __init__(self, name, tmpdir):
        self.name = name
        self.bin = build_go(name)
        self.tmpdir = tmpdir
        self.proc = None
        self.port = None

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    @property
    def url(self):
        return "http://" + self.address

    def start(self, timeout=30):
        for _ in range(3):
            self.port = free_port()
            logf = open(os.path.join(self.tmpdir, "%s-%d.log" % (self.name, self.port)), "w")
            self.proc = spawn([self.bin, "-listen", self.address], stdout=logf, stderr=subprocess.STDOUT)
            logf.close()
            ok = wait_until(lambda: self.proc.poll() is not None or
                            http_get(self.url + "/debug/pprof/", timeout=2)[0] == 200, timeout)
            if ok and self.proc.poll() is None:
                return self
            self.stop()
        raise RuntimeError("%s did not start serving /debug/pprof/" % self.name)

    def get(self, path, timeout=30):
        return http_get(self.url + path, timeout=timeout)

    def call(self, path, timeout=60):
        st, body = self.get(path, timeout)
        if st != 200:
            raise RuntimeError("%s %s: %d %r" % (self.name, path, st, body[:200]))
        return body

    def profile(self, path):
        return parse_pprof(self.call(path))

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


# profgate -----------------------------------------------------------------------------

def job(name, targets, labels=None, interval="1s", timeout="1s", types=DEFAULT_TYPES, **extra):
    """A scrape_configs entry with static targets (addresses, or static_configs groups)
    and exactly the given default profile types enabled; extra keys are copied in."""
    pc = {t: {"enabled": t in types} for t in DEFAULT_TYPES}
    pc.update(extra.pop("profiling_config", {}))
    if targets and isinstance(targets[0], dict):
        groups = list(targets)  # already static_configs groups
    else:
        sc = {"targets": list(targets)}
        if labels:
            sc["labels"] = labels
        groups = [sc]
    j = {"job_name": name, "scrape_interval": interval, "scrape_timeout": timeout,
         "profiling_config": pc, "static_configs": groups}
    j.update(extra)
    return j


def remote(name, url, api="push", **extra):
    r = {"name": name, "url": url, "api": api, "min_backoff": "100ms", "max_backoff": "1s",
         "remote_timeout": "5s"}
    r.update(extra)
    return r


_metric_re = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)')
_label_re = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """Prometheus text format → {(name, frozenset(label items)): value}."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _metric_re.match(line)
        if not m:
            continue
        labels = {k: v.encode().decode("unicode_escape") for k, v in _label_re.findall(m.group(3) or "")}
        try:
            val = float(m.group(4))
        except ValueError:
            continue
        out[(m.group(1), frozenset(labels.items()))] = val
    return out


class Profgate:
    """One `profgate run` process. config is a dict written as JSON (valid YAML)."""

    def __init__(self, tmpdir, config, storage=None, name="profgate", extra_args=()):
        self.tmpdir = tmpdir
        self.extra_args = list(extra_args)  # passed on every start
        self.name = name
        self.cfg_path = os.path.join(tmpdir, name + ".yml")
        self.storage = storage or os.path.join(tmpdir, name + "-data")
        self.log_path = os.path.join(tmpdir, name + ".log")
        self.proc = None
        self.port = None
        self.host = "127.0.0.1"
        # how the helpers reach the web port (--web.config.file may require TLS or basic
        # auth): scheme, an ssl.SSLContext and extra headers (Authorization)
        self.scheme = "http"
        self.ssl_context = None
        self.headers = {}
        self.write_config(config)

    def write_config(self, config):
        text = config if isinstance(config, str) else json.dumps(config, indent=1)
        tmp = self.cfg_path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, self.cfg_path)

    def check_config(self):
        r = subprocess.run([PROFGATE, "check", self.cfg_path], capture_output=True, text=True, timeout=60)
        return r.returncode, r.stdout + r.stderr

    @property
    def url(self):
        return "%s://%s:%d" % (self.scheme, self.host, self.port)

    @property
    def address(self):
        return "%s:%d" % (self.host, self.port)

    @property
    def pid(self):
        return self.proc.pid

    def start(self, ready_timeout=30, extra_args=(), port=None, host=None):
        """Starts on host:port (default 127.0.0.1 and a free port; a restart may pass
        the previous port back)."""
        self.port = port or free_port()
        self.host = host or self.host
        logf = open(self.log_path, "a")
        logf.write("=== start %s\n" % time.strftime("%H:%M:%S"))
        logf.flush()
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
        self.proc = spawn([PROFGATE, "run", self.cfg_path,
                           "--web.listen-address", self.address,
                           "--storage.path=" + self.storage, "--log.level", "info"]
                          + self.extra_args + list(extra_args),
                          stdout=logf, stderr=subprocess.STDOUT, env=env)
        logf.close()
        ok = wait_until(lambda: self.proc.poll() is not None or self.get("/-/ready", 2)[0] == 200,
                        ready_timeout)
        if not ok or self.proc.poll() is not None:
            raise RuntimeError("profgate not ready (rc=%s); log:\n%s" % (self.proc.poll(), self.log_tail()))
        return self

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def log_text(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def log_tail(self, n=40):
        return "\n".join(self.log_text().splitlines()[-n:])

    def get(self, path, timeout=5):
        return http_get(self.url + path, timeout, self.headers, self.ssl_context)

    def get_json(self, path):
        st, body = self.get(path, 10)
        if st != 200:
            raise RuntimeError("GET %s: %d %r" % (path, st, body[:300]))
        return json.loads(body)

    def targets(self, state=None, pool=None):
        q = []
        if state:
            q.append("state=" + state)
        if pool:
            q.append("scrapePool=" + urllib.parse.quote(pool))
        return self.get_json("/api/v1/targets" + ("?" + "&".join(q) if q else ""))["data"]

    def active(self, pool=None):
        return self.targets(pool=pool)["activeTargets"]

    def metrics(self):
        st, body = self.get("/metrics", 10)
        if st != 200:
            raise RuntimeError("GET /metrics: %d" % st)
        return parse_metrics(body.decode())

    def metric(self, name, _m=None, **labels):
        """Sum of the samples of name whose labels include labels (0 when none)."""
        m = _m if _m is not None else self.metrics()
        total = 0.0
        for (n, ls), v in m.items():
            if n == name and all((k, v2) in ls for k, v2 in labels.items()):
                total += v
        return total

    def has_metric(self, name):
        return any(n == name for n, _ in self.metrics())

    def reload(self):
        """POST /-/reload: needs the process started with --web.enable-lifecycle (else 403)."""
        st, body = http_post(self.url + "/-/reload", timeout=30, headers=self.headers,
                             context=self.ssl_context)
        return st, body.decode(errors="replace")

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=40):
        """SIGTERM and wait. Returns a list of problems (empty when it exited 0 with no
        sanitizer report in its log)."""
        problems = []
        if self.proc is None:
            return ["not started"]
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                problems.append("did not exit within %ds of SIGTERM" % timeout)
                self.proc.kill()
                self.proc.wait(timeout=10)
        rc = self.proc.returncode
        if rc != 0:
            problems.append("exit code %s after SIGTERM" % rc)
        text = self.log_text()
        for m in SANITIZER_MARKERS:
            if m in text:
                problems.append("log contains %r" % m)
        if problems:
            problems.append("log tail:\n" + self.log_tail(60))
        return problems

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def rss_kib(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def sanitizer_report(self):
        text = self.log_text()
        return [m for m in SANITIZER_MARKERS if m in text]


def require_run_command():
    """Returns None when `profgate run` exists, else the reason."""
    if not PROFGATE or not os.path.exists(PROFGATE):
        return "PROFGATE binary not set or missing (%r)" % PROFGATE
    r = subprocess.run([PROFGATE, "run", "--help"], capture_output=True, text=True, timeout=30)
    if "unknown command" in (r.stdout + r.stderr):
        return "profgate has no run command yet"
    return None


# ---------------------------------------------------------------------------------------
# Runner

class Failed(Exception):
    pass


class T:
    """Per-test context: check (record and continue), require (record and stop), a temp
    dir, and cleanups run in reverse order at the end."""

    def __init__(self, name):
        self.name = name
        self.failures = []
        self.tmpdir = tempfile.mkdtemp(prefix="pg_e2e_%s_" % name, dir=TMP)
        self._cleanups = []
        self._pgs = []

    def check(self, ok, msg):
        if not ok:
            self.failures.append(msg)
            log("  check failed:", msg)
        return bool(ok)

    def require(self, ok, msg):
        if not ok:
            self.failures.append(msg)
            raise Failed(msg)
        return ok

    def defer(self, fn, *a):
        self._cleanups.append((fn, a))

    # conveniences that register their own cleanup
    def receiver(self, name="receiver", port=None):
        r = Receiver(name).start(port)
        self.defer(r.stop)
        return r

    def go_target(self, name):
        g = GoTarget(name, self.tmpdir).start()
        self.defer(g.stop)
        return g

    def profgate(self, config, storage=None, name="profgate", start=True, extra_args=()):
        pg = Profgate(self.tmpdir, config, storage, name, extra_args)
        self._pgs.append(pg)
        self.defer(pg.kill)
        if start:
            pg.start()
        return pg

    def stop_profgate(self, pg):
        """SIGTERM pg and check it exited cleanly."""
        for p in pg.stop():
            self.check(False, "%s: %s" % (pg.name, p))

    def cleanup(self):
        for fn, a in reversed(self._cleanups):
            try:
                fn(*a)
            except Exception as e:  # noqa: BLE001
                log("  cleanup error:", repr(e))
        for pg in self._pgs:
            bad = pg.sanitizer_report()
            if bad:
                self.failures.append("%s log has sanitizer reports: %s" % (pg.name, bad))
        if self.failures:
            for pg in self._pgs:
                log("  --- %s log tail (%s) ---\n%s" % (pg.name, pg.log_path, pg.log_tail(30)))
        if not self.failures or os.environ.get("PG_E2E_KEEP") is None:
            shutil.rmtree(self.tmpdir, ignore_errors=True)


def run_tests(tests, setup=None):
    """Runs each test function and prints PASS/FAIL per function, then the summary line;
    returns the exit code. Without setup a test takes a T; with setup, setup(T) runs once
    first and its result is passed as each test's second argument (a failing setup fails
    every test). Command-line arguments select tests by name."""
    only = sys.argv[1:]
    passed = failed = 0
    why = require_run_command()
    shared = env = None
    if not why and setup is not None:
        shared = T("setup")
        log("SETUP %s" % setup.__name__)
        try:
            env = setup(shared)
        except Exception:  # noqa: BLE001
            why = "setup failed:\n" + traceback.format_exc() + "\n".join(shared.failures)
        if not why and shared.failures:
            failed += 1
            print("FAIL setup:\n  %s" % "\n  ".join(shared.failures), flush=True)
    for fn in tests:
        name = fn.__name__
        if only and name not in only:
            continue
        if why:
            failed += 1
            print("FAIL %s: %s" % (name, why), flush=True)
            continue
        t = T(name)
        t0 = time.monotonic()
        log("RUN  %s" % name)
        try:
            fn(t) if setup is None else fn(t, env)
        except Failed:
            pass
        except Exception:  # noqa: BLE001
            t.failures.append("exception:\n" + traceback.format_exc())
        t.cleanup()
        dt = time.monotonic() - t0
        if t.failures:
            failed += 1
            print("FAIL %s (%.1fs):\n  %s" % (name, dt, "\n  ".join(t.failures)), flush=True)
        else:
            passed += 1
            print("PASS %s (%.1fs)" % (name, dt), flush=True)
    if shared is not None:
        if failed and not shared.failures:
            shared.failures.append("(a test failed; shared logs follow)")
        shared.cleanup()
        if shared.failures and not why and not failed:
            failed += 1
            print("FAIL setup cleanup:\n  %s" % "\n  ".join(shared.failures), flush=True)
    kill_children()
    print("%d passed, %d failed" % (passed, failed), flush=True)
    return 1 if failed else 0
