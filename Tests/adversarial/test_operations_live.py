"""Issue 12, live operations: the control socket (`policyctl status`, `sessions`, `disconnect`,
`reload`) against sessions of the stock ssh client, and the per-key limits (max_sessions,
max_listens, max_channels) as a stock client sees them, each refusal audited.

The limit tests set `max_sessions:` / `max_listens:` / `max_channels:` in the config: they need the
config branch that parses those fields (issue 12, part "limits in the config")."""

from __future__ import annotations

import grp
import json
import os
import pwd
import signal
import socket
import stat
import subprocess
import time

import paramiko
import pytest

from stresslib import Daemon, echo_handler, free_port, policyctl_binary, wait_for


def forward_ready(port: int):
    """A -L port that accepts."""
    def ready():
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False
    return ready


def echo_through(port: int, payload: bytes) -> socket.socket:
    """Sends `payload` through the -L port, reads it back, and keeps the connection open."""
    conn = socket.create_connection(("127.0.0.1", port), timeout=10)
    conn.sendall(payload)
    got = b""
    while len(got) < len(payload):
        chunk = conn.recv(65536)
        assert chunk, "the forward closed before echoing everything"
        got += chunk
    assert got == payload
    return conn


def sessions_json(daemon: Daemon, *args: str) -> list[dict]:
    result = daemon.policyctl("sessions", "--json", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def authenticated(daemon: Daemon, key: str | None = None) -> list[dict]:
    return [s for s in sessions_json(daemon) if "key" in s and (key is None or s["key"] == key)]


# -- status and sessions ------------------------------------------------------------------------

def test_status_and_sessions_show_listens_channels_and_the_bytes_sent(start_daemon, services, procs):
    echo = services(echo_handler)
    daemon = start_daemon({"alex": f"""
        permit_open: ["127.0.0.1:{echo.port}"]
        permit_streamlocal_listen: ["%ROOT%/alex/*.sock"]
    """})
    local = free_port()
    path = f"{daemon.socket_root}/alex/web.sock"
    ssh = procs.start(daemon.ssh_args("alex", "-N", "-o", "ExitOnForwardFailure=yes",
                                      "-L", f"127.0.0.1:{local}:127.0.0.1:{echo.port}", "-R", f"{path}:127.0.0.1:9"))
    wait_for(lambda: os.path.exists(path) and forward_ready(local)(), "the -R socket and the -L port")
    # The readiness probe opened and closed a channel: wait until it is gone.
    wait_for(lambda: authenticated(daemon) and not authenticated(daemon)[0]["channels"], "the probe channel to close")
    conn = echo_through(local, b"x" * 1000)
    try:
        def one_channel_with_the_bytes():
            sessions = authenticated(daemon)
            channels = sessions[0]["channels"] if sessions else []
            return sessions if len(channels) == 1 and channels[0]["bytes_from_client"] == 1000 \
                and channels[0]["bytes_to_client"] == 1000 else None
        sessions = wait_for(one_channel_with_the_bytes, "the channel's 1000 bytes each way in policyctl sessions")
        session = sessions[0]
        assert session["key"] == "alex" and session["user"] == "alex"
        assert session["client"].startswith("127.0.0.1:")
        assert session["listens"] == [path]
        channel = session["channels"][0]
        assert channel["kind"] == "tcp-open" and channel["target"] == f"127.0.0.1:{echo.port}"
        assert session["idle_seconds"] < 30

        table = daemon.policyctl("sessions")
        assert table.returncode == 0, table.stderr
        lines = table.stdout.splitlines()
        assert lines[0].split() == ["SESSION", "KEY", "USER", "CLIENT", "STARTED", "IDLE", "LISTENS", "CHANNELS"]
        assert lines[1].split()[:3] == [str(session["id"]), "alex", "alex"]
        assert f"    listen {path}" in lines
        assert (f"    channel {channel['id']} tcp-open 127.0.0.1:{echo.port}: "
                "1000 bytes to client, 1000 from client") in lines
        assert daemon.policyctl("sessions", "--key", "bob").stdout.strip() == "no sessions of key bob"

        status = daemon.policyctl("status", "--json")
        assert status.returncode == 0, status.stderr
        report = json.loads(status.stdout)
        assert report["totals"]["sessions"] == 1 and report["totals"]["authenticated_sessions"] == 1
        assert report["totals"]["listens"] == {"streamlocal-listen": 1}
        assert report["totals"]["channels"] == {"tcp-open": 1}
        assert report["totals"]["bytes_to_client"] >= 1000 and report["totals"]["bytes_from_client"] >= 1000
        assert report["config"] == str(daemon.config_path)
        assert len(report["config_digest"]) == 64
        assert report["libssh"].startswith("libssh 0.10.6")
        assert report["audit_backlog"] >= 0 and "last_reload" not in report
        human = daemon.policyctl("status").stdout
        assert "sessions 1 (1 authenticated)" in human
        assert "listens 1: streamlocal-listen 1" in human
        assert "channels 1: tcp-open 1" in human
        assert "last reload: none since start" in human
        assert ssh.alive()
    finally:
        conn.close()


# -- disconnect ---------------------------------------------------------------------------------

def test_disconnect_by_id_ends_the_client_removes_its_socket_and_is_audited(start_daemon, procs):
    daemon = start_daemon({"alex": 'permit_streamlocal_listen: ["%ROOT%/alex/*.sock"]'})
    path = f"{daemon.socket_root}/alex/web.sock"
    ssh = procs.start(daemon.ssh_args("alex", "-N", "-o", "ExitOnForwardFailure=yes", "-R", f"{path}:127.0.0.1:9"))
    wait_for(lambda: os.path.exists(path), "the -R socket")
    session = wait_for(lambda: authenticated(daemon), "the session in policyctl sessions")[0]
    result = daemon.policyctl("disconnect", str(session["id"]))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"disconnected session {session['id']} (key alex, user alex, client 127.0.0.1:")
    wait_for(lambda: not ssh.alive(), "ssh to exit")
    assert "disconnected by administrator" in ssh.stderr()
    assert not os.path.exists(path)
    wait_for(lambda: daemon.events("session-end", session=session["id"], reason="disconnected by administrator"),
             "the session-end record")
    assert authenticated(daemon) == []
    again = daemon.policyctl("disconnect", str(session["id"]))
    assert again.returncode == 1
    assert f"no session {session['id']}" in again.stderr


