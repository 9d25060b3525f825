"""Linux's rules, L1-L40 of the research note model-linux.md, each with the kernel source it was read in.

Trees read: 3.0.27, 3.8.13, 3.9.6, 4.2.8, 4.20, 6.1.0-rc7 and 6.18.24 (public mirrors of
torvalds/linux); `verified` means run on this project's Linux 6.18.44 by the note's experiments.
"""
from __future__ import annotations

from .rulebook import rules

L = "torvalds/linux"
SOCK_C = (L, "net/core/sock.c", "sk_setsockopt / sk_getsockopt (sock_setsockopt before 5.x)", "all")
BIND_CONFLICT = (L, "net/ipv4/inet_connection_sock.c", "inet_csk_bind_conflict / inet_bind_conflict",
                 "3.8.13, 3.9.6, 4.20, 6.18 read")
GET_PORT = (L, "net/ipv4/inet_connection_sock.c", "inet_csk_get_port, inet_csk_update_fastreuse, "
            "sk_reuseport_match", "4.20, 6.18 read")
UDP_GET_PORT = (L, "net/ipv4/udp.c", "udp_lib_get_port, udp_lib_lport_inuse", "3.8.13, 3.9.6, 6.18 read")

rules("linux", [
    ("L1", "socket() succeeds; SO_REUSEADDR and SO_REUSEPORT start off; an AF_INET6 socket's IPV6_V6ONLY "
           "starts as net.ipv6.bindv6only (0); its uid is its creator's", "verified",
     (L, "net/ipv6/af_inet6.c", "inet6_create", "all"), (L, "net/core/sock.c", "sock_init_data", "all")),
    ("L2", "SO_REUSEADDR can be set or cleared at any time and counts from then on, also for checks other "
           "sockets make against this one", "verified", SOCK_C),
    ("L3", "SO_REUSEPORT: before 3.9 setsockopt and getsockopt fail with ENOPROTOOPT (no such case in "
           "sock_setsockopt); from 3.9 it is set and read like any boolean", "verified",
     (L, "net/core/sock.c", "sock_setsockopt / sock_getsockopt", "3.8.13 (absent), 3.9.6 (added) read")),
    ("L4", "boolean options read back as 0 or 1, whatever non-zero value was set", "verified", SOCK_C,
     (L, "net/ipv4/tcp.c", "do_tcp_getsockopt", "all"), (L, "net/ipv6/ipv6_sockglue.c", "do_ipv6_getsockopt", "all")),
    ("L5", "SO_RCVBUF/SO_SNDBUF store max(2*min(v, rmem_max), SOCK_MIN_RCVBUF): the read-back depends on the "
           "host's rmem_max/wmem_max, which the model does not know", "verified",
     (L, "net/core/sock.c", "__sock_set_rcvbuf", "all")),
    ("L6", "SO_LINGER reads back l_linger as set (the agent sets l_onoff=1); default 0", "verified", SOCK_C),
    ("L7", "IPV6_V6ONLY can be set before the socket has a port (ok), not after (EINVAL); on an AF_INET "
           "socket it is the wrong level: setsockopt ENOPROTOOPT, getsockopt EOPNOTSUPP (named ENOTSUP)",
     "verified", (L, "net/ipv6/ipv6_sockglue.c", "do_ipv6_setsockopt IPV6_V6ONLY", "all"),
     (L, "net/ipv4/ip_sockglue.c", "ip_setsockopt / do_ip_getsockopt", "3.8.13, 6.18 read")),
    ("L8", "an option of a level the socket does not have: setsockopt ENOPROTOOPT; getsockopt EOPNOTSUPP "
           "(named ENOTSUP) on AF_INET, ENOPROTOOPT on AF_INET6", "verified",
     (L, "net/ipv4/ip_sockglue.c", "ip_setsockopt / do_ip_getsockopt", "all"),
     (L, "net/ipv6/ipv6_sockglue.c", "ipv6_setsockopt / ipv6_getsockopt", "all")),
    ("L9", "IP_ADD_MEMBERSHIP: EPROTO on TCP; ok on UDP (also AF_INET6 UDP); the same group twice on one "
           "socket: EADDRINUSE", "verified", (L, "net/ipv4/ip_sockglue.c", "do_ip_setsockopt", "all"),
     (L, "net/ipv4/igmp.c", "ip_mc_join_group", "all")),
    ("L10", "SO_REUSEPORT_LB does not exist on Linux: the agent has no number for it (unsupported)", "verified",
     ("harness", "harness/agent.py", "LINUX option table", "")),
    ("L11", "bind checks in order: address not local (EADDRNOTAVAIL; an AF_INET6 socket that already has a "
            "port says EINVAL first), a port below 1024 without privilege (EACCES), a socket that already "
            "has a port (EINVAL), then the conflicts (EADDRINUSE); a failed bind leaves the socket unbound",
     "verified", (L, "net/ipv4/af_inet.c", "__inet_bind", "3.8.13, 6.18 read"),
     (L, "net/ipv6/af_inet6.c", "__inet6_bind", "3.8.13, 6.18 read")),
    ("L12", "local addresses: all of 127.0.0.0/8, ::1, the wildcards, their v4-mapped forms, IPv4 multicast "
            "and broadcast (even for TCP); IPv6 multicast for TCP is EINVAL", "verified",
     (L, "net/ipv4/af_inet.c", "inet_addr_valid_or_nonlocal", "6.18")),
    ("L13", "port 0, listen() or connect() on an unbound socket pick a free ephemeral port, one no named "
            "port equals", "verified", (L, "net/ipv4/inet_connection_sock.c", "inet_csk_find_open_port", "all"),
     (L, "net/ipv4/inet_hashtables.c", "__inet_hash_connect", "all"), UDP_GET_PORT),
    ("L14", "address overlap: 0.0.0.0 covers every IPv4 address; :: without IPV6_V6ONLY covers every IPv4 "
            "and v4-mapped address, with it only IPv6; ::1 never meets IPv4", "verified",
     (L, "net/ipv4/inet_connection_sock.c", "inet_rcv_saddr_equal / ipv6_rcv_saddr_equal", "3.8.13, 6.18 read")),
    ("L15", "TCP bind conflict: an overlapping owner of the port conflicts unless both have SO_REUSEADDR and "
            "it is not listening, or (3.9+) both have SO_REUSEPORT and the same uid (or it is a TIME_WAIT "
            "entry)", "verified", BIND_CONFLICT),
    ("L16", "owners of a TCP port: bound, listening and connected sockets, accepted connections (with the "
            "listener's options and uid, on the connection's address), closing orphans and TIME_WAIT "
            "entries", "verified", (L, "net/ipv4/inet_hashtables.c", "__inet_inherit_port, inet_bind_hash", "all"),
     (L, "net/ipv4/inet_timewait_sock.c", "inet_twsk_hashdance_schedule", "6.18")),
    ("L17", "listen() runs the bind conflict check again, now as a listener: EADDRINUSE, and the socket "
            "stays bound without listening", "verified",
     (L, "net/ipv4/inet_connection_sock.c", "inet_csk_listen_start", "3.0.27, 3.8.13, 6.18 read")),
    ("L18a", "fast path: a SO_REUSEPORT bind or listen of the uid and address the port's record holds "
             "(set by the last SO_REUSEPORT socket that did not match it) skips the conflict check", "verified",
     GET_PORT),
    ("L18b", "SO_REUSEADDR fast path (before 6.8): if every owner had SO_REUSEADDR when it bound, a new "
             "SO_REUSEADDR bind skips the conflict check, even where an owner cleared it since", "high",
     (L, "net/ipv4/inet_connection_sock.c", "inet_csk_get_port tb->fastreuse", "3.x-6.7 read; gone in 6.8 "
      "(commit 8002d44fe84d)")),
    ("L18c", "a socket that clears SO_REUSEPORT after binding leaves the port's record as it was: a later "
             "same-uid SO_REUSEPORT bind of its address still takes the fast path", "verified", GET_PORT),
    ("L19", "UDP bind conflict: every overlapping socket on the port without SO_REUSEADDR on both must share "
            "by SO_REUSEPORT with the same uid, else EADDRINUSE (checked on 6.18.44; the code read returns at the "
            "first SO_REUSEPORT match, so 4.5-6.18.43 are unknown where that differs)", "verified", UDP_GET_PORT),
    ("L20", "bind on a socket that already has a port (bound, autobound, listening, connected): EINVAL",
     "verified", (L, "net/ipv4/af_inet.c", "__inet_bind", "all")),
    ("L21", "6.1.0-6.1.4 (bhash2): a specific-address TCP bind did not see TIME_WAIT entries, and until "
            "early 2023 not a dual-stack [::] owner: those cases are unknown for 6.1.x and 6.2.x", "high",
     (L, "net/ipv4/inet_connection_sock.c", "inet_csk_get_port (bhash2)", "6.1.0-rc7 read; fixes 936a192f9740 "
      "(6.1.5) and the dual-stack wildcard fix (6.3-rc)")),
    ("L22", "listen(): TCP unbound -> autobind, ok; already listening: ok; connected: EINVAL; UDP: "
            "EOPNOTSUPP (named ENOTSUP)", "verified", (L, "net/ipv4/af_inet.c", "inet_listen / __inet_listen_sk", "all"),
     (L, "net/core/sock.c", "sock_no_listen", "all")),
    ("L23", "a listener holds at most backlog+1 connections not yet accepted", "verified",
     (L, "include/net/sock.h", "sk_acceptq_is_full", "6.18")),
    ("L24", "TCP connect to a port where nothing listens (nothing bound, bound only, listener shut): "
            "ECONNREFUSED", "verified", (L, "net/ipv4/tcp_ipv4.c", "tcp_v4_rcv (RST for no socket)", "all")),
    ("L24b", "after a refused connect the socket stays SS_CONNECTING: the next connect() says ECONNABORTED "
             "(and disconnects it), listen() EINVAL; an autobound port is given back, a bound one kept",
     "verified", (L, "net/ipv4/af_inet.c", "__inet_stream_connect (sock_error), inet_listen", "6.18 read"),
     (L, "net/ipv4/tcp.c", "tcp_set_state (TCP_CLOSE: inet_put_port unless SOCK_BINDPORT_LOCK)", "6.18 read")),
    ("L25", "TCP connect from a port the socket shares: another live connection with the same four-tuple "
            "-> EADDRNOTAVAIL; a TIME_WAIT entry with it is recycled (ok)", "verified",
     (L, "net/ipv4/inet_hashtables.c", "__inet_hash_connect, __inet_check_established", "all"),
     (L, "net/ipv4/tcp_ipv4.c", "tcp_twsk_unique", "all")),
    ("L26", "TCP connect on a listening or connected socket: EISCONN", "verified",
     (L, "net/ipv4/af_inet.c", "__inet_stream_connect", "all")),
    ("L27", "UDP connect: no four-tuple check (ok), records the peer; a wildcard-bound or unbound socket "
            "takes the route's source address (127.0.0.1 for 127/8)", "verified",
     (L, "net/ipv4/datagram.c", "__ip4_datagram_connect", "all")),
    ("L29", "TCP data: send on a never-connected or listening socket: EPIPE; recv there: ENOTCONN; recv "
            "after the peer's FIN: ok (end of file); with nothing to read: the agent times out", "verified",
     (L, "net/ipv4/tcp.c", "tcp_sendmsg_locked, tcp_recvmsg_locked", "6.18")),
    ("L30", "UDP data: send on an unconnected socket: EDESTADDRREQ; recv with nothing queued: the agent "
            "times out", "verified", (L, "net/ipv4/udp.c", "udp_sendmsg", "6.18")),
    ("L31", "accept on a socket that is not listening: EINVAL; on UDP: EOPNOTSUPP (named ENOTSUP); nothing "
            "queued: the agent times out", "verified",
     (L, "net/ipv4/inet_connection_sock.c", "inet_csk_accept", "all"), (L, "net/core/sock.c", "sock_no_accept", "all")),
    ("L32", "shutdown of a socket in CLOSE state (never connected TCP, unconnected UDP): ENOTCONN; of a "
            "listener (rd/rdwr): ok, it stops listening and keeps its port", "verified",
     (L, "net/ipv4/af_inet.c", "inet_shutdown", "2.6+ read")),
    ("L33", "close: UDP sockets, listeners and never-connected sockets free the port; the first end of a "
            "connection to close (FIN) stays as an orphan, then TIME_WAIT for 60 s once the peer closes; the "
            "other end leaves nothing; close with SO_LINGER (1, 0) or unread data sends RST: nothing stays",
     "verified", (L, "net/ipv4/tcp.c", "__tcp_close", "all"), (L, "net/ipv4/tcp_minisocks.c", "tcp_time_wait", "all"),
     (L, "include/net/tcp.h", "TCP_TIMEWAIT_LEN (60 s)", "all")),
    ("L34", "a TIME_WAIT entry keeps the connection's local address, SO_REUSEADDR as its socket had it and "
            "(from 4.20, tw_reuseport) SO_REUSEPORT; before 4.20 its SO_REUSEPORT is unknown", "verified",
     (L, "net/ipv4/inet_timewait_sock.c", "inet_twsk_alloc", "4.2.8 (no tw_reuseport), 4.20, 6.18 read")),
    ("L35", "who gets a TCP connection (5.0+): listeners bound to exactly the destination first, else "
            "wildcard ones; the first in chain order scoring best (AF_INET +1); if it has SO_REUSEPORT its "
            "group picks by a hash of the connection: spread", "verified",
     (L, "net/ipv4/inet_hashtables.c", "__inet_lookup_listener, inet_lhash2_lookup, compute_score", "6.18 read"),
     (L, "net/ipv6/inet6_hashtables.c", "inet6_lookup_listener", "6.18 read"),
     (L, "net/core/sock_reuseport.c", "reuseport_select_sock", "4.6+")),
    ("L35old", "who gets a TCP connection before 5.0: before 3.9 the best-scoring listener (only one can "
               "hold an address); 3.9-4.5 random among equally good SO_REUSEPORT listeners; 4.6-4.20 the "
               "group of the first SO_REUSEPORT listener in chain order, wildcard or not", "high",
     (L, "net/ipv4/inet_hashtables.c", "__inet_lookup_listener", "3.8.13, 3.9.6, 4.2.8, 4.20 read"),
     (L, "net/ipv4/inet_hashtables.c", "commit d9fbc7f6431f (5.0)", "prefer listeners bound to an address")),
    ("L36", "a listener with SO_REUSEPORT joins the group of a listener of the same family, IPV6_V6ONLY, uid "
            "and exactly the same address; else it starts its own", "verified",
     (L, "net/ipv4/inet_hashtables.c", "inet_reuseport_add_sock", "4.6+, 6.18 read"),
     (L, "net/core/sock_reuseport.c", "reuseport_add_sock", "4.6+")),
    ("L37", "chain order: a new listener goes first, except an AF_INET6 one with SO_REUSEPORT, which goes "
            "last (4.6+)", "verified", (L, "net/ipv4/inet_hashtables.c", "inet_hash (commit d894ba18d4e4)", "4.6+")),
    ("L38", "spread is predicted when the chance that every connection lands on one member, k*k^-n, is "
            "below one in a million; a lower count is unknown", "verified",
     (L, "net/core/sock_reuseport.c", "reuseport_select_sock (reciprocal_scale of the flow hash)", "4.6+")),
    ("L39", "who gets a UDP datagram (5.0+): sockets bound to exactly the destination first, else wildcard "
            "ones; score 2 for AF_INET, 1 for AF_INET6, connected sockets only for their peer; the first "
            "best in chain order (newest first, AF_INET6 SO_REUSEPORT sockets last), its group picking by "
            "hash", "verified", (L, "net/ipv4/udp.c", "__udp4_lib_lookup, udp4_lib_lookup2, compute_score",
                                 "6.18 read; before 5.0: one scan of the port (commit 4cdeeee9252a)")),
    ("L39old", "who gets a UDP datagram before 5.0: before 3.9 the newest best-scoring socket; 3.9-4.4 "
               "random among equally good SO_REUSEPORT sockets; 4.5-4.20 the group of the first SO_REUSEPORT "
               "socket of the port's chain, wildcard or not", "high",
     (L, "net/ipv4/udp.c", "__udp4_lib_lookup", "3.8.13, 3.9.6, 4.2.8, 4.20 read")),
    ("L40", "a datagram to a multicast group reaches every UDP socket bound to the port on 0.0.0.0 or the "
            "group (not IPV6_V6ONLY), whether it joined or not, provided some socket joined the group; "
            "none joined: nobody", "verified",
     (L, "net/ipv4/udp.c", "__udp4_lib_mcast_deliver, __udp_is_mcast_sock", "all"),
     (L, "net/ipv4/igmp.c", "ip_mc_sf_allow (IP_MULTICAST_ALL)", "2.6.31+")),
    ("Lemu", "local-legacy is Linux 6.x with SO_REUSEPORT refused by a seccomp filter: every other rule is "
             "the host kernel's", "verified",
     ("harness", "harness/targets/local.py", "install_legacy_filter", "")),
])
