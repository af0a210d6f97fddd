"""Issue 13 item 1, an unprivileged daemon: `user:` (and `group:`) in the config. Started as root,
portcullisd binds and opens what needs root, then drops to that account (its supplementary groups,
its group, the user: every thread, for good) before it accepts a connection, and checks again, as
that user, what it must read and write while it runs.

Needs root (CI runs as root): each test is skipped otherwise. The account is `nobody` (group
`nogroup`): the test gives its directory to it; pytest's own directories are 0700 root, so the
workdir is opened for traversal (0755)."""

from __future__ import annotations

import grp
import os
import pwd
import re
import signal
import socket
import subprocess

import pytest

from stresslib import daemon_binary, echo_handler, echo_round_trip, wait_for

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="starts portcullisd as root")

USER = "nobody"
# Groups the starting process holds that the account does not: they must be gone after the drop.
EXTRA_GROUPS = [4, 20]


def account():
    entry = pwd.getpwnam(USER)
    return entry.pw_uid, entry.pw_gid


def account_groups() -> set[int]:
    uid, gid = account()
    return set(os.getgrouplist(USER, gid))


def as_root_for(workdir, index: int = 0, then: str = "", groups=EXTRA_GROUPS, args: str = "") -> list[str]:
    """A wrapper for start_daemon: gives the daemon's directory (workdir/dN, written before it
    starts) to the account, runs `then` (shell, "$D" is the directory), and starts portcullisd as
    root holding the extra supplementary groups."""
    uid, gid = account()
    os.chmod(workdir, 0o755)
    directory = workdir / f"d{index}"
    script = f'D="{directory}"; chown -R {uid}:{gid} "$D" && {then or "true"} && exec setpriv --groups {",".join(map(str, groups))} -- "$@" {args}'
    return ["/bin/sh", "-c", script, "sh"]


def status_fields(path: str) -> dict[str, str]:
    fields = {}
    with open(path) as status:
        for line in status:
            name, _, value = line.partition(":")
            fields[name] = value.strip()
    return fields


def expect_refusal(daemon, timeout: float = 20.0) -> str:
    """The daemon exits 1 at start; its log."""
    daemon.expect_exit = True
    wait_for(lambda: daemon.process.poll() is not None, "portcullisd to refuse to start", timeout)
    assert daemon.process.returncode == 1, daemon.stderr()
    assert "listening on" not in daemon.stderr()
    return daemon.stderr()


