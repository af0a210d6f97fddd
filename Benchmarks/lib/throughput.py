"""Case: throughput of one forwarded stream, MiB/s, Portcullis against OpenSSH, for each kind of
forward, both directions and each cipher.

"up" is from the ssh client's side to the far end, "down" the other way. For -R the ssh client's
side is the service its forward points at (a listener next to the client) and the far end connects
to the server's listen; for -L the client's side connects to ssh's local listen and the far end is
a listener next to the server. A measurement is the bytes the sink received intact divided by the
time from the source's first write to the sink's last byte."""

import os
import sys
import time

import endpoints
import procs
from results import Result, interleave

MiB = 1 << 20


class Kind:
    def __init__(self, name, label, remote, unix):
        self.name, self.label, self.remote, self.unix = name, label, remote, unix


KINDS = [
    Kind("R-tcp", "-R tcp", remote=True, unix=False),
    Kind("R-unix", "-R unix", remote=True, unix=True),
    Kind("L-tcp", "-L tcp", remote=False, unix=False),
    Kind("L-unix", "-L unix", remote=False, unix=True),
]
KIND_NAMES = [k.name for k in KINDS]
DIRECTIONS = ["up", "down"]
CIPHER_LABELS = {"chacha20-poly1305@openssh.com": "chacha20", "aes128-gcm@openssh.com": "aes128-gcm"}

_serial = [0]


def _unique(prefix):
    _serial[0] += 1
    return "%s-%d.sock" % (prefix, _serial[0])


def plan(ctx, server, kind):
    """(listener address, ssh forward arguments, readiness check, connector address) for one stream."""
    if kind.remote and not kind.unix:
        service, remote = procs.free_port(), procs.free_port()
        return ("tcp:127.0.0.1:%d" % service, ["-R", "127.0.0.1:%d:127.0.0.1:%d" % (remote, service)],
                lambda: procs.tcp_listening(remote), "tcp:127.0.0.1:%d" % remote)
    if kind.remote:
        service = os.path.join(ctx.client_dir, _unique("service"))
        remote = os.path.join(server.socket_dir, _unique("r"))
        return ("unix:" + service, ["-R", "%s:%s" % (remote, service)],
                lambda: procs.unix_socket_present(remote), "unix:" + remote)
    if not kind.unix:
        far, local = procs.free_port(), procs.free_port()
        return ("tcp:127.0.0.1:%d" % far, ["-L", "127.0.0.1:%d:127.0.0.1:%d" % (local, far)],
                lambda: procs.tcp_listening(local), "tcp:127.0.0.1:%d" % local)
    far = os.path.join(ctx.far_dir, _unique("far"))
    local = os.path.join(ctx.client_dir, _unique("l"))
    return ("unix:" + far, ["-L", "%s:%s" % (local, far)],
            lambda: procs.unix_socket_present(local), "unix:" + local)


def measure(ctx, server, kind, direction, cipher, nbytes):
    """One stream of `nbytes` through a fresh `ssh -N` session: MiB/s, or procs.Failure."""
    listen_at, forward, forwarded, connect_to = plan(ctx, server, kind)
    # The source is on the client's side for "up": the -R service (listener) or the -L connector.
    listener_role = "source" if (direction == "up") == kind.remote else "sink"
    connector_role = "sink" if listener_role == "source" else "source"
    timeout = 60 + nbytes / (5 * MiB)  # no real run is slower than 5 MiB/s
    listener = ctx.blast.listen(listener_role, listen_at, nbytes, timeout)
    ssh_log = os.path.join(ctx.run_dir, _unique("ssh-" + server.name)[:-len(".sock")] + ".log")
    with open(ssh_log, "wb") as log:
        ssh = procs.start(ctx.client.argv(server, cipher, forward), stdout=log, stderr=log)
    try:
        watch = [(ssh, lambda: "ssh: " + procs.tail(ssh_log)), (server.proc, server.log_tail)]
        procs.wait_until("the forward %s" % " ".join(forward), forwarded, watch=watch)
        connector = ctx.blast.connect(connector_role, connect_to, nbytes, timeout)
        deadline = time.monotonic() + timeout
        ends = {listener_role: endpoints.outcome(listener, deadline),
                connector_role: endpoints.outcome(connector, deadline)}
    finally:
        procs.stop(ssh)
        procs.stop(listener)
    source, sink = ends["source"], ends["sink"]
    if not (source.get("ok") and sink.get("ok") and sink.get("bytes") == nbytes == source.get("bytes")):
        raise procs.Failure("%s %s %s: the sink got %s of %d bytes (source: %s; sink: %s)\n"
                            "source %s\nsink %s\nssh: %s\n%s" % (
                                kind.label, direction, cipher, sink.get("bytes"), nbytes,
                                source.get("error", "ok"), sink.get("error", "ok"), source, sink,
                                procs.tail(ssh_log), server.log_tail()))
    seconds = sink["end"] - source["start"]
    return nbytes / MiB / seconds


def run(ctx):
    openssh, portcullis = ctx.server("openssh"), ctx.server("portcullis")
    results = []
    for cipher in ctx.ciphers:
        for kind in [k for k in KINDS if k.name in ctx.kinds]:
            for direction in DIRECTIONS:
                case = "%s %s %s" % (kind.label, direction, CIPHER_LABELS.get(cipher, cipher))
                print("%s (%d MiB x %d)" % (case, ctx.nbytes // MiB, ctx.repetitions), file=sys.stderr)
                result = Result("throughput", case, "MiB/s", portcullis.label, openssh.label,
                                kind=kind.name, direction=direction, cipher=cipher, bytes=ctx.nbytes)
                interleave(result, portcullis, openssh,
                           lambda server: measure(ctx, server, kind, direction, cipher, ctx.nbytes),
                           ctx.repetitions, progress=ctx.progress)
                results.append(result)
    return results
