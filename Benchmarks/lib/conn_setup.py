"""Case: forwarded connection setup latency. One stock `ssh -N -R` per server forwards a TCP port on
the server's side to an echo service next to the client (Benchmarks/lib/conn_setup.c, compiled
here); conn_setup's loop makes short connections to the forwarded port one after another
(connect, send 1 byte, read its echo, close) and times each from connect() to the echo.

The servers take turns in blocks of `block` connections (A B, B A, A B, ...) so that a slow spell
on the shared machine hits both; each side first makes WARM_UP connections that are not counted.
Reported: the 50th and 99th percentiles over all of a side's connections (nearest rank)."""

import json
import math
import os
import statistics
import subprocess
import sys
import time

import procs
from results import Result

CIPHER = "aes128-gcm@openssh.com"
WARM_UP = 20
_HERE = os.path.dirname(os.path.abspath(__file__))


def percentile(values, p):
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


class Forward:
    """An `ssh -N -R 127.0.0.1:REMOTE:127.0.0.1:ECHO` to `server`, up while the case runs."""

    def __init__(self, ctx, server, echo_port):
        self.server = server
        self.remote = procs.free_port()
        self.log = os.path.join(ctx.run_dir, "ssh-setup-%s.log" % server.name)
        forward = ["-R", "127.0.0.1:%d:127.0.0.1:%d" % (self.remote, echo_port)]
        with open(self.log, "wb") as log:
            self.ssh = procs.start(ctx.client.argv(server, CIPHER, forward), stdout=log, stderr=log)
        procs.wait_until("the forward %s" % " ".join(forward), lambda: procs.tcp_listening(self.remote),
                         watch=[(self.ssh, lambda: "ssh: " + procs.tail(self.log)),
                                (server.proc, server.log_tail)])

    def stop(self):
        procs.stop(self.ssh)


def block(binary, forward, count):
    """`count` connections through `forward`: their latencies in microseconds."""
    out = subprocess.run([binary, "loop", "tcp:127.0.0.1:%d" % forward.remote, str(count), str(60 + count)],
                         capture_output=True, text=True)
    try:
        report = json.loads(out.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise procs.Failure("conn_setup loop: exit status %d: %s%s" % (out.returncode, out.stdout[-300:], out.stderr))
    if report["errors"]:
        raise procs.Failure("%d of %d connections failed, first: %s\nssh: %s\n%s" % (
            report["errors"], count, report["first_error"], procs.tail(forward.log), forward.server.log_tail()))
    return report["latencies_us"]


def build(ctx):
    """Compiles conn_setup.c into the run directory (once); the binary's path."""
    binary = os.path.join(ctx.run_dir, "conn_setup")
    if not os.access(binary, os.X_OK):
        subprocess.run(["gcc", "-O2", "-Wall", "-Werror", "-o", binary, os.path.join(_HERE, "conn_setup.c")],
                       check=True)
    return binary


def start_echo(binary):
    """conn_setup's echo service on a free port of 127.0.0.1: (process, port)."""
    port = procs.free_port()
    echo = procs.start([binary, "echo", "tcp:127.0.0.1:%d" % port], stdout=subprocess.PIPE)
    if echo.stdout.readline().strip() != b"ready":
        procs.stop(echo)
        raise procs.Failure("conn_setup echo did not start")
    return echo, port


def run(ctx):
    openssh, portcullis = ctx.server("openssh"), ctx.server("portcullis")
    binary = build(ctx)
    count, size = ctx.setup_connections, min(ctx.setup_block, ctx.setup_connections)
    blocks = math.ceil(count / size)
    print("connection setup: %d sequential connections per server through ssh -R, blocks of %d"
          % (count, size), file=sys.stderr)
    extra = dict(connections=count, block=size, cipher=CIPHER, warm_up=WARM_UP)
    rows = [Result("connection setup", "p%d latency" % p, "us", portcullis.label, openssh.label,
                   higher_is_better=False, expected=1, **extra) for p in (50, 99)]
    echo_port = procs.free_port()
    echo = procs.start([binary, "echo", "tcp:127.0.0.1:%d" % echo_port], stdout=subprocess.PIPE)
    forwards = []
    try:
        if echo.stdout.readline().strip() != b"ready":
            raise procs.Failure("conn_setup echo did not start")
        forwards = [Forward(ctx, portcullis, echo_port), Forward(ctx, openssh, echo_port)]
        latencies = {f.server.name: [] for f in forwards}
        block_medians = {f.server.name: [] for f in forwards}
        failures = []
        for f in forwards:
            block(binary, f, WARM_UP)
        started = time.monotonic()
        for i in range(blocks):
            n = min(size, count - i * size)
            for f in (forwards if i % 2 == 0 else forwards[::-1]):
                try:
                    values = block(binary, f, n)
                except procs.Failure as e:
                    failures.append("%s block %d: %s" % (f.server.name, i + 1, e))
                    print("  FAILED %s" % failures[-1], file=sys.stderr)
                    continue
                latencies[f.server.name] += values
                block_medians[f.server.name].append(statistics.median(values))
            print("  block %d/%d: %s" % (i + 1, blocks, ", ".join(
                "%s median %d us" % (name, medians[-1]) for name, medians in block_medians.items() if medians)),
                file=sys.stderr)
    except procs.Failure as e:
        for r in rows:
            r.error = str(e)
        return rows
    finally:
        for f in forwards:
            f.stop()
        procs.stop(echo)
    for r, p in zip(rows, (50, 99)):
        r.failures = list(failures)
        for name, values in ((portcullis.name, r.a), (openssh.name, r.b)):
            if latencies[name]:
                values.append(percentile(latencies[name], p))
        r.extra["block_medians_us"] = block_medians
        r.extra["measured"] = {name: len(v) for name, v in latencies.items()}
        r.extra["seconds"] = round(time.monotonic() - started, 1)
    return rows
