"""``siginfo_t`` as strace prints it at a signal-delivery stop.

Layout (x86-64, include/uapi/asm-generic/siginfo.h): si_signo, si_errno,
si_code at 0/4/8, the union at 16: kill/tkill {pid, uid}; SIGCHLD {pid,
uid, status, utime, stime} (utime at 24+8 for alignment); faults {addr}.
"""

from __future__ import annotations

import os
import struct

from umlpy.vkernel.decode.base import ptr_str
from umlpy.vkernel.decode.flags import signame

_SI_CODES = {0: "SI_USER", 0x80: "SI_KERNEL", -1: "SI_QUEUE", -2: "SI_TIMER", -3: "SI_MESGQ", -4: "SI_ASYNCIO",
             -5: "SI_SIGIO", -6: "SI_TKILL", -7: "SI_DETHREAD", -60: "SI_ASYNCNL"}

_FAULT_CODES = {
    4: ("ILL_ILLOPC", "ILL_ILLOPN", "ILL_ILLADR", "ILL_ILLTRP", "ILL_PRVOPC", "ILL_PRVREG", "ILL_COPROC",
        "ILL_BADSTK"),
    8: ("FPE_INTDIV", "FPE_INTOVF", "FPE_FLTDIV", "FPE_FLTOVF", "FPE_FLTUND", "FPE_FLTRES", "FPE_FLTINV",
        "FPE_FLTSUB"),
    11: ("SEGV_MAPERR", "SEGV_ACCERR", "SEGV_BNDERR", "SEGV_PKUERR", "SEGV_ACCADI", "SEGV_ADIDERR",
         "SEGV_ADIPERR", "SEGV_MTEAERR", "SEGV_MTESERR", "SEGV_CPERR"),
    7: ("BUS_ADRALN", "BUS_ADRERR", "BUS_OBJERR", "BUS_MCEERR_AR", "BUS_MCEERR_AO"),
    5: ("TRAP_BRKPT", "TRAP_TRACE", "TRAP_BRANCH", "TRAP_HWBKPT", "TRAP_UNK", "TRAP_PERF"),
}
_CLD_CODES = ("CLD_EXITED", "CLD_KILLED", "CLD_DUMPED", "CLD_TRAPPED", "CLD_STOPPED", "CLD_CONTINUED")
_SIGCHLD = 17


def _clock_t(v: int, verbose: bool) -> str:
    """A clock_t in ticks, with the seconds as strace adds them (``1 /* 0.01 s */``)."""
    if v == 0:
        return str(v)
    tck = os.sysconf("SC_CLK_TCK") or 100
    digits = len(str(tck)) - 1
    return f"{v} /* {v / tck:.{digits}f} s */"


def format_siginfo(sig: int, raw: bytes, *, verbose: bool = False) -> str:
    """``{si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=…}``; ``raw`` may be empty if unavailable."""
    if len(raw) < 48:
        return f"{{si_signo={signame(sig)}}}"
    signo, _errno, code = struct.unpack_from("<iii", raw, 0)
    head = f"si_signo={signame(signo)}"
    if code in _SI_CODES and code != 0x80:
        pid, uid = struct.unpack_from("<iI", raw, 16)
        return f"{{{head}, si_code={_SI_CODES[code]}, si_pid={pid}, si_uid={uid}}}"
    if signo == _SIGCHLD and 1 <= code <= len(_CLD_CODES):
        pid, uid, status = struct.unpack_from("<iIi", raw, 16)
        utime, stime = struct.unpack_from("<qq", raw, 32)
        st = str(status) if code == 1 else signame(status)
        return (f"{{{head}, si_code={_CLD_CODES[code - 1]}, si_pid={pid}, si_uid={uid}, si_status={st}, "
                f"si_utime={_clock_t(utime, verbose)}, si_stime={_clock_t(stime, verbose)}}}")
    if signo in _FAULT_CODES:
        (addr,) = struct.unpack_from("<Q", raw, 16)
        names = _FAULT_CODES[signo]
        cname = _SI_CODES.get(code) or (names[code - 1] if 1 <= code <= len(names) else str(code))
        return f"{{{head}, si_code={cname}, si_addr={ptr_str(addr)}}}"
    return f"{{{head}, si_code={_SI_CODES.get(code, str(code))}}}"
