"""Benchmarks/run's harness (Benchmarks/run installs the packages and builds first).

A case is a module with run(ctx) -> [Result]; CASES lists them in the order they run. To add one,
write Benchmarks/lib/NAME.py and add it here; ctx.server(NAME) starts a server on first use."""

import argparse
import datetime
import os
import platform
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import audit  # noqa: E402
import cluster  # noqa: E402
import conn_setup  # noqa: E402
import endpoints  # noqa: E402
import idle  # noqa: E402
import policy  # noqa: E402
import preauth  # noqa: E402
import procs  # noqa: E402
import report  # noqa: E402
import scale  # noqa: E402
import servers  # noqa: E402
import throughput  # noqa: E402

CASES = {
    "throughput": throughput.run,
    "audit": audit.run,
    "setup": conn_setup.run,
    "idle": idle.run,
    "preauth": preauth.run,
    "scale": scale.run,
    "policy": policy.run,
    "cluster": cluster.run,
}

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MiB = 1 << 20
CIPHERS = ["chacha20-poly1305@openssh.com", "aes128-gcm@openssh.com"]


def arguments():
    p = argparse.ArgumentParser(prog="Benchmarks/run", description=(
        "Portcullis against OpenSSH's sshd on 127.0.0.1, driven by the same stock ssh client. Prints a "
        "table; writes NAME.json and NAME.png (ratios) to the output directory."))
    p.add_argument("--quick", action="store_true",
                   help="32 MiB per measurement, 1 repetition, aes128-gcm only, 20000 audit records, "
                        "100 setup connections, 100 idle-load connections with 200 idle sessions, 1000 pre-auth "
                        "connections held 2 s, scale 50 sessions x 200 connections, 3 cluster trials; "
                        "fails unless every case produced sane numbers (the test suite runs this)")
    p.add_argument("--mib", type=int, help="MiB per measurement (default 1024)")
    p.add_argument("--repetitions", type=int, help="measurements per side of each case (default 3)")
    p.add_argument("--ciphers", help="comma-separated (default: %s)" % ",".join(CIPHERS))
    p.add_argument("--kinds", help="comma-separated of %s (default: all)" % ",".join(throughput.KIND_NAMES))
    p.add_argument("--cases", help="comma-separated of %s (default: all)" % ",".join(CASES))
    p.add_argument("--audit-records", type=int, help="records per audit-bench run (default 200000)")
    p.add_argument("--setup-connections", type=int,
                   help="setup case: sequential connections per server (default 2000)")
    p.add_argument("--setup-block", type=int, help="setup case: connections per turn of a server (default 200)")
    p.add_argument("--idle-sessions", type=int,
                   help="idle case: idle authenticated sessions held on the server for the second measurement "
                        "(default 5000)")
    p.add_argument("--idle-connections", type=int,
                   help="idle case: sequential connections per server, without and again with the idle sessions "
                        "(default 1000; in turns of --setup-block)")
    p.add_argument("--preauth-connections", type=int,
                   help="preauth case: idle pre-auth TCP connections to the SSH port (default 10000); "
                        "--repetitions logins are timed before and during the flood")
    p.add_argument("--preauth-hold", type=float, help="preauth case: seconds the flood is held and the server's "
                                                      "CPU measured (default 5)")
    p.add_argument("--scale-sessions", "--sessions", dest="sessions", type=int,
                   help="scale case: concurrent SSH sessions (default 5000)")
    p.add_argument("--scale-connections", "--connections", dest="connections", type=int,
                   help="scale case: concurrent forwarded connections, spread over the sessions (default 50000; "
                        "both sides get fewer where one process's open files limit cannot hold them)")
    p.add_argument("--memory-reserve-mib", type=int, default=4096,
                   help="idle and scale cases: loadgen opens no further session or connection once the machine's "
                        "MemAvailable is under this, and the row reports how far it got (default 4096)")
    p.add_argument("--cluster-trials", type=int,
                   help="cluster case: policyctl add-key then remove-key trials on three proxies (default 50)")
    p.add_argument("--ssh-option", action="append", default=[], metavar="OPTION",
                   help="extra client option for every ssh, e.g. RekeyLimit=64M (repeatable)")
    p.add_argument("--metrics", action="store_true",
                   help="every portcullisd serves /metrics (metrics_listen), scraped once a second: compare with a run without")
    p.add_argument("--out", default=os.path.join(ROOT, "Benchmarks", "out"), help="output directory")
    p.add_argument("--name", help="output file name without extension (default: latest, or quick)")
    p.add_argument("--keep", action="store_true", help="keep the run directory (configs, keys, logs)")
    a = p.parse_args()
    servers.Portcullis.metrics = a.metrics
    a.mib = a.mib or (32 if a.quick else 1024)
    a.repetitions = a.repetitions or (1 if a.quick else 3)
    a.ciphers = a.ciphers.split(",") if a.ciphers else (["aes128-gcm@openssh.com"] if a.quick else CIPHERS)
    a.kinds = a.kinds.split(",") if a.kinds else throughput.KIND_NAMES
    a.cases = a.cases.split(",") if a.cases else list(CASES)
    a.audit_records = a.audit_records or (20000 if a.quick else 200000)
    a.setup_connections = a.setup_connections or (100 if a.quick else 2000)
    a.setup_block = a.setup_block or (50 if a.quick else 200)
    a.idle_sessions = a.idle_sessions or (200 if a.quick else 5000)
    a.idle_connections = a.idle_connections or (100 if a.quick else 1000)
    a.preauth_connections = a.preauth_connections or (1000 if a.quick else 10000)
    a.preauth_hold = a.preauth_hold or (2.0 if a.quick else 5.0)
    a.sessions = a.sessions or (50 if a.quick else 5000)
    a.connections = a.connections if a.connections is not None else (200 if a.quick else 50000)
    a.cluster_trials = a.cluster_trials or (3 if a.quick else 50)
    a.name = a.name or ("quick" if a.quick else "latest")
    for name in a.kinds:
        if name not in throughput.KIND_NAMES:
            p.error("unknown kind %r" % name)
    for name in a.cases:
        if name not in CASES:
            p.error("unknown case %r" % name)
    return a


