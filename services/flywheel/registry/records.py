"""Registry rows (tables ``models``, ``evaluations``, ``promotion_decisions``): the data functions.

The caller owns the session and its transaction (see :mod:`flywheel.db`); these functions never commit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from flywheel.contracts import TOOLS
from flywheel.db.locks import LockNamespace, xact_lock
from flywheel.db.registry import Evaluation, Model
from flywheel.db.registry import PromotionDecision as DecisionRow

if TYPE_CHECKING:  # a type only: the row functions need no torch
    from flywheel.training.train import TrainResult


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
    # Promotion mode "challenger": the experiment phase the candidate now serves in as a challenger (not promoted).
    challenger_experiment_id: str | None = None


def _record(m: Model) -> ModelRecord:
    return ModelRecord(m.id, m.path, m.backend, m.base, m.split_id, m.groundtruth_run_id, dict(m.metrics or {}),
                       m.status, m.created_at, m.training_seconds, dict(m.config or {}))


def insert_model(session: Session, *, model_id: str, path: Path, lineage: dict[str, Any], config: dict[str, Any],
                 metrics: dict[str, Any], training_seconds: float | None) -> ModelRecord:
    """A trained model as a candidate."""
    row = Model(id=model_id, backend=lineage["backend"], base=lineage["base_model"],
                split_id=lineage.get("split_id") or "unknown", groundtruth_run_id=lineage.get("groundtruth_run_id"),
                path=str(Path(path).resolve()), config=config, metrics=metrics, status="candidate",
                training_seconds=training_seconds)
    session.add(row)
    session.flush()
    return _record(row)


def register_model(session: Session, *, result: TrainResult) -> ModelRecord:
    """Insert a trained model (a ``TrainResult``) as a candidate and store its test evaluation; the caller owns the
    transaction."""
    config = json.loads((Path(result.path) / "train_config.json").read_text())
    rec = insert_model(session, model_id=result.model_id, path=result.path, lineage=result.lineage, config=config,
                       metrics=result.metrics, training_seconds=result.training_seconds)
    if result.metrics:
        store_evaluation(session, model_id=result.model_id, split_id=rec.split_id, summary=result.metrics)
    return rec


def evaluation_rows(*, model_id: str, split_id: str, summary: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per (subset, tool) from `report_summary` numbers."""
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
    return rows


def store_evaluation(session: Session, *, model_id: str, split_id: str, summary: dict[str, Any]) -> int:
    """Upsert the evaluation rows of one (model, split); returns rows written."""
    rows = evaluation_rows(model_id=model_id, split_id=split_id, summary=summary)
    if not rows:
        return 0
    stmt = insert(Evaluation).values(rows)
    stmt = stmt.on_conflict_do_update(constraint="uq_evaluations_key", set_={
        c: stmt.excluded[c] for c in ("precision", "recall", "f1", "quality", "final", "overall", "invalid_rate", "n",
                                      "evaluated_at")})
    session.execute(stmt)
    session.execute(update(Evaluation).where(Evaluation.model_id == model_id, Evaluation.split_id == split_id)
                    .values(evaluated_at=datetime.now().astimezone()))
    return len(rows)


def update_metrics(session: Session, *, model_id: str, summary: dict[str, Any]) -> None:
    """The model's headline numbers (on its own test split) after a re-evaluation."""
    session.execute(update(Model).where(Model.id == model_id).values(metrics=summary))


def get_model(session: Session, *, model_id: str) -> ModelRecord:
    m = session.get(Model, model_id)
    if m is None:
        raise UnknownModel(f"no model {model_id!r} in the registry (see `flywheel models`)")
    return _record(m)


def list_models(session: Session) -> list[ModelRecord]:
    return [_record(m) for m in session.scalars(select(Model).order_by(Model.created_at.desc()))]


def production_model(session: Session) -> ModelRecord | None:
    """The model the assistant's student arm serves (None before the first promotion)."""
    m = session.scalars(select(Model).where(Model.status == "production")).first()
    return _record(m) if m else None


def overall_on(session: Session, *, model_id: str, split_id: str, subset: str = "All") -> float | None:
    return session.scalars(select(Evaluation.overall).where(
        Evaluation.model_id == model_id, Evaluation.split_id == split_id, Evaluation.subset == subset)).first()


def decisions(session: Session, *, model_id: str | None = None) -> list[dict[str, Any]]:
    q = select(DecisionRow).order_by(DecisionRow.id)
    if model_id:
        q = q.where(DecisionRow.model_id == model_id)
    return [{"model_id": d.model_id, "decided_at": d.decided_at, "promoted": d.promoted, "reason": d.reason,
             "split_id": d.split_id, "candidate_overall": d.candidate_overall,
             "production_model_id": d.production_model_id, "production_overall": d.production_overall}
            for d in session.scalars(q)]


def decide(candidate: float | None, production: float | None, prod_id: str | None, margin: float, floor: float
           ) -> tuple[bool, str]:
    """The gate's rule (see :mod:`flywheel.registry.stages`), pure."""
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


def production_changed(session: Session, *, prod: ModelRecord | None) -> bool:
    """Take the promotion lock (held until the caller's transaction ends), then say whether production is still
    `prod`. Read after the lock, so a promotion committed meanwhile is seen (read committed: a fresh snapshot)."""
    xact_lock(session, LockNamespace.PROMOTION)
    current = session.scalars(select(Model.id).where(Model.status == "production")).first()
    return current != (prod.model_id if prod else None)


def apply_decision(session: Session, *, candidate: ModelRecord, prod: ModelRecord | None, promoted: bool,
                   reason: str, cand_overall: float | None, prod_overall: float | None) -> tuple[bool, str]:
    """Store the decision and, if promoted, swap production (inside the caller's transaction, which should hold
    the promotion lock: :func:`production_changed`)."""
    if promoted:
        # Lock the current production row so two concurrent promotions cannot both win.
        current = session.scalars(select(Model).where(Model.status == "production").with_for_update()).first()
        if current is not None and (prod is None or current.id != prod.model_id):
            promoted, reason = False, "refused: production changed while deciding; run promote again"
        else:
            session.execute(update(Model).where(Model.status == "production").values(status="retired"))
            session.execute(update(Model).where(Model.id == candidate.model_id).values(status="production"))
    session.add(DecisionRow(model_id=candidate.model_id, promoted=promoted, reason=reason,
                            split_id=candidate.split_id, candidate_overall=cand_overall,
                            production_model_id=prod.model_id if prod else None, production_overall=prod_overall))
    return promoted, reason
