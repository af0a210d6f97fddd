"""What an authenticated key holder can do to the daemon and to other users (found by the red-team
review of issue 11). Each test asserts the behaviour OpenSSH's sshd has. One still marked
xfail(strict) is a known gap left to issue 12's per-key limits: when a fix lands the test passes,
strict xfail turns that into a failure, and the marker must be removed with the fix."""

from __future__ import annotations

import time

import pytest
from paramiko.common import cMSG_CHANNEL_DATA, cMSG_CHANNEL_OPEN, cMSG_GLOBAL_REQUEST
from paramiko.message import Message

from rawssh import direct_streamlocal, direct_tcpip, global_request, open_channel, string
from stresslib import echo_handler, wait_for

# OpenSSH's sshd: MaxSessions 10 session channels per connection.
MAX_SESSIONS = 10


def send_open(transport, kind: str, chanid: int, payload: bytes = b""):
    """A CHANNEL_OPEN sent without waiting for its answer."""
    m = Message()
    m.add_byte(cMSG_CHANNEL_OPEN)
    m.add_string(kind)
    m.add_int(chanid)
    m.add_int(2 * 1024 * 1024)
    m.add_int(32768)
    m.add_bytes(payload)
    transport._send_user_message(m)


def test_session_channels_per_connection_are_capped(start_daemon):
    daemon = start_daemon({"alex": ""})
    transport = daemon.paramiko_transport("alex")
    try:
        # Held, so that paramiko does not close them (a dropped Channel closes itself).
        held = [open_channel(transport, "session", b"", timeout=5) for _ in range(MAX_SESSIONS + 5)]
        outcomes = [result.outcome for result in held]
        assert outcomes[:MAX_SESSIONS] == ["opened"] * MAX_SESSIONS
        assert outcomes[MAX_SESSIONS:] == ["refused"] * 5, outcomes
        assert held[-1].reason == f"too many session channels (at most {MAX_SESSIONS})"
        # A closed one makes room again.
        held[0].channel.close()
        assert wait_for(lambda: open_channel(transport, "session", b"", timeout=5).outcome == "opened",
                        "a session channel once one was closed", timeout=10)
    finally:
        transport.close()


def test_data_for_a_channel_never_opened_ends_the_connection(start_daemon):
    daemon = start_daemon({"alex": ""})
    transport = daemon.paramiko_transport("alex")
    try:
        m = Message()
        m.add_byte(cMSG_CHANNEL_DATA)
        m.add_int(4242)
        m.add_string(b"to nobody")
        transport._send_user_message(m)
        deadline = time.monotonic() + 5
        while transport.is_active() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not transport.is_active(), "the connection survived data for channel 4242, never opened"
        closed = wait_for(lambda: daemon.events("session-end"), "the session-end record", timeout=10)
        assert "channel 4242, which is not open" in closed[-1]["reason"], closed[-1]
    finally:
        transport.close()


def test_a_session_open_after_no_more_sessions_is_refused(start_daemon):
    daemon = start_daemon({"alex": ""})
    transport = daemon.paramiko_transport("alex")
    try:
        m = Message()
        m.add_byte(cMSG_GLOBAL_REQUEST)
        m.add_string("no-more-sessions@openssh.com")
        m.add_boolean(False)
        transport._send_user_message(m)
        assert open_channel(transport, "session", b"", timeout=5).outcome in ("refused", "closed")
        closed = wait_for(lambda: daemon.events("session-end"), "the session-end record", timeout=10)
        assert "after no-more-sessions@openssh.com" in closed[-1]["reason"], closed[-1]
    finally:
        transport.close()


def test_one_key_holding_many_forwards_leaves_another_key_a_login(start_daemon, services):
    echo = services(echo_handler)
    rule = f"permit_open: ['127.0.0.1:{echo.port}']"
    daemon = start_daemon({"alex": rule, "bob": rule}, nofile=400)
    hog = daemon.paramiko_transport("alex")
    try:
        for index in range(600):
            send_open(hog, "direct-tcpip", 30000 + index, direct_tcpip("127.0.0.1", echo.port))
        assert global_request(hog, "keepalive@openssh.com", b"", timeout=30) in (True, False)
        other = daemon.paramiko_transport("bob", timeout=8)
        try:
            assert open_channel(other, "direct-tcpip", direct_tcpip("127.0.0.1", echo.port)).outcome == "opened"
        finally:
            other.close()
    finally:
        hog.close()


def test_a_refused_open_with_a_60_kb_host_costs_a_bounded_record(start_daemon):
    daemon = start_daemon({"alex": "permit_open: ['127.0.0.1:1']"})
    transport = daemon.paramiko_transport("alex")
    try:
        before_audit, before_log = daemon.audit_log.stat().st_size, len(daemon.stderr())
        refused = open_channel(transport, "direct-tcpip", direct_tcpip("h" * 60000, 2, origin="o" * 60000))
        assert refused.outcome == "refused"
        assert global_request(transport, "keepalive@openssh.com", b"", timeout=10) in (True, False)
        audit = daemon.audit_log.stat().st_size - before_audit
        log = len(daemon.stderr()) - before_log
        # Before: about 180 KB of audit and 120 KB of daemon log for one 120 KB packet.
        assert audit < 4096 and log < 4096, f"one refused open cost {audit} bytes of audit and {log} of log"
        assert refused.reason == "malformed direct-tcpip: host is longer than 255 bytes (60000)"
        record = daemon.events("forward-request", decision="deny")[-1]
        assert record["target"] == "h" * 256 + "…(cut, 60000 bytes):2"
    finally:
        transport.close()


def test_a_refused_listen_or_open_of_a_long_path_costs_a_bounded_record(start_daemon):
    """A path within PATH_MAX but far past any rule: refused by the policy, recorded cut."""
    daemon = start_daemon({"alex": 'permit_streamlocal_listen: ["%ROOT%/alex/*.sock"]'})
    transport = daemon.paramiko_transport("alex")
    try:
        path = f"{daemon.socket_root}/" + "p" * 4000
        before_audit, before_log = daemon.audit_log.stat().st_size, len(daemon.stderr())
        assert global_request(transport, "streamlocal-forward@openssh.com", string(path)) is False
        assert open_channel(transport, "direct-streamlocal@openssh.com", direct_streamlocal(path)).outcome == "refused"
        too_long = f"{daemon.socket_root}/" + "p" * 5000
        assert global_request(transport, "streamlocal-forward@openssh.com", string(too_long)) is False
        assert global_request(transport, "keepalive@openssh.com", b"", timeout=10) in (True, False)
        audit = daemon.audit_log.stat().st_size - before_audit
        log = len(daemon.stderr()) - before_log
        assert audit < 3 * 2048 and log < 3 * 2048, f"three refusals cost {audit} bytes of audit and {log} of log"
        denied = daemon.events("forward-request", decision="deny")
        assert all(len(r["target"].encode()) < 300 for r in denied), denied
        assert "longer than 4095 bytes (5" in denied[-1]["reason"]
    finally:
        transport.close()
