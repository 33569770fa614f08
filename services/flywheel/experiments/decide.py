"""One look of the decision rule at the active (or a named) phase: read, decide, record, act.

The caller gives the engine; everything happens in one transaction with the phase's experiments row locked, so two
looks at once (the DAG and an operator) cannot both ramp. Acting means starting the next phase
(flywheel.db.experiments.start_phase): on ship, the student gets ``experiment_ship_student_weight`` of the users (the
rest stay with the teacher as a holdout); on roll back, the teacher gets everyone. A phase already at that weight
records the decision and changes nothing. The assistant reads the new phase on its next read of the active
experiment (at most ``experiment_ttl_s`` later, 5 s by default), no redeploy. A challenger phase compares the
challenger with the champion instead, and its ship promotes the challenger, its roll back drops it
(:mod:`flywheel.experiments.challenger`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from flywheel.db.experiments import (
    STUDENT_ARM,
    TEACHER_ARM,
    Experiment,
    ExperimentArm,
    ExperimentDecision,
    ExperimentError,
    PhaseInfo,
    phase_of,
    register_phase,
    start_phase,
)
from flywheel.experiments.challenger import compared_arms, lock_promotions, settle
from flywheel.experiments.data import arm_ops, arm_sums, unit_rows
from flywheel.experiments.rule import ROLL_BACK, SHIP, ArmOps, Decision, DecisionRule, Look, decide
from flywheel.experiments.sequential import ArmSums, RatioInterval, fixed_ratio, intersect, sequential_ratio
from flywheel.settings import Settings


def rule_from_settings(settings: Settings) -> DecisionRule:
    return DecisionRule(
        margin=settings.experiment_margin, alpha=settings.experiment_alpha,
        design_users=settings.experiment_design_users, min_users_per_arm=settings.experiment_min_users_per_arm,
        max_student_p95_ms=settings.experiment_max_student_p95_ms,
        max_fallback_rate=settings.experiment_max_fallback_rate,
        max_contract_fix_rate=settings.experiment_max_contract_fix_rate,
        guardrail_min_responses=settings.experiment_guardrail_min_responses)


def registered_rule(settings: Settings) -> dict[str, Any]:
    """The rule and prices stored with a phase (what analysts and later looks read back)."""
    return rule_from_settings(settings).to_dict() | {"prices": {
        "teacher_tokens_per_call": settings.teacher_tokens_per_call,
        "teacher_usd_per_1k_tokens": settings.teacher_usd_per_1k_tokens,
        "student_usd_per_call": settings.student_usd_per_call}}


def rule_of(stored: dict[str, Any]) -> DecisionRule:
    fields = set(DecisionRule.__dataclass_fields__)
    return DecisionRule(**{k: v for k, v in stored.items() if k in fields})


def register_experiment(engine: Engine, *, experiment_id: str, settings: Settings) -> PhaseInfo:
    """Pre-register the settings' rule for an experiment as phase 1 of its own series (before it has traffic)."""
    with Session(engine) as s, s.begin():
        known = phase_of(s, experiment_id)
        return known or register_phase(s, experiment_id=experiment_id, rule=registered_rule(settings))


@dataclass(frozen=True)
class DecisionRecord:
    decision_id: str
    series_id: str
    experiment_id: str
    phase: int
    student_weight: float
    decided_at: datetime
    decision: Decision
    action: str  # none | ramp | roll_back
    next_experiment_id: str | None

    def line(self) -> str:
        seq = self.decision.sequential
        iv = "n/a" if seq.ci_low is None else f"{seq.ratio:.3f} [{seq.ci_low:.3f}, {seq.ci_high:.3f}]"
        nxt = f" -> {self.next_experiment_id}" if self.next_experiment_id else ""
        return (f"{self.experiment_id} phase {self.phase} (student {self.student_weight:.0%}): "
                f"{self.decision.outcome} ({self.decision.check}); ratio {iv}; action {self.action}{nxt}; "
                f"{self.decision.reason}")


def _previous(s: Session, experiment_id: str) -> RatioInterval | None:
    row = s.scalars(select(ExperimentDecision).where(ExperimentDecision.experiment_id == experiment_id)
                    .order_by(ExperimentDecision.decided_at.desc()).limit(1)).first()
    if row is None or row.seq_low is None:
        return None
    return RatioInterval(row.ratio, row.seq_low, row.seq_high, None, row.users_student + row.users_teacher)


def _arms(s: Session, experiment_id: str) -> dict[str, ExperimentArm]:
    return {a.arm: a for a in s.scalars(select(ExperimentArm).where(ExperimentArm.experiment_id == experiment_id))}


def _look(s: Session, exp: Experiment, as_of: datetime, arms: dict[str, ExperimentArm]) -> Look:
    """The compared arms' figures, the treatment in the student's place and the control in the teacher's."""
    conn = s.connection()
    sums = arm_sums(unit_rows(conn, experiment_id=exp.experiment_id, as_of=as_of))
    ops = arm_ops(conn, experiment_id=exp.experiment_id, as_of=as_of)
    treat, ctrl = compared_arms({a.arm: a.weight for a in arms.values()})
    return Look(student=sums.get(treat, ArmSums()), teacher=sums.get(ctrl, ArmSums()),
                weights={STUDENT_ARM: arms[treat].weight if treat in arms else 0.0,
                         TEACHER_ARM: arms[ctrl].weight if ctrl in arms else 0.0},
                student_ops=ops.get(treat, ArmOps()), teacher_ops=ops.get(ctrl, ArmOps()), labels=(treat, ctrl))


