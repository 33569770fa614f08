"""Model registry on Postgres: register trained models, store evaluations, the promotion gate.

Gate (issue 6): a candidate is promoted only if its overall score on its test split is (a) at least
``settings.promotion_floor`` and (b) not worse than the production model's overall on the SAME test split by more
than ``settings.promotion_margin``. If production was never evaluated on that split, it is evaluated first (its
checkpoint must exist). The first model ever only has to clear the floor. Every decision, promoted or not, is stored
in ``promotion_decisions`` with its reason; promotion retires the old production model in the same transaction, and a
partial unique index guarantees there is never more than one production model.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from flywheel.contracts import TOOLS
from flywheel.db.engine import make_engine
from flywheel.db.registry import Evaluation, Model
from flywheel.db.registry import PromotionDecision as DecisionRow


class UnknownModel(LookupError):
    pass


@dataclass(frozen=True)
class ModelRecord:
    model_id: str
    path: str
    backend: str
    base: str
    split_id: str
    groundtruth_run_id: str | None
    metrics: dict[str, Any]
    status: str
    created_at: datetime | None
    training_seconds: float | None
    config: dict[str, Any]

    @property
    def id(self) -> str:
        return self.model_id


@dataclass(frozen=True)
class PromotionDecision:
    promoted: bool
    reason: str
    model_id: str
    candidate_overall: float | None = None
    production_model_id: str | None = None
    production_overall: float | None = None


def _record(m: Model) -> ModelRecord:
    return ModelRecord(m.id, m.path, m.backend, m.base, m.split_id, m.groundtruth_run_id, dict(m.metrics or {}),
                       m.status, m.created_at, m.training_seconds, dict(m.config or {}))


@contextmanager
def _session(settings: Any):
    engine = make_engine(settings)
    try:
        with Session(engine) as s:
            yield s
    finally:
        engine.dispose()


def register_model(settings: Any, result: Any) -> ModelRecord:
    """Insert a trained model (a `TrainResult`) as a candidate and store its test evaluation."""
    import json

    lineage = result.lineage
    config = json.loads((Path(result.path) / "train_config.json").read_text())
    with _session(settings) as s:
        row = Model(id=result.model_id, backend=lineage["backend"], base=lineage["base_model"],
                    split_id=lineage.get("split_id") or "unknown", groundtruth_run_id=lineage.get("groundtruth_run_id"),
                    path=str(Path(result.path).resolve()), config=config, metrics=result.metrics, status="candidate",
                    training_seconds=result.training_seconds)
        s.add(row)
        s.commit()
        rec = _record(row)
    if result.metrics:
        store_evaluation(settings, result.model_id, rec.split_id, result.metrics)
    return rec


def store_evaluation(settings: Any, model_id: str, split_id: str, summary: dict[str, Any]) -> int:
    """Upsert one row per (subset, tool) from `report_summary` numbers; returns rows written."""
    rows = []
    for subset, sub in summary.items():
        if not isinstance(sub, dict) or not all(t in sub for t in TOOLS) or "n" not in sub:
            continue  # top-level numbers and the embedded full report are not subsets
        for tool in TOOLS:
            t = sub[tool]
            rows.append({"model_id": model_id, "split_id": split_id, "subset": subset, "tool": tool,
                         "precision": t["precision"], "recall": t["recall"], "f1": t["f1"], "quality": t["quality"],
                         "final": t["final"], "overall": sub["overall"], "invalid_rate": sub["invalid_rate"],
                         "n": sub["n"]})
    if not rows:
        return 0
    stmt = insert(Evaluation).values(rows)
    stmt = stmt.on_conflict_do_update(constraint="uq_evaluations_key", set_={
        c: stmt.excluded[c] for c in ("precision", "recall", "f1", "quality", "final", "overall", "invalid_rate", "n",
                                      "evaluated_at")})
    with _session(settings) as s:
        s.execute(stmt)
        s.execute(update(Evaluation).where(Evaluation.model_id == model_id, Evaluation.split_id == split_id)
                  .values(evaluated_at=datetime.now().astimezone()))
        s.commit()
    return len(rows)


def update_metrics(settings: Any, model_id: str, summary: dict[str, Any]) -> None:
    """The model's headline numbers (on its own test split) after a re-evaluation."""
    with _session(settings) as s:
        s.execute(update(Model).where(Model.id == model_id).values(metrics=summary))
        s.commit()


