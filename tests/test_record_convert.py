"""The recorder's converter on traces written out by hand, in strace's own format: one shape per test.

Real programs traced by strace are in test_record.py and test_record_servers.py; these pin down what the
converter makes of each pattern, without depending on a server's timing.
"""
from __future__ import annotations

from harness.record import convert, strace

INET = 'sa_family=AF_INET, sin_port=htons({port}), sin_addr=inet_addr("127.0.0.1")'


def recorded(*lines: str, uid: int = 0) -> convert.Recording:
    return convert.convert(strace.parse(lines), uid, lambda n: {0: "root", 65534: "nobody"}.get(n))


def steps(rec: convert.Recording) -> list[dict]:
    return [item for item in rec.items if isinstance(item, dict)]


def brief(rec: convert.Recording) -> list[str]:
    """`op sock` (and what Linux answered where it is not ok) per step."""
    out = []
    for s in steps(rec):
        expect = s["expect"]["linux"] if isinstance(s["expect"], dict) else s["expect"]
        out.append(" ".join([s["op"], str(s.get("sock", "")) or ",".join(s.get("over", ()))]
                            + ([str(expect)] if expect != "ok" else [])))
    return out


def listener(pid: int, fd: int, port: int, *, reuseport: bool = False, cloexec: bool = True) -> list[str]:
    flags = "SOCK_STREAM|SOCK_CLOEXEC" if cloexec else "SOCK_STREAM"
    return [f"{pid} socket(AF_INET, {flags}, IPPROTO_IP) = {fd}"] + \
        ([f"{pid} setsockopt({fd}, SOL_SOCKET, SO_REUSEPORT, [1], 4) = 0"] if reuseport else []) + \
        [f"{pid} bind({fd}, {{{INET.format(port=port)}}}, 16) = 0", f"{pid} listen({fd}, 511) = 0"]


def test_a_process_that_exits_closes_its_sockets_so_a_later_bind_of_the_port_replays():
    """issue 27 item 11: `sh -c 'server-a; server-b'`, server-a exits without closing its listener."""
    rec = recorded(
        "100 clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD) = 101",
        *listener(101, 3, 8080),
        "101 exit_group(0) = ?",
        "101 +++ exited with 0 +++",
        "100 clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD) = 102",
        *listener(102, 3, 8080),
    )
    assert brief(rec) == ["socket tcp-P", "bind tcp-P", "listen tcp-P", "close tcp-P",
                          "socket tcp-P.2", "bind tcp-P.2", "listen tcp-P.2"]
    assert steps(rec)[3]["note"] == "closed when pid 101 exited: nothing holds it any more"


def test_close_on_exec_closes_and_a_kept_descriptor_survives():
    rec = recorded(
        *listener(100, 3, 8080),  # SOCK_CLOEXEC
        *listener(100, 4, 8081, cloexec=False),
        '100 execve("/usr/bin/next", ["next"], 0x7ffc /* 3 vars */) = 0',
        *listener(100, 3, 8080),
    )
    assert brief(rec)[6:] == ["close tcp-P", "socket tcp-P.2", "bind tcp-P.2", "listen tcp-P.2"]
    assert steps(rec)[6]["note"] == "closed on exec by pid 100 (close-on-exec): nothing holds it any more"


def test_dup2_over_a_socket_closes_it_and_a_copy_keeps_it_open():
    rec = recorded(*listener(100, 3, 8080), *listener(100, 4, 8081),
                   "100 dup(3) = 5", "100 close(3) = 0",  # the copy in 5 keeps tcp-P open
                   "100 dup2(5, 4) = 4")  # closes tcp-Q (in 4), not tcp-P
    assert brief(rec)[6:] == ["close tcp-Q"]
    assert "pid 100 closes its copy of tcp-P (1 other(s) still hold it)" in rec.items


