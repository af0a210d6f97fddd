"""Issue 11, items 2 and 3: algorithms no weaker than OpenSSH 9.2's server defaults (no SHA-1
signatures, no DSA), an administrator's narrower list offered exactly, and authentication as strict
as sshd: every attempt counts, pipelined or `none`, the connection ends at the limit, and what an
unauthenticated client chose costs a bounded amount of audit log and daemon log."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time

import paramiko
import pytest
from paramiko.common import cMSG_USERAUTH_REQUEST
from paramiko.message import Message

from stresslib import SSH, SSH_KEYGEN, daemon_binary, wait_for

# The daemon's defaults, as README.md "### Algorithms" lists them.
DEFAULT_KEX = ("curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,ecdh-sha2-nistp384,"
               "ecdh-sha2-nistp521,diffie-hellman-group-exchange-sha256,diffie-hellman-group16-sha512,"
               "diffie-hellman-group18-sha512,diffie-hellman-group14-sha256")
DEFAULT_CIPHERS = ("chacha20-poly1305@openssh.com,aes128-ctr,aes192-ctr,aes256-ctr,aes128-gcm@openssh.com,"
                   "aes256-gcm@openssh.com")
DEFAULT_MACS = "hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com,hmac-sha2-256,hmac-sha2-512"
DEFAULT_PUBKEY = ("ssh-ed25519,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,"
                  "sk-ssh-ed25519@openssh.com,sk-ecdsa-sha2-nistp256@openssh.com,rsa-sha2-512,rsa-sha2-256")


# -- helpers

def rsa_key_dir(workdir, name: str = "rusty"):
    """A keys_dir holding one RSA key entry `name`; returns (extra_yaml, private key path)."""
    directory = workdir / "rsa-keys"
    directory.mkdir()
    private = workdir / "rsa_key"
    subprocess.run([SSH_KEYGEN, "-q", "-t", "rsa", "-b", "2048", "-N", "", "-C", name, "-f", str(private)],
                   check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    public = (workdir / "rsa_key.pub").read_text().strip()
    (directory / f"{name}.yaml").write_text(f'name: {name}\nkey: "{public}"\n')
    return f'keys_dir: "{directory}"', private


def connect(daemon, **transport_options) -> paramiko.Transport:
    sock = socket.create_connection(("127.0.0.1", daemon.port), timeout=20)
    transport = paramiko.Transport(sock, **transport_options)
    transport.banner_timeout = transport.auth_timeout = 20
    transport.start_client(timeout=20)
    return transport


def server_proposal(daemon, *ssh_options: str) -> tuple[subprocess.CompletedProcess, dict[str, str]]:
    """Runs stock ssh -vv with an unknown key (authentication fails, nothing else happens) and
    returns its result and the server's KEXINIT proposal and server-sig-algs, as ssh printed them."""
    stranger = daemon.dir / "stranger"
    if not stranger.exists():
        subprocess.run([SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)], check=True,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    argv = [SSH, "-vv", "-F", "/dev/null", "-i", str(stranger), "-o", "IdentitiesOnly=yes",
            "-o", f"UserKnownHostsFile={daemon.known_hosts}", "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "ConnectTimeout=20",
            *ssh_options, "-p", str(daemon.port), "nobody@127.0.0.1", "true"]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    proposal: dict[str, str] = {}
    lines = result.stderr.splitlines()
    for index, line in enumerate(lines):
        if line.strip() == "debug2: peer server KEXINIT proposal":
            for entry in lines[index + 1:index + 12]:
                match = re.match(r"debug2: ([A-Za-z ]+): (.*)$", entry)
                if match:
                    proposal[match.group(1)] = match.group(2)
        match = re.search(r"server-sig-algs=<([^>]*)>", line)
        if match:
            proposal["server-sig-algs"] = match.group(1)
    return result, proposal


def without_markers(kex: str) -> str:
    """The key exchange list less the pseudo-algorithms that announce extensions."""
    return ",".join(name for name in kex.split(",") if name not in ("ext-info-s", "kex-strict-s-v00@openssh.com"))


def userauth_request(user: bytes | str, method: str, *fields) -> Message:
    m = Message()
    m.add_byte(cMSG_USERAUTH_REQUEST)
    m.add_string(user)
    m.add_string("ssh-connection")
    m.add_string(method)
    for field in fields:
        if isinstance(field, bool):
            m.add_boolean(field)
        else:
            m.add_string(field)
    return m


