"""A registered model, its split's test intents, a truth file and student edits for reality-check tests."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

from flywheel_lab.simulator.truth import TruthRow, write_truth

INTENTS = ("warm golden hour glow", "cold winter morning", "make it pop", "faded film look", "moody dusk",
           "bright summer day", "soft pastel dream", "dramatic noir", "vivid neon night", "calm blue hour",
           "retro seventies", "crisp and clean", "dark and gritty", "sunny beach vibes", "misty forest",
           "autumn warmth", "icy blue tones", "vintage postcard", "punchy contrast", "gentle sunrise")
FILTERS = ("warm_GoldenHour", "cool_BlueHour", "vivid_Neon", "faded_Film", "warm_Dusk")


def teacher_edit(i: int) -> dict[str, Any]:
    return {"adjust": {"exposure": 10 + 3 * i, "temperature": 40 - 6 * i, "contrast": 15, "sharpen": 20},
            "selective_adjust": {"blue": {"saturation": 30, "luminance": -10}} if i % 3 == 0 else None,
            "filter": {"name": FILTERS[i % len(FILTERS)], "intensity": 60}}


def student_edit(i: int) -> dict[str, Any]:
    """Close to the teacher's edit for even i, unrelated for odd i (so the annotators have something to tell)."""
    t = copy.deepcopy(teacher_edit(i))
    if i % 2 == 0:
        t["adjust"]["exposure"] += 4
        return t
    return {"adjust": {"exposure": -60, "temperature": -80, "saturation": -90}, "selective_adjust": None,
            "filter": {"name": FILTERS[(i + 2) % len(FILTERS)], "intensity": 100}}


def seed_model(engine: Engine, artifacts: Path, *, model_id: str = "m-reality", n: int = 20) -> Path:
    """A model row on split `s-reality` with n test intents (teacher edits as ground truth); returns the truth file,
    whose hidden ideal equals the teacher's edit."""
    split_id = "s-reality"
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO splits (split_id) VALUES (:s) ON CONFLICT DO NOTHING"), {"s": split_id})
        for i in range(n):
            e = teacher_edit(i)
            conn.execute(text(
                "INSERT INTO split_members (split_id, intent, part, adjust, selective_adjust, filter, support)"
                " VALUES (:s, :i, 'test', CAST(:a AS jsonb), CAST(:sa AS jsonb), CAST(:f AS jsonb), 5)"
                " ON CONFLICT DO NOTHING"),
                {"s": split_id, "i": INTENTS[i], "a": json.dumps(e["adjust"]),
                 "sa": None if e["selective_adjust"] is None else json.dumps(e["selective_adjust"]),
                 "f": json.dumps(e["filter"])})
        conn.execute(text(
            "INSERT INTO models (id, backend, base, split_id, path) VALUES (:m, 'seq2seq', 'tiny', :s, :p)"
            " ON CONFLICT DO NOTHING"), {"m": model_id, "s": split_id, "p": str(artifacts / model_id)})
    rows = [TruthRow(INTENTS[i], f"b{i}", teacher_edit(i)) for i in range(n)]
    return write_truth(artifacts / "simulator" / "truth-seed0.jsonl", rows)


def fake_predict(intents: list[str]) -> list[dict[str, Any]]:
    return [student_edit(index(i)) for i in intents]


def index(intent: str) -> int:
    return INTENTS.index(intent)
