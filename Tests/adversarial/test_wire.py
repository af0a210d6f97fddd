"""Strict wire decoding (issue 11, item 1): a request is acted on exactly as the client sent it, or
refused as malformed with its reason, recorded before the client hears the refusal.

Each case sends, over an authenticated raw client, what a polite client never would: a string with a
NUL byte in it, a port past 65535, a field missing, a path that is not UTF-8. Each asserts what the
client sees (a refusal and, for an open, its reason), what did not happen (no socket file created, no
connection to the port a wrapped port lands on, a listener not cancelled), and the audit record
(`forward-request`, decision `deny`, the reason, the target's bytes escaped, never U+FFFD).
"""

import os
import socket
from pathlib import Path

from rawssh import (direct_streamlocal, direct_tcpip, global_request, open_channel, string,
                    streamlocal_forward, tcpip_forward, u32)
from stresslib import echo_handler, free_port, wait_for

SOCKET_OPEN = {"alex": """
    permit_streamlocal_listen: ["%ROOT%/alex/*.sock"]
    permit_streamlocal_open: ["%ROOT%/alex/*.sock"]
"""}


def malformed(daemon, reason: str) -> dict:
    """The audit record of the malformed request refused for `reason` (a part of it)."""
    return wait_for(lambda: next((r for r in daemon.events("forward-request", decision="deny")
                                  if reason in r.get("reason", "")), None),
                    f"a forward-request record refusing {reason!r}", timeout=5)


def assert_log_is_clean_text(daemon):
    """No raw byte of a bad field and no replacement character in the audit log or the daemon's log."""
    for path in (daemon.audit_log, daemon.log_path):
        data = path.read_bytes()
        assert "\ufffd".encode() not in data, f"{path.name} holds U+FFFD: a field was decoded lossily"
        assert b"\xff" not in data and b"\x00" not in data, f"{path.name} holds a raw byte of a bad field"


def listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def alex_dir(daemon) -> Path:
    path = daemon.socket_root / "alex"
    path.mkdir(mode=0o700, exist_ok=True)
    return path


# -- NUL bytes ------------------------------------------------------------------------------------

def test_a_listen_path_with_a_nul_is_refused_not_cut(start_daemon):
    daemon = start_daemon(SOCKET_OPEN)
    root = daemon.socket_root
    path = f"{root}/alex/n.sock".encode() + b"\0/../../tyler/x.sock"
    transport = daemon.paramiko_transport("alex")
    try:
        assert global_request(transport, "streamlocal-forward@openssh.com", streamlocal_forward(path)) is False
        assert not (root / "alex" / "n.sock").exists(), "the path was cut at the NUL and bound"
        record = malformed(daemon, "malformed streamlocal-forward@openssh.com: socket path contains a NUL byte")
        assert record["kind"] == "streamlocal-listen"
        assert f'"{root}/alex/n.sock\\x00/../../tyler/x.sock"' in record["reason"]
        assert_log_is_clean_text(daemon)
    finally:
        transport.close()


def test_a_cancel_with_a_nul_does_not_cancel_the_listen_it_was_cut_to(start_daemon):
    daemon = start_daemon(SOCKET_OPEN)
    path = f"{daemon.socket_root}/alex/n.sock"
    transport = daemon.paramiko_transport("alex")
    try:
        assert global_request(transport, "streamlocal-forward@openssh.com", streamlocal_forward(path)) is True
        cut = path.encode() + b"\0junk"
        assert global_request(transport, "cancel-streamlocal-forward@openssh.com", streamlocal_forward(cut)) is False
        malformed(daemon, "malformed cancel-streamlocal-forward@openssh.com: socket path contains a NUL byte")
        assert not daemon.events("forward-cancelled"), "the cut path cancelled the listen"
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(path)  # still listening
    finally:
        transport.close()


