"""The BSDs' rules, from the research note model-bsd.md: B (shared 4.4BSD), F (FreeBSD), X (macOS/XNU),
O (OpenBSD), N (NetBSD), D (DragonFly), each with the file and function it was read in.

Snapshots read: XNU xnu-11417.101.15 (macOS 15.5) and older tags; FreeBSD stable/12-era, 13 and 14.x
in_pcb.c / in6_pcb.c / uipc_socket.c; OpenBSD 7.x; NetBSD 10 and NetBSD 7.99.34 (the rump kernel,
whose rules marked `verified` were run on it); DragonFly in_pcb.c.
"""
from __future__ import annotations

from .rulebook import rules

FB, XNU, OB, NB, DF = "freebsd/freebsd-src", "apple-oss-distributions/xnu", "openbsd/src", "NetBSD/src", "DragonFlyBSD/DragonFlyBSD"
RUMP = "rumpkernel/src-netbsd"
FB_PCB = (FB, "sys/netinet/in_pcb.c", "in_pcbbind_setup", "12.x, 14.x read")
FB_PCB6 = (FB, "sys/netinet6/in6_pcb.c", "in6_pcbbind", "12/13 read; 15 in6_pcbbind_avail")
X_PCB = (XNU, "bsd/netinet/in_pcb.c", "in_pcbbind", "xnu-2422 (10.9) to xnu-11417 (15.5)")
X_PCB6 = (XNU, "bsd/netinet6/in6_pcb.c", "in6_pcbbind", "xnu-11417")
O_PCB = (OB, "sys/netinet/in_pcb.c", "in_pcbaddrisavail_lock, in_pcbbind_locked", "7.x")
N_PCB = (RUMP, "sys/netinet/in_pcb.c", "in_pcbbind_port, in_pcblookup_port", "7.99.34 (in_pcb.c 1.167); "
         "NetBSD 10: inpcb_bind_port, inpcb_lookup_local")
N_PCB6 = (RUMP, "sys/netinet6/in6_pcb.c", "in6_pcbbind_port, in6_pcblookup_port", "7.99.34; NetBSD 10 in6pcb_bind_port")

