"""The BSD families' kernel models by family name (systems.py picks one for a System)."""
from __future__ import annotations

from .darwin import Darwin
from .dragonfly import DragonFly
from .freebsd import FreeBSD
from .netbsd import NetBSD
from .openbsd import OpenBSD

FAMILIES = {"freebsd": FreeBSD, "darwin": Darwin, "openbsd": OpenBSD, "netbsd": NetBSD, "dragonfly": DragonFly}
