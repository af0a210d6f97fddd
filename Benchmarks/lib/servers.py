"""The two servers under test, each on 127.0.0.1 on a free port with its own throwaway host key, both
granting every forward to one throwaway client key; and the stock ssh client's command line."""

import http.client
import os
import subprocess
import threading

import procs

SSH = "/usr/bin/ssh"
SSHD = "/usr/sbin/sshd"


def keygen(path, comment):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", path], check=True)
    with open(path + ".pub") as f:
        return f.read().strip()


class Client:
    """The client's key and known_hosts, shared by every server."""

    def __init__(self, run_dir, options=()):
        self.options = [arg for option in options for arg in ("-o", option)]  # --ssh-option
        self.dir = os.path.join(run_dir, "client")
        os.makedirs(self.dir, mode=0o700)
        self.key = os.path.join(self.dir, "id_ed25519")
        self.public_key = keygen(self.key, "bench-client")
        self.known_hosts = os.path.join(self.dir, "known_hosts")
        open(self.known_hosts, "w").close()

    def trust(self, port, host_public_key):
        with open(self.known_hosts, "a") as f:
            f.write("[127.0.0.1]:%d %s\n" % (port, " ".join(host_public_key.split()[:2])))

    def argv(self, server, cipher, forward):
        """`ssh -N` with one forward (e.g. ["-L", "..."]) to `server`, nothing read from ~/.ssh."""
        return [SSH, "-F", "/dev/null", "-i", self.key, "-o", "IdentitiesOnly=yes",
                "-o", "UserKnownHostsFile=" + self.known_hosts, "-o", "GlobalKnownHostsFile=/dev/null",
                "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "ExitOnForwardFailure=yes",
                "-o", "Compression=no", "-o", "Ciphers=" + cipher, "-o", "StreamLocalBindUnlink=yes",
                "-o", "LogLevel=ERROR"] + self.options + ["-N", "-p", str(server.port)] + forward + \
               ["root@127.0.0.1"]


class Server:
    """Common to both: a directory, a port, a host key, a log; start() waits until it listens."""

    label = "?"

    def __init__(self, name, run_dir, client):
        self.name = name
        self.dir = os.path.join(run_dir, name)
        os.makedirs(self.dir, mode=0o700)
        self.socket_dir = os.path.join(self.dir, "sockets")  # where -R sockets go
        os.makedirs(self.socket_dir, mode=0o700)
        self.port = procs.free_port()
        self.host_key = os.path.join(self.dir, "host_key")
        client.trust(self.port, keygen(self.host_key, name + "-host"))
        self.log = os.path.join(self.dir, "server.log")
        self.proc = None

    def command(self):
        raise NotImplementedError

    def start(self):
        with open(self.log, "ab") as log:
            self.proc = procs.start(self.command(), stdout=log, stderr=log)
        procs.wait_until("%s to listen on 127.0.0.1:%d" % (self.name, self.port),
                         lambda: procs.tcp_listening(self.port), watch=[(self.proc, self.log_tail)])

    def stop(self):
        if self.proc:
            procs.stop(self.proc)
            self.proc = None

    def log_tail(self):
        return "%s log (%s):\n%s" % (self.name, self.log, procs.tail(self.log))


class OpenSSH(Server):
    label = "OpenSSH"

    def __init__(self, run_dir, client, far_dir, name="openssh", extra_config=()):
        super().__init__(name, run_dir, client)
        self.extra_config = list(extra_config)
        self.authorized_keys = os.path.join(self.dir, "authorized_keys")
        with open(self.authorized_keys, "w") as f:
            f.write(client.public_key + "\n")
        self.config = os.path.join(self.dir, "sshd_config")
        with open(self.config, "w") as f:
            f.write("\n".join([
                "Port %d" % self.port,
                "ListenAddress 127.0.0.1",
                "HostKey " + self.host_key,
                "PidFile none",
                "UsePAM no",
                "StrictModes no",
                "PermitRootLogin prohibit-password",
                "PubkeyAuthentication yes",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "AuthorizedKeysFile " + self.authorized_keys,
                "AllowTcpForwarding yes",
                "AllowStreamLocalForwarding yes",
                "StreamLocalBindUnlink yes",
                "GatewayPorts no",
                "PermitListen any",
                "PermitOpen any",
                "PermitTTY no",
                "X11Forwarding no",
                "AllowAgentForwarding no",
                "PrintMotd no",
                "LogLevel INFO",
            ] + list(extra_config) + [""]))
        # sshd's privilege separation needs its empty directory (the package's service would create it).
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)

    def command(self):
        return [SSHD, "-f", self.config, "-D", "-e"]

    @staticmethod
    def package_version():
        return subprocess.run(["dpkg-query", "-W", "-f=${Version}", "openssh-server"],
                              capture_output=True, text=True).stdout.strip()

    @staticmethod
    def version():
        out = subprocess.run([SSHD, "-V"], capture_output=True, text=True)
        text = out.stderr + out.stdout
        version = next((line.strip() for line in text.splitlines() if "OpenSSH" in line), text.strip())
        package = OpenSSH.package_version()
        return "%s (Debian openssh-server %s)" % (version, package) if package else version


