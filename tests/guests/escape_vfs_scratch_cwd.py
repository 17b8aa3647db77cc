"""Guest: the scratch page's seal (mprotect/munmap/mmap/mremap/madvise,
/proc/self/mem), then relative writes from a cwd whose directory was renamed
away and replaced by a symlink to a host directory, then directories nested
until the host-side path exceeds PATH_MAX.  argv: WRITABLE_DIR HOST_DIR."""

import ctypes
import os
import sys
from pathlib import Path

libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
libc.mremap.restype = ctypes.c_void_p
libc.mremap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_int, ctypes.c_void_p]
os.stat("/etc/passwd")  # a translated path: the scratch page exists
a = b = 0
for line in Path("/proc/self/maps").read_text().splitlines():
    f = line.split()
    if f[1] == "r--p" and len(f) == 5:
        lo, hi = (int(x, 16) for x in f[0].split("-"))
        if hi - lo == 0x20000:
            a, b = lo, hi
assert a, "no scratch region found"


def report(name: str, v: int | None) -> None:
    bad = v is None or v in (-1, 2**64 - 1)
    print(name, v, os.strerror(ctypes.get_errno()) if bad else "SUCCEEDED", flush=True)


report("mprotect", libc.mprotect(ctypes.c_void_p(a), b - a, 3))
report("munmap", libc.munmap(ctypes.c_void_p(a), 4096))
report("mmap_fixed", libc.mmap(a, 4096, 3, 0x22 | 0x10, -1, 0))
report("mremap", libc.mremap(a, 4096, 8192, 3, None))
report("madvise", libc.madvise(ctypes.c_void_p(a), b - a, 4))
try:
    fd = os.open("/proc/self/mem", os.O_RDWR)
    print("mem opened RW!", flush=True)
    os.pwrite(fd, b"X", a)
    print("mem write ok!", flush=True)
except OSError as e:
    print("procmem", e.errno)

w, host = sys.argv[1], sys.argv[2]
os.mkdir(w + "/d")
os.chdir(w + "/d")
os.rename(w + "/d", w + "/d2")
os.symlink(host, w + "/d")
for i, fn in enumerate([
    lambda: Path("f1").write_text("x"),
    lambda: os.mkdir("m1"),
    lambda: os.symlink("/", "s1"),
    lambda: Path("../d/f2").write_text("x"),
    lambda: os.chdir(w + "/d") or Path("f3").write_text("x"),
]):
    try:
        fn()
        print("op", i, "ok")
    except OSError as e:
        print("op", i, e.errno)

os.chdir(w)
n = 0
try:
    for _ in range(40):
        os.mkdir("d" * 200)
        os.chdir("d" * 200)
        n += 1
except OSError as e:
    print("deep", n, e.errno)
