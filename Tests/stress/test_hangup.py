"""Issue 10, sections 3 and 8: a consumer that hangs up mid-stream, on all four forward kinds.

-R (Unix socket, TCP port): the sharer's local service streams without end; a consumer on the proxy
connects to the forwarded socket or port, reads 1000 bytes and closes (`curl ... | head -c 1000`).
-L (TCP, Unix socket): the target reads 1000 bytes and closes while the client is still sending.

Each is done ROUNDS times. The daemon must stay alive (today: SIGPIPE, exit 141), record a close
for every hung-up channel, keep serving the same session (a fresh consumer or a second forward of
the same ssh still works), leave another session's checksummed transfer running at the same time
untouched, and remove the -R socket file (or close the -R port) when the sharer disconnects.
"""

import os
import socket
import threading
import time

import pytest

from stresslib import (Tally, connect_retry, echo_handler, echo_round_trip, endless_handler, free_port,
                       pattern, read_then_close_handler, wait_for)

ROUNDS = 30
BLOCK = pattern(1 << 20, seed=11)  # what endless_handler repeats

KINDS = ["remote-unix", "remote-tcp", "local-tcp", "local-unix"]


class Bystander:
    """Another session's transfer: 2 MiB echo exchanges through `ssh -N -L`, checked byte for byte,
    again and again until stopped."""

    def __init__(self, address):
        self.address = address
        self.tally = Tally()
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        index = 0
        while not self.stop_event.is_set():
            payload = pattern(2 << 20, seed=100 + index % 4)
            index += 1
            try:
                echoed = echo_round_trip(self.address, payload, timeout=15)
            except Exception as error:  # noqa: BLE001
                self.tally.add("failed", repr(error))
                self.stop_event.wait(0.2)
                continue
            if echoed == payload:
                self.tally.add("ok")
            else:
                same = len(echoed) == len(payload)
                self.tally.add("wrong_bytes" if same else "short",
                               f"{len(echoed)} of {len(payload)} bytes back{', differing' if same else ''}")

    def start(self):
        self.thread.start()
        wait_for(lambda: sum(self.tally.counts.values()),
                 "the bystander's first exchange", 20)

    def finish(self) -> dict:
        self.stop_event.set()
        self.thread.join(30)
        return dict(self.tally.counts)


def _hang_up_consumer(address, family):
    """Connects, reads exactly 1000 bytes of the stream, checks them, closes with more arriving."""
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(15)
        s.connect(address)
        got = b""
        while len(got) < 1000:
            chunk = s.recv(1000 - len(got))
            if not chunk:
                break
            got += chunk
    assert got == BLOCK[:1000], f"the consumer got {len(got)} bytes, not the stream's first 1000"


def _send_into_hang_up(address, family):
    """Connects and sends 8 MiB to a target that reads 1000 bytes and hangs up; stops at the first
    error (the proxy closing our side is the expected outcome, not a failure)."""
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(address)
        data = memoryview(pattern(8 << 20, seed=12))
        sent = 0
        try:
            while sent < len(data):
                sent += s.send(data[sent:sent + 65536])
        except socket.timeout:
            raise AssertionError(f"after {sent} bytes the forward neither took more nor closed for 10 s") from None
        except OSError:
            pass
        return sent


