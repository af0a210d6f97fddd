"""The tunnel registry (issue 14 item 2): every remote listen is claimed in etcd under its proxy's
lease before it is bound. Three proxies on one real etcd, each with its own socket root (socket
claims are keyed by the path relative to socket_root, so the roots denote one namespace): a second
claim of a path held on A is refused on B the way a live socket is on one host, naming A; kill -9
of A frees its claims when its lease expires; with etcd stopped existing tunnels carry data and new
claims are refused with the reason, then accepted again; a proxy stopped (SIGSTOP) past its TTL
has stopped serving its claims when it runs again (fencing), and B could claim them meanwhile."""

import base64
import json
import os
import signal
import socket
import time

from stresslib import echo_handler, echo_round_trip, wait_for

TTL = 2.0


def claim_key(rel: str) -> str:
    return f"/portcullis/claims/socket/{rel}"


def holder(etcd, rel: str) -> dict | None:
    value = etcd.get(claim_key(rel))
    return json.loads(value) if value is not None else None


def cluster(start_daemon, etcd, workdir, count=3, **options):
    """Proxies a, b, c (as many as `count`) on `etcd`; alex may listen on any socket under the
    test's directory (each proxy's socket root lies there)."""
    ids = ["a", "b", "c"][:count]
    first = start_daemon({"alex": f'permit_streamlocal_listen: ["{workdir}/**"]'},
                         cluster=etcd, proxy_id=ids[0], **options)
    daemons = [first] + [start_daemon({}, cluster=etcd, proxy_id=proxy, **options) for proxy in ids[1:]]
    for other in daemons[1:]:
        other.keys.update(first.keys)
    return daemons


def share(procs, daemon, rel: str, port: int, wait: bool = True):
    """Stock ssh -N -R ROOT/rel:127.0.0.1:port on `daemon`, with ExitOnForwardFailure=yes; once
    `wait`, the socket is there (and the claim made)."""
    path = daemon.socket_root / rel
    client = procs.start(daemon.ssh_args("alex", "-N", "-o", "ExitOnForwardFailure=yes",
                                         "-R", f"{path}:127.0.0.1:{port}"))
    if wait:
        wait_for(lambda: path.is_socket() or not client.alive(), f"{path} on proxy {daemon.proxy_id}", timeout=15)
        assert client.alive(), (f"ssh -R on {daemon.proxy_id} exited: {client.stderr()}; its records: "
                                f"{daemon.events('forward-failed')}")
    return client, path


def refused_share(procs, daemon, rel: str, port: int):
    """ssh -R that must fail: it exits non-zero; returns its stderr."""
    client, path = share(procs, daemon, rel, port, wait=False)
    try:
        client.process.wait(20)
    except Exception:
        raise AssertionError(f"ssh -R {path} on {daemon.proxy_id} was not refused: {client.stderr()}")
    assert client.process.returncode != 0
    assert not path.exists(), f"{path} was bound although refused"
    return client.stderr()


def forward_failed(daemon, rel: str) -> list[dict]:
    return [r for r in daemon.events("forward-failed") if str(r.get("target", "")).endswith("/" + rel)]


def lease_of(etcd, key: str) -> int | None:
    """The lease `key` is attached to (None: no such key)."""
    kvs = etcd.call("/v3/kv/range", {"key": base64.b64encode(key.encode()).decode()}).get("kvs", [])
    return int(kvs[0].get("lease", 0)) if kvs else None