@pytest.mark.xfail(strict=False, reason="known defect (closing note 15): the daemon closes the socket right after the "
                   "DISCONNECT; the client's CHANNEL_CLOSE replies then meet a closed socket and the RST can make the "
                   "client's kernel drop the DISCONNECT unread (about 1 run in 6). Fix: a lingering close (dup the fd, "
                   "shutdown(SHUT_WR) after ssh_disconnect, read until the client's EOF or 2 s); then remove this marker")
def test_disconnect_of_a_session_with_open_channels_still_tells_the_client_why(start_daemon, services, procs):
    """The channels' close messages go out first; the disconnect with its reason must follow them,
    not be lost when the connection closes."""
    echo = services(echo_handler)
    daemon = start_daemon({"alex": f'permit_open: ["127.0.0.1:{echo.port}"]'})
    local = free_port()
    ssh = procs.start(daemon.ssh_args("alex", "-N", "-o", "ExitOnForwardFailure=yes",
                                      "-L", f"127.0.0.1:{local}:127.0.0.1:{echo.port}"))
    wait_for(forward_ready(local), "the -L port")
    conns = [echo_through(local, b"y" * 100_000) for _ in range(3)]
    try:
        wait_for(lambda: len(authenticated(daemon)[0]["channels"]) >= 3, "three open channels")
        session = authenticated(daemon)[0]
        assert daemon.policyctl("disconnect", str(session["id"])).returncode == 0
        wait_for(lambda: not ssh.alive(), "ssh to exit")
        assert "disconnected by administrator" in ssh.stderr(), ssh.stderr()
    finally:
        for conn in conns:
            conn.close()


