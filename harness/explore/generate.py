"""Draw call sequences from the op table: valid by construction, reproducible from (seed, index).

Each step picks an op by weight (OP_WEIGHTS: what makes sockets meet on a port
is likely; an op added to the table later gets DEFAULT_WEIGHT) and draws its
fields by kind (choices.py); an op none of whose values is possible yet (a
`sock` field before any socket) is passed over. Sockets are used only after
the step that defines them, so the loader accepts every sequence, and it is
the loader that checks: a sequence is run as the scenario it loads into.
Sequence N of a seed is the same whatever else was drawn, so a finding can
name where it came from.
"""
from __future__ import annotations

import random
from typing import Callable, NamedTuple, Optional

from ..scenario.ops import OPS
from .choices import IMPOSSIBLE, OMIT, OTHER_ACTOR, OTHER_USER, Pick, draw
from .draft import Draft
from .sequence import Call, Sequence

LENGTH = (4, 14)  # steps before the closing one
FINISH = 0.5  # how often a sequence ends by asking who receives (an op whose row distributes)
DEFAULT_WEIGHT = 0.5
# Each sequence draws a profile, which narrows the ops it is made of, and the options it sets: most
# sequences are about who may share an address and who then receives, some about connections and their
# TIME_WAIT, the rest take every op and option of the table (one added later is explored there). A
# difference early in a sequence hides any later one, so the narrower profiles keep the calls that differ
# for other reasons out of the way: an option one kernel lacks (TCP_FASTOPEN on NetBSD) would make the
# setsockopt the first difference of every sequence that sets it, and no distribution behind it is seen.
class Profile(NamedTuple):
    weight: float
    ops: Optional[frozenset]  # None: every op
    options: Optional[frozenset]  # None: every option


SHARING_OPTIONS = frozenset({"SO_REUSEADDR", "SO_REUSEPORT", "SO_REUSEPORT_LB", "IPV6_V6ONLY", "SO_LINGER"})
PROFILES: dict[str, Profile] = {
    "sharing": Profile(0.55, frozenset({"socket", "setsockopt", "getsockopt", "bind", "listen", "close",
                                        "distribute"}), SHARING_OPTIONS),
    "lifecycle": Profile(0.2, frozenset({"socket", "setsockopt", "bind", "listen", "connect", "accept", "close",
                                         "shutdown", "sleep", "distribute"}), SHARING_OPTIONS),
    "anything": Profile(0.25, None, None),
}


def _any(draft: Draft, test: Callable) -> bool:
    return any(test(s) for s in draft.open)


OP_WEIGHTS: dict[str, Callable[[Draft], float]] = {
    "socket": lambda d: (6, 6, 2.5, 1, 0.3)[min(len(d.open), 4)],
    "setsockopt": lambda d: 6 if _any(d, lambda s: not s.has("bound") and not s.options) else 1.5,
    "getsockopt": lambda d: 1.0,
    "bind": lambda d: 6 if _any(d, lambda s: not s.has("bound")) else 0.3,
    "listen": lambda d: 3 if _any(d, lambda s: s.type == "tcp" and s.has("bound") and not s.has("listening")) else 0.3,
    "connect": lambda d: 1.2 if _any(d, lambda s: s.has("listening") or (s.type == "udp" and s.has("bound"))) else 0.3,
    "accept": lambda d: 2 if _any(d, lambda s: s.has("listening")) and _any(d, lambda s: s.has("connected")) else 0.2,
    "close": lambda d: 0.8,
    "shutdown": lambda d: 0.4,
    "send": lambda d: 0.2,
    "recv": lambda d: 0.2,
    "sendto": lambda d: 0.3,
    "recvfrom": lambda d: 0.3,
    "sleep": lambda d: 0.8 if any(s.has("closed") and s.has("connected") for s in d.socks.values()) else 0.1,
    "distribute": lambda d: 0.5 if d.shared_ports() else 0.1,
}


def weight(op: str, draft: Draft) -> float:
    return OP_WEIGHTS.get(op, lambda d: DEFAULT_WEIGHT)(draft)


def draw_call(rng: random.Random, draft: Draft, ops: list[str], origin: str,
              options: Optional[frozenset] = None) -> Optional[Call]:
    """One step of one of `ops` (by weight), all its fields drawn (an option among `options`, None: any);
    None if none of them is possible now."""
    ops = list(ops)
    while ops:
        op = rng.choices(ops, weights=[weight(o, draft) for o in ops])[0]
        args: dict = {}
        for name, fld in OPS[op].fields.items():
            value = draw(Pick(rng, draft, op, name, fld, args, options))
            if value is IMPOSSIBLE:
                break
            if value is not OMIT:
                args[name] = value
        else:
            return Call(op, args, origin)
        ops.remove(op)
    return None


def generate(seed: int, index: int) -> Sequence:
    """Sequence `index` of `seed`."""
    rng = random.Random(f"harness-explore:{seed}:{index}")
    draft = Draft()
    profile = PROFILES[rng.choices(list(PROFILES), weights=[p.weight for p in PROFILES.values()])[0]]
    everything = [op for op in OPS if profile.ops is None or op in profile.ops]
    finishing = [op for op in everything if OPS[op].distributes]
    length = rng.randint(*LENGTH)
    while len(draft.calls) < length:
        call = draw_call(rng, draft, everything, _origin(seed, index, len(draft.calls)), profile.options)
        if call is None:
            break
        draft.add(call)
    if finishing and rng.random() < FINISH and draft.shared_ports():
        call = draw_call(rng, draft, finishing, _origin(seed, index, len(draft.calls)), profile.options)
        draft.add(call) if call else None
    return Sequence(f"seq-{index}", tuple(draft.calls), {OTHER_ACTOR: OTHER_USER})


def _origin(seed: int, index: int, position: int) -> str:
    return f"generated: seed {seed}, sequence {index}, step {position + 1}"
