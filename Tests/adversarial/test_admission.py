"""Issue 11, item 4: admission before authentication, with OpenSSH's meaning and names.

Until now any number of unauthenticated connections was accepted. Now, as sshd does, the daemon
refuses a connection at accept (closed before it sends a byte) when max_startups is reached, when
its source already holds per_source_max_startups unauthenticated connections, or while its source
is penalised (per_source_penalties) for failing authentication or holding connections it never
authenticates. Each case drives real connections from distinct loopback sources (127.0.0.x,
bound on the client's side) and asserts what a client sees and what the audit log says.
"""

import socket
import subprocess
import threading
import time

import paramiko

from stresslib import echo_handler, make_key, raise_nofile, wait_for

FLOOD_SOURCE = "127.0.0.2"
LEGIT_SOURCE = "127.0.0.3"
FLOOD = 10_000
LOGIN_LIMIT = 1.0


def limits(**fields) -> str:
    """stresslib.Daemon writes `limits: {login_grace_time: VALUE, max_auth_tries: 6}`; the
    admission fields ride along in VALUE."""
    grace = fields.pop("login_grace_time", "30s")
    return ", ".join([grace] + [f"{name}: {value}" for name, value in fields.items()])


def connect_from(source: str, port: int, timeout: float = 10.0) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=timeout, source_address=(source, 0))


def first_bytes(sock: socket.socket, timeout: float = 5.0) -> bytes | None:
    """What the server sends first: its identification line, b"" when it closed the connection
    without a byte (end of file or reset), None if it said nothing in time."""
    sock.settimeout(timeout)
    try:
        return sock.recv(256)
    except ConnectionResetError:
        return b""
    except socket.timeout:
        return None


def refused_at_accept(sock: socket.socket) -> bool:
    return first_bytes(sock) == b""


def login(daemon, key: str, source: str, echo_port: int) -> tuple[bool, float, str]:
    """A stock ssh -W from `source` (ssh -b) through to the echo service: ok, seconds, stderr."""
    started = time.monotonic()
    result = subprocess.run(daemon.ssh_args(key, "-b", source, "-W", f"127.0.0.1:{echo_port}"),
                            input=b"through\n", capture_output=True, timeout=60)
    seconds = time.monotonic() - started
    return (result.returncode == 0 and result.stdout == b"through\n", seconds,
            result.stderr.decode(errors="replace").strip())


def fail_auth_from(daemon, source: str, wrong_key: paramiko.PKey) -> str:
    """One connection from `source` that fails publickey authentication once and hangs up:
    "failed", or "refused" when the daemon closed it at accept."""
    sock = connect_from(source, daemon.port)
    transport = paramiko.Transport(sock)
    try:
        transport.banner_timeout = 10
        transport.start_client(timeout=10)
    except (paramiko.SSHException, EOFError, OSError):
        transport.close()
        return "refused"
    try:
        transport.auth_publickey("alex", wrong_key)
        raise AssertionError("a key that is not configured was accepted")
    except paramiko.AuthenticationException:
        return "failed"
    finally:
        transport.close()


def session_ends_from(daemon, source: str) -> int:
    starts = {r["session"] for r in daemon.events("session-start", client=source)}
    return sum(1 for r in daemon.events("session-end") if r.get("session") in starts)


