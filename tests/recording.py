"""What the tests of `harness record` share: running it beside a client, reading and replaying what it wrote."""
from __future__ import annotations

import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import yaml
from conftest import harness, results


def steps_of(path: Path) -> list[dict]:
    return yaml.safe_load(path.read_text())["scenarios"][0]["steps"]


def observed(doc: dict, target: str) -> dict[str, str]:
    """Step text -> the outcome the target's kernel returned, for the one recorded scenario."""
    result = next(r for r in doc["results"] if r["target"] == target)
    return {s["text"]: s["observed"]["outcome"] for s in result["steps"] if s.get("observed")}


def when_ready(ask, deadline_s: float = 20):
    """ask() as soon as the recorded program listens (until then it fails): what it answered."""
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            return ask()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def connect_when_ready(port: int) -> bytes:
    def ask() -> bytes:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
            return conn.recv(100)
    return when_ready(ask)


def record_while(client, *args: str, timeout: float = 60) -> tuple[subprocess.CompletedProcess, list]:
    """`harness record ARGS` with `client()` run alongside (it talks to the program); both results."""
    got: list = []
    thread = threading.Thread(target=lambda: got.append(client()), daemon=True)
    thread.start()
    proc = harness("record", *args, timeout=timeout)
    thread.join(10)
    return proc, got


def replay(path: Path, out: Path) -> tuple[subprocess.CompletedProcess, dict]:
    proc = harness("run", str(path), "--targets", "local,local-legacy", "--out", str(out))
    return proc, results(out)


def replay_on_local(path: Path, out: Path) -> dict:
    """The result of replaying the recording on `local`, the kernel it was recorded on."""
    proc = harness("run", str(path), "--targets", "local", "--out", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return next(r for r in results(out)["results"] if r["target"] == "local")


def default_signals() -> None:
    """For a child a test signals: the suite may run with SIGINT ignored, which children inherit."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
