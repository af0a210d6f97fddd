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

Both sides are offered the same load. One portcullisd process holds 3 descriptors per session (its
socket, its listener and the listener's directory) and one per connection, so where the open files
limit cannot be raised
far enough (the hard limit is raised when the harness may: root with CAP_SYS_RESOURCE) the
connections are cut to what fits, for both sides, and a note says so. loadgen stops opening
sessions and connections once the machine's MemAvailable falls under --memory-reserve-mib (sshd's
process per session is what fills it); then, and where sshd's side fails part of the load on a
full-size run, the row reports how far each side got instead of failing the run.
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


FD_RESERVE = 128  # a server's own descriptors (listeners, pipes, event fds, its log) with room to spare
PER_SESSION = 3  # portcullisd's descriptors per session with a Unix-socket listen: socket, listener, its directory


def raise_open_files(want=0):
    """Lets this process and everything it starts from now on (servers, loadgen, flood) hold
    `want` open files: the hard limit is raised to it where allowed (root with CAP_SYS_RESOURCE,
    up to fs.nr_open), else the soft limit to the hard one. Returns the limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if want > hard:
        try:
            with open("/proc/sys/fs/nr_open") as f:
                want = min(want, int(f.read()))
        except (OSError, ValueError):
            pass
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
        except (ValueError, OSError):  # not allowed to raise the hard limit: keep it
            pass
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def limit_note(limit, want):
    """Why a load was cut to `limit` descriptors, for the notes."""
    return ("one process may hold %d open files here (RLIMIT_NOFILE hard limit; raising it to %d was refused: "
            "no CAP_SYS_RESOURCE)" % (limit, want))


def capacity(limit, sessions, connections, per_session):
    """The (sessions, connections) that one process holding `per_session` descriptors per session
    and one per connection can hold under `limit`."""
    room = max(0, limit - FD_RESERVE)
    sessions = min(sessions, room // per_session)
    return sessions, min(connections, room - per_session * sessions)


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


def open_sockets(pid):
    """How many of the process's descriptors are sockets (its sessions, listeners, connections)."""
    count = 0
    try:
        for fd in os.listdir("/proc/%d/fd" % pid):
            try:
                count += os.readlink("/proc/%d/fd/%s" % (pid, fd)).startswith("socket:")
            except OSError:  # closed meanwhile
                pass
    except FileNotFoundError:
        pass
    return count


def tree_cpu_seconds(pid):
    """CPU time of `pid` and every live descendant, with the reaped ones' (cutime/cstime): a
    difference of two readings is what the whole tree spent between them."""
    total = 0
    for p in tree(pid):
        st = _stat(p)
        if st:
            total += st[1] + st[2]
    return total / TICKS


def memory(pid, forked):
    """(RSS, PSS, processes) of a server now: portcullisd's VmRSS, or the sums over sshd's tree."""
    pids = tree(pid) if forked else [pid]
    rss = sum(_rss(p) for p in pids) if forked else _status(pid, "VmRSS")
    return rss, sum(_pss(p) for p in pids), len(pids)


def baseline(server):
    """What settle() waits to get back to: sshd's process count, portcullisd's socket count."""
    pid = server.proc.pid
    return len(tree(pid)) if isinstance(server, servers.OpenSSH) else open_sockets(pid)


def settle(server, before, deadline):
    """Waits until the server has closed every session opened since `before` (its baseline()):
    sshd's per-session processes have exited, portcullisd holds no more sockets than before. An
    error message, or None."""
    left = lambda: baseline(server) - before  # noqa: E731
    try:
        procs.wait_until("%s to close every session" % server.name, lambda: left() <= 0, deadline=deadline)
    except procs.Failure as e:
        return "%s (%d %s left)" % (str(e).splitlines()[0], left(),
                                    "processes" if isinstance(server, servers.OpenSSH) else "sockets")
    return None


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