def test_root_start_drops_to_the_user_in_every_thread_and_serves(start_daemon, workdir, services, procs):
    uid, gid = account()
    # The control: what the wrapper's setpriv gives the process it starts (so that their absence
    # in the daemon shows the drop, not the harness).
    control = subprocess.run(["setpriv", "--groups", ",".join(map(str, EXTRA_GROUPS)), "--", "cat", "/proc/self/status"],
                             capture_output=True, text=True, check=True)
    held = re.search(r"^Groups:\s*(.*)$", control.stdout, re.M).group(1).split()
    assert {str(g) for g in EXTRA_GROUPS} <= set(held)
    echo = services(echo_handler)
    daemon = start_daemon({"alex": 'permit_streamlocal_listen: ["%ROOT%/alex/*.sock"]'},
                          extra_yaml=f"user: {USER}", wrapper=as_root_for(workdir))
    log = daemon.stderr()
    assert f"running as user {USER} (uid {uid}), group {grp.getgrgid(gid).gr_name} (gid {gid})" in log
    assert "running as root" not in log
    wanted_groups = account_groups()
    tasks = os.listdir(f"/proc/{daemon.pid}/task")
    assert len(tasks) > 1, "the daemon runs threads: each must have dropped"
    for path in [f"/proc/{daemon.pid}/status"] + [f"/proc/{daemon.pid}/task/{t}/status" for t in tasks]:
        fields = status_fields(path)
        assert fields["Uid"].split() == [str(uid)] * 4, (path, fields["Uid"])
        assert fields["Gid"].split() == [str(gid)] * 4, (path, fields["Gid"])
        groups = {int(g) for g in fields["Groups"].split()}
        assert groups == wanted_groups, (path, fields["Groups"])
        assert not groups & set(EXTRA_GROUPS) - wanted_groups
        assert int(fields["CapEff"], 16) == 0 and int(fields["CapPrm"], 16) == 0, (path, fields["CapEff"])

    # What it must still write or remove is the user's.
    assert os.stat(daemon.audit_log).st_uid == uid
    assert os.stat(daemon.control_socket).st_uid == uid
    assert os.stat(daemon.control_socket).st_mode & 0o777 == 0o600

    # An -R socket forward works, and its socket file is the user's.
    path = f"{daemon.socket_root}/alex/web.sock"
    ssh = procs.start(daemon.ssh_args("alex", "-N", "-o", "ExitOnForwardFailure=yes",
                                      "-R", f"{path}:127.0.0.1:{echo.port}"))
    wait_for(lambda: os.path.exists(path) or not ssh.alive(), "the -R socket")
    assert ssh.alive(), ssh.stderr()
    assert os.stat(path).st_uid == uid
    assert echo_round_trip(path, b"through the dropped daemon" * 100, family=socket.AF_UNIX) == \
        b"through the dropped daemon" * 100

    # The control socket and a reload work after the drop (config read as the user).
    status = daemon.policyctl("status")
    assert status.returncode == 0, status.stderr
    assert f"(pid {daemon.pid})" in status.stdout
    reload = daemon.policyctl("reload")
    assert reload.returncode == 0, reload.stderr + reload.stdout
    assert "reloaded" in reload.stdout
    # SIGUSR1 reopens the audit log as the user: records still arrive.
    os.kill(daemon.pid, signal.SIGUSR1)
    assert daemon.policyctl("reload").returncode == 0
    wait_for(lambda: len(daemon.events("daemon-reload", outcome="applied")) >= 2, "both reloads audited")
    ssh.end()
    wait_for(lambda: not os.path.exists(path), "the -R socket removed by the user")
    daemon.expect_exit = True
    assert daemon.stop() == 0
    assert not os.path.exists(daemon.control_socket), "the control socket is removed at stop"


@pytest.mark.parametrize("what, then, named", [
    ("host key", 'chown root:root "$D/host_key"', 'host_keys[0] "$D/host_key": cannot read: permission denied'),
    ("socket_root", 'chown root:root "$D/sockets"', "socket_root $D/sockets: user nobody cannot create sockets there"),
    ("config", 'chown root:root "$D/portcullis.yaml" && chmod 600 "$D/portcullis.yaml"',
     "the configuration cannot be read as user nobody (every reload reads it): $D/portcullis.yaml"),
    ("audit log directory", 'mkdir "$D/log" && chmod 755 "$D/log"',
     "the audit log cannot be opened as user nobody (it is opened with that user's rights; give it and its "
     "directory to nobody): $D/log/audit.jsonl: open: Permission denied"),
    ("pid file directory", 'mkdir "$D/run"',
     "--pid-file $D/run/p.pid: user nobody cannot write its directory $D/run"),
], ids=["host-key", "socket-root", "config", "audit-dir", "pid-dir"])
def test_what_the_user_cannot_reach_stops_the_start_naming_it(start_daemon, workdir, what, then, named):
    directory = workdir / "d0"
    audit_log = directory / "log" / "audit.jsonl" if what == "audit log directory" else None
    args = f'--pid-file "{directory}/run/p.pid"' if what == "pid file directory" else ""
    daemon = start_daemon({"alex": ""}, extra_yaml=f"user: {USER}", wrapper=as_root_for(workdir, then=then, args=args),
                          wait_listening=False, audit_log=audit_log)
    log = expect_refusal(daemon)
    assert "portcullisd: cannot start: " in log
    assert named.replace("$D", str(directory)) in log, log
    if what == "pid file directory":
        # Written only after the checks, as the account: a refused start leaves none behind.
        assert not (directory / "run" / "p.pid").exists()


