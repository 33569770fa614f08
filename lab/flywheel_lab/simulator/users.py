"""Simulated users: how likely they are to export each tool they were shown, and the project.

The export probability falls with the distance between what was shown and the latent ideal
(docs/domain.md#the-simulator). Users differ a little in how easily they are pleased.
"""

from __future__ import annotations

import math
import random
from typing import Any

from flywheel.contracts import cosine, tool_vector

P_MAX = .85          # export probability of a perfect answer for an average user
SCALE = .22          # distance at which the probability falls by 1/e
P_UNWANTED = .12     # a tool shown although the look does not need it
P_PROJECT_IF_ANY = .9
P_PROJECT_IF_NONE = .15
PLATFORMS = ("ios", "android", "web")


def distance(tool: str, shown: dict[str, Any], ideal: dict[str, Any], filters: dict[str, list[str]]) -> float:
    """0 = exactly the ideal; about 1 = unrelated."""
    if tool == "filter":
        if shown["name"] == ideal["name"]:
            d = 0.0
        else:
            a, b = set(filters.get(shown["name"], [])), set(filters.get(ideal["name"], []))
            d = 1 - len(a & b) / max(1, len(a | b))
        return d + abs(shown["intensity"] - ideal["intensity"]) / 200
    vs, vi = tool_vector(tool, shown), tool_vector(tool, ideal)
    ns, ni = math.sqrt(sum(x * x for x in vs)), math.sqrt(sum(x * x for x in vi))
    return (1 - cosine(vs, vi)) + .3 * min(1.0, abs(ns - ni) / max(ni, 1.0))


def user_factor(user_id: str, seed: int) -> float:
    """How easily this user is pleased (0.8..1.1), stable per user."""
    return .8 + .3 * random.Random(f"{seed}:user:{user_id}").random()


def platform_of(user_id: str, seed: int) -> str:
    return random.Random(f"{seed}:platform:{user_id}").choice(PLATFORMS)


def export_probability(tool: str, shown: Any, ideal: Any, filters: dict[str, list[str]], factor: float = 1.0) -> float:
    if shown is None:
        return 0.0
    if ideal is None:
        return P_UNWANTED * factor
    return min(.99, P_MAX * factor * math.exp(-distance(tool, shown, ideal, filters) / SCALE))


def project_export_probability(any_tool_exported: bool, factor: float = 1.0) -> float:
    return min(.99, (P_PROJECT_IF_ANY if any_tool_exported else P_PROJECT_IF_NONE) * factor)