rules("bsd", [
    ("B0", "socket() of a TCP or UDP, AF_INET or AF_INET6 socket succeeds, every option off", "high",
     (FB, "sys/kern/uipc_socket.c", "socreate", "all"), (XNU, "bsd/kern/uipc_socket.c", "socreate", "all")),
    ("B1", "bind on a socket that already has a local address or port: EINVAL", "high",
     (FB, "sys/netinet/in_pcb.c", "in_pcbbind_setup", "all"), (XNU, "bsd/netinet/in_pcb.c", "in_pcbbind", "all"),
     (RUMP, "sys/netinet/in_pcb.c", "in_pcbbind", "7.99.34, run")),
    ("B2", "bind to an address no interface has: EADDRNOTAVAIL (the harness's machines carry 127.0.0.1 and "
           "the alias 127.0.0.2 on lo0: vagrant/targets.yaml)", "high",
     (FB, "sys/netinet/in_pcb.c", "in_pcbbind_setup (ifa_ifwithaddr_check)", "all")),
    ("B3", "the bind-time lookup (in_pcblookup_local): without SO_REUSEADDR/SO_REUSEPORT the newcomer "
           "finds the best of every overlapping PCB, connected ones included (cost: a foreign address +1, "
           "one wildcard +1; ties to the newest); with one it finds only an unconnected PCB on exactly its "
           "address; only that one PCB is checked", "high",
     (FB, "sys/netinet/in_pcb.c", "in_pcblookup_local", "11-15"), (XNU, "bsd/netinet/in_pcb.c", "in_pcblookup_local", "all"),
     (OB, "sys/netinet/in_pcb.c", "in_pcblookup_local_lock", "7.x"), (RUMP, "sys/netinet/in_pcb.c", "in_pcblookup_port", "7.99.34")),
    ("B4", "the found PCB conflicts unless the newcomer's SO_REUSEPORT (on a multicast address also "
           "SO_REUSEADDR) is among its options; whether it listens plays no part, and listen() checks "
           "nothing again", "high", FB_PCB, X_PCB, O_PCB, N_PCB),
    ("B5", "TCP connect on a connected socket: EISCONN; UDP connect on a connected socket reconnects (ok)",
     "high", (FB, "sys/kern/uipc_socket.c", "soconnectat", "11-13"), (XNU, "bsd/kern/uipc_socket.c", "soconnectlock", "all")),
    ("B6", "accept on a listener returns its oldest completed connection; with none the agent times out",
     "high", (FB, "sys/kern/uipc_socket.c", "soaccept / kern_accept4", "all")),
    ("B7", "recv on a connection whose peer closed: ok (end of file); with nothing to read the agent times out",
     "high", (FB, "sys/kern/uipc_socket.c", "soreceive_generic (SBS_CANTRCVMORE)", "all")),
    ("B8", "close: the first end of a connection to close stays (FIN_WAIT_2), then TIME_WAIT once the peer "
           "closes; the other end leaves nothing; SO_LINGER (1, 0) closes with RST and leaves nothing",
     "high", (FB, "sys/netinet/tcp_usrreq.c", "tcp_disconnect / tcp_usrclosed", "all"),
     (FB, "sys/netinet/tcp_timewait.c", "tcp_twstart", "11-14")),
    ("B9", "who gets a connection or datagram: a connected PCB with the exact four-tuple, else a bound one "
           "by the system's lookup (below); the lookup does not look at TCP state, so a PCB that is only "
           "bound can win", "high", (FB, "sys/netinet/in_pcb.c", "in_pcblookup_hash_locked", "11-13"),
     (XNU, "bsd/netinet/in_pcb.c", "in_pcblookup_hash_locked", "all")),
    ("B10", "connect from a port the socket shares: a PCB with the same four-tuple (TCP or UDP) -> EADDRINUSE",
     "high", (FB, "sys/netinet/in_pcb.c", "in_pcbconnect_setup", "11-14"), (XNU, "bsd/netinet/in_pcb.c", "in_pcbconnect", "all"),
     (OB, "sys/netinet/in_pcb.c", "in_pcbconnect", "7.x"), (RUMP, "sys/netinet/in_pcb.c", "in_pcbconnect", "7.99.34, run")),
    ("B11", "getsockopt of a boolean socket option returns the option's flag bit (SO_REUSEADDR 4, "
            "SO_KEEPALIVE 8, SO_BROADCAST 32, SO_REUSEPORT 512, SO_REUSEPORT_LB 65536) or 0; TCP_NODELAY "
            "reads 4 (TF_NODELAY); SO_LINGER its l_linger; SO_RCVBUF/SO_SNDBUF what was set", "high",
     (FB, "sys/kern/uipc_socket.c", "sogetopt (so_options & sopt_name)", "all"),
     (FB, "sys/netinet/tcp_usrreq.c", "tcp_ctloutput (t_flags & TF_NODELAY)", "all"),
     (XNU, "bsd/kern/uipc_socket.c", "sogetoptlock", "all"), (OB, "sys/kern/uipc_socket.c", "sogetopt", "7.x")),
    ("B12", "a connection nobody accepted dies with its listener (reset)", "high",
     (FB, "sys/kern/uipc_socket.c", "soclose (so_comp aborted)", "all")),
])

