"""`harness record`: real programs really traced by strace, their recordings validated and replayed.

The programs: a small Python server (tests/data/record/server.py), nginx from Debian with `listen ...
reuseport`, and `python -m http.server`; then each bad case of issue 13. Replays run on `local` and
`local-legacy` (Linux 3.8 emulated: SO_REUSEPORT is ENOPROTOOPT there).
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, free_port, harness, needs_root
from recording import connect_when_ready, default_signals, observed, record_while, replay, steps_of, when_ready
from harness.record import convert, strace

SERVER = ROOT / "tests" / "data" / "record" / "server.py"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
pytestmark = pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed (scripts/setup.sh)")


# --- the small Python server ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def server_recording(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    folder = tmp_path_factory.mktemp("server")
    port = free_port()
    out = folder / "x.yaml"
    proc, answers = record_while(lambda: connect_when_ready(port), "--out", str(out), "--",
                                 sys.executable, str(SERVER), str(port))
    assert proc.returncode == 0, proc.stderr
    assert answers == [b"hello\n"]  # the program really ran, under strace, and served the client
    return out, proc


def test_the_recorded_server_is_a_valid_scenario_with_linux_expectations(server_recording):
    path, proc = server_recording
    assert harness("validate", str(path)).returncode == 0
    text = path.read_text()
    assert text.startswith("# yaml-language-server: $schema=")
    schema = text.splitlines()[0].split("=", 1)[1]
    assert (path.parent / schema).resolve() == ROOT / "docs" / "scenario.schema.json"
    steps = steps_of(path)
    ops = [(s["op"], s.get("opt")) for s in steps]
    assert ops.count(("setsockopt", "SO_REUSEPORT")) == 2
    binds = [s for s in steps if s["op"] == "bind"]
    assert [(b["addr"], b["port"]) for b in binds] == [("loopback", "P"), ("loopback", "P")]  # one port, one symbol
    assert all(s["expect"] in ("any", {"linux": "ok", "default": "any"}) or s["op"] in ("getsockopt", "distribute")
               for s in steps)
    assert {"op": "getsockopt", "sock": "tcp-P", "opt": "SO_REUSEPORT",
            "expect": {"linux": {"value": 1}, "default": "any"}} in steps
    # The client came from outside the program: a stand-in connects before the recorded accept.
    names = [s.get("sock") for s in steps]
    assert names.index("client1") < [i for i, s in enumerate(steps) if s["op"] == "accept"][0]
    assert {"op": "accept", "sock": "tcp-P", "as": "tcp-P.a1", "expect": {"linux": "ok", "default": "any"}} in steps


def test_calls_the_format_cannot_express_are_comments_counted_in_the_summary(server_recording):
    path, proc = server_recording
    text = path.read_text()
    assert "# an option the format does not know: setsockopt(3, SOL_IP, IP_TOS, [16], 4) = 0" in text
    assert "# an option the format does not know: getsockopt(3, SOL_SOCKET, SO_TYPE, [1], [4]) = 0" in text
    assert {"op": "setsockopt", "sock": "tcp-P", "opt": "TCP_KEEPIDLE", "value": 30,
            "expect": {"linux": "ok", "default": "any"}} in steps_of(path)  # a server option is a step
    assert "# not replayed: 192.0.2.1 is beyond this machine" in text  # refused, with the raw connect
    assert not any(s.get("addr") == "192.0.2.1" for s in steps_of(path))
    summary = "3 call(s) the format cannot express kept as comments"
    assert summary in proc.stdout and "# Summary: 4 socket(s)" in text and summary in text
    assert "1 address(es) outside loopback refused: 192.0.2.1:53" in proc.stdout


@needs_root
def test_the_recorded_server_replays_with_so_reuseport_refused_on_the_emulated_3_8(server_recording, tmp_path):
    proc, doc = replay(server_recording[0], tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr  # local-legacy differs from what Linux 6 did
    verdicts = {r["target"]: r["verdict"] for r in doc["results"]}
    assert verdicts == {"local": "pass", "local-legacy": "fail"}
    local, legacy = observed(doc, "local"), observed(doc, "local-legacy")
    assert local["setsockopt tcp-P SO_REUSEPORT=1"] == "ok"
    assert legacy["setsockopt tcp-P SO_REUSEPORT=1"] == "ENOPROTOOPT"
    assert (local["bind tcp-P.2 loopback:P"], legacy["bind tcp-P.2 loopback:P"]) == ("ok", "EADDRINUSE")
    assert local["accept tcp-P as tcp-P.a1"] == legacy["accept tcp-P as tcp-P.a1"] == "ok"


# --- nginx with reuseport, stopped by Ctrl-C -----------------------------------------------------


def nginx_config(folder: Path, port: int) -> Path:
    (folder / "tmp").mkdir()
    temp = " ".join(f"{kind}_temp_path {folder / 'tmp'};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi",
                                                                        "scgi"))
    conf = folder / "nginx.conf"
    conf.write_text(f"""worker_processes 2;
