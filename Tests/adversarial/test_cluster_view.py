"""Cluster view (issue 14, item 5): every audit record names the proxy that wrote it;
`policyctl audit` reads the logs of several proxies merged in time order and verifies each chain
alone; `policyctl cluster status` / `tunnels` show what etcd holds of the members and claims."""

import json
import socket
import subprocess

from stresslib import REPO_ROOT, wait_for

POLICYCTL = REPO_ROOT / ".build/release/policyctl"
KEYS = {"alex": 'permit_open: ["127.0.0.1:1"]'}


def policyctl(*arguments) -> subprocess.CompletedProcess:
    return subprocess.run([str(POLICYCTL), *map(str, arguments)], capture_output=True, text=True, timeout=60)


def login(daemon, sessions: int):
    """Logs alex in and out; waits for the daemon to record the end of its `sessions`-th session."""
    daemon.paramiko_transport("alex").close()
    wait_for(lambda: len(daemon.events("session-end")) == sessions, f"session-end number {sessions}")


def test_two_proxies_logs_merge_in_time_order_and_each_chain_verifies(start_daemon):
    a = start_daemon(KEYS, extra_yaml="proxy_id: proxy-a")
    b = start_daemon(KEYS, extra_yaml="proxy_id: proxy-b")
    # Interleaved: a, b, a. Both proxies number their sessions on their own.
    login(a, 1)
    login(b, 1)
    login(a, 2)
    for daemon in (a, b):
        assert daemon.stop() == 0
        daemon.expect_exit = True
    for daemon, proxy in ((a, "proxy-a"), (b, "proxy-b")):
        records = daemon.audit()
        assert records and all(r["proxy"] == proxy for r in records), records
        # Right after event (and session): the whole line is what the chain hashes.
        assert all(f'"event":"{r["event"]}"' in line for r, line in zip(records, daemon.audit_log.read_text().splitlines()))

    merged = policyctl("audit", "--json", a.audit_log, b.audit_log)
    assert merged.returncode == 0, merged.stderr
    lines = merged.stdout.splitlines()
    shown = [json.loads(line) for line in lines]
    assert len(shown) == len(a.audit()) + len(b.audit())
    assert [r["ts"] for r in shown] == sorted(r["ts"] for r in shown)
    assert set(lines) == set(a.audit_log.read_text().splitlines()) | set(b.audit_log.read_text().splitlines())
    ends = [(r["proxy"], r["session"]) for r in shown if r["event"] == "session-end"]
    a_ends, b_ends = [r["session"] for r in a.events("session-end")], [r["session"] for r in b.events("session-end")]
    assert ends == [("proxy-a", a_ends[0]), ("proxy-b", b_ends[0]), ("proxy-a", a_ends[1])], ends

    only_b = policyctl("audit", "--json", "--proxy", "proxy-b", "--event", "auth", a.audit_log, b.audit_log)
    assert [json.loads(line)["proxy"] for line in only_b.stdout.splitlines()] == ["proxy-b"]
    table = policyctl("audit", "--event", "session-end", a.audit_log, b.audit_log)
    assert table.returncode == 0
    assert table.stdout.splitlines()[0].startswith("TIME (UTC)           PROXY       SESSION  EVENT")
    assert [line.split()[2] for line in table.stdout.splitlines()[1:]] == ["proxy-a", "proxy-b", "proxy-a"]

    verify = policyctl("audit", "verify", b.audit_log, a.audit_log)
    assert verify.returncode == 0, verify.stdout
    assert verify.stdout.splitlines() == [
        f"proxy-b: audit log intact: {len(b.audit())} records, seq 1-{len(b.audit())} across 1 file",
        f"proxy-a: audit log intact: {len(a.audit())} records, seq 1-{len(a.audit())} across 1 file",
    ]
    # One changed byte in proxy-b's log: its chain is broken there, proxy-a's still intact.
    text = b.audit_log.read_text().splitlines()
    text[2] = text[2].replace('"proxy":"proxy-b"', '"proxy":"proxy-c"')
    b.audit_log.write_text("\n".join(text) + "\n")
    broken = policyctl("audit", "verify", a.audit_log, b.audit_log)
    assert broken.returncode == 1
    assert broken.stdout.splitlines() == [
        f"proxy-a: audit log intact: {len(a.audit())} records, seq 1-{len(a.audit())} across 1 file",
        f"proxy-b: audit log BROKEN at {b.audit_log}:3: modified: its hash does not match the prev of {b.audit_log}:4",
    ]


def test_without_proxy_id_records_name_the_host(start_daemon):
    daemon = start_daemon(KEYS)
    login(daemon, 1)
    assert {r["proxy"] for r in daemon.audit()} == {socket.gethostname()}