def test_a_socket_passed_over_a_unix_socket_is_followed_into_the_process_that_receives_it():
    """node's cluster, SCHED_NONE: the primary binds, a worker receives the socket (SCM_RIGHTS) and listens."""
    rights = "msg_control=[{{cmsg_len=20, cmsg_level=SOL_SOCKET, cmsg_type=SCM_RIGHTS, cmsg_data=[{fd}]}}]"
    rec = recorded(
        "100 socketpair(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC, 0, [10, 11]) = 0",
        "100 clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD) = 101",
        "101 dup2(11, 3) = 3",
        '101 execve("/usr/bin/node", ["node", "worker.js"], 0x7ffc /* 3 vars */) = 0',
        "100 socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC|SOCK_NONBLOCK, IPPROTO_IP) = 21",
        f"100 bind(21, {{{INET.format(port=8080)}}}, 16) = 0",
        f"100 sendmsg(10, {{msg_name=NULL, {rights.format(fd=21)}, msg_flags=0}}, 0) = 147",
        f"101 recvmsg(3, {{msg_name=NULL, {rights.format(fd=19)}, msg_flags=MSG_CMSG_CLOEXEC}}, "
        "MSG_CMSG_CLOEXEC) = 147",
        "101 listen(19, 511) = 0",
        "101 accept4(19, NULL, NULL, SOCK_CLOEXEC|SOCK_NONBLOCK) = 20",
        f"101 recvmsg(3, {{msg_name=NULL, {rights.format(fd=22)}, msg_flags=0}}, 0) = 1",  # nothing was sent
    )
    assert brief(rec) == ["socket tcp-P", "bind tcp-P", "listen tcp-P", "socket client1 any", "connect client1 any",
                          "accept tcp-P"]
    assert steps(rec)[2]["note"] == "by pid 101, which received this socket over a UNIX socket"
    assert "pid 101 receives tcp-P over a UNIX socket (SCM_RIGHTS) as descriptor 19" in rec.items
    assert (rec.summary.receiving, rec.summary.unfollowed) == ({101}, 1)
    assert "1 process(es) received sockets over UNIX sockets; 1 descriptor(s) received over UNIX sockets could " \
           "not be followed" in rec.summary.line()


def test_a_pending_error_read_by_connecting_again_replays_in_order():
    """haproxy's health check: connect -> EINPROGRESS, then connect again -> ECONNREFUSED. Replayed with a
    re-read SO_ERROR the second connect would see ECONNABORTED: the first does not wait instead."""
    rec = recorded(
        "100 socket(AF_INET, SOCK_STREAM, IPPROTO_TCP) = 10",
        f"100 connect(10, {{{INET.format(port=9999)}}}, 16) = -1 EINPROGRESS (Operation now in progress)",
        f"100 connect(10, {{{INET.format(port=9999)}}}, 16) = -1 ECONNREFUSED (Connection refused)",
        "100 socket(AF_INET, SOCK_STREAM, IPPROTO_TCP) = 11",
        f"100 connect(11, {{{INET.format(port=9999)}}}, 16) = -1 EINPROGRESS (Operation now in progress)",
        "100 getsockopt(11, SOL_SOCKET, SO_ERROR, [ECONNREFUSED], [4]) = 0",
        "100 socket(AF_INET, SOCK_STREAM, IPPROTO_TCP) = 12",
        f"100 connect(12, {{{INET.format(port=9999)}}}, 16) = -1 EINPROGRESS (Operation now in progress)",
    )
    connects = [s for s in steps(rec) if s["op"] == "connect"]
    assert [(s["sock"], s.get("wait"), s["expect"]) for s in connects] == [
        ("tcp-fd10", False, {"linux": "EINPROGRESS", "default": "any"}),
        ("tcp-fd10", None, {"linux": "ECONNREFUSED", "default": "any"}),
        ("tcp-fd11", None, {"linux": "ECONNREFUSED", "default": "any"}),  # waited for, SO_ERROR read once
        ("tcp-fd12", None, "any"),  # its completion was not recorded
    ]
    assert "read its outcome by connecting again" in connects[0]["note"]
    assert "outcome as getsockopt(SO_ERROR) read it" in connects[2]["note"]


