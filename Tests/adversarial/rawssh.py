"""What a polite client never sends: global requests and channel opens with payloads built byte by
byte, over an authenticated paramiko transport, with the server's answer (or its silence) observed.

paramiko builds well-formed requests only; these helpers put arbitrary bytes after the request name
and report exactly what came back, so a test can assert on a refusal and its reason.
"""

from __future__ import annotations

import struct
import threading
import time
from dataclasses import dataclass

from paramiko.channel import Channel
from paramiko.common import (MSG_CHANNEL_OPEN_FAILURE, cMSG_CHANNEL_OPEN, cMSG_GLOBAL_REQUEST)
from paramiko.message import Message


def u32(value: int) -> bytes:
    """An SSH uint32, any value in 0..2**32-1 (ports beyond 65535 included)."""
    return struct.pack(">I", value & 0xFFFFFFFF)


def string(data: bytes | str) -> bytes:
    """An SSH string: length, then the bytes exactly as given (NULs and invalid UTF-8 kept)."""
    raw = data.encode() if isinstance(data, str) else data
    return u32(len(raw)) + raw


NO_ANSWER = "no answer"


def global_request(transport, kind: str, payload: bytes, timeout: float = 5.0):
    """Sends SSH_MSG_GLOBAL_REQUEST `kind` with want-reply and `payload` as its raw body. Returns
    True (success), False (failure), NO_ANSWER if nothing came within `timeout`, or "closed" if the
    server ended the connection."""
    m = Message()
    m.add_byte(cMSG_GLOBAL_REQUEST)
    m.add_string(kind)
    m.add_boolean(True)
    m.add_bytes(payload)
    transport.completion_event = threading.Event()
    transport.global_response = None
    transport._send_user_message(m)
    deadline = time.monotonic() + timeout
    while not transport.completion_event.wait(0.05):
        if not transport.is_active():
            return "closed"
        if time.monotonic() > deadline:
            return NO_ANSWER
    return transport.global_response is not None


@dataclass
class OpenResult:
    """How the server answered a channel open."""
    outcome: str                  # "opened", "refused", NO_ANSWER or "closed"
    channel: Channel | None = None
    code: int | None = None       # SSH_OPEN_* reason code of a refusal
    reason: str | None = None     # the refusal's description, as the server wrote it


def open_channel(transport, kind: str, payload: bytes, timeout: float = 5.0) -> OpenResult:
    """Sends SSH_MSG_CHANNEL_OPEN `kind` with `payload` as its type-specific part (after the
    sender channel, window and maximum packet), and reports the server's answer."""
    failures: dict[int, tuple[int, str]] = {}
    table = transport._handler_table
    original = table[MSG_CHANNEL_OPEN_FAILURE]
    if not getattr(original, "_rawssh", False):
        def on_failure(m: Message, _original=original):
            copy = Message(m.asbytes())
            copy.rewind()
            chanid, code, reason = copy.get_int(), copy.get_int(), copy.get_text()
            transport._rawssh_failures[chanid] = (code, reason)
            _original(m)
        on_failure._rawssh = True
        transport._rawssh_failures = {}
        table[MSG_CHANNEL_OPEN_FAILURE] = on_failure
    failures = transport._rawssh_failures

    window, packet = 2 * 1024 * 1024, 32768
    with transport.lock:
        chanid = transport._next_channel()
        chan = Channel(chanid)
        transport._channels.put(chanid, chan)
        transport.channel_events[chanid] = event = threading.Event()
        transport.channels_seen[chanid] = True
        chan._set_transport(transport)
        chan._set_window(window, packet)
    m = Message()
    m.add_byte(cMSG_CHANNEL_OPEN)
    m.add_string(kind)
    m.add_int(chanid)
    m.add_int(window)
    m.add_int(packet)
    m.add_bytes(payload)
    transport._send_user_message(m)
    deadline = time.monotonic() + timeout
    while not event.wait(0.05):
        if not transport.is_active():
            return OpenResult("closed")
        if time.monotonic() > deadline:
            return OpenResult(NO_ANSWER)
    if chanid in failures:
        code, reason = failures.pop(chanid)
        return OpenResult("refused", code=code, reason=reason)
    channel = transport._channels.get(chanid)
    return OpenResult("opened", channel=channel) if channel is not None else OpenResult("refused")


def direct_tcpip(host: bytes | str, port: int, origin: str = "127.0.0.1", origin_port: int = 40000) -> bytes:
    """The type-specific part of a direct-tcpip open (RFC 4254 7.2)."""
    return string(host) + u32(port) + string(origin) + u32(origin_port)


def direct_streamlocal(path: bytes | str, reserved: bool = True) -> bytes:
    """The type-specific part of a direct-streamlocal@openssh.com open (OpenSSH PROTOCOL 2.4)."""
    return string(path) + (string("") + u32(0) if reserved else b"")


def tcpip_forward(address: bytes | str, port: int) -> bytes:
    """The body of a tcpip-forward global request (RFC 4254 7.1)."""
    return string(address) + u32(port)


def streamlocal_forward(path: bytes | str) -> bytes:
    """The body of a streamlocal-forward@openssh.com global request (OpenSSH PROTOCOL 2.4)."""
    return string(path)
