"""Helpers for the stress suite: the daemon under test, stock ssh, paramiko, small services on
loopback, and measurements of the daemon's process (CPU, memory, descriptors) from /proc.

Nothing here sends traffic anywhere but 127.0.0.0/8.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import resource
import select
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SSH = "/usr/bin/ssh"
SSH_KEYGEN = "/usr/bin/ssh-keygen"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def daemon_binary() -> Path:
    return Path(os.environ.get("PORTCULLISD") or REPO_ROOT / ".build/release/portcullisd").resolve()


def policyctl_binary() -> Path:
    """policyctl built next to the portcullisd the tests run."""
    return Path(os.environ.get("POLICYCTL") or daemon_binary().parent / "policyctl").resolve()


# ---------------------------------------------------------------------------------------------
# Waiting, ports, keys


def wait_for(condition, what: str, timeout: float = 10.0, interval: float = 0.02):
    """Calls `condition` until it returns something truthy, which is returned; fails with `what`
    once `timeout` seconds have passed. Never a fixed sleep."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.1f} s waiting for {what}")
        time.sleep(interval)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def make_key(path: Path) -> tuple[Path, str]:
    """A throwaway ed25519 key pair at `path`; returns (private key path, public key line)."""
    subprocess.run([SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", "stress", "-f", str(path)],
                   check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    return path, Path(str(path) + ".pub").read_text().strip()


def raise_nofile(wanted: int) -> int:
    """Raises this process's soft RLIMIT_NOFILE towards `wanted` (at most the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def percentile(values, p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, int(round(p / 100.0 * len(ordered) + 0.5)) - 1))
    return ordered[index]


# ---------------------------------------------------------------------------------------------
# The daemon's process, read from /proc


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of the process (all its threads), in seconds."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def status_kib(pid: int, name: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    raise KeyError(name)


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def sched_seconds(pid: int) -> float:
    """Seconds the process's live threads have been on a CPU or runnable and waiting for one
    (/proc/PID/task/*/schedstat). Unlike CPU time, a thread that spins counts fully even when the
    machine is busy with other work."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            run, wait = Path(f"/proc/{pid}/task/{task}/schedstat").read_text().split()[:2]
        except (OSError, ValueError):
            continue
        total += int(run) + int(wait)
    return total / 1e9


class CPUWindow:
    """What a process asked of the CPUs between `start()` and `stop()`, as percentages of one core:
    `percent` is CPU time used; `demand` is time on a CPU or runnable waiting for one (at least
    `percent`). On a machine shared with other work a spinning thread gets less CPU, but its demand
    stays near 100%: judge spins by `demand`."""

    def __init__(self, pid: int):
        self.pid = pid

    def start(self):
        self.t0, self.c0, self.s0 = time.monotonic(), cpu_seconds(self.pid), sched_seconds(self.pid)
        return self

    def stop(self) -> float:
        """The CPU percentage; NaN (and so never under a limit) if the process is gone."""
        self.t1 = time.monotonic()
        try:
            self.c1, self.s1 = cpu_seconds(self.pid), sched_seconds(self.pid)
        except OSError:
            self.c1 = self.s1 = float("nan")
        self.seconds = self.t1 - self.t0
        self.cpu = self.c1 - self.c0
        self.percent = 100.0 * self.cpu / self.seconds if self.seconds > 0 else float("nan")
        self.demand = max(self.percent, 100.0 * (self.s1 - self.s0) / self.seconds if self.seconds > 0 else float("nan"))
        return self.percent

    def __str__(self):
        return f"{self.percent:.1f}% of a core (demand, with time runnable waiting for a CPU: {self.demand:.1f}%)"


class RSSSampler(threading.Thread):
    """Samples a process's VmRSS every `interval` s until stopped; keeps the peak (KiB)."""

    def __init__(self, pid: int, interval: float = 0.05):
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak_kib = status_kib(pid, "VmRSS")
        self.samples = 0
        self._stop_event = threading.Event()

    def run(self):
        while not self._stop_event.is_set():
            try:
                self.peak_kib = max(self.peak_kib, status_kib(self.pid, "VmRSS"))
                self.samples += 1
            except (OSError, KeyError):
                return
            self._stop_event.wait(self.interval)

    def stop(self) -> int:
        self._stop_event.set()
        self.join(5)
        return self.peak_kib


# ---------------------------------------------------------------------------------------------
# The daemon under test

# A reason that says nothing: empty, or a prefix whose detail is missing ("channel write failed: ").
EMPTY_REASON = re.compile(r"^\s*$|:\s*$")


@dataclass
class Key:
    name: str
    private: Path
    public: str


class Daemon:
    """portcullisd started from a config written here, in its own directory."""

    def __init__(self, directory: Path, keys: dict[str, str], extra_yaml: str = "",
                 login_grace_time: str = "30s", nofile: int | None = None,
                 wrapper: list[str] | None = None, socket_root: Path | None = None,
                 audit_log: Path | None = None, control_socket: Path | str | None = None,
                 wait_listening: bool = True, limits: str = "", cluster=None, proxy_id: str | None = None,
                 cluster_yaml: str = "lease_ttl: 2s", port: int | None = None):
        """`cluster`: an etcdlib.Etcd; the daemon then runs in cluster mode on it (proxy_id
        `proxy_id`, more `cluster:` fields in `cluster_yaml`) and `keys` are written into etcd under
        /portcullis/keys/ instead of the file (an entry already there is replaced). `port`: the
        listen port, known before the start (a cluster member's advertise address); default a
        free one."""
        self.dir = directory
        # `socket_root`: another daemon's, to start over what it left (a restart after a crash).
        self.socket_root = socket_root or directory / "sockets"
        self.socket_root.mkdir(mode=0o700, exist_ok=socket_root is not None)
        # audit_log: an existing log to go on with (a restart after a crash), else a new one here.
        self.audit_log = Path(audit_log) if audit_log is not None else directory / "audit.jsonl"
        self.log_path = directory / "portcullisd.log"
        self.config_path = directory / "portcullis.yaml"
        # Every test daemon has its own control socket, never /run/portcullis (control_socket:
        # in extra_yaml wins).
        self.control_socket = Path(control_socket) if control_socket is not None else directory / "control.sock"
        self.known_hosts = directory / "known_hosts"
        self.port = port or free_port()
        self.keys: dict[str, Key] = {}
        self.expect_exit = False
        host_key, host_public = make_key(directory / "host_key")
        lines = [
            f'listen: ["127.0.0.1:{self.port}"]',
            f'host_keys: ["{host_key}"]',
            f'socket_root: "{self.socket_root}"',
            # `limits`: more fields of the limits mapping, e.g. "max_listens: 1".
            f"limits: {{login_grace_time: {login_grace_time}, max_auth_tries: 6{', ' + limits if limits else ''}}}",
            f'audit_log: "{self.audit_log}"',
        ]
        if "control_socket:" not in extra_yaml:
            lines.append(f'control_socket: "{self.control_socket}"')
        if extra_yaml:
            lines.append(extra_yaml)
        self.cluster = cluster
        self.proxy_id = proxy_id
        if cluster is not None:
            if proxy_id:
                lines.append(f"proxy_id: {proxy_id}")
            fields = ", ".join(f for f in [f'etcd: ["{cluster.url}"]', f'snapshot: "{directory / "policy.snapshot"}"',
                                           cluster_yaml] if f)
            lines.append(f"cluster: {{{fields}}}")
        else:
            lines.append("keys:")
        for name, rules in keys.items():
            private, public = make_key(directory / f"key-{name}")
            self.keys[name] = Key(name, private, public)
            entry = [f"name: {name}", f'key: "{public}"'] + [
                rule.strip().replace("%ROOT%", str(self.socket_root)) for rule in rules.strip().splitlines() if rule.strip()]
            if cluster is not None:
                cluster.put(f"/portcullis/keys/{name}", "\n".join(entry) + "\n")
            else:
                lines += ["  - " + entry[0]] + ["    " + line for line in entry[1:]]
        self.config_path.write_text("\n".join(lines) + "\n")
        self.known_hosts.write_text(f"[127.0.0.1]:{self.port} {host_public}\n")

        self._launch(wrapper, nofile, wait_listening)

    def _launch(self, wrapper, nofile, wait_listening: bool):
        binary = daemon_binary()
        if not binary.is_file():
            raise RuntimeError(f"no portcullisd at {binary}: build it (make build) or set PORTCULLISD")
        def preexec():
            if nofile is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
        self._wrapper, self._nofile = wrapper, nofile
        self.log_file = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            (wrapper or []) + [str(binary), "--config", str(self.config_path)],
            stdin=subprocess.DEVNULL, stdout=self.log_file, stderr=self.log_file,
            preexec_fn=preexec, start_new_session=True,
            # PORTCULLIS_STRESS_IGNORE_SIGPIPE=1 starts the daemon with SIGPIPE ignored (inherited
            # from this process), to see what else fails once the hang-up crash is out of the way.
            restore_signals=not os.environ.get("PORTCULLIS_STRESS_IGNORE_SIGPIPE"))
        self.pid = self.process.pid
        if not wait_listening:
            return
        try:
            wait_for(lambda: "listening on" in self.stderr() or self.process.poll() is not None,
                     "portcullisd to say 'listening on'", timeout=20)
        except AssertionError:
            self.kill()
            raise AssertionError(f"portcullisd did not start listening; its log:\n{self.stderr()}")
        if self.process.poll() is not None:
            raise AssertionError(f"portcullisd exited at start ({self.describe_exit()}):\n{self.stderr()}")

    def restart(self, wait_listening: bool = True) -> int | None:
        """Stops the daemon (SIGTERM) and starts it again on the same config, host key, socket root
        and audit log, its log in a new file; returns the stop's exit status."""
        code = self.stop()
        self.restarts = getattr(self, "restarts", 0) + 1
        self.log_path = self.dir / f"portcullisd.{self.restarts}.log"
        self._launch(self._wrapper, self._nofile, wait_listening)
        return code

    # -- state

    def alive(self) -> bool:
        return self.process.poll() is None

    def describe_exit(self) -> str:
        code = self.process.poll()
        if code is None:
            return "running"
        if code < 0:
            return f"killed by {signal.Signals(-code).name} (shell status {128 - code})"
        return f"exit status {code}"

    def assert_alive(self, context: str = ""):
        assert self.alive(), (f"portcullisd is dead{' ' + context if context else ''}: {self.describe_exit()}; "
                              f"last log lines:\n{self.stderr_tail()}")

    def stderr(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stderr_tail(self, lines: int = 15) -> str:
        return "\n".join(self.stderr().splitlines()[-lines:])

    def audit(self) -> list[dict]:
        records = []
        try:
            text = self.audit_log.read_text(errors="replace")
        except FileNotFoundError:
            return records
        for line in text.splitlines():
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError:
                    records.append({"event": "unparsable", "line": line})
        return records

    def events(self, event: str, **match) -> list[dict]:
        return [r for r in self.audit() if r.get("event") == event
                and all(r.get(k) == v for k, v in match.items())]

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)

    def rss_kib(self) -> int:
        return status_kib(self.pid, "VmRSS")

    def hwm_kib(self) -> int:
        return status_kib(self.pid, "VmHWM")

    def fd_count(self) -> int:
        return fd_count(self.pid)

    def empty_reasons(self) -> list[str]:
        """Audit records and log lines whose reason says nothing (issue 10, section 4), grouped:
        one line per distinct (event, reason) or log wording, with its count and an example."""
        groups: dict[str, list] = {}
        for record in self.audit():
            for name in ("reason", "error"):
                if name in record and EMPTY_REASON.search(str(record[name])):
                    key = f"audit {record.get('event')} {name}={str(record[name])!r}"
                    groups.setdefault(key, [0, json.dumps(record)])[0] += 1
        for line in self.stderr().splitlines():
            if line.startswith("portcullisd: ") and (line.endswith(":") or line.endswith(": ")
                                                     or "closed ()" in line or ": )" in line):
                key = "log " + re.sub(r"\d+", "N", line)
                groups.setdefault(key, [0, line])[0] += 1
        return [f"{count} x {key}\n      e.g. {example}" for key, (count, example) in groups.items()]

    # -- policyctl

    def policyctl(self, *args: str, timeout: float = 30.0) -> subprocess.CompletedProcess:
        """policyctl ARGS against this daemon's control socket (output as text, never raises)."""
        return subprocess.run([str(policyctl_binary()), *args, "--control-socket", str(self.control_socket)],
                              capture_output=True, text=True, timeout=timeout)

    # -- stock ssh

    def ssh_args(self, key: str, *extra: str, user: str | None = None) -> list[str]:
        return [SSH, "-F", "/dev/null", "-i", str(self.keys[key].private), "-o", "IdentitiesOnly=yes",
                "-o", f"UserKnownHostsFile={self.known_hosts}", "-o", "GlobalKnownHostsFile=/dev/null",
                "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "LogLevel=INFO",
                "-o", "ConnectTimeout=20", "-p", str(self.port), *extra, f"{user or key}@127.0.0.1"]

    # -- paramiko

    def paramiko_transport(self, key: str, timeout: float = 20.0, user: str | None = None):
        import paramiko
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        transport = paramiko.Transport(sock)
        transport.banner_timeout = timeout
        transport.auth_timeout = timeout
        try:
            transport.start_client(timeout=timeout)
            pkey = paramiko.Ed25519Key.from_private_key_file(str(self.keys[key].private))
            transport.auth_publickey(user or key, pkey)
            if not transport.is_authenticated():
                raise RuntimeError("not authenticated")
        except BaseException:
            transport.close()
            raise
        return transport

    # -- stopping

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM, then wait; SIGKILL if it does not stop in time. Returns the exit status seen
        after SIGTERM (None if it had to be killed)."""
        if self.process.poll() is not None:
            self.log_file.close()
            return self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            code = None
        self.log_file.close()
        return code

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


# ---------------------------------------------------------------------------------------------
# Processes the tests start (stock ssh), stopped at the end of the test


class ProcessGroup:
    def __init__(self, directory: Path):
        self.dir = directory
        self.processes: list[tuple[subprocess.Popen, Path]] = []
        self.counter = 0

    def start(self, argv: list[str], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL) -> "Started":
        self.counter += 1
        err = self.dir / f"proc-{self.counter}.err"
        process = subprocess.Popen(argv, stdin=stdin, stdout=stdout, stderr=open(err, "wb"))
        self.processes.append((process, err))
        return Started(process, err)

    def stop_all(self):
        for process, _ in self.processes:
            if process.poll() is None:
                process.terminate()
        for process, _ in self.processes:
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


@dataclass
class Started:
    process: subprocess.Popen
    err_path: Path

    @property
    def pid(self):
        return self.process.pid

    def stderr(self) -> str:
        try:
            return self.err_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def alive(self) -> bool:
        return self.process.poll() is None

    def end(self, grace: float = 2.0) -> int:
        """Ends the process as a user's Ctrl-C or kill would: SIGTERM, again if it is still there
        after `grace` seconds (the stock ssh of Debian 12 sometimes misses a SIGTERM that arrives
        while it is between polls), then SIGKILL. Returns its exit status."""
        for send in (self.process.terminate, self.process.terminate, self.process.kill):
            send()
            try:
                return self.process.wait(grace)
            except subprocess.TimeoutExpired:
                continue
        return self.process.wait(10)

    def allocated_port(self, timeout: float = 15.0) -> int:
        """The port of `ssh -R 0:...` ("Allocated port N for remote forward to ...")."""
        def find():
            match = re.search(r"Allocated port (\d+) for remote forward", self.stderr())
            if match:
                return int(match.group(1))
            if not self.alive():
                raise AssertionError(f"ssh exited ({self.process.returncode}): {self.stderr()}")
            return None
        return wait_for(find, "ssh to print the allocated port", timeout)


# ---------------------------------------------------------------------------------------------
# Small services on loopback


def pattern(size: int, seed: int = 10) -> bytes:
    """`size` deterministic pseudo-random bytes (cached)."""
    key = (size, seed)
    if key not in _patterns:
        _patterns[key] = random.Random(seed).randbytes(size)
    return _patterns[key]


_patterns: dict = {}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Service:
    """A threaded server on 127.0.0.1 (TCP, free port) or a Unix socket path; `handler(conn)`
    runs in its own thread per connection. Stopped by `stop()`."""

    def __init__(self, handler, unix_path: Path | None = None):
        self.handler = handler
        if unix_path is None:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.sock.bind(("127.0.0.1", 0))
            self.port = self.sock.getsockname()[1]
            self.address = ("127.0.0.1", self.port)
        else:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.bind(str(unix_path))
            self.port = None
            self.address = str(unix_path)
        self.sock.listen(512)
        self.connections = 0
        self.errors: list[str] = []
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._stopped = False
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    def _accept_loop(self):
        while not self._stopped:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
                self._conns.add(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        try:
            self.handler(conn)
        except OSError:
            pass
        except Exception as error:  # noqa: BLE001 - recorded for the test to see
            self.errors.append(repr(error))
        finally:
            with self._lock:
                self._conns.discard(conn)
            try:
                conn.close()
            except OSError:
                pass

    def stop(self):
        self._stopped = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def echo_handler(conn: socket.socket):
    while True:
        data = conn.recv(65536)
        if not data:
            return
        conn.sendall(data)


def stream_handler(size: int):
    """Sends the first `size` bytes of `pattern(size)`, then closes."""
    data = pattern(size)

    def handler(conn: socket.socket):
        view = memoryview(data)
        sent = 0
        while sent < size:
            sent += conn.send(view[sent:sent + 262144])
        conn.shutdown(socket.SHUT_WR)
        # Wait for the other side to finish, so that close() never resets what is in flight.
        conn.settimeout(30)
        while conn.recv(65536):
            pass
    return handler


def endless_handler(limit: int = 1 << 30):
    """Streams a repeating pattern until the peer goes away (or `limit` bytes)."""
    block = pattern(1 << 20, seed=11)

    def handler(conn: socket.socket):
        sent = 0
        while sent < limit:
            sent += conn.send(block)
    return handler


def read_then_close_handler(count: int):
    """Reads `count` bytes, then closes with more still arriving (a target that hangs up)."""
    def handler(conn: socket.socket):
        got = 0
        while got < count:
            data = conn.recv(count - got)
            if not data:
                return
            got += len(data)
    return handler


def hold_handler(stop_event: threading.Event):
    """Accepts and never reads: a target that stalls."""
    def handler(conn: socket.socket):
        stop_event.wait(120)
    return handler


# ---------------------------------------------------------------------------------------------
# Client-side helpers


def connect_retry(address, timeout: float = 10.0, family=socket.AF_INET) -> socket.socket:
    """Connects to a local listener that may not be up yet (ssh -L)."""
    def attempt():
        s = socket.socket(family, socket.SOCK_STREAM)
        try:
            s.settimeout(5)
            s.connect(address)
            return s
        except OSError:
            s.close()
            return None
    return wait_for(attempt, f"{address} to accept connections", timeout)


def echo_round_trip(address, payload: bytes, timeout: float = 10.0, family=socket.AF_INET) -> bytes:
    """Connects, sends `payload`, half-closes, reads to EOF; returns what came back."""
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(address)
        received = bytearray()
        view = memoryview(payload)
        sent = 0
        while sent < len(payload):
            r, w, _ = select.select([s], [s], [], timeout)
            if not r and not w:
                raise TimeoutError("echo round trip stalled")
            if w:
                sent += s.send(view[sent:sent + 65536])
            if r:
                chunk = s.recv(262144)
                if not chunk:
                    break
                received += chunk
        s.shutdown(socket.SHUT_WR)
        while True:
            chunk = s.recv(262144)
            if not chunk:
                break
            received += chunk
        return bytes(received)


def ping(address, timeout: float = 5.0, family=socket.AF_INET) -> float:
    """One round trip through an echo path: connect, 16 bytes out, the same back, close.
    Returns the seconds it took; raises if the echo is wrong."""
    payload = os.urandom(16)
    start = time.monotonic()
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(address)
        s.sendall(payload)
        got = b""
        while len(got) < len(payload):
            chunk = s.recv(64)
            if not chunk:
                break
            got += chunk
    elapsed = time.monotonic() - start
    if got != payload:
        raise AssertionError(f"echo returned {len(got)} of {len(payload)} bytes")
    return elapsed


@dataclass
class Tally:
    """Thread-safe counters and a few examples of each kind."""
    counts: dict = field(default_factory=dict)
    examples: dict = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: str, example: str | None = None):
        with self.lock:
            self.counts[kind] = self.counts.get(kind, 0) + 1
            if example is not None:
                self.examples.setdefault(kind, [])
                if len(self.examples[kind]) < 3:
                    self.examples[kind].append(example)

    def __getitem__(self, kind):
        return self.counts.get(kind, 0)
