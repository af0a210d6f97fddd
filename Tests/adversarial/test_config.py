"""Hostile configuration (issue 11, item 6), against the release daemon: a YAML "billion laughs"
at --check and at a SIGHUP reload (the daemon keeps serving on the last good config and a later
good reload applies), a FIFO in keys_dir, a host key group or others may read, a 100 MB string,
bytes that are not UTF-8. Each is refused with file:line (or file) in well under a second."""

import os
import signal
import subprocess
import time

from rawssh import direct_tcpip, open_channel
from stresslib import daemon_binary, echo_handler, make_key, wait_for

# Ten levels of ten aliases, each in a distinct mapping key ([*l4, 5]): 10^10 nodes once expanded,
# and every key hashed whole when Yams looks for duplicate keys (the old loader spun there).
LAUGHS = "l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"l{level}: &l{level}\n" + "".join(f"  ? [*l{level - 1}, {i}]\n  : {i}\n" for i in range(10)) for level in range(1, 10))


def check(config, timeout: float = 20.0):
    """`portcullisd --check --config CONFIG`: (exit status, stderr, seconds). A check that blocks
    (a FIFO opened for reading) or spins fails the test at `timeout` instead of hanging it."""
    started = time.monotonic()
    try:
        result = subprocess.run([str(daemon_binary()), "--check", "--config", str(config)], stdin=subprocess.DEVNULL,
                                capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"portcullisd --check did not finish within {timeout} s")
    return result.returncode, result.stderr, time.monotonic() - started


def minimal_config(workdir, extra: str = "") -> "Path":
    host_key, _ = make_key(workdir / "host_key")
    config = workdir / "portcullis.yaml"
    config.write_text(f'listen: ["127.0.0.1:0"]\nhost_keys: ["{host_key}"]\nsocket_root: "{workdir}"\n{extra}')
    return config


def test_billion_laughs_is_refused_at_check_with_its_line(workdir, measure):
    config = minimal_config(workdir, LAUGHS)
    status, stderr, seconds = check(config)
    measure("check seconds", seconds)
    assert status == 1, stderr
    # The header is 3 lines, l0 line 4; each level 21 lines; the 6th alias of level 5 passes 10^6 nodes.
    assert f"{config}:100: alias *l4 stands for 144441 nodes" in stderr, stderr
    assert seconds < 1.0


def test_billion_laughs_reload_is_refused_the_daemon_keeps_serving_and_a_good_reload_applies(
        start_daemon, services, measure):
    echo = services(echo_handler)
    daemon = start_daemon({"alex": f'permit_open: ["127.0.0.1:{echo.port}"]'})
    good = daemon.config_path.read_text()
    daemon.config_path.write_text(good + LAUGHS)
    sent = time.monotonic()
    os.kill(daemon.pid, signal.SIGHUP)
    rejected = wait_for(lambda: daemon.events("daemon-reload", outcome="rejected"),
                        "the billion-laughs reload to be rejected (the reload must not wedge)", timeout=10)
    measure("reload refusal seconds", time.monotonic() - sent)
    assert time.monotonic() - sent < 1.0
    assert f"{daemon.config_path}:" in rejected[0]["error"] and "alias *l4" in rejected[0]["error"], rejected
    assert "reload rejected, the previous configuration stays in force" in daemon.stderr()
    daemon.assert_alive("after the billion-laughs reload")

    # Still serving, on the last good config.
    transport = daemon.paramiko_transport("alex")
    try:
        opened = open_channel(transport, "direct-tcpip", direct_tcpip("127.0.0.1", echo.port))
        assert opened.outcome == "opened"
        opened.channel.sendall(b"still here")
        assert opened.channel.recv(10) == b"still here"
    finally:
        transport.close()

    # The next good reload is applied: the reload path is not wedged.
    second = services(echo_handler)
    daemon.config_path.write_text(good.replace(f'"127.0.0.1:{echo.port}"', f'"127.0.0.1:{second.port}"'))
    os.kill(daemon.pid, signal.SIGHUP)
    wait_for(lambda: daemon.events("daemon-reload", outcome="applied"), "the good reload to be applied", timeout=10)
    transport = daemon.paramiko_transport("alex")
    try:
        assert open_channel(transport, "direct-tcpip", direct_tcpip("127.0.0.1", second.port)).outcome == "opened"
        assert open_channel(transport, "direct-tcpip", direct_tcpip("127.0.0.1", echo.port)).outcome == "refused"
    finally:
        transport.close()


