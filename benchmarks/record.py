"""Benchmark: what `harness record` costs a connection-heavy program (issue 25: at most 5x).

Not a test: it prints figures, each the median (min-max) of several whole-process runs.
A server on 127.0.0.1 (not traced) answers; the recorded program is a client that opens
COUNT connections one after another (connect, send, receive, close), as a load generator
or a health checker does. Compared: the client alone, the client under strace with the
recorder's flags only, and under `harness record` end to end (strace, parsing, converting,
writing the scenario). With --with-yy also strace with `-yy` and every network call traced,
as the recorder ran before it followed descriptors itself (slow: about 6 ms a connection).

Run: `.venv/bin/python benchmarks/record.py [--count 2000] [--runs 3] [--with-yy]`.
"""
from __future__ import annotations

import argparse
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.record.tracer import TRACED  # noqa: E402

SERVER = """
import selectors, socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0))
s.listen(1024)
s.setblocking(False)
print(s.getsockname()[1], flush=True)
sel = selectors.DefaultSelector()
sel.register(s, selectors.EVENT_READ)
while True:
    for key, _ in sel.select():
        if key.fileobj is s:
            try:
                c, _ = s.accept()
            except BlockingIOError:
                continue
            c.setblocking(False)
            sel.register(c, selectors.EVENT_READ)
        else:
            c = key.fileobj
            try:
                if c.recv(100):
                    c.send(b"ok\\n")
            except OSError:
                pass
            sel.unregister(c)
            c.close()
"""

CLIENT = """
import socket, sys
port, count = int(sys.argv[1]), int(sys.argv[2])
for _ in range(count):
    c = socket.create_connection(("127.0.0.1", port))
    c.sendall(b"hi\\n")
    c.recv(100)
    c.close()
"""
OLD_TRACED = ("%network,%process,close,dup,dup2,dup3,fcntl,"
              "setuid,setgid,setreuid,setregid,setresuid,setresgid,setgroups")


def timed(argv: list[str], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600)
        out.append(time.perf_counter() - start)
    return out


def figure(times: list[float]) -> str:
    return f"{statistics.median(times):7.2f} s ({min(times):.2f}-{max(times):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000, help="connections the client makes")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--with-yy", action="store_true", help="also time strace -yy with every network call")
    args = parser.parse_args()
    strace = shutil.which("strace")
    if strace is None:
        sys.exit("strace is not installed (scripts/setup.sh)")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        client = folder / "client.py"
        client.write_text(CLIENT)
        server = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE, text=True)
        try:
            port = server.stdout.readline().strip()
            socket.create_connection(("127.0.0.1", int(port)), timeout=5).close()
            program = [sys.executable, str(client), port, str(args.count)]
            trace = ["-o", str(folder / "t.txt"), "--", *program]
            plain = timed(program, args.runs)
            under_strace = timed([strace, "-f", "-q", "--seccomp-bpf", "-e", f"trace={TRACED}", *trace], args.runs)
            record = timed([sys.executable, "-m", "harness", "record", "--out", str(folder / "r.yaml"), "--",
                            *program], args.runs)
            older = timed([strace, "-f", "-q", "-yy", "--seccomp-bpf", "-e", f"trace={OLD_TRACED}", *trace],
                          1) if args.with_yy else None
        finally:
            server.kill()
            server.wait()
    base = statistics.median(plain)
    print(f"client making {args.count} connections to a local server, median (min-max) of {args.runs} runs:")
    print(f"  plain                                  {figure(plain)}")
    print(f"  under strace, the recorder's flags     {figure(under_strace)}  "
          f"{statistics.median(under_strace) / base:5.1f}x")
    print(f"  harness record (trace, convert, write) {figure(record)}  {statistics.median(record) / base:5.1f}x")
    if older:
        print(f"  strace -yy, every network call (before){figure(older)}  {statistics.median(older) / base:5.1f}x")


if __name__ == "__main__":
    main()
