"""Names in a recording: symbolic ports in order of appearance, sockets named after what they bound.

Pure: runs once the whole trace is read, when a port-0 bind's real port (getsockname) is known.
"""
from __future__ import annotations

from collections import Counter
from typing import Any

from .recording import ANY, PortOf, Sock, Step

PORT_NAMES = "PQRSTUVWXYZ"


def port_value(port: Any) -> Any:
    return port.sock.local_port if isinstance(port, PortOf) else port


class PortNames:
    """Concrete ports to symbolic ones in order of appearance: the same number, the same symbol."""

    def __init__(self) -> None:
        self.names: dict[Any, str] = {}

    def __call__(self, port: Any) -> Any:
        number = port_value(port)
        if number is None and isinstance(port, PortOf):  # a port-0 bind whose port the program never read:
            number = ("bound port 0", id(port.sock))  # a symbol of its own (the replay binds a free port)
        if not number:
            return 0
        if number not in self.names:
            n = len(self.names)
            self.names[number] = PORT_NAMES[n % len(PORT_NAMES)] + (str(n // len(PORT_NAMES)) if n >= len(PORT_NAMES) else "")
        return self.names[number]

    def visit(self, steps: list[Step]) -> None:
        """Give symbols in the order the steps use the ports, before sockets are named after them."""
        for step in steps:
            for key, value in step.args.items():
                if key == "port":
                    self(value)
                elif key == "to":
                    self(value["port"])


def name_sockets(socks: list[Sock], ports: PortNames) -> None:
    """`tcp-P`, `udp6-Q` (type, family and the port it bound), `tcp-P.a1` (the first connection accepted
    on tcp-P), else `tcp-fd5`; a repeated name gets `.2`."""
    seen: Counter = Counter()
    accepted: Counter = Counter()
    for sock in socks:
        if sock.name:  # a stand-in client, named when it was made
            continue
        if sock.accepted_from:
            accepted[sock.accepted_from.name] += 1
            sock.name = f"{sock.accepted_from.name}.a{accepted[sock.accepted_from.name]}"
            continue
        port = ports(sock.bound[1]) if sock.bound else 0
        base = f"{sock.type}{'6' if sock.family == 'inet6' else ''}-{port or f'fd{sock.fd}'}"
        seen[base] += 1
        sock.name = base if seen[base] == 1 else f"{base}.{seen[base]}"


def written(step: Step, ports: PortNames) -> dict:
    """A step as the format writes it: sockets by name, ports symbolic, `linux:` then `default: any`."""
    args = {key: _value(key, value, ports) for key, value in step.args.items()}
    out = {"op": step.op, **args, "expect": {"linux": step.linux, "default": ANY} if step.linux != ANY else ANY}
    if step.note:
        out["note"] = step.note
    return out


def _value(key: str, value: Any, ports: PortNames) -> Any:
    if isinstance(value, Sock):
        return value.name
    if isinstance(value, list):
        return [v.name if isinstance(v, Sock) else v for v in value]
    if key == "port":
        return ports(value)
    if key == "to":
        return {"addr": value["addr"], "port": ports(value["port"])}
    return value
