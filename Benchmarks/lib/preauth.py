"""Case: a flood of idle pre-authentication connections, and a legitimate login through it.

Each side gets a server of its own for this case. Benchmarks/lib/flood.c (one process, compiled
here) opens `connections` TCP connections to the server's SSH port, sends each the SSH
identification line and then nothing: every connection waits in the server's pre-auth state.
Once they are all connected the flood is held for `hold` seconds; the server's CPU time over that
window is the first figure (portcullisd's; for sshd the sum over the listener and every process it
forked, reaped ones included). Then, the flood still held, a stock `ssh -W` to conn_setup's echo
service logs in, opens the forward, sends 1 byte and reads it back: the time from starting ssh to
the echo is the second figure (target: under 1 s), next to the same measured before the flood.
`repetitions` logins each way (one in --quick).

The servers keep the limits an administrator runs them with: sshd its default MaxStartups
(10:30:100: past 10 unauthenticated connections it drops new ones at random, past 100 all of
them; the flood's and a legitimate client's alike, so its login during the flood is refused, and
reported so, not failed); portcullisd a login_grace_time longer than the whole case, so that its
flood is still held when the login is made, and its admission limits lifted (max_startups above the
flood, per_source_max_startups none), so that it holds the whole flood rather than refuse it. How many flood connections each side accepted,
dropped and still held is in the notes."""

import json
import math
import os
import select
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
GRACE = "600s"  # portcullisd's login_grace_time: longer than connecting, holding and logging in
LOGIN_TIMEOUT = 120  # seconds a login during the flood may take before it counts as failed
MiB = 1 << 20
PORTS_PER_SOURCE = 20000  # of the 28k ephemeral ports (32768-60999) of each source address
_HERE = os.path.dirname(os.path.abspath(__file__))


def intake_done(pid, t, cpu, quiet_percent=5.0, window=0.5, limit=30.0):
    """Waits until the server (and its children) used under `quiet_percent` of a core over one
    `window`; returns the CPU seconds and time at that point."""
    deadline = t + limit
    while True:
        time.sleep(window)
        cpu_now, t_now = scale.tree_cpu_seconds(pid), time.monotonic()
        if 100 * (cpu_now - cpu) / (t_now - t) < quiet_percent or t_now >= deadline:
            return cpu_now, t_now
        cpu, t = cpu_now, t_now


def build_flood(ctx):
    binary = os.path.join(ctx.run_dir, "flood")
    subprocess.run(["gcc", "-O2", "-Wall", "-Werror", "-o", binary, os.path.join(_HERE, "flood.c")], check=True)
    return binary


