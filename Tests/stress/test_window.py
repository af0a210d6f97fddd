"""Issue 10, sections 5 and 8: a client that ignores the channel window.

A paramiko client opens a direct-tcpip channel to a target that never reads, then sends raw
SSH_MSG_CHANNEL_DATA packets (each within the server's maximum packet size) far past the window the
server advertised: up to 200 MiB, bypassing paramiko's own window accounting. The daemon must
disconnect that client, its memory must stay bounded (VmRSS growth under 64 MiB; today it grows about
1 MiB per MiB sent), and another session's round trips must keep working throughout.
"""

import threading
import time

from paramiko.common import cMSG_CHANNEL_DATA
from paramiko.message import Message

from stresslib import RSSSampler, Tally, connect_retry, echo_handler, free_port, hold_handler, ping

FLOOD_BYTES = 200 << 20
RSS_GROWTH_LIMIT_MIB = 64
DEADLINE = 40.0


def test_window_ignoring_client_is_disconnected(start_daemon, services, procs, measure):
    release = threading.Event()
    sink = services(hold_handler(release))
    echo = services(echo_handler)
    daemon = start_daemon({"flood": f'permit_open: ["127.0.0.1:{sink.port}"]',
                           "other": f'permit_open: ["127.0.0.1:{echo.port}"]'})
    try:
        other_port = free_port()
        other = procs.start(daemon.ssh_args("other", "-N", "-L", f"127.0.0.1:{other_port}:127.0.0.1:{echo.port}"))
        connect_retry(("127.0.0.1", other_port), 15).close()
        ping(("127.0.0.1", other_port))

        transport = daemon.paramiko_transport("flood")
        channel = transport.open_channel("direct-tcpip", ("127.0.0.1", sink.port), ("127.0.0.1", 0), timeout=15)
        window, packet = channel.out_window_size, channel.out_max_packet_size
        chunk = min(packet, 32768)
        message = Message()
        message.add_byte(cMSG_CHANNEL_DATA)
        message.add_int(channel.remote_chanid)
        message.add_string(bytes(chunk))

        rss_before, hwm_before = daemon.rss_kib(), daemon.hwm_kib()
        sampler = RSSSampler(daemon.pid)
        sampler.start()
        sent = [0]
        send_error = [None]

        def flood():
            try:
                while sent[0] < FLOOD_BYTES and transport.is_active():
                    transport._send_user_message(message)  # no window check: that is the point
                    sent[0] += chunk
            except Exception as error:  # noqa: BLE001 - the daemon hung up on us
                send_error[0] = repr(error)

        pings = Tally()
        latencies = []
        stop_pings = threading.Event()

        def pinger():
            while not stop_pings.is_set():
                try:
                    latencies.append(ping(("127.0.0.1", other_port), timeout=10))
                    pings.add("ok")
                except Exception as error:  # noqa: BLE001
                    pings.add("failed", repr(error))
                stop_pings.wait(0.05)

        flooder = threading.Thread(target=flood, daemon=True)
        pinging = threading.Thread(target=pinger, daemon=True)
        started = time.monotonic()
        flooder.start()
        pinging.start()
        # Until the daemon disconnects us, or all of it is sent, or the deadline.
        while time.monotonic() - started < DEADLINE:
            if not flooder.is_alive() or not transport.is_active():
                break
            time.sleep(0.05)
        flood_seconds = time.monotonic() - started
        if sent[0] < FLOOD_BYTES and not flooder.is_alive():
            # The sender saw the connection fail first: give paramiko's reader a moment to see it too.
            deadline = time.monotonic() + 5
            while transport.is_active() and time.monotonic() < deadline:
                time.sleep(0.02)
        disconnected = not transport.is_active()
        sent_when_done = sent[0]
        # Let memory settle with the data still held (if it is held), then look at the peak.
        time.sleep(0.5)
        peak_rss = sampler.stop()
        hwm_after = daemon.hwm_kib() if daemon.alive() else None
        transport.close()
        flooder.join(10)
        stop_pings.set()
        pinging.join(15)
        after = None
        if daemon.alive():
            try:
                after = ping(("127.0.0.1", other_port))
            except Exception as error:  # noqa: BLE001
                after = repr(error)
    finally:
        release.set()

    growth_mib = (peak_rss - rss_before) / 1024
    measure("advertised_window", window)
    measure("max_packet", packet)
    measure("sent_MiB", sent_when_done / (1 << 20))
    measure("disconnected", disconnected)
    measure("seconds_to_disconnect_or_end", flood_seconds)
    measure("rss_before_MiB", rss_before / 1024)
    measure("rss_peak_MiB", peak_rss / 1024)
    measure("rss_growth_MiB", growth_mib)
    measure("hwm_growth_MiB", (hwm_after - hwm_before) / 1024 if hwm_after else None)
    measure("other_session_pings", dict(pings.counts))
    measure("other_session_ping_max_ms", 1000 * max(latencies) if latencies else None)

    summary = (f"sent {sent_when_done / (1 << 20):.1f} MiB past a {window}-byte window in {flood_seconds:.1f} s; "
               f"client {'disconnected' if disconnected else 'still connected'} (send error: {send_error[0]}); "
               f"daemon VmRSS {rss_before / 1024:.1f} -> peak {peak_rss / 1024:.1f} MiB (+{growth_mib:.1f} MiB); "
               f"other session: {dict(pings.counts)} {pings.examples}, after: {after}")
    assert daemon.alive(), f"portcullisd died: {daemon.describe_exit()}; {summary}"
    assert disconnected and sent_when_done < FLOOD_BYTES, f"the window-ignoring client was not disconnected: {summary}"
    assert growth_mib < RSS_GROWTH_LIMIT_MIB, f"memory grew by {growth_mib:.1f} MiB (limit {RSS_GROWTH_LIMIT_MIB}): {summary}"
    assert pings["ok"] >= 1 and pings["failed"] == 0 and isinstance(after, float), summary
    assert other.alive(), f"the other session's ssh exited: {other.stderr()}"
