"""SocketStats against the host kernel's own sock_diag destroy messages (no tracing needed)."""

from __future__ import annotations

import socket
import struct

from umlpy.vkernel.sockstats import SocketStats

SO_COOKIE = 57


def cookie(s: socket.socket) -> int:
    return int(struct.unpack("=Q", s.getsockopt(socket.SOL_SOCKET, SO_COOKIE, 8))[0])


def test_freed_sockets_are_counted_and_forgotten() -> None:
    counted: dict[int, tuple[int, int]] = {}
    forgotten: list[int] = []
    warnings: list[str] = []
    stats = SocketStats(lambda rid, sent, received: counted.__setitem__(rid, (sent, received)), warnings.append,
                        forgotten.append)
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        client = socket.create_connection(srv.getsockname())
        server, _ = srv.accept()
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.connect(srv.getsockname())
        watched = {cookie(client): 1, cookie(server): 2, cookie(udp): None}
        for c, rid in watched.items():
            stats.watch(c, rid)
        client.sendall(b"x" * 1000)
        assert server.recv(2000) == b"x" * 1000
        server.sendall(b"y" * 10)
        assert client.recv(100) == b"y" * 10
        for s in (client, server, udp):
            s.close()
    stats.close()  # what was freed is settled; what lingers is read by a dump
    assert counted == {1: (1000, 10), 2: (10, 1000)}
    # The TCP sockets are settled, so forgotten; the UDP one is freed after an RCU grace
    # period, maybe later than this.
    assert {c for c, rid in watched.items() if rid is not None} <= set(forgotten) <= set(watched)
    assert not warnings
