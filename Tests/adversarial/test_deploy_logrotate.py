"""The shipped logrotate file (Deploy/logrotate/portcullis: `make install` and the Debian package
install the same one) as logrotate runs it, pointed at a test daemon's log and pid file.

- A daemon running as root (no user:) gets its log rotated too, reopens on SIGUSR1 and writes the
  new file itself (root's, 0600), the hash chain going on across the two files (the dropped daemon's
  case is test_red_privileges' test_red_shipped_logrotate_...).
- The postrotate signals only portcullisd: the pid file is the daemon account's, which may write any
  pid in it; a pid of another program is left alone (SIGUSR1 ends most programs)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from stresslib import policyctl_binary, wait_for

REPO = Path(__file__).resolve().parents[2]


def logrotate_binary() -> str:
    binary = shutil.which("logrotate")
    if not binary:
        pytest.skip("logrotate is not installed (apt-get install logrotate)")
    return binary


def shipped(workdir: Path, log: Path, pid_file: Path) -> Path:
    """The shipped snippet with this test's log and pid file in place of /var/log and /run."""
    text = (REPO / "Deploy/logrotate/portcullis").read_text()
    assert "/var/log/portcullis/audit.jsonl {" in text and "/run/portcullis/portcullisd.pid" in text
    text = text.replace("/var/log/portcullis/audit.jsonl", str(log)).replace("/run/portcullis/portcullisd.pid", str(pid_file))
    config = workdir / "logrotate.conf"
    config.write_text(text)
    return config


def rotate(workdir: Path, config: Path) -> subprocess.CompletedProcess:
    return subprocess.run([logrotate_binary(), "-f", "-s", str(workdir / "logrotate.state"), str(config)],
                          capture_output=True, text=True, timeout=60)


def test_shipped_logrotate_serves_a_daemon_running_as_root(start_daemon, workdir):
    if os.geteuid() != 0:
        pytest.skip("the daemon runs as root here")
    logrotate_binary()
    os.chmod(workdir, 0o755)
    pid_file = workdir / "run" / "portcullisd.pid"
    pid_file.parent.mkdir()
    daemon = start_daemon({"alex": ""}, wrapper=["/bin/sh", "-c", f'exec "$@" --pid-file "{pid_file}"', "sh"])
    wait_for(lambda: pid_file.exists(), "the pid file")
    os.chmod(daemon.dir, 0o750)  # as /var/log/portcullis
    result = rotate(workdir, shipped(workdir, daemon.audit_log, pid_file))
    assert result.returncode == 0, result.stderr
    rotated = Path(str(daemon.audit_log) + ".1")
    assert rotated.exists() and '"event"' in rotated.read_text()
    # Reopened on SIGUSR1: the reload's record lands in a new audit.jsonl that the daemon made.
    wait_for(lambda: daemon.audit_log.exists(), "the daemon to make the new audit.jsonl")
    assert daemon.policyctl("reload").returncode == 0
    wait_for(lambda: '"event":"daemon-reload"' in daemon.audit_log.read_text(), "the reload's record in the new log")
    info = daemon.audit_log.stat()
    assert (info.st_uid, info.st_mode & 0o777) == (0, 0o600)
    for path in (rotated, daemon.audit_log):
        verify = subprocess.run([str(policyctl_binary()), "audit", "verify", str(path)], capture_output=True, text=True)
        assert verify.returncode == 0, f"{path}: {verify.stdout}{verify.stderr}"
    assert '"event":"daemon-reload"' not in rotated.read_text()


def test_shipped_logrotate_signals_no_other_program_named_in_the_pid_file(workdir):
    logrotate_binary()
    log = workdir / "audit.jsonl"
    log.write_text('{"event":"x"}\n')
    pid_file = workdir / "portcullisd.pid"
    # What the daemon's account could write there: the pid of anything.
    victim = subprocess.Popen(["sleep", "300"])
    try:
        pid_file.write_text(f"{victim.pid}\n")
        result = rotate(workdir, shipped(workdir, log, pid_file))
        assert result.returncode == 0, result.stderr
        assert Path(str(log) + ".1").exists()
        try:
            victim.wait(0.5)
        except subprocess.TimeoutExpired:
            pass
        assert victim.poll() is None, f"the postrotate signalled pid {victim.pid} (sleep, not portcullisd): status {victim.returncode}"
    finally:
        victim.kill()
        victim.wait()
