"""Bytes each way per guest TCP connection, for the connection log.

Source: the kernel's own counters in ``struct tcp_info`` (include/uapi/linux/tcp.h),
read through sock_diag(7) (``inet_diag`` with ``INET_DIAG_INFO``).  The end-of-run
dump is requested and parsed with pyroute2's message classes; the destroy messages,
one per TCP socket the *host* frees, are read at fixed offsets instead (pyroute2
takes ~60 µs a message, which a guest opening thousands of connections pays for).  Sent: ``tcpi_bytes_sent - tcpi_bytes_retrans``, the
payload bytes put on the wire once each (``tcpi_bytes_acked`` would count the FIN's
sequence number too).  Received: ``tcpi_bytes_received`` counts sequence space, so
the peer's FIN adds one; one is taken off when the FIN has come (socket states
CLOSE_WAIT, LAST_ACK, CLOSING, TIME_WAIT, and CLOSE — a freed socket's state — which
assumes an orderly close: a connection the peer reset shows one byte too few).  ``/proc/PID/fdinfo/N`` of a socket shows only pos, flags, mnt_id and
ino, so it cannot count bytes.

When: the tracer does not see close(2) (a stop on every close of every file
would cost far more than the report is worth), so it does not read a socket
"at close".  Instead it joins the sock_diag *destroy* multicast groups
(``SKNLGRP_INET_TCP_DESTROY``, ``SKNLGRP_INET6_TCP_DESTROY``; net/core/sock_diag.c,
no privilege needed): when a TCP socket is freed, the kernel sends its final
``inet_diag_msg`` with the tcp_info, named by the socket cookie (SO_COOKIE),
which the vkernel noted when the guest connected or accepted
(:meth:`SocketStats.watch`).  Pending messages are read at each socket-call
stop that notes a connection, and at the end of the run, when one
``SOCK_DIAG_BY_FAMILY`` dump also catches the guest's sockets still alive
(orphans still flushing data, say).

Limits: UDP has no byte counters in sock_diag (UDP records count datagrams in
``count``); the destroy messages of the whole host share one receive buffer,
so on a host that frees hundreds of TCP sockets between two guest socket
calls some may be lost (ENOBUFS): the run then gets a warning and the counts
are lower bounds.  Connections the guest never noted (an accept(2) with a NULL
address, which does not stop) are not counted.
"""

from __future__ import annotations

import errno
import logging
import select
import socket
import struct
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

NETLINK_SOCK_DIAG = 4
SOL_NETLINK = 270
NETLINK_ADD_MEMBERSHIP = 1
INET_DIAG_INFO = 2
# SKNLGRP_INET_TCP_DESTROY, SKNLGRP_INET_UDP_DESTROY, SKNLGRP_INET6_TCP_DESTROY, SKNLGRP_INET6_UDP_DESTROY
_GROUPS = (1, 2, 3, 4)
_RCVBUF = 4 << 20
LINGER = 0.5  # seconds the end of a run waits for closed sockets to be freed
# struct nlmsghdr (16 bytes), then struct inet_diag_msg: family, state, timer, retrans,
# then struct inet_diag_sockid: sport, dport, src[16], dst[16], if, cookie[2].
_COOKIE_AT = 16 + 4 + 2 + 2 + 16 + 16 + 4
_COOKIE_END = _COOKIE_AT + 8
_STATE_AT = 16 + 1
_ATTRS_AT = 16 + 72  # after struct inet_diag_msg
_U32 = struct.Struct("=I")
_U64 = struct.Struct("=Q")
_NLATTR = struct.Struct("=HH")
# struct tcp_info offsets (include/uapi/linux/tcp.h): 8 bytes of u8 fields, 24 u32
# (rto .. total_retrans), then pacing_rate, max_pacing_rate, bytes_acked, bytes_received
# (u64, from 104); ... delivered, delivered_ce (u32, 192); bytes_sent, bytes_retrans (u64, 200).
_TCPI_BYTES_RECEIVED = 128
_TCPI_BYTES_SENT = 200
_TCPI_END = 216
_TCPI_SENT = struct.Struct("=QQ")
# TCP_CLOSE_WAIT, TCP_LAST_ACK, TCP_CLOSING, TCP_TIME_WAIT, TCP_CLOSE (include/net/tcp_states.h)
_FIN_RECEIVED = frozenset({8, 9, 11, 6, 7})

Account = Callable[[int, int, int], None]  # record id, sent, received


