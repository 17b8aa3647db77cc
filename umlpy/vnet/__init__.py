"""The virtual network: pure services for the socket syscall handlers.

No ptrace and no pids in here (STYLE habit 1): the vkernel hands raw sockaddr bytes and
request packets in, and gets decisions and bytes back.

* :mod:`umlpy.vnet.sockaddr` — sockaddr bytes <-> frozen values
* :mod:`umlpy.vnet.rules` / :mod:`umlpy.vnet.policy` — ``--net`` modes, allow/deny rules
* :mod:`umlpy.vnet.dns` — learn name -> address mappings from DNS answers
* :mod:`umlpy.vnet.ports` — ``--publish`` and guest <-> host port/address rewriting
* :mod:`umlpy.vnet.interfaces` / :mod:`umlpy.vnet.ifreq` — virtual ``lo`` and ``eth0``,
  netlink route dumps, SIOCGIF* ioctls
* :mod:`umlpy.vnet.log` — connection log and summary
* :mod:`umlpy.vnet.stack` — :class:`VirtualNetwork`, the one object handlers talk to
"""