def test_reuseport_workers_get_a_distribute_step_and_accepts_from_the_group():
    rec = recorded(
        *listener(100, 3, 8080, reuseport=True), *listener(100, 4, 8080, reuseport=True),
        *listener(100, 5, 8081),
        "100 clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD) = 101",
        "101 accept4(4, NULL, NULL, SOCK_CLOEXEC) = 6",
        "101 accept4(4, NULL, NULL, SOCK_CLOEXEC) = -1 EAGAIN (Resource temporarily unavailable)",
        "101 setsockopt(6, SOL_TCP, TCP_DEFER_ACCEPT, [5], 4) = 0",
        "101 setsockopt(6, SOL_SOCKET, SO_LINGER, {l_onoff=0, l_linger=0}, 8) = 0",
    )
    distribute = next(s for s in steps(rec) if s["op"] == "distribute")
    assert distribute["over"] == ["tcp-P", "tcp-P.2"] and distribute["to"] == {"addr": "loopback", "port": "P"}
    assert distribute["expect"] == {"linux": "spread", "default": "any"} and distribute["type"] == "tcp"
    assert brief(rec).index("distribute tcp-P,tcp-P.2 spread") == 8  # after the group's last listen, before tcp-Q
    accepts = [s for s in steps(rec) if s["op"] == "accept"]
    assert accepts[0]["or"] == ["tcp-P"] and accepts[0]["as"] == "tcp-P.2.a1"
    assert "or" not in accepts[1] and accepts[1]["timeout_ms"] == 0  # EAGAIN: this listener's own queue
    assert {"op": "setsockopt", "sock": "tcp-P.2.a1", "opt": "TCP_DEFER_ACCEPT", "value": 5,
            "expect": {"linux": "ok", "default": "any"}} in steps(rec)
    assert {"op": "setsockopt", "sock": "tcp-P.2.a1", "opt": "SO_LINGER", "value": False,
            "expect": {"linux": "ok", "default": "any"}} in steps(rec)
    assert rec.summary.groups == 1 and rec.served


def test_a_udp_group_gets_a_udp_distribute_and_a_steered_group_claims_nothing():
    udp = [f"100 socket(AF_INET, SOCK_DGRAM, IPPROTO_IP) = {fd}" for fd in (3, 4)]
    rec = recorded(
        udp[0], "100 setsockopt(3, SOL_SOCKET, SO_REUSEPORT, [1], 4) = 0", f"100 bind(3, {{{INET.format(port=53)}}}, 16) = 0",
        udp[1], "100 setsockopt(4, SOL_SOCKET, SO_REUSEPORT, [1], 4) = 0", f"100 bind(4, {{{INET.format(port=53)}}}, 16) = 0",
    )
    assert brief(rec)[-1] == "distribute udp-P,udp-P.2 spread" and steps(rec)[-1]["type"] == "udp"
    steered = recorded(
        udp[0], "100 setsockopt(3, SOL_SOCKET, SO_REUSEPORT, [1], 4) = 0", f"100 bind(3, {{{INET.format(port=53)}}}, 16) = 0",
        "100 setsockopt(3, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, {len=2, filter=0x1}, 16) = 0",
        udp[1], "100 setsockopt(4, SOL_SOCKET, SO_REUSEPORT, [1], 4) = 0", f"100 bind(4, {{{INET.format(port=53)}}}, 16) = 0",
    )
    assert brief(steered)[-1] == "distribute udp-P,udp-P.2 any"


def test_a_call_that_failed_because_the_real_client_left_claims_nothing():
    rec = recorded(*listener(100, 3, 8080), "100 accept4(3, NULL, NULL, 0) = 4",
                   "100 shutdown(4, SHUT_RDWR) = -1 ENOTCONN (Transport endpoint is not connected)")
    assert brief(rec)[-1] == "shutdown tcp-P.a1 any"
    assert "the client had closed or reset the connection" in steps(rec)[-1]["note"]


def test_threads_share_a_socket_without_inheriting_it():
    rec = recorded(*listener(100, 3, 8080),
                   "100 clone3({flags=CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD, "
                   "child_tid=0x7f, parent_tid=0x7f, exit_signal=0} => {parent_tid=[101]}, 88) = 101",
                   "101 accept4(3, NULL, NULL, 0) = 4", "101 +++ exited with 0 +++", "100 close(4) = 0")
    accept = next(s for s in steps(rec) if s["op"] == "accept")
    assert "note" not in accept  # a thread of the process that made the listener
    assert brief(rec)[-1] == "close tcp-P.a1" and not rec.summary.inheriting
