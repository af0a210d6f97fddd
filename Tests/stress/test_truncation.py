"""Issue 10, sections 4 and 8: truncation is never a clean end.

A sharer (`ssh -N -R 0:127.0.0.1:SOURCE`) serves a stream that never ends; a consumer on the proxy
reads from the forwarded port. Mid-stream the sharer's ssh is killed with SIGKILL. Bytes the
consumer was promised will never come, so the consumer must see an error (ECONNRESET), not a clean
EOF that looks like the end of the data; the channel-close record for it must carry a reason. Done
ROUNDS times with fresh sharers. (Every test's daemon fixture also checks that no audit record or
log line carries an empty reason.)
"""

import signal
import socket
import time

from stresslib import EMPTY_REASON, endless_handler, wait_for

ROUNDS = 3
READ_BEFORE_KILL = 2 << 20


def test_killed_sharer_is_an_error_not_an_eof(start_daemon, services, procs, measure):
    source = services(endless_handler())
    daemon = start_daemon({"sharer": 'permit_listen: ["localhost:*"]'})
    outcomes = []
    records = []
    for _ in range(ROUNDS):
        sharer = procs.start(daemon.ssh_args("sharer", "-N", "-o", "ExitOnForwardFailure=yes",
                                             "-R", f"0:127.0.0.1:{source.port}"))
        port = sharer.allocated_port()
        session = _session_of(daemon, port)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as consumer:
            consumer.settimeout(15)
            received = 0
            while received < READ_BEFORE_KILL:
                chunk = consumer.recv(262144)
                if not chunk:
                    break
                received += len(chunk)
            assert received >= READ_BEFORE_KILL, f"the stream ended after {received} bytes before the kill"
            sharer.process.send_signal(signal.SIGKILL)
            sharer.process.wait(10)
            killed_at = time.monotonic()
            outcome = None
            try:
                while True:
                    chunk = consumer.recv(262144)
                    if not chunk:
                        outcome = "clean EOF"
                        break
                    received += len(chunk)
            except ConnectionResetError:
                outcome = "ECONNRESET"
            except socket.timeout:
                outcome = "no end within 15 s"
            except OSError as error:
                outcome = f"error {error!r}"
            outcomes.append((outcome, received, time.monotonic() - killed_at))
        # The session ends, and its channel's close is recorded.
        closes = wait_for(lambda: [r for r in daemon.events("channel-close", session=session)
                                   if r.get("kind") == "tcp-listen"] or (not daemon.alive() and [{}]),
                          f"the channel-close record of session {session}", 15)
        records.append(closes[-1])
        if not daemon.alive():
            break

    measure("outcomes", [o for o, _, _ in outcomes])
    measure("seconds_kill_to_end", [round(s, 3) for _, _, s in outcomes])
    measure("close_reasons", [r.get("reason") for r in records])
    summary = ("after SIGKILL of the sharer mid-stream the consumer saw: "
               + "; ".join(f"{o} after {n / (1 << 20):.1f} MiB ({s:.2f} s after the kill)" for o, n, s in outcomes)
               + f"; channel-close reasons: {[r.get('reason') for r in records]}")
    assert daemon.alive(), f"portcullisd died: {daemon.describe_exit()}; {summary}"
    assert all(o == "ECONNRESET" for o, _, _ in outcomes), f"a truncated stream ended like a complete one: {summary}"
    assert all("reason" in r and not EMPTY_REASON.search(str(r["reason"])) for r in records), \
        f"a channel-close record without a reason: {summary}"


def _session_of(daemon, port) -> int:
    """The session whose forward was bound to `port` (from its forward-bound record)."""
    def find():
        for record in daemon.events("forward-bound"):
            if str(record.get("bound", "")).endswith(f":{port}") or f":{port}," in str(record.get("bound", "")):
                return record["session"]
        return None
    return wait_for(find, f"the forward-bound record for port {port}", 10)