rules("freebsd", [
    ("F-1", "SO_REUSEPORT_LB: set ok from 12.0 (r334719), read back 65536; before 12 ENOPROTOOPT", "high",
     (FB, "sys/kern/uipc_socket.c", "sosetopt / sogetopt", "12+ read; 11 from the r334719 diff (medium)")),
    ("F-3", "SO_RCVBUF/SO_SNDBUF read back the value set (no doubling)", "high", (FB, "sys/kern/uipc_socket.c", "sbsetopt", "13 read")),
    ("F-5", "IPV6_V6ONLY is 1 by default (net.inet6.ip6.v6only); setting it on a bound socket: EINVAL", "medium",
     (FB, "sys/netinet/in_pcb.c", "in_pcballoc", "all"), (FB, "sys/netinet6/ip6_output.c", "ip6_ctloutput", "12 read")),
    ("F-6", "a port below 1024 without privilege: EACCES, before any conflict check", "high", FB_PCB),
    ("F-7", "a non-root binder meets another uid's PCB found by the wildcard lookup (unless a TCP connection, "
            "or a TIME_WAIT entry in 12-13): EADDRINUSE, except both wildcard and it has SO_REUSEPORT_LB "
            "without SO_REUSEPORT (12-14)", "high", FB_PCB),
    ("F-8", "FreeBSD 11: the uid check passes when both are wildcard and the found PCB has SO_REUSEPORT",
     "medium", (FB, "sys/netinet/in_pcb.c", "in_pcbbind_setup", "pre-r334719, read in an 11-era derivative")),
    ("F-9", "FreeBSD 15: no wildcard pass in the uid check at all", "medium",
     (FB, "sys/netinet6/in6_pcb.c", "in6_pcbbind_avail", "15/main read (IPv4 twin assumed)")),
    ("F-10", "the main check compares the newcomer's SO_REUSEPORT and SO_REUSEPORT_LB with the found PCB's "
             "(they never share with each other); not a conflict when both are wildcard AF_INET6 sockets",
     "high", FB_PCB),
    ("F-11", "a TIME_WAIT entry is found only by a newcomer without reuse options: EADDRINUSE", "high",
     FB_PCB, (FB, "sys/netinet/tcp_timewait.c", "tcptw", "11-13")),
    ("F-12", "an AF_INET6 socket without IPV6_V6ONLY binding :: is checked again on the IPv4 side: the uid "
             "check without any SO_REUSEPORT pass, and a conflict only with a specific-address or AF_INET6 "
             "PCB lacking the newcomer's SO_REUSEPORT", "high", FB_PCB6),
    ("F-13", "an AF_INET bind of 0.0.0.0 finds a dual-stack [::] PCB even by exact lookup: EADDRINUSE unless "
             "both have SO_REUSEPORT", "high", FB_PCB),
    ("F-14", "an AF_INET6 socket binding a v4-mapped address is bound as IPv4 (tcp6_usr_bind -> in_pcbbind)",
     "medium", (FB, "sys/netinet/tcp_usrreq.c", "tcp6_usr_bind / udp6_bind", "12 read")),
    ("F-15", "an IPV6_V6ONLY socket never meets IPv4 PCBs", "high", FB_PCB6),
    ("F-16", "listen: UDP EOPNOTSUPP; connected EINVAL; unbound: binds a port, ok; again: ok; "
             "no conflict check", "high", (FB, "sys/kern/uipc_socket.c", "solisten_proto_check", "12-14"),
     (FB, "sys/netinet/tcp_usrreq.c", "tcp_usr_listen", "12-14")),
    ("F-17", "connect on a listening socket: EOPNOTSUPP, 11-13", "high",
     (FB, "sys/kern/uipc_socket.c", "soconnectat (SO_ACCEPTCONN)", "11-13")),
    ("F-19", "a SYN whose PCB is only bound (TCPS_CLOSED), or finds none, is answered with RST: ECONNREFUSED",
     "high", (FB, "sys/netinet/tcp_input.c", "tcp_input (dropwithreset)", "12/13 read")),
    ("F-20", "shutdown of an unconnected socket (12+): ENOTCONN", "high", (FB, "sys/kern/uipc_socket.c", "soshutdown", "13 read")),
    ("F-21", "who receives, 11-13: the newest PCB bound to exactly the destination, else the oldest wildcard "
             "one (AF_INET before dual-stack)", "high", (FB, "sys/netinet/in_pcb.c", "in_pcblookup_hash_locked", "12 read"),
     (FB, "sys/netinet6/in6_pcb.c", "in6_pcblookup_hash_locked", "12 read")),
    ("F-22", "who receives, 14+: the newest PCB bound to exactly the destination, else the newest wildcard "
             "one (wild hash kept specific-first, newest-first)", "high",
     (FB, "sys/netinet/in_pcb.c", "in_pcblookup_hash_wild_smr, _in_pcbinshash_wild", "14.x read (14.0 itself: medium)")),
    ("F-24", "SO_REUSEPORT_LB (12+): bound PCBs of one address form a group at bind; a hash of the foreign "
             "address and port picks a member, an exact-address group before a wildcard one; a dual-stack "
             "[::] never joins", "high", (FB, "sys/netinet/in_pcb.c", "in_pcbinslbgrouphash, in_pcblookup_lbgroup", "14.x read"),
     (FB, "tests/sys/netinet/so_reuseport_lb_test.c", "basic_ipv4", "12+")),
    ("F-25", "a multicast datagram: every UDP PCB on the port bound to the group or a wildcard, that joined "
             "the group, newest socket first, stopping after one without SO_REUSEPORT/_LB/SO_REUSEADDR", "high",
     (FB, "sys/netinet/udp_usrreq.c", "udp_input (multicast branch)", "12/13 read")),
    ("F-26", "TIME_WAIT lasts 2*MSL = 60 s (11-13); from 14.0 a connection to a local address leaves none "
             "(net.inet.tcp.nolocaltimewait=1)", "high", (FB, "sys/netinet/tcp_timewait.c", "tcp_twstart", "14 read; "
                                                              "release notes 14.0, commit 92b3e07229ba")),
])