class Context:
    """What the cases share: settings, the run directory, the client, the endpoints, the servers."""

    def __init__(self, args, run_dir):
        self.args = args
        self.nbytes = args.mib * MiB
        self.repetitions = args.repetitions
        self.ciphers = args.ciphers
        self.kinds = args.kinds
        self.audit_records = args.audit_records
        self.setup_connections = args.setup_connections
        self.setup_block = args.setup_block
        self.scale_sessions = args.sessions
        self.scale_connections = args.connections
        self.scale_offered = None  # (sessions, connections) the scale case could offer both sides
        self.idle_sessions = args.idle_sessions
        self.idle_connections = args.idle_connections
        self.preauth_connections = args.preauth_connections
        self.preauth_hold = args.preauth_hold
        self.memory_reserve_mib = args.memory_reserve_mib
        self.root = ROOT
        self.run_dir = run_dir
        self.client = servers.Client(run_dir, args.ssh_option)
        self.client_dir = self.client.dir
        self.far_dir = os.path.join(run_dir, "far")  # Unix sockets next to the server (-L targets)
        os.makedirs(self.far_dir, mode=0o700)
        self.blast = endpoints.Blast(run_dir)
        self.portcullisd = os.path.join(ROOT, ".build", "release", "portcullisd")
        self.audit_bench = os.path.join(ROOT, ".build", "release", "audit-bench")
        self._servers = {}

    def server(self, name):
        if name not in self._servers:
            if name == "openssh":
                s = servers.OpenSSH(self.run_dir, self.client, self.far_dir)
            elif name == "portcullis":
                s = servers.Portcullis(self.run_dir, self.client, self.far_dir, self.portcullisd)
            elif name == "portcullis-audit":
                s = servers.Portcullis(self.run_dir, self.client, self.far_dir, self.portcullisd, name=name,
                                       audit_log=os.path.join(self.run_dir, name, "audit.jsonl"))
            else:
                raise KeyError(name)
            s.start()
            self._servers[name] = s
        return self._servers[name]

    def stop_servers(self):
        for s in self._servers.values():
            s.stop()

    @staticmethod
    def progress(server, rep, value):
        print("  %-18s #%d %9.1f" % (server.name, rep + 1, value), file=sys.stderr)


