"""Issue 13 item 2, the sd_notify half: with $NOTIFY_SOCKET set (a path, or "@name" for the abstract
namespace), portcullisd tells systemd when it is ready (READY=1 with STATUS and MAINPID, once it
really serves), each reload (RELOADING=1 with MONOTONIC_USEC, then READY=1 with the outcome in
STATUS) and its stop (STOPPING=1). A Python datagram socket plays systemd."""

from __future__ import annotations

import os
import pwd
import signal
import socket
import time

import pytest

from stresslib import wait_for


class NotifySocket:
    """An AF_UNIX datagram socket bound where $NOTIFY_SOCKET will say: a path, or an abstract name."""

    def __init__(self, address: str):
        self.address = address
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + address[1:] if address.startswith("@") else address)
        if not address.startswith("@"):
            os.chmod(address, 0o666)

    def receive(self, timeout: float = 20.0) -> dict[str, str]:
        """The next datagram as NAME=value fields."""
        self.sock.settimeout(timeout)
        data = self.sock.recv(65536).decode()
        assert data.endswith("\n"), repr(data)
        return dict(line.split("=", 1) for line in data.splitlines())

    def until(self, name: str, timeout: float = 20.0) -> tuple[dict[str, str], list[dict[str, str]]]:
        """Datagrams until one carries `name`; that one and all seen before it."""
        seen = []
        deadline = time.monotonic() + timeout
        while True:
            fields = self.receive(max(0.1, deadline - time.monotonic()))
            seen.append(fields)
            if name in fields:
                return fields, seen

    def close(self):
        self.sock.close()


@pytest.fixture
def notify(workdir, monkeypatch):
    """`notify(abstract=False)`: a NotifySocket, and $NOTIFY_SOCKET set to it for the daemon."""
    made = []

    def make(abstract: bool = False) -> NotifySocket:
        address = f"@pcs-notify-{os.getpid()}-{len(made)}-{time.monotonic_ns()}" if abstract else str(workdir / "notify")
        receiver = NotifySocket(address)
        made.append(receiver)
        monkeypatch.setenv("NOTIFY_SOCKET", address)
        return receiver
    yield make
    for receiver in made:
        receiver.close()


def ssh_banner(port: int) -> bytes:
    """The first bytes the daemon sends on a new connection (only an accepted connection gets them)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.settimeout(5)
        return conn.recv(64)


@pytest.mark.parametrize("abstract", [False, True], ids=["path", "abstract"])
def test_ready_arrives_once_connections_are_served(start_daemon, notify, abstract):
    receiver = notify(abstract)
    daemon = start_daemon({"alex": "", "bob": ""}, wait_listening=False)
    ready, seen = receiver.until("READY")
    # At that moment the port accepts and the SSH server answers.
    assert ssh_banner(daemon.port).startswith(b"SSH-2.0-")
    assert ready["READY"] == "1"
    assert ready["MAINPID"] == str(daemon.pid)
    assert ready["STATUS"] == f"listening on 127.0.0.1:{daemon.port}; 2 keys"
    assert len(seen) == 1, seen


def test_reload_by_signal_and_by_policyctl_and_a_rejected_one(start_daemon, notify):
    receiver = notify()
    daemon = start_daemon({"alex": ""}, wait_listening=False)
    receiver.until("READY")

    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    os.kill(daemon.pid, signal.SIGHUP)
    reloading = receiver.receive()
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    assert reloading["RELOADING"] == "1"
    assert before <= int(reloading["MONOTONIC_USEC"]) <= after
    done = receiver.receive()
    assert done["READY"] == "1" and done["STATUS"] == "reloaded: 1 keys"

    good = daemon.config_path.read_text()
    daemon.config_path.write_text(good + "socket_mode: \"9999\"\n")
    result = daemon.policyctl("reload")
    assert result.returncode == 1, result.stdout + result.stderr
    assert receiver.receive()["RELOADING"] == "1"
    rejected = receiver.receive()
    assert rejected["READY"] == "1"
    line = good.count("\n") + 1
    assert rejected["STATUS"] == f'reload rejected: {daemon.config_path}:{line}: socket_mode "9999": ' \
                                 'expected an octal mode like "0600"', rejected

    daemon.config_path.write_text(good)
    assert daemon.policyctl("reload").returncode == 0
    assert "MONOTONIC_USEC" in receiver.receive()
    assert receiver.receive()["STATUS"] == "reloaded: 1 keys"


def test_stopping_is_said_on_sigterm(start_daemon, notify):
    receiver = notify()
    daemon = start_daemon({"alex": ""}, wait_listening=False)
    receiver.until("READY")
    daemon.expect_exit = True
    os.kill(daemon.pid, signal.SIGTERM)
    stopping = receiver.receive()
    assert stopping["STOPPING"] == "1" and stopping["STATUS"] == "stopping: closing 0 sessions"
    assert daemon.process.wait(20) == 0


def test_an_unreachable_notify_socket_is_reported_and_not_fatal(start_daemon, workdir, monkeypatch):
    monkeypatch.setenv("NOTIFY_SOCKET", str(workdir / "nobody-listens-here"))
    daemon = start_daemon({"alex": ""})
    assert "NOTIFY_SOCKET" in daemon.stderr() and "nobody-listens-here" in daemon.stderr()
    assert daemon.policyctl("reload").returncode == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="starts portcullisd as root")
def test_with_user_ready_comes_only_after_the_drop(start_daemon, notify, workdir):
    entry = pwd.getpwnam("nobody")
    os.chmod(workdir, 0o755)
    receiver = notify()
    wrapper = ["/bin/sh", "-c", f'chown -R {entry.pw_uid}:{entry.pw_gid} "{workdir / "d0"}" && exec "$@"', "sh"]
    daemon = start_daemon({"alex": ""}, extra_yaml="user: nobody", wrapper=wrapper, wait_listening=False)
    receiver.until("READY")
    with open(f"/proc/{daemon.pid}/status") as status:
        uid = next(line for line in status if line.startswith("Uid:")).split()[1:]
    assert uid == [str(entry.pw_uid)] * 4
    wait_for(lambda: "listening on" in daemon.stderr(), "the listening line")