def test_a_second_claim_of_a_path_held_on_a_is_refused_on_b_and_names_a(start_daemon, etcd, services, workdir, procs):
    echo = services(echo_handler)
    a, b, c = cluster(start_daemon, etcd, workdir)
    # Every member is registered under its lease, with its host key line.
    for daemon in (a, b, c):
        record = json.loads(etcd.get(f"/portcullis/members/{daemon.proxy_id}"))
        assert record["host_key"].startswith("ssh-ed25519 ") and "started" in record and "sessions" in record
    client, path = share(procs, a, "alex/web.sock", echo.port)
    assert echo_round_trip(str(path), b"through a", family=socket.AF_UNIX) == b"through a"
    claim = holder(etcd, "alex/web.sock")
    assert claim["proxy"] == "a" and claim["key"] == "alex"

    said = refused_share(procs, b, "alex/web.sock", echo.port)
    assert "remote port forwarding failed" in said, said
    record = wait_for(lambda: forward_failed(b, "alex/web.sock"), "B's forward-failed record")[0]
    assert 'on proxy "a"' in record["reason"] and "in use by another session" in record["reason"], record
    # C too; and A's tunnel is untouched, still A's.
    refused_share(procs, c, "alex/web.sock", echo.port)
    assert holder(etcd, "alex/web.sock")["proxy"] == "a"
    assert echo_round_trip(str(path), b"still a", family=socket.AF_UNIX) == b"still a"

    # The forward ends: its claim goes, and B may take the path.
    client.end()
    wait_for(lambda: holder(etcd, "alex/web.sock") is None, "A's claim to be deleted", timeout=10)
    _, on_b = share(procs, b, "alex/web.sock", echo.port)
    assert holder(etcd, "alex/web.sock")["proxy"] == "b"
    assert echo_round_trip(str(on_b), b"through b", family=socket.AF_UNIX) == b"through b"


def test_a_proxy_id_held_by_a_live_proxy_is_refused_at_start(start_daemon, etcd, workdir):
    (a,) = cluster(start_daemon, etcd, workdir, count=1)
    twin = start_daemon({}, cluster=etcd, proxy_id="a", wait_listening=False)
    twin.expect_exit = True
    wait_for(lambda: not twin.alive(), "the second proxy a to exit", timeout=20)
    assert twin.process.returncode != 0
    assert 'proxy_id "a" is already registered in etcd by a live proxy' in twin.stderr(), twin.stderr()
    a.assert_alive()
    assert etcd.get("/portcullis/members/a") is not None


def test_kill_9_of_a_frees_its_claims_within_the_ttl_and_b_can_claim(start_daemon, etcd, services, workdir, procs,
                                                                       measure):
    echo = services(echo_handler)
    a, b = cluster(start_daemon, etcd, workdir, count=2)
    share(procs, a, "alex/web.sock", echo.port)
    assert holder(etcd, "alex/web.sock")["proxy"] == "a"
    a.expect_exit = True
    a.kill()
    killed = time.monotonic()
    wait_for(lambda: holder(etcd, "alex/web.sock") is None, "A's claim to expire", timeout=TTL + 5, interval=0.01)
    gone = time.monotonic() - killed
    measure("claim_gone_after_kill_s", gone)
    # The lease expires TTL after A's last keep-alive (sent at most TTL/3 before the kill); etcd
    # checks for expired leases every 500 ms.
    assert gone <= TTL + 0.6, f"A's claim outlived its lease: {gone:.2f} s (TTL {TTL} s)"
    assert etcd.get("/portcullis/members/a") is None
    _, on_b = share(procs, b, "alex/web.sock", echo.port)
    assert holder(etcd, "alex/web.sock")["proxy"] == "b"
    assert echo_round_trip(str(on_b), b"b now", family=socket.AF_UNIX) == b"b now"


def test_etcd_stopped_tunnels_go_on_new_claims_refused_then_accepted_again(start_daemon, etcd, services, workdir,
                                                                            procs):
    echo = services(echo_handler)
    # A TTL long enough for the outage: fencing would otherwise end the tunnels, as designed.
    a, b = cluster(start_daemon, etcd, workdir, count=2, cluster_yaml="lease_ttl: 20s")
    _, held = share(procs, a, "alex/held.sock", echo.port)
    etcd.stop()
    assert echo_round_trip(str(held), b"during the outage", family=socket.AF_UNIX) == b"during the outage"
    refused_share(procs, b, "alex/new.sock", echo.port)
    record = wait_for(lambda: forward_failed(b, "alex/new.sock"), "B's forward-failed record")[0]
    assert record["reason"].startswith("cluster registry unreachable: "), record
    refused_share(procs, a, "alex/other.sock", echo.port)
    assert wait_for(lambda: forward_failed(a, "alex/other.sock"), "A's record")[0]["reason"].startswith(
        "cluster registry unreachable: ")

    etcd.start()
    # Once each proxy's keep-alive is answered again, claims are made again (no restart).
    def claimed_on_b():
        client, path = share(procs, b, "alex/new.sock", echo.port, wait=False)
        ok = wait_for(lambda: path.is_socket() or not client.alive(), "ssh -R on b", timeout=15) and client.alive()
        if not ok:
            return False
        return path
    on_b = wait_for(claimed_on_b, "a claim on B after etcd came back", timeout=15, interval=0.2)
    assert holder(etcd, "alex/new.sock")["proxy"] == "b"
    assert echo_round_trip(str(on_b), b"after", family=socket.AF_UNIX) == b"after"
    # The tunnel that lived through the outage is still A's, and still carries data.
    assert holder(etcd, "alex/held.sock")["proxy"] == "a"
    assert echo_round_trip(str(held), b"still there", family=socket.AF_UNIX) == b"still there"


