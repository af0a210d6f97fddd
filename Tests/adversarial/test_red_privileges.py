"""Red-team findings on issue 13 (the unprivileged daemon): each test fails today.

1. The audit log is opened (O_CREAT, symlinks followed) and then chown()ed (symlinks followed) by
   root, before the drop, in a directory the account owns (the start checks insist it can write
   there). The account plants `audit.jsonl -> /any/path`: the next start, as root, creates that
   file and gives it to the account. With /etc/ld.so.preload (or a systemd unit, a profile.d
   script, ...) that is root for whoever holds the account.
2. Deploy/logrotate/portcullis re-creates the log `create 0600 root root`: the daemon, no longer
   root, cannot reopen it on SIGUSR1, writes on into audit.jsonl.1, and audit.jsonl (which
   fail2ban and `policyctl audit` read) stays empty until a restart.

Needs root (each test is skipped otherwise); the account is `nobody`, as in test_deploy_privileges."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stresslib import wait_for

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="starts portcullisd as root")

USER = "nobody"
REPO = Path(__file__).resolve().parents[2]


def account():
    entry = pwd.getpwnam(USER)
    return entry.pw_uid, entry.pw_gid


def as_root_for(workdir, index: int = 0, then: str = "", args: str = "") -> list[str]:
    """Gives workdir/dN to the account, runs `then` as the account ("$D" is the directory), then
    starts portcullisd as root."""
    uid, gid = account()
    os.chmod(workdir, 0o755)
    directory = workdir / f"d{index}"
    script = (f'D="{directory}"; export D; chown -R {uid}:{gid} "$D" && '
              f'setpriv --reuid {uid} --regid {gid} --clear-groups -- /bin/sh -c \'{then or "true"}\' && '
              f'exec "$@" {args}')
    return ["/bin/sh", "-c", script, "sh"]


def start_after_planting(start_daemon, workdir, then: str):
    """Starts portcullisd as root with user: once the account has run `then` in its directory, and
    waits until it listens or refuses (either is an outcome the test then inspects)."""
    daemon = start_daemon({"alex": ""}, extra_yaml=f"user: {USER}", wrapper=as_root_for(workdir, then=then),
                          wait_listening=False)
    wait_for(lambda: "listening on" in daemon.stderr() or daemon.process.poll() is not None,
             "portcullisd to start or refuse", timeout=20)
    if daemon.process.poll() is not None:
        daemon.expect_exit = True
    return daemon


def test_red_audit_log_symlink_planted_by_the_account_is_not_followed_by_root(start_daemon, workdir):
    uid, _ = account()
    # A directory only root may enter: nothing the account does should create or own a file in it.
    vault = workdir / "vault"
    vault.mkdir(mode=0o700)
    victim = vault / "ld.so.preload"
    daemon = start_after_planting(start_daemon, workdir, f'ln -s {victim} "$D/audit.jsonl"')
    created = victim.exists()
    owner = os.stat(victim).st_uid if created else None
    assert not created, (f"root followed the account's symlink {daemon.audit_log} -> {victim}: created it "
                         f"(owner uid {owner}, the account is uid {uid}); daemon log:\n{daemon.stderr()}")


def test_red_shipped_logrotate_leaves_the_dropped_daemon_able_to_write_the_new_log(start_daemon, workdir):
    logrotate = shutil.which("logrotate")
    if not logrotate:
        pytest.skip("logrotate is not installed (apt-get install logrotate)")
    uid, _ = account()
    directory = workdir / "d0"
    pid_file = directory / "run" / "portcullisd.pid"
    daemon = start_daemon({"alex": ""}, extra_yaml=f"user: {USER}",
                          wrapper=as_root_for(workdir, then='mkdir "$D/run"', args=f'--pid-file "{pid_file}"'))
    wait_for(lambda: pid_file.exists(), "the pid file")
    # The shipped snippet, pointed at this daemon's log and pid file.
    text = (REPO / "Deploy/logrotate/portcullis").read_text()
    text = text.replace("/var/log/portcullis/audit.jsonl", str(daemon.audit_log))
    text = text.replace("/run/portcullis/portcullisd.pid", str(pid_file))
    config = workdir / "logrotate.conf"
    config.write_text(text)
    rotate = subprocess.run([logrotate, "-f", "-s", str(workdir / "logrotate.state"), str(config)],
                            capture_output=True, text=True)
    assert rotate.returncode == 0, rotate.stderr
    assert Path(str(daemon.audit_log) + ".1").exists()
    # The daemon reopened (SIGUSR1 from postrotate); a reload now must be recorded in the new log.
    time.sleep(1)
    assert daemon.policyctl("reload").returncode == 0
    wait_for(lambda: daemon.events("daemon-reload") or '"daemon-reload"' in Path(str(daemon.audit_log) + ".1").read_text(),
             "the reload's record in either file")
    new = daemon.audit_log.read_text()
    info = daemon.audit_log.stat()
    assert '"event":"daemon-reload"' in new, (
        f"after the shipped logrotate ran, {daemon.audit_log} (owner uid {info.st_uid}, mode {oct(info.st_mode & 0o777)}) "
        f"has no record of the reload: the daemon (uid {uid}) could not reopen it; log:\n{daemon.stderr()}")


def test_red_pid_file_swapped_for_a_symlink_before_the_chown_does_not_give_root_files_away(start_daemon, workdir):
    """3. The pid file is written by root (rename into place), then chown()ed by path, in a
    directory the account must be able to write. The account, renaming a symlink over the pid
    file in a loop, has root chown whatever file it names (any existing file: /etc/passwd)."""
    uid, gid = account()
    vault = workdir / "vault"
    vault.mkdir(mode=0o700)
    victim = vault / "passwd"
    victim.write_text("root:x:0:0:root:/root:/bin/bash\n")
    os.chmod(victim, 0o644)
    os.chmod(workdir, 0o755)
    run = workdir / "run"
    run.mkdir()
    os.chown(run, uid, gid)
    pid_file = run / "portcullisd.pid"
    # A tight loop (no fork per try): a symlink renamed over the pid file, again and again.
    loop = (f"import os\nos.chdir({str(run)!r})\ni = 0\n"
            f"while not os.path.exists({str(workdir / 'stop')!r}):\n"
            f"    name = 'l.%d' % i\n    os.symlink({str(victim)!r}, name)\n"
            f"    os.rename(name, 'portcullisd.pid')\n    i += 1\n")
    racer = subprocess.Popen(["setpriv", "--reuid", str(uid), "--regid", str(gid), "--clear-groups", "--",
                              sys.executable, "-c", loop])
    try:
        for attempt in range(30):
            daemon = start_daemon({"alex": ""}, extra_yaml=f"user: {USER}",
                                  wrapper=as_root_for(workdir, index=attempt, args=f'--pid-file "{pid_file}"'),
                                  wait_listening=False)
            daemon.expect_exit = True
            wait_for(lambda: "listening on" in daemon.stderr() or daemon.process.poll() is not None,
                     "portcullisd to start or refuse", timeout=20)
            daemon.process.terminate()
            daemon.process.wait(10)
            owner = os.stat(victim).st_uid
            assert owner == 0, (f"start {attempt + 1}: root chowned {victim} (a root file in a 0700 root directory) "
                                f"to uid {owner} through the account's symlink at {pid_file}; log:\n{daemon.stderr()}")
    finally:
        (workdir / "stop").touch()
        racer.wait(10)


def test_red_audit_log_symlink_to_an_existing_root_file_is_not_cut_back_by_root(start_daemon, workdir):
    """4. The same symlink to an existing root file without a newline: root's torn-line recovery
    moves its bytes aside (the file is emptied), writes audit records into it and gives it away."""
    vault = workdir / "vault"
    vault.mkdir(mode=0o700)
    victim = vault / "secret"
    victim.write_bytes(b"precious-bytes-without-a-newline")
    os.chmod(victim, 0o600)
    daemon = start_after_planting(start_daemon, workdir, f'ln -s {victim} "$D/audit.jsonl"')
    info = os.stat(victim)
    assert victim.read_bytes() == b"precious-bytes-without-a-newline" and info.st_uid == 0, (
        f"{victim} now holds {victim.read_bytes()[:80]!r}..., owner uid {info.st_uid}; log:\n{daemon.stderr()}")


def test_red_rotated_sibling_symlink_does_not_let_root_rewrite_a_root_file(start_daemon, workdir):
    """5. audit.jsonl empty and audit.jsonl.1 -> a root file of one line (/etc/hostname,
    /etc/machine-id): root's start-up recovery reads that line as a torn record, moves it aside
    and writes an audit-recovered record into the root file in its place."""
    vault = workdir / "vault"
    vault.mkdir(mode=0o700)
    victim = vault / "machine-id"
    victim.write_text("0123456789abcdef0123456789abcdef\n")
    os.chmod(victim, 0o444)
    daemon = start_after_planting(start_daemon, workdir, f': > "$D/audit.jsonl" && ln -s {victim} "$D/audit.jsonl.1"')
    assert victim.read_text() == "0123456789abcdef0123456789abcdef\n", (
        f"{victim} now holds {victim.read_text()[:100]!r}...; log:\n{daemon.stderr()}")


def test_red_check_finds_what_stops_the_start_as_the_user(workdir):
    """6. README: `portcullisd --check` (or `policyctl validate`) "finds what would stop a start
    too". With user:, a socket_root the account cannot write stops every start, but --check and
    validate both say OK (the install's next steps run --check before `systemctl enable --now`)."""
    from stresslib import daemon_binary, make_key
    os.chmod(workdir, 0o755)
    root_only = workdir / "sockets"
    root_only.mkdir(mode=0o700)
    host_key, _ = make_key(workdir / "host_key")
    uid, gid = account()
    os.chown(host_key, uid, gid)
    config = workdir / "p.yaml"
    config.write_text(f'listen: ["127.0.0.1:1"]\nhost_keys: ["{host_key}"]\nsocket_root: "{root_only}"\n'
                      f'audit_log: off\ncontrol_socket: off\nuser: {USER}\nkeys: []\n')
    check = subprocess.run([str(daemon_binary()), "--check", "--config", str(config)], capture_output=True, text=True)
    start = subprocess.run([str(daemon_binary()), "--config", str(config)], capture_output=True, text=True, timeout=20)
    assert start.returncode == 1 and "cannot create sockets there" in start.stderr, start.stderr
    assert check.returncode == 1, f"--check said {check.stdout.strip()!r}, but the start said: {start.stderr.strip()}"
    assert "cannot create sockets there" in check.stderr, check.stderr
    from stresslib import policyctl_binary
    validate = subprocess.run([str(policyctl_binary()), "validate", "--config", str(config)], capture_output=True, text=True)
    assert validate.returncode == 1 and "cannot create sockets there" in validate.stdout, validate.stdout + validate.stderr


def test_red_policyctl_reload_signals_only_portcullisd(start_daemon, workdir):
    """7. After the drop the pid file is the account's (given to it so that it can remove it).
    The account writes another pid there; root's `policyctl reload --pid-file` (and the shipped
    logrotate's postrotate, with SIGUSR1) signals that process: SIGHUP/SIGUSR1 kill most."""
    from stresslib import policyctl_binary
    directory = workdir / "d0"
    pid_file = directory / "run" / "portcullisd.pid"
    daemon = start_daemon({"alex": ""}, extra_yaml=f"user: {USER}",
                          wrapper=as_root_for(workdir, then='mkdir "$D/run"', args=f'--pid-file "{pid_file}"'))
    wait_for(lambda: pid_file.exists(), "the pid file")
    victim = subprocess.Popen(["sleep", "300"])
    try:
        uid, gid = account()
        subprocess.run(["setpriv", "--reuid", str(uid), "--regid", str(gid), "--clear-groups", "--",
                        "/bin/sh", "-c", f'echo {victim.pid} > "{pid_file}"'], check=True)
        subprocess.run([str(policyctl_binary()), "reload", "--pid-file", str(pid_file)], capture_output=True, timeout=30)
        time.sleep(0.5)
        assert victim.poll() is None, f"root's policyctl reload killed pid {victim.pid} (sleep, not portcullisd): status {victim.returncode}"
    finally:
        victim.kill()
        victim.wait()


def test_red_socket_record_symlink_does_not_make_root_chown_its_target(start_daemon, workdir):
    """8. Before the drop root chown()s socket_root/.portcullis-sockets by path (following a
    symlink); socket_root is the account's. The account makes it a symlink to any existing file
    (/etc/shadow): root gives that file to the account, then the start fails (the sweep, as the
    account, refuses the symlink), too late. Deterministic: no race."""
    vault = workdir / "vault"
    vault.mkdir(mode=0o700)
    victim = vault / "shadow"
    victim.write_text("root:$6$hash:19000:0:99999:7:::\n")
    os.chmod(victim, 0o640)
    daemon = start_after_planting(start_daemon, workdir, f'ln -s {victim} "$D/sockets/.portcullis-sockets"')
    owner = os.stat(victim).st_uid
    assert owner == 0, f"root chowned {victim} to uid {owner} through socket_root's record symlink; log:\n{daemon.stderr()}"
