"""Issue 13: the fail2ban filter (Deploy/fail2ban/filter.d/portcullis.conf) against the audit log
of a real daemon. fail2ban-regex must find one failure per refused authentication attempt, each
from the address the daemon accepted the connection from, none for a login that succeeded, and
never an address a client wrote itself: a user name like "x from 10.9.9.9", one posing as the
audit record's own fields or as a whole forged record, a client version string naming an address.
fail2ban is installed with its package (never started as a service: Debian's postinst is kept from
starting it by a policy-rc.d, and it is disabled again if the install enabled it)."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
from pathlib import Path

import paramiko
import pytest

from stresslib import SSH_KEYGEN, wait_for

ROOT = Path(__file__).resolve().parents[2]
FILTER = ROOT / "Deploy/fail2ban/filter.d/portcullis.conf"
JAIL = ROOT / "Deploy/fail2ban/jail.d/portcullis.conf"

# Addresses that appear only in text the client chose; none may ever be found.
INJECTED = ["10.9.9.9", "10.9.9.8", "10.9.9.7", "10.9.9.6", "10.9.9.5"]
HOSTILE_USERS = [
    "x from 10.9.9.9",                                                  # the classic sshd injection
    'x","client":"10.9.9.8","client_port":22,"server":"x',             # poses as the record's fields
    'x"}\n{"ts":"2026-12-01T00:00:00.000000Z","seq":1,"event":"session-start","session":99,'
    '"client":"10.9.9.7","client_port":22,"server":"127.0.0.1","server_port":22,"prev":"00"}',  # a forged line
    "Invalid user admin from 10.9.9.5 port 22",
]
HOSTILE_VERSION = "SSH-2.0-OpenSSH_9.2 from 10.9.9.6"


def ensure_fail2ban_regex() -> str:
    """fail2ban-regex from Debian's fail2ban package, installed without starting the service."""
    if shutil.which("fail2ban-regex"):
        return shutil.which("fail2ban-regex")
    if os.geteuid() != 0:
        pytest.skip("fail2ban is not installed and installing it needs root")
    policy = Path("/usr/sbin/policy-rc.d")
    added = False
    if not policy.exists():
        policy.write_text("#!/bin/sh\n# Tests/adversarial/test_deploy_fail2ban.py: start no service\nexit 101\n")
        policy.chmod(0o755)
        added = True
    try:
        subprocess.run([str(ROOT / "scripts/ensure-packages"), "fail2ban"], check=True, timeout=600,
                       stdin=subprocess.DEVNULL)
    finally:
        if added:
            policy.unlink()
    # The package enables its service for the next boot: this machine only needed the tool.
    if shutil.which("systemctl") and Path("/run/systemd/system").is_dir():
        subprocess.run(["systemctl", "disable", "--now", "fail2ban"], capture_output=True, timeout=60)
    elif shutil.which("update-rc.d"):
        subprocess.run(["update-rc.d", "fail2ban", "disable"], capture_output=True, timeout=60)
    path = shutil.which("fail2ban-regex")
    assert path, "the fail2ban package did not install fail2ban-regex"
    return path


