"""The cluster case's etcd: Debian's /usr/bin/etcd, one member on 127.0.0.1 on free ports with its
data in the run directory, started and stopped by the harness like every other process; and the few
v3 JSON-gateway calls the case makes itself (read a key, read a prefix)."""

import base64
import json
import os
import urllib.error
import urllib.request

import procs

ETCD = "/usr/bin/etcd"


def _b64(data):
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


def _prefix_end(key):
    """The first key after every key that starts with `key` (etcd's range_end for a prefix)."""
    end = bytearray(key)
    while end:
        if end[-1] < 0xFF:
            end[-1] += 1
            return bytes(end)
        end.pop()
    return b"\0"


class Etcd:
    """Started and healthy when the constructor returns; `url` is its client URL."""

    def __init__(self, run_dir):
        if not os.access(ETCD, os.X_OK):
            raise procs.Failure("no etcd at %s: install Debian's etcd-server (Benchmarks/run does)" % ETCD)
        self.dir = os.path.join(run_dir, "etcd")
        os.makedirs(self.dir, mode=0o700)
        self.log = os.path.join(self.dir, "etcd.log")
        client, peer = procs.free_port(), procs.free_port()
        self.url = "http://127.0.0.1:%d" % client
        peer_url = "http://127.0.0.1:%d" % peer
        name = "bench-%d" % client
        with open(self.log, "wb") as log:
            self.proc = procs.start([ETCD, "--name", name, "--data-dir", os.path.join(self.dir, "data"),
                                     "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
                                     "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
                                     "--initial-cluster", "%s=%s" % (name, peer_url)], stdout=log, stderr=log)
        procs.wait_until("etcd at %s to be healthy" % self.url, self.healthy, deadline=30,
                         watch=[(self.proc, self.log_tail)])

    def healthy(self):
        try:
            with urllib.request.urlopen(self.url + "/health", timeout=1) as answer:
                return b'"health":"true"' in answer.read()
        except (OSError, urllib.error.URLError):
            return False

    def log_tail(self):
        return "etcd log (%s):\n%s" % (self.log, procs.tail(self.log))

    def stop(self):
        procs.stop(self.proc)

    def _call(self, path, body):
        request = urllib.request.Request(self.url + path, data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=5) as answer:
            return json.loads(answer.read() or b"{}")

    def put(self, key, value):
        self._call("/v3/kv/put", {"key": _b64(key), "value": _b64(value)})

    def get(self, key):
        """The value at `key` (bytes), or None."""
        kvs = self._call("/v3/kv/range", {"key": _b64(key)}).get("kvs", [])
        return base64.b64decode(kvs[0].get("value", "")) if kvs else None

    def keys(self, prefix):
        """Every key under `prefix`."""
        raw = prefix.encode()
        kvs = self._call("/v3/kv/range", {"key": _b64(raw), "range_end": _b64(_prefix_end(raw)),
                                          "keys_only": True}).get("kvs", [])
        return [base64.b64decode(kv["key"]).decode() for kv in kvs]