@pytest.mark.parametrize("kind", KINDS)
def test_consumer_hangs_up_mid_stream(kind, start_daemon, services, procs, workdir, measure):
    echo = services(echo_handler)
    bystander_port = free_port()
    keys = {
        "bystander": f'permit_open: ["127.0.0.1:{echo.port}"]',
        "sharer": 'permit_listen: ["localhost:*", "127.0.0.1:*"]\n'
                  'permit_streamlocal_listen: ["%ROOT%/%k/*.sock"]',
    }
    if kind.startswith("local"):
        if kind == "local-tcp":
            target = services(read_then_close_handler(1000))
            target_spec = f"127.0.0.1:{target.port}"
            rule = f'permit_open: ["127.0.0.1:{target.port}", "127.0.0.1:{echo.port}"]'
        else:
            target_path = workdir / "target.sock"
            target = services(read_then_close_handler(1000), unix_path=target_path)
            target_spec = str(target_path)
            rule = (f'permit_open: ["127.0.0.1:{echo.port}"]\n'
                    f'permit_streamlocal_open: ["{target_path}"]')
        keys["client"] = rule
    daemon = start_daemon(keys)

    bystander_ssh = procs.start(daemon.ssh_args("bystander", "-N", "-L",
                                                f"127.0.0.1:{bystander_port}:127.0.0.1:{echo.port}"))
    connect_retry(("127.0.0.1", bystander_port), 15).close()

    # The session whose channels are hung up on, and how a consumer reaches them.
    socket_path = None
    if kind == "remote-unix":
        source = services(endless_handler())
        socket_path = daemon.socket_root / "sharer" / "s.sock"
        main = procs.start(daemon.ssh_args("sharer", "-N", "-o", "ExitOnForwardFailure=yes",
                                           "-R", f"{socket_path}:127.0.0.1:{source.port}"))
        wait_for(lambda: socket_path.exists() or not main.alive(), "the forwarded socket to appear", 15)
        address, family = str(socket_path), socket.AF_UNIX
    elif kind == "remote-tcp":
        source = services(endless_handler())
        main = procs.start(daemon.ssh_args("sharer", "-N", "-o", "ExitOnForwardFailure=yes",
                                           "-R", f"0:127.0.0.1:{source.port}"))
        address, family = ("127.0.0.1", main.allocated_port()), socket.AF_INET
    else:
        local_port, echo_port = free_port(), free_port()
        main = procs.start(daemon.ssh_args("client", "-N",
                                           "-L", f"127.0.0.1:{local_port}:{target_spec}",
                                           "-L", f"127.0.0.1:{echo_port}:127.0.0.1:{echo.port}"))
        connect_retry(("127.0.0.1", echo_port), 15).close()
        address, family = ("127.0.0.1", local_port), socket.AF_INET
    assert main.alive(), f"ssh exited: {main.stderr()}"

    def hung_up_closes():
        """The channel-close records of the channels hung up on (not the bystander's)."""
        if kind.startswith("remote"):
            return [r for r in daemon.events("channel-close") if r.get("kind") in ("tcp-listen", "streamlocal-listen")]
        return [r for r in daemon.events("channel-close") if r.get("target") == target_spec]

    fds_before = daemon.fd_count()
    closes_before = len(hung_up_closes())

    bystander = Bystander(("127.0.0.1", bystander_port))
    bystander.start()
    completed = 0
    problem = None
    started = time.monotonic()
    for _ in range(ROUNDS):
        try:
            if kind.startswith("remote"):
                _hang_up_consumer(address, family)
            else:
                _send_into_hang_up(address, family)
            completed += 1
        except (OSError, AssertionError) as error:
            problem = repr(error)
            break
        if not daemon.alive():
            break
    hang_up_seconds = time.monotonic() - started
    daemon_alive_after_hangups = daemon.alive()
    # Every hung-up channel is closed and recorded (the bystander's own channels close too).
    if daemon_alive_after_hangups:
        try:
            wait_for(lambda: len(hung_up_closes()) - closes_before >= ROUNDS or not daemon.alive(),
                     "a channel-close record for every hang-up", 15)
        except AssertionError as error:
            problem = problem or str(error)
    bystander_counts = bystander.finish()

    # The same session still serves.
    still_serving = None
    if daemon.alive() and main.alive():
        try:
            if kind.startswith("remote"):
                _hang_up_consumer(address, family)
            else:
                payload = os.urandom(100_000)
                still_serving = echo_round_trip(("127.0.0.1", echo_port), payload) == payload
            still_serving = True if still_serving is None else still_serving
        except (OSError, AssertionError) as error:
            still_serving = f"no: {error!r}"

    # Descriptors come back once the channels are gone.
    fds_after = None
    if daemon.alive():
        try:
            fds_after = wait_for(lambda: (n := daemon.fd_count()) <= fds_before + 4 and n,
                                 "the daemon's descriptors to come back", 10)
        except AssertionError:
            fds_after = daemon.fd_count()

    # The sharer leaves: its socket file goes, its port closes.
    cleaned = None
    if daemon.alive():
        main.end()
        if socket_path is not None:
            cleaned = _eventually(lambda: not socket_path.exists(), 10)
        elif kind == "remote-tcp":
            cleaned = _eventually(lambda: _refused(address), 10)
    elif socket_path is not None:
        main.end()
        cleaned = not socket_path.exists()

    measure("hangups_completed", completed)
    measure("hangup_seconds", hang_up_seconds)
    closes = hung_up_closes()[closes_before:]
    measure("channel_close_records", len(closes))
    measure("close_reasons", sorted({str(r.get("reason")) for r in closes}))
    measure("bystander", bystander_counts)
    measure("daemon", daemon.describe_exit())
    measure("fds_before_after", f"{fds_before} -> {fds_after}")
    if cleaned is not None:
        measure("socket_or_port_cleaned_up", cleaned)

    summary = (f"{kind}: {completed}/{ROUNDS} hang-ups done in {hang_up_seconds:.1f} s; daemon "
               f"{daemon.describe_exit()}; bystander {bystander_counts} {bystander.tally.examples}; "
               f"same session still serving: {still_serving}; fds {fds_before} -> {fds_after}; "
               f"socket/port cleaned up after the sharer left: {cleaned}; problem: {problem}")
    assert daemon_alive_after_hangups and daemon.alive(), f"{summary}\nlast log lines:\n{daemon.stderr_tail()}"
    assert completed == ROUNDS and problem is None, summary
    assert bystander_counts.get("ok", 0) >= 1 and set(bystander_counts) == {"ok"}, summary
    assert still_serving is True, summary
    assert fds_after is not None and fds_after <= fds_before + 4, summary
    if cleaned is not None:
        assert cleaned, summary
    assert bystander_ssh.alive(), f"the bystander's ssh exited: {bystander_ssh.stderr()}"


def _eventually(condition, timeout):
    try:
        return bool(wait_for(condition, "cleanup", timeout))
    except AssertionError:
        return False


def _refused(address) -> bool:
    try:
        with socket.create_connection(address, timeout=2):
            return False
    except ConnectionRefusedError:
        return True
    except OSError:
        return False
