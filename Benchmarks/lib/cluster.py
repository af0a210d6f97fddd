"""Case: cluster mode (issue 14). One etcd and three portcullisd in cluster mode (proxies a, b and c,
each with its own socket root, all on 127.0.0.1), next to the run's OpenSSH sshd.

A sharer's stock `ssh -R` serves two sockets on proxy A: web.sock (blast, for throughput) and
echo.sock (conn_setup's echo, for setup latency). Consumers read them with stock `ssh -L`:
  relayed  through proxy B (B's socket root; B relays to A over its member link),
  direct   through proxy A itself,
  OpenSSH  through sshd, whose -L opens A's socket file directly.
All three end in the same sharer's -R on A: they differ only in the consumer's path.
Rows:
- throughput (MiB/s, each direction): relayed / direct (target: at least 0.8), relayed / OpenSSH,
  direct / OpenSSH; the three sides take turns (rotating order) as in the throughput case;
- CPU per GiB (note rows, relayed against direct, each direction): CPU seconds per GiB moved of
  proxy A, proxy B, the consumer's and the sharer's ssh and the two blast ends, and how busy the
  machine was; when it is saturated, relayed/direct is about the direct path's CPU per GiB over the
  relayed path's (which adds proxy B), and proxy B's row says that bound;
- relayed open: connect to first byte (1-byte echo) through B against through A, p50 and p99 over
  the setup case's connection count, in turns of its block size; the note gives the added time;
- policy propagation: from the start of `policyctl add-key` (on one proxy's config, a different
  one each trial) to the line "applied etcd put of /portcullis/keys/NAME" in each proxy's log,
  the slowest of the three per trial; p50 and p99 over the trials (target: under 1 s);
- revocation to disconnect: the added key logs in on all three (stock ssh, up once its -L listens),
  then from the start of `policyctl remove-key` to the exit of each ssh, the slowest of the three
  per trial; p50 and p99 (target: under 1 s).
A build without peering (no proxy logs its member view) says "relay not available" on the relayed
rows instead of failing, and the other rows are measured all the same; a build with peering whose
relayed open fails fails those rows."""

import json
import math
import os
import resource
import subprocess
import sys
import time

import conn_setup
import endpoints
import etcd
import procs
import servers
from results import Result

CIPHER = "aes128-gcm@openssh.com"
PREFIX = "/portcullis/"
MiB = 1 << 20
RELAY_TARGET = 0.8  # relayed throughput / direct
POLICY_TARGET_MS = 1000.0  # propagation and revocation, issue 14
NEW_KEY = "bench-revoke"
RELAYED = "relayed B->A"  # the sides' names and their columns
DIRECT = "direct A"


class Proxy(servers.Server):
    """portcullisd in cluster mode: proxy_id `proxy_id`, advertised at its own listen address."""

    label = "Portcullis"

    def __init__(self, run_dir, client, binary, proxy_id, etcd_url):
        super().__init__("proxy-" + proxy_id, run_dir, client)
        self.binary = binary
        self.proxy_id = proxy_id
        self.config = os.path.join(self.dir, "portcullis.yaml")
        with open(self.config, "w") as f:
            f.write("\n".join([
                'listen: ["127.0.0.1:%d"]' % self.port,
                'host_keys: ["%s"]' % self.host_key,
                'socket_root: "%s"' % self.socket_dir,
                "audit_log: off",
                'control_socket: "%s"' % os.path.join(self.dir, "control.sock"),
                "proxy_id: " + proxy_id,
                'cluster: {etcd: ["%s"], snapshot: "%s", advertise: "127.0.0.1:%d"}' % (
                    etcd_url, os.path.join(self.dir, "policy.snapshot"), self.port),
                "",
            ]))

    def command(self):
        return [self.binary, "--config", self.config]

    def log_size(self):
        try:
            return os.path.getsize(self.log)
        except FileNotFoundError:
            return 0

    def logged_since(self, offset, text):
        with open(self.log, "rb") as f:
            f.seek(offset)
            return text.encode() in f.read()


def key_entry(name, public_key, run_dir):
    """A key entry as policyctl writes it into etcd, all limits off (as sshd). One pattern covers every
    proxy's socket root (the entry is shared; a proxy refuses a pattern that lies outside its own root)."""
    patterns = '"%s/proxy-*/sockets/**"' % run_dir
    return "\n".join([
        "name: " + name,
        'key: "%s"' % public_key,
        "permit_streamlocal_listen: [%s]" % patterns,
        "permit_streamlocal_open: [%s]" % patterns,
        "max_sessions: unlimited",
        "max_listens: unlimited",
        "max_channels: unlimited",
        "",
    ])


