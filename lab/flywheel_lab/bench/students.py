"""`flywheel bench students`: every student family on the same split, through the product's one training entry.

Per family: training time, offline RQ1 (All, and the ``novel`` subset: test intents with a word no training intent
has), RQ1 on the referee's wording sets (each test look in its canonical wording and in held-out wordings the
collection never emitted, scored against the hidden ideal), and serving latency (p50/p95 of single requests on one
thread, intents/s batched). The held-out wordings are the referee's: only this bench reads them, never training.
"""

from __future__ import annotations

import json
import statistics
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from flywheel.datasets.files import SplitFiles, load_split
from flywheel.evaluation.metrics import EvalReport, evaluate
from flywheel.inference.predictor import load_predictor
from flywheel.training.config import TrainConfig
from flywheel.training.train import train


@dataclass
class StudentRow:
    name: str
    backend: str
    train_seconds: float
    rq1_all: float
    rq1_novel: float | None
    n_novel: int
    rq1_canonical: float | None
    rq1_heldout: float | None
    p50_ms: float
    p95_ms: float
    batch_per_s: float
    invalid_rate: float
    n_test: int
    model_dir: str
    notes: list[str] = field(default_factory=list)

    @property
    def heldout_vs_canonical(self) -> float | None:
        if not self.rq1_heldout or not self.rq1_canonical:
            return None
        return self.rq1_heldout / self.rq1_canonical