def test_cluster_status_and_tunnels_show_what_etcd_holds(etcd, workdir):
    config = workdir / "portcullis.yaml"
    config.write_text(f'listen: ["127.0.0.1:2222"]\nhost_keys: ["{workdir / "host_key"}"]\n'
                      f'socket_root: "{workdir / "sockets"}"\naudit_log: off\nproxy_id: viewer\n'
                      f'cluster: {{etcd: ["{etcd.url}"]}}\n')
    live, dying = etcd.grant(60), etcd.grant(2)
    etcd.put("/portcullis/members/proxy-a", json.dumps({"advertise": "127.0.0.1:2201", "host_key": "ssh-ed25519 AAAA",
                                                        "started": "2026-12-02T03:00:00.000Z", "sessions": 2}), lease=live)
    etcd.put("/portcullis/members/proxy-b", json.dumps({"advertise": "127.0.0.1:2202", "host_key": "ssh-ed25519 BBBB",
                                                        "started": "2026-12-02T03:01:00.000Z", "sessions": 0}), lease=dying)
    etcd.put("/portcullis/claims/socket/alex/web.sock", json.dumps({"proxy": "proxy-a", "session": 12, "key": "alex",
                                                                   "since": "2026-12-02T03:02:00.000Z"}), lease=live)
    etcd.put("/portcullis/claims/tcp/localhost:8080", json.dumps({"proxy": "proxy-b", "session": 3, "key": "blake",
                                                                 "since": "2026-12-02T03:03:00.000Z"}), lease=dying)

    status = policyctl("cluster", "status", "--json", "--config", config)
    assert status.returncode == 0, status.stderr
    members = json.loads(status.stdout)["members"]
    assert [(m["proxy"], m["advertise"], m["sessions"]) for m in members] == [("proxy-a", "127.0.0.1:2201", 2),
                                                                            ("proxy-b", "127.0.0.1:2202", 0)]
    assert members[0]["lease"]["granted_ttl"] == 60 and 55 <= members[0]["lease"]["ttl_left"] <= 60
    tunnels = policyctl("cluster", "tunnels", "--config", config)
    assert tunnels.returncode == 0, tunnels.stderr
    rows = [line.split() for line in tunnels.stdout.splitlines()[2:]]
    assert rows == [["socket", "alex/web.sock", "proxy-a", "alex", "12", "2026-12-02", "03:02:00"],
                    ["tcp", "localhost:8080", "proxy-b", "blake", "3", "2026-12-02", "03:03:00"]]

    # proxy-b no longer renews its lease (it died): etcd drops its member record and its claim.
    wait_for(lambda: "proxy-b" not in policyctl("cluster", "status", "--config", config).stdout,
             "proxy-b to leave the member list", timeout=15, interval=0.2)
    assert "proxy-b" not in policyctl("cluster", "tunnels", "--config", config).stdout

    # etcd gone: a clear error, exit 1, within the deadline.
    etcd.stop()
    gone = policyctl("cluster", "status", "--config", config, "--timeout", "2")
    assert gone.returncode == 1
    assert gone.stderr.startswith(f"policyctl: cannot read the cluster from etcd: etcd {etcd.url}: "), gone.stderr


def test_a_reload_that_changes_proxy_id_or_cluster_says_it_takes_effect_at_the_next_start(start_daemon, etcd):
    """The registry and the member links are set up at the start: a reload (SIGHUP, policyctl
    reload) that changes proxy_id or cluster: says so instead of changing nothing silently, and the
    proxy stays registered under the id it started with."""
    daemon = start_daemon(KEYS, cluster=etcd, proxy_id="a")
    wait_for(lambda: etcd.get("/portcullis/members/a"), "a's member record")
    text = daemon.config_path.read_text()
    assert "lease_ttl: 2s" in text, text
    daemon.config_path.write_text(text.replace("lease_ttl: 2s", "lease_ttl: 3s"))
    result = daemon.policyctl("reload")
    assert result.returncode == 0, result.stderr
    wait_for(lambda: "proxy_id and cluster changes take effect at the next start" in daemon.stderr(), "the notice")
    daemon.config_path.write_text(daemon.config_path.read_text().replace("proxy_id: a", "proxy_id: renamed"))
    assert daemon.policyctl("reload").returncode == 0
    wait_for(lambda: daemon.stderr().count("proxy_id and cluster changes take effect at the next start") == 2,
             "the second notice")
    assert etcd.get("/portcullis/members/a") and etcd.get("/portcullis/members/renamed") is None
