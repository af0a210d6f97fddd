"""Case: forwarded connection setup latency with and without idle sessions on the same server.

Each side gets a server of its own for this case. A stock `ssh -N -R` per server forwards a TCP
port to conn_setup's echo service, as in the connection setup case (Benchmarks/lib/conn_setup.py),
and conn_setup's loop makes `connections` short connections through it (connect, 1 byte, its
echo, close), timed from connect() to the echo:

1. without idle load: both servers, in turns of `block` connections (A B, B A, ...);
2. then, one server at a time, loadgen (Benchmarks/lib/loadgen.c, --connections 0) opens
   `sessions` authenticated sessions on it, each holding a remote Unix-socket listen (what an
   `ssh -N -R /path:...` user holds) and then silent; the server's CPU is read over a quiet window
   (`window` seconds, nothing but the idle sessions), then the same `connections` are measured
   again with every idle session held, then loadgen closes them and the server winds down.

Reported per server: p50 and p99 without and with the idle sessions, their with/without ratio
(target: Portcullis at most 1.2, and at most OpenSSH's), the server's CPU while the sessions sit
idle, and Portcullis / OpenSSH for each. sshd forks a process per session: MaxStartups and
MaxSessions are raised so that the machine is the limit, and loadgen stops opening sessions once
the machine's MemAvailable is under --memory-reserve-mib; where a side holds fewer sessions than
asked, its "with" figures are for the sessions it held, and a note says how many."""

import json
import math
import os
import statistics
import subprocess
import sys
import time

import conn_setup
import procs
import scale
import servers
from results import Result

CIPHER = conn_setup.CIPHER
MiB = 1 << 20
SLOW_US = 30000  # a connection this slow waited for a delayed ACK (about 40 ms)


def measure_blocks(binary, forwards, count, size, latencies, label):
    """`count` connections through each forward, in turns of `size` (A B, B A, ...), added to
    latencies[server name]; the failures, one message each."""
    failures = []
    blocks = math.ceil(count / size)
    for i in range(blocks):
        n = min(size, count - i * size)
        medians = []
        for f in (forwards if i % 2 == 0 else forwards[::-1]):
            try:
                values = conn_setup.block(binary, f, n)
            except procs.Failure as e:
                failures.append("%s %s block %d: %s" % (f.server.name, label, i + 1, e))
                print("  FAILED %s" % failures[-1], file=sys.stderr)
                continue
            latencies[f.server.name] += values
            medians.append("%s median %d us" % (f.server.name, statistics.median(values)))
        print("  %s block %d/%d: %s" % (label, i + 1, blocks, ", ".join(medians)), file=sys.stderr)
    return failures


class IdleSessions:
    """loadgen holding `sessions` idle authenticated sessions on `server` until release()."""

    def __init__(self, ctx, server, loadgen, sessions, timeout):
        self.server = server
        self.phases = {}
        self.log = os.path.join(ctx.run_dir, "loadgen-%s.log" % server.name)
        argv = scale.loadgen_argv(ctx, server, loadgen, sessions, 0, 1, timeout)
        with open(self.log, "wb") as log:
            self.proc = procs.start(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log)
        try:
            for phase in ("sessions", "held"):
                self._read(phase)
        except procs.Failure:
            procs.stop(self.proc)
            raise

    def _read(self, phase):
        line = self.proc.stdout.readline()
        try:
            report = json.loads(line)
        except ValueError:
            raise procs.Failure("loadgen exited with status %s before the %s phase: %s" % (
                self.proc.wait(), phase, procs.tail(self.log, 5)))
        self.phases[report["phase"]] = report
        return report

    @property
    def up(self):
        return self.phases["sessions"]["ok"]

    def release(self):
        """Closes the sessions; loadgen's final report."""
        try:
            self.proc.stdin.write(b"\n")
            self.proc.stdin.flush()
            return self._read("done")
        except (OSError, procs.Failure) as e:
            return {"errors": None, "error_samples": [str(e)]}
        finally:
            procs.stop(self.proc)


