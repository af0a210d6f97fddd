"""Operations (issue 12, items 2 and 3): dead peers (client_alive_interval / client_alive_count_max),
idle sessions (idle_timeout) and the Prometheus endpoint (metrics_listen), driven with stock ssh.

The shared fixture writes `limits:` as one flow mapping from its `login_grace_time` option; these
tests add their limits through that option rather than change the fixture."""

import http.client
import os
import shutil
import signal
import socket
import subprocess
import threading
import time

import pytest

from stresslib import echo_handler, free_port, make_key, pattern, wait_for


def _limits(**extra) -> str:
    """The fixture's `login_grace_time` option, carrying more `limits:` fields."""
    return "30s" + "".join(f", {name}: {value}" for name, value in extra.items())


def _session_of(daemon, key: str) -> int:
    return wait_for(lambda: next((r["session"] for r in daemon.events("auth", decision="allow", key=key)), None),
                    f"{key}'s session to authenticate")


def _ended(daemon, session: int):
    return next((r for r in daemon.events("session-end") if r["session"] == session), None)


# -- dead peers


def test_a_stopped_client_is_dropped_after_count_max_unanswered_keepalives(start_daemon, procs, measure):
    rules = 'permit_streamlocal_listen: ["%ROOT%/*.sock"]'
    daemon = start_daemon({"stuck": rules, "healthy": rules, "paused": rules},
                          login_grace_time=_limits(client_alive_interval=1, client_alive_count_max=3))
    sockets = {name: daemon.socket_root / f"{name}.sock" for name in ("stuck", "healthy", "paused")}
    clients = {}
    for name, path in sockets.items():
        # The client's own keepalives off: only the server's asks are answered.
        clients[name] = procs.start(daemon.ssh_args(name, "-N", "-o", "ServerAliveInterval=0",
                                                    "-o", "ExitOnForwardFailure=yes", "-R", f"{path}:127.0.0.1:9"))
    for name, path in sockets.items():
        wait_for(path.exists, f"{name}'s socket file")
    sessions = {name: _session_of(daemon, name) for name in sockets}

    os.kill(clients["stuck"].pid, signal.SIGSTOP)
    os.kill(clients["paused"].pid, signal.SIGSTOP)
    stopped = time.monotonic()
    try:
        # Stopped for less than interval x count_max: the keepalives it owes are answered once it runs.
        time.sleep(1.8)
        os.kill(clients["paused"].pid, signal.SIGCONT)
        wait_for(lambda: not sockets["stuck"].exists(), "the stuck client's socket file to go", timeout=15)
        took = time.monotonic() - stopped
        measure("dead_peer_dropped_after_s", took)
        # Three asks 1 s apart, then the end: about 3 to 4 s after the client stopped (plus slack).
        assert 2.5 <= took <= 6.5, f"dropped after {took:.1f} s"
        end = wait_for(lambda: _ended(daemon, sessions["stuck"]), "the stuck session's session-end record")
        assert end["reason"] == "client did not answer 3 keepalives (1 s apart)"
        # The healthy and the paused client outlast the same stretch and more.
        time.sleep(max(0.0, stopped + 7 - time.monotonic()))
        for name in ("healthy", "paused"):
            assert clients[name].alive(), f"{name} was dropped: {clients[name].stderr()}"
            assert sockets[name].exists(), f"{name}'s socket file is gone"
            assert _ended(daemon, sessions[name]) is None, _ended(daemon, sessions[name])
    finally:
        os.kill(clients["stuck"].pid, signal.SIGCONT)


def test_client_alive_interval_zero_never_asks(start_daemon, procs):
    rules = 'permit_streamlocal_listen: ["%ROOT%/*.sock"]'
    daemon = start_daemon({"stuck": rules}, login_grace_time=_limits(client_alive_interval=0))
    path = daemon.socket_root / "stuck.sock"
    client = procs.start(daemon.ssh_args("stuck", "-N", "-o", "ServerAliveInterval=0", "-R", f"{path}:127.0.0.1:9"))
    wait_for(path.exists, "the socket file")
    session = _session_of(daemon, "stuck")
    os.kill(client.pid, signal.SIGSTOP)
    try:
        time.sleep(5)
        assert path.exists() and _ended(daemon, session) is None
    finally:
        os.kill(client.pid, signal.SIGCONT)


# -- idle sessions


