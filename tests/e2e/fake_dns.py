"""fake_dns.py - a small authoritative DNS server for profgate's dns_sd tests.

Not a test itself (CTest runs only test_*.py). Debian's python3-dnslib (scripts/deps.sh)
answering over UDP and TCP on one port of 127.0.0.1 from a zone held in Python:

    dns = FakeDNS().start()
    dns.set("_pprof._tcp.example.test", "SRV", [(10, 5, 6060, "app1.example.test.")])
    dns.set("app.example.test", "A", ["10.0.0.1", "10.0.0.2"])
    dns.set("www.example.test", "CNAME", ["app.example.test."])  # A queries follow it
    dns.servfail.add("broken.example.test")    # SERVFAIL
    dns.truncate.add("big.example.test")       # UDP answers are empty with TC set
    dns.resolv_conf(path, search=["example.test"], timeout=1)

A name with no record of any type is NXDOMAIN; a name with records of other types only is
an empty NOERROR. Every query is logged in .queries as (name, type, protocol, edns),
name without the final dot, lower case.

The system's python3 may not be the one running the tests (pyenv and other interpreters
do not see Debian's dist-packages): the import falls back to /usr/lib/python3/dist-packages,
where python3-dnslib (pure Python) lives."""
import socket
import sys
import threading

try:
    import dnslib
except ImportError:  # another interpreter than Debian's: use Debian's copy
    sys.path.append("/usr/lib/python3/dist-packages")
    import dnslib
from dnslib import AAAA, CNAME, MX, QTYPE, RCODE, RR, SRV, A
from dnslib.server import BaseResolver, DNSLogger, DNSServer

_RDATA = {
    "A": lambda v: A(v),
    "AAAA": lambda v: AAAA(list(socket.inet_pton(socket.AF_INET6, v))),
    "CNAME": lambda v: CNAME(v),
    "MX": lambda v: MX(v[1], v[0]),  # (preference, exchange)
    "SRV": lambda v: SRV(v[0], v[1], v[2], v[3]),  # (priority, weight, port, target)
}


class _Resolver(BaseResolver):
    def __init__(self, dns):
        self.dns = dns

    def resolve(self, request, handler):
        d = self.dns
        reply = request.reply()
        name = str(request.q.qname).rstrip(".").lower()
        qtype = QTYPE[request.q.qtype]
        edns = any(r.rtype == QTYPE.OPT for r in request.ar)
        with d.lock:
            d.queries.append((name, qtype, handler.protocol, edns))
            if name in d.servfail:
                reply.header.rcode = RCODE.SERVFAIL
                return reply
            if name in d.truncate and handler.protocol == "udp":
                reply.header.tc = 1
                return reply
            if not any(k[0] == name for k in d.zone):
                reply.header.rcode = RCODE.NXDOMAIN
                return reply
            owner = name
            for _ in range(8):  # follow CNAMEs as a recursive server answers them
                cname = d.zone.get((owner, "CNAME"))
                if not cname or qtype == "CNAME":
                    break
                reply.add_answer(RR(owner + ".", QTYPE.CNAME, rdata=CNAME(cname[0]), ttl=30))
                owner = cname[0].rstrip(".").lower()
            for v in d.zone.get((owner, qtype), []):
                reply.add_answer(RR(owner + ".", getattr(QTYPE, qtype), rdata=_RDATA[qtype](v),
                                    ttl=30))
        return reply


class FakeDNS:
    def __init__(self):
        self.zone = {}  # (name, type) -> [values]
        self.servfail = set()
        self.truncate = set()
        self.queries = []
        self.lock = threading.Lock()
        self.port = None
        self._servers = []

    def set(self, name, rtype, values):
        with self.lock:
            key = (name.rstrip(".").lower(), rtype)
            if values:
                self.zone[key] = list(values)
            else:
                self.zone.pop(key, None)

    def start(self):
        quiet = DNSLogger("-request,-reply,-truncated,-error,-recv,-send,-data", False)
        for _ in range(20):  # a port free for both UDP and TCP
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
            s.close()
            try:
                udp = DNSServer(_Resolver(self), port=port, address="127.0.0.1", logger=quiet)
                tcp = DNSServer(_Resolver(self), port=port, address="127.0.0.1", tcp=True,
                                logger=quiet)
            except OSError:
                continue
            self._servers = [udp, tcp]
            for srv in self._servers:
                srv.start_thread()
            self.port = port
            return self
        raise RuntimeError("no free port for the fake DNS server")

    def stop(self):
        for srv in self._servers:
            srv.stop()
            srv.server.server_close()
        self._servers = []

    def resolv_conf(self, path, search=(), timeout=1, attempts=1, before=()):
        """Writes a resolv.conf naming this server (after the nameservers in before)."""
        with open(path, "w") as f:
            for ns in before:
                f.write("nameserver %s\n" % ns)
            f.write("nameserver 127.0.0.1:%d\n" % self.port)
            if search:
                f.write("search %s\n" % " ".join(search))
            f.write("options timeout:%d attempts:%d\n" % (timeout, attempts))
        return path

    def asked(self, name, protocol=None):
        with self.lock:
            return [q for q in self.queries if q[0] == name and (not protocol or q[2] == protocol)]
