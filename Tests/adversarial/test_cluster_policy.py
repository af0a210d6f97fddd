"""Policy in etcd (issue 14 item 1): three proxies on one real etcd. A key written with policyctl on
one proxy's config admits a forward on the others within a second; a revoked key's sessions end
on all three; with etcd stopped the proxies keep the last good policy (fail-static), say so in
status, metrics and the audit log, and one restarted meanwhile starts from its snapshot; when etcd
returns, changes apply again; two administrators writing at once never lose an update."""

import subprocess
import time
import urllib.request

from rawssh import direct_tcpip, open_channel
from stresslib import Key, daemon_binary, echo_handler, free_port, make_key, policyctl_binary, wait_for


def open_rule(port: int) -> str:
    return f'permit_open: ["127.0.0.1:{port}"]'


def three_proxies(start_daemon, etcd, keys: dict[str, str], **options):
    """Proxies a, b, c on `etcd`; `keys` are written once (by a's start), b and c share them."""
    a = start_daemon(keys, cluster=etcd, proxy_id="a", **options)
    b = start_daemon({}, cluster=etcd, proxy_id="b", **options)
    c = start_daemon({}, cluster=etcd, proxy_id="c", **options)
    for other in (b, c):
        other.keys.update(a.keys)
    return a, b, c


def policyctl(config, *args: str, timeout: float = 30.0) -> subprocess.CompletedProcess:
    return subprocess.run([str(policyctl_binary()), *args, "--config", str(config)],
                          capture_output=True, text=True, timeout=timeout)


def forward_works(daemon, key: str, port: int) -> bool:
    """Logs in with `key` and opens direct-tcpip to the echo service on `port`: whether it echoes."""
    try:
        transport = daemon.paramiko_transport(key, timeout=5)
    except Exception:
        return False
    try:
        opened = open_channel(transport, "direct-tcpip", direct_tcpip("127.0.0.1", port))
        if opened.outcome != "opened":
            return False
        opened.channel.sendall(b"ping")
        return opened.channel.recv(4) == b"ping"
    finally:
        transport.close()


def reload_seen(daemon, **match) -> bool:
    return any(all(record.get(k) == v for k, v in match.items()) for record in daemon.events("daemon-reload"))


def test_a_key_added_on_one_proxy_admits_a_forward_on_the_others_within_a_second(start_daemon, etcd, services,
                                                                                   workdir, measure):
    echo = services(echo_handler)
    a, b, c = three_proxies(start_daemon, etcd, {"alex": open_rule(echo.port)})
    private, public = make_key(workdir / "bob")
    b.keys["bob"] = c.keys["bob"] = Key("bob", private, public)
    assert not forward_works(b, "bob", echo.port), "bob logged in before being added"

    asked = time.monotonic()
    added = policyctl(a.config_path, "add-key", "--name", "bob", "--key-file", str(workdir / "bob.pub"),
                      "--permit-open", f"127.0.0.1:{echo.port}")
    written = time.monotonic()
    assert added.returncode == 0, added.stderr
    assert "added key bob in etcd:/portcullis/keys/bob" in added.stdout and "by itself" in added.stdout
    delays = {}
    for daemon in (a, b, c):
        wait_for(lambda: reload_seen(daemon, outcome="applied", keys_added=["bob"]),
                 f"proxy {daemon.proxy_id} to apply bob", timeout=5, interval=0.005)
        delays[daemon.proxy_id] = time.monotonic() - written
    for proxy, delay in delays.items():
        measure(f"propagation_{proxy}_s", delay)
    # From before policyctl started (its own run included): an upper bound.
    measure("propagation_from_command_s", written - asked + max(delays.values()))
    assert max(delays.values()) < 1.0, f"propagation took {delays}"
    assert forward_works(b, "bob", echo.port) and forward_works(c, "bob", echo.port)
    # Every proxy's log and audit record say where the change came from.
    for daemon in (a, b, c):
        wait_for(lambda: "applied etcd put of /portcullis/keys/bob" in daemon.stderr(), f"{daemon.proxy_id}'s log line")
        assert daemon.events("daemon-reload", keys_added=["bob"])[0]["trigger"].startswith("etcd put of /portcullis/keys/bob at revision ")
    # policyctl reads the same place.
    listed = policyctl(b.config_path, "list-keys")
    assert listed.returncode == 0 and "etcd:/portcullis/keys/bob:" in listed.stdout, listed
    assert "note: cluster mode" in b.policyctl("reload", "--config", str(b.config_path)).stdout


