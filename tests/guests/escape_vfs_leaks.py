"""Where a guest might read the host path of the sandbox's state directory.

    escape_vfs_leaks.py WORKDIR WHAT OUT

Creates WORKDIR/mapped (in the copy-on-write layer, so on the host it lies
beneath the state directory), maps it, and writes to OUT what WHAT shows:
``maps`` (/proc/self/maps), ``map_files`` (readlink of
/proc/self/map_files/RANGE), ``links`` (readlink of /proc/self/fd/N, cwd,
exe; getcwd) or ``scratch`` (the bytes of umlpy's read-only scratch pages
after a call whose path it rewrote into the upper layer).
"""

import ctypes
import mmap
import os
import sys

work, what, out = sys.argv[1], sys.argv[2], sys.argv[3]
p = os.path.join(work, "mapped")
with open(p, "wb") as f:
    f.write(b"x" * 4096)
fh = open(p, "rb")  # noqa: SIM115
m = mmap.mmap(fh.fileno(), 4096, prot=mmap.PROT_READ)
maps = open("/proc/self/maps").read()  # noqa: SIM115
seen = []
if what == "maps":
    seen = [line for line in maps.splitlines() if "mapped" in line]
elif what == "map_files":
    for line in maps.splitlines():
        if "mapped" in line:
            try:
                seen.append(os.readlink("/proc/self/map_files/" + line.split()[0]))
            except OSError as e:
                seen.append(repr(e))
elif what == "links":
    os.chdir(work)
    seen = [os.readlink(f"/proc/self/fd/{fh.fileno()}"), os.readlink("/proc/self/cwd"), os.getcwd(),
            os.readlink("/proc/self/exe")]
elif what == "scratch":
    regions = []
    for line in open("/proc/self/maps").read().splitlines():  # noqa: SIM115
        parts = line.split()
        lo, hi = (int(x, 16) for x in parts[0].split("-"))
        if parts[1] == "r--p" and len(parts) == 5:
            regions.append((lo, hi))
    os.close(os.open(p, os.O_RDONLY))  # its host path is placed in the scratch page (stat is done by the tracer)
    for lo, hi in regions:
        data = ctypes.string_at(lo, hi - lo)
        seen += [s.decode(errors="replace") for s in data.split(b"\0") if s.startswith(b"/")]
with open(out, "w") as f:
    f.write("\n".join(seen) + "\n")
