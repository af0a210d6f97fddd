"""Names (issue 14, item 4): a sharer publishes a service under a name with a remote forward whose
bind host is the name (`ssh -N -R alex-ssh:22:127.0.0.1:22 proxy`), and a consumer reaches it with
`ssh -J proxy alex-ssh`: the consumer's direct-tcpip to alex-ssh:22 is looked up in the daemon's name
table before any DNS and delivered to the sharer's session as a forwarded-tcpip channel. Nothing is
bound and no file is made; the name goes when the forward or the session ends.

The end-to-end case is the encrypted one: the consumer's ssh talks to the sharer's own sshd (OpenSSH's,
on loopback) through the proxy, which carries only ciphertext."""

import os
import socket
import subprocess

import pytest

from rawssh import direct_tcpip, global_request, open_channel, tcpip_forward
from stresslib import SSH, echo_handler, free_port, make_key, pattern, sha256, wait_for

SSHD = "/usr/sbin/sshd"

SHARER = "alex"
CONSUMER = "blake"
KEYS = {
    # alex may publish names starting with its key name; blake may reach alex-ssh and alex-echo.
    SHARER: "permit_name_publish: ['%k-*']",
    CONSUMER: "permit_name_open: ['alex-ssh', 'alex-echo']",
    # carol may log in and nothing else: no name rules at all.
    "carol": "permit_open: none",
}