def test_a_revoked_key_ends_its_sessions_on_all_three(start_daemon, etcd, services, measure):
    echo = services(echo_handler)
    a, b, c = three_proxies(start_daemon, etcd, {"alex": open_rule(echo.port), "keep": open_rule(echo.port)})
    sessions = {daemon.proxy_id: daemon.paramiko_transport("alex") for daemon in (a, b, c)}
    try:
        removed = policyctl(c.config_path, "remove-key", "alex")
        written = time.monotonic()
        assert removed.returncode == 0, removed.stderr
        for proxy, transport in sessions.items():
            wait_for(lambda: not transport.is_active(), f"alex's session on {proxy} to end", timeout=5, interval=0.005)
            measure(f"revocation_{proxy}_s", time.monotonic() - written)
        for daemon in (a, b, c):
            wait_for(lambda: daemon.events("session-end"), "the session-end record")
            assert reload_seen(daemon, outcome="applied", keys_removed=["alex"])
        assert not forward_works(b, "alex", echo.port)
        assert forward_works(b, "keep", echo.port)
    finally:
        for transport in sessions.values():
            transport.close()


def test_etcd_down_keeps_the_last_good_policy_and_says_so_then_changes_apply_again(start_daemon, etcd, services,
                                                                                  workdir, procs):
    echo = services(echo_handler)
    metrics_ports = [free_port() for _ in range(3)]
    a = start_daemon({"alex": open_rule(echo.port)}, cluster=etcd, proxy_id="a",
                     extra_yaml=f"metrics_listen: 127.0.0.1:{metrics_ports[0]}")
    b = start_daemon({}, cluster=etcd, proxy_id="b", extra_yaml=f"metrics_listen: 127.0.0.1:{metrics_ports[1]}")
    c = start_daemon({}, cluster=etcd, proxy_id="c", extra_yaml=f"metrics_listen: 127.0.0.1:{metrics_ports[2]}")
    for other in (b, c):
        other.keys.update(a.keys)

    def metric(port: int) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
            return next(line for line in answer.read().decode().splitlines()
                        if line.startswith("portcullis_cluster_connected "))

    assert metric(metrics_ports[1]) == "portcullis_cluster_connected 1"
    wait_for(lambda: (b.dir / "policy.snapshot").exists(), "b's snapshot")
    live = b.paramiko_transport("alex")
    try:
        etcd.stop()
        for daemon in (a, b, c):
            wait_for(lambda: daemon.events("cluster-disconnected"), f"{daemon.proxy_id}'s cluster-disconnected record")
        assert "fail-static" in b.events("cluster-disconnected")[0]["policy"]
        assert metric(metrics_ports[1]) == "portcullis_cluster_connected 0"
        status = b.policyctl("status")
        assert status.returncode == 0 and "policy: stale since " in status.stdout, status
        # The session goes on, and the policy in force still decides: alex still opens, others not.
        opened = open_channel(live, "direct-tcpip", direct_tcpip("127.0.0.1", echo.port))
        assert opened.outcome == "opened"
        opened.channel.sendall(b"ping")
        assert opened.channel.recv(4) == b"ping"
        assert forward_works(c, "alex", echo.port)
        # Frozen: policyctl cannot write, and says why.
        refused = policyctl(a.config_path, "remove-key", "alex")
        assert refused.returncode != 0 and "cannot read the keys from etcd" in refused.stderr, refused

        # b restarted during the outage: it starts from its snapshot and says so.
        b.expect_exit = True
        b.stop()
        restarted = procs.start([str(daemon_binary()), "--config", str(b.config_path)])
        wait_for(lambda: "listening on" in restarted.stderr() or not restarted.alive(), "b to start again", timeout=20)
        assert restarted.alive(), restarted.stderr()
        assert "etcd is unreachable" in restarted.stderr() and f"snapshot {b.dir / 'policy.snapshot'}" in restarted.stderr()
        assert forward_works(b, "alex", echo.port)
        # Without a snapshot (and without etcd) a proxy refuses to start, saying why.
        (c.dir / "policy.snapshot").unlink()
        refused_start = subprocess.run([str(daemon_binary()), "--config", str(c.config_path), "--check"],
                                       capture_output=True, text=True, timeout=30)
        assert refused_start.returncode == 1
        assert "etcd is unreachable" in refused_start.stderr and "no usable policy snapshot" in refused_start.stderr

        # etcd back: every proxy reconnects, and a change applies again everywhere.
        etcd.start()
        for daemon in (a, c):
            wait_for(lambda: daemon.events("cluster-connected"), f"{daemon.proxy_id}'s cluster-connected record")
        wait_for(lambda: "etcd reachable again" in restarted.stderr(), "the restarted b to reconnect")
        assert metric(metrics_ports[1]) == "portcullis_cluster_connected 1"
        removed = policyctl(a.config_path, "remove-key", "alex")
        assert removed.returncode == 0, removed.stderr
        for daemon in (a, c):
            wait_for(lambda: reload_seen(daemon, outcome="applied", keys_removed=["alex"]), f"{daemon.proxy_id} to apply")
        wait_for(lambda: "applied etcd delete of /portcullis/keys/alex" in restarted.stderr(), "b to apply the delete")
        wait_for(lambda: not live.is_active(), "alex's session on b (kept through the outage) to end")
        assert not forward_works(b, "alex", echo.port)
    finally:
        live.close()