def test_a_non_root_start_naming_another_user_is_refused(start_daemon, workdir):
    uid, gid = account()
    os.chmod(workdir, 0o755)
    wrapper = ["/bin/sh", "-c", f'chown -R {uid}:{gid} "{workdir / "d0"}" && exec setpriv --reuid {uid} --regid {gid} '
               f'--clear-groups -- "$@"', "sh"]
    daemon = start_daemon({"alex": ""}, extra_yaml="user: daemon", wrapper=wrapper, wait_listening=False)
    log = expect_refusal(daemon)
    assert "cannot start: user: daemon" in log
    assert f"started as {USER} (uid {uid})" in log
    assert "only root can become another user" in log


def test_user_naming_the_user_running_it_is_a_no_op(start_daemon, workdir):
    uid, gid = account()
    os.chmod(workdir, 0o755)
    wrapper = ["/bin/sh", "-c", f'chown -R {uid}:{gid} "{workdir / "d0"}" && exec setpriv --reuid {uid} --regid {gid} '
               f'--clear-groups -- "$@"', "sh"]
    daemon = start_daemon({"alex": ""}, extra_yaml=f"user: {USER}", wrapper=wrapper)
    assert "running as" not in daemon.stderr()
    assert status_fields(f"/proc/{daemon.pid}/status")["Uid"].split() == [str(uid)] * 4
    assert daemon.policyctl("status").returncode == 0


def test_root_without_user_warns_and_says_what_to_do(start_daemon):
    daemon = start_daemon({"alex": ""})
    warning = [line for line in daemon.stderr().splitlines() if "running as root" in line]
    assert warning and "set user:" in warning[0] and str(daemon.config_path) in warning[0], daemon.stderr()


def test_a_reload_that_changes_user_takes_effect_at_the_next_start(start_daemon):
    daemon = start_daemon({"alex": ""})
    daemon.config_path.write_text(f"user: {USER}\n" + daemon.config_path.read_text())
    result = daemon.policyctl("reload")
    assert result.returncode == 0, result.stderr
    wait_for(lambda: "user and group changes take effect at the next start" in daemon.stderr(), "the notice")
    assert status_fields(f"/proc/{daemon.pid}/status")["Uid"].split() == ["0"] * 4


def test_an_unknown_user_or_group_is_a_config_error_at_its_line(workdir):
    config = workdir / "p.yaml"
    config.write_text("host_keys: [k]\nsocket_root: /tmp\nuser: no-such-user-pcs\n")
    check = subprocess.run([str(daemon_binary()), "--check", "--config", str(config)], capture_output=True, text=True)
    assert check.returncode == 1
    assert f'{config}:3: user "no-such-user-pcs": no such user on this system' in check.stderr
    config.write_text("host_keys: [k]\nsocket_root: /tmp\nuser: nobody\ngroup: no-such-group-pcs\n")
    policyctl = daemon_binary().parent / "policyctl"
    validate = subprocess.run([str(policyctl), "validate", "--config", str(config)], capture_output=True, text=True)
    assert validate.returncode == 1
    assert f'{config}:4: group "no-such-group-pcs": no such group on this system' in validate.stdout


def test_the_control_socket_keeps_control_group_after_the_drop(start_daemon, workdir):
    uid, _ = account()
    group = grp.getgrnam("daemon")
    daemon = start_daemon({"alex": ""}, extra_yaml=f"user: {USER}\ncontrol_group: daemon", wrapper=as_root_for(workdir))
    info = os.stat(daemon.control_socket)
    assert (info.st_uid, info.st_gid, info.st_mode & 0o777) == (uid, group.gr_gid, 0o660)
    assert daemon.policyctl("status").returncode == 0