def percentile(values, p):
    return conn_setup.percentile(values, p)


def start_ssh(ctx, server, forward, ready, what, key=None):
    """A stock `ssh -N` with `forward` to `server`, up once `ready()`; (process, log path)."""
    argv = ctx.client.argv(server, CIPHER, forward)
    if key:
        argv[argv.index("-i") + 1] = key
    log_path = os.path.join(ctx.run_dir, "cluster", "ssh-%s.log" % what)
    with open(log_path, "wb") as log:
        ssh = procs.start(argv, stdout=log, stderr=log)
    procs.wait_until("%s (ssh %s)" % (what, " ".join(forward)), ready,
                     watch=[(ssh, lambda: "ssh: " + procs.tail(log_path)), (server.proc, server.log_tail)])
    return ssh, log_path


def unavailable(row, reason):
    """A row that cannot be measured on this build: said in the table, not a failure."""
    row.expected = 0
    row.b_optional = True
    row.notes.append(reason)
    row.extra["unavailable"] = reason


def target_note(row, met, text):
    row.notes.append("target: %s: %s" % (text, "met" if met else "NOT MET"))
    row.extra["target_met"] = met


class Side:
    """One way to read A's sockets: its name, its local -L sockets, its consumer's ssh process."""

    def __init__(self, name, web, echo, proc=None):
        self.name, self.web, self.echo, self.proc = name, web, echo, proc


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """User plus system CPU seconds of process `pid`, all its threads; None once it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime (fields 14 and 15)


def machine_busy():
    """(busy, total) CPU seconds of the whole machine since boot, all cores."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]  # idle, iowait
    return (sum(values[:8]) - idle) / CLOCK_TICKS, sum(values[:8]) / CLOCK_TICKS


