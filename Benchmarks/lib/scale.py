"""Case: many sessions and connections at once. Benchmarks/lib/loadgen.c (one process) opens
`sessions` SSH sessions, each holding one remote Unix-socket listener (what `ssh -R /path:...`
asks for), then makes `connections` connections to those sockets on the server's side, spread
evenly, moves `bytes` each way on each (echoed by loadgen's SSH side), holds them all open, then
closes everything. Reported: errors (must be 0), the server's peak memory and its CPU time.

Each side runs against a server of its own, started for this case (fresh counters, raised limits):

- portcullisd is one process: peak RSS is its VmHWM, CPU its utime+stime, both from /proc/PID.
- sshd forks a process per connection (the monitor, then the privilege-separated child; OpenSSH
  9.2 re-executes itself for each): peak RSS is the largest sum of VmRSS over the listener and
  all its descendants among samples taken every SAMPLE_SECONDS and at the moments loadgen reports
  (sessions up, all connections held). CPU is the listener's utime+stime+cutime+cstime once every
  session's processes have exited and been reaped (cutime/cstime count every waited-for
  descendant), minus the same sum before the run. A sum of RSS counts pages the processes share
  (sshd's text, libc) once per process; the PSS sum at the hold point, which shares them out, is
  reported next to it.
"""

import json
import os
import resource
import subprocess
import sys
import threading
import time

import procs
import servers
from results import Result

CIPHER = "aes128-gcm@openssh.com"
SAMPLE_SECONDS = 0.5
PAGE = os.sysconf("SC_PAGE_SIZE")
TICKS = os.sysconf("SC_CLK_TCK")
MiB = 1 << 20
_HERE = os.path.dirname(os.path.abspath(__file__))


def build_loadgen(ctx):
    binary = os.path.join(ctx.run_dir, "loadgen")
    prefix = os.path.join(ctx.root, ".build-libssh", "prefix")
    subprocess.run(["gcc", "-O2", "-Wall", "-Werror", "-I", os.path.join(prefix, "include"), "-o", binary,
                    os.path.join(_HERE, "loadgen.c"), os.path.join(prefix, "lib", "libssh.a"), "-lcrypto",
                    "-lpthread"], check=True)
    return binary


def raise_open_files():
    """Lets this process and everything it starts from now on (servers, loadgen) hold the hard
    limit of open files (each side holds over `connections` + 2 x `sessions` descriptors)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


# ---- /proc ----

def _stat(pid):
    """(ppid, utime+stime, cutime+cstime) in clock ticks, or None once the process is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return int(fields[1]), int(fields[11]) + int(fields[12]), int(fields[13]) + int(fields[14])


