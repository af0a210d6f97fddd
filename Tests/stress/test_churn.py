"""Issue 10, sections 1 and 8: sessions that come and go must not break other sessions.

30 long-lived sessions (paramiko) each fetch a 1 MiB checksummed stream over direct-tcpip, again and
again, while 3 clients log in, open a channel, read a little and drop the connection, in a tight loop.
Every download must arrive whole (count and SHA-256), none may end with a clean EOF while short
(silent truncation), no long-lived session may be dropped, and no churning login may fail.
"""

import os
import socket
import threading
import time

import paramiko

from stresslib import Tally, pattern, sha256, stream_handler

SIZE = 1 << 20
SESSIONS = 30
CHURNERS = 3
DURATION = float(os.environ.get("PORTCULLIS_STRESS_CHURN_SECONDS", "25"))


def test_churn_while_checksummed_downloads_run(start_daemon, services, measure):
    source = services(stream_handler(SIZE))
    rule = f'permit_open: ["127.0.0.1:{source.port}"]'
    # 30 sessions of one key: past its default max_sessions (issue 12, 10), lifted here.
    daemon = start_daemon({"fetch": rule, "churn": rule}, limits=f"max_sessions: {2 * SESSIONS}")
    expected = sha256(pattern(SIZE))
    target = ("127.0.0.1", source.port)

    # The long-lived sessions log in one after another, before any churn.
    transports = [daemon.paramiko_transport("fetch") for _ in range(SESSIONS)]
    tally = Tally()
    stop = threading.Event()

    def fetcher(index, transport):
        while not stop.is_set():
            try:
                channel = transport.open_channel("direct-tcpip", target, ("127.0.0.1", 40000 + index), timeout=20)
            except paramiko.ChannelException as error:
                tally.add("open_failed", f"session {index}: refused: {error!r}")
                continue
            except Exception as error:  # noqa: BLE001 - the session is gone
                tally.add("dropped_sessions", f"session {index}: channel open: {error!r}")
                return
            channel.settimeout(15)
            received = bytearray()
            stalled = False
            try:
                while True:
                    chunk = channel.recv(1 << 20)
                    if not chunk:
                        break
                    received += chunk
            except socket.timeout:
                stalled = True
            except Exception as error:  # noqa: BLE001
                tally.add("recv_error", f"session {index}: {error!r}")
            clean_eof = channel.eof_received
            try:
                channel.close()
            except Exception:  # noqa: BLE001 - the session is gone; counted below
                pass
            tally.add("downloads")
            if len(received) == SIZE and sha256(bytes(received)) == expected:
                tally.add("ok")
            elif len(received) >= SIZE:
                tally.add("corrupt", f"session {index}: {len(received)} bytes, checksum differs")
            elif stalled:
                tally.add("stalled", f"session {index}: {len(received)} of {SIZE} bytes, then nothing for 15 s "
                                     f"(session {'still up' if transport.is_active() else 'gone'})")
            elif clean_eof:
                tally.add("truncated_clean_eof", f"session {index}: {len(received)} of {SIZE} bytes, then EOF")
            else:
                tally.add("truncated_closed", f"session {index}: {len(received)} of {SIZE} bytes, closed without EOF")
            if not transport.is_active():
                tally.add("dropped_sessions", f"session {index}: transport inactive after a download")
                return

    def churner(index):
        while not stop.is_set():
            try:
                transport = daemon.paramiko_transport("churn", timeout=15)
            except Exception as error:  # noqa: BLE001
                tally.add("churn_login_failed", f"churner {index}: {error!r}")
                continue
            tally.add("churn_logins")
            try:
                # Open a channel, take a little of the stream and vanish with it in flight.
                channel = transport.open_channel("direct-tcpip", target, ("127.0.0.1", 50000 + index), timeout=15)
                channel.settimeout(15)
                channel.recv(65536)
            except Exception as error:  # noqa: BLE001
                tally.add("churn_channel_failed", f"churner {index}: {error!r}")
            finally:
                transport.close()
            tally.add("churn_cycles")

    threads = [threading.Thread(target=fetcher, args=(i, t), daemon=True) for i, t in enumerate(transports)]
    threads += [threading.Thread(target=churner, args=(i,), daemon=True) for i in range(CHURNERS)]
    cpu0 = daemon.cpu_seconds()
    started = time.monotonic()
    for thread in threads:
        thread.start()
    stop.wait(DURATION)
    stop.set()
    for thread in threads:
        thread.join(max(1.0, started + DURATION + 30 - time.monotonic()))
    elapsed = time.monotonic() - started
    still_running = sum(thread.is_alive() for thread in threads)
    alive_at_end = sum(t.is_active() for t in transports)
    daemon_alive = daemon.alive()
    cpu = (daemon.cpu_seconds() - cpu0) if daemon_alive else float("nan")
    for transport in transports:
        transport.close()

    counts = dict(tally.counts)
    for name in ("downloads", "ok", "corrupt", "stalled", "truncated_clean_eof", "truncated_closed", "recv_error",
                 "open_failed", "dropped_sessions", "churn_logins", "churn_login_failed", "churn_channel_failed"):
        measure(name, counts.get(name, 0))
    measure("sessions_active_at_end", alive_at_end)
    measure("daemon_cpu_percent", 100 * cpu / elapsed)
    measure("MiB_per_s", counts.get("ok", 0) * SIZE / elapsed / (1 << 20))

    bad = {k: counts.get(k, 0) for k in ("corrupt", "stalled", "truncated_clean_eof", "truncated_closed",
                                          "recv_error", "open_failed", "dropped_sessions",
                                          "churn_login_failed", "churn_channel_failed")}
    summary = (f"in {elapsed:.1f} s: {counts.get('downloads', 0)} downloads, {counts.get('ok', 0)} whole; "
               f"{bad}; {alive_at_end}/{SESSIONS} long-lived sessions still up; "
               f"{counts.get('churn_logins', 0)} churn logins; threads still running: {still_running}; "
               f"examples: {tally.examples}")
    assert daemon_alive, f"portcullisd died ({daemon.describe_exit()}); {summary}\n{daemon.stderr_tail()}"
    assert counts.get("ok", 0) >= SESSIONS and counts.get("churn_logins", 0) >= 10, \
        f"too little happened to judge: {summary}"
    assert all(v == 0 for v in bad.values()) and alive_at_end == SESSIONS and still_running == 0, summary