class SharersSSHD:
    """OpenSSH's sshd on 127.0.0.1:FREEPORT, the sharer's own server, admitting `authorized` as root."""

    def __init__(self, directory, procs, authorized: str):
        directory.mkdir()
        self.port = free_port()
        host_key, self.host_public = make_key(directory / "host_key")
        authorized_keys = directory / "authorized_keys"
        authorized_keys.write_text(authorized + "\n")
        config = directory / "sshd_config"
        config.write_text("\n".join([
            f"Port {self.port}", "ListenAddress 127.0.0.1", f"HostKey {host_key}", "PidFile none", "UsePAM no",
            "StrictModes no", "PermitRootLogin prohibit-password", "PasswordAuthentication no",
            "KbdInteractiveAuthentication no", f"AuthorizedKeysFile {authorized_keys}", "PrintMotd no",
            "LogLevel ERROR", "",
        ]))
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        self.started = procs.start([SSHD, "-f", str(config), "-D", "-e"])
        wait_for(lambda: self._listening() or (not self.started.alive() and
                                                 pytest.fail(f"sshd exited: {self.started.stderr()}")),
                 "sshd to listen", timeout=15)

    def _listening(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            return False


def publish(daemon, procs, name: str, target_port: int, port: int = 22):
    """The sharer's stock ssh: -R NAME:PORT:127.0.0.1:TARGET; returns once the name is in place."""
    sharer = procs.start(daemon.ssh_args(SHARER, "-N", "-o", "ExitOnForwardFailure=yes",
                                         "-R", f"{name}:{port}:127.0.0.1:{target_port}"))
    wait_for(lambda: daemon.events("forward-bound", kind="name-publish", target=f"{name}:{port}")
             or (not sharer.alive() and pytest.fail(f"sharer's ssh exited: {sharer.stderr()}")),
             f"{name} to be published", timeout=20)
    return sharer


def test_ssh_J_proxy_name_reaches_the_sharers_own_sshd_with_data_intact(start_daemon, procs, workdir):
    daemon = start_daemon(KEYS)
    # The consumer logs in to the sharer's sshd with its own key; the proxy never sees that login.
    sshd = SharersSSHD(workdir / "sharer-sshd", procs, daemon.keys[CONSUMER].public)
    sharer = publish(daemon, procs, "alex-ssh", sshd.port)
    made = [p for p in daemon.socket_root.rglob("*") if not p.name.startswith(".portcullis-")]
    assert not made, "a name makes no file under socket_root"

    known = workdir / "known_hosts_alex_ssh"
    known.write_text(f"alex-ssh {sshd.host_public}\n")
    config = workdir / "ssh_config"
    config.write_text("\n".join([
        "Host proxy", "  HostName 127.0.0.1", f"  Port {daemon.port}", f"  User {CONSUMER}",
        f"  IdentityFile {daemon.keys[CONSUMER].private}", "  IdentitiesOnly yes",
        f"  UserKnownHostsFile {daemon.known_hosts}", "  GlobalKnownHostsFile /dev/null",
        "  StrictHostKeyChecking yes", "  BatchMode yes",
        "Host alex-ssh", "  User root", f"  IdentityFile {daemon.keys[CONSUMER].private}", "  IdentitiesOnly yes",
        f"  UserKnownHostsFile {known}", "  GlobalKnownHostsFile /dev/null", "  StrictHostKeyChecking yes",
        "  BatchMode yes", "",
    ]))
    data = pattern(1 << 20, seed=14)
    # The literal command of the issue: ssh -J proxy alex-ssh (with this test's config file).
    run = subprocess.run([SSH, "-F", str(config), "-J", "proxy", "alex-ssh", "cat"], input=data,
                         capture_output=True, timeout=90)
    assert run.returncode == 0, run.stderr.decode(errors="replace")
    assert sha256(run.stdout) == sha256(data) and len(run.stdout) == len(data)

    # What the audit log says: blake's open was a name-open allowed by its rule, and the channel
    # reached alex's session as a name-publish channel carrying the same bytes.
    opens = daemon.events("forward-request", kind="name-open", target="alex-ssh:22")
    assert [r["decision"] for r in opens] == ["allow"] and opens[0]["pattern"] == "alex-ssh"
    wait_for(lambda: daemon.events("channel-close", kind="name-open"), "the consumer's channel to close")
    consumer_close = daemon.events("channel-close", kind="name-open")[0]
    wait_for(lambda: daemon.events("channel-close", kind="name-publish"), "the sharer's channel to close")
    sharer_close = daemon.events("channel-close", kind="name-publish")[0]
    # Bytes from blake's client are bytes to alex's client, and back (the SSH stream, not the data).
    assert consumer_close["bytes_from_client"] == sharer_close["bytes_to_client"] > len(data)
    assert consumer_close["bytes_to_client"] == sharer_close["bytes_from_client"] > len(data)
    assert sharer.alive()


def test_an_echo_service_through_a_name_both_ways_and_refusals(start_daemon, procs, services):
    echo = services(echo_handler)
    daemon = start_daemon(KEYS)
    sharer = publish(daemon, procs, "alex-echo", echo.port, port=7)

    blake = daemon.paramiko_transport(CONSUMER)
    carol = daemon.paramiko_transport("carol")
    try:
        opened = open_channel(blake, "direct-tcpip", direct_tcpip("alex-echo", 7))
        assert opened.outcome == "opened", opened
        data = pattern(256 << 10, seed=3)
        opened.channel.sendall(data)
        received = b""
        while len(received) < len(data):
            chunk = opened.channel.recv(65536)
            assert chunk, "the echo stopped early"
            received += chunk
        assert sha256(received) == sha256(data)
        opened.channel.close()

        # A key without permit_name_open.
        refused = open_channel(carol, "direct-tcpip", direct_tcpip("alex-echo", 7))
        assert refused.outcome == "refused"
        assert refused.reason == "key carol has no permit_name_open rules"
        # A name published on another port.
        refused = open_channel(blake, "direct-tcpip", direct_tcpip("alex-echo", 8))
        assert refused.reason == "name alex-echo is published on port 7, not 8"
        # An unpublished name (blake has no permit_open either, so nothing is looked up in DNS).
        refused = open_channel(blake, "direct-tcpip", direct_tcpip("alex-ssh", 22))
        assert refused.reason == "key blake has no permit_open rules; no name alex-ssh is published here"

        # A second publisher of the same name (alex's key again, in a second session) is refused,
        # and the name stays with the first.
        second = daemon.paramiko_transport(SHARER)
        try:
            assert global_request(second, "tcpip-forward", tcpip_forward("alex-echo", 7)) is False
            # Names blake may not publish, invalid names and port 0, each refused with its reason.
            assert global_request(second, "tcpip-forward", tcpip_forward("blake-echo", 7)) is False
            assert global_request(second, "tcpip-forward", tcpip_forward("Alex-echo", 7)) is False
            assert global_request(second, "tcpip-forward", tcpip_forward("alex-echo2", 0)) is False
        finally:
            second.close()
        wait_for(lambda: daemon.events("forward-failed", kind="name-publish"), "the duplicate to be recorded")
        duplicate = daemon.events("forward-failed", kind="name-publish")[0]
        assert duplicate["target"] == "alex-echo:7"
        assert duplicate["reason"].startswith("name alex-echo is already published by session ")
        denials = {r["target"]: r["reason"] for r in daemon.events("forward-request", kind="name-publish", decision="deny")}
        assert denials == {
            "blake-echo:7": "no permit_name_publish rule of key alex matches blake-echo",
            "Alex-echo:7": 'name "Alex-echo": upper-case letters in name "Alex-echo" (names are lower case: write "alex-echo")',
            "alex-echo2:0": "a name is published on a fixed port, not 0",
        }
        again = open_channel(blake, "direct-tcpip", direct_tcpip("alex-echo", 7))
        assert again.outcome == "opened", "the first publisher still holds the name"
        again.channel.close()

        # The sharer disconnects: the name goes, with a record saying why.
        sharer.end()
        wait_for(lambda: daemon.events("name-withdrawn", target="alex-echo:7"), "the name to be withdrawn")
        withdrawn = daemon.events("name-withdrawn", target="alex-echo:7")[0]
        assert withdrawn["kind"] == "name-publish" and withdrawn["reason"].startswith("session ended: ")
        gone = open_channel(blake, "direct-tcpip", direct_tcpip("alex-echo", 7))
        assert gone.reason == "key blake has no permit_open rules; no name alex-echo is published here"
    finally:
        blake.close()
        carol.close()

    decisions = [(r["kind"], r["target"], r["decision"]) for r in daemon.events("forward-request")
                 if r.get("kind") == "name-open"]
    assert decisions == [("name-open", "alex-echo:7", "allow"), ("name-open", "alex-echo:7", "deny"),
                         ("name-open", "alex-echo:8", "deny"), ("name-open", "alex-echo:7", "allow")]


def test_a_cancelled_forward_unpublishes_the_name_and_it_can_be_published_again(start_daemon, services):
    echo = services(echo_handler)
    daemon = start_daemon(KEYS)
    alex = daemon.paramiko_transport(SHARER)
    try:
        alex.request_port_forward("alex-web", 80, handler=lambda *a: None)
        wait_for(lambda: daemon.events("forward-bound", target="alex-web:80"), "the name to be published")
        assert daemon.events("forward-bound", target="alex-web:80")[0]["bound"] == "name alex-web:80"
        alex.cancel_port_forward("alex-web", 80)
        wait_for(lambda: daemon.events("name-withdrawn", target="alex-web:80"), "the name to be withdrawn")
        assert daemon.events("name-withdrawn", target="alex-web:80")[0]["reason"] == "cancelled by the client"
        assert global_request(alex, "tcpip-forward", tcpip_forward("alex-web", 80)) is True
    finally:
        alex.close()
    del echo


def test_a_name_that_is_also_a_host_name_is_refused_unless_configured(start_daemon):
    host = socket.gethostname()
    try:
        socket.getaddrinfo(host, 22)
    except OSError:
        pytest.skip(f"this host's name {host!r} does not resolve here")
    if not host.isascii() or not host.replace("-", "").isalnum() or host != host.lower() or "." in host:
        pytest.skip(f"this host's name {host!r} is not a valid name")
    keys = {SHARER: "permit_name_publish: ['*']"}

    daemon = start_daemon(keys)
    alex = daemon.paramiko_transport(SHARER)
    try:
        assert global_request(alex, "tcpip-forward", tcpip_forward(host, 22)) is False
        # A name nobody resolves is fine.
        assert global_request(alex, "tcpip-forward", tcpip_forward("portcullis-no-such-host-x1", 22)) is True
    finally:
        alex.close()
    denial = daemon.events("forward-request", kind="name-publish", target=f"{host}:22")[0]
    assert denial["decision"] == "deny"
    assert denial["reason"].startswith(f"name {host} is also a host name here (resolves to ")
    assert denial["reason"].endswith("and names_may_shadow_hosts is off")

    allowing = start_daemon(keys, extra_yaml="names_may_shadow_hosts: true")
    alex = allowing.paramiko_transport(SHARER)
    try:
        assert global_request(alex, "tcpip-forward", tcpip_forward(host, 22)) is True
    finally:
        alex.close()


def test_policyctl_check_dry_runs_both_decisions(start_daemon):
    daemon = start_daemon(KEYS)

    def check(*args):
        return subprocess.run([str(_policyctl()), "check", "--config", str(daemon.config_path), *args],
                              capture_output=True, text=True, timeout=30)

    publish_ok = check("--key", SHARER, "name-publish", "alex-ssh:22")
    assert publish_ok.returncode == 0 and publish_ok.stdout.startswith("allow: ") and "%k-*" in publish_ok.stdout
    # A listen whose host is a name is a name-publish, as the daemon takes it.
    assert check("--key", SHARER, "listen", "alex-ssh:22").returncode == 0
    denied = check("--key", CONSUMER, "name-publish", "alex-ssh:22")
    assert denied.returncode == 1 and denied.stdout == "deny: key blake has no permit_name_publish rules\n"
    assert check("--key", CONSUMER, "name-open", "alex-ssh:22").returncode == 0
    other = check("--key", CONSUMER, "name-open", "alex-web:80")
    assert other.returncode == 1 and other.stdout == "deny: no permit_name_open rule of key blake matches alex-web\n"
    shown = subprocess.run([str(_policyctl()), "show-key", "--config", str(daemon.config_path), SHARER],
                           capture_output=True, text=True, timeout=30)
    assert "permit_name_publish:\n  %k-*  (" in shown.stdout and "permit_name_open: none (refused)" in shown.stdout


def _policyctl():
    from stresslib import policyctl_binary
    return policyctl_binary()
