"""RQ2, the paper's low-data experiment: is error-targeted augmentation effective with 1/8 of the training data?

Three students, one training config, one test set (the base split's test part, which every derived split copies):

    row  train            augmentations           paper: train size  overall
    1    100 %            0                        8,252              0.72
    2    fraction (12.5%) 0                        1,031              0.52
    3    fraction         one round on row 2's    1,837 (806 added)  0.65
                          mistakes

Row 2's split is a seeded sample of the base split's train intents (registered as a derived split, parent = base);
row 3's split is ``augment_split(model of row 2, split of row 2, iterations=1)``. All three train with the SAME
TrainConfig (epochs, not steps, are fixed, as a fine-tuning recipe would be), so the budget is set by
``config.epochs``/``config.max_steps`` and the tiny model size. The table is printed, written to
``{artifacts_dir}/reports/lowdata-{run_id}.json`` and kept in ``pipeline_runs`` (stage ``experiment.low_data``,
``outputs.table``).
"""

from __future__ import annotations

import json
import math
import random
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from flywheel.augment.pipeline import RoundResult, augment_split, load_split_rows, train_on_split
from flywheel.datasets.groundtruth import run_groundtruth
from flywheel.datasets.splits import make_split, register_split
from flywheel.db.engine import owned_engine
from flywheel.db.runs import track_run
from flywheel.ingest.service import IngestOptions, run_ingest
from flywheel.registry.stages import evaluate_model
from flywheel.settings import Settings
from flywheel.training.config import parse_train_config
from flywheel_lab.simulator.run import simulate
from flywheel_lab.simulator.world import DEFAULT_BASE_INTENTS

PAPER = [{"train_pct": 100.0, "augmentations": 0, "train_size": 8252, "overall": 0.72},
         {"train_pct": 12.5, "augmentations": 0, "train_size": 1031, "overall": 0.52},
         {"train_pct": 12.5, "augmentations": 806, "train_size": 1837, "overall": 0.65}]
STAGE = "experiment.low_data"


class ExperimentError(RuntimeError):
    pass


@dataclass
class LowDataRow:
    label: str
    train_pct: float
    augmentations: int
    train_size: int
    split_id: str
    model_id: str
    overall: float
    finals: dict[str, float] = field(default_factory=dict)
    invalid_rate: float = 0.0
    train_seconds: float = 0.0
    steps: int | None = None  # optimizer steps when set by min_steps (else the config's epochs decided)


@dataclass
class LowDataReport:
    run_id: str
    base_split_id: str
    fraction: float
    seed: int
    config: dict[str, Any]
    rows: list[LowDataRow]
    augment: dict[str, Any]
    seconds: float
    report_path: str = ""

    @property
    def gain(self) -> float:
        return self.rows[2].overall - self.rows[1].overall

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["gain"] = self.gain
        d["relative_gain"] = self.gain / self.rows[1].overall if self.rows[1].overall else None
        d["paper"] = PAPER
        return d


def build_simulated_split(settings: Settings, seed: int, intents: int, days: float = 120.0, test_size: int = 1000,
                          base_intents: int | None = None) -> str:
    """The platform's own path to a 100 % split on the simulator: simulate -> ingest -> ground truth -> GX -> split."""
    sim = simulate(settings, intents=intents, days=days, seed=seed, base_intents=base_intents or DEFAULT_BASE_INTENTS)
    print(f"[lowdata] simulated {sim.events} events ({sim.unique_intents} intents) in {sim.seconds:.0f}s", flush=True)
    stats = run_ingest(settings, IngestOptions(max_events=sim.events, idle_exit_s=10.0))
    print(f"[lowdata] ingested {stats.consumed} events", flush=True)
    gt = run_groundtruth(settings)
    return make_split(settings, gt.run_id, test_size=test_size, seed=seed).split_id


def subsample_split(settings: Settings, split_id: str, fraction: float, seed: int) -> str:
    """A derived split with a seeded `fraction` of the parent's train intents and the parent's test part."""
    if not 0 < fraction <= 1:
        raise ExperimentError(f"fraction must be in (0, 1], got {fraction}")
    with owned_engine(settings) as eng:
        train, test, meta, _ = load_split_rows(settings, split_id, engine=eng)
    train = sorted((r for r in train), key=lambda r: r["intent"])
    n = max(1, round(fraction * len(train)))
    keep = sorted(random.Random(f"lowdata:{seed}").sample(range(len(train)), n))
    rows = [{k: v for k, v in train[i].items() if k != "augmented_root"} for i in keep]
    return register_split(settings, rows, test, parent_split_id=split_id,
                          groundtruth_run_id=meta["groundtruth_run_id"],
                          params={"method": "subsample", "fraction": fraction, "seed": seed,
                                  "n_train_parent": len(train)})


def steps_for(config: Any, n_intents: int, min_steps: int | None) -> int | None:
    """`config.epochs` over the split (3 examples per intent), but at least `min_steps`: a from-scratch tiny model
    needs a few hundred steps before it writes valid JSON at all, and the low-data rows must not lose by simply
    being undertrained. None = leave the config alone (it fixes max_steps itself, or no floor is asked for)."""
    if config.max_steps or not min_steps:
        return None
    epoch_steps = math.ceil(config.epochs * math.ceil(3 * n_intents / config.batch_size))
    return max(min_steps, epoch_steps)


def _train(settings: Settings, split_id: str, config: Any, n_intents: int, min_steps: int | None
           ) -> tuple[str, float, int | None]:
    steps = steps_for(config, n_intents, min_steps)
    cfg = config.model_copy(update={"max_steps": steps}) if steps else config
    t0 = time.perf_counter()
    return train_on_split(settings, split_id, cfg), time.perf_counter() - t0, steps


