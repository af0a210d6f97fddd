"""Every process the benchmark starts, so that all of them are stopped however it ends; and waiting
for a listener with a deadline instead of sleeping."""

import atexit
import ctypes
import os
import signal
import socket
import stat
import subprocess
import sys
import time

_started = []  # Popen objects still to be stopped

_libc = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1


def _die_with_parent():
    # Runs in the child before exec: a SIGKILLed harness takes its children with it.
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class Failure(Exception):
    """A case could not be measured; the message says why."""


def start(argv, stdout=None, stderr=None, stdin=subprocess.DEVNULL):
    """Starts argv in the background; it is stopped by stop() or when the harness exits."""
    proc = subprocess.Popen(argv, stdin=stdin, stdout=stdout, stderr=stderr, preexec_fn=_die_with_parent)
    _started.append(proc)
    return proc


def stop(proc, grace=3.0):
    """SIGTERM, then SIGKILL after `grace` seconds; waits for it either way."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc in _started:
        _started.remove(proc)
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream:
            try:
                stream.close()
            except (OSError, RuntimeError):  # a signal handler's stop_all while the stream is being read
                pass


def stop_all():
    for proc in list(reversed(_started)):
        stop(proc, grace=2.0)


def _on_signal(signum, _frame):
    stop_all()
    sys.exit(128 + signum)


atexit.register(stop_all)
signal.signal(signal.SIGTERM, _on_signal)
signal.signal(signal.SIGINT, _on_signal)
signal.signal(signal.SIGHUP, _on_signal)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tcp_listening(port):
    """True when something listens on TCP `port` (any local address), from /proc/net/tcp{,6}."""
    want = ":%04X" % port
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    if fields[1].endswith(want) and fields[3] == "0A":
                        return True
        except FileNotFoundError:
            pass
    return False


def unix_socket_present(path):
    try:
        return stat.S_ISSOCK(os.stat(path).st_mode)
    except FileNotFoundError:
        return False


def wait_until(what, ready, deadline=15.0, watch=()):
    """Polls `ready()` until it is true, failing after `deadline` seconds or as soon as a process in
    `watch` (pairs of Popen and a function returning its log) has exited."""
    end = time.monotonic() + deadline
    delay = 0.001
    while not ready():
        for proc, log in watch:
            if proc.poll() is not None:
                raise Failure("%s: %s exited with status %s before that:\n%s"
                              % (what, os.path.basename(proc.args[0]), proc.returncode, log()))
        if time.monotonic() > end:
            details = "".join("\n%s" % log() for _, log in watch)
            raise Failure("%s: not after %.0f s%s" % (what, deadline, details))
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def tail(path, lines=15):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except FileNotFoundError:
        return ""