def loadgen_argv(ctx, server, loadgen, sessions, connections, nbytes, timeout, stall=0):
    return [loadgen, "--port", str(server.port), "--user", "root", "--key", ctx.client.key,
            "--known-hosts", ctx.client.known_hosts, "--cipher", CIPHER, "--socket-dir", server.socket_dir,
            "--sessions", str(sessions), "--connections", str(connections), "--bytes", str(nbytes),
            "--wave", "50", "--timeout", str(timeout), "--stall", str(stall),
            "--min-available-mib", str(ctx.memory_reserve_mib)]


def reached(out, sessions, connections):
    """How far a run got, for the notes: "5000 of 5000 sessions, 9872 of 9872 connections"."""
    held = out["phases"].get("held", {})
    text = "%d of %d sessions, %d of %d connections" % (held.get("sessions_ok", 0), sessions, held.get("held", 0),
                                                        connections)
    stopped = out["phases"].get("sessions", {}).get("stopped") or held.get("stopped")
    if stopped:
        text += " (stopped: %s)" % {"memory": "MemAvailable under the reserve", "stalled": "no echo for a while",
                                     "deadline": "deadline"}.get(stopped, stopped)
    return text


def measure(ctx, server, loadgen, sessions, connections, nbytes, timeout, stall):
    """One loadgen run against `server` (started fresh); a dict of what was measured."""
    pid = server.proc.pid
    forked = isinstance(server, servers.OpenSSH)
    cpu_before = cpu_seconds(pid)
    before = baseline(server)
    argv = loadgen_argv(ctx, server, loadgen, sessions, connections, nbytes, timeout, stall)
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
            print("  %-18s %-8s %6.1f s, %d errors%s" % (
                server.name, report["phase"], report["seconds"], report["errors"],
                ", %d of %d sessions up" % (report["ok"], sessions) if report["phase"] == "sessions" else
                ", %d of %d connections held" % (report["held"], connections) if report["phase"] == "held" else ""),
                file=sys.stderr)
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
    out["settle_error"] = settle(server, before, 15 if ctx.args.quick else 180)
    out["cpu_seconds"] = cpu_seconds(pid) - cpu_before
    out["peak_rss_sampled"] = sampler.peak_rss
    out["peak_rss"] = sampler.peak_rss if forked else _status(pid, "VmHWM")
    out["peak_processes"] = sampler.peak_processes
    out["samples"] = sampler.samples
    done = phases.get("done", {})
    out["errors"] = done.get("errors") if "done" in phases else None
    out["error_samples"] = done.get("error_samples", [])
    out["sessions_ok"] = phases.get("held", {}).get("sessions_ok", phases.get("sessions", {}).get("ok", 0))
    out["held"] = phases.get("held", {}).get("held", 0)
    return out