def run(ctx):
    wanted = ctx.idle_sessions
    want = scale.PER_SESSION * wanted + scale.FD_RESERVE
    limit = scale.raise_open_files(want)
    sessions, _ = scale.capacity(limit, wanted, 0, per_session=scale.PER_SESSION)
    count, size = ctx.idle_connections, min(ctx.setup_block, ctx.idle_connections)
    window = 1.0 if ctx.args.quick else 5.0
    loadgen = scale.build_loadgen(ctx)
    binary = conn_setup.build(ctx)
    sshd_limits = ["MaxStartups %d" % (sessions + 100), "MaxSessions %d" % (sessions + 100)]
    # Like sshd's, Portcullis' admission limits are lifted so that the machine is the limit.
    portcullis_limits = {"max_startups": sessions + 100, "per_source_max_startups": "none"}
    portcullis = servers.Portcullis(ctx.run_dir, ctx.client, ctx.far_dir, ctx.portcullisd, name="portcullis-idle",
                                    limits=portcullis_limits)
    openssh = servers.OpenSSH(ctx.run_dir, ctx.client, ctx.far_dir, name="openssh-idle", extra_config=sshd_limits)
    sides = [portcullis, openssh]
    print("idle load: %d connections per server through ssh -R, in turns of %d, without and with %d idle sessions"
          % (count, size, sessions), file=sys.stderr)
    extra = dict(connections=count, block=size, sessions=sessions, sessions_requested=wanted, cipher=CIPHER,
                 warm_up=conn_setup.WARM_UP, quiet_window_seconds=window, memory_reserve_mib=ctx.memory_reserve_mib)
    with_label = "%d idle sessions" % sessions

    def row(case, unit, **more):
        return Result("idle load", case, unit, portcullis.label, openssh.label, higher_is_better=False, expected=1,
                      **extra, **more)
    rows = {
        "p50 without": row("p50, no idle sessions", "us"),
        "p99 without": row("p99, no idle sessions", "us"),
        "p50 with": row("p50, %s" % with_label, "us"),
        "p99 with": row("p99, %s" % with_label, "us"),
        "p50 ratio": row("p50 with / without", "ratio",
                         notes=["target: Portcullis at most 1.2, and at most OpenSSH's"]),
        "p99 ratio": row("p99 with / without", "ratio",
                         notes=["target: Portcullis at most 1.2, and at most OpenSSH's"]),
        "cpu": Result("idle load", "CPU with %s" % with_label, "% of a core", portcullis.label, openssh.label,
                      higher_is_better=False, expected=1, allow_zero=True, **extra),
    }
    rows["cpu"].notes.append("over %.0f s with nothing but the idle sessions; OpenSSH: summed over its processes"
                             % window)
    rows["p50 with"].notes.append("sshd: %s; Portcullis: %s; so that the machine is the limit, not a default" % (
        ", ".join(sshd_limits), ", ".join("%s %s" % item for item in sorted(portcullis_limits.items()))))
    if sessions < wanted:
        rows["p50 with"].notes.append("cut from %d sessions: %s" % (wanted, scale.limit_note(limit, want)))
    without = {s.name: [] for s in sides}
    loaded = {s.name: [] for s in sides}
    runs = {s.name: {} for s in sides}
    failures = []
    echo, forwards = None, []
    started = time.monotonic()
    try:
        echo, echo_port = conn_setup.start_echo(binary)
        for server in sides:
            server.start()
        forwards = [conn_setup.Forward(ctx, s, echo_port) for s in sides]
        for f in forwards:
            conn_setup.block(binary, f, conn_setup.WARM_UP)
        failures += measure_blocks(binary, forwards, count, size, without, "no idle sessions:")
        for f in forwards:
            server, out = f.server, runs[f.server.name]
            forked = isinstance(server, servers.OpenSSH)
            pid = server.proc.pid
            before = scale.baseline(server)
            t0 = time.monotonic()
            try:
                idle = IdleSessions(ctx, server, loadgen, sessions, 120 if ctx.args.quick else 1800)
            except procs.Failure as e:
                failures.append("%s: %s" % (server.name, e))
                print("  FAILED %s" % failures[-1], file=sys.stderr)
                continue
            try:
                out["sessions_up"] = idle.up
                out["sessions_seconds"] = round(time.monotonic() - t0, 1)
                out["sessions_phase"] = idle.phases["sessions"]
                print("  %-18s %d of %d idle sessions up in %.1f s" % (server.name, idle.up, sessions,
                                                                       out["sessions_seconds"]), file=sys.stderr)
                if idle.up == 0:
                    raise procs.Failure("%s: no idle session came up: %s" % (server.name, procs.tail(idle.log, 3)))
                rss, pss, processes = scale.memory(pid, forked)
                out.update(rss=rss, pss=pss, processes=processes,
                           loadgen_rss=scale.memory(idle.proc.pid, False)[0])
                cpu0, w0 = scale.tree_cpu_seconds(pid), time.monotonic()
                time.sleep(window)
                cpu1, w1 = scale.tree_cpu_seconds(pid), time.monotonic()
                out["cpu_percent"] = 100 * (cpu1 - cpu0) / (w1 - w0)
                failures += measure_blocks(binary, [f], count, size, loaded, "%d idle sessions:" % idle.up)
            except procs.Failure as e:
                failures.append(str(e))
                print("  FAILED %s" % failures[-1], file=sys.stderr)
            finally:
                done = idle.release()
                out["loadgen_errors"] = done.get("errors")
                out["loadgen_error_samples"] = done.get("error_samples", [])
                out["settle_error"] = scale.settle(server, before, 15 if ctx.args.quick else 180)
    except procs.Failure as e:
        for r in rows.values():
            r.error = str(e)
        return list(rows.values())
    finally:
        for f in forwards:
            f.stop()
        for server in sides:
            server.stop()
        if echo:
            procs.stop(echo)

    for p, key in ((50, "p50"), (99, "p99")):
        for server, side in ((portcullis, "a"), (openssh, "b")):
            if without[server.name]:
                getattr(rows[key + " without"], side).append(conn_setup.percentile(without[server.name], p))
            if loaded[server.name]:
                getattr(rows[key + " with"], side).append(conn_setup.percentile(loaded[server.name], p))
            if without[server.name] and loaded[server.name]:
                getattr(rows[key + " ratio"], side).append(getattr(rows[key + " with"], side)[-1] /
                                                          getattr(rows[key + " without"], side)[-1])
    slow = {name: ["%.0f%%" % (100.0 * sum(v >= SLOW_US for v in values) / len(values)) if values else "-"
                   for values in (without[name], loaded[name])] for name in without}
    rows["p50 without"].notes.append(
        "connections that took %d ms or more, without / with the idle sessions: Portcullis %s / %s, OpenSSH %s / %s "
        "(sshd's -R latency is bimodal: it sets no TCP_NODELAY on a session without a tty, and a packet now and "
        "then waits for the client's delayed ACK, about 40 ms; its p50 falls in either mode)"
        % ((SLOW_US // 1000,) + tuple(slow[portcullis.name]) + tuple(slow[openssh.name])))
    for server, side in ((portcullis, "a"), (openssh, "b")):
        out = runs[server.name]
        if "cpu_percent" in out:
            getattr(rows["cpu"], side).append(out["cpu_percent"])
        if "sessions_up" in out:
            note = "%s: %d of %d idle sessions held" % (server.label, out["sessions_up"], sessions)
            phase = out["sessions_phase"]
            if out["sessions_up"] < sessions:
                note += " (%s)" % ("stopped: MemAvailable under the reserve of %d MiB" % ctx.memory_reserve_mib
                                   if phase.get("stopped") == "memory" else "the rest failed: %d errors" %
                                   phase["errors"])
                if isinstance(server, servers.Portcullis) or ctx.args.quick and phase.get("stopped") != "memory":
                    failures.append(note)
            note += ", up in %.1f s; %s" % (out["sessions_seconds"], (
                "RSS sum %.1f MiB, PSS sum %.1f MiB over %d processes" % (out["rss"] / MiB, out["pss"] / MiB,
                                                                          out["processes"])
                if isinstance(server, servers.OpenSSH) else "RSS %.1f MiB" % (out["rss"] / MiB)))
            rows["p50 with"].notes.append(note)
        if out.get("loadgen_errors"):
            note = "%s: loadgen: %d errors while holding the sessions: %s" % (
                server.label, out["loadgen_errors"], "; ".join(out["loadgen_error_samples"][:2]))
            # sshd stopped short at the machine's limit counts its failed sessions as errors too
            if isinstance(server, servers.Portcullis) or out.get("sessions_up", 0) >= sessions:
                failures.append(note)
            else:
                rows["p50 with"].notes.append(note)
        if out.get("settle_error"):
            rows["cpu"].notes.append("%s: %s" % (server.name, out["settle_error"]))
    for r in rows.values():
        r.failures = list(failures)
        r.extra["measured"] = {"without": {k: len(v) for k, v in without.items()},
                               "with": {k: len(v) for k, v in loaded.items()}}
        r.extra["runs"] = runs
        r.extra["seconds"] = round(time.monotonic() - started, 1)
    return [rows[k] for k in ("p50 without", "p99 without", "p50 with", "p99 with", "p50 ratio", "p99 ratio", "cpu")]