def test_a_proxy_stopped_past_its_ttl_is_fenced_and_b_claims_meanwhile(start_daemon, etcd, services, workdir, procs,
                                                                        measure):
    echo = services(echo_handler)
    a, b = cluster(start_daemon, etcd, workdir, count=2)
    client_a, on_a = share(procs, a, "alex/web.sock", echo.port)
    old_lease = lease_of(etcd, "/portcullis/members/a")
    assert old_lease
    os.kill(a.pid, signal.SIGSTOP)
    try:
        stopped = time.monotonic()
        wait_for(lambda: holder(etcd, "alex/web.sock") is None, "A's claim to expire while A is stopped",
                 timeout=TTL + 5, interval=0.01)
        measure("claim_gone_after_sigstop_s", time.monotonic() - stopped)
        client_b, on_b = share(procs, b, "alex/web.sock", echo.port)
        assert holder(etcd, "alex/web.sock")["proxy"] == "b"
    finally:
        os.kill(a.pid, signal.SIGCONT)
    # A, running again, finds its lease unconfirmed for longer than TTL - margin: it stops serving
    # its claim (the listener closed, the session that held it ended), never serving the path
    # B now holds.
    ended = wait_for(lambda: a.events("session-end", reason="lease lost"), "A's session-end record (lease lost)",
                     timeout=10)
    assert ended
    lost = wait_for(lambda: forward_failed(a, "alex/web.sock"), "A's forward-failed record")
    assert lost[0]["reason"] == "lease lost", lost
    wait_for(lambda: not client_a.alive(), "the ssh client on A to be disconnected", timeout=10)
    assert not on_a.exists(), "A still has the socket file of a claim it lost"
    # A registers again, under a new lease; the claim stays B's, and B's tunnel works.
    wait_for(lambda: lease_of(etcd, "/portcullis/members/a") not in (None, old_lease), "A to register again",
             timeout=10)
    assert holder(etcd, "alex/web.sock")["proxy"] == "b"
    assert echo_round_trip(str(on_b), b"b serves it", family=socket.AF_UNIX) == b"b serves it"
    assert client_b.alive()


def _send_listen(transport, path: str):
    """A streamlocal-forward@openssh.com wanting a reply, sent without waiting for it."""
    from paramiko.common import cMSG_GLOBAL_REQUEST
    from paramiko.message import Message
    m = Message()
    m.add_byte(cMSG_GLOBAL_REQUEST)
    m.add_string("streamlocal-forward@openssh.com")
    m.add_boolean(True)
    m.add_string(path)
    transport._send_user_message(m)


def _revision(etcd) -> int:
    return int(etcd.call("/v3/kv/range", {"key": base64.b64encode(b"/").decode()})["header"]["revision"])


def _existed(etcd, key: str, after: int, until: int) -> int | None:
    """The lease `key` had at some revision in (after, until], or None if it did not exist then
    (etcd keeps its history: nothing compacts it in these tests)."""
    encoded = base64.b64encode(key.encode()).decode()
    for revision in range(after + 1, until + 1):
        kvs = etcd.call("/v3/kv/range", {"key": encoded, "revision": str(revision)}).get("kvs", [])
        if kvs:
            return int(kvs[0].get("lease", 0))
    return None


