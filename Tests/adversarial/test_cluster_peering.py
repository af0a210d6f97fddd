"""Peering (issue 14, item 3): a socket shared on proxy A (stock ssh -R) reached from proxies B and
C (stock ssh -L on their own socket roots), relayed over a member link A accepts only from the
host key of a current member; both proxies' audit logs carry the same correlation id; a member's
key has no client rights and a client key no member rights; a dead holder fails the relays with
"proxy a unreachable".

Three daemons on one real etcd, each with its own socket root; each registers its members/*
record and claims its -R sockets itself (docs/cluster-design.md).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time

import paramiko

import stresslib
from rawssh import direct_streamlocal, direct_tcpip, global_request, open_channel, streamlocal_forward, string, \
    tcpip_forward, u32
from stresslib import free_port, pattern, sha256, wait_for

PREFIX = "/portcullis/"
REQUEST = 8 << 20   # consumer -> holder
ANSWER = 12 << 20   # holder -> consumer


def _rule(kind: str, workdir) -> str:
    """One rule for every proxy's socket root (WORKDIR/dN/sockets): a key entry in etcd is shared
    by all proxies, and a pattern outside a proxy's socket_root is refused by it."""
    return f'permit_streamlocal_{kind}: ["{workdir}/*/sockets/alex/*"]'


def _member(start_daemon, etcd, proxy_id: str, keys: dict[str, str]):
    """A daemon in cluster mode whose advertise address is its own listen address."""
    port = free_port()
    daemon = start_daemon(keys, cluster=etcd, proxy_id=proxy_id, port=port,
                          cluster_yaml=f'lease_ttl: 2s, advertise: "127.0.0.1:{port}"')
    assert daemon.port == port
    host_key = daemon.known_hosts.read_text().split(" ", 1)[1].strip()
    # The registry wrote the member record before the daemon said it was listening.
    record = json.loads(etcd.get(f"{PREFIX}members/{proxy_id}"))
    assert record["host_key"].split()[:2] == host_key.split()[:2]
    return daemon


def _members_seen(*daemons):
    """Waits until every daemon's member view lists all of them (it follows members/ with a watch)."""
    names = ", ".join(sorted(d.proxy_id for d in daemons))
    for daemon in daemons:
        wait_for(lambda: f"peering: members {names}" in daemon.stderr(), f"proxy {daemon.proxy_id} to see {names}")


def _claim(etcd, relative: str, proxy: str):
    """claims/socket/RELATIVE as the registry wrote it: `proxy` holds it."""
    key = f"{PREFIX}claims/socket/{relative}"
    record = wait_for(lambda: etcd.get(key), f"the claim {key}")
    assert json.loads(record)["proxy"] == proxy


def _relay_a_to_b(start_daemon, etcd, procs, workdir, service_port: int):
    """Proxies a (sharing alex/web.sock, served by the service on `service_port`) and b (reader-b
    forwarding workdir/b.sock to it, relayed to a). Returns (a, b, the consumer's socket path)."""
    a = _member(start_daemon, etcd, "a", {"sharer": _rule("listen", workdir)})
    b = _member(start_daemon, etcd, "b", {"reader-b": _rule("open", workdir)})
    _members_seen(a, b)
    _share(a, procs, f"{a.socket_root}/alex/web.sock", service_port)
    _claim(etcd, "alex/web.sock", "a")
    local = str(workdir / "b.sock")
    _forward(b, procs, "reader-b", local, f"{b.socket_root}/alex/web.sock")
    return a, b, local


def _digest_service(services):
    """Reads the whole request (to its end of file), then answers the request's SHA-256 and
    ANSWER bytes, then closes: the answer only comes if the consumer's half-close got through."""
    def handler(conn: socket.socket):
        digest = __import__("hashlib").sha256()
        while True:
            data = conn.recv(262144)
            if not data:
                break
            digest.update(data)
        conn.sendall(digest.hexdigest().encode() + b"\n")
        conn.sendall(pattern(ANSWER, seed=7))
        conn.shutdown(socket.SHUT_WR)
    return services(handler)


