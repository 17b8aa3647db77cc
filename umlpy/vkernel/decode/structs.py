"""Structures in guest memory, as strace prints them: abbreviated (``...``), or in full under ``-v``.

Layouts are x86-64's: ``struct stat`` (arch/x86/include/uapi/asm/stat.h),
``struct statx`` (include/uapi/linux/stat.h), ``struct timespec``,
``struct iovec``, ``struct rlimit``, the kernel's ``struct sigaction``
(handler, flags, restorer, mask), ``struct sockaddr_{un,in,in6}``.
"""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Callable

from umlpy.vkernel.decode import flags as F
from umlpy.vkernel.decode.base import Arg, Env, Reads, hexc, ptr_str, s32, s64
from umlpy.vkernel.decode.strings import counted, quote

_STAT = struct.Struct("<QQQIIIiQqqq")  # up to st_blocks


def _dev(v: int) -> str:
    major = ((v >> 8) & 0xFFF) | ((v >> 32) & ~0xFFF)
    minor = (v & 0xFF) | ((v >> 12) & ~0xFF)
    return f"makedev({hexc(major)}, {hexc(minor)})"  # C's %#x: 0 prints as 0


def time_comment(sec: int, nsec: int) -> str:
    """strace's ``/* 2026-11-24T12:46:22.683443758+0000 */`` after a time (none for 0, as strace)."""
    if sec == 0 and nsec == 0:
        return ""
    try:
        t = time.localtime(sec)
    except (OverflowError, OSError, ValueError):
        return ""
    frac = f".{nsec:09d}" if nsec else ""
    return f" /* {time.strftime('%Y-%m-%dT%H:%M:%S', t)}{frac}{time.strftime('%z', t)} */"


def stat_str(e: Env, addr: int) -> str:
    data = e.read(addr, 144)
    if data is None:
        return ptr_str(addr)
    dev, ino, nlink, mode, uid, gid, _pad, rdev, size, blksize, blocks = _STAT.unpack_from(data)
    special = mode & 0o170000 in (0o020000, 0o060000)
    what = f"st_rdev={_dev(rdev)}" if special else f"st_size={size}"
    if not e.opts.verbose:
        return f"{{st_mode={F.file_mode(mode)}, {what}, ...}}"
    parts = [f"st_dev={_dev(dev)}", f"st_ino={ino}", f"st_mode={F.file_mode(mode)}", f"st_nlink={nlink}",
             f"st_uid={uid}", f"st_gid={gid}", f"st_blksize={blksize}", f"st_blocks={blocks}", what]
    for k, name in enumerate(("atime", "mtime", "ctime")):
        sec, nsec = struct.unpack_from("<qQ", data, 72 + 16 * k)
        parts.append(f"st_{name}={sec}{time_comment(sec, nsec)}, st_{name}_nsec={nsec}")
    return "{" + ", ".join(parts) + "}"


def statx_str(e: Env, addr: int) -> str:
    data = e.read(addr, 0x100)
    if data is None:
        return ptr_str(addr)
    mask, blksize, attrs = struct.unpack_from("<IIQ", data, 0)
    nlink, uid, gid, mode = struct.unpack_from("<IIIH", data, 16)
    ino, size, blocks, attrs_mask = struct.unpack_from("<QQQQ", data, 32)
    rdev_major, rdev_minor, dev_major, dev_minor, mnt_id = struct.unpack_from("<IIIIQ", data, 128)
    special = mode & 0o170000 in (0o020000, 0o060000)
    if not e.opts.verbose:
        parts = [f"stx_mask={F.flags(mask, F.STATX)}", f"stx_attributes={F.flags(attrs, F.STATX_ATTR)}",
                 f"stx_mode={F.file_mode(mode)}"]
        if special:
            parts.append(f"stx_rdev_major={rdev_major}, stx_rdev_minor={rdev_minor}")
        else:
            parts.append(f"stx_size={size}")
        return "{" + ", ".join(parts) + ", ...}"
    parts = [f"stx_mask={F.flags(mask, F.STATX)}", f"stx_blksize={blksize}",
             f"stx_attributes={F.flags(attrs, F.STATX_ATTR)}", f"stx_nlink={nlink}", f"stx_uid={uid}",
             f"stx_gid={gid}", f"stx_mode={F.file_mode(mode)}", f"stx_ino={ino}", f"stx_size={size}",
             f"stx_blocks={blocks}", f"stx_attributes_mask={F.flags(attrs_mask, F.STATX_ATTR)}"]
    for k, name in enumerate(("atime", "btime", "ctime", "mtime")):
        sec, nsec = struct.unpack_from("<qI", data, 64 + 16 * k)
        parts.append(f"stx_{name}={{tv_sec={sec}, tv_nsec={nsec}}}{time_comment(sec, nsec)}")
    parts += [f"stx_rdev_major={rdev_major}", f"stx_rdev_minor={rdev_minor}", f"stx_dev_major={dev_major}",
              f"stx_dev_minor={dev_minor}"]
    if mask & F.STATX.STATX_MNT_ID:
        parts.append(f"stx_mnt_id={mnt_id:#x}")
    return "{" + ", ".join(parts) + "}"