rules("darwin", [
    ("X-2", "setsockopt on a socket shut down both ways: EINVAL", "high", (XNU, "bsd/kern/uipc_socket.c", "sosetoptlock", "xnu-11417")),
    ("X-3", "IPV6_V6ONLY is 0 by default; setting it on a bound socket: EINVAL", "high",
     (XNU, "bsd/netinet6/in6_proto.c", "ip6_v6only", "xnu-1504 on"), (XNU, "bsd/netinet6/ip6_output.c", "ip6_ctloutput", "xnu-11417")),
    ("X-4", "a port below 1024 without privilege: EACCES for a specific address only (10.14+: a wildcard "
            "bind is allowed)", "high", X_PCB),
    ("X-5", "the uid check (non-root): another uid's PCB found by the wildcard lookup conflicts when either "
            "address is specific (two wildcard binds are never checked), connected and TIME_WAIT PCBs included",
     "high", X_PCB),
    ("X-6", "AF_INET6 uid check: as X-5 but two wildcards pass only if the found PCB has SO_REUSEPORT; a "
            "dual-stack :: is also checked against an IPv4 PCB lacking SO_REUSEPORT", "high", X_PCB6),
    ("X-7", "the main check as 4.4BSD; not a conflict when both are wildcard PF_INET6 sockets; a dual-stack "
            ":: conflicts on the IPv4 side only with a specific-address or PF_INET6 PCB lacking its "
            "SO_REUSEPORT", "high", X_PCB, X_PCB6),
    ("X-8", "TIME_WAIT lasts 2*MSL = 30 s, loopback included", "high", (XNU, "bsd/netinet/tcp_input.c", "add_to_time_wait", "xnu-11417")),
    ("X-10", "listen: UDP EOPNOTSUPP; connected EINVAL; unbound: binds a port; connect on a listening socket: "
             "EOPNOTSUPP", "high", (XNU, "bsd/kern/uipc_socket.c", "solisten, soconnectlock", "xnu-11417")),
    ("X-12", "shutdown of a socket that is not connected (UDP and listeners included): ENOTCONN", "high",
     (XNU, "bsd/kern/uipc_socket.c", "soshutdown", "xnu-11417")),
    ("X-13", "a SYN to a PCB that is only bound is dropped: connect times out", "high",
     (XNU, "bsd/netinet/tcp_input.c", "tcp_input (TCPS_CLOSED -> drop)", "xnu-11417")),
    ("X-14", "who receives: the newest PCB bound to exactly the destination, else the oldest wildcard one "
             "(AF_INET before PF_INET6 dual-stack)", "high", (XNU, "bsd/netinet/in_pcb.c", "in_pcblookup_hash_locked", "xnu-11417"),
     (XNU, "bsd/netinet6/in6_pcb.c", "in6_pcblookup_hash_locked", "xnu-11417")),
    ("X-15", "a multicast datagram: every UDP PCB on the port that joined the group, newest socket first, "
             "stopping after one without SO_REUSEPORT/SO_REUSEADDR", "high", (XNU, "bsd/netinet/udp_usrreq.c", "udp_input", "xnu-11417")),
])

