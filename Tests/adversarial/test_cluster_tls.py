"""TLS to etcd (issue 14 item 1's https endpoints): etcd serves https only and demands a client
certificate (--client-cert-auth); certificates are made here with the openssl CLI. A daemon whose
cluster config names https://, tls_ca, tls_cert and tls_key reads its policy over TLS and admits a
key that policyctl (same config) adds; a daemon given the wrong CA does not start and says why."""

import json
import ssl
import subprocess
import urllib.request
from pathlib import Path

from etcdlib import ETCD, Etcd
from rawssh import direct_tcpip, open_channel
from stresslib import Key, echo_handler, free_port, make_key, policyctl_binary, wait_for


def openssl(*args: str):
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


def make_certificates(directory: Path) -> dict[str, Path]:
    """A CA, etcd's server certificate for 127.0.0.1, a client certificate, and an unrelated CA."""
    directory.mkdir(parents=True, exist_ok=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    for ca in ("ca", "wrong-ca"):
        openssl("req", "-x509", *ec, "-keyout", str(directory / f"{ca}.key"), "-out", str(directory / f"{ca}.pem"),
                "-days", "2", "-subj", f"/CN={ca}")
    for name, san, usage in [("server", "IP:127.0.0.1", "serverAuth,clientAuth"),
                             ("client", "DNS:portcullis-proxy", "clientAuth")]:
        ext = directory / f"{name}.ext"
        ext.write_text(f"subjectAltName={san}\nextendedKeyUsage={usage}\n")
        openssl("req", "-new", *ec, "-keyout", str(directory / f"{name}.key"), "-out", str(directory / f"{name}.csr"),
                "-subj", f"/CN={name}")
        openssl("x509", "-req", "-in", str(directory / f"{name}.csr"), "-CA", str(directory / "ca.pem"),
                "-CAkey", str(directory / "ca.key"), "-CAcreateserial", "-out", str(directory / f"{name}.pem"),
                "-days", "2", "-extfile", str(ext))
    return {name: directory / name for name in
            ("ca.pem", "wrong-ca.pem", "server.pem", "server.key", "client.pem", "client.key")}


class TLSEtcd(Etcd):
    """etcdlib.Etcd serving https only, demanding a client certificate signed by the test's CA."""

    def __init__(self, directory: Path, certificates: dict[str, Path]):
        self.certificates = certificates
        self.context = ssl.create_default_context(cafile=str(certificates["ca.pem"]))
        self.context.load_cert_chain(str(certificates["client.pem"]), str(certificates["client.key"]))
        super().__init__(directory, free_port)

    def start(self, timeout: float = 30.0):
        self.url = f"https://127.0.0.1:{self.client_port}"
        peer = f"http://127.0.0.1:{self.peer_port}"
        self.log = open(self.dir / "etcd.log", "ab")
        self.process = subprocess.Popen(
            [ETCD, "--name", self.name, "--data-dir", str(self.dir / "data"),
             "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
             "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
             "--initial-cluster", f"{self.name}={peer}",
             "--cert-file", str(self.certificates["server.pem"]), "--key-file", str(self.certificates["server.key"]),
             "--trusted-ca-file", str(self.certificates["ca.pem"]), "--client-cert-auth"],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log, start_new_session=True)
        wait_for(lambda: self.process.poll() is not None or self.healthy(), "etcd /health over https", timeout=timeout)
        if self.process.poll() is not None:
            raise RuntimeError(f"etcd exited at start:\n{(self.dir / 'etcd.log').read_text(errors='replace')[-3000:]}")

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/health", timeout=1, context=self.context) as answer:
                return b'"health":"true"' in answer.read()
        except (OSError, urllib.error.URLError):
            return False

    def call(self, path: str, body: dict, timeout: float = 5.0) -> dict:
        request = urllib.request.Request(self.url + path, data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=timeout, context=self.context) as answer:
            return json.loads(answer.read() or b"{}")


def tls_yaml(certificates: dict[str, Path], ca: str = "ca.pem") -> str:
    return (f'lease_ttl: 2s, tls_ca: "{certificates[ca]}", tls_cert: "{certificates["client.pem"]}", '
            f'tls_key: "{certificates["client.key"]}"')


def forward_works(daemon, key: str, port: int) -> bool:
    """Logs in with `key` and opens direct-tcpip to the echo service on `port`: whether it echoes."""
    try:
        transport = daemon.paramiko_transport(key, timeout=5)
    except Exception:
        return False
    try:
        opened = open_channel(transport, "direct-tcpip", direct_tcpip("127.0.0.1", port))
        if opened.outcome != "opened":
            return False
        opened.channel.sendall(b"ping")
        return opened.channel.recv(4) == b"ping"
    finally:
        transport.close()


def test_a_daemon_on_https_etcd_admits_a_key_added_with_policyctl(start_daemon, services, workdir):
    certificates = make_certificates(workdir / "certs")
    etcd = TLSEtcd(workdir / "etcd", certificates)
    try:
        echo = services(echo_handler)
        rule = f'permit_open: ["127.0.0.1:{echo.port}"]'
        daemon = start_daemon({"alex": rule}, cluster=etcd, proxy_id="a", cluster_yaml=tls_yaml(certificates))
        assert f'etcd: ["https://127.0.0.1:{etcd.client_port}"]' in daemon.config_path.read_text()
        assert forward_works(daemon, "alex", echo.port), "alex's entry (read over TLS at start) did not admit him"

        private, public = make_key(workdir / "bob")
        daemon.keys["bob"] = Key("bob", private, public)
        assert not forward_works(daemon, "bob", echo.port), "bob logged in before being added"
        added = subprocess.run([str(policyctl_binary()), "add-key", "--name", "bob", "--key-file", str(workdir / "bob.pub"),
                                "--permit-open", f"127.0.0.1:{echo.port}", "--config", str(daemon.config_path)],
                               capture_output=True, text=True, timeout=30)
        assert added.returncode == 0, added.stderr
        assert "added key bob in etcd:/portcullis/keys/bob" in added.stdout
        assert etcd.get("/portcullis/keys/bob") is not None
        # The watch (over TLS) applies it.
        wait_for(lambda: forward_works(daemon, "bob", echo.port), "bob admitted after policyctl add-key", timeout=10)

        # The registry registered the proxy over TLS, and policyctl's cluster view reads it the same way.
        def members():
            status = subprocess.run([str(policyctl_binary()), "cluster", "status", "--json", "--config", str(daemon.config_path)],
                                    capture_output=True, text=True, timeout=30)
            assert status.returncode == 0, status.stderr
            return [member["proxy"] for member in json.loads(status.stdout)["members"]]
        wait_for(lambda: members() == ["a"], "proxy a in policyctl cluster status", timeout=10, interval=0.2)
    finally:
        etcd.stop()


def test_a_daemon_given_the_wrong_ca_does_not_start_and_says_the_certificate_failed(start_daemon, workdir):
    certificates = make_certificates(workdir / "certs")
    etcd = TLSEtcd(workdir / "etcd", certificates)
    try:
        daemon = start_daemon({"alex": 'permit_open: ["127.0.0.1:9"]'}, cluster=etcd, proxy_id="a",
                              cluster_yaml=tls_yaml(certificates, ca="wrong-ca.pem"), wait_listening=False)
        daemon.expect_exit = True
        wait_for(lambda: daemon.process.poll() is not None, "portcullisd to refuse to start", timeout=30)
        assert daemon.process.returncode != 0
        log = daemon.stderr()
        assert f"etcd https://127.0.0.1:{etcd.client_port}: cannot connect: TLS handshake failed: " \
               "certificate verify failed" in log, log
        assert "listening on" not in log
    finally:
        etcd.stop()