def get_model(settings: Any, model_id: str) -> ModelRecord:
    with _session(settings) as s:
        m = s.get(Model, model_id)
        if m is None:
            raise UnknownModel(f"no model {model_id!r} in the registry (see `flywheel models`)")
        return _record(m)


def list_models(settings: Any) -> list[ModelRecord]:
    with _session(settings) as s:
        return [_record(m) for m in s.scalars(select(Model).order_by(Model.created_at.desc()))]


def production_model(settings: Any) -> ModelRecord | None:
    """The model the assistant's student arm serves (None before the first promotion)."""
    with _session(settings) as s:
        m = s.scalars(select(Model).where(Model.status == "production")).first()
        return _record(m) if m else None


def overall_on(settings: Any, model_id: str, split_id: str, subset: str = "All") -> float | None:
    with _session(settings) as s:
        return s.scalars(select(Evaluation.overall).where(
            Evaluation.model_id == model_id, Evaluation.split_id == split_id, Evaluation.subset == subset)).first()


def decisions(settings: Any, model_id: str | None = None) -> list[dict[str, Any]]:
    with _session(settings) as s:
        q = select(DecisionRow).order_by(DecisionRow.id)
        if model_id:
            q = q.where(DecisionRow.model_id == model_id)
        return [{"model_id": d.model_id, "decided_at": d.decided_at, "promoted": d.promoted, "reason": d.reason,
                 "split_id": d.split_id, "candidate_overall": d.candidate_overall,
                 "production_model_id": d.production_model_id, "production_overall": d.production_overall}
                for d in s.scalars(q)]


def _decide(candidate: float | None, production: float | None, prod_id: str | None, margin: float, floor: float
            ) -> tuple[bool, str]:
    if candidate is None:
        return False, "refused: the candidate has no evaluation on its test split"
    if candidate < floor:
        return False, f"refused: overall {candidate:.4f} is below the floor {floor:.4f}"
    if prod_id is None:
        return True, f"promoted: first production model (overall {candidate:.4f} >= floor {floor:.4f})"
    if production is None:
        return False, f"refused: production model {prod_id} could not be evaluated on the same test split"
    if candidate < production - margin:
        return False, (f"refused: overall {candidate:.4f} is worse than production {prod_id} ({production:.4f}) "
                       f"by more than the margin {margin:.4f}")
    return True, (f"promoted: overall {candidate:.4f} vs production {prod_id} {production:.4f} "
                  f"(margin {margin:.4f}, floor {floor:.4f})")


def promote(settings: Any, model_id: str, evaluate_production: bool = True) -> PromotionDecision:
    """Apply the promotion gate to a candidate; the decision is stored whatever it is."""
    cand = get_model(settings, model_id)
    if cand.status == "production":
        return PromotionDecision(True, "already the production model (no change)", model_id)
    prod = production_model(settings)
    cand_overall = overall_on(settings, model_id, cand.split_id)
    prod_overall, prod_error = None, ""
    if prod is not None:
        prod_overall = overall_on(settings, prod.model_id, cand.split_id)
        if prod_overall is None and evaluate_production:
            from flywheel.evaluation.offline import evaluate_model

            try:
                prod_overall = evaluate_model(settings, prod.model_id, cand.split_id)["overall"]
            except Exception as e:  # noqa: BLE001 - any failure is a refusal with its reason, never a crash
                prod_error = f"{type(e).__name__}: {e}"
    promoted, reason = _decide(cand_overall, prod_overall, prod.model_id if prod else None,
                               settings.promotion_margin, settings.promotion_floor)
    if prod_error and not promoted:
        reason = f"{reason} ({prod_error})"
    with _session(settings) as s, s.begin():
        if promoted:
            # Lock the current production row so two concurrent promotions cannot both win.
            current = s.scalars(select(Model).where(Model.status == "production").with_for_update()).first()
            if current is not None and (prod is None or current.id != prod.model_id):
                promoted, reason = False, "refused: production changed while deciding; run promote again"
            else:
                s.execute(update(Model).where(Model.status == "production").values(status="retired"))
                s.execute(update(Model).where(Model.id == model_id).values(status="production"))
        s.add(DecisionRow(model_id=model_id, promoted=promoted, reason=reason, split_id=cand.split_id,
                          candidate_overall=cand_overall, production_model_id=prod.model_id if prod else None,
                          production_overall=prod_overall))
    return PromotionDecision(promoted, reason, model_id, cand_overall, prod.model_id if prod else None, prod_overall)