def tree(root):
    """`root` and every process descended from it."""
    children = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = _stat(int(name))
            if st:
                children.setdefault(st[0], []).append(int(name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return found


def _status(pid, field):
    """A kB field of /proc/PID/status in bytes (0 once the process is gone)."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def _rss(pid):
    try:
        with open("/proc/%d/statm" % pid) as f:
            return int(f.read().split()[1]) * PAGE
    except (FileNotFoundError, ProcessLookupError):
        return 0


def _pss(pid):
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return 0


def cpu_seconds(pid, children=True):
    st = _stat(pid)
    return ((st[1] + (st[2] if children else 0)) / TICKS) if st else None


def open_files(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except FileNotFoundError:
        return 0


class Sampler:
    """Samples the RSS sum (and count) of a server's process tree in the background."""

    def __init__(self, pid):
        self.pid = pid
        self.peak_rss = 0
        self.peak_processes = 0
        self.samples = 0
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def sample(self):
        pids = tree(self.pid)
        rss = sum(_rss(p) for p in pids)
        with self.lock:
            self.samples += 1
            self.peak_rss = max(self.peak_rss, rss)
            self.peak_processes = max(self.peak_processes, len(pids))
        return rss, pids

    def _run(self):
        while not self.done.wait(SAMPLE_SECONDS):
            self.sample()

    def stop(self):
        self.done.set()
        self.thread.join()


# ---- one run ----

def measure(ctx, server, loadgen, sessions, connections, nbytes, timeout):
    """One loadgen run against `server` (started fresh); a dict of what was measured."""
    pid = server.proc.pid
    forked = isinstance(server, servers.OpenSSH)
    cpu_before = cpu_seconds(pid)
    files_before = open_files(pid)
    argv = [loadgen, "--port", str(server.port), "--user", "root", "--key", ctx.client.key,
            "--known-hosts", ctx.client.known_hosts, "--cipher", CIPHER, "--socket-dir", server.socket_dir,
            "--sessions", str(sessions), "--connections", str(connections), "--bytes", str(nbytes),
            "--wave", "50", "--timeout", str(timeout)]
    log_path = os.path.join(ctx.run_dir, "loadgen-%s.log" % server.name)
    sampler = Sampler(pid)
    phases = {}
    out = {"server": server.name}
    started = time.monotonic()
    with open(log_path, "wb") as log:
        gen = procs.start(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log)
    try:
        for line in gen.stdout:
            report = json.loads(line)
            phases[report["phase"]] = report
            print("  %-18s %-8s %6.1f s, %d errors" % (server.name, report["phase"], report["seconds"],
                                                      report["errors"]), file=sys.stderr)
            if report["phase"] == "sessions":
                rss, pids = sampler.sample()
                out["rss_sessions_only"] = _status(pid, "VmRSS") if not forked else rss
                out["processes_sessions_only"] = len(pids)
            elif report["phase"] == "held":
                rss, pids = sampler.sample()
                out["rss_held"] = _status(pid, "VmRSS") if not forked else rss
                out["pss_held"] = sum(_pss(p) for p in pids)
                out["processes_held"] = len(pids)
                out["open_files_held"] = sum(open_files(p) for p in pids)
                gen.stdin.write(b"\n")
                gen.stdin.flush()
        gen.wait(timeout)
    finally:
        procs.stop(gen)
        sampler.stop()
    out["loadgen_seconds"] = time.monotonic() - started
    out["loadgen_status"] = gen.returncode
    out["phases"] = phases
    out["loadgen_log"] = procs.tail(log_path, 5)
    # The server winds down: sshd's per-session processes exit and are reaped; portcullisd closes
    # every session's sockets.
    settled = lambda: len(tree(pid)) == 1 if forked else open_files(pid) <= files_before  # noqa: E731
    try:
        procs.wait_until("%s to close every session" % server.name, settled, deadline=60)
    except procs.Failure as e:
        out["settle_error"] = str(e).splitlines()[0]
    out["cpu_seconds"] = cpu_seconds(pid) - cpu_before
    out["peak_rss_sampled"] = sampler.peak_rss
    out["peak_rss"] = sampler.peak_rss if forked else _status(pid, "VmHWM")
    out["peak_processes"] = sampler.peak_processes
    out["samples"] = sampler.samples
    done = phases.get("done", {})
    out["errors"] = done.get("errors") if "done" in phases else None
    out["error_samples"] = done.get("error_samples", [])
    return out


def run(ctx):
    limit = raise_open_files()
    loadgen = build_loadgen(ctx)
    sessions, connections, nbytes = ctx.scale_sessions, ctx.scale_connections, 1024
    timeout = 120 if ctx.args.quick else 900
    sides = [
        servers.Portcullis(ctx.run_dir, ctx.client, ctx.far_dir, ctx.portcullisd, name="portcullis-scale"),
        servers.OpenSSH(ctx.run_dir, ctx.client, ctx.far_dir, name="openssh-scale",
                        extra_config=["MaxStartups %d" % (2 * sessions + 10), "MaxSessions %d" % (2 * sessions + 10)]),
    ]
    case = "%d sessions, %d connections" % (sessions, connections)
    print("scale: %s, %d bytes each way (open files limit %d)" % (case, nbytes, limit), file=sys.stderr)
    label = {"portcullis-scale": servers.Portcullis.label, "openssh-scale": servers.OpenSSH.label}
    extra = dict(sessions=sessions, connections=connections, bytes_each_way=nbytes, cipher=CIPHER)
    rows = {
        "errors": Result("scale", "errors", "count", label[sides[0].name], label[sides[1].name],
                         higher_is_better=False, allow_zero=True, expected=1, **extra),
        "rss": Result("scale", "peak RSS", "MiB", label[sides[0].name], label[sides[1].name],
                      higher_is_better=False, expected=1, **extra),
        "cpu": Result("scale", "CPU time", "s", label[sides[0].name], label[sides[1].name],
                      higher_is_better=False, expected=1, **extra),
    }
    runs = {}
    for server in sides:
        values = "a" if server is sides[0] else "b"
        try:
            server.start()
            out = measure(ctx, server, loadgen, sessions, connections, nbytes, timeout)
        except Exception as e:  # the row records it; the other side still runs
            for r in rows.values():
                r.failures.append("%s: %s" % (server.name, e))
            print("  FAILED %s: %s" % (server.name, e), file=sys.stderr)
            continue
        finally:
            server.stop()
        runs[server.name] = out
        errors = out["errors"]
        if errors is None or errors or out["loadgen_status"] != 0:
            rows["errors"].failures.append("%s: %s errors (loadgen exit %s): %s %s" % (
                server.name, errors, out["loadgen_status"], "; ".join(out["error_samples"][:3]),
                out["loadgen_log"].strip().replace("\n", " | ")[:300]))
        if errors is not None:
            getattr(rows["errors"], values).append(errors)
        getattr(rows["rss"], values).append(out["peak_rss"] / MiB)
        getattr(rows["cpu"], values).append(out["cpu_seconds"])
        if out.get("settle_error"):
            rows["cpu"].notes.append("%s: %s" % (server.name, out["settle_error"]))
    for r in rows.values():
        r.extra["runs"] = runs
    p, o = runs.get(sides[0].name), runs.get(sides[1].name)
    if o:
        rows["rss"].notes.append("OpenSSH: sum over up to %d processes; PSS sum at the hold point %.1f MiB"
                                 % (o["peak_processes"], o["pss_held"] / MiB))
    if p:
        rows["rss"].notes.append("Portcullis: VmHWM; RSS with the sessions only %.1f MiB, all held %.1f MiB"
                                 % (p["rss_sessions_only"] / MiB, p["rss_held"] / MiB))
    for name, out in runs.items():
        ph = out["phases"]
        if "held" in ph:
            rows["cpu"].notes.append("%s: sessions up in %.1f s, connections held in %.1f s, closed in %.1f s"
                                     % (label[name], ph["sessions"]["seconds"], ph["held"]["seconds"],
                                        ph.get("done", {}).get("close_seconds", float("nan"))))
    return [rows["errors"], rows["rss"], rows["cpu"]]