def _pct(xs: Sequence[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


def _overall(report: EvalReport) -> float:
    return report.subsets["All"].overall


def novel_rows(split: SplitFiles) -> list[dict[str, Any]]:
    """Test rows with at least one word that no training intent has (the RQ1 table's ``novel`` subset)."""
    from flywheel.contracts.intents import intent_words

    seen = {w for r in split.train for w in intent_words(r["intent"])}
    return [r for r in split.test if set(intent_words(r["intent"])) - seen]


def _latency(predictor: Any, intents: list[str], *, requests: int, batch: int) -> tuple[float, float, float]:
    import torch

    torch.set_num_threads(1)
    for x in intents[:5]:  # warm-up: first calls allocate
        predictor.predict_one(x)
    times = []
    for i in range(requests):
        t0 = time.perf_counter()
        predictor.predict_one(intents[i % len(intents)])
        times.append((time.perf_counter() - t0) * 1000)
    many = [intents[i % len(intents)] for i in range(batch)]
    t0 = time.perf_counter()
    predictor.predict(many)
    per_s = batch / (time.perf_counter() - t0)
    return statistics.median(times), _pct(times, .95), per_s


def bench_student(*, name: str, config: TrainConfig, split: SplitFiles, out_dir: Path,
                  wording_sets: tuple[list[dict[str, Any]], list[dict[str, Any]]] | None,
                  eval_rows: int | None = None, latency_requests: int = 200, batch: int = 512,
                  trained: Path | None = None, progress: bool = False) -> StudentRow:
    """Train one family on the split (or take ``trained``, a checkpoint already trained on it, with its lineage's
    training time), then measure it: the training process's own thread setting for training, one thread for the
    latency figures, as a serving replica per core would run."""
    if trained is not None:
        model_dir = trained
        train_s = float(json.loads((trained / "lineage.json").read_text())["training_seconds"])
    else:
        model_id = f"bench-{name}-{uuid.uuid4().hex[:6]}"
        model_dir = out_dir / model_id
        t0 = time.perf_counter()
        train(config, split, model_dir, model_id=model_id, progress=progress)
        train_s = time.perf_counter() - t0
    predictor = load_predictor(model_dir, num_threads=1)
    test = split.test[:eval_rows] if eval_rows else split.test
    preds = [p.record() for p in predictor.predict_detailed([r["intent"] for r in test])]
    report = evaluate(preds, test)
    keys = {r["intent"] for r in test}
    novel = [r for r in novel_rows(split) if r["intent"] in keys]
    rq1_novel = _overall(evaluate(preds, novel)) if novel else None
    canon = held = None
    if wording_sets is not None:
        scores = []
        for rows in wording_sets:
            rows = rows[:eval_rows] if eval_rows else rows
            p = [x.record() for x in predictor.predict_detailed([r["intent"] for r in rows])]
            scores.append(_overall(evaluate(p, rows)))
        canon, held = scores
    intents = [r["intent"] for r in test]
    if eval_rows:  # a capped (generative, slow) family: as many timed requests as scored rows, a batch of 32
        latency_requests, batch = min(latency_requests, eval_rows), min(batch, 32)
    p50, p95, per_s = _latency(predictor, intents, requests=latency_requests, batch=batch)
    return StudentRow(name=name, backend=config.backend, train_seconds=round(train_s, 1), rq1_all=_overall(report),
                      rq1_novel=rq1_novel, n_novel=len(novel), rq1_canonical=canon, rq1_heldout=held,
                      p50_ms=round(p50, 2), p95_ms=round(p95, 2), batch_per_s=round(per_s, 1),
                      invalid_rate=report.invalid_rate, n_test=len(test), model_dir=str(model_dir))


def referee_wordings(split: SplitFiles, *, world_seed: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The looks of the split's test intents, each in its canonical and in held-out wordings, with the hidden ideal
    as reference (the referee's sets, :mod:`flywheel_lab.simulator.wordings`)."""
    from flywheel_lab.simulator.wordings import wording_sets
    from flywheel_lab.simulator.world import build_world

    world = build_world(world_seed)
    bases = sorted({b.base_id for r in split.test if (b := world.base_of(r["intent"])) is not None})
    canonical, heldout = wording_sets(world=world, base_ids=bases)
    return canonical, heldout


def run_students(*, split_path: Path, configs: list[tuple[str, TrainConfig]], out_dir: Path, world_seed: int | None,
                 eval_rows: dict[str, int | None] | None = None, latency_requests: int = 200,
                 trained: dict[str, Path] | None = None, progress: bool = False) -> list[StudentRow]:
    split = load_split(split_path)
    sets = referee_wordings(split, world_seed=world_seed) if world_seed is not None else None
    rows = []
    for name, cfg in configs:
        rows.append(bench_student(name=name, config=cfg, split=split, out_dir=out_dir, wording_sets=sets,
                                  eval_rows=(eval_rows or {}).get(name), latency_requests=latency_requests,
                                  trained=(trained or {}).get(name), progress=progress))
    (out_dir / "students.json").write_text(json.dumps(
        [asdict(r) | {"heldout_vs_canonical": r.heldout_vs_canonical} for r in rows], indent=2))
    return rows


def plot_students(rows: list[StudentRow], path: Path) -> Path:
    """RQ1 per family (All, novel, canonical and held-out wordings) beside p95 latency."""
    from flywheel_lab.plots import figure, save

    fig, (ax, ax2) = figure(figsize=(11, 4), ncols=2, gridspec_kw={"width_ratios": [3, 1]})
    cols = [("All", "rq1_all"), ("novel", "rq1_novel"), ("canonical wording", "rq1_canonical"),
            ("held-out wording", "rq1_heldout")]
    w = .8 / len(cols)
    for j, (label, attr) in enumerate(cols):
        ax.bar([i + j * w for i in range(len(rows))], [getattr(r, attr) or 0 for r in rows], w, label=label)
    ax.set_xticks([i + .4 - w / 2 for i in range(len(rows))], [r.name for r in rows])
    ax.set_ylabel("RQ1 overall")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    ax.set_title("offline quality on one split")
    ax2.bar([r.name for r in rows], [r.p95_ms for r in rows], color="grey")
    ax2.set_yscale("log")
    ax2.set_ylabel("p95 ms per request (1 thread)")
    ax2.set_title("serving latency")
    return save(fig, path)