def stranger_key(directory: Path, name: str) -> paramiko.Ed25519Key:
    path = directory / name
    subprocess.run([SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True,
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    return paramiko.Ed25519Key.from_private_key_file(str(path))


def failed_logins(daemon, user: str, keys: list[paramiko.Ed25519Key], version: str | None = None) -> int:
    """One connection making one refused public-key attempt per key; returns how many it made."""
    sock = socket.create_connection(("127.0.0.1", daemon.port), timeout=20)
    transport = paramiko.Transport(sock)
    if version:
        transport.local_version = version
    transport.banner_timeout = transport.auth_timeout = 20
    try:
        transport.start_client(timeout=20)
        for key in keys:
            with pytest.raises(paramiko.AuthenticationException):
                transport.auth_publickey(user, key)
    finally:
        transport.close()
    return len(keys)


def fail2ban_regex(tool: str, log: Path) -> tuple[list[str], str]:
    """The address of every failure fail2ban-regex finds in `log` with the filter, and its report."""
    result = subprocess.run([tool, "--out", "ip", str(log), str(FILTER)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"fail2ban-regex failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    addresses = [line.strip() for line in result.stdout.splitlines() if line.strip()]
    report = subprocess.run([tool, str(log), str(FILTER)], capture_output=True, text=True, timeout=120)
    return addresses, report.stdout + report.stderr


def test_fail2ban_filter_counts_each_refused_login_by_the_accepted_address_only(start_daemon, workdir):
    tool = ensure_fail2ban_regex()
    # Penalties off: the daemon would otherwise refuse this one source after a few failures.
    daemon = start_daemon({"alex": ""}, limits="per_source_penalties: no")
    strangers = [stranger_key(workdir, f"stranger{i}") for i in range(3)]

    attempts = 0
    for _ in range(3):                                    # plain failures: a key nobody configured
        attempts += failed_logins(daemon, "alex", strangers[:1])
    attempts += failed_logins(daemon, "alex", strangers[1:3])   # two attempts in one connection
    for user in HOSTILE_USERS:                            # user names that name another address
        attempts += failed_logins(daemon, user, strangers[:1])
    attempts += failed_logins(daemon, "alex", strangers[:1], version=HOSTILE_VERSION)
    daemon.paramiko_transport("alex").close()             # and one login that succeeds
    connections = 3 + 1 + len(HOSTILE_USERS) + 1 + 1

    wait_for(lambda: len(daemon.events("session-end")) == connections
             and len(daemon.events("auth", decision="deny")) == attempts,
             "every connection's records in the audit log", 20)
    denied = daemon.events("auth", decision="deny")
    # The hostile names reached the log, escaped (the test would prove nothing otherwise).
    assert {r["user"] for r in denied} >= {HOSTILE_USERS[0], HOSTILE_USERS[1], HOSTILE_USERS[3]}, denied
    assert daemon.events("auth", decision="allow", user="alex")
    log_text = daemon.audit_log.read_text()
    for address in INJECTED[:3] + INJECTED[4:]:
        assert address in log_text, f"{address} (client text) is not in the audit log at all"

    addresses, report = fail2ban_regex(tool, daemon.audit_log)
    assert len(addresses) == attempts, (f"{len(addresses)} failures found for {attempts} refused attempts: "
                                        f"{addresses}\n{report}")
    assert set(addresses) == {"127.0.0.1"}, f"an address other than the client's was found: {addresses}\n{report}"
    # fail2ban's own tally: the refusal expression hit once per refused attempt, every line dated.
    assert auth_hits(report) == attempts, report
    assert "no valid date" not in report, report


def auth_hits(report: str) -> int:
    """How many lines the filter's `auth` expression matched, as fail2ban-regex reports it (the
    session-start and session-end expressions only remember and forget the address); it lists
    only the expressions that matched."""
    assert re.search(r"^Failregex: \d+ total", report, re.M), report
    match = re.search(r"\[(\d+)\] \^,\"seq\":\\d\+,\"event\":\"auth\"", report)
    return int(match.group(1)) if match else 0


def test_fail2ban_filter_counts_refusals_of_a_penalised_source_but_not_of_a_full_daemon(start_daemon, workdir):
    """With per_source_penalties (the default), failed logins get their source refused at accept:
    each such connection-refused record counts too, by its "client" address. A refusal under the
    global max_startups (whoever connects while the daemon is full) does not."""
    tool = ensure_fail2ban_regex()
    daemon = start_daemon({"alex": ""})
    stranger = [stranger_key(workdir, "stranger")]

    def refused_now() -> bool:
        try:
            failed_logins(daemon, "alex", stranger)
        except (paramiko.SSHException, OSError):
            return True                                   # closed at accept: penalised
        return False

    wait_for(refused_now, "the source to be refused for its failed logins", 30, interval=0.2)
    wait_for(lambda: daemon.events("connection-refused"), "the refusal's audit record", 10)
    full = start_daemon({"alex": ""}, limits="max_startups: 1, per_source_max_startups: none, per_source_penalties: no")
    held = socket.create_connection(("127.0.0.1", full.port), timeout=10)
    try:
        assert held.recv(8).startswith(b"SSH-"), "the first connection was not admitted"
        extra = socket.create_connection(("127.0.0.1", full.port), timeout=10)
        assert extra.recv(8) == b"", "a second connection was admitted past max_startups 1"
        extra.close()
        wait_for(lambda: full.events("connection-refused"), "the max_startups refusal's record", 10)
    finally:
        held.close()

    denied = len(daemon.events("auth", decision="deny"))
    penalised = [r for r in daemon.events("connection-refused") if "client" in r]
    assert penalised and all("is penalised" in r["reason"] for r in penalised), penalised
    addresses, report = fail2ban_regex(tool, daemon.audit_log)
    assert len(addresses) == denied + len(penalised), (denied, penalised, addresses, report)
    assert set(addresses) == {"127.0.0.1"}, report
    assert full.events("connection-refused")[0]["reason"].startswith("max_startups:"), full.events("connection-refused")
    addresses, report = fail2ban_regex(tool, full.audit_log)
    assert addresses == [], f"a refusal under the global max_startups was counted:\n{report}"


def test_fail2ban_filter_finds_nothing_in_a_log_of_successful_logins(start_daemon):
    tool = ensure_fail2ban_regex()
    daemon = start_daemon({"alex": ""})
    for _ in range(3):
        daemon.paramiko_transport("alex").close()
    wait_for(lambda: len(daemon.events("session-end")) == 3, "the sessions' records", 20)
    addresses, report = fail2ban_regex(tool, daemon.audit_log)
    assert addresses == [], report
    assert auth_hits(report) == 0, report


def fail2ban_dump(workdir: Path, enable: bool) -> list[str]:
    """fail2ban-client's dump of a copy of the system's fail2ban configuration with this jail as its
    only one (Debian's own sshd jail, on by default, needs an sshd log this machine may not have) and
    this filter (and, with `enable`, a jail.local turning the jail on against an empty log): what
    the server would be told to do. Nothing is started."""
    conf = workdir / ("fail2ban-on" if enable else "fail2ban-off")
    shutil.copytree("/etc/fail2ban", conf)
    for other in [*conf.glob("jail.d/*"), *conf.glob("jail.local")]:
        other.unlink()
    shutil.copy(FILTER, conf / "filter.d/portcullis.conf")
    shutil.copy(JAIL, conf / "jail.d/portcullis.conf")
    log = workdir / "audit.jsonl"
    log.touch()
    if enable:
        (conf / "jail.local").write_text(f"[portcullis]\nenabled = true\nlogpath = {log}\n")
    client = shutil.which("fail2ban-client")
    tested = subprocess.run([client, "-c", str(conf), "-t"], capture_output=True, text=True, timeout=120)
    assert tested.returncode == 0, f"fail2ban-client -t refused the configuration:\n{tested.stdout}{tested.stderr}"
    dumped = subprocess.run([client, "-c", str(conf), "-d"], capture_output=True, text=True, timeout=120)
    assert dumped.returncode == 0, dumped.stderr
    return [line for line in dumped.stdout.splitlines() if "'portcullis'" in line]


def test_fail2ban_filter_reads_ipv6_clients(start_daemon, workdir):
    """The daemon's own records of a refused login, with the session-start's address swapped for
    IPv6 ones (the test daemon listens on 127.0.0.1 only): an IPv6 client is found as such, an
    IPv4-mapped one as the IPv4 address (as the daemon itself writes it)."""
    tool = ensure_fail2ban_regex()
    daemon = start_daemon({"alex": ""})
    failed_logins(daemon, "alex", [stranger_key(workdir, "stranger")])
    wait_for(lambda: daemon.events("session-end"), "the session's records", 20)
    lines = [line for line in daemon.audit_log.read_text().splitlines()
             if '"event":"session-start"' in line or '"event":"auth"' in line]
    assert len(lines) == 2, lines
    log = workdir / "v6.jsonl"
    with log.open("w") as out:
        for session, address in ((101, "2001:db8::7"), (102, "::ffff:192.0.2.9")):
            for line in lines:
                line = re.sub(r'"session":\d+', f'"session":{session}', line)
                out.write(line.replace('"client":"127.0.0.1"', f'"client":"{address}"') + "\n")
    addresses, report = fail2ban_regex(tool, log)
    assert addresses == ["2001:db8::7", "192.0.2.9"], report


def test_jail_loads_and_is_off_until_enabled(workdir):
    ensure_fail2ban_regex()
    assert fail2ban_dump(workdir, enable=False) == [], "the jail is on before anyone enabled it"
    jail = "\n".join(fail2ban_dump(workdir, enable=True))
    assert "['add', 'portcullis', 'auto']" in jail, jail            # a file, not the journal
    assert f"'addlogpath', '{workdir / 'audit.jsonl'}'" in jail, jail
    assert "--dports 2222,22" in jail, jail
    assert "'maxretry', 10" in jail and "'findtime', '10m'" in jail and "'bantime', '1h'" in jail, jail


def test_jail_is_off_by_default_and_reads_the_audit_log():
    text = JAIL.read_text()
    settings = dict(re.findall(r"^(\w+)\s*=\s*(.*?)\s*$", text, re.M))
    assert "[portcullis]" in text
    assert settings["enabled"] == "false"
    assert settings["filter"] == "portcullis"
    assert settings["logpath"] == "/var/log/portcullis/audit.jsonl"
    assert settings["backend"] == "auto"
    assert {p.strip() for p in settings["port"].split(",")} == {"2222", "22"}
