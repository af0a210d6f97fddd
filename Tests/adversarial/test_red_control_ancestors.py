"""The control socket's directories, every one up to /, as sshd's StrictModes checks them.

With control_socket /x/open/sub/c.sock and /x/open mode 0777, anyone may rename `sub` away, make
their own `sub` with a socket in it and answer policyctl in the daemon's place (`policyctl reload`
printing "accepted" for a reload that never happened). The direct parent alone was checked: the
daemon started. It now refuses to, naming the directory and why; a sticky directory (/tmp, 1777
root) passes, as do directories of root or of the daemon's own account."""

from __future__ import annotations

import os
import pwd
import re

import pytest


@pytest.mark.parametrize("mode, why", [(0o777, "may be written by others \\(mode 777, no sticky bit\\)"),
                                       (0o775, "may be written by its group \\(mode 775, no sticky bit\\)")])
def test_a_writable_directory_two_levels_up_stops_the_start(start_daemon, workdir, mode, why):
    os.chmod(workdir, 0o755)
    open_dir = workdir / "open"
    (open_dir / "sub").mkdir(parents=True)
    os.chmod(open_dir, mode)
    os.chmod(open_dir / "sub", 0o755)
    socket_path = open_dir / "sub" / "control.sock"
    with pytest.raises(AssertionError, match=f"control_socket {re.escape(str(socket_path))}: {re.escape(str(open_dir))} {why}: whoever can write it "
                                             "could rename what is below it away"):
        start_daemon({"alex": ""}, control_socket=socket_path)
    assert not socket_path.exists()


def test_a_directory_of_another_user_above_the_socket_stops_the_start(start_daemon, workdir):
    if os.geteuid() != 0:
        pytest.skip("chown needs root")
    nobody = pwd.getpwnam("nobody")
    os.chmod(workdir, 0o755)
    theirs = workdir / "theirs"
    (theirs / "sub").mkdir(parents=True)
    os.chown(theirs, nobody.pw_uid, nobody.pw_gid)
    socket_path = theirs / "sub" / "control.sock"
    with pytest.raises(AssertionError, match=f"control_socket {re.escape(str(socket_path))}: {re.escape(str(theirs))} belongs to uid {nobody.pw_uid} "
                                             f"\\(nobody\\), not to root"):
        start_daemon({"alex": ""}, control_socket=socket_path)


def test_a_symlink_into_an_open_directory_stops_the_start(start_daemon, workdir):
    """The path as written is safe, but it goes through a link into a directory anyone may write."""
    os.chmod(workdir, 0o755)
    open_dir = workdir / "open"
    (open_dir / "real").mkdir(parents=True)
    os.chmod(open_dir, 0o777)
    safe = workdir / "safe"
    safe.mkdir()
    (safe / "link").symlink_to(open_dir / "real")
    socket_path = safe / "link" / "control.sock"
    with pytest.raises(AssertionError, match=f"{re.escape(str(open_dir))} may be written by others .* \\(the real path of {re.escape(str(safe / 'link'))}\\)"):
        start_daemon({"alex": ""}, control_socket=socket_path)


def test_a_sticky_directory_above_the_socket_is_fine(start_daemon, workdir):
    os.chmod(workdir, 0o755)
    sticky = workdir / "sticky"
    (sticky / "sub").mkdir(parents=True)
    os.chmod(sticky, 0o1777)
    os.chmod(sticky / "sub", 0o755)
    daemon = start_daemon({"alex": ""}, control_socket=sticky / "sub" / "control.sock")
    result = daemon.policyctl("status")
    assert result.returncode == 0, result.stderr