def test_an_open_of_a_path_with_a_nul_is_refused_with_its_reason(start_daemon, services):
    daemon = start_daemon(SOCKET_OPEN)
    web = services(echo_handler, unix_path=alex_dir(daemon) / "web.sock")
    transport = daemon.paramiko_transport("alex")
    try:
        path = f"{daemon.socket_root}/alex/web.sock".encode() + b"\0x"
        result = open_channel(transport, "direct-streamlocal@openssh.com", direct_streamlocal(path))
        assert result.outcome == "refused", result
        assert result.reason.startswith("malformed direct-streamlocal@openssh.com: socket path contains a NUL byte: ")
        assert result.reason.endswith('/alex/web.sock\\x00x"')
        assert web.connections == 0, "the path was cut at the NUL and connected to"
        assert malformed(daemon, result.reason)["kind"] == "streamlocal-open"
        assert_log_is_clean_text(daemon)
    finally:
        transport.close()


def test_a_listen_host_with_a_nul_is_refused(start_daemon):
    port = free_port()
    daemon = start_daemon({"alex": f'permit_listen: ["127.0.0.1:{port}"]'})
    transport = daemon.paramiko_transport("alex")
    try:
        assert global_request(transport, "tcpip-forward", tcpip_forward(b"127.0.0.1\0junk", port)) is False
        assert not listening(port), "the host was cut at the NUL and bound"
        record = malformed(daemon, 'malformed tcpip-forward: address contains a NUL byte: "127.0.0.1\\x00junk"')
        assert record["kind"] == "tcp-listen"
    finally:
        transport.close()


def test_an_open_whose_host_or_originator_has_a_nul_is_refused(start_daemon, services):
    echo = services(echo_handler)
    daemon = start_daemon({"alex": f'permit_open: ["127.0.0.1:{echo.port}"]'})
    transport = daemon.paramiko_transport("alex")
    try:
        host = open_channel(transport, "direct-tcpip", direct_tcpip(b"127.0.0.1\0x", echo.port))
        assert host.outcome == "refused", host
        assert host.reason == 'malformed direct-tcpip: host contains a NUL byte: "127.0.0.1\\x00x"'
        origin = open_channel(transport, "direct-tcpip", direct_tcpip("127.0.0.1", echo.port, origin=b"10.1.2.3\0x"))
        assert origin.outcome == "refused", origin
        assert origin.reason == 'malformed direct-tcpip: originator address contains a NUL byte: "10.1.2.3\\x00x"'
        assert echo.connections == 0
        malformed(daemon, host.reason)
        malformed(daemon, origin.reason)
    finally:
        transport.close()


# -- Ports past 65535 -----------------------------------------------------------------------------

def test_a_listen_port_past_65535_is_refused_not_wrapped(start_daemon):
    port = free_port()
    daemon = start_daemon({"alex": f'permit_listen: ["127.0.0.1:{port}", "127.0.0.1:65535"]'})
    transport = daemon.paramiko_transport("alex")
    try:
        wrapped = port + 65536
        assert global_request(transport, "tcpip-forward", tcpip_forward("127.0.0.1", wrapped)) is False
        assert not listening(port), f"port {wrapped} was wrapped to {port} and bound"
        malformed(daemon, f"malformed tcpip-forward: port {wrapped} is out of range (0..65535)")
        assert global_request(transport, "tcpip-forward", tcpip_forward("127.0.0.1", 0xFFFFFFFF)) is False
        malformed(daemon, "malformed tcpip-forward: port 4294967295 is out of range (0..65535)")
        assert not daemon.events("forward-bound")
    finally:
        transport.close()


def test_a_cancel_port_past_65535_does_not_cancel_the_wrapped_port(start_daemon):
    port = free_port()
    daemon = start_daemon({"alex": f'permit_listen: ["127.0.0.1:{port}"]'})
    transport = daemon.paramiko_transport("alex")
    try:
        assert global_request(transport, "tcpip-forward", tcpip_forward("127.0.0.1", port)) is True
        assert global_request(transport, "cancel-tcpip-forward", tcpip_forward("127.0.0.1", port + 65536)) is False
        malformed(daemon, f"malformed cancel-tcpip-forward: port {port + 65536} is out of range (0..65535)")
        assert not daemon.events("forward-cancelled")
        assert listening(port)
    finally:
        transport.close()


