"""Fixtures shared by the stress suite (issue 10) and the adversarial suite (issue 11,
Tests/adversarial): a temporary directory per test, the daemon started from a config the test
writes, stock ssh processes and small loopback services that are stopped when the test ends, and
the numbers each test measured (printed at the end, and written as JSON to
$PORTCULLIS_STRESS_RESULTS when set).

The daemon fixture's teardown fails the test if the daemon died during it (it must survive every
client; a test that means to kill it sets `daemon.expect_exit`), if it does not stop with status 0
on SIGTERM, or if any audit record or log line of it carries an empty reason.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from stresslib import Daemon, ProcessGroup, Service

# paramiko logs every connection the daemon drops; the tests count those themselves.
logging.getLogger("paramiko").setLevel(logging.CRITICAL)

_results: dict[str, dict] = {}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, "rep_" + report.when, report)
    entry = _results.setdefault(item.nodeid, {"measured": {}})
    if report.when == "call":
        entry["outcome"] = report.outcome
        entry["seconds"] = round(report.duration, 1)
    elif report.when == "setup" and report.failed:
        entry["outcome"] = "error in setup"
    elif report.when == "teardown" and report.failed:
        entry["teardown_error"] = " ".join(report.longreprtext.strip().splitlines()[:2])[:300]


def pytest_terminal_summary(terminalreporter):
    if not _results:
        return
    terminalreporter.section("stress measurements")
    for nodeid, entry in _results.items():
        extra = f"; teardown: {entry['teardown_error']}" if "teardown_error" in entry else ""
        terminalreporter.write_line(f"{nodeid}: {entry.get('outcome', '?')}, {entry.get('seconds', '?')} s{extra}")
        for name, value in entry["measured"].items():
            terminalreporter.write_line(f"    {name}: {value}")
    path = os.environ.get("PORTCULLIS_STRESS_RESULTS")
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(_results, indent=2) + "\n")


def _failed(item) -> bool:
    return any(getattr(item, f"rep_{when}", None) is not None and getattr(item, f"rep_{when}").failed
               for when in ("setup", "call"))


@pytest.fixture
def measure(request):
    """`measure(name, value)`: a number this test measured, for the summary and the JSON."""
    entry = _results.setdefault(request.node.nodeid, {"measured": {}})

    def record(name: str, value):
        if isinstance(value, float):
            value = round(value, 3)
        entry["measured"][name] = value
    return record


@pytest.fixture
def workdir(request):
    """A short-pathed temporary directory (Unix socket paths must stay under 108 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="pcs-", dir="/tmp"))
    yield path
    if os.environ.get("PORTCULLIS_STRESS_KEEP") and _failed(request.node):
        print(f"kept {path}")
    else:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def procs(workdir):
    """Starts processes (stock ssh) that are terminated when the test ends."""
    group = ProcessGroup(workdir)
    yield group
    group.stop_all()


@pytest.fixture
def services(workdir):
    """`services(handler)` or `services(handler, unix_path=...)`: a loopback service, stopped at the end."""
    started: list[Service] = []

    def make(handler, unix_path=None) -> Service:
        service = Service(handler, unix_path=unix_path)
        started.append(service)
        return service
    yield make
    for service in started:
        service.stop()


@pytest.fixture
def start_daemon(request, workdir, procs):
    """`start_daemon(keys={name: "rule lines"}, extra_yaml="", nofile=None, wrapper=None)`:
    portcullisd on 127.0.0.1:FREEPORT with its own host key, socket root and audit log. In rules,
    %ROOT% stands for the socket root."""
    daemons: list[Daemon] = []

    def start(keys: dict[str, str], **options) -> Daemon:
        directory = workdir / f"d{len(daemons)}"
        directory.mkdir()
        daemon = Daemon(directory, keys, **options)
        daemons.append(daemon)
        return daemon

    yield start

    # Clients first, so that the daemon sees ordinary disconnects before it is stopped.
    procs.stop_all()
    problems = []
    for daemon in daemons:
        was_alive = daemon.alive()
        if not was_alive and not daemon.expect_exit and not _failed(request.node):
            problems.append(f"portcullisd died during the test: {daemon.describe_exit()}; "
                            f"last log lines:\n{daemon.stderr_tail()}")
        code = daemon.stop()
        if was_alive and code != 0:
            problems.append(f"portcullisd did not stop cleanly on SIGTERM: "
                            f"{'had to be killed' if code is None else daemon.describe_exit()}")
        empty = daemon.empty_reasons()
        if empty:
            problems.append("audit records / log lines with an empty reason (issue 10, section 4):\n  "
                            + "\n  ".join(empty[:12]))
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture
def etcd(workdir):
    """A real etcd on 127.0.0.1 (free ports, data in the test's directory), stopped at the end."""
    from etcdlib import Etcd
    from stresslib import free_port
    server = Etcd(workdir / "etcd", free_port)
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _wall_clock(request, measure):
    started = time.monotonic()
    yield
    measure("wall_s", time.monotonic() - started)