def test_disconnect_by_key_ends_every_session_of_that_key_and_no_other(start_daemon, procs):
    daemon = start_daemon({"alex": "", "bob": ""})
    alex = [procs.start(daemon.ssh_args("alex", "-N")) for _ in range(2)]
    bob = procs.start(daemon.ssh_args("bob", "-N"))
    wait_for(lambda: len(authenticated(daemon)) == 3, "three sessions")
    result = daemon.policyctl("disconnect", "--key", "alex")
    assert result.returncode == 0, result.stderr
    assert len([line for line in result.stdout.splitlines() if "(key alex," in line]) == 2
    wait_for(lambda: not any(p.alive() for p in alex), "both ssh of alex to exit")
    assert bob.alive()
    assert [s["key"] for s in authenticated(daemon)] == ["bob"]
    wait_for(lambda: len(daemon.events("session-end", reason="disconnected by administrator")) == 2,
             "two session-end records")
    none = daemon.policyctl("disconnect", "--key", "alex")
    assert none.returncode == 1 and "no session of key alex" in none.stderr


# -- reload -------------------------------------------------------------------------------------

def test_reload_through_the_control_socket_accepted_then_rejected(start_daemon):
    daemon = start_daemon({"alex": ""})
    accepted = daemon.policyctl("reload")
    assert accepted.returncode == 0, accepted.stderr
    assert accepted.stdout.strip() == f"accepted: reloaded {daemon.config_path}: 1 keys"
    good = daemon.config_path.read_text()
    daemon.config_path.write_text(good + "socket_mode: banana\n")
    rejected = daemon.policyctl("reload")
    assert rejected.returncode == 1
    assert rejected.stdout.startswith("rejected: reload rejected, the previous configuration stays in force:")
    assert f"{daemon.config_path}:" in rejected.stdout
    status = json.loads(daemon.policyctl("status", "--json").stdout)
    assert status["last_reload"]["ok"] is False
    assert daemon.events("daemon-reload")


# -- the control socket itself -----------------------------------------------------------------

def test_control_socket_is_private_refuses_a_second_daemon_replaces_a_stale_one_and_goes_at_stop(start_daemon, workdir):
    first = start_daemon({"alex": ""})
    mode = os.stat(first.control_socket).st_mode
    assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600
    second = start_daemon({"alex": ""}, control_socket=first.control_socket, wait_listening=False)
    second.expect_exit = True
    assert second.process.wait(20) == 1
    assert (f"portcullisd: cannot start: {second.config_path}: control_socket {first.control_socket}: "
            f"another portcullisd answers on {first.control_socket}") in second.stderr()
    assert first.policyctl("status").returncode == 0

    # A crash leaves the socket file; the next daemon replaces it.
    first.expect_exit = True
    first.process.send_signal(signal.SIGKILL)
    first.process.wait(10)
    assert os.path.exists(first.control_socket)
    third = start_daemon({"alex": ""}, control_socket=first.control_socket)
    assert json.loads(third.policyctl("status", "--json").stdout)["pid"] == third.pid
    third.expect_exit = True
    assert third.stop() == 0
    assert not os.path.exists(first.control_socket)
    missing = third.policyctl("status")
    assert missing.returncode == 1
    assert (f"cannot connect to {first.control_socket}: is portcullisd running? "
            f"control_socket is {first.control_socket}") in missing.stderr


