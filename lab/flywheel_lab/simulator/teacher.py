"""The teacher stand-in: an LLM at temperature > 0, seen from outside.

For every (intent_norm, tool) it has a few answer *modes* (drawn once, seeded by the intent), each with a probability:
usually one close to the latent ideal, plus noisier ones and sometimes a wrong one (tool dropped or added, sign of the
main attribute flipped, a different filter). Each call samples a mode, so repeated calls differ, and the same answer
recurs, as GPT-3.5 does for short JSON. The most likely mode is not always the best, which is what makes the
export-rate ground truth worth computing.
"""

from __future__ import annotations

import copy
import random
from typing import Any

from flywheel.contracts import COLORS, TOOLS, adjust_slots, normalize_intent
from flywheel_lab.simulator import latent
from flywheel_lab.simulator.world import World

Mode = tuple[float, Any]  # (probability, output or None)

# Share of intents whose most likely mode is the close one; otherwise a noisier or wrong mode leads.
P_BEST_LEADS = .7
# A colour the ideal leaves out, read as unchanged.
_ZERO_CHANNEL = {k: 0 for k in latent.CHANNEL}


def _noisy(tool: str, value: dict[str, Any], sd: float, rng: random.Random) -> dict[str, Any]:
    if tool == "adjust":
        out = {}
        for s in adjust_slots():
            v = value[s.key]
            if v or rng.random() < sd / 60:  # noisier answers also touch sliders the look does not need
                v = v + rng.gauss(0, sd)
            out[s.key] = latent.r5(v, s)
        return out if any(out.values()) else value
    if tool == "selective_adjust":
        out2 = {}
        for c in COLORS:
            ch = value.get(c, _ZERO_CHANNEL)
            out2[c] = {k: latent.r5(v + rng.gauss(0, sd), latent.CHANNEL[k]) if v or rng.random() < sd / 80 else 0
                       for k, v in ch.items()}
        return out2 if any(v for ch in out2.values() for v in ch.values()) else value
    return {"name": value["name"], "intensity": latent.r5(value["intensity"] + rng.gauss(0, sd), latent.INTENSITY)}


def _wrong(tool: str, value: dict[str, Any], attrs: dict[str, float], filters: dict[str, list[str]],
           rng: random.Random) -> dict[str, Any] | None:
    if rng.random() < .35:
        return None  # forgot the tool
    if tool == "filter":
        want = latent.attr_tags(attrs)
        ranked = sorted(filters, key=lambda n: (-latent.filter_score(want, set(filters[n])), n))
        pool = [n for n in ranked[:8] if n != value["name"]] if rng.random() < .7 else list(filters)
        return {"name": rng.choice(pool), "intensity": value["intensity"]}
    if tool == "adjust":  # misread the main direction (e.g. "cool" as warm)
        out = dict(value)
        main = max(("temperature", "exposure", "contrast", "saturation"), key=lambda k: abs(out[k]))
        out[main] = -out[main] if out[main] else 40
        return out
    flipped = {c: {k: -v for k, v in value.get(c, _ZERO_CHANNEL).items()} for c in COLORS}
    return flipped


def _spurious(tool: str, attrs: dict[str, float], colors: dict[str, tuple[float, float]],
              filters: dict[str, list[str]], rng: random.Random) -> dict[str, Any]:
    if tool == "adjust":
        return latent.adjust_from(attrs, rng, jitter=.3)
    if tool == "selective_adjust":
        return latent.selective_from(colors, attrs, rng, jitter=.3)
    return latent.filter_from(attrs, filters, rng)


def _weights(k: int, best_leads: bool, rng: random.Random) -> list[float]:
    w = sorted((rng.gammavariate(1.0, 1.0) for _ in range(k)), reverse=True)
    if not best_leads and k > 1:
        j = rng.randrange(1, k)
        w[0], w[j] = w[j], w[0]
    s = sum(w)
    return [x / s for x in w]


class SimTeacher:
    """Noisy answers per call; modes cached per intent_norm (deterministic in the world seed)."""

    def __init__(self, world: World, model_name: str = "sim-teacher", model_version: str | None = None) -> None:
        self.world = world
        self.model_name = model_name
        self.model_version = model_version or f"sim-seed{world.seed}"
        self._modes: dict[str, dict[str, list[Mode]]] = {}

    def modes(self, intent: str) -> dict[str, list[Mode]]:
        norm = normalize_intent(intent)
        got = self._modes.get(norm)
        if got is None:
            got = self._modes[norm] = self._make_modes(norm)
        return got

    def _make_modes(self, norm: str) -> dict[str, list[Mode]]:
        _, attrs, colors, ideal = self.world.latent(norm)
        filters = self.world.filters
        out: dict[str, list[Mode]] = {}
        for tool in TOOLS:
            rng = random.Random(f"{self.world.seed}:teacher:{norm}:{tool}")
            target = ideal[tool]
            if target is None:
                if rng.random() < .35:  # sometimes the teacher adds a tool the look does not need
                    p = rng.uniform(.1, .4)
                    out[tool] = [(1 - p, None), (p, _spurious(tool, attrs, colors, filters, rng))]
                else:
                    out[tool] = [(1.0, None)]
                continue
            k = rng.choice((1, 2, 2, 3, 3, 4))
            values: list[Any] = [_noisy(tool, target, 4, rng)]
            for _ in range(k - 1):
                if rng.random() < .6:
                    values.append(_noisy(tool, target, 18, rng))
                else:
                    values.append(_wrong(tool, target, attrs, filters, rng))
            out[tool] = list(zip(_weights(k, rng.random() < P_BEST_LEADS, rng), values, strict=True))
        return out

    def respond_tool(self, tool: str, intent: str, rng: random.Random) -> tuple[Any, str]:
        modes = self.modes(intent)[tool]
        x = rng.random()
        acc = 0.0
        value = modes[-1][1]
        for p, v in modes:
            acc += p
            if x < acc:
                value = v
                break
        value = copy.deepcopy(value)
        return value, rationale(tool, intent, value, self.world)

    def respond(self, intent: str, rng: random.Random) -> tuple[dict[str, Any], dict[str, str]]:
        outputs: dict[str, Any] = {}
        why: dict[str, str] = {}
        for tool in TOOLS:
            outputs[tool], why[tool] = self.respond_tool(tool, intent, rng)
        return outputs, why


def rationale(tool: str, intent: str, value: Any, world: World) -> str:
    """A short chain-of-thought line, as the paper's one-shot prompt asks for."""
    _, attrs, _, _ = world.latent(intent)
    tags = sorted(latent.attr_tags(attrs)) or ["neutral"]
    look = ", ".join(tags)
    if value is None:
        return f"'{intent}' reads as {look}; the {tool.replace('_', ' ')} tool is not needed."
    if tool == "adjust":
        top = sorted(((abs(v), k, v) for k, v in value.items() if v), reverse=True)[:3]
        moves = ", ".join(f"{k} {v:+d}" for _, k, v in top)
        return f"'{intent}' reads as {look}: {moves}."
    if tool == "selective_adjust":
        ranked = sorted(((abs(ch["saturation"]) + abs(ch["luminance"]), c) for c, ch in value.items()), reverse=True)
        return f"'{intent}' calls for colour emphasis on {' and '.join(c for _, c in ranked[:2])}."
    return f"'{intent}' matches the {value['name']} filter ({look}) at {value['intensity']}%."