def decide_phase(engine: Engine, *, settings: Settings, experiment_id: str | None = None,
                 as_of: datetime | None = None, apply: bool | None = None) -> DecisionRecord | None:
    """Look at ``experiment_id`` (default: the active experiment), record the decision and, when ``apply`` (default:
    ``experiment_apply_decisions``), act on it. None when there is nothing to decide (no active experiment, or a
    phase without a student arm: the teacher alone after a roll back)."""
    as_of = as_of or datetime.now(UTC)
    apply = settings.experiment_apply_decisions if apply is None else apply
    with Session(engine) as s, s.begin():
        if experiment_id is None:
            experiment_id = s.scalars(select(Experiment.experiment_id).where(Experiment.status == "active")
                                      .order_by(Experiment.started_at.desc()).limit(1)).first()
            if experiment_id is None:
                return None
        arms = _arms(s, experiment_id)
        treat, ctrl = compared_arms({a.arm: a.weight for a in arms.values()})
        if treat != STUDENT_ARM:
            lock_promotions(s)  # before the row lock: a ship promotes in the registry
        exp = s.get(Experiment, experiment_id, with_for_update=True)
        if exp is None:
            raise ExperimentError(f"unknown experiment {experiment_id!r}")
        info = phase_of(s, experiment_id) or register_phase(s, experiment_id=experiment_id,
                                                            rule=registered_rule(settings))
        look = _look(s, exp, as_of, arms)
        if look.weights.get(STUDENT_ARM, 0.0) <= 0:
            return None
        rule = rule_of(info.rule)
        d = decide(rule=rule, look=look, previous=_previous(s, experiment_id))
        decision_id = f"dec-{as_of:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
        action, nxt = "none", None
        models = {"treatment": treat, "control": ctrl, "treatment_model": arms[treat].model_ref,
                  "control_model": arms[ctrl].model_ref if ctrl in arms else None}
        if apply and exp.status == "active" and treat != STUDENT_ARM and d.outcome in (SHIP, ROLL_BACK):
            action = "promote" if d.outcome == SHIP else "drop"
            nxt = settle(s, experiment_id=experiment_id, challenger_model=str(arms[treat].model_ref),
                         champion_model=models["control_model"], won=d.outcome == SHIP, decision_id=decision_id,
                         why=d.reason, now=as_of)
        elif apply and exp.status == "active" and treat == STUDENT_ARM:
            if d.outcome == SHIP and info.student_weight < settings.experiment_ship_student_weight:
                action = "ramp"
                nxt = start_phase(s, current=experiment_id, student_weight=settings.experiment_ship_student_weight,
                                  reason="ship", decision_id=decision_id, now=as_of)
            elif d.outcome == ROLL_BACK:
                action = "roll_back"
                nxt = start_phase(s, current=experiment_id, student_weight=0.0, reason="roll_back",
                                  decision_id=decision_id, now=as_of)
        figures = d.figures | {"student_fallback_rate": look.student_ops.fallback_rate,
                               "student_contract_fix_rate": look.student_ops.contract_fix_rate,
                               "fixed_ratio": d.fixed.ratio, "se_log": d.sequential.se_log, "compared": models}
        s.add(ExperimentDecision(
            decision_id=decision_id, series_id=info.series_id, experiment_id=experiment_id, phase=info.phase,
            decided_at=as_of, outcome=d.outcome, check_name=d.check, reason=d.reason, action=action,
            next_experiment_id=nxt, ratio=d.sequential.ratio, seq_low=d.sequential.ci_low,
            seq_high=d.sequential.ci_high, fixed_low=d.fixed.ci_low, fixed_high=d.fixed.ci_high,
            users_student=look.student.users, users_teacher=look.teacher.users, srm_p_value=d.srm_p_value,
            rule=info.rule, figures=figures))
        return DecisionRecord(decision_id, info.series_id, experiment_id, info.phase, info.student_weight, as_of, d,
                              action, nxt)


@dataclass(frozen=True)
class DayLook:
    """One phase's end-of-day reading: the day's own fixed interval and the sequence over the phase so far."""

    experiment_id: str
    day: date
    daily: RatioInterval
    sequential: RatioInterval


def sequence_by_day(engine: Engine, *, experiment_id: str, rule: DecisionRule,
                    as_of: datetime | None = None) -> list[DayLook]:
    """The phase's looks at every UTC day end (for reading and plotting; decisions are the stored ones)."""
    with Session(engine) as s:
        rows = unit_rows(s.connection(), experiment_id=experiment_id,
                         as_of=as_of or datetime.now(UTC) + timedelta(days=1))
        treat, ctrl = compared_arms({a.arm: a.weight for a in _arms(s, experiment_id).values()})
    out: list[DayLook] = []
    running: RatioInterval | None = None
    for day in sorted({r.day for r in rows}):
        cum = arm_sums(rows, until=day)
        today = arm_sums([r for r in rows if r.day == day])
        seq = sequential_ratio(cum.get(treat, ArmSums()), cum.get(ctrl, ArmSums()), alpha=rule.alpha,
                               design_users=rule.design_users)
        running = intersect(running, seq)
        out.append(DayLook(experiment_id, day, fixed_ratio(today.get(treat, ArmSums()),
                                                           today.get(ctrl, ArmSums())), running))
    return out


def series_phases(engine: Engine, *, series_id: str) -> list[PhaseInfo]:
    from flywheel.db.experiments import ExperimentPhase

    with Session(engine) as s:
        rows = s.scalars(select(ExperimentPhase).where(ExperimentPhase.series_id == series_id)
                         .order_by(ExperimentPhase.phase)).all()
        return [PhaseInfo(r.experiment_id, r.series_id, r.phase, r.student_weight, r.rule, r.reason) for r in rows]
