"""Prints every name a pathname unix socket shows: getsockname, getpeername
and accept's address on both sides, bound by absolute and relative paths,
the same name in two directories.  Run natively and under umlpy: the same."""

import os
import socket
import sys

d = sys.argv[1]
os.chdir(d)
for sub in ("a", "b"):
    os.makedirs(sub, exist_ok=True)
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(os.path.join(d, "x.sock"))
srv.listen(4)
print("server sockname", srv.getsockname())
cli = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
cli.connect(os.path.join(d, "x.sock"))
conn, peer = srv.accept()
print("accept peer", repr(peer))
print("conn sockname", conn.getsockname(), "conn peername", repr(conn.getpeername()))
print("client peername", cli.getpeername(), "client sockname", repr(cli.getsockname()))
cli2 = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
cli2.bind("c.sock")
cli2.connect("x.sock")
conn2, peer2 = srv.accept()
print("accept peer (bound client)", repr(peer2), "conn2 peername", conn2.getpeername())
print("client2", cli2.getsockname(), cli2.getpeername())
r = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
r.bind("rel.sock")
print("relative", r.getsockname())
same = []
for sub in ("a", "b"):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(os.path.join(d, sub, "s.sock"))
    same.append(s)
print("same name", [s.getsockname() for s in same])