def timespec_str(e: Env, addr: int) -> str:
    data = e.read(addr, 16)
    if data is None:
        return ptr_str(addr)
    sec, nsec = struct.unpack("<qq", data)
    return f"{{tv_sec={sec}, tv_nsec={nsec}}}"


def timeval_str(e: Env, addr: int) -> str:
    data = e.read(addr, 16)
    if data is None:
        return ptr_str(addr)
    sec, usec = struct.unpack("<qq", data)
    return f"{{tv_sec={sec}, tv_usec={usec}}}"


def _rlim(v: int) -> str:
    if v == 0xFFFFFFFFFFFFFFFF:
        return "RLIM64_INFINITY"
    if v > 0 and v % 1024 == 0:
        return f"{v // 1024}*1024"
    return str(v)


def rlimit_str(e: Env, addr: int) -> str:
    data = e.read(addr, 16)
    if data is None:
        return ptr_str(addr)
    cur, mx = struct.unpack("<QQ", data)
    return f"{{rlim_cur={_rlim(cur)}, rlim_max={_rlim(mx)}}}"


def sigset_str(e: Env, addr: int, size: int = 8) -> str:
    size = min(size, 128)
    data = e.read(addr, size)
    if data is None:
        return ptr_str(addr)
    return F.sigset(int.from_bytes(data, "little"), size * 8)


def sigaction_str(e: Env, addr: int) -> str:
    data = e.read(addr, 32)
    if data is None:
        return ptr_str(addr)
    handler, fl, restorer, mask = struct.unpack("<QQQQ", data)
    h = {0: "SIG_DFL", 1: "SIG_IGN"}.get(handler, f"{handler:#x}")
    s = f"{{sa_handler={h}, sa_mask={F.sigset(mask)}, sa_flags={F.flags(fl, F.SA)}"
    if fl & F.SA.SA_RESTORER:
        s += f", sa_restorer={restorer:#x}"
    return s + "}"


def iovec_str(e: Env, addr: int, count: int, total: int | None) -> str:
    """``[{iov_base="...", iov_len=N}, ...]``; ``total`` bytes of content are shown (None: all)."""
    if count < 0 or count > 1024:
        return ptr_str(addr)
    data = e.read(addr, 16 * count)
    if data is None:
        return ptr_str(addr)
    items = []
    left = total
    for k in range(min(count, 32)):
        base, ln = struct.unpack_from("<QQ", data, 16 * k)
        show = ln if left is None else max(0, min(ln, left))
        if left is not None:
            left -= show
        items.append(f"{{iov_base={counted(e, base, show)}, iov_len={ln}}}")
    if count > 32:
        items.append("...")
    return "[" + ", ".join(items) + "]"


def sockaddr_str(e: Env, addr: int, length: int) -> str:
    if addr == 0:
        return "NULL"
    length = max(0, min(length, 128))
    data = e.read(addr, length)
    if data is None or length < 2:
        return ptr_str(addr)
    (fam,) = struct.unpack_from("<H", data)
    fname = _AF.get(fam, str(fam))
    if fam == socket.AF_UNIX and length == 2:
        return "{sa_family=AF_UNIX}"  # unnamed (socketpair, an accepted connection)
    if fam == socket.AF_NETLINK and length >= 12:
        pad, pid, groups = struct.unpack_from("<HII", data, 2)
        pad_text = f"nl_pad={pad:#x}, " if pad else ""
        return f"{{sa_family=AF_NETLINK, {pad_text}nl_pid={pid}, nl_groups={groups:08x}}}"
    if fam == socket.AF_UNIX:
        p = data[2:]
        if p[:1] == b"\0":
            name = "@" + quote(p[1:].split(b"\0")[0])
        else:
            name = quote(p.split(b"\0")[0])
        return f"{{sa_family={fname}, sun_path={name}}}"
    if fam == socket.AF_INET and length >= 8:
        port = struct.unpack_from(">H", data, 2)[0]
        ip = socket.inet_ntop(socket.AF_INET, data[4:8])
        return f'{{sa_family=AF_INET, sin_port=htons({port}), sin_addr=inet_addr("{ip}")}}'
    if fam == socket.AF_INET6 and length >= 24:
        port, flow = struct.unpack_from(">HI", data, 2)
        ip = socket.inet_ntop(socket.AF_INET6, data[8:24])
        scope = struct.unpack_from("<I", data, 24)[0] if length >= 28 else 0
        return (f"{{sa_family=AF_INET6, sin6_port=htons({port}), sin6_flowinfo=htonl({flow}), "
                f'inet_pton(AF_INET6, "{ip}", &sin6_addr), sin6_scope_id={scope}}}')
    return f"{{sa_family={fname}, sa_data={quote(data[2:])}}}"


