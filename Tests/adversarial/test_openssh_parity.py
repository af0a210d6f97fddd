"""OpenSSH parity of the TCP rules (issue 12, item 7): the same rule/request pairs asked of OpenSSH's
sshd (authorized_keys permitlisten=/permitopen=, read per connection, so one sshd serves every rule)
and of portcullisd (one key per rule), with the answers compared. Every pair must agree unless the
rule is one of the deliberate differences listed in README ("Differences from OpenSSH"), and each
listed difference must still show. Then the cases a user meets with the stock ssh client.

Requests are sent with paramiko (tcpip-forward, direct-tcpip) because ssh cannot send some hosts
(upper case, the empty host on -W); an open counts as granted unless it is refused as
administratively prohibited (a granted open to a closed port fails with "connect failed")."""

import json
import os
import random
import socket
import subprocess
import time
from pathlib import Path

import paramiko
import pytest

from rawssh import direct_tcpip, global_request, open_channel, tcpip_forward
from stresslib import daemon_binary, echo_handler, echo_round_trip, free_port, make_key, wait_for

SSHD = "/usr/sbin/sshd"
ADMINISTRATIVELY_PROHIBITED = 1

# Rules, with {P} and {Q} (= P + 1) standing for two free ports. A listen rule is permitlisten= /
# permit_listen; an open rule permitopen= / permit_open.
LISTEN_RULES = [
    "{P}", "*", "localhost:{P}", "127.0.0.1:{P}", "[::1]:{P}", "*:{P}", ":{P}", "0.0.0.0:{P}",
    "local*:{P}", "127.0.0.?:{P}", "localhost:*", "*:*", ":*", "LOCALHOST:{P}", "Localhost:*",
    "+{P}", "localhost:{P}-{Q}", "{P}-{Q}", "localhost/{P}", "localhost:0", "[::1]:*",
]
LISTEN_REQUESTS = [
    ("localhost", "P"), ("LOCALHOST", "P"), ("LocalHost", "P"), ("127.0.0.1", "P"), ("::1", "P"),
    ("", "P"), ("*", "P"), ("0.0.0.0", "P"), ("localhost", "Q"), ("", "Q"), ("localhost", 0), ("", 0),
    ("::1", 0),
]
OPEN_RULES = [
    "localhost:{P}", "127.0.0.1:{P}", "[::1]:{P}", "*:{P}", "*:*", "localhost:*", "LOCALHOST:{P}",
    "Localhost:{P}", "[0:0:0:0:0:0:0:1]:{P}", "local*:{P}", ":{P}", "127.0.0.1/{P}", "localhost:+{P}",
    "localhost:{P}-{Q}", "127.0.0.0/8:{P}", "[::1]:*", "localhost:0",
]
OPEN_REQUESTS = [
    ("localhost", "P"), ("LOCALHOST", "P"), ("Localhost", "P"), ("127.0.0.1", "P"), ("::1", "P"),
    ("0:0:0:0:0:0:0:1", "P"), ("", "P"), ("localhost", "Q"), ("127.0.0.1", "Q"), ("::1", "Q"),
    ("local*", "P"),
]

# The deliberate differences (README, "Differences from OpenSSH"): rule -> why. Pairs of these
# rules may disagree; at least one of each must, or the entry is stale.
DIFFERENT = {
    ("listen", "+{P}"): "a port is digits only (sshd reads +P as P)",
    ("listen", "localhost:{P}-{Q}"): "port ranges (sshd refuses the key)",
    ("listen", "{P}-{Q}"): "port ranges (sshd refuses the key)",
    ("open", "127.0.0.1/{P}"): "host/port is not accepted (sshd reads it as host:port)",
    ("open", "localhost:+{P}"): "a port is digits only (sshd reads +P as P)",
    ("open", "localhost:{P}-{Q}"): "port ranges (sshd refuses the key)",
    ("open", "127.0.0.0/8:{P}"): "CIDR hosts (sshd refuses the key)",
    ("open", ":{P}"): "an empty permit_open host is refused (sshd grants only the empty host, which cannot connect)",
    ("open", "local*:{P}"): "* and ? in a permit_open host are refused (sshd compares them literally)",
}