def test_two_concurrent_writers_one_wins_the_other_gets_a_conflict(start_daemon, etcd, workdir):
    a = start_daemon({"alex": ""}, cluster=etcd, proxy_id="a")
    for name in ("one", "two"):
        make_key(workdir / name)
    # Both writers read before either writes: etcd is paused until both have sent their read.
    etcd.pause()
    try:
        writers = [subprocess.Popen([str(policyctl_binary()), "add-key", "--config", str(a.config_path), "--name", "dana",
                                     "--key-file", str(workdir / f"{name}.pub")],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                   for name in ("one", "two")]

        def both_waiting() -> bool:
            listing = subprocess.run(["ss", "-tnpH", "state", "established", "dst", f"127.0.0.1:{etcd.client_port}"],
                                     capture_output=True, text=True).stdout
            return all(f"pid={writer.pid}," in listing for writer in writers)
        wait_for(both_waiting, "both writers connected to etcd", timeout=10)
    finally:
        etcd.resume()
    results = [writer.communicate(timeout=30) + (writer.returncode,) for writer in writers]
    codes = sorted(code for _, _, code in results)
    assert codes == [0, 1], results
    loser = next(err for _, err, code in results if code == 1)
    assert "conflict: key \"dana\" (etcd:/portcullis/keys/dana)" in loser and "look again and retry" in loser, loser
    winner = next(out for out, _, code in results if code == 0)
    stored = etcd.get("/portcullis/keys/dana").decode()
    winner_key = next((workdir / f"{name}.pub").read_text().split()[1] for name in ("one", "two")
                      if (workdir / f"{name}.pub").read_text().split()[1] in stored)
    assert "added key dana" in winner and winner_key in stored
    wait_for(lambda: reload_seen(a, outcome="applied", keys_added=["dana"]), "a to apply dana")


def test_an_invalid_entry_written_behind_policyctl_is_refused_and_audited_the_last_good_policy_stays(
        start_daemon, etcd, services):
    echo = services(echo_handler)
    a, b, c = three_proxies(start_daemon, etcd, {"alex": open_rule(echo.port)})
    # Written straight into etcd (not through policyctl, which would refuse it): a bad pattern on line 3.
    alex = etcd.get("/portcullis/keys/alex").decode()
    etcd.put("/portcullis/keys/alex", alex + 'permit_listen: ["nonsense:port"]\n')
    for daemon in (a, b, c):
        wait_for(lambda: reload_seen(daemon, outcome="rejected"), f"{daemon.proxy_id} to refuse the entry")
        error = daemon.events("daemon-reload", outcome="rejected")[0]["error"]
        assert error.startswith("etcd:/portcullis/keys/alex:") and "permit_listen[0] \"nonsense:port\"" in error, error
        wait_for(lambda: "reload rejected, the previous configuration stays in force" in daemon.stderr(),
                 f"{daemon.proxy_id}'s log line")
    # The last good policy decides, and the snapshot still holds it.
    assert forward_works(b, "alex", echo.port)
    assert "nonsense" not in snapshot_entries(b)["alex"]
    etcd.put("/portcullis/keys/alex", alex.replace(f"127.0.0.1:{echo.port}", "127.0.0.1:1"))
    for daemon in (a, b, c):
        wait_for(lambda: reload_seen(daemon, outcome="applied"), f"{daemon.proxy_id} to apply the fixed entry")
    assert not forward_works(c, "alex", echo.port)


def test_the_snapshot_is_written_by_the_service_account_after_the_drop(start_daemon, etcd, workdir):
    """Started as root with user: nobody, the daemon writes its snapshot as nobody, mode 0600."""
    import os
    import pwd
    if os.geteuid() != 0:
        import pytest
        pytest.skip("starts portcullisd as root")
    entry = pwd.getpwnam("nobody")
    os.chmod(workdir, 0o755)
    wrapper = ["/bin/sh", "-c", f'chown -R {entry.pw_uid}:{entry.pw_gid} "{workdir / "d0"}" && exec "$@"', "sh"]
    a = start_daemon({"alex": ""}, cluster=etcd, proxy_id="a", extra_yaml="user: nobody", wrapper=wrapper)
    assert "running as user nobody" in a.stderr()
    snapshot = a.dir / "policy.snapshot"
    wait_for(snapshot.exists, "the snapshot")
    status = snapshot.stat()
    assert (status.st_uid, status.st_mode & 0o777) == (entry.pw_uid, 0o600)
    # Rewritten (as nobody) at each change.
    etcd.delete("/portcullis/keys/alex")
    wait_for(lambda: "alex" not in snapshot.read_text(), "the snapshot without alex")
    assert snapshot.stat().st_uid == entry.pw_uid


# -- Per-entry fail-static (red-team finding 7 of issue 14): an entry in etcd that does not load is
# refused on its own; every removal and every other valid change still applies.

BROKEN = "name: zz\nkey: not a key\n"


def snapshot_entries(daemon) -> dict[str, str]:
    """The snapshot's entries by name, their values decoded."""
    import base64
    import json
    data = json.loads((daemon.dir / "policy.snapshot").read_text())
    return {key["name"]: base64.b64decode(key["value"]).decode() for key in data["keys"]}


def test_a_broken_entry_next_to_a_valid_change_to_another_key_applies_the_valid_change(start_daemon, etcd, services):
    echo = services(echo_handler)
    a, b, c = three_proxies(start_daemon, etcd, {"alex": open_rule(echo.port), "blake": open_rule(1)})
    etcd.put("/portcullis/keys/zz", BROKEN)
    for daemon in (a, b, c):
        wait_for(lambda: reload_seen(daemon, outcome="rejected", refused_keys=["zz"]), f"{daemon.proxy_id} to refuse zz")
    assert not forward_works(b, "blake", echo.port)
    blake = etcd.get("/portcullis/keys/blake").decode()
    etcd.put("/portcullis/keys/blake", blake.replace("127.0.0.1:1\"", f"127.0.0.1:{echo.port}\""))
    for daemon in (a, b, c):
        wait_for(lambda: reload_seen(daemon, outcome="applied", refused_keys=["zz"]), f"{daemon.proxy_id} to apply blake")
        record = [r for r in daemon.events("daemon-reload") if r.get("outcome") == "applied" and r.get("refused_keys")][-1]
        assert record["error"].startswith("etcd:/portcullis/keys/zz:2: "), record
        assert "left out" in record["error"] and record["kept_keys"] == [] and record["keys"] == 2, record
        assert record["trigger"].startswith("etcd put of /portcullis/keys/blake"), record
        # The log line follows the audit record.
        wait_for(lambda: "the policy is partly stale, refused: etcd:/portcullis/keys/zz:2: " in daemon.stderr(),
                 f"{daemon.proxy_id}'s log line")
    assert forward_works(b, "blake", echo.port) and forward_works(c, "alex", echo.port)
    status = b.policyctl("status")
    assert status.returncode == 0, status.stderr
    assert "accepted: applied etcd put of /portcullis/keys/blake" in status.stdout, status.stdout
    assert "partly stale, refused: etcd:/portcullis/keys/zz:2: " in status.stdout, status.stdout


def test_a_broken_new_entry_grants_nothing(start_daemon, etcd, services, workdir):
    echo = services(echo_handler)
    a = start_daemon({"keep": open_rule(echo.port)}, cluster=etcd, proxy_id="a")
    private, public = make_key(workdir / "zz")
    a.keys["zz"] = Key("zz", private, public)
    # A real key with the right to open the echo service, and one field that does not load.
    etcd.put("/portcullis/keys/zz", f'name: zz\nkey: "{public}"\n{open_rule(echo.port)}\npermit_listen: ["nonsense:port"]\n')
    wait_for(lambda: reload_seen(a, outcome="rejected", refused_keys=["zz"]), "the refused entry")
    assert not forward_works(a, "zz", echo.port)
    # Still nothing once another change applies.
    keep = etcd.get("/portcullis/keys/keep").decode()
    etcd.put("/portcullis/keys/keep", keep + "# touched\n")
    wait_for(lambda: reload_seen(a, outcome="applied", refused_keys=["zz"]), "the other change")
    assert not forward_works(a, "zz", echo.port)
    assert forward_works(a, "keep", echo.port)
    assert "zz" not in snapshot_entries(a)


def test_a_broken_edit_keeps_the_last_good_rules_and_never_widens(start_daemon, etcd, services):
    first, second = services(echo_handler), services(echo_handler)
    a = start_daemon({"alex": open_rule(first.port), "keep": open_rule(first.port)}, cluster=etcd, proxy_id="a")
    live = a.paramiko_transport("alex")
    try:
        alex = etcd.get("/portcullis/keys/alex").decode()
        # The edit would move alex to the second service, and does not load (line 4).
        edit = alex.replace(f"127.0.0.1:{first.port}", f"127.0.0.1:{second.port}") + 'permit_listen: ["nonsense:port"]\n'
        etcd.put("/portcullis/keys/alex", edit)
        wait_for(lambda: reload_seen(a, outcome="rejected", refused_keys=["alex"]), "the refused edit")
        keep = etcd.get("/portcullis/keys/keep").decode()
        etcd.put("/portcullis/keys/keep", keep + "# touched\n")
        wait_for(lambda: reload_seen(a, outcome="applied", kept_keys=["alex"]), "the other change, alex kept")
        record = a.events("daemon-reload", outcome="applied", kept_keys=["alex"])[0]
        assert record["error"].startswith("etcd:/portcullis/keys/alex:4: permit_listen[0]"), record
        assert "its last good version (mod_revision" in record["error"], record
        assert record["keys_removed"] == [] and record["keys"] == 2, record
        # alex's sessions go on under its last good rules; the edit grants nothing.
        assert live.is_active()
        assert forward_works(a, "alex", first.port)
        assert not forward_works(a, "alex", second.port)
        assert snapshot_entries(a)["alex"] == alex
    finally:
        live.close()


def test_the_snapshot_never_holds_a_broken_entry(start_daemon, etcd, services):
    echo = services(echo_handler)
    a = start_daemon({"alex": open_rule(echo.port), "blake": open_rule(echo.port), "keep": open_rule(echo.port)},
                     cluster=etcd, proxy_id="a")
    blake = etcd.get("/portcullis/keys/blake").decode()
    etcd.put("/portcullis/keys/zz", BROKEN)
    etcd.put("/portcullis/keys/blake", blake + "bogus_field: 1\n")
    wait_for(lambda: reload_seen(a, outcome="rejected", refused_keys=["blake", "zz"]), "both refused")
    etcd.delete("/portcullis/keys/alex")
    wait_for(lambda: reload_seen(a, outcome="applied", keys_removed=["alex"]), "alex removed")
    wait_for(lambda: "alex" not in snapshot_entries(a), "the snapshot without alex")
    entries = snapshot_entries(a)
    assert sorted(entries) == ["blake", "keep"], entries
    assert entries["blake"] == blake and "bogus_field" not in entries["blake"]


def test_remove_key_works_with_a_broken_entry_present(start_daemon, etcd, services, workdir):
    echo = services(echo_handler)
    a = start_daemon({"alex": open_rule(echo.port), "keep": open_rule(echo.port)}, cluster=etcd, proxy_id="a")
    live = a.paramiko_transport("alex")
    try:
        etcd.put("/portcullis/keys/zz", BROKEN)
        wait_for(lambda: reload_seen(a, outcome="rejected", refused_keys=["zz"]), "the refused entry")
        removed = policyctl(a.config_path, "remove-key", "alex")
        assert removed.returncode == 0, removed.stderr
        assert "removed key alex (etcd:/portcullis/keys/alex)" in removed.stdout, removed.stdout
        assert "warning: 1 key entry in etcd does not load (zz)" in removed.stderr, removed.stderr
        assert "etcd:/portcullis/keys/zz:2: " in removed.stderr, removed.stderr
        wait_for(lambda: not live.is_active(), "alex's session to end", timeout=5)
        wait_for(lambda: reload_seen(a, outcome="applied", keys_removed=["alex"], refused_keys=["zz"]), "the removal")
        assert etcd.get("/portcullis/keys/alex") is None
        # The others go on working for the rest, naming the broken entry; validate refuses it.
        listed = policyctl(a.config_path, "list-keys")
        # By the name column: a fingerprint may well contain "zz".
        names = [line.split()[0] for line in listed.stdout.splitlines()[1:] if line.strip()]
        assert listed.returncode == 0 and "keep" in names and "zz" not in names, listed
        assert "etcd:/portcullis/keys/zz:2: " in listed.stderr, listed.stderr
        checked = policyctl(a.config_path, "check", "--key", "zz", "open", f"127.0.0.1:{echo.port}")
        assert checked.returncode == 1, checked
        assert "deny: key \"zz\": its entry in etcd does not load: etcd:/portcullis/keys/zz:2: " in checked.stdout, checked
        allowed = policyctl(a.config_path, "check", "--key", "keep", "open", f"127.0.0.1:{echo.port}")
        assert allowed.returncode == 0 and allowed.stdout.startswith("allow: etcd:/portcullis/keys/keep:3"), allowed
        validated = policyctl(a.config_path, "validate")
        assert validated.returncode == 1 and "etcd:/portcullis/keys/zz:2: " in validated.stdout, validated
        # A new entry that loads can still be added; the broken one can be removed itself.
        make_key(workdir / "dana")
        added = policyctl(a.config_path, "add-key", "--name", "dana", "--key-file", str(workdir / "dana.pub"),
                          "--permit-open", f"127.0.0.1:{echo.port}")
        assert added.returncode == 0 and "added key dana" in added.stdout, added
        assert "etcd:/portcullis/keys/zz:2: " in added.stderr, added.stderr
        wait_for(lambda: reload_seen(a, outcome="applied", keys_added=["dana"]), "dana added")
        gone = policyctl(a.config_path, "remove-key", "zz")
        assert gone.returncode == 0 and "removed key zz" in gone.stdout, gone
        assert etcd.get("/portcullis/keys/zz") is None
        validated = policyctl(a.config_path, "validate")
        assert validated.returncode == 0, validated
    finally:
        live.close()


def test_a_removal_applies_even_while_the_main_file_does_not_load(start_daemon, etcd, services):
    """Each etcd change re-reads the main file; one broken there refuses the reload as a whole (the
    last good policy stays), but a deleted key still leaves it and its sessions end."""
    echo = services(echo_handler)
    a = start_daemon({"alex": open_rule(echo.port), "keep": open_rule(echo.port)}, cluster=etcd, proxy_id="a")
    live = a.paramiko_transport("alex")
    try:
        good = a.config_path.read_text()
        a.config_path.write_text(good + "no_such_setting: 1\n")
        keep = etcd.get("/portcullis/keys/keep").decode()
        etcd.put("/portcullis/keys/keep", keep + "# touched\n")
        wait_for(lambda: reload_seen(a, outcome="rejected"), "the refused reload")
        assert live.is_active()
        etcd.delete("/portcullis/keys/alex")
        wait_for(lambda: not live.is_active(), "alex's session to end", timeout=5)
        record = a.events("daemon-reload", outcome="applied", keys_removed=["alex"])[0]
        assert f"{a.config_path}:" in record["error"] and "no_such_setting" in record["error"], record
        assert record["keys"] == 1, record
        assert "alex" not in snapshot_entries(a) and "keep" in snapshot_entries(a)
        assert forward_works(a, "keep", echo.port)
        # Fixed: everything applies again.
        a.config_path.write_text(good)
        etcd.put("/portcullis/keys/keep", keep)
        wait_for(lambda: [r for r in a.events("daemon-reload") if r.get("outcome") == "applied" and "error" not in r
                          and r.get("trigger", "").startswith("etcd put of /portcullis/keys/keep")], "a clean reload")
    finally:
        live.close()


def test_a_proxy_restarted_while_entries_are_broken_starts_with_what_loads_and_the_snapshots_last_good(
        start_daemon, etcd, services):
    """A broken entry in etcd does not keep a proxy from starting again (after a crash, a reboot,
    an upgrade): it starts with every entry that loads, the snapshot's last good version of a
    broken edit, and nothing for a broken new entry, and its log names each refused entry.
    `portcullisd --check` still calls the configuration invalid."""
    echo = services(echo_handler)
    a = start_daemon({"alex": open_rule(echo.port), "blake": open_rule(echo.port)}, cluster=etcd, proxy_id="a")
    alex = etcd.get("/portcullis/keys/alex").decode()
    etcd.put("/portcullis/keys/alex", alex.replace(f"127.0.0.1:{echo.port}", "127.0.0.1:*") + "permit_listen: [nonsense:port]\n")
    etcd.put("/portcullis/keys/zz", BROKEN)
    wait_for(lambda: a.events("daemon-reload", outcome="rejected"), "the refused change")
    assert "alex" in snapshot_entries(a) and "zz" not in snapshot_entries(a)

    a.expect_exit = True
    assert a.restart() == 0
    a.expect_exit = False
    said = a.stderr()
    assert "starting with 2 key entries refused; the policy is partly stale" in said, said
    assert "etcd:/portcullis/keys/alex:" in said and "etcd:/portcullis/keys/zz:" in said, said
    # alex as it was (its echo only, never the broken edit's wider rule); blake untouched.
    assert forward_works(a, "alex", echo.port) and forward_works(a, "blake", echo.port)
    check = subprocess.run([str(daemon_binary()), "--check", "--config", str(a.config_path)],
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 1 and "etcd:/portcullis/keys/zz:" in check.stderr, check
