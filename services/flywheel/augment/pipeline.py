"""The augmentation loop: predict on train -> mine mistakes -> paraphrase -> de-duplicate -> register a derived split.

``augment_split(settings, model_id, split_id, iterations=K)`` runs K augmentation rounds. Round k uses the model of
round k (the given model first; then one retrained by the local launcher on round k-1's split with the same training
config) and returns the LAST split's id — training on it is the caller's step, as in the paper's RQ2 table.

Decisions written down here:
- New intents get "the teacher's original answers": the three ground-truth outputs of the training row they were
  paraphrased from (for a row that is itself an augmentation this is still its root intent's answers).
- Generated rows carry ``support = 0``: no user ever typed them, so they never enter the r_k subsets.
- The mining baseline (mean cosine per vector tool) is measured once, with the model trained WITHOUT augmentation,
  and is stored in the split's params; a later round, or ``flywheel augment`` run on an augmented split, reuses
  the root's baseline instead of re-measuring it on a model that already saw paraphrases.
- The test part is copied unchanged from the parent; paraphrases equal to any train or test intent are dropped
  (``dedupe.py``), so nothing generated can leak into test.
- Per-row lineage (source, root, iteration, mistake reasons) goes to ``augmentations.jsonl`` next to the split's
  files; the split row itself names its parent (``splits.parent_split_id``) and keeps a summary in ``params``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

from flywheel.augment.dedupe import Candidate, DedupeResult, dedupe_paraphrases
from flywheel.augment.mining import MiningResult, mine_mistakes
from flywheel.augment.paraphrase import Paraphraser
from flywheel.contracts import TOOLS
from flywheel.datasets.splits import get_split, register_split, split_dir
from flywheel.db.engine import owned_engine
from flywheel.db.runs import track_run
from flywheel.inference.predictor import load_predictor
from flywheel.registry.store import get_model
from flywheel.settings import Settings
from flywheel.training.config import TrainConfig, train_config_from_file
from flywheel.training.launcher import launch

LINEAGE_FILE = "augmentations.jsonl"


class AugmentError(RuntimeError):
    pass


@dataclass
class RoundResult:
    iteration: int
    model_id: str
    parent_split_id: str
    split_id: str = ""
    mining: dict[str, Any] = field(default_factory=dict)
    dedupe: dict[str, int] = field(default_factory=dict)
    n_paraphrase_failures: int = 0
    n_train_before: int = 0
    n_added: int = 0


def build_augmented_rows(train_rows: Sequence[dict[str, Any]], test_rows: Sequence[dict[str, Any]],
                         mining: MiningResult, paraphrases: dict[str, list[str]], iteration: int,
                         per_source: int | None) -> tuple[list[dict[str, Any]], list[dict[str, Any]], DedupeResult]:
    """Pure: new train rows (source outputs, support 0) and their lineage records, from mined intents' paraphrases.
    Sources are visited in sorted order so the result does not depend on the order replies arrived in."""
    by_intent = {r["intent"]: r for r in train_rows}
    reasons = {m.intent: m.reasons for m in mining.mistakes}
    cands = [Candidate(src, text) for src in sorted(paraphrases) for text in paraphrases[src]]
    unknown = sorted({c.source for c in cands} - set(by_intent))
    if unknown:
        raise AugmentError(f"paraphrases for intents that are not training rows: {unknown[:5]}")
    res = dedupe_paraphrases(cands, by_intent, [r["intent"] for r in test_rows], per_source=per_source)
    rows, lineage = [], []
    for src, new in res.kept:
        s = by_intent[src]
        rows.append({"intent": new, **{t: s.get(t) for t in TOOLS}, "support": 0})
        lineage.append({"intent": new, "source": src, "root": s.get("augmented_root") or src,
                        "iteration": iteration, "reasons": reasons.get(src, {})})
    return rows, lineage, res


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        raise AugmentError(f"{path} does not exist (is the split exported?)")
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def load_split_rows(settings: Settings, split_id: str, *, engine: Engine
                    ) -> tuple[list[dict], list[dict], dict, dict[str, str]]:
    """Train and test rows of a stored split (train rows carry ``augmented_root``), its lineage and its roots."""
    split = get_split(settings, split_id, engine=engine)  # raises for an unknown split id
    d = split_dir(settings, split_id)
    train, test = _read_jsonl(d / "train.jsonl"), _read_jsonl(d / "test.jsonl")
    roots = {}
    if (d / LINEAGE_FILE).exists():
        roots = {r["intent"]: r["root"] for r in _read_jsonl(d / LINEAGE_FILE)}
    for r in train:
        if r["intent"] in roots:
            r["augmented_root"] = roots[r["intent"]]
    meta = {"groundtruth_run_id": split.groundtruth_run_id, "parent_split_id": split.parent_split_id}
    return train, test, meta, roots


def _split_params(split_id: str, *, engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        p = conn.execute(text("SELECT params FROM splits WHERE split_id = :s"), {"s": split_id}).scalar()
    return dict(p or {})


def model_dir(settings: Settings, model_id: str, *, engine: Engine | None = None) -> Path:
    """A model id from the registry, or a checkpoint folder path."""
    p = Path(model_id)
    if p.is_dir():
        return p
    try:
        return Path(get_model(settings, model_id, engine=engine).path)
    except LookupError:
        pass  # not registered (e.g. trained with --no-register): try the default folder below
    guess = Path(settings.artifacts_dir) / "models" / model_id
    if guess.is_dir():
        return guess
    raise AugmentError(f"unknown model {model_id!r}: not in the registry and not a checkpoint folder")


def predict_train(settings: Settings, model_id: str, intents: list[str], progress: bool = True, *,
                  engine: Engine | None = None) -> list[dict]:
    predictor = load_predictor(model_dir(settings, model_id, engine=engine))
    outs = predictor.predict(intents, progress=progress)
    return [{"intent": i, **o} for i, o in zip(intents, outs, strict=True)]


def _paraphrase(settings: Settings, intents: list[str], paraphraser: Any, progress: bool):
    p = paraphraser or Paraphraser(settings)
    n = max(1, settings.augment_paraphrases_requested)
    if not progress:
        return p.paraphrase_many(intents, n)
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task("paraphrase", total=len(intents))
        return p.paraphrase_many(intents, n, progress=lambda k: bar.advance(task, k))


def augment_once(settings: Settings, model_id: str, split_id: str, iteration: int = 1, *,
                 baseline: dict[str, float] | None = None, paraphraser: Any = None,
                 predictions: list[dict] | None = None, progress: bool = True, engine: Engine | None = None
                 ) -> tuple[str, RoundResult]:
    """One round on `split_id` with `model_id`. `predictions` (train rows' predictions, in train-file order) may be
    given to skip inference, e.g. by a caller that already has them."""
    with owned_engine(settings, engine) as eng:
        return _augment_once(settings, model_id, split_id, iteration, baseline=baseline, paraphraser=paraphraser,
                             predictions=predictions, progress=progress, engine=eng)


def _augment_once(settings: Settings, model_id: str, split_id: str, iteration: int, *,
                  baseline: dict[str, float] | None, paraphraser: Any, predictions: list[dict] | None,
                  progress: bool, engine: Engine) -> tuple[str, RoundResult]:
    train, test, meta, _ = load_split_rows(settings, split_id, engine=engine)
    if not train:
        raise AugmentError(f"split {split_id!r} has no training rows")
    rr = RoundResult(iteration=iteration, model_id=model_id, parent_split_id=split_id, n_train_before=len(train))
    parent_params = _split_params(split_id, engine=engine)
    if baseline is None:
        baseline = (parent_params.get("augment") or {}).get("baseline")
    if predictions is None:
        predictions = predict_train(settings, model_id, [r["intent"] for r in train], progress=progress,
                                    engine=engine)
    mining = mine_mistakes(predictions, train, baseline=baseline)
    rr.mining = mining.summary()
    batch = _paraphrase(settings, mining.intents, paraphraser, progress)
    rr.n_paraphrase_failures = len(batch.failures)
    if mining.intents and len(batch.failures) == len(mining.intents):
        example = next(iter(batch.failures.items()))
        raise AugmentError(f"every paraphrase request failed ({len(batch.failures)}); e.g. {example[0]!r}: "
                           f"{example[1]}")
    new_rows, lineage, dd = build_augmented_rows(train, test, mining, batch.results, iteration,
                                                 per_source=max(1, settings.augment_paraphrases_kept))
    rr.dedupe, rr.n_added = dd.summary(), len(new_rows)
    root_params = parent_params.get("augment") or {}
    params = {"method": "augment", "augment": {
        "iteration": iteration, "model_id": model_id, "baseline": mining.baseline,
        "root_split_id": root_params.get("root_split_id") or split_id,
        "mining": rr.mining, "dedupe": rr.dedupe, "paraphrase_failures": rr.n_paraphrase_failures,
        "n_added": rr.n_added, "n_train_parent": len(train),
        "paraphrases_requested": settings.augment_paraphrases_requested,
        "paraphrases_kept": settings.augment_paraphrases_kept,
        "paraphrase_model": settings.augment_model or settings.teacher_model}}
    clean = [{k: v for k, v in r.items() if k != "augmented_root"} for r in train]
    new_id = register_split(settings, clean + new_rows, test, parent_split_id=split_id,
                            groundtruth_run_id=meta["groundtruth_run_id"], params=params, engine=engine)
    prior = split_dir(settings, split_id) / LINEAGE_FILE
    out = split_dir(settings, new_id) / LINEAGE_FILE
    with out.open("w", encoding="utf-8") as fh:
        if prior.exists():
            fh.write(prior.read_text(encoding="utf-8"))
        for rec in lineage:
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    rr.split_id = new_id
    return new_id, rr


def augment_split(settings: Settings, model_id: str, split_id: str, iterations: int = 1, *,
                  train_config: Any = None, paraphraser: Any = None, progress: bool = True,
                  rounds: list[RoundResult] | None = None, airflow_run_id: str | None = None,
                  engine: Engine | None = None) -> str:
    """The augment stage: K rounds of augmentation; returns the last derived split's id. Between rounds the student
    is retrained on the new split with `train_config` (default: the config stored with `model_id`'s checkpoint)."""
    if iterations < 1:
        raise AugmentError(f"iterations must be >= 1, got {iterations}")
    inputs: dict[str, Any] = {"model_id": model_id, "split_id": split_id, "iterations": iterations}
    rounds = rounds if rounds is not None else []
    baseline = None
    current_model, current_split = model_id, split_id
    with owned_engine(settings, engine) as eng, \
            track_run(eng, stage="augment", inputs=inputs, airflow_run_id=airflow_run_id) as out:
        out["rounds"] = []
        for k in range(1, iterations + 1):
            if k > 1:
                cfg = train_config if train_config is not None else _stored_config(settings, model_id, engine=eng)
                current_model = train_on_split(settings, current_split, cfg)
            new_split, rr = _augment_once(settings, current_model, current_split, k, baseline=baseline,
                                          paraphraser=paraphraser, predictions=None, progress=progress, engine=eng)
            baseline = rr.mining["baseline"]
            rounds.append(rr)
            out["rounds"].append({"iteration": k, "model_id": current_model, "split_id": new_split,
                                  "n_added": rr.n_added, "mining": rr.mining, "dedupe": rr.dedupe})
            current_split = new_split
        out.update(split_id=current_split, n_added=sum(r.n_added for r in rounds))
    return current_split


def train_on_split(settings: Settings, split_id: str, config: Any) -> str:
    """Train (and register) a student on a split with the local launcher; returns the model id."""
    return launch(settings, split_id, config).model_id


def _stored_config(settings: Settings, model_id: str, *, engine: Engine) -> TrainConfig:
    path = model_dir(settings, model_id, engine=engine) / "train_config.json"
    if path.is_file():
        return train_config_from_file(path)
    raise AugmentError(f"no training config stored with model {model_id!r} in {path.parent}; pass train_config")