def _evaluate(settings: Settings, model_id: str, split_id: str) -> dict[str, Any]:
    """Offline evaluation on `split_id`'s test part (stored in the evaluations table too)."""
    summary = evaluate_model(settings, model_id, split_id, progress=True)
    alls = summary.get("All", {})
    return {"overall": summary["overall"], "invalid_rate": summary.get("invalid_rate", 0.0),
            "finals": {t: alls[t]["final"] for t in ("adjust", "selective_adjust", "filter") if t in alls}}


def run_low_data(settings: Settings, split_id: str, fraction: float = 0.125, seed: int = 0, config: Any = None,
                 paraphraser: Any = None, progress: bool = True, min_steps: int | None = None) -> LowDataReport:
    """Rows 1-3 of the paper's RQ2 table on `split_id` (the 100 % split)."""
    cfg = config if config is not None else parse_train_config({"seed": seed})
    cfg = cfg.model_copy(update={"evaluate_test": False})  # evaluated below, once, on the base test set
    run_id = f"lowdata-{uuid.uuid4().hex[:12]}"
    inputs: dict[str, Any] = {"split_id": split_id, "fraction": fraction, "seed": seed, "config": cfg.model_dump(),
                              "min_steps": min_steps}
    t0 = time.perf_counter()
    with owned_engine(settings) as eng, track_run(eng, stage=STAGE, run_id=run_id, inputs=inputs) as out:
        base_train, test, _, _ = load_split_rows(settings, split_id, engine=eng)
        if not test:
            raise ExperimentError(f"split {split_id!r} has no test rows")
        low_split = subsample_split(settings, split_id, fraction, seed)
        n_low = max(1, round(fraction * len(base_train)))
        plan = [("100%", 100.0, split_id, len(base_train)), (f"{fraction:.1%}", 100 * fraction, low_split, n_low)]
        models: list[tuple[str, float, int | None]] = []
        for label, _, sid, size in plan:
            print(f"[lowdata] training on {label} ({sid}, {size} intents)", flush=True)
            models.append(_train(settings, sid, cfg, size, min_steps))
        print("[lowdata] augmenting the low-data split with its own student's mistakes", flush=True)
        rounds: list[RoundResult] = []
        aug_split = augment_split(settings, models[1][0], low_split, iterations=1, paraphraser=paraphraser,
                                  progress=progress, rounds=rounds, engine=eng)
        n_added = rounds[0].n_added
        plan.append((f"{fraction:.1%} + aug", 100 * fraction, aug_split, n_low + n_added))
        print(f"[lowdata] training on the augmented split ({aug_split}, +{n_added})", flush=True)
        models.append(_train(settings, aug_split, cfg, n_low + n_added, min_steps))
        rows = _evaluate_rows(settings, split_id, plan, models, n_added, len(test))
        report = LowDataReport(run_id=run_id, base_split_id=split_id, fraction=fraction, seed=seed,
                               config=cfg.model_dump(), rows=rows,
                               augment={"mining": rounds[0].mining, "dedupe": rounds[0].dedupe,
                                        "paraphrase_failures": rounds[0].n_paraphrase_failures},
                               seconds=round(time.perf_counter() - t0, 1))
        path = Path(settings.artifacts_dir) / "reports" / f"{run_id}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        report.report_path = str(path)
        path.write_text(json.dumps(report.to_dict(), indent=2, default=str))
        out.update({"table": [asdict(r) for r in rows], "gain": report.gain, "report_path": str(path),
                    "augment": report.augment})
    return report


def _evaluate_rows(settings: Settings, split_id: str, plan: list[tuple[str, float, str, int]],
                   models: list[tuple[str, float, int | None]], n_added: int, n_test: int) -> list[LowDataRow]:
    rows = []
    for (label, pct, sid, size), (mid, secs, steps) in zip(plan, models, strict=True):
        print(f"[lowdata] evaluating {label} on the base test set ({n_test} intents)", flush=True)
        ev = _evaluate(settings, mid, split_id)
        rows.append(LowDataRow(label=label, train_pct=pct, augmentations=n_added if "aug" in label else 0,
                               train_size=size, split_id=sid, model_id=mid, overall=ev["overall"],
                               finals=ev["finals"], invalid_rate=ev["invalid_rate"],
                               train_seconds=round(secs, 1), steps=steps))
    return rows


def render_table(report: LowDataReport) -> Any:
    """rich Table: measured rows next to the paper's."""
    from rich.table import Table

    t = Table(title=f"RQ2 low-data (base split {report.base_split_id}, seed {report.seed})")
    for col in ("Train %", "Augmentations", "Train size", "Overall", "Paper"):
        t.add_column(col, justify="right")
    for r, p in zip(report.rows, PAPER, strict=True):
        aug = f"{r.augmentations} ({r.augmentations / r.train_size:.1%})" if r.augmentations else "0"
        paper_aug = f" +{p['augmentations']}" if p["augmentations"] else ""
        t.add_row(f"{r.train_pct:g}", aug, f"{r.train_size:,}", f"{r.overall:.3f}",
                  f"{p['train_size']:,}{paper_aug}: {p['overall']:.2f}")
    rel = f"{report.gain / report.rows[1].overall:+.0%}" if report.rows[1].overall else "n/a"
    t.caption = f"augmentation gain {report.gain:+.3f} ({rel}); paper +0.13 (+25%)"
    return t
