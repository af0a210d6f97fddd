"""The raw client itself: a well-formed open and request built byte by byte get the answers a
stock client gets, so a refusal elsewhere in this suite is the daemon's doing, not the helper's."""

import socket

from rawssh import direct_streamlocal, direct_tcpip, global_request, open_channel, streamlocal_forward
from stresslib import echo_handler


def test_well_formed_raw_requests_are_answered_like_a_stock_client(start_daemon, services):
    echo = services(echo_handler)
    daemon = start_daemon({"alex": f"""
        permit_open: ["127.0.0.1:{echo.port}"]
        permit_streamlocal_listen: ["%ROOT%/alex/*.sock"]
    """})
    transport = daemon.paramiko_transport("alex")
    try:
        opened = open_channel(transport, "direct-tcpip", direct_tcpip("127.0.0.1", echo.port))
        assert opened.outcome == "opened"
        opened.channel.sendall(b"ping")
        assert opened.channel.recv(4) == b"ping"
        refused = open_channel(transport, "direct-tcpip", direct_tcpip("127.0.0.1", echo.port + 1))
        assert refused.outcome == "refused" and refused.reason
        missing = open_channel(transport, "direct-streamlocal@openssh.com",
                               direct_streamlocal(f"{daemon.socket_root}/alex/none.sock"))
        assert missing.outcome == "refused"
        path = f"{daemon.socket_root}/alex/web.sock"
        assert global_request(transport, "streamlocal-forward@openssh.com", streamlocal_forward(path)) is True
        assert global_request(transport, "streamlocal-forward@openssh.com",
                              streamlocal_forward(f"{daemon.socket_root}/tyler/x.sock")) is False
    finally:
        transport.close()