def stranger_blob() -> bytes:
    """An ed25519 public key blob nobody configured."""
    key = os.urandom(32)
    return (len(b"ssh-ed25519")).to_bytes(4, "big") + b"ssh-ed25519" + len(key).to_bytes(4, "big") + key


def count_answers(transport) -> list[str]:
    """Replaces the client's userauth answer handlers with ones that only count."""
    answers: list[str] = []
    handler = transport.auth_handler
    handler._parse_userauth_failure = lambda m: answers.append("failure")
    handler._parse_userauth_success = lambda m: answers.append("success")
    handler._parse_userauth_info_request = lambda m: answers.append("pk-ok")
    return answers


def ask_for_methods(transport, user: str = "mallory"):
    """A first `none` (free, as in sshd): puts paramiko's auth handler in place."""
    with pytest.raises(paramiko.BadAuthenticationType):
        transport.auth_none(user)


# -- item 2: algorithms

def signed_rsa_request(transport, key: paramiko.RSAKey, user: str, algorithm: str) -> Message:
    """A publickey request signed by hand with `algorithm` (paramiko 5 no longer signs with SHA-1):
    `ssh-rsa` is RSA with SHA-1, as asyncssh and Go send it whatever server-sig-algs says."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding
    blob = key.asbytes()
    signed = Message()
    signed.add_string(transport.session_id)
    signed.add_byte(cMSG_USERAUTH_REQUEST)
    signed.add_string(user)
    signed.add_string("ssh-connection")
    signed.add_string("publickey")
    signed.add_boolean(True)
    signed.add_string(algorithm)
    signed.add_string(blob)
    digest = {"ssh-rsa": hashes.SHA1(), "rsa-sha2-256": hashes.SHA256(), "rsa-sha2-512": hashes.SHA512()}[algorithm]
    signature = key.key.sign(signed.asbytes(), padding.PKCS1v15(), digest)
    sig = Message()
    sig.add_string(algorithm)
    sig.add_string(signature)
    return userauth_request(user, "publickey", True, algorithm, blob, sig.asbytes())


def test_ssh_rsa_sha1_signature_is_refused_and_the_same_key_with_sha2_accepted(start_daemon, workdir):
    extra, private = rsa_key_dir(workdir)
    daemon = start_daemon({}, extra_yaml=extra)
    key = paramiko.RSAKey.from_private_key_file(str(private))

    transport = connect(daemon)
    try:
        assert "ssh-rsa" not in transport.server_extensions.get("server-sig-algs", b"").decode().split(",")
        ask_for_methods(transport, "rusty")
        answers = count_answers(transport)
        transport._send_message(signed_rsa_request(transport, key, "rusty", "ssh-rsa"))
        # Refused with an answer, not left waiting for the login grace time.
        wait_for(lambda: answers, "an answer to the ssh-rsa signature", timeout=10)
        assert answers == ["failure"]
        # The same key, signed the same way with SHA-256, logs in: the refusal was the algorithm's.
        transport._send_message(signed_rsa_request(transport, key, "rusty", "rsa-sha2-256"))
        wait_for(lambda: len(answers) == 2, "an answer to the rsa-sha2-256 signature", timeout=10)
        assert answers == ["failure", "success"]
    finally:
        transport.close()
    refused = wait_for(lambda: daemon.events("auth", decision="deny", user="rusty"), "the refusal's record")
    assert refused[0]["reason"] == "signature algorithm ssh-rsa (SHA-1) is not accepted"
    assert daemon.events("auth", decision="allow", user="rusty", key="rusty")

    # And paramiko's own signing, with SHA-2 only, as a stock client would.
    transport = connect(daemon, disabled_algorithms={"pubkeys": ["rsa-sha2-512"]})
    try:
        transport.auth_publickey("rusty", key)
        assert transport.is_authenticated() and transport._agreed_pubkey_algorithm == "rsa-sha2-256"
    finally:
        transport.close()


def test_a_probe_for_ssh_rsa_is_not_answered_key_acceptable(start_daemon, workdir):
    extra, private = rsa_key_dir(workdir)
    daemon = start_daemon({}, extra_yaml=extra)
    key = paramiko.RSAKey.from_private_key_file(str(private))
    transport = connect(daemon)
    try:
        ask_for_methods(transport, "rusty")
        answers = count_answers(transport)
        transport._send_message(userauth_request("rusty", "publickey", False, "ssh-rsa", key.asbytes()))
        transport._send_message(userauth_request("rusty", "publickey", False, "rsa-sha2-512", key.asbytes()))
        wait_for(lambda: len(answers) == 2, "two answers", timeout=10)
        assert answers == ["failure", "pk-ok"]
    finally:
        transport.close()


def test_the_default_lists_are_offered_and_anything_else_fails_negotiation(start_daemon):
    daemon = start_daemon({"alex": ""})
    result, proposal = server_proposal(daemon)
    assert "Permission denied" in result.stderr, result.stderr[-2000:]
    assert without_markers(proposal["KEX algorithms"]) == DEFAULT_KEX
    assert proposal["ciphers stoc"] == proposal["ciphers ctos"] == DEFAULT_CIPHERS
    assert proposal["MACs stoc"] == proposal["MACs ctos"] == DEFAULT_MACS
    assert proposal["host key algorithms"] == "ssh-ed25519"
    assert proposal["server-sig-algs"] == DEFAULT_PUBKEY

    for option, value, words in [
        ("Ciphers", "aes128-cbc", "no matching cipher found"),
        ("KexAlgorithms", "diffie-hellman-group14-sha1", "no matching key exchange method found"),
        ("MACs", "hmac-sha1", "no matching MAC found"),
        ("HostKeyAlgorithms", "ssh-rsa", "no matching host key type found"),
    ]:
        extra = ["-o", "Ciphers=aes128-ctr"] if option == "MACs" else []
        refused = subprocess.run(daemon.ssh_args("alex", "-o", f"{option}={value}", *extra, "-N"),
                                 capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        assert refused.returncode == 255 and words in refused.stderr, (option, refused.stderr)


def kexinit_after_banner(host_key_algorithms: str) -> bytes:
    """The client's banner and its KEXINIT (proposing the server's defaults except
    `host_key_algorithms`) as one write, so that the server reads both at once."""
    lists = [DEFAULT_KEX, host_key_algorithms, DEFAULT_CIPHERS, DEFAULT_CIPHERS, DEFAULT_MACS, DEFAULT_MACS,
             "none", "none", "", ""]
    payload = bytes([20]) + os.urandom(16) + b"".join(len(x).to_bytes(4, "big") + x.encode() for x in lists)
    payload += b"\0" + bytes(4)
    padding = 8 - (len(payload) + 5) % 8
    padding += 8 if padding < 4 else 0
    packet = (len(payload) + padding + 1).to_bytes(4, "big") + bytes([padding]) + payload + bytes(padding)
    return b"SSH-2.0-portcullis-test\r\n" + packet


def test_a_failed_negotiation_still_sends_the_server_proposal(start_daemon):
    """A client whose banner and KEXINIT arrive together, proposing nothing the server accepts, still
    receives the server's KEXINIT before the connection ends, so a stock client can say what did not
    match ("no matching host key type found") instead of "Connection closed"."""
    daemon = start_daemon({"alex": ""})
    for attempt in range(5):
        with socket.create_connection(("127.0.0.1", daemon.port), timeout=20) as sock:
            banner = b""
            while not banner.endswith(b"\n"):
                banner += sock.recv(1)
            assert banner.startswith(b"SSH-2.0-"), banner
            sock.sendall(kexinit_after_banner("ssh-rsa"))
            received = b""
            while chunk := sock.recv(65536):
                received += chunk
            assert len(received) > 5 and received[5] == 20, (attempt, received[:64])
            assert b"ssh-ed25519" in received


def test_every_default_algorithm_works_with_the_stock_client(start_daemon):
    daemon = start_daemon({"alex": ""})
    cases = [("KexAlgorithms", name, []) for name in DEFAULT_KEX.split(",")]
    cases += [("Ciphers", name, []) for name in DEFAULT_CIPHERS.split(",")]
    cases += [("MACs", name, ["-o", "Ciphers=aes128-ctr"]) for name in DEFAULT_MACS.split(",")]
    failed = []
    for option, name, extra in cases:
        # Logged in, the client asks for a shell and is told to use -N: exit 1 with that message.
        result = subprocess.run(daemon.ssh_args("alex", "-o", f"{option}={name}", *extra) + ["true"],
                                capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        if result.returncode != 1 or "use ssh -N" not in result.stderr:
            failed.append(f"{option}={name}: exit {result.returncode}: {result.stderr.strip()[-300:]}")
    assert not failed, "\n".join(failed)


def test_host_key_algorithms_no_host_key_can_make_stop_the_start(start_daemon):
    with pytest.raises(AssertionError, match="no host key can sign with any of host_key_algorithms"):
        start_daemon({"alex": ""}, extra_yaml="algorithms: {host_key_algorithms: [rsa-sha2-512]}")


def test_an_override_is_offered_exactly_and_the_rest_refused(start_daemon):
    daemon = start_daemon({"alex": ""}, extra_yaml="""algorithms:
  kex_algorithms: [curve25519-sha256, ecdh-sha2-nistp384]
  ciphers: [aes256-gcm@openssh.com, aes128-ctr]
  macs: [hmac-sha2-512-etm@openssh.com]
  host_key_algorithms: [ssh-ed25519]
  pubkey_accepted_algorithms: [ssh-ed25519, rsa-sha2-512]""")
    _, proposal = server_proposal(daemon)
    assert without_markers(proposal["KEX algorithms"]) == "curve25519-sha256,ecdh-sha2-nistp384"
    assert proposal["ciphers stoc"] == "aes256-gcm@openssh.com,aes128-ctr"
    assert proposal["MACs stoc"] == "hmac-sha2-512-etm@openssh.com"
    assert proposal["server-sig-algs"] == "ssh-ed25519,rsa-sha2-512"

    refused = subprocess.run(daemon.ssh_args("alex", "-o", "Ciphers=chacha20-poly1305@openssh.com", "-N"),
                             capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert refused.returncode == 255 and "no matching cipher found" in refused.stderr, refused.stderr
    refused = subprocess.run(daemon.ssh_args("alex", "-o", "KexAlgorithms=ecdh-sha2-nistp256", "-N"),
                             capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert refused.returncode == 255 and "no matching key exchange method found" in refused.stderr

    # Within the lists, a client logs in (the client's preference picks among what is offered).
    transport = daemon.paramiko_transport("alex")
    assert transport.is_authenticated() and transport.remote_cipher in ("aes256-gcm@openssh.com", "aes128-ctr")
    transport.close()

    # A reload with other lists says they wait for the next start, and changes nothing now.
    daemon.config_path.write_text(daemon.config_path.read_text().replace(
        "ciphers: [aes256-gcm@openssh.com, aes128-ctr]", "ciphers: [chacha20-poly1305@openssh.com]"))
    os.kill(daemon.pid, signal.SIGHUP)
    wait_for(lambda: "algorithms changes take effect at the next start" in daemon.stderr(), "the reload's note")
    _, proposal = server_proposal(daemon)
    assert proposal["ciphers stoc"] == "aes256-gcm@openssh.com,aes128-ctr"


def test_an_override_outside_what_the_daemon_supports_stops_the_start_with_file_and_line(workdir):
    config = workdir / "bad.yaml"
    config.write_text("host_keys: [/nonexistent]\nsocket_root: /srv/p\nalgorithms:\n"
                      "  ciphers: [aes128-cbc]\n  pubkey_accepted_algorithms: [ssh-rsa]\n  macs: []\n")
    result = subprocess.run([str(daemon_binary()), "--config", str(config), "--check"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert f'{config}:4: algorithms.ciphers[0] "aes128-cbc": not supported' in result.stderr + result.stdout
    assert f'{config}:5: algorithms.pubkey_accepted_algorithms[0] "ssh-rsa": not supported' in result.stderr + result.stdout
    assert f"{config}:6: algorithms.macs: expected at least one algorithm" in result.stderr + result.stdout


# -- item 3: authentication limits

def test_200_pipelined_publickey_attempts_get_max_auth_tries_answers_then_the_connection_closes(start_daemon):
    daemon = start_daemon({"alex": ""})
    transport = connect(daemon)
    try:
        ask_for_methods(transport)
        answers = count_answers(transport)
        for _ in range(200):
            try:
                transport._send_message(userauth_request("mallory", "publickey", False, "ssh-ed25519",
                                                         stranger_blob()))
            except (OSError, EOFError, paramiko.SSHException):
                break
        sent = time.monotonic()
        wait_for(lambda: not transport.is_active(), "the server to close the connection", timeout=10)
        assert time.monotonic() - sent < 5
        # At most max_auth_tries answers (refusals still waiting for their records when the
        # limit closes the connection are dropped with it); never 200.
        assert len(answers) <= 6 and set(answers) <= {"failure"}, answers
    finally:
        transport.close()
    ended = wait_for(lambda: daemon.events("session-end"), "the session's end")
    assert ended[0]["reason"] == "too many authentication failures"
    assert len(daemon.events("auth", decision="deny", user="mallory")) == 6


def test_none_attempts_count_after_the_first(start_daemon):
    daemon = start_daemon({"alex": ""})
    transport = connect(daemon)
    try:
        ask_for_methods(transport)
        answers = count_answers(transport)
        for _ in range(50):
            try:
                transport._send_message(userauth_request("mallory", "none"))
            except (OSError, EOFError, paramiko.SSHException):
                break
        wait_for(lambda: not transport.is_active(), "the server to close the connection", timeout=10)
        assert len(answers) <= 6
    finally:
        transport.close()
    refused = wait_for(lambda: daemon.events("session-end") and daemon.events("auth", decision="deny"),
                       "the records")
    assert len(daemon.events("auth", decision="deny")) == 6
    assert {r["reason"] for r in daemon.events("auth", decision="deny")} == {"none authentication is not offered"}
    assert refused


def test_a_user_name_over_256_bytes_is_refused_even_with_a_good_key(start_daemon):
    daemon = start_daemon({"alex": ""})
    key = paramiko.Ed25519Key.from_private_key_file(str(daemon.keys["alex"].private))
    transport = connect(daemon)
    try:
        with pytest.raises(paramiko.AuthenticationException):
            transport.auth_publickey("u" * 257, key)
        # 256 bytes (multi-byte characters count as bytes) is still a name.
        transport.auth_publickey("é" * 128, key)
        assert transport.is_authenticated()
    finally:
        transport.close()
    refused = wait_for(lambda: daemon.events("auth", decision="deny"), "the refusal")
    assert refused[0]["reason"] == "user name is 257 bytes long; at most 256 are accepted"
    assert daemon.events("auth", decision="allow", user="é" * 128)


def test_a_200_kb_user_name_costs_under_1_kib_of_audit_and_daemon_log_per_attempt(start_daemon):
    daemon = start_daemon({"alex": ""})
    key = paramiko.Ed25519Key.from_private_key_file(str(daemon.keys["alex"].private))
    huge = "n" * 200_000
    audit_before = daemon.audit_log.stat().st_size
    log_before = daemon.log_path.stat().st_size
    attempts = 4
    transport = connect(daemon)
    try:
        for _ in range(attempts):
            with pytest.raises(paramiko.AuthenticationException):
                transport.auth_publickey(huge, key)
    finally:
        transport.close()
    wait_for(lambda: daemon.events("session-end"), "the session's end")
    audit_growth = daemon.audit_log.stat().st_size - audit_before
    log_growth = daemon.log_path.stat().st_size - log_before
    # Per attempt, with the session's start and end shared out among the attempts.
    assert audit_growth / attempts < 1024, audit_growth
    assert log_growth / attempts < 1024, log_growth
    refused = daemon.events("auth", decision="deny")
    assert len(refused) == attempts
    assert refused[0]["user"] == "n" * 256 + "…(cut, 200000 bytes)"
    assert refused[0]["reason"] == "user name is 200000 bytes long; at most 256 are accepted"
    assert "…(cut, 200000 bytes)" in daemon.stderr() and huge not in daemon.stderr()


def test_a_user_name_that_is_not_utf8_or_has_control_characters_is_refused_and_recorded_escaped(start_daemon):
    daemon = start_daemon({"alex": ""})
    key = paramiko.Ed25519Key.from_private_key_file(str(daemon.keys["alex"].private))
    transport = connect(daemon)
    try:
        ask_for_methods(transport)
        answers = count_answers(transport)
        transport._send_message(userauth_request(b"al\xffex", "publickey", False, "ssh-ed25519", stranger_blob()))
        # A good key does not help a name that would forge a line of the daemon's log.
        transport._send_message(userauth_request(b"alex\nportcullisd: forged", "publickey", False, "ssh-ed25519",
                                                 key.asbytes()))
        # Nor one that libssh used to cut at a NUL into "alex".
        transport._send_message(userauth_request(b"alex\x00junk", "publickey", False, "ssh-ed25519", key.asbytes()))
        wait_for(lambda: len(answers) == 3, "three answers")
        assert answers == ["failure", "failure", "failure"]
    finally:
        transport.close()
    refused = wait_for(lambda: len(daemon.events("auth", decision="deny")) == 3 and daemon.events("auth", decision="deny"),
                       "the refusals")
    assert refused[2]["user"] == "alex\\x00junk"
    assert refused[2]["reason"] == "user name contains control characters"
    assert refused[0]["user"] == "al\\xffex" and refused[0]["reason"] == "user name is not valid UTF-8"
    assert refused[1]["user"] == "alex\\x0aportcullisd: forged"
    assert refused[1]["reason"] == "user name contains control characters"
    assert not any(line.startswith("portcullisd: forged") for line in daemon.stderr().splitlines())