rules("openbsd", [
    ("O-2", "IPV6_V6ONLY is always 1: setting 0 is EINVAL, any setting after bind EINVAL; binding a "
            "v4-mapped address: EADDRNOTAVAIL", "high", (OB, "sys/netinet6/ip6_output.c", "ip6_ctloutput", "7.x"),
     (OB, "sys/netinet6/in6_pcb.c", "in6_pcbaddrisavail_lock", "7.x")),
    ("O-5", "the uid check (non-root): another euid's PCB found by the wildcard lookup: EADDRINUSE, no exemption",
     "high", O_PCB),
    ("O-6", "the main check as 4.4BSD; SO_REUSEADDR or SO_REUSEPORT on a multicast address", "high", O_PCB),
    ("O-7", "a port below 1024 without privilege is refused after the conflict checks: EACCES", "high", O_PCB),
    ("O-8", "TIME_WAIT blocks a bind without reuse options; it lasts 2*MSL = 60 s", "medium",
     (OB, "sys/netinet/tcp_timer.h", "TCPTV_MSL", "7.x")),
    ("O-9", "who receives: the newest PCB bound to exactly the destination, else the newest wildcard one",
     "high", (OB, "sys/netinet/in_pcb.c", "in_pcblookup_listen, in_pcbhash_lookup", "7.x")),
    ("O-10", "shutdown of an unconnected TCP or UDP socket: ok", "medium", (OB, "sys/kern/uipc_socket.c", "soshutdown", "7.x")),
    ("O-11", "listen on UDP: EOPNOTSUPP; connect on a listening socket: EOPNOTSUPP", "medium",
     (OB, "sys/kern/uipc_socket.c", "solisten, soconnect", "7.x")),
    ("O-12", "IPv4 and IPv6 PCBs live in separate tables: 0.0.0.0 and :: never conflict", "high",
     (OB, "sys/netinet/in_pcb.c", "in_pcblookup_local_lock", "7.x")),
])

