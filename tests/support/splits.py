"""Synthetic, seeded split folders in the agreed JSONL format (for training / evaluation tests that must not depend
on the simulator). Paraphrase families share one output, so a student can learn the mapping."""

from __future__ import annotations

import json
import random
from pathlib import Path

from flywheel.contracts import ADJUST_KEYS, COLORS, UNIPOLAR_ADJUST_KEYS, load_tool_contracts

WORDS = ["golden", "cool", "warm", "moody", "vintage", "bright", "dark", "faded", "neon", "soft", "crisp", "dreamy",
         "cinematic", "pastel", "gritty", "sunny", "misty", "vivid", "muted", "retro"]
NOUNS = ["hour", "morning", "night", "beach", "forest", "city", "portrait", "sunset", "winter", "summer", "film",
         "street", "garden", "desert", "ocean", "autumn"]
TEMPLATES = ["{b}", "make it {b}", "{b} look", "{b} vibe", "more {b} please", "{b} style", "give me {b}"]


def _outputs(rng: random.Random, filters: list[str]) -> dict:
    adj = {k: rng.choice([0, 0, 5, 10, 15, 20, 30, -10, -20]) for k in ADJUST_KEYS}
    for k in UNIPOLAR_ADJUST_KEYS:
        adj[k] = abs(adj[k])
    sel = {c: {"saturation": rng.choice([0, 10, 20, -20]), "luminance": rng.choice([0, 10, -10])} for c in COLORS}
    return {
        "adjust": adj if rng.random() < 0.9 else None,
        "selective_adjust": sel if rng.random() < 0.4 else None,
        "filter": {"name": rng.choice(filters), "intensity": rng.choice([20, 40, 60, 80])} if rng.random() < 0.7
        else None,
    }


def make_rows(n_base: int = 40, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    filters = load_tool_contracts().filter_names
    bases = sorted({f"{a} {b}" for a in WORDS for b in NOUNS})
    rng.shuffle(bases)
    rows = []
    for base in bases[:n_base]:
        out = _outputs(rng, filters)
        for t in TEMPLATES:
            rows.append({"intent": t.format(b=base), **out, "support": rng.randint(1, 8)})
    rng.shuffle(rows)
    return rows


def make_split_dir(root: Path, split_id: str = "s-test", n_base: int = 40, test_size: int = 40, seed: int = 0,
                   groundtruth_run_id: str = "gt-test") -> Path:
    rows = make_rows(n_base, seed)
    test, train = rows[:test_size], rows[test_size:]
    d = Path(root) / split_id
    d.mkdir(parents=True, exist_ok=True)
    for name, part in (("train", train), ("test", test)):
        (d / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in part))
    (d / "meta.json").write_text(json.dumps({"split_id": split_id, "parent_split_id": None,
                                             "groundtruth_run_id": groundtruth_run_id, "seed": seed,
                                             "test_size": test_size, "counts": {"train": len(train),
                                                                                 "test": len(test)}}))
    return d