def test_an_open_to_a_port_past_65535_is_refused_and_nothing_is_connected(start_daemon, services):
    echo = services(echo_handler)
    daemon = start_daemon({"alex": f'permit_open: ["127.0.0.1:{echo.port}"]'})
    transport = daemon.paramiko_transport("alex")
    try:
        wrapped = echo.port + 65536
        result = open_channel(transport, "direct-tcpip", direct_tcpip("127.0.0.1", wrapped))
        assert result.outcome == "refused", result
        assert result.reason == f"malformed direct-tcpip: port {wrapped} is out of range (0..65535)"
        assert echo.connections == 0, f"port {wrapped} was wrapped to {echo.port} and connected to"
        assert malformed(daemon, result.reason)["kind"] == "tcp-open"
    finally:
        transport.close()


def test_an_open_with_an_originator_port_past_65535_is_refused(start_daemon, services):
    echo = services(echo_handler)
    daemon = start_daemon({"alex": f'permit_open: ["127.0.0.1:{echo.port}"]'})
    transport = daemon.paramiko_transport("alex")
    try:
        result = open_channel(transport, "direct-tcpip", direct_tcpip("127.0.0.1", echo.port, origin_port=70000))
        assert result.outcome == "refused", result
        assert result.reason == "malformed direct-tcpip: originator port 70000 is out of range (0..65535)"
        assert echo.connections == 0
        malformed(daemon, result.reason)
    finally:
        transport.close()


# -- Requests cut short ---------------------------------------------------------------------------

def test_an_open_without_its_reserved_fields_is_answered(start_daemon, services):
    daemon = start_daemon(SOCKET_OPEN)
    web = services(echo_handler, unix_path=alex_dir(daemon) / "web.sock")
    transport = daemon.paramiko_transport("alex")
    try:
        path = f"{daemon.socket_root}/alex/web.sock"
        result = open_channel(transport, "direct-streamlocal@openssh.com", direct_streamlocal(path, reserved=False),
                              timeout=3)
        assert result.outcome == "refused", f"the client waits for an answer: {result}"
        assert result.reason == "malformed direct-streamlocal@openssh.com: missing reserved fields"
        assert web.connections == 0
        assert malformed(daemon, result.reason)["kind"] == "streamlocal-open"
    finally:
        transport.close()


def test_an_open_with_an_empty_payload_is_answered(start_daemon):
    daemon = start_daemon(SOCKET_OPEN)
    transport = daemon.paramiko_transport("alex")
    try:
        result = open_channel(transport, "direct-streamlocal@openssh.com", b"", timeout=3)
        assert result.outcome == "refused", f"the client waits for an answer: {result}"
        assert result.reason == "malformed direct-streamlocal@openssh.com: missing socket path"
        malformed(daemon, result.reason)
    finally:
        transport.close()


def test_a_truncated_direct_tcpip_is_answered(start_daemon, services):
    echo = services(echo_handler)
    daemon = start_daemon({"alex": f'permit_open: ["127.0.0.1:{echo.port}"]'})
    transport = daemon.paramiko_transport("alex")
    try:
        payload = direct_tcpip("127.0.0.1", echo.port)[:-4]
        result = open_channel(transport, "direct-tcpip", payload, timeout=3)
        assert result.outcome == "refused", f"the client waits for an answer: {result}"
        assert result.reason == "malformed direct-tcpip: missing originator port"
        assert echo.connections == 0
        malformed(daemon, result.reason)
    finally:
        transport.close()


def test_a_truncated_or_overlong_global_request_is_refused_and_recorded(start_daemon):
    port = free_port()
    daemon = start_daemon({"alex": f"""
        permit_listen: ["127.0.0.1:{port}"]
        permit_streamlocal_listen: ["%ROOT%/alex/*.sock"]
    """})
    transport = daemon.paramiko_transport("alex")
    try:
        assert global_request(transport, "tcpip-forward", tcpip_forward("127.0.0.1", port)[:-2]) is False
        assert malformed(daemon, "malformed tcpip-forward: missing port")["kind"] == "tcp-listen"
        path = f"{daemon.socket_root}/alex/web.sock"
        assert global_request(transport, "streamlocal-forward@openssh.com",
                              streamlocal_forward(path) + b"xyz") is False
        malformed(daemon, "malformed streamlocal-forward@openssh.com: 3 unexpected bytes after the last field")
        assert not Path(path).exists()
        assert not listening(port)
    finally:
        transport.close()