def _share(daemon, procs, path: str, port: int):
    """stock ssh -R PATH:127.0.0.1:PORT as the sharer, up once its socket file exists."""
    sharer = procs.start(daemon.ssh_args("sharer", "-N", "-o", "ExitOnForwardFailure=yes",
                                         "-R", f"{path}:127.0.0.1:{port}"))
    wait_for(lambda: os.path.exists(path) or not sharer.alive(), f"{path} to be served", timeout=20)
    assert sharer.alive(), sharer.stderr()
    return sharer


def _forward(daemon, procs, key: str, local: str, remote: str):
    """stock ssh -L LOCAL:REMOTE (both Unix sockets), up once LOCAL exists."""
    client = procs.start(daemon.ssh_args(key, "-N", "-L", f"{local}:{remote}"))
    wait_for(lambda: os.path.exists(local) or not client.alive(), f"{local} to be listened on", timeout=20)
    assert client.alive(), client.stderr()
    return client


def _exchange(local: str, request: bytes) -> tuple[bytes, float, float]:
    """Sends `request`, half-closes, reads to the end. Returns (answer, seconds to the first
    answer byte after connecting, seconds overall)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(30)
    started = time.monotonic()
    sock.connect(local)
    errors = []

    def send():
        try:
            sock.sendall(request)
            sock.shutdown(socket.SHUT_WR)
        except OSError as error:
            errors.append(error)
    sender = threading.Thread(target=send)
    sender.start()
    chunks = []
    first = None
    while True:
        data = sock.recv(262144)
        if not data:
            break
        if first is None:
            first = time.monotonic() - started
        chunks.append(data)
    sender.join(30)
    sock.close()
    assert not errors, errors
    return b"".join(chunks), first or 0.0, time.monotonic() - started


def _check(answer: bytes, request: bytes):
    line, _, rest = answer.partition(b"\n")
    assert line.decode() == sha256(request), "the holder did not get the request intact"
    assert len(rest) == ANSWER and sha256(rest) == sha256(pattern(ANSWER, seed=7)), \
        f"the answer came back changed or cut ({len(rest)} of {ANSWER} bytes)"


def _relay_records(daemon, direction: str) -> list[dict]:
    return [r for r in daemon.audit() if r.get("event") == "relay" and r.get("direction") == direction]


def test_a_socket_on_a_is_reached_from_b_and_c_intact_with_one_correlation_id(start_daemon, etcd, procs,
                                                                              services, workdir, measure):
    a = _member(start_daemon, etcd, "a", {
        "sharer": _rule("listen", workdir),
        "reader-a": _rule("open", workdir)})
    b = _member(start_daemon, etcd, "b", {"reader-b": _rule("open", workdir)})
    c = _member(start_daemon, etcd, "c", {"reader-c": _rule("open", workdir)})
    _members_seen(a, b, c)
    service = _digest_service(services)
    _share(a, procs, f"{a.socket_root}/alex/web.sock", service.port)
    _claim(etcd, "alex/web.sock", "a")

    request = pattern(REQUEST, seed=3)
    timings = {}
    for name, daemon, key in (("b", b, "reader-b"), ("c", c, "reader-c"), ("direct", a, "reader-a")):
        local = str(workdir / f"{name}.sock")
        _forward(daemon, procs, key, local, f"{daemon.socket_root}/alex/web.sock")
        answer, first, total = _exchange(local, request)
        _check(answer, request)
        # Setup: a one-byte request's round trip, a few times (the first made the link already).
        setups = sorted(_exchange(local, b"x")[1] for _ in range(5))
        timings[name] = (total, setups[len(setups) // 2])

    for name in ("b", "c", "direct"):
        total, setup = timings[name]
        measure(f"{name}: MiB/s both ways ({REQUEST >> 20} MiB up, {ANSWER >> 20} MiB down)",
                round((REQUEST + ANSWER) / total / (1 << 20), 1))
        measure(f"{name}: open to first byte p50 (ms)", round(setup * 1000, 2))

    # B and C each relayed (direction "to", peer a); A served each (direction "from") with the same ids.
    for daemon, proxy in ((b, "b"), (c, "c")):
        sent = wait_for(lambda: [r for r in _relay_records(daemon, "to") if r.get("reason") is None] or None,
                        f"proxy {proxy}'s relay records")
        assert all(r["peer"] == "a" and r["target"] == "alex/web.sock" for r in sent), sent
        ids = {r["correlation"] for r in sent}
        assert len(ids) == 6, f"one correlation id per relayed open expected: {ids}"
        served = wait_for(lambda: {r["correlation"] for r in _relay_records(a, "from") if r.get("peer") == proxy}
                          >= ids or None, f"A's records of proxy {proxy}'s relays", timeout=10)
        assert served
        # The relay record and the channel's own records share the session and channel on each side.
        for record in sent:
            closes = [r for r in daemon.events("channel-close", session=record["session"], channel=record["channel"])]
            assert closes and closes[0]["bytes_from_client"] >= 1, closes
    # A's served channels are the member's, never a key's.
    for record in _relay_records(a, "from"):
        auth = [r for r in a.events("auth", session=record["session"]) if r.get("decision") == "allow"]
        assert auth and auth[0]["key"] == f"member:{record['peer']}", auth
    # The direct open on A relayed nothing.
    assert not _relay_records(a, "to")


def _member_transport(daemon, key_path, user: str):
    sock = socket.create_connection(("127.0.0.1", daemon.port), timeout=10)
    transport = paramiko.Transport(sock)
    transport.start_client(timeout=10)
    try:
        transport.auth_publickey(user, paramiko.Ed25519Key.from_private_key_file(str(key_path)))
    except paramiko.AuthenticationException:
        pass
    return transport


def _relay_open(relative: str, correlation: str) -> bytes:
    return string(relative) + string(correlation) + u32(0)


def test_the_member_door_gives_no_client_rights_and_no_client_gets_through_it(start_daemon, etcd, procs,
                                                                              services, workdir):
    a = _member(start_daemon, etcd, "a", {
        "sharer": _rule("listen", workdir),
        "reader-a": _rule("open", workdir)})
    b = _member(start_daemon, etcd, "b", {"reader-b": _rule("open", workdir)})
    _members_seen(a, b)
    service = _digest_service(services)
    _share(a, procs, f"{a.socket_root}/alex/web.sock", service.port)
    b_host_key = b.dir / "host_key"

    # A client key (a keys/* entry) cannot use the member form of an open: a relative path.
    client = a.paramiko_transport("reader-a")
    try:
        refused = open_channel(client, "direct-streamlocal@openssh.com", _relay_open("alex/web.sock", "b-1-1-x"))
        assert refused.outcome == "refused", refused
    finally:
        client.close()
    # A key that is no member's host key gets nowhere as user "b"; B's host key not as another member.
    stranger_key, _ = stresslib.make_key(workdir / "stranger")
    for key_path, user in ((stranger_key, "b"), (b_host_key, "c"), (b_host_key, "reader-a")):
        transport = _member_transport(a, key_path, user)
        try:
            assert not transport.is_authenticated(), f"{key_path.name} as {user} was let in"
        finally:
            transport.close()
    refusals = [r for r in a.events("auth", decision="deny")]
    assert any("may only log in as b" in r.get("reason", "") for r in refusals), refusals

    # B's host key as "b": a member, with no client rights.
    member = _member_transport(a, b_host_key, "b")
    try:
        assert member.is_authenticated()
        assert global_request(member, "tcpip-forward", tcpip_forward("127.0.0.1", 0)) is False
        assert global_request(member, "streamlocal-forward@openssh.com",
                              streamlocal_forward(f"{a.socket_root}/alex/mine.sock")) is False
        tcp = open_channel(member, "direct-tcpip", direct_tcpip("127.0.0.1", service.port))
        assert tcp.outcome == "refused" and "member link may only open" in tcp.reason, tcp
        absolute = open_channel(member, "direct-streamlocal@openssh.com",
                                _relay_open(f"{a.socket_root}/alex/web.sock", "b-1-2-x"))
        assert absolute.outcome == "refused" and "not relative" in absolute.reason, absolute
        escape = open_channel(member, "direct-streamlocal@openssh.com", _relay_open("alex/../../x.sock", "b-1-3-x"))
        assert escape.outcome == "refused" and ".." in escape.reason, escape
        unserved = open_channel(member, "direct-streamlocal@openssh.com", _relay_open("alex/none.sock", "b-1-4-x"))
        assert unserved.outcome == "refused" and "not served by proxy a" in unserved.reason, unserved
        plain = open_channel(member, "direct-streamlocal@openssh.com", direct_streamlocal("alex/web.sock"))
        assert plain.outcome == "refused" and "correlation id" in plain.reason, plain
        served = open_channel(member, "direct-streamlocal@openssh.com", _relay_open("alex/web.sock", "b-1-5-x"))
        assert served.outcome == "opened", served
        served.channel.sendall(b"ping")
        served.channel.shutdown_write()
        assert served.channel.recv(65).decode().strip() == sha256(b"ping")
    finally:
        member.close()
    assert not [r for r in a.audit() if r.get("event") == "forward-bound" and r.get("key", "").startswith("member:")]
    record = wait_for(lambda: [r for r in _relay_records(a, "from") if r["correlation"] == "b-1-5-x"] or None,
                      "A's record of the member's open")
    assert record[0]["peer"] == "b" and "reason" not in record[0]


def test_a_dead_holder_fails_the_relays_with_proxy_unreachable(start_daemon, etcd, procs, services, workdir):
    a, b, local = _relay_a_to_b(start_daemon, etcd, procs, workdir, _digest_service(services).port)
    # A relayed channel in the middle of its request.
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(20)
    sock.connect(local)
    sock.sendall(b"half a request")
    wait_for(lambda: _relay_records(b, "to") or None, "B's relay record")
    wait_for(lambda: _relay_records(a, "from") or None, "A's relay record")

    a.expect_exit = True
    a.kill()
    # The consumer's channel ends (no clean answer), and B's record says why.
    try:
        rest = sock.recv(100)
    except OSError:
        rest = b""
    assert rest == b"", rest
    sock.close()
    closed = wait_for(lambda: [r for r in b.events("channel-close") if "proxy a unreachable" in r.get("reason", "")]
                      or None, "B's channel-close naming the dead holder", timeout=15)
    assert closed[0]["kind"] == "streamlocal-open"

    # A claim of A's still in etcd (within its TTL): a new open on B is refused with the reason.
    etcd.put(f"{PREFIX}claims/socket/alex/late.sock",
             json.dumps({"proxy": "a", "session": 9, "key": "sharer", "since": "2026-12-02T00:00:00Z"}),
             lease=etcd.grant(120))
    transport = b.paramiko_transport("reader-b")
    try:
        late = open_channel(transport, "direct-streamlocal@openssh.com",
                            direct_streamlocal(f"{b.socket_root}/alex/late.sock"), timeout=15)
        assert late.outcome == "refused" and "proxy a unreachable" in late.reason, late
    finally:
        transport.close()
    failed = wait_for(lambda: [r for r in b.events("forward-failed") if "proxy a unreachable" in r.get("reason", "")]
                      or None, "B's forward-failed naming the dead holder")
    assert failed
    assert [r for r in _relay_records(b, "to") if "proxy a unreachable" in r.get("reason", "")]


def _settled(read, what: str, still: float = 1.0, timeout: float = 30.0):
    """Waits until `read()` stays the same for `still` seconds; returns that value."""
    last, since = read(), time.monotonic()

    def steady():
        nonlocal last, since
        now = read()
        if now != last:
            last, since = now, time.monotonic()
            return None
        return (now,) if time.monotonic() - since >= still else None
    return wait_for(steady, what, timeout=timeout, interval=0.1)[0]


def test_a_slow_consumer_holds_the_holder_back_not_the_proxies_memory(start_daemon, etcd, procs, services,
                                                                     workdir, measure):
    a = _member(start_daemon, etcd, "a", {"sharer": _rule("listen", workdir)})
    b = _member(start_daemon, etcd, "b", {"reader-b": _rule("open", workdir)})
    _members_seen(a, b)
    block = pattern(1 << 20, seed=11)
    sent = [0]

    def endless(conn: socket.socket):
        while sent[0] < (1 << 30):
            sent[0] += conn.send(block)
    service = services(endless)
    _share(a, procs, f"{a.socket_root}/alex/web.sock", service.port)
    _claim(etcd, "alex/web.sock", "a")
    local = str(workdir / "b.sock")
    _forward(b, procs, "reader-b", local, f"{b.socket_root}/alex/web.sock")
    rss_before = {"a": a.rss_kib(), "b": b.rss_kib()}

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    sock.settimeout(20)
    sock.connect(local)
    wait_for(lambda: sent[0] > 0, "the holder to start sending through the relay")
    # The consumer reads nothing: the holder must be held back by the windows along the relay.
    stalled = _settled(lambda: sent[0], "the holder to be held back by the relay's windows")
    growth = {name: (d.rss_kib() - rss_before[name]) / 1024 for name, d in (("a", a), ("b", b))}
    measure("bytes the holder got out while the consumer read nothing (MiB)", round(stalled / (1 << 20), 1))
    measure("RSS growth meanwhile, A and B (MiB)", f"{growth['a']:.1f}, {growth['b']:.1f}")
    assert stalled < 48 << 20, f"{stalled} bytes left the holder with nobody reading: something buffers them"
    assert growth["b"] < 32 and growth["a"] < 32, growth

    # Then everything arrives, in order.
    want = 64 << 20
    got = bytearray()
    while len(got) < want:
        data = sock.recv(min(262144, want - len(got)))
        assert data, f"the relay ended after {len(got)} bytes"
        got += data
    sock.close()
    assert all(got[i:i + len(block)] == block[:min(len(block), want - i)] for i in range(0, want, len(block))), \
        "the stream came through changed"


def test_a_proxy_stopped_in_the_middle_of_a_relay_exits_0_and_the_holder_sees_the_link_end(
        start_daemon, etcd, procs, services, workdir):
    block = pattern(1 << 20, seed=5)

    def endless(conn: socket.socket):
        try:
            while True:
                conn.sendall(block)
        except OSError:
            pass
    a, b, local = _relay_a_to_b(start_daemon, etcd, procs, workdir, services(endless).port)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(20)
    sock.connect(local)
    assert len(sock.recv(65536)) > 0
    link = wait_for(lambda: _relay_records(a, "from") or None, "A's relay record")[0]

    # Bytes are in flight on the member link when B is told to stop.
    b.expect_exit = True
    code = b.stop()
    assert code == 0, f"{b.describe_exit()}; last log lines:\n{b.stderr_tail()}"
    assert "stopped" in b.stderr()
    sock.close()
    # A carries on: the member session that carried the relay ends, with its channel.
    ended = wait_for(lambda: a.events("session-end", session=link["session"]) or None,
                     "A's record of the member link's end", timeout=15)
    # B's disconnect names the stop; when A's bytes were still unread in B's socket, B's close
    # resets the connection first and A records the reset instead.
    assert any(said in ended[0]["reason"] for said in ("this proxy is stopping", "reset by peer", "Socket error")), ended
    assert a.alive()


def test_a_holder_that_leaves_the_cluster_fails_its_relays_at_once_not_when_tcp_gives_up(
        start_daemon, etcd, procs, services, workdir, measure):
    """A holder that stops answering without closing its connections (SIGSTOP here: its kernel
    still acknowledges, as a host behind a dead router may look for a while) loses its lease after
    lease_ttl; its member record goes, and B ends its link to it at once: the relayed channel fails
    with "proxy a unreachable: it left the cluster", instead of hanging until TCP gives up."""
    a, b, local = _relay_a_to_b(start_daemon, etcd, procs, workdir, _digest_service(services).port)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(30)
    sock.connect(local)
    sock.sendall(b"half a request")
    wait_for(lambda: _relay_records(b, "to") or None, "B's relay record")

    os.kill(a.pid, signal.SIGSTOP)
    stopped = time.monotonic()
    try:
        closed = wait_for(lambda: [r for r in b.events("channel-close") if "left the cluster" in r.get("reason", "")]
                          or None, "B's channel-close naming the departed holder", timeout=15)
        measure("holder stopped to relay failed on B (s), lease_ttl 2 s", round(time.monotonic() - stopped, 2))
        assert "proxy a unreachable: it left the cluster" in closed[0]["reason"], closed
        try:
            rest = sock.recv(100)
        except OSError:
            rest = b""
        assert rest == b"", rest
    finally:
        os.kill(a.pid, signal.SIGCONT)
        sock.close()
