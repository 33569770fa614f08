"""A/B arm assignment: a deterministic hash of the experiment salt and the user id, cut by the arm weights.

The same user always lands in the same arm of an experiment (sticky across sessions and servers), different salts
reshuffle users independently, and the arm shares converge to the weights.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence


def hash_unit(user_id: str, salt: str) -> float:
    """sha256 of f"{salt}:{user_id}" -> a uniform number in [0, 1)."""
    digest = hashlib.sha256(f"{salt}:{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def assign_arm(user_id: str, salt: str, arms: Sequence[tuple[str, float]]) -> str:
    """The arm of `user_id`: the first arm whose cumulative (normalized) weight exceeds the user's hash."""
    if not arms:
        raise ValueError("an experiment needs at least one arm")
    if any(w < 0 for _, w in arms):
        raise ValueError(f"arm weights must be >= 0, got {list(arms)}")
    total = float(sum(w for _, w in arms))
    if total <= 0:
        raise ValueError(f"arm weights must not all be 0, got {list(arms)}")
    u = hash_unit(user_id, salt)
    acc = 0.0
    for name, w in arms:
        acc += w / total
        if u < acc:
            return name
    return next(name for name, w in reversed(arms) if w > 0)  # float rounding at the top end