class CPUMeter:
    """CPU seconds per GiB moved, per process of a path (the daemons and the two stock ssh), and
    how busy the whole machine was: where a relayed channel's extra cost goes."""

    PROCESSES = ("proxy A", "proxy B", "consumer ssh", "sharer ssh", "blast ends")

    def __init__(self, a, b, sharer):
        self.fixed = {"proxy A": a, "proxy B": b, "sharer ssh": sharer}
        self.samples = {}  # (side, direction) -> list of {process: s/GiB, "machine busy": fraction}

    def _now(self, side):
        procs_ = dict(self.fixed, **{"consumer ssh": side.proc})
        seconds = {name: cpu_seconds(p.pid) if p else None for name, p in procs_.items()}
        # The transfer's two blast processes, reaped by the end of it (nothing else ends meanwhile).
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        seconds["blast ends"] = children.ru_utime + children.ru_stime
        return seconds, machine_busy(), time.monotonic()

    def measure(self, side, direction, nbytes, run):
        before = self._now(side)
        value = run()
        after = self._now(side)
        gib = nbytes / (1 << 30)
        sample = {}
        for name in self.PROCESSES:
            if before[0].get(name) is not None and after[0].get(name) is not None:
                sample[name] = (after[0][name] - before[0][name]) / gib
        busy, total = after[1][0] - before[1][0], after[1][1] - before[1][1]
        sample["machine busy"] = busy / total if total > 0 else 0.0
        sample["machine CPU"] = busy / gib
        self.samples.setdefault((side.name, direction), []).append(sample)
        return value

    def rows(self, a_name, b_name):
        """One row per process and direction: `a_name`'s CPU s/GiB against `b_name`'s."""
        out = []
        for direction in ("down", "up"):
            for what in self.PROCESSES + ("machine CPU", "machine busy"):
                unit = "fraction" if what == "machine busy" else "CPU s/GiB"
                row = Result("cluster relay CPU", "%s %s" % (what, direction), unit, a_name, b_name,
                             higher_is_better=False, allow_zero=True, b_optional=True, direction=direction)
                row.a = [s[what] for s in self.samples.get((a_name, direction), []) if what in s]
                # The direct path does not pass proxy B (it idles then): no column, no ratio.
                row.b = [] if what == "proxy B" else \
                    [s[what] for s in self.samples.get((b_name, direction), []) if what in s]
                if not row.a and not row.b:
                    continue
                row.expected = max(len(row.a), len(row.b))
                if what == "machine busy":
                    row.notes.append("share of both cores busy during the transfers (1.0: saturated)")
                elif what == "machine CPU":
                    row.notes.append("every process on the machine, per GiB moved (others' work included)")
                out.append(row)
                if what == "proxy B":
                    bound = self.saturation_bound(a_name, b_name, direction)
                    if bound:
                        row.notes.append(bound)
                        row.extra["saturation_bound"] = bound
        return out

    def saturation_bound(self, a_name, b_name, direction):
        """When the cores are saturated, throughput is about inversely proportional to the CPU every
        process spends per GiB: the relayed path costs what the direct one costs plus proxy B."""
        def median(name, what):
            values = sorted(s[what] for s in self.samples.get((name, direction), []) if what in s)
            return values[len(values) // 2] if values else None
        path = ("proxy A", "consumer ssh", "sharer ssh", "blast ends")
        direct = [median(b_name, what) for what in path]
        relayed = [median(a_name, what) for what in path + ("proxy B",)]
        if None in direct or None in relayed:
            return None
        return ("saturation bound: the direct path's processes cost %.2f CPU s/GiB, the relayed path's %.2f "
                "(proxy B %.2f): on saturated cores relayed/direct is at most about %.2f"
                % (sum(direct), sum(relayed), relayed[-1], sum(direct) / sum(relayed)))


def stream(ctx, service, side, direction, nbytes, meter=None):
    if meter:
        return meter.measure(side, direction, nbytes, lambda: _stream(ctx, service, side, direction, nbytes))
    return _stream(ctx, service, side, direction, nbytes)


def _stream(ctx, service, side, direction, nbytes):
    """`nbytes` between blast on the sharer's side (`service`) and blast on `side`'s -L: MiB/s.
    "down" is from the sharer to the consumer."""
    listener_role = "source" if direction == "down" else "sink"
    connector_role = "sink" if listener_role == "source" else "source"
    timeout = 60 + nbytes / (5 * MiB)
    listener = ctx.blast.listen(listener_role, "unix:" + service, nbytes, timeout)
    try:
        connector = ctx.blast.connect(connector_role, "unix:" + side.web, nbytes, timeout)
        deadline = time.monotonic() + timeout
        ends = {connector_role: endpoints.outcome(connector, deadline),
                listener_role: endpoints.outcome(listener, deadline)}
    finally:
        procs.stop(listener)
    source, sink = ends["source"], ends["sink"]
    if not (source.get("ok") and sink.get("ok") and sink.get("bytes") == nbytes == source.get("bytes")):
        raise procs.Failure("%s %s: the sink got %s of %d bytes (source: %s; sink: %s)" % (
            side.name, direction, sink.get("bytes"), nbytes, source.get("error", "ok"), sink.get("error", "ok")))
    return nbytes / MiB / (sink["end"] - source["start"])


def echo_block(binary, side, count, timeout=None):
    """`count` sequential 1-byte echoes through `side`'s echo -L: latencies in microseconds."""
    out = subprocess.run([binary, "loop", "unix:" + side.echo, str(count), str(timeout or 60 + count)],
                         capture_output=True, text=True)
    try:
        report = json.loads(out.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise procs.Failure("conn_setup loop: exit status %d: %s%s" % (out.returncode, out.stdout[-300:], out.stderr))
    if report["errors"]:
        raise procs.Failure("%d of %d connections failed, first: %s" % (report["errors"], count, report["first_error"]))
    return report["latencies_us"]


def relay_check(binary, relayed, proxies):
    """None when this build relays; "relay not available: ..." when it has no peering (no proxy logs
    a member view). A build that has peering but whose relayed open fails is a Failure."""
    peering = "peering: members " + ", ".join(p.proxy_id for p in proxies)
    try:
        procs.wait_until("every proxy to log '%s'" % peering,
                         lambda: all(p.logged_since(0, peering) for p in proxies), deadline=5)
    except procs.Failure:
        return "relay not available: no proxy logged '%s' in 5 s (this portcullisd has no peering)" % peering
    deadline = time.monotonic() + 10
    while True:
        try:
            echo_block(binary, relayed, 1, timeout=5)
            return None
        except procs.Failure as e:
            if time.monotonic() > deadline:
                raise procs.Failure("a relayed open through B failed: %s\n%s\n%s" % (
                    e, proxies[1].log_tail(), proxies[0].log_tail()))
            time.sleep(0.2)


def run(ctx):
    print("cluster: etcd and three proxies", file=sys.stderr)
    openssh = ctx.server("openssh")
    binary = conn_setup.build(ctx)
    policyctl = os.path.join(ctx.root, ".build", "release", "policyctl")
    trials = ctx.args.cluster_trials
    nbytes = ctx.nbytes
    os.makedirs(os.path.join(ctx.run_dir, "cluster"), mode=0o700)
    setup_extra = dict(connections=ctx.setup_connections, block=ctx.setup_block, cipher=CIPHER,
                       warm_up=conn_setup.WARM_UP)
    rows = {}
    for direction in ("down", "up"):
        extra = dict(direction=direction, cipher=CIPHER, bytes=nbytes)
        rows["relay/direct " + direction] = Result(
            "cluster relay", "throughput %s" % direction, "MiB/s", RELAYED, DIRECT, **extra)
    for p in (50, 99):
        rows["open p%d" % p] = Result("cluster relay", "open to first byte p%d" % p, "us", RELAYED, DIRECT,
                                      higher_is_better=False, expected=1, **setup_extra)
    for direction in ("down", "up"):
        extra = dict(direction=direction, cipher=CIPHER, bytes=nbytes)
        rows["relay/sshd " + direction] = Result(
            "cluster relayed vs sshd", "throughput %s" % direction, "MiB/s", RELAYED, "OpenSSH", **extra)
    for direction in ("down", "up"):
        extra = dict(direction=direction, cipher=CIPHER, bytes=nbytes)
        rows["direct/sshd " + direction] = Result(
            "cluster direct vs sshd", "throughput %s" % direction, "MiB/s", DIRECT, "OpenSSH", **extra)
    for name, case in (("propagation", "policy propagation"), ("revocation", "revocation to disconnect")):
        for p in (50, 99):
            rows["%s p%d" % (name, p)] = Result(
                "cluster policy", "%s p%d, 3 proxies" % (case, p), "ms", "Portcullis", higher_is_better=False,
                expected=1, trials=trials)
    relay_rows = [r for k, r in rows.items() if k.startswith("relay/") or k.startswith("open ")]

    store = None
    proxies = []
    ssh = []
    echo = None
    try:
        store = etcd.Etcd(ctx.run_dir)
        proxies = [Proxy(ctx.run_dir, ctx.client, ctx.portcullisd, p, store.url) for p in ("a", "b", "c")]
        a, b = proxies[:2]
        store.put(PREFIX + "keys/bench", key_entry("bench", ctx.client.public_key, ctx.run_dir))
        for p in proxies:
            p.start()
        # What the sharer serves (next to the client): blast's listener (one per measurement) and the echo.
        cdir = os.path.join(ctx.run_dir, "cluster")
        service = os.path.join(cdir, "web-service.sock")
        echo_path = os.path.join(cdir, "echo-service.sock")
        echo = procs.start([binary, "echo", "unix:" + echo_path], stdout=subprocess.PIPE)
        if echo.stdout.readline().strip() != b"ready":
            raise procs.Failure("conn_setup echo did not start")
        shared = [os.path.join(a.socket_dir, "web.sock"), os.path.join(a.socket_dir, "echo.sock")]
        ssh.append(start_ssh(ctx, a, ["-R", "%s:%s" % (shared[0], service), "-R", "%s:%s" % (shared[1], echo_path)],
                             lambda: all(procs.unix_socket_present(s) for s in shared), "sharer"))

        def reader(name, server, root):
            local = [os.path.join(cdir, "%s-%s.sock" % (name.split()[0], s)) for s in ("web", "echo")]
            forward = ["-L", "%s:%s" % (local[0], os.path.join(root, "web.sock")),
                       "-L", "%s:%s" % (local[1], os.path.join(root, "echo.sock"))]
            ssh.append(start_ssh(ctx, server, forward, lambda: all(procs.unix_socket_present(s) for s in local),
                                 "reader-" + name.split()[0]))
            return Side(name, *local, proc=ssh[-1][0])
        relayed = reader(RELAYED, b, b.socket_dir)
        direct = reader(DIRECT, a, a.socket_dir)
        sshd = reader("OpenSSH", openssh, a.socket_dir)

        relay_ok = False
        try:
            why_not = relay_check(binary, relayed, proxies)
            relay_ok = why_not is None
            if why_not:
                print("  " + why_not, file=sys.stderr)
                for row in relay_rows:
                    unavailable(row, why_not)
        except procs.Failure as e:
            for row in relay_rows:
                row.error = str(e)
        sides = [direct, sshd] + ([relayed] if relay_ok else [])
        meter = CPUMeter(a.proc, b.proc, ssh[0][0])
        throughput(ctx, rows, service, sides, nbytes, meter)
        if relay_ok:
            for row in meter.rows(RELAYED, DIRECT):
                rows["cpu " + row.case] = row
        if relay_ok:
            setup_latency(ctx, rows, binary, relayed, direct)
        policy_trials(ctx, rows, policyctl, proxies, trials)
    except procs.Failure as e:
        for row in rows.values():
            if not row.a and not row.error and "unavailable" not in row.extra:
                row.error = str(e)
    finally:
        for proc, _ in ssh:
            procs.stop(proc)
        if echo:
            procs.stop(echo)
        for p in proxies:
            p.stop()
        if store:
            store.stop()
    return list(rows.values())


def throughput(ctx, rows, service, sides, nbytes, meter=None):
    values = {(s.name, d): [] for s in sides for d in ("down", "up")}
    for direction in ("down", "up"):
        print("cluster throughput %s (%d MiB x %d): %s" % (direction, nbytes // MiB, ctx.repetitions,
                                                          ", ".join(s.name for s in sides)), file=sys.stderr)
        for rep in range(ctx.repetitions):
            order = sides[rep % len(sides):] + sides[:rep % len(sides)]
            for side in order:
                try:
                    value = stream(ctx, service, side, direction, nbytes, meter)
                except procs.Failure as e:
                    message = "%s #%d: %s" % (side.name, rep + 1, e)
                    print("  FAILED " + message, file=sys.stderr)
                    for key, row in rows.items():
                        if key.endswith(" " + direction) and side.name in (row.a_label, row.b_label):
                            row.failures.append(message)
                    continue
                values[(side.name, direction)].append(value)
                print("  %-18s #%d %9.1f" % (side.name, rep + 1, value), file=sys.stderr)
        for key, row in rows.items():
            if key.endswith(" " + direction) and (row.a_label, direction) in values and \
                    (row.b_label, direction) in values:
                row.a = values[(row.a_label, direction)]
                row.b = values[(row.b_label, direction)]
        row = rows["relay/direct " + direction]
        if row.ratio is not None:
            target_note(row, row.ratio >= RELAY_TARGET, "at least %.1f of direct" % RELAY_TARGET)


def setup_latency(ctx, rows, binary, relayed, direct):
    count, size = ctx.setup_connections, min(ctx.setup_block, ctx.setup_connections)
    blocks = math.ceil(count / size)
    print("cluster relayed open: %d sequential 1-byte echoes through B and through A, blocks of %d"
          % (count, size), file=sys.stderr)
    latencies = {relayed.name: [], direct.name: []}
    failures = []
    for side in (relayed, direct):
        echo_block(binary, side, conn_setup.WARM_UP)
    for i in range(blocks):
        n = min(size, count - i * size)
        for side in ((relayed, direct) if i % 2 == 0 else (direct, relayed)):
            try:
                latencies[side.name] += echo_block(binary, side, n)
            except procs.Failure as e:
                failures.append("%s block %d: %s" % (side.name, i + 1, e))
                print("  FAILED " + failures[-1], file=sys.stderr)
    for p in (50, 99):
        row = rows["open p%d" % p]
        row.failures = list(failures)
        if latencies[relayed.name]:
            row.a.append(percentile(latencies[relayed.name], p))
        if latencies[direct.name]:
            row.b.append(percentile(latencies[direct.name], p))
        if row.a and row.b:
            row.notes.append("added by the relay: %+.0f us" % (row.a[0] - row.b[0]))
        row.extra["measured"] = {name: len(v) for name, v in latencies.items()}


def _policyctl(policyctl, proxy, *args):
    out = subprocess.run([policyctl, *args, "--config", proxy.config], capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise procs.Failure("policyctl %s --config %s: exit status %d: %s%s" % (
            " ".join(args), proxy.config, out.returncode, out.stdout, out.stderr))


def policy_trials(ctx, rows, policyctl, proxies, trials):
    """Adds NEW_KEY (timing its propagation), logs it in on every proxy, removes it (timing the
    disconnects), `trials` times."""
    cdir = os.path.join(ctx.run_dir, "cluster")
    key = os.path.join(cdir, "revoke_ed25519")
    servers.keygen(key, NEW_KEY)
    print("cluster policy: %d trials of policyctl add-key then remove-key, 3 proxies" % trials, file=sys.stderr)
    applied = "applied etcd put of %skeys/%s" % (PREFIX, NEW_KEY)
    propagation, revocation, commands, removals = [], [], [], []
    beyond_add, beyond_remove = [], []  # ms after policyctl exited (0: done before it exited)
    for trial in range(trials):
        writer = proxies[trial % len(proxies)]
        offsets = {p.name: p.log_size() for p in proxies}
        started = time.monotonic()
        _policyctl(policyctl, writer, "add-key", "--name", NEW_KEY, "--key-file", key + ".pub")
        commands.append(time.monotonic() - started)
        seen = {}

        def all_applied():
            for p in proxies:
                if p.name not in seen and p.logged_since(offsets[p.name], applied):
                    seen[p.name] = time.monotonic()
            return len(seen) == len(proxies)
        procs.wait_until("every proxy to log '%s'" % applied, all_applied, deadline=10,
                         watch=[(p.proc, p.log_tail) for p in proxies])
        propagation.append((max(seen.values()) - started) * 1000)
        beyond_add.append(max(0.0, propagation[-1] - commands[-1] * 1000))

        sessions = []
        try:
            for p in proxies:
                local = os.path.join(cdir, "revoke-%s-%d.sock" % (p.proxy_id, trial))
                sessions.append(start_ssh(ctx, p, ["-L", "%s:%s" % (local, os.path.join(p.socket_dir, "none.sock"))],
                                          lambda: procs.unix_socket_present(local),
                                          "revoke-%s-%d" % (p.proxy_id, trial), key=key)[0])
            started = time.monotonic()
            _policyctl(policyctl, proxies[(trial + 1) % len(proxies)], "remove-key", NEW_KEY)
            removals.append(time.monotonic() - started)
            ended = {}

            def all_ended():
                for i, s in enumerate(sessions):
                    if i not in ended and s.poll() is not None:
                        ended[i] = time.monotonic()
                return len(ended) == len(sessions)
            procs.wait_until("the removed key's sessions on every proxy to end", all_ended, deadline=10,
                             watch=[(p.proc, p.log_tail) for p in proxies])
            revocation.append((max(ended.values()) - started) * 1000)
            beyond_remove.append(max(0.0, revocation[-1] - removals[-1] * 1000))
        finally:
            for s in sessions:
                procs.stop(s)
        print("  trial %d/%d: propagation %.1f ms, revocation %.1f ms" % (
            trial + 1, trials, propagation[-1], revocation[-1]), file=sys.stderr)
    for p in (50, 99):
        for name, values, what in (("propagation", propagation, "from policyctl add-key's start to \"%s\" in "
                                                                  "each proxy's log" % applied),
                                   ("revocation", revocation, "from policyctl remove-key's start to the exit of "
                                                              "the key's stock ssh on each proxy")):
            row = rows["%s p%d" % (name, p)]
            row.a.append(percentile(values, p))
            if p == 50:
                row.notes.append(what + "; the slowest of the three per trial")
            else:
                target_note(row, row.a[0] < POLICY_TARGET_MS, "under %.0f ms" % POLICY_TARGET_MS)
    for p in (50, 99):
        rows["propagation p%d" % p].notes.append("policyctl add-key itself: p%d %.1f ms" % (
            p, percentile(commands, p) * 1000))
        rows["revocation p%d" % p].notes.append("policyctl remove-key itself: p%d %.1f ms" % (
            p, percentile(removals, p) * 1000))
        rows["propagation p%d" % p].notes.append("after policyctl exited: p%d %.1f ms" % (
            p, percentile(beyond_add, p)))
        rows["revocation p%d" % p].notes.append("after policyctl exited: p%d %.1f ms" % (
            p, percentile(beyond_remove, p)))
    for name, values in (("propagation", propagation), ("revocation", revocation)):
        for p in (50, 99):
            rows["%s p%d" % (name, p)].extra["trials_ms"] = [round(v, 2) for v in values]
    for p in (50, 99):
        rows["propagation p%d" % p].extra["policyctl_ms"] = [round(v * 1000, 2) for v in commands]
        rows["revocation p%d" % p].extra["policyctl_ms"] = [round(v * 1000, 2) for v in removals]