def test_policyctl_finds_the_socket_from_the_config(start_daemon):
    daemon = start_daemon({"alex": ""})
    result = subprocess.run([str(policyctl_binary()), "status", "--json", "--config", str(daemon.config_path)],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["pid"] == daemon.pid


def test_a_silent_or_malformed_control_client_does_not_block_others(start_daemon):
    daemon = start_daemon({"alex": ""})
    silent = socket.socket(socket.AF_UNIX)
    silent.connect(str(daemon.control_socket))
    silent.sendall(b'{"v":1,"cmd":"sta')  # never finished
    try:
        started = time.monotonic()
        assert daemon.policyctl("status").returncode == 0
        assert time.monotonic() - started < 5
        raw = socket.socket(socket.AF_UNIX)
        raw.connect(str(daemon.control_socket))
        raw.settimeout(5)
        raw.sendall(b'{"v":2,"cmd":"status"}\n{"v":1,"cmd":"shutdown"}\n' + b"x" * 20000 + b"\n")
        answers = b""
        while answers.count(b"\n") < 3:
            chunk = raw.recv(65536)
            if not chunk:
                break
            answers += chunk
        lines = [json.loads(line) for line in answers.splitlines()]
        assert lines[0] == {"v": 1, "ok": False, "error": "protocol version 2 is not supported (this daemon speaks 1)"}
        assert lines[1]["ok"] is False and 'unknown command "shutdown"' in lines[1]["error"]
        assert lines[2]["ok"] is False and "longer than" in lines[2]["error"]
        # ... and the connection ends there, as docs/control-protocol.md says.
        assert raw.recv(1) == b""
        raw.close()
    finally:
        silent.close()


# -- per-key limits (need max_* parsed from the config) ------------------------------------------

def test_max_sessions_refuses_a_login_past_it_with_a_disconnect_the_client_prints(start_daemon, procs):
    daemon = start_daemon({"alex": "max_sessions: 2", "bob": ""})
    held = [procs.start(daemon.ssh_args("alex", "-N")) for _ in range(2)]
    wait_for(lambda: len(authenticated(daemon, "alex")) == 2, "two sessions of alex")
    third = procs.start(daemon.ssh_args("alex", "-N"))
    wait_for(lambda: not third.alive(), "the third ssh to be refused")
    assert "Received disconnect from 127.0.0.1 port" in third.stderr()
    assert "key alex already has 2 sessions (max_sessions 2)" in third.stderr()
    assert daemon.events("session-end", reason="key alex already has 2 sessions (max_sessions 2)")
    assert all(p.alive() for p in held)
    bob = procs.start(daemon.ssh_args("bob", "-N"))
    wait_for(lambda: authenticated(daemon, "bob"), "bob's session: another key is not counted with alex")
    # One ends: a new login of alex is let in again.
    held[0].end()
    wait_for(lambda: len(authenticated(daemon, "alex")) == 1, "one session of alex left")
    procs.start(daemon.ssh_args("alex", "-N"))
    wait_for(lambda: len(authenticated(daemon, "alex")) == 2, "alex back at two sessions")


def test_max_listens_under_limits_refuses_the_next_listen_with_its_reason(start_daemon, procs):
    daemon = start_daemon({"alex": 'permit_streamlocal_listen: ["%ROOT%/alex/*.sock"]'},
                          limits="max_listens: 1")
    one, two = f"{daemon.socket_root}/alex/one.sock", f"{daemon.socket_root}/alex/two.sock"
    ssh = procs.start(daemon.ssh_args("alex", "-N", "-R", f"{one}:127.0.0.1:9"))
    wait_for(lambda: os.path.exists(one), "the first listen")
    other = procs.start(daemon.ssh_args("alex", "-N", "-o", "ExitOnForwardFailure=yes", "-R", f"{two}:127.0.0.1:9"))
    wait_for(lambda: not other.alive(), "the second session's ssh to give up on its forward")
    assert f"remote port forwarding failed for listen path {two}" in other.stderr()
    assert not os.path.exists(two)
    denied = daemon.events("forward-request", decision="deny", target=two)
    assert denied and denied[-1]["reason"] == "key alex already has 1 listen (max_listens 1)"
    assert ssh.alive()


def test_max_channels_refuses_the_open_with_its_reason_as_the_client_prints_it(start_daemon, services, procs):
    echo = services(echo_handler)
    daemon = start_daemon({"alex": f'permit_open: ["127.0.0.1:{echo.port}"]\nmax_channels: 1'})
    local = free_port()
    ssh = procs.start(daemon.ssh_args("alex", "-N", "-o", "ExitOnForwardFailure=yes",
                                      "-L", f"127.0.0.1:{local}:127.0.0.1:{echo.port}"))
    wait_for(lambda: authenticated(daemon), "the session")
    wait_for(forward_ready(local), "the -L port")
    wait_for(lambda: not authenticated(daemon)[0]["channels"], "the probe channel to close")
    held = echo_through(local, b"held")
    try:
        refused = socket.create_connection(("127.0.0.1", local), timeout=10)
        refused.settimeout(10)
        assert refused.recv(10) == b""  # ssh closes it: the open failed
        refused.close()
        reason = "key alex already has 1 channel (max_channels 1)"
        wait_for(lambda: f"open failed: administratively prohibited: {reason}" in ssh.stderr(),
                 "ssh to print the refusal")
        assert daemon.events("forward-request", decision="deny", reason=reason)
        # The one held still works; once closed, the next open is let in.
        held.sendall(b"again")
        assert held.recv(5) == b"again"
    finally:
        held.close()
    wait_for(lambda: not authenticated(daemon)[0]["channels"], "the held channel to close")
    echo_through(local, b"next").close()


def test_a_reload_that_lowers_a_limit_applies_to_new_requests_only(start_daemon, services, procs):
    echo = services(echo_handler)
    daemon = start_daemon({"alex": f'permit_open: ["127.0.0.1:{echo.port}"]\nmax_channels: 5'})
    local = free_port()
    procs.start(daemon.ssh_args("alex", "-N", "-L", f"127.0.0.1:{local}:127.0.0.1:{echo.port}"))
    wait_for(forward_ready(local), "the -L port")
    wait_for(lambda: authenticated(daemon) and not authenticated(daemon)[0]["channels"], "the probe channel to close")
    held = [echo_through(local, b"a"), echo_through(local, b"b")]
    try:
        daemon.config_path.write_text(daemon.config_path.read_text().replace("max_channels: 5", "max_channels: 1"))
        assert daemon.policyctl("reload").returncode == 0
        refused = socket.create_connection(("127.0.0.1", local), timeout=10)
        refused.settimeout(10)
        assert refused.recv(10) == b""
        refused.close()
        wait_for(lambda: daemon.events("forward-request", decision="deny",
                                       reason="key alex already has 2 channels (max_channels 1)"), "the refusal")
        for conn in held:
            conn.sendall(b"still")
            assert conn.recv(5) == b"still"
    finally:
        for conn in held:
            conn.close()


def test_control_group_makes_the_socket_0660_of_that_group_in_a_directory_made_0755(start_daemon, workdir):
    group = grp.getgrnam("daemon")
    path = workdir / "run" / "portcullis" / "control.sock"
    daemon = start_daemon({"alex": ""}, control_socket=path, extra_yaml="control_group: daemon")
    info = os.stat(path)
    assert stat.S_IMODE(info.st_mode) == 0o660 and info.st_gid == group.gr_gid
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o755
    assert daemon.policyctl("status").returncode == 0


def test_a_control_group_that_does_not_exist_stops_the_start(start_daemon):
    daemon = start_daemon({"alex": ""}, extra_yaml="control_group: no-such-group-here", wait_listening=False)
    daemon.expect_exit = True
    assert daemon.process.wait(20) == 1
    assert f"portcullisd: cannot start: {daemon.config_path}: control_group no-such-group-here: no such group" \
        in daemon.stderr()


def test_policyctl_says_permission_denied_when_it_may_not_reach_the_socket(start_daemon):
    daemon = start_daemon({"alex": ""})
    # The test's directory is 0700: nobody cannot reach the socket inside it.
    result = subprocess.run([str(policyctl_binary()), "status", "--control-socket", str(daemon.control_socket)],
                            capture_output=True, text=True, timeout=30, user=65534, group=65534)
    assert result.returncode == 1
    assert f"permission denied on {daemon.control_socket}" in result.stderr


def test_a_reload_that_moves_the_control_socket_keeps_the_old_one_until_the_next_start(start_daemon, workdir):
    daemon = start_daemon({"alex": ""})
    moved = workdir / "elsewhere.sock"
    text = daemon.config_path.read_text().replace(str(daemon.control_socket), str(moved))
    daemon.config_path.write_text(text)
    assert daemon.policyctl("reload").returncode == 0
    assert "control_socket and control_group changes take effect at the next start" in daemon.stderr()
    assert not moved.exists()
    assert daemon.policyctl("status").returncode == 0


def test_past_16_control_clients_the_next_is_told_and_the_socket_recovers(start_daemon):
    daemon = start_daemon({"alex": ""})
    held = []
    try:
        for _ in range(16):
            conn = socket.socket(socket.AF_UNIX)
            conn.connect(str(daemon.control_socket))
            held.append(conn)
        # Each is served once its thread starts: one answered request proves it is counted.
        for conn in held:
            conn.sendall(b'{"v":1,"cmd":"status"}\n')
            conn.settimeout(10)
            assert json.loads(conn.recv(65536).splitlines()[0])["ok"] is True
        extra = socket.socket(socket.AF_UNIX)
        extra.connect(str(daemon.control_socket))
        extra.settimeout(10)
        assert json.loads(extra.recv(65536)) == {"v": 1, "ok": False,
                                                 "error": "too many control clients at once (at most 16)"}
        extra.close()
    finally:
        for conn in held:
            conn.close()
    wait_for(lambda: daemon.policyctl("status").returncode == 0, "the control socket to serve again")


# -- found by the issue 12 review ---------------------------------------------------------------

def test_connections_to_a_remote_listen_do_not_lock_the_key_out_of_its_own_opens(start_daemon, services, procs):
    """max_channels counts the key's -L/-W opens and the connections *to* its -R listens in one
    pool. A -R listen is typically reachable by others (that is its point), so a peer with no key
    at all that holds max_channels idle connections to it makes every -L open of the key, in every
    session, fail with "key alex already has N channels". Expected: outsiders cannot deny the
    key's own opens (separate pools, or connections to listens limited per listen)."""
    echo = services(echo_handler)
    rport = free_port()
    daemon = start_daemon({"alex": f"""
        permit_open: ["127.0.0.1:{echo.port}"]
        permit_listen: ["127.0.0.1:{rport}"]
        max_channels: 3
    """})
    procs.start(daemon.ssh_args("alex", "-N", "-o", "ExitOnForwardFailure=yes",
                                "-R", f"127.0.0.1:{rport}:127.0.0.1:{echo.port}"))

    def listening():
        try:
            socket.create_connection(("127.0.0.1", rport), timeout=1).close()
            return True
        except OSError:
            return False
    wait_for(listening, "the -R listen")
    # An outsider: plain TCP connections to the published port, held open and silent.
    held = []
    for _ in range(3):
        conn = socket.create_connection(("127.0.0.1", rport), timeout=5)
        conn.sendall(b"x")
        assert conn.recv(1) == b"x"
        held.append(conn)
    try:
        transport = daemon.paramiko_transport("alex")
        try:
            channel = transport.open_channel("direct-tcpip", ("127.0.0.1", echo.port), ("127.0.0.1", 1), timeout=10)
            channel.close()
        except paramiko.ChannelException as refused:
            pytest.fail(f"the key's own -L open was refused because of outsiders' connections: {refused}")
        finally:
            transport.close()
    finally:
        for conn in held:
            conn.close()


@pytest.mark.parametrize("mode, who", [(0o777, "others"), (0o1777, "others"), (0o775, "its group"), (0o755, "nobody")])
def test_a_control_socket_in_a_directory_others_can_write_is_refused(start_daemon, workdir, mode, who):
    """As sshd's StrictModes: in a directory an unprivileged user can write, that user could rename
    the daemon's socket away and answer policyctl in its place (the review did: `policyctl reload`
    printed "accepted" for a reload that never happened), or swap the path between bind and chown.
    The daemon refuses to start there, naming the directory and its mode (or its owner)."""
    os.chmod(workdir, 0o755)
    shared = workdir / "shared"
    shared.mkdir()
    os.chmod(shared, mode)
    if who == "nobody":
        nobody = pwd.getpwnam("nobody")
        os.chown(shared, nobody.pw_uid, nobody.pw_gid)
        expected = f"belongs to uid {nobody.pw_uid}"
    else:
        expected = f"may be written by {who} \\(mode {mode:o}\\)"
    with pytest.raises(AssertionError, match=expected):
        start_daemon({"alex": ""}, control_socket=shared / "control.sock")


def test_a_key_renamed_by_a_reload_still_holds_at_most_max_sessions(start_daemon):
    """Use is counted by public key, not by name: an entry renamed by a reload (same public key)
    does not get a second max_sessions while its first session is still open."""
    daemon = start_daemon({"alex": 'permit_listen: ["127.0.0.1:*"]\nmax_sessions: 1'})
    first = daemon.paramiko_transport("alex")
    try:
        daemon.config_path.write_text(daemon.config_path.read_text().replace("name: alex", "name: alexis"))
        assert daemon.policyctl("reload").returncode == 0
        try:
            second = daemon.paramiko_transport("alex")
            wait_for(lambda: not second.is_active(), "the second session to be ended")
            second.close()
        except paramiko.SSHException:
            pass  # ended before paramiko saw the authentication succeed
        wait_for(lambda: daemon.events("session-end", reason="key alexis already has 1 session (max_sessions 1)"),
                 "the refusal's session-end record")
        assert first.is_active()
    finally:
        first.close()
