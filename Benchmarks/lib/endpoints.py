"""The ends of a measured stream: blast.c (a source and a checking sink, compiled here at run time),
started as a listener or a connector."""

import json
import os
import select
import subprocess
import time

import procs

_HERE = os.path.dirname(os.path.abspath(__file__))


class Blast:
    def __init__(self, build_dir):
        self.binary = os.path.join(build_dir, "blast")
        source = os.path.join(_HERE, "blast.c")
        subprocess.run(["gcc", "-O2", "-Wall", "-Werror", "-o", self.binary, source], check=True)

    def listen(self, role, address, nbytes, timeout):
        """A listener that takes one connection; returns once it listens."""
        proc = procs.start([self.binary, "listen", role, address, str(nbytes), str(timeout)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        ready, _, _ = select.select([proc.stdout], [], [], 10)
        line = proc.stdout.readline() if ready else b""
        if line.strip() != b"ready":
            procs.stop(proc)
            raise procs.Failure("blast listen %s %s: not ready: %s" % (role, address, line.decode(errors="replace")))
        return proc

    def connect(self, role, address, nbytes, timeout):
        """A connector; it retries a refused or missing address until `timeout`."""
        return procs.start([self.binary, "connect", role, address, str(nbytes), str(timeout)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def outcome(proc, deadline):
    """The JSON line an endpoint printed, waiting until the monotonic `deadline` at most."""
    try:
        out, err = proc.communicate(timeout=max(0.1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        procs.stop(proc)
        return {"ok": False, "error": "no result before the deadline (stopped)"}
    procs.stop(proc)
    lines = out.decode(errors="replace").strip().splitlines()
    try:
        result = json.loads(lines[-1])
    except (IndexError, ValueError):
        result = {"ok": False, "error": "exit status %s, output %r" % (proc.returncode, out[-300:])}
    if err.strip():
        result["stderr"] = err.decode(errors="replace").strip()
    return result
