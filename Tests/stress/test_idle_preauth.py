"""Issue 10, sections 7 and 8: idle pre-authentication connections cost nothing between events.

3,000 TCP connections to the SSH port, half of them having sent their SSH identification string and
nothing more (so they sit in key exchange), half not even that, held for HOLD seconds (less than
login_grace_time, 30 s). Over the hold the daemon's CPU must be near zero: under 10% of one core,
counting time runnable but waiting for a CPU too (the machine is shared; see stresslib.CPUWindow).
The issue measured 93%; it grows with the square of the count. A legitimate login during the flood
must still be quick (under 1 s).
"""

import socket
import subprocess
import time

from stresslib import CPUWindow, echo_handler, raise_nofile, wait_for

CONNECTIONS = 3000
HOLD = 5.0
CPU_LIMIT = 10.0
LOGIN_LIMIT = 1.0
BATCH = 100  # the daemon's listen backlog is 128: with SYN cookies, a flood beyond it can lose connections


def test_idle_preauth_connections_cost_nothing(start_daemon, services, measure):
    have = raise_nofile(CONNECTIONS + 1000)
    assert have >= CONNECTIONS + 200, f"this process may open only {have} files"
    echo = services(echo_handler)
    daemon = start_daemon({"user": f'permit_open: ["127.0.0.1:{echo.port}"]'},
                          nofile=4 * CONNECTIONS + 100,
                          # Admission (issue 11) refuses all but a few pre-auth connections by
                          # default; lifted here to measure what holding 3,000 of them costs.
                          login_grace_time="30s, max_startups: 10000, per_source_max_startups: none")
    fds_start = daemon.fd_count()
    sessions_before = _session_starts(daemon)

    held: list[socket.socket] = []
    opened = time.monotonic()
    try:
        # In batches, each accepted before the next (a connection dropped from a full backlog is
        # not the daemon's cost). Every other connection sends its identification string: half
        # wait for the server's KEXINIT to be answered, half have not even identified themselves.
        while len(held) < CONNECTIONS:
            for _ in range(min(BATCH, CONNECTIONS - len(held))):
                s = socket.create_connection(("127.0.0.1", daemon.port), timeout=10)
                if len(held) % 2 == 0:
                    s.sendall(b"SSH-2.0-stress_idle\r\n")
                s.setblocking(False)
                held.append(s)
            try:
                wait_for(lambda: not daemon.alive() or daemon.fd_count() >= fds_start + len(held)
                         or _session_starts(daemon) - sessions_before >= len(held),
                         f"the daemon to accept {len(held)} connections", 20, interval=0.05)
            except AssertionError:
                closed = sum(not _still_open(s) for s in held)
                raise AssertionError(
                    f"the daemon took only {_session_starts(daemon) - sessions_before} of {len(held)} connections "
                    f"in 20 s (it holds {daemon.fd_count()} descriptors, started with {fds_start}; it closed "
                    f"{closed} of ours); this test needs {CONNECTIONS} idle pre-auth connections held "
                    f"(issue 10, section 8)") from None
        all_in = time.monotonic() - opened
        assert daemon.alive(), f"portcullisd died taking the connections: {daemon.describe_exit()}"
        fds_held = daemon.fd_count()
        window = CPUWindow(daemon.pid).start()
        time.sleep(HOLD)
        window.stop()
        # A legitimate login and round trip in the middle of it all (with the kernel's TCP counters,
        # so that a slow one says whether a SYN was dropped or retransmitted on the way).
        tcp_before = _tcp_counters()
        started = time.monotonic()
        result = subprocess.run(daemon.ssh_args("user", "-W", f"127.0.0.1:{echo.port}"),
                                input=b"still here\n", capture_output=True, timeout=60)
        login_seconds = time.monotonic() - started
        tcp_during = {name: value - tcp_before.get(name, 0) for name, value in _tcp_counters().items()}
        login_ok = result.returncode == 0 and result.stdout == b"still here\n"
        sessions = _session_starts(daemon) - sessions_before
        still_open = sum(_still_open(s) for s in held)
    finally:
        for s in held:
            s.close()

    measure("connections_accepted_s", all_in)
    measure("daemon_fds_held", fds_held)
    measure("cpu_percent_idle_hold", window.percent)
    measure("cpu_demand_percent_idle_hold", window.demand)
    measure("login_s", login_seconds)
    measure("login_ok", login_ok)
    summary = (f"{CONNECTIONS} idle pre-auth connections ({sessions} sessions started, {still_open} still open, "
               f"all accepted after {all_in:.1f} s, daemon holding {fds_held} descriptors): daemon CPU over "
               f"{window.seconds:.1f} s: {window}; a legitimate login took {login_seconds:.2f} s "
               f"({'ok' if login_ok else 'FAILED: ' + result.stderr.decode(errors='replace')[-200:]}); "
               f"kernel TCP counters during the login: {tcp_during}")
    assert daemon.alive(), f"portcullisd died: {daemon.describe_exit()}; {summary}"
    assert still_open >= CONNECTIONS * 0.99, f"the daemon dropped idle connections before the grace time: {summary}"
    assert window.demand < CPU_LIMIT, f"idle pre-auth connections cost CPU: {summary}"
    assert login_ok and login_seconds < LOGIN_LIMIT, f"a login during the flood was slow or failed: {summary}"


def _session_starts(daemon) -> int:
    try:
        return daemon.audit_log.read_text(errors="replace").count('"event":"session-start"')
    except FileNotFoundError:
        return 0


def _still_open(s: socket.socket) -> bool:
    """True unless the daemon closed the connection (EOF or reset) - data waiting is fine."""
    try:
        data = s.recv(65536, socket.MSG_PEEK)
        if data == b"":
            return False
        # Drain what the daemon sent (banner, KEXINIT) and look again for an EOF behind it.
        s.recv(65536)
        return s.recv(1, socket.MSG_PEEK) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False


def _tcp_counters() -> dict[str, int]:
    """The machine's listen-queue drops and retransmissions (/proc/net/netstat, /proc/net/snmp)."""
    wanted = {"ListenOverflows", "ListenDrops", "TCPSynRetrans", "TCPTimeouts", "RetransSegs"}
    counters: dict[str, int] = {}
    for path in ("/proc/net/netstat", "/proc/net/snmp"):
        try:
            lines = open(path).read().splitlines()
        except OSError:
            continue
        for names, values in zip(lines[0::2], lines[1::2]):
            for name, value in zip(names.split()[1:], values.split()[1:]):
                if name in wanted and value.lstrip("-").isdigit():
                    counters[name] = int(value)
    return counters