def login_round_trip(ctx, server, echo_port, timeout):
    """A stock `ssh -W` login and one byte through the forward: milliseconds from starting ssh to
    the echo, or procs.Failure (with ssh's own words)."""
    argv = ctx.client.argv(server, CIPHER, ["-W", "127.0.0.1:%d" % echo_port])
    argv.remove("-N")  # -W is its own session; ssh refuses it with -N
    started = time.monotonic()
    ssh = procs.start(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    byte = b""
    try:
        try:
            ssh.stdin.write(b"x")
            ssh.stdin.flush()
        except BrokenPipeError:
            pass  # ssh already gave up (refused at once, as sshd's MaxStartups does): reported below
        ready, _, _ = select.select([ssh.stdout], [], [], timeout)
        if ready:
            byte = os.read(ssh.stdout.fileno(), 1)
        elapsed = time.monotonic() - started
        ssh.stdin.close()
        try:
            ssh.wait(5)
        except subprocess.TimeoutExpired:
            pass
        said = ""
        if ssh.poll() is not None:
            said = ssh.stderr.read().decode(errors="replace").strip()
    finally:
        procs.stop(ssh)
    if byte != b"x":
        raise procs.Failure("ssh -W: %s after %.2f s (exit %s): %s" % (
            "no echo" if not byte else "a different byte", elapsed, ssh.returncode,
            said.splitlines()[-1] if said else "nothing on stderr"))
    return elapsed * 1000


class Flood:
    def __init__(self, binary, server, count, log):
        sources = math.ceil(count / PORTS_PER_SOURCE)
        argv = [binary, "127.0.0.1", str(server.port), str(count), "--ident", "--sources", str(sources),
                "--wave", "200", "--timeout", "600"]
        self.proc = procs.start(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log)
        self.phases = {}

    def read(self, phase):
        line = self.proc.stdout.readline()
        try:
            report = json.loads(line)
        except ValueError:
            raise procs.Failure("flood exited with status %s before the %s phase" % (self.proc.wait(), phase))
        self.phases[report["phase"]] = report
        return report

    def release(self):
        try:
            self.proc.stdin.write(b"\n")
            self.proc.stdin.flush()
            return self.read("done")
        finally:
            procs.stop(self.proc)


def run(ctx):
    wanted, hold, logins = ctx.preauth_connections, ctx.preauth_hold, ctx.repetitions
    limit = scale.raise_open_files(wanted + scale.FD_RESERVE)
    count = min(wanted, limit - scale.FD_RESERVE)  # the server holds one descriptor each, so does flood
    flood_binary = build_flood(ctx)
    binary = conn_setup.build(ctx)
    # Its admission defaults would refuse all but 5 of the flood (per source) at accept: lifted, so
    # that what holding the whole flood costs is measured (the defaults are tested by
    # Tests/adversarial/test_admission.py).
    portcullis = servers.Portcullis(ctx.run_dir, ctx.client, ctx.far_dir, ctx.portcullisd, name="portcullis-preauth",
                                    limits={"login_grace_time": GRACE, "max_startups": count + 100,
                                            "per_source_max_startups": "none"})
    openssh = servers.OpenSSH(ctx.run_dir, ctx.client, ctx.far_dir, name="openssh-preauth")
    print("pre-auth flood: %d idle connections per server, held %.0f s, %d login(s) through it"
          % (count, hold, logins), file=sys.stderr)
    extra = dict(connections=count, connections_requested=wanted, hold_seconds=hold, logins=logins, cipher=CIPHER,
                 identification_sent=True, open_files_limit=limit)
    rows = {
        "cpu": Result("pre-auth flood", "CPU over the %.0f s hold" % hold, "% of a core", portcullis.label,
                      openssh.label, higher_is_better=False, expected=1, allow_zero=True, **extra),
        "before": Result("pre-auth flood", "login + -W round trip, no flood", "ms", portcullis.label, openssh.label,
                         higher_is_better=False, expected=1, **extra),
        "during": Result("pre-auth flood", "login + -W round trip, flood held", "ms", portcullis.label,
                         openssh.label, higher_is_better=False, expected=1, b_optional=True,
                         notes=["target: under 1000 ms"], **extra),
    }
    rows["cpu"].notes.append("%d connections, each sent the identification line, then silent; OpenSSH: summed over "
                             "its processes, reaped ones included" % count)
    if count < wanted:
        rows["cpu"].notes.append("cut from %d connections: %s" % (wanted, scale.limit_note(limit, wanted +
                                                                                          scale.FD_RESERVE)))
    rows["cpu"].notes.append("Portcullis: login_grace_time %s, max_startups %d, per_source_max_startups none (its "
                             "defaults, 10:30:100 and 5, refuse the flood at accept); OpenSSH: default MaxStartups "
                             "10:30:100, which drops flood connections (and new logins) past 100 unauthenticated"
                             % (GRACE, count + 100))
    runs = {}
    echo = None
    try:
        echo, echo_port = conn_setup.start_echo(binary)
        for server in (portcullis, openssh):
            side = "a" if server is portcullis else "b"
            out = runs[server.name] = {}
            log_path = os.path.join(ctx.run_dir, "flood-%s.log" % server.name)
            flood = None
            try:
                server.start()
                pid = server.proc.pid
                settled_at = scale.baseline(server)
                before = [login_round_trip(ctx, server, echo_port, 30) for _ in range(logins)]
                out["login_ms_before"] = before
                getattr(rows["before"], side).append(statistics.median(before))
                cpu0, t0 = scale.tree_cpu_seconds(pid), time.monotonic()
                with open(log_path, "wb") as log:
                    flood = Flood(flood_binary, server, count, log)
                held = flood.read("held")
                cpu1, t1 = scale.tree_cpu_seconds(pid), time.monotonic()
                out["connect_phase"] = held
                out["connect_cpu_seconds"] = cpu1 - cpu0
                # Connected is the kernel's doing; the server may still be taking them in (accepting,
                # starting each key exchange). The hold measures what they cost once taken in: it
                # starts when half a second goes by with the server under 5% of a core (at most 30 s).
                cpu1, t1 = intake_done(pid, t1, cpu1)
                out["intake_seconds"] = t1 - t0
                out["intake_cpu_seconds"] = cpu1 - cpu0
                print("  %-18s %d connected, taken in after %.1f s (%d dropped by the server, %d failed), holding %.0f s"
                      % (server.name, held["connected"], t1 - t0, held["dropped"], held["failed"], hold),
                      file=sys.stderr)
                time.sleep(hold)
                cpu2, t2 = scale.tree_cpu_seconds(pid), time.monotonic()
                out["cpu_percent"] = 100 * (cpu2 - cpu1) / (t2 - t1)
                out["rss"], out["pss"], out["processes"] = scale.memory(pid, isinstance(server, servers.OpenSSH))
                getattr(rows["cpu"], side).append(out["cpu_percent"])
                print("  %-18s CPU %.1f%% of a core over the hold" % (server.name, out["cpu_percent"]),
                      file=sys.stderr)
                during, refused = [], []
                for _ in range(logins):
                    try:
                        during.append(login_round_trip(ctx, server, echo_port, LOGIN_TIMEOUT))
                    except procs.Failure as e:
                        refused.append(str(e))
                out["login_ms_during"], out["login_refused"] = during, refused
                print("  %-18s login + round trip during the flood: %s" % (server.name, ", ".join(
                    ["%.0f ms" % v for v in during] + refused)), file=sys.stderr)
                if during:
                    getattr(rows["during"], side).append(statistics.median(during))
                if refused:
                    message = "%s: %d of %d logins during the flood failed: %s" % (
                        server.label, len(refused), logins, refused[0])
                    if isinstance(server, servers.OpenSSH):
                        rows["during"].notes.append(message + " (MaxStartups)")
                    else:
                        rows["during"].failures.append(message)
                out["hold_phase"] = flood.release()
                flood = None
                done = out["hold_phase"]
                forked = isinstance(server, servers.OpenSSH)
                rows["cpu"].notes.append(
                    "%s: %d of %d connected and taken in within %.1f s (CPU %.1f s meanwhile); %d dropped by the "
                    "server, %d still open at the end%s; %s" % (
                        server.label, held["connected"], count, out["intake_seconds"], out["intake_cpu_seconds"],
                        done["dropped"], done["open"],
                        "; %d failed to connect: %s" % (held["failed"], held["first_error"]) if held["failed"] else "",
                        "RSS sum %.1f MiB, PSS sum %.1f MiB over %d processes" % (
                            out["rss"] / MiB, out["pss"] / MiB, out["processes"]) if forked else
                        "RSS %.1f MiB" % (out["rss"] / MiB)))
                if not forked and held["failed"]:
                    rows["cpu"].failures.append("Portcullis: %d of %d flood connections failed to connect: %s" % (
                        held["failed"], count, held["first_error"]))
                elif not forked and done["dropped"]:
                    rows["cpu"].notes.append("Portcullis dropped %d flood connections within the hold, although "
                                             "its login_grace_time is %s" % (done["dropped"], GRACE))
                out["settle_error"] = scale.settle(server, settled_at, 15 if ctx.args.quick else 120)
                if out["settle_error"]:
                    rows["cpu"].notes.append("%s: %s" % (server.name, out["settle_error"]))
            except (procs.Failure, OSError, ValueError, KeyError) as e:
                for r in rows.values():
                    r.failures.append("%s: %s" % (server.name, e))
                print("  FAILED %s: %s" % (server.name, e), file=sys.stderr)
            finally:
                if flood:
                    procs.stop(flood.proc)
                server.stop()
    except procs.Failure as e:
        for r in rows.values():
            r.error = str(e)
    finally:
        if echo:
            procs.stop(echo)
    for r in rows.values():
        r.extra["runs"] = runs
    return [rows["cpu"], rows["before"], rows["during"]]