def test_a_fifo_in_keys_dir_is_named_and_never_blocks_the_check(workdir):
    keys = workdir / "keys.d"
    keys.mkdir()
    os.mkfifo(keys / "x.yaml")
    config = minimal_config(workdir, "keys_dir: keys.d\n")
    status, stderr, seconds = check(config, timeout=10)
    assert status == 1, stderr
    assert f"{keys}/x.yaml: not a regular file (a FIFO)" in stderr, stderr
    assert seconds < 1.0


def test_a_fifo_in_keys_dir_is_refused_at_reload_without_wedging_it(start_daemon, workdir):
    keys = workdir / "keys.d"
    keys.mkdir()
    daemon = start_daemon({"alex": 'permit_listen: ["8080"]'}, extra_yaml=f'keys_dir: "{keys}"')
    os.mkfifo(keys / "x.yaml")
    os.kill(daemon.pid, signal.SIGHUP)
    rejected = wait_for(lambda: daemon.events("daemon-reload", outcome="rejected"),
                        "the reload with a FIFO in keys_dir to be rejected (reading it must not block)", timeout=10)
    assert f"{keys}/x.yaml: not a regular file (a FIFO)" in rejected[0]["error"], rejected
    (keys / "x.yaml").unlink()
    os.kill(daemon.pid, signal.SIGHUP)
    wait_for(lambda: daemon.events("daemon-reload", outcome="applied"), "the next reload to be applied", timeout=10)
    daemon.assert_alive("after the reloads")


def test_a_group_readable_host_key_is_refused_at_check_and_at_start(workdir):
    config = minimal_config(workdir)
    assert check(config)[0] == 0
    os.chmod(workdir / "host_key", 0o640)
    status, stderr, _ = check(config)
    assert status == 1, stderr
    expected = (f'{config}:2: host_keys[0] "{workdir}/host_key": UNPROTECTED PRIVATE KEY FILE: '
                "permissions 0640 let group or others at it")
    assert expected in stderr, stderr
    # The daemon refuses to start on it with the same words: --check found what the start would.
    started = subprocess.run([str(daemon_binary()), "--config", str(config)], stdin=subprocess.DEVNULL,
                             capture_output=True, text=True, timeout=20)
    assert started.returncode == 1 and expected in started.stderr, started.stderr


def test_a_reload_that_would_stop_the_next_start_is_refused(start_daemon):
    daemon = start_daemon({"alex": 'permit_listen: ["8080"]'})
    os.chmod(daemon.dir / "host_key", 0o644)
    os.kill(daemon.pid, signal.SIGHUP)
    rejected = wait_for(lambda: daemon.events("daemon-reload", outcome="rejected"),
                        "the reload with an unprotected host key to be rejected", timeout=10)
    assert f'{daemon.config_path}:2: host_keys[0] "{daemon.dir}/host_key": UNPROTECTED PRIVATE KEY FILE' \
        in rejected[0]["error"], rejected
    daemon.paramiko_transport("alex").close()
    os.chmod(daemon.dir / "host_key", 0o600)
    os.kill(daemon.pid, signal.SIGHUP)
    wait_for(lambda: daemon.events("daemon-reload", outcome="applied"), "the next reload to be applied", timeout=10)


def test_a_listen_host_that_does_not_resolve_is_refused_at_check(workdir):
    config = minimal_config(workdir)
    config.write_text(config.read_text().replace('"127.0.0.1:0"', '"127.0.0.1:0", "no-such-host.invalid:22"'))
    status, stderr, _ = check(config)
    assert status == 1, stderr
    assert f'{config}:1: listen[1] "no-such-host.invalid:22": does not resolve' in stderr, stderr


def test_a_100_mb_string_is_refused_fast(workdir, measure):
    config = minimal_config(workdir)
    with open(config, "a") as f:
        f.write('keys: "')
        chunk = "A" * (1 << 20)
        for _ in range(100):
            f.write(chunk)
        f.write('"\n')
    status, stderr, seconds = check(config)
    measure("check seconds", seconds)
    assert status == 1, stderr
    assert f"{config}: file is {config.stat().st_size} bytes, more than the 16 MiB a config file may have here" in stderr
    assert seconds < 1.0


def test_invalid_utf8_is_named_with_its_line(workdir):
    config = minimal_config(workdir)
    with open(config, "ab") as f:
        f.write(b"keys:\n  - name: caf\xc3\xa9\xff\n")
    status, stderr, _ = check(config)
    assert status == 1, stderr
    assert f"{config}:5: invalid UTF-8 (byte 0xff at column 15)" in stderr, stderr