def test_idle_timeout_ends_a_session_without_forwarded_data(start_daemon, procs, services, measure):
    """Needs `idle_timeout` in a key entry (KeyLimits.idleTimeout's YAML field, added on another
    branch of issue 12): skipped with that reason where the config loader does not know it yet."""
    echo = services(echo_handler)
    rules = f'permit_open: ["127.0.0.1:{echo.port}"]\nidle_timeout: 2s'
    try:
        daemon = start_daemon({"alex": rules}, login_grace_time=_limits(client_alive_interval=1))
    except AssertionError as error:
        if "idle_timeout" in str(error):
            pytest.skip(f"this branch's config loader does not read idle_timeout in a key entry yet: {error}")
        raise
    local = free_port()
    client = procs.start(daemon.ssh_args("alex", "-N", "-o", "ServerAliveInterval=0", "-o", "ExitOnForwardFailure=yes",
                                         "-L", f"127.0.0.1:{local}:127.0.0.1:{echo.port}"))
    session = _session_of(daemon, "alex")
    conn = wait_for(lambda: _try_connect(local), "the -L listener")
    # Traffic every half second for 4 s (twice the idle timeout): the session stays.
    conn.settimeout(10)
    for turn in range(9):
        if turn:
            time.sleep(0.5)
        _echo_exactly(conn, b"x" * 100)
    quiet = time.monotonic()
    assert client.alive() and _ended(daemon, session) is None
    # Then nothing (the channel stays open, keepalives are answered): it ends 2 s later.
    end = wait_for(lambda: _ended(daemon, session), "the idle session to end", timeout=15)
    took = time.monotonic() - quiet
    measure("idle_ended_after_s", took)
    assert end["reason"] == "idle for 2 s (idle_timeout)"
    assert 1.8 <= took <= 5, took
    wait_for(lambda: not client.alive(), "ssh to exit")
    conn.close()


def _try_connect(port: int):
    try:
        return socket.create_connection(("127.0.0.1", port), timeout=2)
    except OSError:
        return None


# -- metrics


