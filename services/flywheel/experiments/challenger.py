"""Champion and challenger (docs/domain.md#champion-and-challenger): which arms a phase's rule compares, and what a
decision on a challenger phase does, inside the decision's transaction.

A challenger phase (flywheel.db.experiments.enter_challenger, begun by a promotion in promotion mode "challenger")
has a ``challenger`` arm pinned to the new model next to the ``student`` arm, the champion; the rule compares the
two (the challenger in the student's place, the champion in the teacher's), the teacher holdout only serves and
measures. Ship: the challenger is promoted in the registry (an auditable ``promotion_decisions`` row naming the
decision) and the next phase serves it on the whole student share. Roll back: the challenger is dropped and the next
phase serves the champion on that share. The registry's promotion lock is taken before the phase's row lock, the
order a promotion takes them in, so a decision and a promotion never wait on each other crosswise.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from flywheel.db.experiments import CHALLENGER_ARM, STUDENT_ARM, TEACHER_ARM, end_challenger
from flywheel.db.locks import LockNamespace, xact_lock
from flywheel.registry import records


def compared_arms(weights: dict[str, float]) -> tuple[str, str]:
    """(treatment, control) of a phase: (challenger, student) while a challenger serves, else (student, teacher)."""
    if weights.get(CHALLENGER_ARM, 0.0) > 0:
        return CHALLENGER_ARM, STUDENT_ARM
    return STUDENT_ARM, TEACHER_ARM


def lock_promotions(session: Session) -> None:
    """The registry's promotion lock, for the caller's transaction (taken before any experiment row lock)."""
    xact_lock(session, LockNamespace.PROMOTION)


def promote_challenger(session: Session, *, model_id: str, reason: str) -> None:
    """Make the challenger the production model, recorded as a promotion decision (the caller holds the lock)."""
    cand = records.get_model(session, model_id=model_id)
    prod = records.production_model(session)
    if prod is not None and prod.model_id == model_id:
        return
    cand_overall = records.overall_on(session, model_id=model_id, split_id=cand.split_id)
    prod_overall = None if prod is None else records.overall_on(session, model_id=prod.model_id,
                                                                  split_id=cand.split_id)
    records.apply_decision(session, candidate=cand, prod=prod, promoted=True, reason=reason,
                           cand_overall=cand_overall, prod_overall=prod_overall)


def settle(session: Session, *, experiment_id: str, challenger_model: str, champion_model: str | None, won: bool,
           decision_id: str, why: str, now: datetime) -> str:
    """Act on a challenger phase's ship (``won``) or roll back; returns the next phase's id."""
    if won:
        promote_challenger(session, model_id=challenger_model, reason=(
            f"promoted: challenger won {experiment_id} against champion {champion_model} (experiment decision "
            f"{decision_id}: {why})"))
    return end_challenger(session, current=experiment_id, won=won, decision_id=decision_id, now=now)