def main():
    args = arguments()
    for binary in ("portcullisd", "policyctl", "audit-bench", "policy-bench"):
        if not os.access(os.path.join(ROOT, ".build", "release", binary), os.X_OK):
            sys.exit("Benchmarks/run: .build/release/%s is missing: run `make build` (Benchmarks/run does)" % binary)
    os.makedirs(args.out, exist_ok=True)
    run_dir = os.path.realpath(tempfile.mkdtemp(prefix="portcullis-bench-"))
    started = time.monotonic()
    meta = {
        "generated": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "mode": "quick" if args.quick else "full",
        "settings": {"mib_per_measurement": args.mib, "repetitions": args.repetitions, "ciphers": args.ciphers,
                     "kinds": args.kinds, "cases": args.cases, "ssh_options": args.ssh_option, "audit_records": args.audit_records,
                     "setup_connections": args.setup_connections, "setup_block": args.setup_block,
                     "scale_sessions": args.sessions, "scale_connections": args.connections,
                     "idle_sessions": args.idle_sessions, "idle_connections": args.idle_connections,
                     "preauth_connections": args.preauth_connections, "preauth_hold": args.preauth_hold,
                     "memory_reserve_mib": args.memory_reserve_mib, "cluster_trials": args.cluster_trials,
                     "order": "interleaved A B, B A, ...; medians; ratio = median(A) / median(B)"},
        "machine": {"cpus": os.cpu_count(), "kernel": platform.release(), "loadavg_before": os.getloadavg()},
    }
    results = []
    ctx = None
    try:
        ctx = Context(args, run_dir)
        meta["versions"] = {"portcullisd": servers.Portcullis.version(ctx.portcullisd), "sshd": servers.OpenSSH.version(),
                            "ssh": servers.ssh_version(),
                            "sshd_package": servers.OpenSSH.package_version()}
        for name in args.cases:
            results += CASES[name](ctx)
    except procs.Failure as e:
        print("Benchmarks/run: %s" % e, file=sys.stderr)
        return 1
    finally:
        if ctx:
            ctx.stop_servers()
        procs.stop_all()
        if args.keep:
            print("run directory kept: %s" % run_dir, file=sys.stderr)
        else:
            shutil.rmtree(run_dir, ignore_errors=True)

    meta["machine"]["loadavg_after"] = os.getloadavg()
    meta["seconds"] = round(time.monotonic() - started, 1)
    v = meta["versions"]
    header = "Portcullis vs OpenSSH, %s mode: %d MiB per measurement, %d repetition(s), interleaved, medians\n" \
             "portcullisd: %s\nsshd: %s\nssh: %s\n%d CPUs, load %.2f before, %.2f after, %.0f s" % (
                 meta["mode"], args.mib, args.repetitions, v["portcullisd"], v["sshd"], v["ssh"],
                 os.cpu_count(), meta["machine"]["loadavg_before"][0], meta["machine"]["loadavg_after"][0],
                 meta["seconds"])
    if "setup" in args.cases:
        header += "\nsetup: %d sequential connections per server through ssh -R, in turns of %d" % (
            args.setup_connections, args.setup_block)
    if "idle" in args.cases:
        header += "\nidle: %d sequential connections per server through ssh -R, without and with %d idle sessions" % (
            args.idle_connections, args.idle_sessions)
    if "preauth" in args.cases:
        header += "\npreauth: %d idle pre-auth connections held %.0f s, a stock ssh -W login during the flood" % (
            args.preauth_connections, args.preauth_hold)
    if "scale" in args.cases:
        offered = ctx.scale_offered or (args.sessions, args.connections)
        meta["settings"]["scale_offered"] = list(offered)
        header += "\nscale: %d sessions with a Unix-socket -R each, %d connections held at once (loadgen)" % offered
        cuts = ["%d %s" % (wanted, what) for wanted, got, what in
                zip((args.sessions, args.connections), offered, ("sessions", "connections")) if got != wanted]
        if cuts:
            header += ", cut from %s (open files limit)" % " and ".join(cuts)
    if "cluster" in args.cases:
        header += "\ncluster: etcd and three proxies; relayed (B->A), direct (A) and sshd -L of a socket shared on A; " \
                  "%d policyctl add-key/remove-key trials" % args.cluster_trials
    print(report.table(results, header))
    json_path = os.path.join(args.out, args.name + ".json")
    png_path = os.path.join(args.out, args.name + ".png")
    report.write_json(json_path, meta, results)
    report.write_chart(png_path, "%s mode: %d MiB per measurement, %d repetition(s), medians\n%s; sshd %s"
                       % (meta["mode"], args.mib, args.repetitions, v["portcullisd"].split(" on ")[0],
                          v["sshd_package"]), results)
    print("\nwrote %s and %s" % (json_path, png_path))

    problems = ["%s %s: %s" % (r.section, r.case, p) for r in results for p in r.problems(args.repetitions)]
    if problems:
        print("\nFAILED:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
