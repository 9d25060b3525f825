"""Real servers from Debian, one per pattern of issue 25, recorded and replayed on the kernel they ran on.

Each runs in the foreground on loopback from its own configuration (never as a service), talks to a
client for a few seconds under `harness record`, is stopped by it, and its recording replays on
`local` with every step passing:
  non-blocking connect with a pending error   haproxy, a health check against a closed port
  passed descriptors                          node's cluster module, SCHED_NONE
  user switch                                 lighttpd with server.username (and nginx's workers, test_record.py)
  UDP (and TCP) reuseport groups              unbound with so-reuseport and two threads
  reuseport workers                           nginx, in test_record.py
scripts/setup.sh installs them (haproxy, unbound, lighttpd; node comes with npm).
"""
from __future__ import annotations

import os
import shutil
import socket
import struct
import tempfile
import time
from pathlib import Path

import pytest
from conftest import ROOT, free_port, harness, needs_root
from recording import record_while, replay_on_local, steps_of, when_ready

pytestmark = [pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed (scripts/setup.sh)"),
              needs_root]  # replaying needs a network namespace per scenario; lighttpd switches user as root


def program(name: str) -> str:
    path = shutil.which(name) or f"/usr/sbin/{name}"
    if not os.path.exists(path):
        pytest.fail(f"{name} is not installed: scripts/setup.sh installs it")
    return path


def http_get(port: int, path: str = "/") -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(f"GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n".encode())
        return conn.recv(200)


def every_step_passes(result: dict) -> None:
    assert result["verdict"] == "pass", result["reason"]
    missed = [s["text"] for s in result["steps"] if s.get("match") is not True]
    assert not missed, f"steps not observed passing: {missed}"


# --- haproxy: a health check's pending error ----------------------------------------------------------


def test_haproxy_health_checks_against_a_closed_port_replay_their_errors_in_order(tmp_path):
    port, closed = free_port(), free_port()
    conf = tmp_path / "haproxy.cfg"
    conf.write_text(f"""global
    nbthread 2
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend web
    bind 127.0.0.1:{port}
    default_backend down
backend down
    server s1 127.0.0.1:{closed} check inter 200
""")
    out = tmp_path / "haproxy.yaml"
    proc, answers = record_while(lambda: when_ready(lambda: http_get(port)), "--duration", "3", "--out", str(out),
                                 "--", program("haproxy"), "-db", "-f", str(conf))
    assert proc.returncode == 0, proc.stderr
    assert answers and b" 503 " in answers[0].split(b"\r\n")[0]  # served: its only server is down
    steps = steps_of(out)
    checks = [s for s in steps if s["op"] == "connect" and s["port"] != "P"]
    first, again = checks[0], checks[1]
    assert first["sock"] == again["sock"]
    assert (first["wait"], first["expect"]) == (False, {"linux": "EINPROGRESS", "default": "any"})
    assert again["expect"] == {"linux": "ECONNREFUSED", "default": "any"} and "wait" not in again
    assert {"op": "setsockopt", "sock": "tcp-P", "opt": "TCP_DEFER_ACCEPT", "value": 0,
            "expect": {"linux": "ok", "default": "any"}} in steps  # haproxy's server options, as steps
    every_step_passes(replay_on_local(out, tmp_path / "replay"))


# --- node's cluster, SCHED_NONE: the listening socket sent to the workers -----------------------------


def test_node_cluster_workers_are_followed_through_the_socket_they_receive(tmp_path):
    port = free_port()
    out = tmp_path / "cluster.yaml"

    def clients() -> list[bytes]:
        return [when_ready(lambda: http_get(port)) for _ in range(4)]

    proc, answers = record_while(clients, "--duration", "4", "--out", str(out), "--",
                                 program("node"), str(ROOT / "tests" / "data" / "record" / "cluster.js"), str(port))
    assert proc.returncode == 0, proc.stderr
    assert len(answers[0]) == 4 and all(a.startswith(b"HTTP/1.1 200") for a in answers[0])
    assert "2 process(es) received sockets over UNIX sockets" in proc.stdout
    text, steps = out.read_text(), steps_of(out)
    assert text.count("receives tcp-P over a UNIX socket (SCM_RIGHTS)") == 2
    listens = [s for s in steps if s["op"] == "listen"]
    assert len(listens) == 2 and all("which received this socket over a UNIX socket" in s["note"] for s in listens)
    accepted = [s for s in steps if s["op"] == "accept" and s.get("as")]
    assert len(accepted) == 4  # each request, accepted by a worker on the socket it received
    every_step_passes(replay_on_local(out, tmp_path / "replay"))


# --- lighttpd: binds as root, serves as nobody ----------------------------------------------------------


@pytest.fixture
def www(tmp_path):
    """A document root the user nobody can read (pytest's own folders are root's alone)."""
    folder = Path(tempfile.mkdtemp(prefix="harness-test-www-"))
    folder.chmod(0o755)
    (folder / "index.html").write_text("hello\n")
    (folder / "index.html").chmod(0o644)
    yield folder
    shutil.rmtree(folder)


