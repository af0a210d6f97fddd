"""Case: the policy engine at a big proxy's scale (no OpenSSH counterpart: sshd has no per-key
forwarding rules to compare with).

1. Benchmarks/policy-bench (an executable of the package): a config of `keys` keys with 20 rules
   each is loaded (ConfigLoader + Policy, what start and every reload do), then random requests of
   the four kinds are decided for random keys, each timed: p50 and p99, and the load time.
   Targets: decision p99 under 5 microseconds, load under 1 s.
2. A reload under load: portcullisd runs with that config plus the bench key, `sessions` ssh -L
   sessions carry short connections to an echo service without pause, and the daemon is sent
   SIGHUP `reloads` times (the config changed each time). Reported: the time from SIGHUP to the
   daemon's answer in PID_FILE.reload, and the sessions dropped and connections failed meanwhile
   (target: none)."""

import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

import procs
from results import Result

CIPHER = "aes128-gcm@openssh.com"


def run(ctx):
    keys = 1000 if ctx.args.quick else 10000
    results = engine(ctx, keys)
    results += reload_under_load(ctx, keys, sessions=4 if ctx.args.quick else 20,
                                 reloads=2 if ctx.args.quick else ctx.repetitions + 2)
    return results


def engine(ctx, keys):
    bench = os.path.join(ctx.root, ".build", "release", "policy-bench")
    decisions = 20000 if ctx.args.quick else 200000
    loads = 2 if ctx.args.quick else 5
    print("policy: %d keys x 20 rules, %d decisions, %d loads" % (keys, decisions, loads), file=sys.stderr)
    rows = {
        "p50": Result("policy", "decision p50, %d keys" % keys, "us", "Portcullis", higher_is_better=False,
                      expected=1, notes=["target: p99 under 5 us"]),
        "p99": Result("policy", "decision p99, %d keys" % keys, "us", "Portcullis", higher_is_better=False,
                      expected=1, notes=["target: under 5 us"]),
        "load": Result("policy", "config load, %d keys" % keys, "s", "Portcullis", higher_is_better=False,
                       expected=1, notes=["target: under 1 s"]),
    }
    out = subprocess.run([bench, "--keys", str(keys), "--decisions", str(decisions), "--loads", str(loads)],
                         capture_output=True, text=True)
    try:
        report = json.loads(out.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        for row in rows.values():
            row.error = "policy-bench: exit status %d: %s%s" % (out.returncode, out.stdout, out.stderr)
        return list(rows.values())
    rows["p50"].a.append(report["decision_us_p50"])
    rows["p99"].a.append(report["decision_us_p99"])
    rows["load"].a.append(report["load_seconds_median"])
    rows["p99"].extra["by_kind"] = report.get("by_kind")
    rows["load"].extra["config_bytes"] = report.get("config_bytes")
    for name in ("p50", "p99", "load"):
        print("  %s %.3f" % (name, rows[name].a[-1]), file=sys.stderr)
    return list(rows.values())


class EchoService:
    """A threaded TCP echo on 127.0.0.1 (the -L target)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(512)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    @staticmethod
    def _echo(conn):
        with conn:
            while True:
                data = conn.recv(65536)
                if not data:
                    return
                conn.sendall(data)

    def close(self):
        self.sock.close()


class Traffic:
    """Short connections through one -L port, one after another, until stopped."""

    def __init__(self, port):
        self.port = port
        self.done = 0
        self.errors = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        payload = os.urandom(1024)
        while not self.stopping.is_set():
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=10) as s:
                    s.sendall(payload)
                    s.shutdown(socket.SHUT_WR)
                    back = b""
                    while len(back) < len(payload):
                        chunk = s.recv(65536)
                        if not chunk:
                            break
                        back += chunk
                if back != payload:
                    raise OSError("echo differs (%d of %d bytes)" % (len(back), len(payload)))
                self.done += 1
            except OSError as e:
                self.errors.append(str(e))
                time.sleep(0.05)

    def stop(self):
        self.stopping.set()
        self.thread.join(15)


def reload_under_load(ctx, keys, sessions, reloads):
    run_dir = os.path.join(ctx.run_dir, "policy-reload")
    os.makedirs(run_dir, mode=0o700)
    socket_root = os.path.join(run_dir, "sockets")
    os.makedirs(socket_root, mode=0o700)
    host_key = os.path.join(run_dir, "host_key")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", host_key], check=True)
    config = os.path.join(run_dir, "portcullis.yaml")
    bench = os.path.join(ctx.root, ".build", "release", "policy-bench")
    subprocess.run([bench, "--write-config", config, "--keys", str(keys), "--host-key", host_key,
                    "--socket-root", socket_root], check=True)
    with open(config) as f:
        text = f.read()
    text += '  - name: bench\n    key: "%s"\n    permit_open: ["127.0.0.1:*"]\n' % ctx.client.public_key
    with open(config, "w") as f:
        f.write(text)

    port = procs.free_port()
    pid_file = os.path.join(run_dir, "portcullisd.pid")
    log_path = os.path.join(run_dir, "portcullisd.log")
    log = open(log_path, "wb")
    daemon = procs.start([ctx.portcullisd, "--config", config, "--listen", "127.0.0.1:%d" % port,
                          "--pid-file", pid_file], stdout=log, stderr=log)
    daemon_watch = [(daemon, lambda: procs.tail(log_path))]
    procs.wait_until("portcullisd with %d keys to listen" % keys,
                     lambda: procs.tcp_listening(port) and os.path.exists(pid_file), deadline=60, watch=daemon_watch)
    with open(host_key + ".pub") as f:
        ctx.client.trust(port, f.read())

    class Target:
        pass
    server = Target()
    server.port = port
    echo = EchoService()
    clients, traffic = [], []
    reload_row = Result("policy", "reload under load, %d keys" % (keys + 1), "s", "Portcullis",
                        higher_is_better=False, expected=reloads, notes=["SIGHUP to the daemon's answer"])
    dropped = Result("policy", "sessions dropped by reloads", "sessions", "Portcullis", expected=1,
                     allow_zero=True, notes=["target: 0"])
    failed = Result("policy", "connections failed during reloads", "connections", "Portcullis", expected=1,
                    allow_zero=True, notes=["target: 0"])
    try:
        for index in range(sessions):
            local = procs.free_port()
            argv = ctx.client.argv(server, CIPHER, ["-L", "127.0.0.1:%d:127.0.0.1:%d" % (local, echo.port)])
            clients.append(procs.start(argv, stderr=subprocess.DEVNULL))
            procs.wait_until("ssh -L session %d" % index, lambda: procs.tcp_listening(local),
                             watch=[(clients[-1], lambda: "")] + daemon_watch)
            traffic.append(Traffic(local))
        procs.wait_until("traffic on every session", lambda: all(t.done > 0 for t in traffic), deadline=30)
        for sequence in range(1, reloads + 1):
            with open(config, "a") as f:
                f.write("# reload %d\n" % sequence)
            status = pid_file + ".reload"
            started = time.monotonic()
            os.kill(daemon.pid, signal.SIGHUP)

            def answered():
                try:
                    with open(status) as f:
                        return json.load(f).get("sequence") == sequence
                except (OSError, ValueError):
                    return False
            procs.wait_until("reload %d to be answered" % sequence, answered, deadline=60, watch=daemon_watch)
            reload_row.a.append(time.monotonic() - started)
            with open(status) as f:
                if not json.load(f).get("ok"):
                    reload_row.failures.append("reload %d rejected" % sequence)
            print("  reload %d: %.3f s" % (sequence, reload_row.a[-1]), file=sys.stderr)
        before = [t.done for t in traffic]
        procs.wait_until("traffic after the reloads", lambda: all(t.done > b for t, b in zip(traffic, before)),
                         deadline=30)
    except procs.Failure as e:
        reload_row.error = str(e)
    finally:
        for t in traffic:
            t.stop()
        dropped.a.append(sum(1 for c in clients if c.poll() is not None))
        failed.a.append(sum(len(t.errors) for t in traffic))
        if dropped.a[-1]:
            dropped.failures.append("%d of %d sessions ended during the reloads" % (dropped.a[-1], len(clients)))
        if failed.a[-1]:
            failed.failures.append("%d connections failed, first: %s"
                                   % (failed.a[-1], next(e for t in traffic for e in t.errors)))
        for c in clients:
            procs.stop(c)
        procs.stop(daemon)
        echo.close()
        log.close()
    reload_row.extra["median"] = statistics.median(reload_row.a) if reload_row.a else None
    reload_row.extra["connections"] = sum(t.done for t in traffic)
    return [reload_row, dropped, failed]
