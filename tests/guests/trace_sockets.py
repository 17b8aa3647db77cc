"""For `umlpy trace -yy`: one fd of each kind -yy describes, each used once.

TCP listener, client and accepted peer on 127.0.0.1; a unix socketpair; a
bound unix listener and its connection; a netlink socket; /dev/null; a pipe.
Usage: trace_sockets.py UNIX_SOCKET_PATH
"""

import os
import socket
import sys

tcp = socket.socket()
tcp.bind(("127.0.0.1", 0))
tcp.listen()
client = socket.create_connection(tcp.getsockname())
served, _ = tcp.accept()
client.send(b"x")
served.recv(1)

a, b = socket.socketpair()
a.send(b"y")
b.recv(1)

listener = socket.socket(socket.AF_UNIX)
listener.bind(sys.argv[1])
listener.listen()
uc = socket.socket(socket.AF_UNIX)
uc.connect(sys.argv[1])
ua, _ = listener.accept()
uc.send(b"w")
ua.recv(1)

nl = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
nl.bind((0, 0))
nl.getsockname()

null = os.open("/dev/null", os.O_WRONLY)
os.write(null, b"q")
r, w = os.pipe()
os.write(w, b"p")