pid {folder / 'nginx.pid'};
error_log {folder / 'error.log'};
events {{ worker_connections 64; }}
http {{
    access_log off;
    {temp}
    server {{
        listen 127.0.0.1:{port} reuseport;
        location / {{ return 200 "ok\\n"; }}
    }}
}}
""")
    return conf


def ended(pid: int, wait_s: float = 3) -> bool:
    """The process is gone or a zombie (dead, its parent, init, yet to reap it) within wait_s."""
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        try:
            if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                return True
        except OSError:
            return True
        time.sleep(0.05)
    return False


def processes_using(path: Path) -> list[int]:
    """Processes whose command line names `path` (our nginx, by its private config)."""
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            if str(path).encode() in Path(f"/proc/{entry}/cmdline").read_bytes():
                found.append(int(entry))
        except OSError:
            continue
    return found


@pytest.fixture(scope="module")
def nginx_recording(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    if not os.path.exists(NGINX):
        pytest.fail("nginx is not installed: scripts/setup.sh installs Debian's nginx-light")
    folder = tmp_path_factory.mktemp("nginx")
    port = free_port()
    conf = nginx_config(folder, port)
    out = folder / "nginx.yaml"
    proc = subprocess.Popen([sys.executable, "-m", "harness", "record", "--out", str(out), "--", NGINX,
                             "-p", str(folder), "-c", str(conf), "-g", "daemon off;"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=default_signals)
    try:
        assert when_ready(lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).read()) == b"ok\n"
        proc.send_signal(signal.SIGINT)  # Ctrl-C: nginx is stopped, the recording kept
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert processes_using(conf) == [], "nginx outlived the recording"
    return out, subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


def test_ctrl_c_stops_nginx_and_keeps_its_recording(nginx_recording):
    path, proc = nginx_recording
    assert proc.returncode == 0, proc.stderr
    assert "Ctrl-C: stopping the program" in proc.stderr
    assert "the program was stopped by Ctrl-C" in path.read_text()
    assert harness("validate", str(path)).returncode == 0


@needs_root  # nginx's workers switch to nobody only when the master runs as root
def test_nginx_workers_are_recorded_as_inheriting_processes_and_a_user_actor(nginx_recording):
    path, _ = nginx_recording
    doc = yaml.safe_load(path.read_text())
    steps = doc["scenarios"][0]["steps"]
    reuseport = [s for s in steps if s.get("opt") == "SO_REUSEPORT"]
    assert [s["sock"] for s in reuseport] == ["tcp-P", "tcp-P.2"]  # one listener per worker, sharing the port
    assert [(s["sock"], s["port"]) for s in steps if s["op"] == "bind"] == [("tcp-P", "P"), ("tcp-P.2", "P")]
    assert doc["scenarios"][0]["actors"] == {"nobody": {"user": "nobody"}}  # the workers' setuid
    text = path.read_text()
    assert text.count(") inherits tcp-P, tcp-P.2") == 2
    assert "runs as user nobody from here on: setuid(65534) = 0" in text
    accept = next(s for s in steps if s["op"] == "accept")  # by a worker, on the socket it inherited
    assert accept["expect"] == {"linux": "ok", "default": "any"} and "which inherited this socket" in accept["note"]
    # the kernel picks the listener: the replay takes the stand-in's connection from whichever it chose
    assert {accept["sock"], *accept["or"]} == {"tcp-P", "tcp-P.2"}


@needs_root
def test_the_nginx_recording_replays_with_so_reuseport_refused_on_the_emulated_3_8(nginx_recording, tmp_path):
    proc, doc = replay(nginx_recording[0], tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert {r["target"]: r["verdict"] for r in doc["results"]} == {"local": "pass", "local-legacy": "fail"}
    local, legacy = observed(doc, "local"), observed(doc, "local-legacy")
    for sock in ("tcp-P", "tcp-P.2"):
        assert (local[f"setsockopt {sock} SO_REUSEPORT=1"], legacy[f"setsockopt {sock} SO_REUSEPORT=1"]) == \
            ("ok", "ENOPROTOOPT")
    assert (local["bind tcp-P.2 loopback:P"], legacy["bind tcp-P.2 loopback:P"]) == ("ok", "EADDRINUSE")
    spread = {r["target"]: s for r in doc["results"] for s in r["steps"] if s["op"] == "distribute"}
    assert spread["local"]["match"] and all(spread["local"]["observed"]["histogram"].values())  # the workers share
    assert spread["local-legacy"]["observed"]["histogram"] == {"tcp-P": 32, "tcp-P.2": 0}
    local_result = next(r for r in doc["results"] if r["target"] == "local")
    assert all(s["match"] for s in local_result["steps"])  # every step, on the kernel it was recorded on


# --- Python's http.server, stopped by --duration ----------------------------------------------------


@needs_root
def test_http_server_on_ipv6_loopback_is_recorded_and_replays(tmp_path):
    port = free_port()
    out = tmp_path / "http.yaml"

    def get() -> bytes:
        return when_ready(lambda: urllib.request.urlopen(f"http://[::1]:{port}/", timeout=5).read())

    proc, answers = record_while(get, "--duration", "3", "--out", str(out), "--", sys.executable, "-m",
                                 "http.server", "--bind", "::1", "--directory", str(tmp_path), str(port))
    assert proc.returncode == 0, proc.stderr
    assert answers and b"Directory listing" in answers[0]
    text = out.read_text()
    assert "the program was stopped after 3 s (--duration)" in text and "suite: http.server" in text
    steps = steps_of(out)
    assert {"op": "setsockopt", "sock": "tcp6-P", "opt": "IPV6_V6ONLY", "value": 0,
            "expect": {"linux": "ok", "default": "any"}} in steps  # http.server's DualStackServer
    assert {"op": "bind", "sock": "tcp6-P", "addr": "loopback6", "port": "P",
            "expect": {"linux": "ok", "default": "any"}} in steps
    run, doc = replay(out, tmp_path / "replay")
    assert run.returncode == 0, run.stdout + run.stderr  # nothing here that the emulated 3.8 lacks
    assert {r["target"]: r["verdict"] for r in doc["results"]} == {"local": "pass", "local-legacy": "pass"}


# --- bad cases -------------------------------------------------------------------------------------


@pytest.mark.parametrize("command, env, status, message", [
    (["no-such-program-anywhere"], {}, 2, "harness: command not found: no-such-program-anywhere"),
    (["true"], {}, 2, "true exited with status 0 without opening any IPv4/IPv6 socket: nothing to record"),
    (["/bin/true"], {"PATH": "{tmp}"}, 3, "strace is not installed"),
    ([sys.executable, "{tmp}/missing.py"], {}, 3,
     "exited with status 2 before opening any IPv4/IPv6 socket; nothing was written; its stderr: "),
], ids=["not-found", "exits-at-once", "no-strace", "fails-to-start"])
def test_a_program_that_cannot_be_recorded_writes_nothing(tmp_path, command, env, status, message):
    fill = {key: value.replace("{tmp}", str(tmp_path)) for key, value in env.items()}
    proc = harness("record", "--out", str(tmp_path / "x.yaml"), "--", *[c.replace("{tmp}", str(tmp_path))
                                                                          for c in command], env=fill)
    assert proc.returncode == status, proc.stderr
    assert message in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_where_tracing_is_not_permitted_the_recording_could_not_run(tmp_path):
    """A seccomp filter makes ptrace fail with EPERM, as a container without CAP_SYS_PTRACE does."""
    seccomp = pytest.importorskip("seccomp")
    assert seccomp
    code = ("import errno, os, sys, seccomp\n"
            "f = seccomp.SyscallFilter(seccomp.ALLOW)\n"
            "f.add_rule(seccomp.ERRNO(errno.EPERM), 'ptrace')\n"
            "f.load()\n"
            "os.execv(sys.executable, [sys.executable, '-m', 'harness'] + sys.argv[1:])\n")
    proc = subprocess.run([sys.executable, "-c", code, "record", "--out", str(tmp_path / "x.yaml"), "--",
                           sys.executable, str(SERVER), "1"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 3, proc.stderr
    assert "tracing is not permitted here" in proc.stderr and "Operation not permitted" in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_thousands_of_sockets_give_a_bounded_file_and_a_summary(tmp_path):
    program = "import socket\nfor _ in range(3000):\n    socket.socket(socket.AF_INET, socket.SOCK_DGRAM).close()\n"
    out = tmp_path / "many.yaml"
    proc = harness("record", "--out", str(out), "--name", "many", "--", sys.executable, "-c", program)
    assert proc.returncode == 0, proc.stderr
    expected = (f"{convert.MAX_SOCKETS} socket(s), {2 * convert.MAX_SOCKETS} step(s); 0 call(s) the format "
                f"cannot express kept as comments; {3000 - convert.MAX_SOCKETS} more socket(s) and "
                f"{3000 - convert.MAX_SOCKETS} more call(s) left out (a file holds at most {convert.MAX_SOCKETS} "
                f"sockets and {convert.MAX_STEPS} steps)")
    assert expected in proc.stdout and expected in out.read_text()
    assert len(steps_of(out)) == 2 * convert.MAX_SOCKETS
    assert "suite: many\n" in out.read_text() and "  - name: many\n" in out.read_text()  # --name
    assert harness("validate", str(out)).returncode == 0


def test_an_unwritable_output_is_refused_before_anything_runs(tmp_path):
    (tmp_path / "file").write_text("")
    proc = harness("record", "--out", str(tmp_path / "file" / "x.yaml"), "--", "true")
    assert proc.returncode == 2 and "cannot create" in proc.stderr


# --- the parser on strace's split lines -------------------------------------------------------------


def test_unfinished_and_resumed_calls_are_joined_and_a_blocked_one_is_kept():
    """A joined call takes its place where it returned (the accept got its connection then), but a connect
    where it started (its SYN went out then); one still blocked at the end is kept, unfinished."""
    lines = [
        "10 accept4(3,  <unfinished ...>",
        "13 connect(6, {sa_family=AF_INET, sin_port=htons(80), sin_addr=inet_addr(\"127.0.0.1\")}, 16 <unfinished ...>",
        "11 close(5) = 0",
        '10 <... accept4 resumed>{sa_family=AF_INET, sin_port=htons(4000), sin_addr=inet_addr("127.0.0.1")}, '
        "[16], SOCK_CLOEXEC) = 4",
        "13 <... connect resumed>) = 0",
        "12 accept4(3,  <unfinished ...>",
        "12 +++ killed by SIGTERM +++",
    ]
    events = strace.parse(lines)
    calls = [(e.pid, e.name) for e in events if isinstance(e, strace.Syscall)]
    assert calls == [(13, "connect"), (11, "close"), (10, "accept4"), (12, "accept4")]
    joined = events[2]
    assert (joined.name, joined.result, joined.finished) == ("accept4", 4, True)
    assert strace.sockaddr(joined.args[1]) == strace.Sockaddr("AF_INET", "127.0.0.1", 4000)
    blocked = [e for e in events if isinstance(e, strace.Syscall) and not e.finished]
    assert [(e.pid, e.name, strace.fd(e.args[0])) for e in blocked] == [(12, "accept4", 3)]


def test_addresses_map_to_symbols_and_others_are_refused():
    assert [convert.symbolic_address(a) for a in ("127.0.0.1", "0.0.0.0", "::", "::1", "127.0.0.2",
                                                  "::ffff:127.0.0.1", "127.0.0.9", "239.1.2.3")] == \
        ["loopback", "any", "any6", "loopback6", "loopback2", "loopback", "127.0.0.9", "239.1.2.3"]
    with pytest.raises(convert.Refused, match="10.1.2.3 is beyond this machine"):
        convert.symbolic_address("10.1.2.3")


# --- the walkthrough's example (docs/audit.md) -------------------------------------------------------


def test_the_committed_examples_validate():
    proc = harness("validate", *map(str, sorted((ROOT / "docs" / "examples").glob("*.yaml"))))
    assert proc.returncode == 0 and "ok: 4 suite(s), 4 scenario(s)" in proc.stdout, proc.stderr


def quoted_replays() -> dict[str, list[str]]:
    """docs/audit.md's quoted `harness run` commands -> the lines it shows them printing."""
    quoted: dict[str, list[str]] = {}
    command = None
    for line in (ROOT / "docs" / "audit.md").read_text().splitlines():
        if line.startswith("# harness run "):
            command = line[2:]
            quoted[command] = []
        elif command and line.strip().startswith(("FAIL ", "step ")) or command and " passed, " in line:
            quoted[command].append(line.strip())
        elif line.startswith("```"):
            command = None
    return quoted


