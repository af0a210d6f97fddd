"""Socket files after a crash (issue 11, item 7): a restarted daemon removes the sockets it had
created and nobody accepts on, and nothing else; every other socket under socket_root is reported
(its name escaped when it is not UTF-8) and left exactly as it was."""

import os
import signal
import socket

from stresslib import wait_for


def _stale_socket(path: bytes):
    """A socket file at `path` (raw bytes) that nobody accepts on."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.listen(1)
    s.close()


def test_a_restart_after_a_crash_removes_only_the_daemons_own_sockets(start_daemon, procs):
    first = start_daemon({"alex": 'permit_streamlocal_listen: ["%ROOT%/alex/*.sock"]'})
    root = first.socket_root
    ours = root / "alex" / "web.sock"
    procs.start(first.ssh_args("alex", "-N", "-o", "ExitOnForwardFailure=yes", "-R", f"{ours}:127.0.0.1:9"))
    wait_for(ours.exists, "the forwarded socket to appear")
    os.kill(first.pid, signal.SIGKILL)
    first.expect_exit = True
    first.process.wait(10)
    procs.stop_all()
    assert ours.exists(), "a crash leaves the socket behind"

    foreign = root / "alex" / "someone-elses.sock"
    _stale_socket(bytes(foreign))
    raw = bytes(root / "alex") + b"/\xff\xfe.sock"
    _stale_socket(raw)
    foreign_inode = foreign.stat().st_ino

    second = start_daemon({"alex": 'permit_streamlocal_listen: ["%ROOT%/alex/*.sock"]'}, socket_root=root)
    assert not ours.exists()
    assert foreign.exists() and foreign.stat().st_ino == foreign_inode
    assert os.path.exists(raw)
    removed = [r["path"] for r in second.events("stale-socket-removed")]
    assert removed == [str(ours)]
    left = {r["path"]: r["reason"] for r in second.events("socket-left-alone")}
    assert left == {str(foreign): "not created by portcullisd",
                    f"{root}/alex/\\xff\\xfe.sock": "not created by portcullisd"}

    # The socket the first daemon had is free again; the foreign one is refused, not replaced.
    ok = procs.start(second.ssh_args("alex", "-N", "-o", "ExitOnForwardFailure=yes", "-R", f"{ours}:127.0.0.1:9"))
    wait_for(ours.exists, "the forward to be taken again")
    refused = procs.start(second.ssh_args("alex", "-N", "-o", "ExitOnForwardFailure=yes",
                                          "-R", f"{foreign}:127.0.0.1:9"))
    wait_for(lambda: refused.process.poll() is not None, "the refused forward's ssh to exit")
    assert refused.process.returncode == 255
    assert ok.alive()
    assert foreign.stat().st_ino == foreign_inode
    failed = second.events("forward-failed")
    assert any("not created by portcullisd" in r.get("reason", "") for r in failed), failed