class Portcullis(Server):
    label = "Portcullis"
    # --metrics: every portcullisd serves /metrics (metrics_listen), scraped every `scrape_interval` s
    # while it runs, to compare with metrics off.
    metrics = False
    scrape_interval = 1.0

    def __init__(self, run_dir, client, far_dir, binary, name="portcullis", audit_log=None, limits=None):
        super().__init__(name, run_dir, client)
        self.binary = binary
        self.audit_log = audit_log  # None: audit_log: off
        self.limits = dict(limits or {})  # e.g. {"login_grace_time": "600s"}
        self.config = os.path.join(self.dir, "portcullis.yaml")
        self.metrics_port = procs.free_port() if Portcullis.metrics else None
        self.scrapes = 0
        self._scraper = None
        with open(self.config, "w") as f:
            f.write("\n".join([
                'listen: ["127.0.0.1:%d"]' % self.port,
                'host_keys: ["%s"]' % self.host_key,
                'socket_root: "%s"' % self.socket_dir,
                "audit_log: " + ('"%s"' % audit_log if audit_log else "off"),
                'control_socket: "%s"' % os.path.join(self.dir, "control.sock"),
            ] + (['metrics_listen: "127.0.0.1:%d"' % self.metrics_port] if self.metrics_port else []) + (["limits:"] + ["  %s: %s" % item for item in sorted(self.limits.items())] if self.limits else []) + [
                "keys:",
                "  - name: bench",
                '    key: "%s"' % client.public_key,
                '    permit_listen: ["*"]',
                '    permit_open: ["*:*"]',
                '    permit_streamlocal_listen: ["%s/**"]' % self.socket_dir,
                '    permit_streamlocal_open: ["%s/**"]' % far_dir,
                # As sshd, which has no per-key limits: thousands of sessions of this one key.
                "    max_sessions: unlimited",
                "    max_listens: unlimited",
                "    max_channels: unlimited",
                "",
            ]))
        check = subprocess.run([binary, "--check", "--config", self.config], capture_output=True, text=True)
        if check.returncode != 0:
            raise procs.Failure("%s: the generated config is invalid:\n%s%s" % (name, check.stdout, check.stderr))

    def command(self):
        return [self.binary, "--config", self.config]

    def start(self):
        super().start()
        if self.metrics_port:
            self._scraping = threading.Event()
            self._scraper = threading.Thread(target=self._scrape_loop, daemon=True)
            self._scraper.start()

    def stop(self):
        if self._scraper:
            self._scraping.set()
            self._scraper.join(10)
            self._scraper = None
        super().stop()

    def _scrape_loop(self):
        """What Prometheus would do: GET /metrics every scrape_interval seconds."""
        while not self._scraping.wait(Portcullis.scrape_interval):
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.metrics_port, timeout=5)
                conn.request("GET", "/metrics")
                response = conn.getresponse()
                response.read()
                conn.close()
                if response.status == 200:
                    self.scrapes += 1
            except OSError:
                pass

    @staticmethod
    def version(binary):
        return subprocess.run([binary, "--version"], capture_output=True, text=True).stdout.strip()

    def audit_records(self):
        """Lines in the audit log (0 when the daemon wrote none), or None when auditing is off."""
        if not self.audit_log:
            return None
        try:
            with open(self.audit_log, "rb") as f:
                return sum(1 for _ in f)
        except FileNotFoundError:
            return 0


def ssh_version():
    out = subprocess.run([SSH, "-V"], capture_output=True, text=True)
    return (out.stderr + out.stdout).strip()