def _scrape(port: int, method: str = "GET", path: str = "/metrics") -> tuple[int, str, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request(method, path)
    response = conn.getresponse()
    body = response.read().decode()
    conn.close()
    return response.status, response.getheader("Content-Type") or "", body


def _value(text: str, series: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line[len(series) + 1:])
    return None


def _promtool_check(text: str):
    result = subprocess.run(["promtool", "check", "metrics"], input=text.encode(), capture_output=True, timeout=30)
    assert result.returncode == 0, f"promtool: {result.stdout.decode()}{result.stderr.decode()}\n{text}"


def _echo_exactly(conn: socket.socket, payload: bytes):
    conn.sendall(payload)
    got = bytearray()
    while len(got) < len(payload):
        chunk = conn.recv(65536)
        assert chunk, "the echo ended early"
        got += chunk
    assert bytes(got) == payload


def test_metrics_follow_sessions_channels_bytes_and_refusals(start_daemon, procs, services, workdir):
    if shutil.which("promtool") is None:
        pytest.skip("promtool is not installed (Debian package prometheus; .ci/run installs it)")
    echo = services(echo_handler)
    metrics_port = free_port()
    rules = f'permit_open: ["127.0.0.1:{echo.port}"]'
    daemon = start_daemon({"alex": rules, "bo": rules}, extra_yaml=f'metrics_listen: "127.0.0.1:{metrics_port}"')
    assert f"metrics on http://127.0.0.1:{metrics_port}/metrics" in daemon.stderr()

    status, content_type, idle = _scrape(metrics_port)
    assert status == 200 and content_type.startswith("text/plain; version=0.0.4")
    _promtool_check(idle)
    assert _value(idle, "portcullis_sessions") == 0
    assert 'portcullis_build_info{version="' in idle
    assert "alex" not in idle  # no per-key labels by default

    # A wrong key: refused, counted.
    stranger, _ = make_key(workdir / "stranger")
    args = daemon.ssh_args("alex", "-N")
    args[args.index(str(daemon.keys["alex"].private))] = str(stranger)
    refused = subprocess.run(args, capture_output=True, timeout=30)
    assert refused.returncode == 255

    # alex: three -L channels; bo: one -W channel and one refused -W.
    local = free_port()
    procs.start(daemon.ssh_args("alex", "-N", "-o", "ExitOnForwardFailure=yes",
                                "-L", f"127.0.0.1:{local}:127.0.0.1:{echo.port}"))
    conns = [wait_for(lambda: _try_connect(local), "the -L listener") for _ in range(3)]
    sizes = [100_000, 200_000, 300_000]
    for conn, size in zip(conns, sizes):
        conn.settimeout(20)
        _echo_exactly(conn, pattern(size))
    stdio = subprocess.Popen(daemon.ssh_args("bo", "-W", f"127.0.0.1:{echo.port}"),
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    w_payload = pattern(50_000, seed=3)
    stdio.stdin.write(w_payload)
    stdio.stdin.flush()
    got = b""
    while len(got) < len(w_payload):
        chunk = os.read(stdio.stdout.fileno(), 65536)
        assert chunk
        got += chunk
    assert got == w_payload
    denied = subprocess.run(daemon.ssh_args("bo", "-W", "127.0.0.1:9"), capture_output=True, timeout=30,
                            stdin=subprocess.DEVNULL)
    assert denied.returncode != 0

    # Once the refused ones are gone: several scrapers at once, while four channels are open.
    wait_for(lambda: (lambda text: _value(text, "portcullis_sessions") == 2
                      and _value(text, "portcullis_preauth_connections") == 0)(_scrape(metrics_port)[2]),
             "two sessions, none unauthenticated")
    results = []
    threads = [threading.Thread(target=lambda: results.append(_scrape(metrics_port))) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(results) == 6 and all(status == 200 for status, _, _ in results)
    busy = results[0][2]
    _promtool_check(busy)
    assert _value(busy, "portcullis_sessions") == 2
    assert _value(busy, 'portcullis_channels{kind="tcp-open"}') == 4
    assert _value(busy, 'portcullis_decisions_total{kind="tcp-open",outcome="allowed"}') == 4
    assert _value(busy, 'portcullis_decisions_total{kind="tcp-open",outcome="denied"}') == 1
    assert _value(busy, "portcullis_auth_successes_total") == len(daemon.events("auth", decision="allow")) == 3
    failures = len(daemon.events("auth", decision="deny"))
    assert failures >= 1 and _value(busy, "portcullis_auth_failures_total") == failures
    assert _value(busy, "portcullis_connection_setup_seconds_count") == 3
    assert _value(busy, "portcullis_preauth_connections") == 0
    # Bytes count as they move: every byte echoed is in while the channels are still open.
    total = sum(sizes) + len(w_payload)
    assert _value(busy, 'portcullis_forwarded_bytes_total{direction="to_client"}') == total
    assert _value(busy, 'portcullis_forwarded_bytes_total{direction="from_client"}') == total

    # The channels close: the totals stay, and match the close records.
    for conn in conns:
        conn.close()
    stdio.stdin.close()
    stdio.wait(20)
    wait_for(lambda: len(daemon.events("channel-close")) >= 4, "the channels' close records")
    done = _scrape(metrics_port)[2]
    _promtool_check(done)
    closes = daemon.events("channel-close")
    assert sum(r["bytes_to_client"] for r in closes) == total
    assert _value(done, 'portcullis_forwarded_bytes_total{direction="to_client"}') == total
    assert _value(done, 'portcullis_forwarded_bytes_total{direction="from_client"}') == total
    assert _value(done, 'portcullis_channels{kind="tcp-open"}') == 0
    wait_for(lambda: _value(_scrape(metrics_port)[2], "portcullis_sessions") == 1, "bo's session to end")

    # Only GET /metrics.
    assert _scrape(metrics_port, path="/")[0] == 404
    assert _scrape(metrics_port, method="POST")[0] == 405
    # A reload is counted by outcome.
    os.kill(daemon.pid, signal.SIGHUP)
    wait_for(lambda: _value(_scrape(metrics_port)[2], 'portcullis_reloads_total{outcome="ok"}') == 1, "the reload")


def test_metrics_per_key_labels(start_daemon, procs, services):
    echo = services(echo_handler)
    metrics_port = free_port()
    daemon = start_daemon({"alex": f'permit_open: ["127.0.0.1:{echo.port}"]'},
                          extra_yaml=f'metrics_listen: "127.0.0.1:{metrics_port}"\nmetrics_per_key: true')
    local = free_port()
    procs.start(daemon.ssh_args("alex", "-N", "-L", f"127.0.0.1:{local}:127.0.0.1:{echo.port}"))
    conn = wait_for(lambda: _try_connect(local), "the -L listener")
    conn.settimeout(10)
    _echo_exactly(conn, b"hello")
    text = _scrape(metrics_port)[2]
    assert _value(text, 'portcullis_sessions{key="alex"}') == 1
    assert _value(text, 'portcullis_channels{kind="tcp-open",key="alex"}') == 1
    conn.close()
    wait_for(lambda: _value(_scrape(metrics_port)[2], 'portcullis_forwarded_bytes_total{direction="to_client",key="alex"}') == 5,
             "alex's bytes")


def test_a_metrics_address_in_use_stops_the_start_with_a_clear_message(start_daemon):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    try:
        with pytest.raises(AssertionError) as failed:
            start_daemon({"alex": ""}, extra_yaml=f'metrics_listen: "127.0.0.1:{port}"')
        assert f"cannot start: metrics_listen 127.0.0.1:{port}: cannot listen" in str(failed.value)
    finally:
        taken.close()


# -- found by the issue 12 review ---------------------------------------------------------------

def test_silent_connections_do_not_delay_a_scrape_past_a_scrape_timeout(start_daemon):
    """16 connection slots, each held up to 5 s, and the rest queued in the listen backlog: a
    local user (or anyone who reaches metrics_listen) keeping ~80 silent connections open delays
    every scrape by ~20 s, past Prometheus' default scrape_timeout (10 s), so the daemon looks down
    to monitoring. Expected: a scrape answered within 10 s."""
    mport = free_port()
    daemon = start_daemon({"alex": 'permit_listen: ["127.0.0.1:*"]'}, extra_yaml=f"metrics_listen: 127.0.0.1:{mport}")
    stop = threading.Event()
    held: list[socket.socket] = []

    def flood():
        while not stop.is_set():
            for s in list(held):
                try:
                    if s.recv(1, socket.MSG_DONTWAIT) == b"":
                        s.close()
                        held.remove(s)
                except BlockingIOError:
                    pass
                except OSError:
                    s.close()
                    held.remove(s)
            while len(held) < 80:
                s = socket.socket()
                s.setblocking(False)
                try:
                    s.connect(("127.0.0.1", mport))
                except BlockingIOError:
                    pass
                held.append(s)
            time.sleep(0.2)

    thread = threading.Thread(target=flood, daemon=True)
    thread.start()
    try:
        time.sleep(1)
        started = time.monotonic()
        conn = http.client.HTTPConnection("127.0.0.1", mport, timeout=60)
        conn.request("GET", "/metrics")
        response = conn.getresponse()
        response.read()
        took = time.monotonic() - started
        assert response.status == 200
        assert took < 10, f"the scrape took {took:.1f} s while silent connections were held"
    finally:
        stop.set()
        thread.join()
        for s in held:
            s.close()


def test_a_request_with_bare_lf_line_ends_is_answered(start_daemon):
    """`printf 'GET /metrics HTTP/1.0\\n\\n' | nc` (bare LF, which RFC 9112 lets a server accept)
    gets nothing at all: the head is never seen as complete and the connection is dropped after
    5 s without a status (not even the 400 the code means for what is not a request)."""
    mport = free_port()
    start_daemon({"alex": 'permit_listen: ["127.0.0.1:*"]'}, extra_yaml=f"metrics_listen: 127.0.0.1:{mport}")
    conn = socket.create_connection(("127.0.0.1", mport), timeout=10)
    conn.sendall(b"GET /metrics HTTP/1.0\n\n")
    assert conn.recv(64).startswith(b"HTTP/1.1 "), "no answer to a bare-LF request"


@pytest.mark.parametrize("target", ["metrics", "control"])
def test_out_of_descriptors_a_pending_metrics_or_control_connection_does_not_spin_a_core(start_daemon, target):
    """The SSH listener pauses 0.25 s when accept() fails with EMFILE; the metrics endpoint's and
    the control socket's loops do not: poll() reports the listener readable again at once, accept()
    fails again, and the thread burns a whole core for as long as the daemon is out of descriptors
    and a connection waits (anyone who reaches metrics_listen can provide one). Measured: ~1.0 CPU
    second per second for each of the two."""
    mport = free_port()
    daemon = start_daemon({"alex": 'permit_listen: ["127.0.0.1:*"]'}, nofile=64,
                          extra_yaml=f"metrics_listen: 127.0.0.1:{mport}",
                          limits="max_startups: 500, per_source_max_startups: 500")
    held = []
    try:
        for _ in range(80):
            conn = socket.create_connection(("127.0.0.1", daemon.port))
            conn.sendall(b"SSH-2.0-review\r\n")
            held.append(conn)
        wait_for(lambda: daemon.fd_count() >= 64, "the daemon to run out of descriptors")
        if target == "metrics":
            pending = socket.create_connection(("127.0.0.1", mport))
        else:
            pending = socket.socket(socket.AF_UNIX)
            pending.connect(str(daemon.control_socket))
        before = daemon.cpu_seconds()
        time.sleep(3)
        used = daemon.cpu_seconds() - before
        pending.close()
        assert used < 0.5, f"portcullisd used {used:.2f} CPU seconds in 3 s with one {target} connection waiting"
    finally:
        for conn in held:
            conn.close()