def test_a_session_that_ends_while_its_claim_waits_on_etcd_leaves_no_claim(start_daemon, etcd, workdir, measure):
    """A listen's claim is made off the event loop: with etcd hung (SIGSTOP) the session that asked
    can still end at once; its forward-failed record says it ended while the listen was being
    claimed, and the claim etcd grants once it answers again is released at once, not left under
    the proxy's lease (which lives on) for as long as the proxy runs."""
    (a,) = cluster(start_daemon, etcd, workdir, count=1, cluster_yaml="lease_ttl: 10s")
    member = "/portcullis/members/a"
    wait_for(lambda: lease_of(etcd, member), "a's member record")
    lease = lease_of(etcd, member)
    rel = "alex/late.sock"
    path = str(a.socket_root / rel)
    (a.socket_root / "alex").mkdir(exist_ok=True)
    transport = a.paramiko_transport("alex")
    start = _revision(etcd)
    etcd.pause()
    try:
        paused = time.monotonic()
        _send_listen(transport, path)
        wait_for(lambda: [r for r in a.events("forward-request") if r.get("target") == path],
                 "the forward-request record", interval=0.005)
        transport.close()
        # The loop is not held by the claim: the session ends while etcd is still stopped.
        wait_for(lambda: a.events("session-end"), "the session's end while etcd is stopped",
                 timeout=5, interval=0.005)
        ended_after = time.monotonic() - paused
    finally:
        etcd.resume()
    measure("session_end_while_claim_pending_s", ended_after)
    failed = wait_for(lambda: forward_failed(a, rel), "the forward-failed record")
    assert failed[0]["reason"] == "session ended while the listen was being claimed: client disconnected", failed
    # Whatever etcd did with the claim's txn once it ran again, no claim is left under A's lease.
    wait_for(lambda: holder(etcd, rel) is None, "no claim left for the ended session", timeout=8, interval=0.05)
    assert lease_of(etcd, member) == lease, "A's lease changed: the claim may have gone with it, not been released"
    if ended_after < 0.8:
        # etcd ran again within the claim's timeout (1 s): it granted the claim, after the session
        # had gone; the proxy released it.
        assert _existed(etcd, claim_key(rel), start, _revision(etcd)) == lease
    assert not os.path.exists(path), "the listen of an ended session was bound"
    assert not a.events("forward-bound")


def _send_cancel(transport, path: str):
    """A cancel-streamlocal-forward@openssh.com wanting a reply, sent without waiting for it."""
    from paramiko.common import cMSG_GLOBAL_REQUEST
    from paramiko.message import Message
    m = Message()
    m.add_byte(cMSG_GLOBAL_REQUEST)
    m.add_string("cancel-streamlocal-forward@openssh.com")
    m.add_boolean(True)
    m.add_string(path)
    transport._send_user_message(m)


def test_a_cancel_sent_while_the_claim_waits_on_etcd_comes_after_it_and_releases_it(start_daemon, etcd, workdir):
    """A listen and its cancel sent back to back while etcd is hung: the cancel waits behind the
    claim (replies keep their order), so once etcd answers the listen is bound, then cancelled, and
    its claim released at once; the session lives on, under the same lease."""
    (a,) = cluster(start_daemon, etcd, workdir, count=1, cluster_yaml="lease_ttl: 10s")
    member = "/portcullis/members/a"
    wait_for(lambda: lease_of(etcd, member), "a's member record")
    lease = lease_of(etcd, member)
    rel = "alex/cancelled.sock"
    path = str(a.socket_root / rel)
    (a.socket_root / "alex").mkdir(exist_ok=True)
    transport = a.paramiko_transport("alex")
    try:
        etcd.pause()
        try:
            _send_listen(transport, path)
            _send_cancel(transport, path)
            wait_for(lambda: [r for r in a.events("forward-request") if r.get("target") == path],
                     "the forward-request record", interval=0.005)
        finally:
            etcd.resume()
        cancelled = wait_for(lambda: [r for r in a.events("forward-cancelled") if r.get("target") == path],
                             "the forward-cancelled record")
        bound = [r for r in a.events("forward-bound") if r.get("target") == path]
        assert bound and bound[0]["seq"] < cancelled[0]["seq"], (bound, cancelled)
        wait_for(lambda: holder(etcd, rel) is None, "the cancelled listen's claim to go", timeout=5, interval=0.05)
        assert lease_of(etcd, member) == lease
        assert not os.path.exists(path)
        assert transport.is_active() and not a.events("session-end")
    finally:
        transport.close()