@needs_root
def test_the_walkthrough_shows_what_the_replays_of_its_recordings_say(tmp_path):
    quoted = quoted_replays()
    linux = [command for command in quoted if "rump" not in command.split()[-1]]
    assert len(linux) == 2 and all(len(quoted[command]) >= 5 for command in linux)  # FAIL, steps, counts
    assert len(quoted) == 3  # and the NetBSD column (docs/rump.md), where its libraries are at hand
    for i, (command, lines) in enumerate(quoted.items()):
        if command not in linux and not os.environ.get("HARNESS_RUMP_LIB"):
            continue  # tests/test_rump.py says why, loudly
        proc = harness(*command.split()[1:], "--out", str(tmp_path / str(i)))
        assert proc.returncode == 1, proc.stdout + proc.stderr
        for line in lines:
            assert line in proc.stdout, (command, line, proc.stdout)
    cluster = harness("run", "docs/examples/node-cluster.yaml", "--targets", "local,local-legacy", "--out",
                      str(tmp_path / "cluster"))
    assert cluster.returncode == 0 and "2 passed, 0 failed, 0 skipped, 0 errors" in cluster.stdout


def test_a_daemon_that_leaves_the_session_is_stopped_with_the_recording(tmp_path):
    """A program that forks a child into a session of its own (as a daemon does) and exits: the child
    is traced, recorded, and stopped at --duration like the rest; nothing outlives the recording."""
    pid_file = tmp_path / "daemon.pid"
    program = ("import os, socket, sys, time\n"
               "if os.fork() == 0:\n"
               "    os.setsid()\n"
               "    s = socket.socket()\n"
               "    s.bind(('127.0.0.1', 0))\n"
               "    s.listen()\n"
               f"    open({str(pid_file)!r}, 'w').write(str(os.getpid()))\n"
               "    time.sleep(60)\n")
    out = tmp_path / "daemon.yaml"
    started = time.monotonic()
    proc = harness("record", "--duration", "1", "--out", str(out), "--", sys.executable, "-c", program)
    assert proc.returncode == 0, proc.stderr
    assert time.monotonic() - started < 10  # SIGTERM reached the daemon: no waiting out the grace periods
    assert ended(int(pid_file.read_text()))
    steps = steps_of(out)
    assert [s["op"] for s in steps] == ["socket", "bind", "listen", "close"]
    assert steps[1]["port"] == "P" and "bound port 0" in steps[1]["note"]
    assert steps[3]["note"] == f"closed when pid {pid_file.read_text()} exited: nothing holds it any more"