# -- Not UTF-8 ------------------------------------------------------------------------------------

def test_a_listen_path_that_is_not_utf8_is_refused_not_replaced(start_daemon):
    daemon = start_daemon(SOCKET_OPEN)
    root = daemon.socket_root
    transport = daemon.paramiko_transport("alex")
    try:
        path = f"{root}/alex/".encode() + b"\xff\xfe.sock"
        assert global_request(transport, "streamlocal-forward@openssh.com", streamlocal_forward(path)) is False
        created = os.listdir(root / "alex") if (root / "alex").exists() else []
        assert created == [], f"a socket was bound under another name: {created}"
        record = malformed(daemon, "malformed streamlocal-forward@openssh.com: socket path is not valid UTF-8")
        assert record["kind"] == "streamlocal-listen"
        assert record["target"] == f"{root}/alex/\\xff\\xfe.sock"
        assert_log_is_clean_text(daemon)
    finally:
        transport.close()


def test_an_open_of_a_path_that_is_not_utf8_is_refused_not_replaced(start_daemon, services):
    daemon = start_daemon(SOCKET_OPEN)
    # What a lossy decoding makes of b"\xff\xfe.sock": the open must not reach it.
    replaced = services(echo_handler, unix_path=alex_dir(daemon) / "\ufffd\ufffd.sock")
    transport = daemon.paramiko_transport("alex")
    try:
        path = f"{daemon.socket_root}/alex/".encode() + b"\xff\xfe.sock"
        result = open_channel(transport, "direct-streamlocal@openssh.com", direct_streamlocal(path))
        assert result.outcome == "refused", result
        assert result.reason == ("malformed direct-streamlocal@openssh.com: socket path is not valid UTF-8: "
                                 f'"{daemon.socket_root}/alex/\\xff\\xfe.sock"')
        assert replaced.connections == 0, "the path was decoded lossily and connected to"
        record = malformed(daemon, result.reason)
        assert record["target"] == f"{daemon.socket_root}/alex/\\xff\\xfe.sock"
    finally:
        transport.close()


def test_a_host_that_is_not_utf8_is_refused_as_malformed(start_daemon, services):
    echo = services(echo_handler)
    daemon = start_daemon({"alex": 'permit_open: ["*:*"]\npermit_listen: ["*"]'})
    transport = daemon.paramiko_transport("alex")
    try:
        result = open_channel(transport, "direct-tcpip", direct_tcpip(b"127.0.0.\xff", echo.port))
        assert result.outcome == "refused", result
        assert result.reason == 'malformed direct-tcpip: host is not valid UTF-8: "127.0.0.\\xff"'
        assert malformed(daemon, result.reason)["target"] == f"127.0.0.\\xff:{echo.port}"
        origin = open_channel(transport, "direct-tcpip",
                              string("127.0.0.1") + u32(echo.port) + string(b"\xc3") + u32(1))
        assert origin.outcome == "refused", origin
        assert origin.reason == 'malformed direct-tcpip: originator address is not valid UTF-8: "\\xc3"'
        assert global_request(transport, "tcpip-forward", tcpip_forward(b"\xfe", 0)) is False
        malformed(daemon, 'malformed tcpip-forward: address is not valid UTF-8: "\\xfe"')
        assert echo.connections == 0
        assert_log_is_clean_text(daemon)
    finally:
        transport.close()


def test_well_formed_requests_still_work(start_daemon, services):
    """The strict decoding refuses only what is malformed: the largest port and a UTF-8 path pass."""
    echo = services(echo_handler)
    daemon = start_daemon({"alex": f"""
        permit_open: ["127.0.0.1:{echo.port}"]
        permit_streamlocal_listen: ["%ROOT%/alex/*.sock"]
    """})
    transport = daemon.paramiko_transport("alex")
    try:
        opened = open_channel(transport, "direct-tcpip", direct_tcpip("127.0.0.1", echo.port, origin_port=65535))
        assert opened.outcome == "opened", opened
        path = f"{daemon.socket_root}/alex/café.sock"
        assert global_request(transport, "streamlocal-forward@openssh.com", streamlocal_forward(path)) is True
        assert Path(path).exists()
    finally:
        transport.close()
