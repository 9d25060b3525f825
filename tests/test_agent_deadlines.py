"""Every wait of the agent ends at its deadline, whatever a kernel's readiness says (found by `harness explore`).

A socket can poll ready for good and still have nothing to give: Linux's UDP socket shut down for
reading (recvfrom: EAGAIN), NetBSD's listener shut down (accept: EAGAIN to a step, ECONNABORTED again
and again to a distribution) and NetBSD's UDP socket shut down for reading (recvfrom: an endless end
of file). Each once made a step
spin until the harness's own timeout: an error instead of the kernel's answer. NetBSD's close of a
UDP socket connected to the unspecified address fails (ENOTCONN), which crashed the end of the
scenario.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import IS_ROOT, harness
from test_rump import needs_rump, rump_env, LIB

FILE = """suite: deadlines
scenarios:
  - name: recvfrom-after-shut-rd
    steps:
      - {op: socket, sock: u, type: udp}
      - {op: bind, sock: u, addr: loopback, port: P}
      - {op: shutdown, sock: u, how: rd, expect: {linux: ENOTCONN, netbsd: ok}}
      - {op: recvfrom, sock: u, timeout_ms: 300, expect: {linux: timeout, netbsd: ok}}
  - name: distribute-over-a-udp-socket-shut-for-reading
    steps:
      - {op: socket, sock: u, type: udp}
      - {op: bind, sock: u, addr: loopback, port: P}
      - {op: shutdown, sock: u, how: rd, expect: {linux: ENOTCONN, netbsd: ok}}
      - {op: distribute, to: {addr: loopback, port: P}, over: [u], count: 4, timeout_ms: 500}
  - name: distribute-over-a-listener-shut-down
    steps:
      - {op: socket, sock: l, type: tcp}
      - {op: bind, sock: l, addr: loopback, port: P}
      - {op: listen, sock: l}
      - {op: shutdown, sock: l, expect: {linux: ok, netbsd: ok}}
      - {op: distribute, to: {addr: loopback, port: P}, over: [l], count: 4, timeout_ms: 500}
  - name: accept-on-a-listener-shut-for-reading
    steps:
      - {op: socket, sock: l, type: tcp}
      - {op: bind, sock: l, addr: loopback, port: P}
      - {op: listen, sock: l}
      - {op: shutdown, sock: l, how: rd, expect: {linux: ok, netbsd: ok}}
      - {op: accept, sock: l, timeout_ms: 300, expect: {linux: EINVAL, netbsd: timeout}}
  - name: close-at-the-end-of-a-udp-socket-connected-to-the-unspecified-address
    steps:
      - {op: socket, sock: u, type: udp, family: inet6}
      - {op: bind, sock: u, addr: loopback6, port: P}
      - {op: connect, sock: u, addr: any6, port: P}
"""


def run(tmp_path: Path, targets: str, env: dict | None = None) -> dict:
    (tmp_path / "deadlines.yaml").write_text(FILE)
    proc = harness("run", str(tmp_path / "deadlines.yaml"), "--targets", targets, "--out", str(tmp_path / "out"),
                   "--scenario-timeout", "20", env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads((tmp_path / "out" / "results.json").read_text())


def slowest_step_ms(doc: dict) -> float:
    return max(step["observed"]["ms"] for r in doc["results"] for step in r["steps"])


@pytest.mark.skipif(not IS_ROOT, reason="local needs root for network namespaces")
def test_on_linux_a_call_its_socket_polls_ready_for_ends_at_its_timeout(tmp_path):
    doc = run(tmp_path, "local")
    assert slowest_step_ms(doc) < 2000


@needs_rump
def test_on_netbsd_distributions_over_shut_sockets_end_and_close_failures_do_not_crash(tmp_path):
    doc = run(tmp_path, "rump", rump_env(LIB))
    assert slowest_step_ms(doc) < 2000