def _free_pair() -> int:
    """P such that P and P + 1 are free on 127.0.0.1 and ::1."""
    for _ in range(200):
        port = random.randint(20000, 59000)
        try:
            for candidate in (port, port + 1):
                for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
                    with socket.socket(family, socket.SOCK_STREAM) as s:
                        s.bind((host, candidate))
            return port
        except OSError:
            continue
    raise AssertionError("no free pair of ports")


class OpenSSHServer:
    """sshd 9.2 on 127.0.0.1:FREEPORT as root, its authorized_keys written here."""

    def __init__(self, directory: Path, procs, authorized_keys: list[str]):
        directory.mkdir()
        self.port = _free_pair()
        host_key, _ = make_key(directory / "host_key")
        self.authorized = directory / "authorized_keys"
        self.authorized.write_text("\n".join(authorized_keys) + "\n")
        config = directory / "sshd_config"
        config.write_text("\n".join([
            f"Port {self.port}", "ListenAddress 127.0.0.1", f"HostKey {host_key}", "PidFile none",
            "UsePAM no", "StrictModes no", "PermitRootLogin prohibit-password", "PubkeyAuthentication yes",
            "PasswordAuthentication no", "KbdInteractiveAuthentication no", f"AuthorizedKeysFile {self.authorized}",
            "AllowTcpForwarding yes", "GatewayPorts no", "PermitListen any", "PermitOpen any", "PermitTTY no",
            "X11Forwarding no", "PrintMotd no", "MaxStartups 100", "PerSourceMaxStartups none",
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

    def transport(self, private_key: Path):
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=20)
        transport = paramiko.Transport(sock)
        try:
            transport.start_client(timeout=20)
            transport.auth_publickey("root", paramiko.Ed25519Key.from_private_key_file(str(private_key)))
        except BaseException:
            transport.close()
            raise
        return transport


class _Stuck(Exception):
    """A granted listen that could not be cancelled: the connection must go."""


def _listen(transport, host: str, port: int) -> bool:
    answer = global_request(transport, "tcpip-forward", tcpip_forward(host, port))
    if answer is not True:
        return False
    bound = port
    if port == 0:
        reply = transport.global_response
        reply.rewind()
        bound = reply.get_int()
    # A dynamic listen is cancelled by its allocated port (sshd) or by the 0 it was asked with.
    for cancel_port in dict.fromkeys([bound, port]):
        if global_request(transport, "cancel-tcpip-forward", tcpip_forward(host, cancel_port)) is True:
            # portcullisd answers a cancel before its loop closes the listener: the next request
            # for the port waits until it is free, not to count a bind failure as a refusal.
            wait_for(lambda: _port_free(bound), f"port {bound} to be let go", timeout=10)
            return True
    raise _Stuck()


def _open(transport, host: str, port: int) -> bool:
    result = open_channel(transport, "direct-tcpip", direct_tcpip(host, port))
    if result.outcome == "opened":
        result.channel.close()
        return True
    assert result.outcome == "refused", f"open {host!r}:{port}: {result.outcome}"
    return result.code != ADMINISTRATIVELY_PROHIBITED


def _ask(connect, kind: str, requests) -> list[bool]:
    """The answers to `requests`, over one connection (a new one after a listen that could not be
    cancelled); a key the server refuses (or a connection it drops) denies everything."""
    answers = []
    transport = None
    try:
        for host, port in requests:
            if transport is None:
                try:
                    transport = connect()
                except (paramiko.SSHException, OSError, EOFError):
                    return answers + [False] * (len(requests) - len(answers))
            if not transport.is_active():
                answers.append(False)
                continue
            try:
                answers.append(_listen(transport, host, port) if kind == "listen" else _open(transport, host, port))
            except _Stuck:
                answers.append(True)
                transport.close()
                transport = None
                if port:
                    wait_for(lambda: _port_free(port), f"port {port} to be let go", timeout=10)
        return answers
    finally:
        if transport is not None:
            transport.close()


def _port_free(port: int) -> bool:
    try:
        for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
            with socket.socket(family, socket.SOCK_STREAM) as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind((host, port))
        return True
    except OSError:
        return False


def _accepted_by_portcullis(rule_kind: str, rule: str, workdir: Path) -> bool:
    """Whether portcullis's own loader takes the rule (policyctl validate on a one-key config)."""
    directory = workdir / f"validate-{abs(hash((rule_kind, rule)))}"
    directory.mkdir()
    host_key, _ = make_key(directory / "host_key")
    _, public = make_key(directory / "key")
    config = directory / "portcullis.yaml"
    field = "permit_listen" if rule_kind == "listen" else "permit_open"
    config.write_text(f'listen: ["127.0.0.1:2222"]\nhost_keys: ["{host_key}"]\nsocket_root: "{directory}"\n'
                      f'keys:\n  - name: k\n    key: "{public}"\n    {field}: ["{rule}"]\n')
    policyctl = daemon_binary().parent / "policyctl"
    return subprocess.run([str(policyctl), "validate", "--config", str(config)],
                          capture_output=True).returncode == 0


def test_tcp_rules_agree_with_openssh_except_the_documented_differences(start_daemon, workdir, procs, measure):
    port = _free_pair()
    values = {"P": port, "Q": port + 1}

    def fill(template: str) -> str:
        return template.replace("{P}", str(port)).replace("{Q}", str(port + 1))

    cases = [("listen", rule, LISTEN_REQUESTS) for rule in LISTEN_RULES] + \
            [("open", rule, OPEN_REQUESTS) for rule in OPEN_RULES]
    ours_valid = {(kind, rule): _accepted_by_portcullis(kind, fill(rule), workdir) for kind, rule, _ in cases}
    names = {(kind, rule): f"{kind}{index}" for index, (kind, rule, _) in enumerate(cases)}
    daemon = start_daemon({names[(kind, rule)]: f'permit_{kind}: ["{fill(rule)}"]'
                           for kind, rule, _ in cases if ours_valid[(kind, rule)]})
    keys = {}
    authorized = []
    for kind, rule, _ in cases:
        name = names[(kind, rule)]
        if name in daemon.keys:
            private, public = daemon.keys[name].private, daemon.keys[name].public
        else:
            private, public = make_key(workdir / f"key-{name}")
        keys[name] = private
        option = "permitlisten" if kind == "listen" else "permitopen"
        authorized.append(f'{option}="{fill(rule)}" {public}')
    sshd = OpenSSHServer(workdir / "openssh", procs, authorized)

    pairs = agree = 0
    unexpected, shown = [], set()
    for kind, rule, requests in cases:
        name = names[(kind, rule)]
        concrete = [(host, values[p] if isinstance(p, str) else p) for host, p in requests]
        theirs = _ask(lambda: sshd.transport(keys[name]), kind, concrete)
        ours = _ask(lambda: daemon.paramiko_transport(name), kind, concrete) if ours_valid[(kind, rule)] \
            else [False] * len(concrete)
        for (host, p), o, t in zip(requests, ours, theirs):
            pairs += 1
            if o == t:
                agree += 1
            elif (kind, rule) in DIFFERENT:
                shown.add((kind, rule))
            else:
                unexpected.append(f"{kind} rule {rule!r}, request {host!r}:{p}: "
                                  f"portcullis {'allows' if o else 'denies'}, sshd {'allows' if t else 'denies'}")
    measure("pairs", pairs)
    measure("agree", agree)
    assert not unexpected, f"{len(unexpected)} of {pairs} pairs differ from sshd:\n  " + "\n  ".join(unexpected)
    stale = sorted(set(DIFFERENT) - shown)
    assert not stale, f"documented differences that no longer show: {stale}"
    daemon.assert_alive()


# -- The same with the stock ssh client ----------------------------------------------------------


def _ssh(daemon, key: str, *args: str, timeout: float = 20):
    return subprocess.run(daemon.ssh_args(key, "-o", "ExitOnForwardFailure=yes", *args),
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def test_ssh_W_with_a_different_case_is_refused_as_sshd_refuses_it(start_daemon, services):
    echo = services(echo_handler)
    daemon = start_daemon({"alex": f'permit_open: ["localhost:{echo.port}"]'})
    exact = subprocess.run(daemon.ssh_args("alex", "-W", f"localhost:{echo.port}"), input=b"ping",
                           capture_output=True, timeout=20)
    assert exact.stdout == b"ping", exact.stderr
    upper = _ssh(daemon, "alex", "-W", f"LOCALHOST:{echo.port}")
    assert upper.returncode != 0
    assert "administratively prohibited" in upper.stderr, upper.stderr
    assert f"no permit_open rule of key alex matches LOCALHOST:{echo.port}" in upper.stderr
    refused = daemon.events("forward-request", decision="deny")
    assert [r["target"] for r in refused] == [f"LOCALHOST:{echo.port}"]


@pytest.mark.parametrize("spec", [":{P}", "*:{P}"])
def test_ssh_R_empty_host_is_granted_by_an_empty_host_rule(start_daemon, services, procs, spec):
    echo = services(echo_handler)
    port = _free_pair()
    daemon = start_daemon({"alex": f'permit_listen: [":{port}"]', "blake": f'permit_listen: ["localhost:{port}"]'})
    # The empty-host rule is not *:P: ssh -R P (localhost) is refused with it...
    named = _ssh(daemon, "alex", "-N", "-R", f"{port}:127.0.0.1:{echo.port}", timeout=20)
    assert named.returncode != 0 and "remote port forwarding failed" in named.stderr, named.stderr
    # ...and a localhost rule does not grant what -R :P sends.
    other = _ssh(daemon, "blake", "-N", "-R", f"{spec.format(P=port)}:127.0.0.1:{echo.port}")
    assert other.returncode != 0 and "remote port forwarding failed" in other.stderr, other.stderr
    client = procs.start(daemon.ssh_args("alex", "-N", "-o", "ExitOnForwardFailure=yes",
                                         "-R", f"{spec.format(P=port)}:127.0.0.1:{echo.port}"))
    wait_for(lambda: daemon.events("forward-bound") or not client.alive(), "the listen to be bound")
    assert client.alive(), client.stderr()
    assert echo_round_trip(("127.0.0.1", port), b"through -R") == b"through -R"
    assert client.alive()
    granted = wait_for(lambda: daemon.events("forward-request", decision="allow"), "the grant's record")
    assert granted[0]["target"] == f":{port}" and granted[0]["pattern"] == f":{port}"
    assert granted[0]["rule"] == f"{daemon.config_path}:{_line_of(daemon, f':{port}')}"


def _line_of(daemon, pattern: str) -> int:
    for number, line in enumerate(daemon.config_path.read_text().splitlines(), start=1):
        if f'"{pattern}"' in line:
            return number
    raise AssertionError(f"{pattern} not in the config")


def test_ssh_R_localhost_is_served_on_ipv4_when_ipv6_is_taken(start_daemon, services, procs):
    echo = services(echo_handler)
    port = _free_pair()
    taken = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    taken.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    taken.bind(("::1", port))
    taken.listen(1)
    try:
        daemon = start_daemon({"alex": f'permit_listen: ["localhost:{port}"]'})
        client = procs.start(daemon.ssh_args("alex", "-N", "-o", "ExitOnForwardFailure=yes",
                                             "-R", f"{port}:127.0.0.1:{echo.port}"))
        wait_for(lambda: daemon.events("forward-bound") or not client.alive(), "the listen to be bound")
        assert client.alive(), client.stderr()
        assert echo_round_trip(("127.0.0.1", port), b"v4 half") == b"v4 half"
        assert client.alive(), client.stderr()
        bound = wait_for(lambda: daemon.events("forward-bound"), "the forward-bound record")
        assert bound[0]["bound"] == f"127.0.0.1:{port}"
        # [::1]:P is still the test's own listener.
        assert taken.getsockname()[1] == port
    finally:
        taken.close()


def test_every_record_of_a_session_names_its_key(start_daemon, services, procs):
    echo = services(echo_handler)
    port = _free_pair()
    daemon = start_daemon({"alex": f'permit_open: ["127.0.0.1:{echo.port}"]\npermit_listen: ["localhost:{port}"]'})
    exact = subprocess.run(daemon.ssh_args("alex", "-W", f"127.0.0.1:{echo.port}"), input=b"ping",
                           capture_output=True, timeout=20)
    assert exact.stdout == b"ping", exact.stderr
    denied = _ssh(daemon, "alex", "-W", f"127.0.0.1:{echo.port + 1}")
    assert denied.returncode != 0
    client = procs.start(daemon.ssh_args("alex", "-N", "-o", "ExitOnForwardFailure=yes",
                                         "-R", f"{port}:127.0.0.1:{echo.port}"))
    wait_for(lambda: daemon.events("forward-bound") or not client.alive(), "the listen to be bound")
    assert echo_round_trip(("127.0.0.1", port), b"x") == b"x"
    client.end()
    sessions = {}
    wait_for(lambda: len(daemon.events("session-end")) == 3, "three session-end records")
    for record in daemon.audit():
        if record.get("session") is not None:
            sessions.setdefault(record["session"], []).append(record)
    assert len(sessions) == 3
    for records in sessions.values():
        authenticated = False
        for record in records:
            if record["event"] == "auth":
                authenticated = True
            if authenticated:
                assert record.get("key") == "alex", record
            else:
                assert "key" not in record, record
        kinds = {r["event"] for r in records}
        assert {"session-start", "auth", "session-end"} <= kinds
    seen = {r["event"] for records in sessions.values() for r in records if r.get("key") == "alex"}
    assert {"forward-request", "channel-open", "channel-close", "forward-bound", "session-end"} <= seen, seen


# -- cancelling a -R 0 listen as OpenSSH's client does (found by the issue 12 review) ------------

def _listens(daemon, key):
    sessions = json.loads(daemon.policyctl("sessions", "--json", "--key", key).stdout or "[]")
    return [listen for session in sessions for listen in session.get("listens", [])]


def test_cancel_of_a_dynamic_port_listen_by_its_allocated_port_frees_it(start_daemon):
    """OpenSSH's client cancels an `-R 0:...` forward with the port the server allocated
    (channel_request_rforward_cancel: listen_port ? listen_port : allocated_port), and sshd matches
    it that way. Portcullis keeps the request as `127.0.0.1:0` and refuses the cancel, so the
    listener stays bound, stays in `policyctl sessions`, and keeps its place in max_listens for the
    rest of the session; a new `-R 0` is then refused as "already forwarded in this session"."""
    daemon = start_daemon({"alex": """
        permit_listen: ["127.0.0.1:*"]
        max_listens: 2
    """})
    transport = daemon.paramiko_transport("alex")
    try:
        port = transport.request_port_forward("127.0.0.1", 0)
        assert port > 0
        # paramiko's cancel does not wait for the answer: send it as a global request that does.
        answer = transport.global_request("cancel-tcpip-forward", ("127.0.0.1", port), wait=True)
        # Expected: the cancel succeeds and the listener goes.
        assert answer is not None, "cancel-tcpip-forward with the allocated port was refused"
        wait_for(lambda: not _listens(daemon, "alex"), "the cancelled listen to leave policyctl sessions")
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
        # ... and the key may hold max_listens (2) listens again.
        transport.request_port_forward("127.0.0.1", free_port())
        transport.request_port_forward("127.0.0.1", free_port())
    finally:
        transport.close()


def test_stock_ssh_cancel_of_a_dynamic_remote_forward_closes_the_listener(start_daemon, procs, workdir):
    """The same with the stock client: `ssh -O cancel -R 127.0.0.1:0:...` on a master connection
    exits 0, but the daemon refused the cancel (the client sends the allocated port), so the
    listener is still bound and listed."""
    daemon = start_daemon({"alex": 'permit_listen: ["127.0.0.1:*"]'})
    control = workdir / "mux"
    procs.start(daemon.ssh_args("alex", "-M", "-S", str(control), "-N", "-R", "127.0.0.1:0:127.0.0.1:9"))
    wait_for(lambda: _listens(daemon, "alex"), "the dynamic listen", timeout=15)
    result = subprocess.run(daemon.ssh_args("alex", "-S", str(control), "-O", "cancel", "-R", "127.0.0.1:0:127.0.0.1:9"),
                            capture_output=True, text=True, timeout=20)
    assert result.returncode == 0, result.stderr
    wait_for(lambda: not _listens(daemon, "alex"), "the cancelled listen to go", timeout=5)
