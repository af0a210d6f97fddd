"""Red-team review of cluster mode (issue 14): attacks on what was built, on loopback with a real
etcd and real daemons. Each test is one finding; see the module's functions for what a client or an
administrator sees.
"""

from __future__ import annotations

import json
import os
import socket
import time

import pytest

import stresslib
from rawssh import direct_tcpip, open_channel
from stresslib import sha256, wait_for
from test_cluster_policy import policyctl
from test_cluster_peering import PREFIX, _digest_service, _exchange, _forward, _member, _member_transport, \
    _relay_open, _rule, _share


def _fake_member(etcd, workdir, proxy_id: str, port: int = 1):
    """A member record written by hand (as an administrator's etcd or a member's registry would),
    with a host key whose private half the test holds: what a member proxy's stolen host key is."""
    key_path, public = stresslib.make_key(workdir / f"member-{proxy_id}")
    lease = etcd.grant(120)
    etcd.put(f"{PREFIX}members/{proxy_id}",
             json.dumps({"advertise": f"127.0.0.1:{port}", "host_key": public,
                         "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "sessions": 0}),
             lease=lease)
    return key_path, lease


def test_a_member_removed_from_etcd_loses_its_open_link_and_opens_nothing_more(start_daemon, etcd, procs,
                                                                               services, workdir):
    """Finding: a member link outlived its member. The member door admitted a login against the
    member view, but the session's rights were never looked at again when the view changed: a
    member whose record was deleted (its lease revoked by an administrator after its host key
    leaked, say) kept its link and went on opening every socket the proxy serves."""
    a = _member(start_daemon, etcd, "a", {"sharer": _rule("listen", workdir)})
    key_path, _ = _fake_member(etcd, workdir, "m")
    wait_for(lambda: "peering: members a, m" in a.stderr(), "a to see member m")
    service = _digest_service(services)
    _share(a, procs, f"{a.socket_root}/alex/web.sock", service.port)

    link = _member_transport(a, key_path, "m")
    try:
        assert link.is_authenticated()
        served = open_channel(link, "direct-streamlocal@openssh.com", _relay_open("alex/web.sock", "m-1-1-x"))
        assert served.outcome == "opened", served
        served.channel.close()

        etcd.delete(f"{PREFIX}members/m")
        wait_for(lambda: "peering: members a\n" in a.stderr(), "a's member view without m")
        # The link ends, naming why, within a short while of the view changing.
        wait_for(lambda: not link.is_active(), "the revoked member's link to end", timeout=5)
        ends = wait_for(lambda: [r for r in a.events("session-end") if r.get("key") == "member:m"],
                        "the member session's session-end record")
        assert ends[0].get("reason", "").startswith("proxy m is no longer a cluster member"), ends
    finally:
        link.close()
    # And it cannot come back.
    again = _member_transport(a, key_path, "m")
    try:
        assert not again.is_authenticated()
    finally:
        again.close()


def test_a_hung_etcd_is_noticed_by_the_policy_watch(start_daemon, etcd):
    """Finding: the policy watch trusted a silent connection. With etcd hung (SIGSTOP: the kernel
    still holds the TCP connection, nothing answers) the watch waited without a deadline, so the
    proxy went on saying its policy was current (portcullis_cluster_connected 1, no
    cluster-disconnected record, `policyctl status` not stale) while no change could reach it; the
    same for a connection a network drops silently. Now a probe every 2 s (a linearizable read)
    that gets no answer is a lost connection: fail-static, said, reconnected."""
    a = start_daemon({"spare": 'permit_open: ["127.0.0.1:1"]'}, cluster=etcd, proxy_id="a")
    # The watch is up and delivering: a change reaches the proxy.
    etcd.delete(f"{PREFIX}keys/spare")
    wait_for(lambda: [r for r in a.events("daemon-reload") if r.get("outcome") == "applied"], "the watched change")
    etcd.pause()
    try:
        records = wait_for(lambda: a.events("cluster-disconnected"), "a's cluster-disconnected record", timeout=15)
        assert "fail-static" in records[0]["policy"], records
        status = a.policyctl("status")
        assert "policy: stale since " in status.stdout, status
    finally:
        etcd.resume()
    wait_for(lambda: a.events("cluster-connected"), "a's cluster-connected record once etcd answers", timeout=20)


def _send_listens(transport, paths: list[str]):
    """Sends one streamlocal-forward per path, each wanting a reply, without waiting for any."""
    from paramiko.common import cMSG_GLOBAL_REQUEST
    from paramiko.message import Message
    for path in paths:
        m = Message()
        m.add_byte(cMSG_GLOBAL_REQUEST)
        m.add_string("streamlocal-forward@openssh.com")
        m.add_boolean(True)
        m.add_string(path)
        transport._send_user_message(m)


def test_a_hung_etcd_does_not_stall_the_other_sessions_on_a_proxy(start_daemon, etcd, services, workdir):
    """Finding: a listen's claim waits for etcd on the event loop it shares with other sessions.
    With etcd hung (SIGSTOP), one key allowed to listen sends a handful of -R requests; until the
    lease's keep-alive notices (up to TTL/3 plus its timeout) each of them holds the loop for the
    claim's timeout, and every other session on that loop (an unrelated user's forward here)
    gets no byte through meanwhile."""
    echo = services(stresslib.echo_handler)
    a = start_daemon({"sharer": _rule("listen", workdir), "victim": f'permit_open: ["127.0.0.1:{echo.port}"]'},
                     cluster=etcd, proxy_id="a", cluster_yaml="lease_ttl: 10s")
    wait_for(lambda: "registered" in a.stderr() or etcd.get(f"{PREFIX}members/a"), "a's member record")
    # Sessions go to the event loops in turn: a few victims, so that some share the sharer's loop.
    attacker = a.paramiko_transport("sharer")
    victims = [a.paramiko_transport("victim") for _ in range(3)]
    channels = []
    try:
        for victim in victims:
            opened = open_channel(victim, "direct-tcpip", direct_tcpip("127.0.0.1", echo.port))
            assert opened.outcome == "opened", opened
            channels.append(opened.channel)
        etcd.pause()
        try:
            _send_listens(attacker, [f"{a.socket_root}/alex/s{i}.sock" for i in range(6)])
            worst = 0.0
            until = time.monotonic() + 6
            while time.monotonic() < until:
                for channel in channels:
                    started = time.monotonic()
                    channel.settimeout(15)
                    channel.sendall(b"x")
                    assert channel.recv(1) == b"x"
                    worst = max(worst, time.monotonic() - started)
        finally:
            etcd.resume()
        assert worst < 0.5, f"an unrelated forward stalled {worst:.2f} s while etcd hung"
    finally:
        for transport in [attacker, *victims]:
            transport.close()


def test_a_proxy_with_a_long_proxy_id_can_relay(start_daemon, etcd, procs, services, workdir):
    """Finding: a proxy_id may be 253 characters (a host name, the default), but the holder took a
    correlation id (PROXY_ID-SESSION-CHANNEL-RANDOM) of at most 128: every relayed open from a
    proxy whose id is longer than about 100 characters was refused ("the correlation id ... must be
    1 to 128 ..."), and its users reached no socket on another proxy."""
    long_id = "b." + "x" * 148
    a = _member(start_daemon, etcd, "a", {"sharer": _rule("listen", workdir)})
    b = _member(start_daemon, etcd, long_id, {"reader-b": _rule("open", workdir)})
    for daemon in (a, b):
        wait_for(lambda: f"peering: members a, {long_id}" in daemon.stderr(), f"{daemon.proxy_id[:8]} to see both")
    service = _digest_service(services)
    _share(a, procs, f"{a.socket_root}/alex/web.sock", service.port)
    local = str(workdir / "b.sock")
    _forward(b, procs, "reader-b", local, f"{b.socket_root}/alex/web.sock")
    try:
        answer, _, _ = _exchange(local, b"ping")
    except OSError:  # the relay refused: the consumer's connection is reset
        answer = b""
    refusals = [r.get("reason") for r in b.events("relay") if r.get("reason")]
    assert answer.split(b"\n", 1)[0].decode() == sha256(b"ping"), refusals


def test_a_member_s_odd_opens_are_refused_with_a_reason_and_nothing_is_served(start_daemon, etcd, procs, services,
                                                                              workdir):
    """Checked, holds: a member (its host key) asking for a correlation id with control characters
    or of 100 KB, a path through a symbolic link under socket_root, a path of another proxy's
    session or an empty one, is refused with a reason on the audit record; the socket it
    names is never reached, and a 100 KB id is not written to the log."""
    a = _member(start_daemon, etcd, "a", {"sharer": _rule("listen", workdir)})
    key_path, _ = _fake_member(etcd, workdir, "m")
    wait_for(lambda: "peering: members a, m" in a.stderr(), "a to see member m")
    hits = []
    reached = []

    def handler(conn):
        reached.append(1)
        conn.close()
    service = services(handler)
    _share(a, procs, f"{a.socket_root}/alex/web.sock", service.port)
    # A symbolic link (made by someone with write access under socket_root) to the served socket.
    os.symlink(f"{a.socket_root}/alex/web.sock", f"{a.socket_root}/alex/link.sock")
    link = _member_transport(a, key_path, "m")
    try:
        assert link.is_authenticated()
        cases = {
            "control": ("alex/web.sock", "m-1-1-\x1b[2J"),
            "huge": ("alex/web.sock", "m" * 100_000),
            "symlink": ("alex/link.sock", "m-1-3-x"),
            "empty": ("", "m-1-4-x"),
            "dot": ("alex/./web.sock", "m-1-5-x"),
            "double-slash": ("alex//web.sock", "m-1-6-x"),
            "nul": ("alex/web.sock\x00x", "m-1-7-x"),
        }
        for name, (path, correlation) in cases.items():
            result = open_channel(link, "direct-streamlocal@openssh.com", _relay_open(path, correlation))
            assert result.outcome == "refused" and result.reason, (name, result)
            hits.append((name, result.reason))
        assert link.is_active()
        assert not reached, hits
        # The control: a well-formed open of the same socket reaches the service.
        good = open_channel(link, "direct-streamlocal@openssh.com", _relay_open("alex/web.sock", "m-1-8-x"))
        assert good.outcome == "opened", good
        wait_for(lambda: reached, "the well-formed open to reach the service")
    finally:
        link.close()
    a.assert_alive()
    log = (a.dir / "audit.log").read_text() if (a.dir / "audit.log").exists() else ""
    assert "m" * 1000 not in log and "m" * 1000 not in a.stderr()


def test_a_revoked_consumer_s_relayed_channels_end_on_the_holder_too(start_daemon, etcd, procs, services, workdir):
    """Checked, holds: the key of a consumer on B is removed from etcd while its relayed channel to
    A's socket is open: its session on B ends, and A's end of the relay (the connection to the
    shared service) closes too, recorded on A with the same correlation id."""
    a = _member(start_daemon, etcd, "a", {"sharer": _rule("listen", workdir)})
    b = _member(start_daemon, etcd, "b", {"reader-b": _rule("open", workdir)})
    for daemon in (a, b):
        wait_for(lambda: "peering: members a, b" in daemon.stderr(), f"{daemon.proxy_id} to see both")
    ended = []

    def handler(conn):
        while True:
            try:
                data = conn.recv(65536)
            except OSError:
                data = b""
            if not data:
                ended.append(time.monotonic())
                return
            conn.sendall(data)
    service = services(handler)
    _share(a, procs, f"{a.socket_root}/alex/web.sock", service.port)
    local = str(workdir / "b.sock")
    _forward(b, procs, "reader-b", local, f"{b.socket_root}/alex/web.sock")
    consumer = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    consumer.settimeout(10)
    consumer.connect(local)
    try:
        consumer.sendall(b"x")
        assert consumer.recv(1) == b"x"
        relay = wait_for(lambda: [r for r in b.events("relay") if not r.get("reason")], "b's relay record")[0]
        etcd.delete(f"{PREFIX}keys/reader-b")
        wait_for(lambda: [r for r in b.events("session-end") if r.get("key") == "reader-b"], "reader-b's session on b to end")
        wait_for(lambda: ended, "A's end of the relay to close", timeout=10)
        served = [r for r in a.events("relay") if r.get("correlation") == relay["correlation"]]
        assert served and served[0]["direction"] == "from", served
        closes = wait_for(lambda: a.events("channel-close", session=served[0]["session"], channel=served[0]["channel"]),
                          "A's channel-close of the relay")
        assert closes
        # Every record of both proxies names its proxy.
        for daemon in (a, b):
            assert all(r.get("proxy") == daemon.proxy_id for r in daemon.audit()), \
                [r for r in daemon.audit() if r.get("proxy") != daemon.proxy_id][:3]
    finally:
        consumer.close()


def test_a_broken_entry_in_etcd_does_not_keep_a_removed_key_alive(start_daemon, etcd, services, workdir):
    """Finding: one entry that does not load, written straight into etcd (by hand, or a tool other
    than policyctl), freezes the whole policy in force (fail-static), and then no key can be
    revoked: `policyctl remove-key alex` refuses to run ("invalid configuration:
    etcd:/portcullis/keys/zz:2: ..."), and deleting keys/alex in etcd is one more refused reload:
    alex's live sessions go on, on every proxy, until someone finds and fixes keys/zz. A removal
    only takes rights away; it should apply whatever else is broken."""
    echo = services(stresslib.echo_handler)
    rule = f'permit_open: ["127.0.0.1:{echo.port}"]'
    a = start_daemon({"alex": rule, "keep": rule}, cluster=etcd, proxy_id="a")
    live = a.paramiko_transport("alex")
    try:
        etcd.put(f"{PREFIX}keys/zz", b"name: zz\nkey: not a key\n")
        wait_for(lambda: [r for r in a.events("daemon-reload") if r.get("outcome") == "rejected"], "the refused reload")
        removed = policyctl(a.config_path, "remove-key", "alex")
        if removed.returncode != 0:   # what an administrator falls back on
            etcd.delete(f"{PREFIX}keys/alex")
        wait_for(lambda: not live.is_active(), "alex's session to end once alex is removed", timeout=5)
    finally:
        live.close()


class _FakeEtcd:
    """Something on an etcd endpoint that is not etcd: it answers each connection with `answer`
    (bytes, or a callable writing to the socket), whatever was asked."""

    def __init__(self, answer):
        import threading
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.answer = answer
        self.stopped = False
        threading.Thread(target=self._serve, daemon=True).start()

    def put(self, key, value, lease=None):
        raise AssertionError("the fake etcd holds no keys")

    def _serve(self):
        import threading
        while not self.stopped:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn):
        try:
            conn.settimeout(30)
            conn.recv(65536)
            if callable(self.answer):
                self.answer(conn)
            else:
                conn.sendall(self.answer)
        except OSError:
            pass
        finally:
            conn.close()

    def stop(self):
        self.stopped = True
        self.listener.close()


def _endless_json(conn):
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n")
    chunk = b'{"kvs":[' + b'{"key":"AAAA","value":"' + b"A" * 65536 + b'"},' 
    for _ in range(2000):   # 128 MiB, unless the reader stops first
        conn.sendall(chunk)


@pytest.mark.parametrize("answer", [
    pytest.param(b"\x00\xff\xfegarbage\r\n\r\n\x1b[2J", id="garbage"),
    pytest.param(b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n{\"kvs\": [1]}", id="wrong-shape"),
    pytest.param(_endless_json, id="giant"),
])
def test_a_proxy_whose_etcd_answers_nonsense_refuses_to_start_saying_why(start_daemon, answer):
    """With no snapshot and an "etcd" answering garbage, the wrong JSON, or a body without end, the
    proxy does not start, within seconds, saying why; the endless answer is cut at the client's
    limit (RSS stays bounded). Finding (wrong-shape): a 200 answer without header.revision, whose
    kvs were not key-values, was read as an empty range at revision 0: the proxy started with no
    keys ("policy from etcd at revision 0 (0 keys)"), would have written that to its snapshot, and
    then logged "etcd unreachable"/"etcd reachable again" twice a second for ever."""
    fake = _FakeEtcd(answer)
    try:
        daemon = start_daemon({}, cluster=fake, proxy_id="a", wait_listening=False)
        daemon.expect_exit = True
        peak = [0]

        def exited():
            if daemon.alive():
                try:
                    peak[0] = max(peak[0], daemon.rss_kib())
                except Exception:
                    pass
                return False
            return True
        wait_for(exited, "the proxy to refuse to start", timeout=30, interval=0.05)
        log = daemon.stderr()
        assert "listening on" not in log, log
        assert "refusing to start without a policy" in log, log
        assert peak[0] < 200 * 1024, f"RSS reached {peak[0]} KiB reading the answer"
    finally:
        fake.stop()


def test_a_proxy_does_not_overwrite_a_member_record_it_no_longer_holds(start_daemon, etcd, services):
    """Finding: a proxy rewrote its member record (the sessions count) with a plain put. Once
    members/a had been deleted (by an administrator) and another proxy had registered as "a", the
    first one's next count change overwrote the newcomer's record with its own host key and
    address: the newcomer's member links were refused from then on, and two proxies called "a" were
    both in the cluster. Now the rewrite is a compare-and-swap on the revision it last wrote; a
    record changed by someone else is left alone and the proxy says so."""
    echo = services(stresslib.echo_handler)
    first = start_daemon({"alex": f'permit_open: ["127.0.0.1:{echo.port}"]'}, cluster=etcd, proxy_id="a")
    wait_for(lambda: etcd.get(f"{PREFIX}members/a"), "a's member record")
    etcd.delete(f"{PREFIX}members/a")
    second = start_daemon({}, cluster=etcd, proxy_id="a")
    second.keys.update(first.keys)
    second_key = second.known_hosts.read_text().split(" ", 1)[1].strip().split()[:2]

    def holder():
        value = etcd.get(f"{PREFIX}members/a")
        return json.loads(value)["host_key"].split()[:2] if value else None
    wait_for(lambda: holder() == second_key, "the second proxy's member record")
    session = first.paramiko_transport("alex")   # the first proxy's sessions count changes
    try:
        deadline = time.monotonic() + 3   # several keep-alives (lease_ttl 2s: every 0.67 s)
        while time.monotonic() < deadline:
            assert holder() == second_key, "the first proxy overwrote the second one's member record"
            time.sleep(0.05)
        wait_for(lambda: "members/a" in first.stderr() and "not rewritten" in first.stderr(),
                 "the first proxy to say it left the record alone")
    finally:
        session.close()