_AF = {
    0: "AF_UNSPEC", 1: "AF_UNIX", 2: "AF_INET", 10: "AF_INET6", 16: "AF_NETLINK", 17: "AF_PACKET",
    4: "AF_IPX", 5: "AF_APPLETALK", 9: "AF_X25", 31: "AF_BLUETOOTH", 38: "AF_ALG", 40: "AF_VSOCK",
}


def af_name(v: int) -> str:
    return _AF.get(v & 0xFFFFFFFF, str(v))


def wait_status(st: int) -> str:
    st &= 0xFFFFFFFF
    sig = st & 0x7F
    if sig == 0:
        return f"[{{WIFEXITED(s) && WEXITSTATUS(s) == {(st >> 8) & 0xFF}}}]"
    if sig == 0x7F:
        return f"[{{WIFSTOPPED(s) && WSTOPSIG(s) == {F.signame((st >> 8) & 0xFF)}}}]"
    core = " && WCOREDUMP(s)" if st & 0x80 else ""
    return f"[{{WIFSIGNALED(s) && WTERMSIG(s) == {F.signame(sig)}{core}}}]"


# --- Args built on the structures --------------------------------------------
def _out_struct(fn: Callable[[Env, int], str], size: int) -> Arg:
    """``fn`` reads ``size`` bytes at the pointer and nothing else."""
    def fmt(e: Env, i: int) -> str:
        return fn(e, e.args[i])

    return Arg(fmt, out=True, reads=lambda e, i: e.read(e.args[i], size))


def _in_struct(fn: Callable[[Env, int], str], size: int) -> Arg:
    def fmt(e: Env, i: int) -> str:
        return "NULL" if e.args[i] == 0 else fn(e, e.args[i])

    return Arg(fmt, reads=lambda e, i: e.read(e.args[i], size))


STAT_OUT = _out_struct(stat_str, 144)
STATX_OUT = _out_struct(statx_str, 0x100)
TIMESPEC_IN = _in_struct(timespec_str, 16)
TIMESPEC_OUT = _out_struct(timespec_str, 16)
TIMEVAL_OUT = _out_struct(timeval_str, 16)
RLIMIT_IN = _in_struct(rlimit_str, 16)
RLIMIT_OUT = _out_struct(rlimit_str, 16)
SIGACTION_IN = _in_struct(sigaction_str, 32)
SIGACTION_OUT = _out_struct(sigaction_str, 32)


def _sigset_reads(size_arg: int) -> Reads:
    return lambda e, i: e.read(e.args[i], min(e.args[size_arg], 128))  # as sigset_str


def sigset_in(size_arg: int) -> Arg:
    return Arg(lambda e, i: "NULL" if e.args[i] == 0 else sigset_str(e, e.args[i], e.args[size_arg]),
               reads=_sigset_reads(size_arg))


def sigset_out(size_arg: int) -> Arg:
    return Arg(lambda e, i: sigset_str(e, e.args[i], e.args[size_arg]), out=True, reads=_sigset_reads(size_arg))


def iovec_in(count_arg: int) -> Arg:
    return Arg(lambda e, i: iovec_str(e, e.args[i], s32(e.args[count_arg]), None))


def iovec_out(count_arg: int) -> Arg:
    return Arg(lambda e, i: iovec_str(e, e.args[i], s32(e.args[count_arg]), s64(e.ret or 0)), out=True)


def sockaddr_in(len_arg: int) -> Arg:
    return Arg(lambda e, i: sockaddr_str(e, e.args[i], s32(e.args[len_arg])))


def _sockaddr_out(e: Env, i: int) -> str:
    """sockaddr whose length is in an int the next argument points to (accept, getsockname)."""
    if e.args[i] == 0:
        return "NULL"
    raw = e.read(e.args[i + 1], 4)
    ln = struct.unpack("<i", raw)[0] if raw else 0
    return sockaddr_str(e, e.args[i], ln)


def _socklen_out(e: Env, i: int) -> str:
    raw = e.read(e.args[i], 4)
    return ptr_str(e.args[i]) if raw is None else f"[{struct.unpack('<i', raw)[0]}]"


SOCKADDR_OUT = Arg(_sockaddr_out, out=True)
SOCKLEN_OUT = Arg(_socklen_out, out=True)