def test_a_flood_from_one_source_leaves_other_sources_a_quick_login(start_daemon, services, measure):
    have = raise_nofile(FLOOD + 2000)
    assert have >= FLOOD + 500, f"this process may open only {have} files"
    echo = services(echo_handler)
    # The daemon's defaults: max_startups 10:30:100, per_source_max_startups 5.
    daemon = start_daemon({"alex": f'permit_open: ["127.0.0.1:{echo.port}"]'}, nofile=4096)
    held: list[socket.socket] = []
    errors: list[str] = []
    progress = {"opened": 0}

    def flood():
        try:
            for _ in range(FLOOD):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.settimeout(10)
                s.bind((FLOOD_SOURCE, 0))
                s.connect(("127.0.0.1", daemon.port))
                try:
                    s.sendall(b"SSH-2.0-flood\r\n")
                except OSError:
                    pass  # refused at accept: the daemon has closed it already
                held.append(s)
                progress["opened"] += 1
        except OSError as error:
            errors.append(f"after {progress['opened']} connections: {error}")

    flooder = threading.Thread(target=flood)
    flooder.start()
    try:
        wait_for(lambda: progress["opened"] >= FLOOD // 4 or errors, "a quarter of the flood to connect", 60)
        during_ok, during_s, during_err = login(daemon, "alex", LEGIT_SOURCE, echo.port)
        flooder.join(120)
        assert not flooder.is_alive(), "the flood did not finish connecting in 2 minutes"
        assert not errors, f"the flood could not connect: {errors}"
        after_ok, after_s, after_err = login(daemon, "alex", LEGIT_SOURCE, echo.port)
        accepted = len(daemon.events("session-start", client=FLOOD_SOURCE))
        still_open = accepted - session_ends_from(daemon, FLOOD_SOURCE)
    finally:
        for s in held:
            s.close()
    measure("flood_connections", FLOOD)
    measure("flood_sessions_started", accepted)
    measure("login_during_flood_s", during_s)
    measure("login_after_flood_s", after_s)
    assert daemon.alive(), f"portcullisd died under the flood: {daemon.describe_exit()}"
    assert during_ok and during_s < LOGIN_LIMIT, f"login during the flood: {during_s:.2f} s, {during_err[-300:]}"
    assert after_ok and after_s < LOGIN_LIMIT, f"login with the flood held: {after_s:.2f} s, {after_err[-300:]}"
    # The flooding source got sessions for at most its per-source limit (plus any whose place
    # another flood connection gave up meanwhile); the rest were closed at accept.
    assert accepted <= 10, f"{accepted} flood connections became sessions"
    assert still_open <= 5, f"the daemon still held {still_open} flood connections"
    # The refusals are in the audit log, but a few records stand for all of them.
    wait_for(lambda: daemon.events("connection-refused"), "the refusals' audit records", 10)
    refused = daemon.events("connection-refused")
    counted = sum(1 + r["also_refused"] for r in refused if "client" in r) + \
        sum(r["also_refused"] for r in refused if "client" not in r)
    measure("refusal_records", len(refused))
    assert 1 <= len(refused) <= 20, f"{len(refused)} connection-refused records for one flood"
    assert all("per_source_max_startups" in r["reason"] or "max_startups" in r["reason"] for r in refused), refused[:3]
    assert counted <= FLOOD - accepted, f"records count {counted} refusals of {FLOOD - accepted}"
    legit = daemon.events("auth", client=LEGIT_SOURCE) or [
        r for r in daemon.events("auth") if r.get("decision") == "allow"]
    assert legit, "the legitimate logins are not in the audit log"


def test_max_startups_refuses_every_connection_beyond_full(start_daemon):
    daemon = start_daemon({"alex": ""}, extra_yaml="",
                          login_grace_time=limits(max_startups=3, per_source_max_startups="none"))
    held = [connect_from("127.0.0.1", daemon.port) for _ in range(3)]
    try:
        for s in held:
            assert (first_bytes(s) or b"").startswith(b"SSH-2.0-"), "an admitted connection gets the banner"
        # Beyond full, from any source: closed before a single byte.
        for source in ("127.0.0.1", LEGIT_SOURCE):
            extra = connect_from(source, daemon.port)
            assert refused_at_accept(extra), f"a 4th unauthenticated connection (from {source}) was not refused"
            extra.close()
        wait_for(lambda: daemon.events("connection-refused"), "the refusal's audit record", 10)
        record = daemon.events("connection-refused")[0]
        assert record["reason"] == "max_startups: 3 unauthenticated connections open, refusing every new one", record
        assert record["client"] in ("127.0.0.1", LEGIT_SOURCE) and record["client_port"] > 0
        # One gives up: its place is free again.
        held.pop().close()
        wait_for(lambda: len(daemon.events("session-end")) >= 1, "the closed connection's session to end", 10)
        again = connect_from(LEGIT_SOURCE, daemon.port)
        held.append(again)
        assert (first_bytes(again) or b"").startswith(b"SSH-2.0-"), "a freed place was not given to a new connection"
    finally:
        for s in held:
            s.close()


def test_per_source_max_startups_refuses_only_that_source(start_daemon):
    daemon = start_daemon({"alex": ""}, login_grace_time=limits(per_source_max_startups=2))
    held = [connect_from(FLOOD_SOURCE, daemon.port) for _ in range(2)]
    try:
        for s in held:
            assert (first_bytes(s) or b"").startswith(b"SSH-2.0-")
        third = connect_from(FLOOD_SOURCE, daemon.port)
        assert refused_at_accept(third), "a source's 3rd unauthenticated connection was not refused"
        other = connect_from(LEGIT_SOURCE, daemon.port)
        held.append(other)
        assert (first_bytes(other) or b"").startswith(b"SSH-2.0-"), "another source was refused"
        wait_for(lambda: daemon.events("connection-refused"), "the refusal's audit record", 10)
        assert daemon.events("connection-refused")[0]["reason"] == (
            "per_source_max_startups: source 127.0.0.2/32 already holds 2 unauthenticated connections")
    finally:
        for s in held:
            s.close()


def test_a_source_failing_authentication_is_penalised_and_an_exempt_one_never(start_daemon, workdir):
    wrong_path, _ = make_key(workdir / "not-configured")
    wrong = paramiko.Ed25519Key.from_private_key_file(str(wrong_path))
    # Every failing connection costs its source 10 s; over 15 s outstanding it is refused.
    daemon = start_daemon({"alex": ""}, login_grace_time=limits(
        per_source_penalties='"authfail:10s min:15s max:60s"',
        per_source_penalty_exempt_list=f"[{LEGIT_SOURCE}]"))
    assert fail_auth_from(daemon, FLOOD_SOURCE, wrong) == "failed"
    wait_for(lambda: session_ends_from(daemon, FLOOD_SOURCE) >= 1, "the first failing session to end", 10)
    # 10 s outstanding is not over min: still admitted.
    assert fail_auth_from(daemon, FLOOD_SOURCE, wrong) == "failed"
    wait_for(lambda: daemon.events("source-penalised"), "the source-penalised record", 10)
    penalty = daemon.events("source-penalised")[0]
    assert penalty["client"] == FLOOD_SOURCE and penalty["source"] == f"{FLOOD_SOURCE}/32", penalty
    assert penalty["reason"] == "failed authentication" and 15 < penalty["duration"] <= 20, penalty
    # Now refused at accept: no banner, and one audit record for the period however many follow.
    for _ in range(5):
        s = connect_from(FLOOD_SOURCE, daemon.port)
        assert refused_at_accept(s), "a penalised source was admitted"
        s.close()
    # The record is written by the audit thread after the refusal: waited for, then counted.
    refusals = wait_for(lambda: [r for r in daemon.events("connection-refused") if r.get("client") == FLOOD_SOURCE],
                        "the connection-refused record", 10)
    assert len(refusals) == 1, refusals
    assert refusals[0]["reason"].startswith(f"source {FLOOD_SOURCE}/32 is penalised (failed authentication): "
                                            "refused for another "), refusals[0]
    # The exempt source fails just as often and is never refused.
    for attempt in range(6):
        assert fail_auth_from(daemon, LEGIT_SOURCE, wrong) == "failed", f"exempt source refused at attempt {attempt}"
        wait_for(lambda: session_ends_from(daemon, LEGIT_SOURCE) >= attempt + 1, "the exempt session to end", 10)
    assert not daemon.events("source-penalised", client=LEGIT_SOURCE)
    # Another source is untouched by the penalty of the first.
    s = connect_from("127.0.0.4", daemon.port)
    assert (first_bytes(s) or b"").startswith(b"SSH-2.0-")
    s.close()


def test_a_penalty_expires(start_daemon, workdir):
    wrong_path, _ = make_key(workdir / "not-configured")
    wrong = paramiko.Ed25519Key.from_private_key_file(str(wrong_path))
    daemon = start_daemon({"alex": ""}, login_grace_time=limits(per_source_penalties='"authfail:2s min:3s max:4s"'))
    assert fail_auth_from(daemon, FLOOD_SOURCE, wrong) == "failed"
    wait_for(lambda: session_ends_from(daemon, FLOOD_SOURCE) >= 1, "the first failing session to end", 10)
    assert fail_auth_from(daemon, FLOOD_SOURCE, wrong) == "failed"
    wait_for(lambda: daemon.events("source-penalised"), "the source-penalised record", 10)
    penalised_at = time.monotonic()
    s = connect_from(FLOOD_SOURCE, daemon.port)
    assert refused_at_accept(s), "the penalised source was admitted at once"
    s.close()

    def admitted_again() -> bool:
        probe = connect_from(FLOOD_SOURCE, daemon.port)
        try:
            return (first_bytes(probe) or b"").startswith(b"SSH-2.0-")
        finally:
            probe.close()
    wait_for(admitted_again, "the penalty to expire", 15, interval=0.25)
    waited = time.monotonic() - penalised_at
    assert 2.0 < waited < 8.0, f"admitted again after {waited:.1f} s for a 4 s penalty"


def test_connections_that_never_authenticate_are_penalised_too(start_daemon):
    # noauth 1s each (OpenSSH's default), made to matter after 3 such connections.
    daemon = start_daemon({"alex": ""}, login_grace_time=limits(per_source_penalties='"noauth:1s min:2s max:10s"'))
    for index in range(3):
        s = connect_from(FLOOD_SOURCE, daemon.port)
        assert (first_bytes(s) or b"").startswith(b"SSH-2.0-"), f"connection {index} refused too early"
        s.close()
        wait_for(lambda: session_ends_from(daemon, FLOOD_SOURCE) >= index + 1, "the session to end", 10)
    wait_for(lambda: daemon.events("source-penalised"), "the source-penalised record", 10)
    assert daemon.events("source-penalised")[0]["reason"] == "connections without attempting authentication"
    s = connect_from(FLOOD_SOURCE, daemon.port)
    assert refused_at_accept(s)
    s.close()


def test_holding_a_connection_past_login_grace_time_is_penalised(start_daemon):
    # One connection that never authenticates within login_grace_time costs 20 s (OpenSSH 9.8's
    # grace-exceeded), over min 15 s by itself.
    daemon = start_daemon({"alex": ""}, login_grace_time=limits(login_grace_time="1s"))
    held = connect_from(FLOOD_SOURCE, daemon.port)
    try:
        assert (first_bytes(held) or b"").startswith(b"SSH-2.0-")
        wait_for(lambda: daemon.events("source-penalised"), "the grace time to run out and the penalty", 10)
    finally:
        held.close()
    penalty = daemon.events("source-penalised")[0]
    assert penalty["reason"] == "exceeded login_grace_time" and 19 < penalty["duration"] <= 20, penalty
    s = connect_from(FLOOD_SOURCE, daemon.port)
    assert refused_at_accept(s), "a source that held a connection past the grace time was admitted"
    s.close()
    other = connect_from(LEGIT_SOURCE, daemon.port)
    assert (first_bytes(other) or b"").startswith(b"SSH-2.0-")
    other.close()
