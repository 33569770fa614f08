"""The augmentation loop: predict on train -> mine mistakes -> paraphrase -> de-duplicate -> register a derived split.

``augment_split(settings, model_id, split_id, iterations=K)`` runs K augmentation rounds. Round k uses the model of
round k (the given model first; then one retrained by D's launcher on round k-1's split with the same training
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
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flywheel.augment.dedupe import Candidate, DedupeResult, dedupe_paraphrases
from flywheel.augment.mining import MiningResult, mine_mistakes
from flywheel.contracts import TOOLS
from flywheel.settings import Settings

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


def _load_split(settings: Settings, split_id: str) -> tuple[list[dict], list[dict], dict, dict[str, str]]:
    from flywheel.datasets.splits import get_split, split_dir

    split = get_split(settings, split_id)  # raises for an unknown split id
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


def _split_params(settings: Settings, split_id: str) -> dict[str, Any]:
    from sqlalchemy import text

    from flywheel.db.engine import make_engine

    eng = make_engine(settings)
    try:
        with eng.connect() as conn:
            p = conn.execute(text("SELECT params FROM splits WHERE split_id = :s"), {"s": split_id}).scalar()
    finally:
        eng.dispose()
    return dict(p or {})


def model_dir(settings: Settings, model_id: str) -> Path:
    """A model id from the registry, or a checkpoint folder path."""
    p = Path(model_id)
    if p.is_dir():
        return p
    try:
        from flywheel.registry.store import get_model

        return Path(get_model(settings, model_id).path)
    except ImportError:
        pass  # no registry installed: only folders
    except LookupError:
        pass  # not registered (e.g. trained with --no-register): try the default folder below
    guess = Path(settings.artifacts_dir) / "models" / model_id
    if guess.is_dir():
        return guess
    raise AugmentError(f"unknown model {model_id!r}: not in the registry and not a checkpoint folder")


def predict_train(settings: Settings, model_id: str, intents: list[str], progress: bool = True) -> list[dict]:
    from flywheel.inference.predictor import load_predictor

    predictor = load_predictor(model_dir(settings, model_id))
    outs = predictor.predict(intents, progress=progress)
    return [{"intent": i, **o} for i, o in zip(intents, outs, strict=True)]


def _paraphrase(settings: Settings, intents: list[str], paraphraser: Any, progress: bool):
    from flywheel.augment.paraphrase import Paraphraser

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
                 predictions: list[dict] | None = None, progress: bool = True) -> tuple[str, RoundResult]:
    """One round on `split_id` with `model_id`. `predictions` (train rows' predictions, in train-file order) may be
    given to skip inference, e.g. by a caller that already has them."""
    from flywheel.datasets.splits import register_split, split_dir

    train, test, meta, _ = _load_split(settings, split_id)
    if not train:
        raise AugmentError(f"split {split_id!r} has no training rows")
    rr = RoundResult(iteration=iteration, model_id=model_id, parent_split_id=split_id, n_train_before=len(train))
    parent_params = _split_params(settings, split_id)
    if baseline is None:
        baseline = (parent_params.get("augment") or {}).get("baseline")
    if predictions is None:
        predictions = predict_train(settings, model_id, [r["intent"] for r in train], progress=progress)
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
                            groundtruth_run_id=meta["groundtruth_run_id"], params=params)
    prior = split_dir(settings, split_id) / LINEAGE_FILE
    out = split_dir(settings, new_id) / LINEAGE_FILE
    with out.open("w", encoding="utf-8") as fh:
        if prior.exists():
            fh.write(prior.read_text(encoding="utf-8"))
        for rec in lineage:
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    rr.split_id = new_id
    return new_id, rr


def _record_run(settings: Settings, run_id: str, params: dict, status: str, message: str) -> None:
    from flywheel.db.core import record_run

    record_run(settings, run_id, "augment", params, status, message)


def augment_split(settings: Settings, model_id: str, split_id: str, iterations: int = 1, *,
                  train_config: Any = None, paraphraser: Any = None, progress: bool = True,
                  rounds: list[RoundResult] | None = None) -> str:
    """K rounds of augmentation; returns the last derived split's id. Between rounds the student is retrained on the
    new split with `train_config` (default: the config stored with `model_id`'s checkpoint)."""
    if iterations < 1:
        raise AugmentError(f"iterations must be >= 1, got {iterations}")
    run_id = f"augment-{uuid.uuid4().hex[:12]}"
    params: dict[str, Any] = {"model_id": model_id, "split_id": split_id, "iterations": iterations, "rounds": []}
    _record_run(settings, run_id, params, "running", "")
    rounds = rounds if rounds is not None else []
    baseline = None
    current_model, current_split = model_id, split_id
    try:
        for k in range(1, iterations + 1):
            if k > 1:
                cfg = train_config if train_config is not None else _stored_config(settings, model_id)
                current_model = train_on_split(settings, current_split, cfg)
            new_split, rr = augment_once(settings, current_model, current_split, iteration=k, baseline=baseline,
                                         paraphraser=paraphraser, progress=progress)
            baseline = rr.mining["baseline"]
            rounds.append(rr)
            params["rounds"].append({"iteration": k, "model_id": current_model, "split_id": new_split,
                                     "n_added": rr.n_added, "mining": rr.mining, "dedupe": rr.dedupe})
            current_split = new_split
    except Exception as e:
        _record_run(settings, run_id, params, "failed", f"{type(e).__name__}: {e}")
        raise
    _record_run(settings, run_id, params, "succeeded",
                f"{iterations} round(s): {split_id} -> {current_split}, +{sum(r.n_added for r in rounds)} intents")
    return current_split


def train_on_split(settings: Settings, split_id: str, config: Any) -> str:
    """D's launcher (local) when installed, else the training entry it runs, in-process; returns the model id."""
    try:
        from flywheel.training.launcher import launch
    except ImportError:
        from flywheel.training.train import run_training

        return run_training(settings, split_id, config).model_id
    return launch(settings, split_id, config).model_id


def _stored_config(settings: Settings, model_id: str) -> Any:
    from flywheel.training.config import TrainConfig

    d = model_dir(settings, model_id)
    for name in ("train_config.json", "config.train.json", "training_config.json"):
        if (d / name).is_file():
            return TrainConfig.from_file(d / name)
    raise AugmentError(f"no training config stored with model {model_id!r} in {d}; pass train_config")
