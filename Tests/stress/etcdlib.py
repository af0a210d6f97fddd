"""A real etcd (/usr/bin/etcd, Debian's etcd-server) for the cluster tests: one member on
127.0.0.1, on free ports, with its data in the test's directory; and a small client over its v3
JSON gateway (urllib, loopback only) to put, read and delete keys the way an administrator's tools
would, independently of the daemon's own client.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

ETCD = "/usr/bin/etcd"


def _b64(text: str | bytes) -> str:
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


def _prefix_end(key: bytes) -> bytes:
    """The first key after every key that starts with `key` (etcd's range_end for a prefix)."""
    end = bytearray(key)
    while end:
        if end[-1] < 0xFF:
            end[-1] += 1
            return bytes(end)
        end.pop()
    return b"\0"


class Etcd:
    """`Etcd(directory)`: started and healthy when the constructor returns; `stop()`, `kill()`,
    `pause()`/`resume()` (SIGSTOP/SIGCONT) and `start()` again on the same data and ports."""

    def __init__(self, directory: Path, free_port):
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.client_port = free_port()
        self.peer_port = free_port()
        self.url = f"http://127.0.0.1:{self.client_port}"
        self.name = f"pc-{os.getpid()}-{self.client_port}"
        self.process: subprocess.Popen | None = None
        self.start()

    # -- lifecycle

    def start(self, timeout: float = 30.0):
        if not Path(ETCD).is_file():
            raise RuntimeError(f"no etcd at {ETCD}: apt-get install etcd-server (.ci/run does)")
        peer = f"http://127.0.0.1:{self.peer_port}"
        self.log = open(self.dir / "etcd.log", "ab")
        self.process = subprocess.Popen(
            [ETCD, "--name", self.name, "--data-dir", str(self.dir / "data"),
             "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
             "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
             "--initial-cluster", f"{self.name}={peer}"],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log, start_new_session=True)
        from stresslib import wait_for
        wait_for(lambda: self.process.poll() is not None or self.healthy(), "etcd /health", timeout=timeout)
        if self.process.poll() is not None:
            raise RuntimeError(f"etcd exited at start:\n{(self.dir / 'etcd.log').read_text(errors='replace')[-3000:]}")

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/health", timeout=1) as answer:
                return b'"health":"true"' in answer.read()
        except (OSError, urllib.error.URLError):
            return False

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 20.0):
        """SIGTERM and wait (SIGKILL if it does not go)."""
        if self.alive():
            self.process.send_signal(signal.SIGCONT)
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if self.process is not None:
            self.log.close()

    def kill(self):
        """SIGKILL, as a crash would."""
        if self.alive():
            self.process.kill()
            self.process.wait(10)
            self.log.close()

    def pause(self):
        self.process.send_signal(signal.SIGSTOP)

    def resume(self):
        self.process.send_signal(signal.SIGCONT)

    # -- the v3 JSON gateway

    def call(self, path: str, body: dict, timeout: float = 5.0) -> dict:
        request = urllib.request.Request(self.url + path, data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return json.loads(answer.read() or b"{}")

    def put(self, key: str, value: str | bytes, lease: int | None = None) -> int:
        """Puts `value` at `key`; returns the new revision."""
        body = {"key": _b64(key), "value": _b64(value)}
        if lease is not None:
            body["lease"] = str(lease)
        return int(self.call("/v3/kv/put", body)["header"]["revision"])

    def get(self, key: str) -> bytes | None:
        kvs = self.call("/v3/kv/range", {"key": _b64(key)}).get("kvs", [])
        return base64.b64decode(kvs[0].get("value", "")) if kvs else None

    def range(self, prefix: str) -> dict[str, bytes]:
        """Every key starting with `prefix`, with its value."""
        raw = prefix.encode()
        kvs = self.call("/v3/kv/range", {"key": _b64(raw), "range_end": _b64(_prefix_end(raw))}).get("kvs", [])
        return {base64.b64decode(kv["key"]).decode(): base64.b64decode(kv.get("value", "")) for kv in kvs}

    def delete(self, key: str, prefix: bool = False) -> int:
        """Deletes `key` (every key under it with prefix=True); returns how many went."""
        body = {"key": _b64(key)}
        if prefix:
            body["range_end"] = _b64(_prefix_end(key.encode()))
        return int(self.call("/v3/kv/deleterange", body).get("deleted", 0))

    def grant(self, ttl: int) -> int:
        """A new lease of `ttl` seconds; its id."""
        return int(self.call("/v3/lease/grant", {"TTL": ttl})["ID"])
