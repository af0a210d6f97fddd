"""Crash-safe audit log (issue 11, item 5): portcullisd killed with SIGKILL mid-write leaves a
torn last line; started again on the same log it moves the torn bytes aside to a side file, notes
that in an audit-recovered record that continues the hash chain, and serves. `policyctl audit
verify` reports the recovery with status 0 and still names any other change."""

import hashlib
import os
import signal
import stat
import subprocess

import pytest

from stresslib import REPO_ROOT, Daemon, wait_for

POLICYCTL = REPO_ROOT / ".build/release/policyctl"
KEYS = {"alex": 'permit_open: ["127.0.0.1:1"]'}


def policyctl_verify(*files) -> subprocess.CompletedProcess:
    return subprocess.run([str(POLICYCTL), "audit", "verify", *map(str, files)], capture_output=True, text=True, timeout=60)


def crash_after_a_session(daemon) -> bytes:
    """Logs in and out once, then SIGKILLs the daemon; returns the log's bytes."""
    daemon.paramiko_transport("alex").close()
    wait_for(lambda: daemon.events("session-end"), "the session-end record")
    daemon.expect_exit = True
    daemon.process.send_signal(signal.SIGKILL)
    daemon.process.wait(10)
    return daemon.audit_log.read_bytes()


def side_files(log):
    return sorted(log.parent.glob(log.name + ".torn-*"))


def test_a_torn_line_left_by_sigkill_is_moved_aside_and_verify_reports_a_recovery(start_daemon):
    first = start_daemon(KEYS)
    log = first.audit_log
    good = crash_after_a_session(first)
    last = [r for r in first.audit() if r["event"] == "session-end"][-1]
    # What a write cut short by the crash leaves: the start of the next record, no newline.
    torn = ('{"ts":"2026-12-01T17:00:00.000000Z","seq":%d,"event":"session-start","session":%d,"cli'
            % (last["seq"] + 1, last["session"] + 1)).encode()
    with open(log, "ab") as f:
        f.write(torn)

    second = start_daemon(KEYS, audit_log=log)

    sides = side_files(log)
    assert len(sides) == 1, sides
    assert sides[0].read_bytes() == torn
    assert stat.S_IMODE(sides[0].stat().st_mode) == stat.S_IMODE(log.stat().st_mode) == 0o600
    content = log.read_bytes()
    assert content.startswith(good) and torn not in content
    recovered = second.events("audit-recovered")
    assert len(recovered) == 1
    record = recovered[0]
    assert record["action"] == "moved-aside" and record["file"] == str(log)
    assert record["offset"] == len(good) and record["bytes"] == len(torn)
    assert record["sha256"] == hashlib.sha256(torn).hexdigest() and record["side_file"] == str(sides[0])
    assert record["seq"] == last["seq"] + 1 and record["reason"]
    assert second.events("daemon-start")[-1]["seq"] == record["seq"] + 1
    assert f"were moved to {sides[0]}" in second.stderr()
    # It serves: a login after the recovery is recorded on the same chain.
    second.paramiko_transport("alex").close()
    wait_for(lambda: len(second.events("session-end")) == 2, "the second session-end record")
    assert second.stop() == 0
    second.expect_exit = True

    result = policyctl_verify(log)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("audit log intact: ") and lines[0].endswith("; 1 crash recovery (not tampering)"), lines
    assert lines[1] == (f"{log}:{record['seq']}: recovery (seq {record['seq']}, {record['ts']}): torn last line of {log} "
                        f"moved aside: {len(torn)} bytes from offset {len(good)}, sha256 {record['sha256']}, kept in {sides[0]} "
                        f"({record['reason']})"), lines

    # A hand-edited record before the recovery is still tampering.
    text = log.read_text().splitlines(keepends=True)
    auth = next(i for i, line in enumerate(text) if '"event":"auth"' in line)
    text[auth] = text[auth].replace('"decision":"allow"', '"decision":"allox"')
    log.write_text("".join(text))
    result = policyctl_verify(log)
    assert result.returncode == 1
    assert result.stdout == f"audit log BROKEN at {log}:{auth + 1}: modified: its hash does not match the prev of {log}:{auth + 2}\n"


def test_a_whole_last_record_missing_only_its_newline_is_kept(start_daemon):
    first = start_daemon(KEYS)
    log = first.audit_log
    good = crash_after_a_session(first)
    with open(log, "r+b") as f:
        f.truncate(len(good) - 1)

    second = start_daemon(KEYS, audit_log=log)

    assert side_files(log) == []
    assert log.read_bytes().startswith(good)
    record = second.events("audit-recovered")[0]
    assert record["action"] == "completed" and "side_file" not in record
    assert record["offset"] + record["bytes"] == len(good) - 1
    assert second.stop() == 0
    second.expect_exit = True
    result = policyctl_verify(log)
    assert result.returncode == 0 and "; 1 crash recovery" in result.stdout, result.stdout + result.stderr
    assert "lacked only its newline, which was added" in result.stdout


def test_a_log_whose_only_line_is_torn_starts_a_chain(start_daemon, workdir):
    log = workdir / "only" / "audit.jsonl"
    log.parent.mkdir()
    torn = b'{"ts":"2026-12-01T17:00:00.000000Z","seq":1,"event":"daemon-st'
    log.write_bytes(torn)
    log.chmod(0o600)

    daemon = start_daemon(KEYS, audit_log=log)

    assert [s.read_bytes() for s in side_files(log)] == [torn]
    records = daemon.audit()
    assert [r["event"] for r in records[:2]] == ["audit-recovered", "daemon-start"]
    assert records[0]["seq"] == 1 and records[0]["offset"] == 0 and records[0]["prev"] == "0" * 64
    result = policyctl_verify(log)
    assert result.returncode == 0 and "1 crash recovery" in result.stdout, result.stdout + result.stderr


def test_a_full_disk_while_saving_the_torn_line_refuses_to_start_and_changes_nothing(start_daemon, workdir):
    first = start_daemon(KEYS)
    log = first.audit_log
    crash_after_a_session(first)
    torn = b'{"ts":"2026-12-01T17:00:00.000000Z","seq":99,"event":"auth","user":"' + b"x" * 4000
    with open(log, "ab") as f:
        f.write(torn)
    before = log.read_bytes()

    # Files may grow to 1 KiB only: writing the side file fails as on a full disk (EFBIG, not
    # a kill, since SIGXFSZ is ignored).
    limited = ["sh", "-c", 'trap "" XFSZ; ulimit -f 2; exec "$@"', "sh"]
    (workdir / "limited").mkdir()
    with pytest.raises(AssertionError) as refused:
        Daemon(workdir / "limited", KEYS, audit_log=log, wrapper=limited)
    message = str(refused.value)
    assert "exited at start (exit status 1)" in message, message
    assert f"{log}: its last line is torn (a crash mid-write) and cannot be moved aside to {log}.torn-" in message, message
    assert "write: File too large; the log was left as it was" in message, message
    assert log.read_bytes() == before
    assert side_files(log) == []

    # With room again it recovers.
    again = start_daemon(KEYS, audit_log=log)
    assert [s.read_bytes() for s in side_files(log)] == [torn]
    assert again.events("audit-recovered")[0]["bytes"] == len(torn)
