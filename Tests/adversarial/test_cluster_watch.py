"""The policy watch on a bad day: a watch stream that stays open but delivers nothing (a middlebox,
an etcd that stopped sending on one stream) must not freeze the policy silently. The proxy asks
etcd every 2 s which entries exist (keys only); a change the watch has not delivered a whole probe
interval later is a lost watch: said (`cluster-disconnected`, "the watch fell silent"), and the
policy is read again, so a key deleted meanwhile is revoked within seconds."""

import socket
import threading
import time

from rawssh import direct_tcpip, open_channel
from stresslib import echo_handler, wait_for


class SilencingProxy:
    """A TCP proxy in front of etcd that, once `silence_watches` is set, stops passing on what
    etcd sends on watch streams (requests to /v3/watch) while keeping them open; everything else
    passes through."""

    def __init__(self, etcd):
        self.etcd = etcd
        self.target = ("127.0.0.1", int(etcd.url.rsplit(":", 1)[1]))
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.silence_watches = False
        self.silenced_bytes = 0
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    # What the daemon fixture needs of an etcd: where it is, and a way to write the keys.
    def put(self, key, value, lease=None):
        return self.etcd.put(key, value, lease=lease)

    def get(self, key):
        return self.etcd.get(key)

    def _accept(self):
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:  # etcd already stopped (the test's end): the daemon sees a refusal
                client.close()
                continue
            upstream.settimeout(None)
            state = {"watch": False}
            threading.Thread(target=self._pump, args=(client, upstream, state, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, state, False), daemon=True).start()

    def _pump(self, source, sink, state, from_client):
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if from_client and b"/v3/watch" in data[:64]:
                    state["watch"] = True
                if not from_client and state["watch"] and self.silence_watches:
                    self.silenced_bytes += len(data)
                    continue
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self):
        self.closed = True
        self.listener.close()


def test_a_silent_watch_is_noticed_and_a_key_deleted_meanwhile_is_revoked(start_daemon, etcd, services, measure):
    echo = services(echo_handler)
    proxy = SilencingProxy(etcd)
    try:
        rule = f'permit_open: ["127.0.0.1:{echo.port}"]'
        a = start_daemon({"alex": rule, "keep": rule}, cluster=proxy, proxy_id="a")
        live = a.paramiko_transport("alex")
        try:
            opened = open_channel(live, "direct-tcpip", direct_tcpip("127.0.0.1", echo.port))
            assert opened.outcome == "opened", opened
            proxy.silence_watches = True
            deleted = time.monotonic()
            etcd.delete("/portcullis/keys/alex")
            wait_for(lambda: not live.is_active(), "alex's session to end although the watch is silent", timeout=15)
            measure("deleted to session ended with a silent watch (s)", round(time.monotonic() - deleted, 2))
        finally:
            live.close()
        lost = wait_for(lambda: [r for r in a.events("cluster-disconnected") if "the watch fell silent" in r.get("reason", "")],
                        "the record saying the watch fell silent")
        assert "alex" in lost[0]["reason"] or "revision" in lost[0]["reason"], lost
        assert proxy.silenced_bytes > 0, "the test's proxy silenced nothing: the watch was not through it"
        # The proxy carries on with the rest of its policy.
        keep = a.paramiko_transport("keep")
        keep.close()
    finally:
        proxy.close()
