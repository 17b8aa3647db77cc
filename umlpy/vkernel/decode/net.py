"""Decoders for the network family (socket, connect, sendto …)."""

from __future__ import annotations

from enum import IntEnum, IntFlag

from umlpy.vkernel.decode import flags as F
from umlpy.vkernel.decode.base import FD, INT, PTR, ULONG, Arg, Env, Ret, Spec, s32, sc
from umlpy.vkernel.decode.strings import BUF_OUT, buf_in
from umlpy.vkernel.decode.structs import SOCKADDR_OUT, SOCKLEN_OUT, af_name, sockaddr_in

_SOCK_TYPES = {1: "SOCK_STREAM", 2: "SOCK_DGRAM", 3: "SOCK_RAW", 4: "SOCK_RDM", 5: "SOCK_SEQPACKET",
               6: "SOCK_DCCP", 10: "SOCK_PACKET"}


class MSG(IntFlag):
    MSG_OOB = 0x1
    MSG_PEEK = 0x2
    MSG_DONTROUTE = 0x4
    MSG_CTRUNC = 0x8
    MSG_PROXY = 0x10
    MSG_TRUNC = 0x20
    MSG_DONTWAIT = 0x40
    MSG_EOR = 0x80
    MSG_WAITALL = 0x100
    MSG_FIN = 0x200
    MSG_SYN = 0x400
    MSG_CONFIRM = 0x800
    MSG_RST = 0x1000
    MSG_ERRQUEUE = 0x2000
    MSG_NOSIGNAL = 0x4000
    MSG_MORE = 0x8000
    MSG_WAITFORONE = 0x10000
    MSG_BATCH = 0x40000
    MSG_ZEROCOPY = 0x4000000
    MSG_FASTOPEN = 0x20000000
    MSG_CMSG_CLOEXEC = 0x40000000


class Shut(IntEnum):
    SHUT_RD = 0
    SHUT_WR = 1
    SHUT_RDWR = 2


def _type(e: Env, i: int) -> str:
    v = e.args[i] & 0xFFFFFFFF
    parts = [_SOCK_TYPES.get(v & 0xF, f"{v & 0xF:#x}")]
    if v & 0o2000000:
        parts.append("SOCK_CLOEXEC")
    if v & 0o4000:
        parts.append("SOCK_NONBLOCK")
    rest = v & ~(0xF | 0o2000000 | 0o4000)
    if rest:
        parts.append(f"{rest:#x}")
    return "|".join(parts)


def _accept_flags(e: Env, i: int) -> str:
    """accept4's flags: strace names them SOCK_CLOEXEC|SOCK_NONBLOCK (the O_ values)."""
    v = e.args[i] & 0xFFFFFFFF
    parts = [n for bit, n in ((0o2000000, "SOCK_CLOEXEC"), (0o4000, "SOCK_NONBLOCK")) if v & bit]
    if v & ~(0o2000000 | 0o4000):
        parts.append(f"{v & ~(0o2000000 | 0o4000):#x}")
    return "|".join(parts) or "0"


DOMAIN = Arg(lambda e, i: af_name(e.args[i]))
MSGFLAGS = Arg(lambda e, i: F.flags(e.args[i] & 0xFFFFFFFF, MSG))
_LEVELS = {1: "SOL_SOCKET", 0: "SOL_IP", 6: "SOL_TCP", 17: "SOL_UDP", 41: "SOL_IPV6"}
LEVEL = Arg(lambda e, i: _LEVELS.get(s32(e.args[i]), str(s32(e.args[i]))))

SPECS: dict[str, Spec] = {
    "socket": sc(DOMAIN, Arg(_type), INT, ret=Ret.FD),
    "socketpair": sc(DOMAIN, Arg(_type), INT, PTR),
    "connect": sc(FD, sockaddr_in(2), INT),
    "bind": sc(FD, sockaddr_in(2), INT),
    "listen": sc(FD, INT),
    "accept": sc(FD, SOCKADDR_OUT, SOCKLEN_OUT, ret=Ret.FD),
    "accept4": sc(FD, SOCKADDR_OUT, SOCKLEN_OUT, Arg(_accept_flags),
                  ret=Ret.FD),
    "getsockname": sc(FD, SOCKADDR_OUT, SOCKLEN_OUT),
    "getpeername": sc(FD, SOCKADDR_OUT, SOCKLEN_OUT),
    "sendto": sc(FD, buf_in(2), ULONG, MSGFLAGS, sockaddr_in(5), INT),
    "recvfrom": sc(FD, BUF_OUT, ULONG, MSGFLAGS, SOCKADDR_OUT, SOCKLEN_OUT),
    "sendmsg": sc(FD, PTR, MSGFLAGS),
    "recvmsg": sc(FD, PTR, MSGFLAGS),
    "shutdown": sc(FD, Arg(lambda e, i: F.xval(s32(e.args[i]), Shut))),
    "setsockopt": sc(FD, LEVEL, INT, PTR, INT),
    "getsockopt": sc(FD, LEVEL, INT, PTR, PTR),
}