def run(ctx):
    wanted_sessions, wanted_connections, nbytes = ctx.scale_sessions, ctx.scale_connections, 1024
    want = PER_SESSION * wanted_sessions + wanted_connections + FD_RESERVE
    limit = raise_open_files(want)
    sessions, connections = capacity(limit, wanted_sessions, wanted_connections, per_session=PER_SESSION)
    capped = (sessions, connections) != (wanted_sessions, wanted_connections)
    ctx.scale_offered = (sessions, connections)
    loadgen = build_loadgen(ctx)
    timeout = 120 if ctx.args.quick else 1800
    stall = 30 if ctx.args.quick else 120
    sshd_limits = ["MaxStartups %d" % (2 * sessions + 10), "MaxSessions %d" % (2 * sessions + 10)]
    portcullis_limits = {"max_startups": 2 * sessions + 10, "per_source_max_startups": "none"}
    sides = [
        servers.Portcullis(ctx.run_dir, ctx.client, ctx.far_dir, ctx.portcullisd, name="portcullis-scale",
                           limits=portcullis_limits),
        servers.OpenSSH(ctx.run_dir, ctx.client, ctx.far_dir, name="openssh-scale", extra_config=sshd_limits),
    ]
    case = "%d sessions, %d connections" % (sessions, connections)
    print("scale: %s, %d bytes each way (open files limit %d%s)" % (
        case, nbytes, limit, ", cut from %d connections" % wanted_connections if capped else ""), file=sys.stderr)
    label = {"portcullis-scale": servers.Portcullis.label, "openssh-scale": servers.OpenSSH.label}
    extra = dict(sessions=sessions, connections=connections, sessions_requested=wanted_sessions,
                 connections_requested=wanted_connections, open_files_limit=limit, bytes_each_way=nbytes,
                 cipher=CIPHER, memory_reserve_mib=ctx.memory_reserve_mib)
    rows = {
        "errors": Result("scale", "errors", "count", label[sides[0].name], label[sides[1].name],
                         higher_is_better=False, allow_zero=True, expected=1, **extra),
        "rss": Result("scale", "peak RSS", "MiB", label[sides[0].name], label[sides[1].name],
                      higher_is_better=False, expected=1, **extra),
        "cpu": Result("scale", "CPU time", "s", label[sides[0].name], label[sides[1].name],
                      higher_is_better=False, expected=1, **extra),
    }
    rows["errors"].notes.append("sshd: %s; Portcullis: %s; so that the machine is the limit, not a default" % (
        ", ".join(sshd_limits), ", ".join("%s %s" % item for item in sorted(portcullis_limits.items()))))
    if capped:
        rows["errors"].notes.append("load cut to %d of %d sessions, %d of %d connections for both sides: %s" % (
            sessions, wanted_sessions, connections, wanted_connections, limit_note(limit, want)))
    runs = {}
    for server in sides:
        values = "a" if server is sides[0] else "b"
        try:
            server.start()
            out = measure(ctx, server, loadgen, sessions, connections, nbytes, timeout, stall)
        except Exception as e:  # the row records it; the other side still runs
            for r in rows.values():
                r.failures.append("%s: %s" % (server.name, e))
            print("  FAILED %s: %s" % (server.name, e), file=sys.stderr)
            continue
        finally:
            server.stop()
        runs[server.name] = out
        errors = out["errors"]
        short = out["sessions_ok"] < sessions or out["held"] < connections
        stopped_for_memory = "memory" in (out["phases"].get("sessions", {}).get("stopped"),
                                          out["phases"].get("held", {}).get("stopped"))
        # sshd at the machine's limit (a process per session): how far it got is the result, on a
        # full-size run or when the memory reserve stopped loadgen; the run does not fail for it.
        machine_limit = isinstance(server, servers.OpenSSH) and out["sessions_ok"] > 0 and \
            (stopped_for_memory or not ctx.args.quick)
        if short or errors:
            rows["errors"].notes.append("%s got to %s%s" % (
                label[server.name], reached(out, sessions, connections),
                "; first errors: " + "; ".join(out["error_samples"][:2]) if out["error_samples"] else ""))
        if (errors is None or errors or out["loadgen_status"] != 0 or short) and not machine_limit:
            rows["errors"].failures.append("%s: %s errors (loadgen exit %s), %s: %s %s" % (
                server.name, errors, out["loadgen_status"], reached(out, sessions, connections),
                "; ".join(out["error_samples"][:3]), out["loadgen_log"].strip().replace("\n", " | ")[:300]))
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
                                 % (o["peak_processes"], o.get("pss_held", 0) / MiB))
    if p:
        rows["rss"].notes.append("Portcullis: VmHWM; RSS with the sessions only %.1f MiB, all held %.1f MiB"
                                 % (p.get("rss_sessions_only", 0) / MiB, p.get("rss_held", 0) / MiB))
    if p and o and (p["sessions_ok"], p["held"]) != (o["sessions_ok"], o["held"]):
        rows["rss"].notes.append("the two sides held different loads (above): the ratios compare unequal loads")
    for name, out in runs.items():
        ph = out["phases"]
        if "held" in ph:
            rows["cpu"].notes.append("%s: sessions up in %.1f s, connections held in %.1f s, closed in %.1f s"
                                     % (label[name], ph["sessions"]["seconds"], ph["held"]["seconds"],
                                        ph.get("done", {}).get("close_seconds", float("nan"))))
    return [rows["errors"], rows["rss"], rows["cpu"]]