class SocketStats:
    """Cookie -> connection-log record (or None), settled from sock_diag when the socket goes.

    ``forget(cookie)`` is called for every followed socket the kernel frees (the
    vkernel drops its per-socket views then), TCP or UDP.
    """

    def __init__(self, account: Account, warn: Callable[[str], None], forget: Callable[[int], None]) -> None:
        self._account = account
        self._warn = warn
        self._forget = forget
        self._records: dict[int, int | None] = {}
        self._sock: socket.socket | None = None
        try:
            s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC,
                              NETLINK_SOCK_DIAG)
        except OSError as e:
            log.info("no sock_diag: connection byte counts unavailable (%s)", e)
            return
        try:
            s.bind((0, 0))
            for group in _GROUPS:
                s.setsockopt(SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, group)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RCVBUF)
        except OSError as e:
            log.info("sock_diag destroy groups unavailable: %s", e)
            s.close()
            return
        self._sock = s

    def watch(self, cookie: int, record: int | None) -> None:
        """Follow socket ``cookie``; count its bytes into log record ``record`` (if any) when it goes."""
        if cookie:
            self._records[cookie] = record
        self.poll()

    def poll(self) -> None:
        """Settle the sockets the kernel has freed since the last look."""
        s = self._sock
        if s is None:
            return
        while True:
            try:
                data = s.recv(1 << 16)
            except BlockingIOError:
                return
            except OSError as e:
                if e.errno == errno.ENOBUFS and self._records:
                    self._warn("network: some connections' byte counts were lost (sock_diag overflow); "
                               "the counts are lower bounds")
                    continue
                return
            self._settle(data)

    def _settle(self, data: bytes) -> None:
        """Count the messages in ``data`` that name a watched socket.

        Every TCP socket the host frees is announced, so most messages are not the
        guest's: each one's cookie is looked up at its fixed offset first, and only
        the guest's are decoded.
        """
        offset = 0
        while offset + _COOKIE_END <= len(data):
            (length,) = _U32.unpack_from(data, offset)
            if length < _COOKIE_END:
                break
            (cookie,) = _U64.unpack_from(data, offset + _COOKIE_AT)
            if cookie in self._records:
                record = self._records.pop(cookie)
                self._forget(cookie)
                if record is not None:
                    self._decode(record, data[offset : offset + length])
            offset += (length + 3) & ~3

    def _decode(self, record: int, message: bytes) -> None:
        """One destroy message of a watched socket: its state, then the tcp_info attribute."""
        state = message[_STATE_AT]
        offset = _ATTRS_AT
        while offset + 4 <= len(message):
            length, kind = _NLATTR.unpack_from(message, offset)
            if length < 4:
                return
            if kind & 0x3FFF == INET_DIAG_INFO and length - 4 >= _TCPI_END:
                sent, retrans = _TCPI_SENT.unpack_from(message, offset + 4 + _TCPI_BYTES_SENT)
                (received,) = _U64.unpack_from(message, offset + 4 + _TCPI_BYTES_RECEIVED)
                self._settle_counts(record, state, sent - retrans, received)
                return
            offset += (length + 3) & ~3

    def _settle_counts(self, record: int, state: int, sent: int, received: int) -> None:
        if received and state in _FIN_RECEIVED:
            received -= 1
        self._account(record, max(sent, 0), received)

    def close(self) -> None:
        """At the end of the run: settle what was freed, then the sockets still alive
        (a dump), then wait a little for the rest: a closed socket is freed only when
        its last timer lets go of it, a tick or so later (LINGER at most)."""
        self.poll()
        if self._counting():
            try:
                self._dump()
            except OSError as e:
                log.info("sock_diag dump failed: %s", e)
        deadline = time.monotonic() + LINGER
        while self._sock is not None and self._counting():
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._sock], [], [], left)[0]:
                log.info("%d connection(s) not settled: their byte counts are missing", self._counting())
                break
            self.poll()
        self._records.clear()
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _counting(self) -> int:
        return sum(1 for r in self._records.values() if r is not None)

    def _dump(self) -> None:
        from pyroute2.netlink.diag import SS_ALL, DiagSocket

        with DiagSocket() as ds:
            ds.bind()
            for family in (socket.AF_INET, socket.AF_INET6):
                for msg in ds.get_sock_stats(family=family, states=SS_ALL, protocol=socket.IPPROTO_TCP,
                                             extensions=1 << (INET_DIAG_INFO - 1)):
                    cookie = int(msg.get("idiag_cookie") or 0)
                    # A TIME_WAIT entry keeps the freed socket's cookie but has
                    # no tcp_info: the counts come with the destroy message,
                    # which the kernel's workqueue may not have sent yet.
                    record = self._records.get(cookie)
                    if record is None or msg.get_attr("INET_DIAG_INFO") is None:
                        continue
                    del self._records[cookie]
                    self._forget(cookie)
                    self._count(record, msg)

    def _count(self, record: int, msg: Any) -> None:
        """A pyroute2 ``inet_diag_msg`` from the dump."""
        info = msg.get_attr("INET_DIAG_INFO")
        if info is None:
            return
        sent = int(info.get("tcpi_bytes_sent") or 0) - int(info.get("tcpi_bytes_retrans") or 0)
        self._settle_counts(record, int(msg.get("idiag_state") or 0), sent, int(info.get("tcpi_bytes_received") or 0))
