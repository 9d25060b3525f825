"""`harness record` whatever happens around it: killed, signalled, a full disk, a program that fails or exits
and leaves its port to another, names of inline programs. Real processes, really traced by strace.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import IS_ROOT, ROOT, free_port, harness, needs_root
from recording import default_signals, replay_on_local, steps_of

pytestmark = pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed (scripts/setup.sh)")

# A server that forks a worker; both write their pid, then wait on the listening socket.
SERVER = """
import os, socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen()
if os.fork() == 0:
    open(sys.argv[2] + ".worker", "w").write(str(os.getpid()))
else:
    open(sys.argv[2], "w").write(str(os.getpid()))
time.sleep(60)
"""


def wait_for(check, seconds: float = 20):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


def running(pid: int) -> bool:
    """Alive and not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def children(pid: int) -> list[int]:
    out = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(stat[1]) == pid:
            out.append(int(entry))
    return out


def comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def start_recording(tmp_path: Path, *args: str) -> tuple[subprocess.Popen, Path, list[int]]:
    """`harness record` of SERVER in the background, once the server and its worker run: the recorder,
    the temporary folder it uses (TMPDIR) and the program's pids."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    pid_file = tmp_path / "server.pid"
    proc = subprocess.Popen([sys.executable, "-m", "harness", "record", *args, "--out", str(tmp_path / "x.yaml"), "--",
                             sys.executable, "-c", SERVER, str(free_port()), str(pid_file)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "TMPDIR": str(temp)}, preexec_fn=default_signals)
    worker = Path(f"{pid_file}.worker")
    assert wait_for(lambda: pid_file.exists() and worker.exists() and pid_file.read_text() and worker.read_text())
    return proc, temp, [int(pid_file.read_text()), int(worker.read_text())]


def test_kill_9_of_the_recorder_leaves_no_traced_process_no_strace_and_no_trace_folder(tmp_path):
    proc, temp, program = start_recording(tmp_path)
    try:
        tracers = [pid for pid in children(proc.pid) if comm(pid) == "strace"]
        assert len(tracers) == 1 and [p.name for p in temp.iterdir()][0].startswith("harness-record-")
        proc.kill()  # SIGKILL: no handler, no finally
        proc.wait()
        assert wait_for(lambda: not any(running(pid) for pid in program + tracers), 10), "left running"
        assert wait_for(lambda: not list(temp.iterdir()), 10), list(temp.iterdir())
    finally:
        for pid in program:
            if running(pid):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_stop_the_program_keep_the_recording_and_say_which(tmp_path, sig):
    proc, temp, program = start_recording(tmp_path)
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    name = signal.Signals(sig).name
    assert f"record: {name}: stopping the program (SIGTERM, then SIGKILL after 5 s)" in stderr
    assert "record: Ctrl-C" not in stderr
    text = (tmp_path / "x.yaml").read_text()
    assert f"the program was stopped by {name}." in text
    assert [s["op"] for s in steps_of(tmp_path / "x.yaml")] == ["socket", "bind", "listen", "close"]
    assert not any(running(pid) for pid in program) and not list(temp.iterdir())


@pytest.mark.skipif(not IS_ROOT, reason="mounts a small tmpfs to fill")
def test_a_full_disk_keeps_the_recording_in_a_fallback_file_and_says_where(tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(disk)], check=True)
    try:
        _fill(disk)
        temp = tmp_path / "tmp"
        temp.mkdir()
        proc = harness("record", "--out", str(disk / "x.yaml"), "--", sys.executable, "-c",
                       "import socket; socket.socket().bind(('127.0.0.1', 0))", env={"TMPDIR": str(temp)})
    finally:
        subprocess.run(["umount", str(disk)], check=True)
    assert proc.returncode == 3, proc.stderr
    assert "Traceback" not in proc.stderr
    spare = next(temp.glob("harness-*-x.yaml"))
    assert f"harness: could not write {disk / 'x.yaml'}: No space left on device; the recording is in {spare}" \
        in proc.stderr.replace("\n", " ")
    assert harness("validate", str(spare)).returncode == 0


def _fill(folder: Path) -> None:
    try:
        with open(folder / "filler", "wb", buffering=0) as out:
            while True:
                out.write(b"x" * 4096)
    except OSError:
        pass  # full


def test_a_program_that_fails_before_serving_exits_3_with_its_stderr(tmp_path):
    """redis's case: its port is taken, it says so and exits 1; the recording of a failed start-up is not kept."""
    import socket
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        program = ("import socket, sys\ns = socket.socket()\ntry:\n    s.bind(('127.0.0.1', %d))\n"
                   "except OSError as e:\n    sys.exit('Could not create server TCP listening socket: %%s' %% e)\n"
                   % taken.getsockname()[1])
        proc = harness("record", "--out", str(tmp_path / "x.yaml"), "--", sys.executable, "-c", program)
    assert proc.returncode == 3, proc.stderr
    assert "exited with status 1 before serving (it accepted no connection); nothing was written; its stderr: " \
           "Could not create server TCP listening socket: [Errno 98] Address already in use" in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_inline_programs_and_long_names_get_short_names_and_name_still_wins(tmp_path):
    script = "import socket; socket.socket().bind(('127.0.0.1', 0))"
    long_name = tmp_path / ("a-server-with-a-very-long-descriptive-name-" * 3 + ".py")
    long_name.write_text(script)
    made = []
    for command in (["sh", "-c", f"{sys.executable} -c \"{script}\""], [sys.executable, str(long_name)]):
        proc = harness("record", "--", *command, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        made.append(proc.stdout.split("wrote ", 1)[1].split(";")[0])
    assert made[0].startswith("sh-") and len(made[0]) == len("sh-123456.yaml")
    assert made[1].startswith("a-server-with-a-very-lo") and len(made[1]) == 32 + len(".yaml")
    proc = harness("record", "--name", "mine", "--", "sh", "-c", f"{sys.executable} -c \"{script}\"", cwd=tmp_path)
    assert "wrote mine.yaml" in proc.stdout


@needs_root
def test_a_port_left_by_a_process_that_exited_or_exec_d_replays_free(tmp_path):
    """issue 27: the kernel closes a process's sockets when it exits (and close-on-exec ones when it execs);
    a later bind of the port must not replay as EADDRINUSE."""
    port = free_port()
    bind = f"import os, socket\ns = socket.socket()\ns.bind(('127.0.0.1', {port}))\ns.listen()\n"
    (tmp_path / "bind.py").write_text(bind + "os._exit(0)\n")  # exits holding the port (no close)
    (tmp_path / "exec.py").write_text(bind + f"import os, sys\nos.execv(sys.executable, [sys.executable, "
                                             f"{str(tmp_path / 'bind.py')!r}])\n")  # hands it over to exec
    out = tmp_path / "x.yaml"
    proc = harness("record", "--out", str(out), "--", "sh", "-c",
                   f"{sys.executable} {tmp_path / 'bind.py'}; {sys.executable} {tmp_path / 'exec.py'}")
    assert proc.returncode == 0, proc.stderr
    steps = steps_of(out)
    closes = [s["note"] for s in steps if s["op"] == "close"]
    assert [re.sub(r"pid \d+", "pid N", note) for note in closes] == [
        "closed when pid N exited: nothing holds it any more",
        "closed on exec by pid N (close-on-exec): nothing holds it any more",
        "closed when pid N exited: nothing holds it any more"]
    assert [s["sock"] for s in steps if s["op"] == "bind"] == ["tcp-P", "tcp-P.2", "tcp-P.3"]
    result = replay_on_local(out, tmp_path / "replay")
    assert result["verdict"] == "pass" and all(s["match"] for s in result["steps"])


def test_workers_that_exited_are_not_reported_as_outliving_the_trace(tmp_path):
    """node's, lighttpd's and socat's workers were reported as having left the session: they were zombies
    (dead, not yet reaped by their parent). Only a process still running after the program is one."""
    program = ("import os, socket, time\ns = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n"
               "for n in range(2):\n    if os.fork() == 0:\n        os._exit(0)\n"
               "time.sleep(60)\n")  # never reaps them
    proc = harness("record", "--duration", "1", "--out", str(tmp_path / "x.yaml"), "--", sys.executable, "-c", program)
    assert proc.returncode == 0, proc.stderr
    assert "outlived the trace" not in proc.stderr
