"""Latent ideal tool outputs derived from interpretable attributes (the simulator's hidden answer key).

Pure functions: attributes + a seeded RNG -> the ideal `adjust`, `selective_adjust` and `filter` outputs, or None for a
tool the look should not use. Values are multiples of 5, the way people (and LLMs) write slider values.
"""

from __future__ import annotations

import random
from typing import Any

from flywheel.contracts import COLORS, Slot, adjust_slots, get_slot, selective_channels

# Bounds come from the tool contracts (flywheel.contracts.slots), so an ideal is valid by construction.
CHANNEL = {s.key: s for s in selective_channels()}
INTENSITY = get_slot("filter", "intensity")


def r5(x: float, slot: Slot) -> int:
    """`x` rounded to a multiple of 5 and clamped to the slot's bounds."""
    return int(max(slot.lo, min(slot.hi, 5 * round(x / 5))))


def attr_tags(a: dict[str, float]) -> set[str]:
    """The filter-catalogue tags that describe a set of attributes."""
    g = a.get
    tags = set()
    if g("warm", 0) > .25:
        tags.add("warm")
    if g("warm", 0) < -.25:
        tags.add("cool")
    if g("bright", 0) > .25:
        tags.add("bright")
    if g("bright", 0) < -.25:
        tags.add("dark")
    if g("vivid", 0) > .3:
        tags.add("vivid")
    if g("vivid", 0) < -.3:
        tags.add("muted")
    if g("vintage", 0) > .4:
        tags.add("vintage")
    if g("contrast", 0) > .4:
        tags.add("contrast")
    if g("fade", 0) > .4:
        tags.add("faded")
    if g("mono", 0) > .5:
        tags.add("mono")
    return tags


def style_strength(a: dict[str, float]) -> float:
    g = a.get
    return max(g("vintage", 0), g("fade", 0), g("mono", 0), abs(g("contrast", 0)) * .6, g("glow", 0) * .5,
               abs(g("warm", 0)) * .4, abs(g("vivid", 0)) * .4)


def adjust_from(a: dict[str, float], rng: random.Random, jitter: float = .15) -> dict[str, int]:
    g = a.get
    raw = {
        "exposure": 25 * g("bright", 0),
        "contrast": 45 * g("contrast", 0) - 15 * g("fade", 0),
        "brightness": 20 * g("bright", 0) + 10 * g("glow", 0),
        "highlights": 15 * g("bright", 0) + 20 * g("glow", 0) - 20 * g("vintage", 0),
        "shadows": -20 * g("contrast", 0) + 30 * g("fade", 0) + 10 * g("bright", 0),
        "saturation": 45 * g("vivid", 0) - 100 * g("mono", 0),
        "vibrance": 35 * g("vivid", 0) - 60 * g("mono", 0),
        "temperature": 55 * g("warm", 0),
        "tint": 40 * g("tint", 0),
        "hue": 25 * g("hue", 0),
        "bloom": 60 * g("glow", 0),
        "sharpen": 50 * g("crisp", 0),
        "structure": 40 * g("crisp", 0) + 15 * max(g("contrast", 0), 0),
        "linearOffset": 35 * g("fade", 0) + 10 * g("vintage", 0),
    }
    out = {}
    for s in adjust_slots():
        v = raw[s.key] * (1 + rng.gauss(0, jitter))
        out[s.key] = r5(v, s)
    if not any(out.values()):  # a used adjust with all zeros would be a no-op; nudge the dominant attribute
        out["contrast"] = 10
    return out


def selective_from(colors: dict[str, tuple[float, float]], a: dict[str, float], rng: random.Random,
                   jitter: float = .15) -> dict[str, dict[str, int]]:
    if not colors:  # a look without colour words: derive emphasis from warmth
        w = a.get("warm", 0)
        colors = ({"orange": (.5 * w, .2 * w), "yellow": (.4 * w, .1 * w)} if w >= 0
                  else {"blue": (-.5 * w, 0.0), "cyan": (-.4 * w, .1 * -w)})
    out = {}
    for c in COLORS:
        s, lum = colors.get(c, (0.0, 0.0))
        out[c] = {"saturation": r5(60 * s * (1 + rng.gauss(0, jitter)), CHANNEL["saturation"]),
                  "luminance": r5(50 * lum * (1 + rng.gauss(0, jitter)), CHANNEL["luminance"])}
    if not any(v for ch in out.values() for v in ch.values()):
        out["orange"]["saturation"] = 10
    return out


def filter_score(want: set[str], ftags: set[str]) -> float:
    # Black-and-white is not one tag among many: a colour filter on a mono look (or the reverse) is simply wrong.
    mono = 2.0 if ("mono" in want) == ("mono" in ftags) else -2.0
    return len(want & ftags) - .5 * len(ftags - want) + (mono if "mono" in want | ftags else 0.0)


def best_filter(a: dict[str, float], filters: dict[str, list[str]], rng: random.Random) -> str:
    want = attr_tags(a)
    scored = [(filter_score(want, set(t)), name) for name, t in filters.items()]
    top = max(s for s, _ in scored)
    names = sorted(n for s, n in scored if s == top)
    return rng.choice(names)


def filter_from(a: dict[str, float], filters: dict[str, list[str]], rng: random.Random) -> dict[str, Any]:
    intensity = r5(30 + 50 * min(1.0, style_strength(a)) + rng.gauss(0, 5), INTENSITY)
    return {"name": best_filter(a, filters, rng), "intensity": intensity}


def ideal_outputs(a: dict[str, float], colors: dict[str, tuple[float, float]], filters: dict[str, list[str]],
                  rng: random.Random) -> dict[str, Any]:
    """The latent ideal of one base look. Tool use is decided first (targets near the paper's Set table: adjust
    ~92 % used, selective_adjust ~35 %, filter ~68 %), then each used tool's values."""
    style = min(1.0, style_strength(a))
    use_sel = rng.random() < (.58 if colors else .06)
    use_filter = rng.random() < min(.95, .47 + .5 * style)
    use_adjust = not (use_filter and rng.random() < .1)
    return {
        "adjust": adjust_from(a, rng) if use_adjust else None,
        "selective_adjust": selective_from(colors, a, rng) if use_sel else None,
        "filter": filter_from(a, filters, rng) if use_filter else None,
    }