rules("netbsd", [
    ("N-1", "getsockopt of a boolean option reads 1 (sogetopt1 normalises); TCP_NODELAY 4; SO_RCVBUF as set",
     "verified", (RUMP, "sys/kern/uipc_socket.c", "sogetopt1", "7.99.34, run"), (RUMP, "sys/netinet/tcp_usrreq.c", "tcp_ctloutput", "run")),
    ("N-2", "IPV6_V6ONLY is 1 by default; setting it on a bound socket: EINVAL", "verified",
     (RUMP, "sys/netinet6/in6_proto.c", "ip6_v6only", "7.99.34, run")),
    ("N-3", "bind twice: EINVAL; a foreign address: EADDRNOTAVAIL; a port below 1024 without privilege: "
            "EACCES before any conflict", "verified", N_PCB),
    ("N-4", "IPv4 uid check (non-root): another uid's PCB from the wildcard lookup conflicts unless both "
            "are wildcard and it has SO_REUSEPORT", "verified", N_PCB),
    ("N-5", "AF_INET6 binds meet no uid check", "verified", N_PCB6),
    ("N-6", "the main check as 4.4BSD; an AF_INET bind also looks up AF_INET6 PCBs at the v4-mapped address, "
            "where a dual-stack :: matches only as a wildcard", "verified", N_PCB, N_PCB6),
    ("N-8", "an AF_INET6 lookup of a non-mapped address passes over PCBs bound to v4-mapped addresses",
     "verified", N_PCB6),
    ("N-9", "an accepted TCP connection stays in the port-hash bucket of port 0: bind-time lookups see it (and "
            "its TIME_WAIT) only if the port is a multiple of 128", "verified",
     (RUMP, "sys/netinet/tcp_input.c", "syn_cache_get", "7.99.34, run"), (NB, "sys/netinet/tcp_syncache.c", "syn_cache_get", "10 read")),
    ("N-10", "TIME_WAIT lasts 2*MSL: 2 s for the local address 127.0.0.1 (tcp_msl_loop), 10 s for another "
             "local address", "verified", (RUMP, "sys/netinet/tcp_timer.c", "tcp_msl_loop / tcp_msl_local", "7.99.34, run")),
    ("N-12", "listen on a connected socket (UDP included: solisten checks SS_ISCONNECTED before the protocol): "
             "EINVAL; on another UDP socket: EOPNOTSUPP; unbound TCP listen binds a port; connect on a listening "
             "socket: EOPNOTSUPP; to a closed port: ECONNREFUSED", "verified",
     (RUMP, "sys/kern/uipc_socket.c", "solisten, soconnect", "7.99.34, run"),
     (RUMP, "sys/netinet/udp_usrreq.c", "udp_listen", "7.99.34"), (RUMP, "sys/netinet6/udp6_usrreq.c", "udp6_listen", "7.99.34")),
    ("N-13", "shutdown of an unconnected TCP or UDP socket: ok; for writing, on a TCP socket that is only bound or "
             "listening, it closes the PCB (tcp_usrclosed -> tcp_close): the socket is dropped as after N-18",
     "verified", (RUMP, "sys/kern/uipc_socket.c", "soshutdown", "7.99.34, run"),
     (RUMP, "sys/netinet/tcp_usrreq.c", "tcp_shutdown, tcp_usrclosed", "7.99.34, run")),
    ("N-14", "a SYN to a PCB that is only bound is dropped: connect times out", "verified",
     (RUMP, "sys/netinet/tcp_input.c", "tcp_input (TCPS_CLOSED -> drop)", "run")),
    ("N-15", "who receives: the newest PCB bound to exactly the destination, else the newest wildcard one; "
             "IPv4 traffic tries AF_INET PCBs before AF_INET6 ones, and among these the v4-mapped address, then "
             "::ffff:0.0.0.0, then ::", "verified",
     (RUMP, "sys/netinet/in_pcb.c", "in_pcblookup_connect, in_pcblookup_bind", "7.99.34, run"),
     (RUMP, "sys/netinet6/in6_pcb.c", "in6_pcblookup_bind", "7.99.34, run"),
     (RUMP, "sys/netinet/tcp_input.c", "tcp_input (the order of the lookups)", "7.99.34")),
    ("N-17", "a TCP connect to the socket's own address and port: its SYN finds the socket itself by the "
             "four-tuple while it is in SYN_SENT, a simultaneous open: ok, connected to itself", "verified",
     (RUMP, "sys/netinet/tcp_input.c", "tcp_input (in_pcblookup_connect first; TCPS_SYN_SENT: SYN without ACK -> "
                                       "TCPS_SYN_RECEIVED)", "7.99.34, run")),
    ("N-18", "a refused TCP connect (RST) frees the socket's PCB (tcp_drop -> tcp_close -> in_pcbdetach): the "
             "socket stays open in no table; bind, listen, connect and shutdown for writing then say EINVAL "
             "(tcp_getpcb), setsockopt ECONNRESET at every level (tcp_ctloutput; a SOL_SOCKET option is stored "
             "first by sosetopt1), getsockopt ECONNRESET except at SOL_SOCKET", "verified",
     (RUMP, "sys/netinet/tcp_subr.c", "tcp_drop, tcp_close", "7.99.34"),
     (RUMP, "sys/netinet/tcp_usrreq.c", "tcp_getpcb, tcp_ctloutput", "7.99.34, run"),
     (RUMP, "sys/kern/uipc_socket.c", "sosetopt, sogetopt, soshutdown", "7.99.34, run")),
    ("N-19", "accept on a UDP socket: EOPNOTSUPP (no PR_LISTEN); on a TCP socket that does not listen "
             "(no SO_ACCEPTCONN): EINVAL", "verified", (RUMP, "sys/kern/uipc_syscalls.c", "do_sys_accept", "7.99.34, run")),
    ("N-20", "an AF_INET6 connect across the families: to a v4-mapped address from an IPV6_V6ONLY socket or one "
             "bound to a native IPv6 address, or to an IPv6 address from one bound to a v4-mapped address: EINVAL "
             "(an unbound TCP socket is bound to :: and a port first, by tcp_connect); a wildcard-bound socket "
             "connecting to a v4-mapped address becomes bound to ::ffff:0.0.0.0", "verified",
     (RUMP, "sys/netinet6/in6_pcb.c", "in6_pcbconnect (sanity check for mapped address case)", "7.99.34, run"),
     (RUMP, "sys/netinet/tcp_usrreq.c", "tcp_connect", "7.99.34")),
    ("N-21", "connect on a connected UDP socket disconnects it first, which clears its local address: the new "
             "connection's source is chosen again", "high",
     (RUMP, "sys/kern/uipc_socket.c", "soconnect (sodisconnect)", "7.99.34"),
     (RUMP, "sys/netinet/udp_usrreq.c", "udp_disconnect", "7.99.34"), (RUMP, "sys/netinet6/udp6_usrreq.c", "udp6_disconnect", "7.99.34")),
    ("N-16", "a multicast datagram: every UDP PCB on the port bound to the group or a wildcard (no per-socket "
             "membership test), newest socket first, stopping after one without SO_REUSEPORT/SO_REUSEADDR",
     "high", (RUMP, "sys/netinet/udp_usrreq.c", "udp4_realinput", "7.99.34 read")),
])

rules("dragonfly", [
    ("D-1", "bind: the 4.4BSD checks (SO_REUSEADDR counts as SO_REUSEPORT only on multicast); the uid check "
            "(non-root) passes two wildcards when the found PCB has SO_REUSEPORT", "high",
     (DF, "sys/netinet/in_pcb.c", "in_pcbbind", "read")),
    ("D-3", "SO_REUSEPORT TCP listeners of one address form a local group at listen; connections are spread "
            "by hash", "medium", (DF, "sys/netinet/in_pcb.c", "in_pcbinswildcardhash, in_pcbinslocalgrphash_oncpu", "read")),
    ("D-4", "IPv4-mapped addresses were removed (2015): IPv4 and IPv6 never conflict; from 6.4 "
            "setsockopt(IPV6_V6ONLY) accepts any value and reads back 1", "medium",
     (DF, "sys/netinet6/ip6_output.c", "ip6_ctloutput", "commits 727ccde8 (2015), ae019b5f (6.4)")),
    ("D-11", "getsockopt reads the option's flag bit, as FreeBSD (not verified in DragonFly's sogetopt)", "medium",
     (DF, "sys/kern/uipc_socket.c", "sogetopt", "FreeBSD-derived")),
])