def lighttpd_conf(tmp_path: Path, www: Path, port: int, errorlog: str = "") -> Path:
    conf = tmp_path / "lighttpd.conf"
    conf.write_text(f'server.document-root = "{www}"\nserver.port = {port}\nserver.bind = "127.0.0.1"\n'
                    'server.username = "nobody"\nserver.groupname = "nogroup"\nserver.pid-file = ""\n'
                    + (f'server.errorlog = "{errorlog}"\n' if errorlog else ""))
    return conf


def test_lighttpd_switching_to_nobody_is_recorded_as_an_actor_and_replays(tmp_path, www):
    port = free_port()
    out = tmp_path / "lighttpd.yaml"
    proc, answers = record_while(lambda: when_ready(lambda: http_get(port, "/index.html")), "--duration", "3",
                                 "--out", str(out), "--", program("lighttpd"), "-D", "-f",
                                 str(lighttpd_conf(tmp_path, www, port)))
    assert proc.returncode == 0, proc.stderr
    assert answers and answers[0].startswith(b"HTTP/1.0 200")
    text = out.read_text()
    assert "    actors:\n      nobody: {user: nobody}\n" in text
    assert "runs as user nobody from here on: setuid(65534) = 0" in text
    every_step_passes(replay_on_local(out, tmp_path / "replay"))


def test_lighttpd_failing_before_it_serves_is_reported_as_it_was(tmp_path, www):
    """The issue's case: an error log nobody may open (here: in root's own folder); lighttpd exits 255 after
    binding. Not `killed by signal 127` and exit 0: its status, its stderr, exit 3, nothing written."""
    conf = lighttpd_conf(tmp_path, www, free_port(), errorlog=str(tmp_path / "error.log"))
    out = tmp_path / "lighttpd.yaml"
    proc = harness("record", "--duration", "5", "--out", str(out), "--", program("lighttpd"), "-D", "-f", str(conf))
    assert proc.returncode == 3, proc.stderr
    assert "exited with status 255 before serving (it accepted no connection); nothing was written" in proc.stderr
    assert "Opening errorlog failed. Going down." in proc.stderr
    assert not out.exists()


# --- unbound: UDP and TCP reuseport groups, one socket per thread ------------------------------------


def dns_query(ident: int) -> bytes:
    """A query for a.test. IN A (the zone the configuration answers locally)."""
    return struct.pack(">HHHHHH", ident, 0x0100, 1, 0, 0, 0) + b"\x01a\x04test\x00" + struct.pack(">HH", 1, 1)


def ask_unbound(port: int) -> list[int]:
    """Answer codes of four queries over UDP and one over TCP."""
    codes = []
    for ident in range(4):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.settimeout(2)
            udp.sendto(dns_query(ident), ("127.0.0.1", port))
            codes.append(udp.recv(512)[3] & 0xF)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as tcp:
        query = dns_query(9)
        tcp.sendall(struct.pack(">H", len(query)) + query)
        codes.append(tcp.recv(512)[5] & 0xF)
    return codes


def test_unbound_reuseport_groups_get_distribute_steps_over_udp_and_tcp(tmp_path):
    port, nowhere = free_port(), free_port()
    conf = tmp_path / "unbound.conf"
    conf.write_text(f"""server:
    interface: 127.0.0.1
    port: {port}
    so-reuseport: yes
    num-threads: 2
    do-daemonize: no
    username: ""
    chroot: ""
    directory: "{tmp_path}"
    pidfile: ""
    use-syslog: no
    logfile: ""
    do-ip6: no
    do-not-query-localhost: no
    access-control: 127.0.0.0/8 allow
    local-zone: "test." static
    local-data: "a.test. A 127.0.0.1"
remote-control:
    control-enable: no
forward-zone:
    name: "."
    forward-addr: 127.0.0.1@{nowhere}
""")  # every other name would go to a closed loopback port: nothing leaves this machine
    out = tmp_path / "unbound.yaml"

    def client() -> list[int]:
        time.sleep(0.5)
        return when_ready(lambda: ask_unbound(port))

    proc, answers = record_while(client, "--duration", "3", "--out", str(out), "--", program("unbound"), "-d",
                                 "-c", str(conf))
    assert proc.returncode == 0, proc.stderr
    assert answers == [[0, 0, 0, 0, 0]]  # NOERROR, every time
    steps = steps_of(out)
    groups = {s["type"]: s for s in steps if s["op"] == "distribute"}
    assert set(groups) == {"udp", "tcp"} and "2 SO_REUSEPORT group(s) given a distribute step" in proc.stdout
    assert groups["udp"]["over"] == ["udp-P", "udp-P.2"] and groups["tcp"]["over"] == ["tcp-P", "tcp-P.2"]
    assert all(g["expect"] == {"linux": "spread", "default": "any"} for g in groups.values())
    options = {(s["sock"], s["opt"]) for s in steps if s["op"] == "setsockopt"}
    assert {("udp-P", "IP_MTU_DISCOVER"), ("tcp-P", "TCP_FASTOPEN")} <= options
    result = replay_on_local(out, tmp_path / "replay")
    every_step_passes(result)
    spread = [s["observed"]["histogram"] for s in result["steps"] if s["op"] == "distribute"]
    assert all(sum(h.values()) == 32 and all(h.values()) for h in spread)

