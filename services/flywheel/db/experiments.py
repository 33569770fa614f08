"""A/B experiment configuration (table-backed): experiments and their arms, plus a small API to manage them.

At most one experiment is ``active``; activating one ends the one before. An experiment created without activation
is a ``draft`` (status values: 'draft' | 'active' | 'ended'). The assistant reads the active one; with none, every
user is served by the teacher (arm 'teacher').

An experiment that decides (flywheel.experiments) runs in PHASES: each phase is its own ``experiments`` row (its own
salt, weights and window, so its own analysis), and ``experiment_phases`` ties the phases of one series together with
the rule registered for them and why each began. ``experiment_decisions`` keeps every decision with its figures.
A model promoted in challenger mode enters as a phase of its own (:func:`enter_challenger`), decided by the same
rule and ended by :func:`end_challenger` (docs/domain.md#champion-and-challenger).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Double, Engine, ForeignKey, Integer, Text, func, select, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, Session, mapped_column

from flywheel.db.base import Base

BACKENDS = ("teacher", "student")
TEACHER_ARM = "teacher"
STUDENT_ARM = "student"  # the arm a decided experiment weighs against the teacher; in a challenger phase, the champion
CHALLENGER_ARM = "challenger"


class Experiment(Base):
    __tablename__ = "experiments"
    experiment_id: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    salt: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, index=True)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ExperimentArm(Base):
    __tablename__ = "experiment_arms"
    experiment_id: Mapped[str] = mapped_column(Text, ForeignKey("experiments.experiment_id", ondelete="CASCADE"),
                                               primary_key=True)
    arm: Mapped[str] = mapped_column(Text, primary_key=True)
    weight: Mapped[float] = mapped_column(Double)
    backend: Mapped[str] = mapped_column(Text)
    model_ref: Mapped[str | None] = mapped_column(Text, nullable=True)


class ExperimentPhase(Base):
    """One phase of a series: which experiments row serves it, the rule registered for it, and why it began."""

    __tablename__ = "experiment_phases"
    experiment_id: Mapped[str] = mapped_column(Text, ForeignKey("experiments.experiment_id", ondelete="CASCADE"),
                                               primary_key=True)
    series_id: Mapped[str] = mapped_column(Text, index=True)  # the first phase's experiment_id
    phase: Mapped[int] = mapped_column(Integer)
    student_weight: Mapped[float] = mapped_column(Double)
    rule: Mapped[dict[str, Any]] = mapped_column(JSONB)
    # 'start' | 'ship' | 'roll_back' | 'challenger' | 'challenger_ship' | 'challenger_roll_back' | an operator's note
    reason: Mapped[str] = mapped_column(Text)
    decision_id: Mapped[str | None] = mapped_column(Text, nullable=True)  # the decision that began it
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ExperimentDecision(Base):
    """One look of the rule at one phase: the outcome, the check that decided, every figure it read."""

    __tablename__ = "experiment_decisions"
    decision_id: Mapped[str] = mapped_column(Text, primary_key=True)
    series_id: Mapped[str] = mapped_column(Text, index=True)
    experiment_id: Mapped[str] = mapped_column(Text, ForeignKey("experiments.experiment_id", ondelete="CASCADE"),
                                               index=True)
    phase: Mapped[int] = mapped_column(Integer)
    decided_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[str] = mapped_column(Text)  # ship | keep_testing | roll_back
    check_name: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(Text)  # none | ramp | roll_back; a challenger phase: none | promote | drop
    next_experiment_id: Mapped[str | None] = mapped_column(Text, nullable=True)
    ratio: Mapped[float | None] = mapped_column(Double, nullable=True)
    seq_low: Mapped[float | None] = mapped_column(Double, nullable=True)
    seq_high: Mapped[float | None] = mapped_column(Double, nullable=True)
    fixed_low: Mapped[float | None] = mapped_column(Double, nullable=True)
    fixed_high: Mapped[float | None] = mapped_column(Double, nullable=True)
    users_student: Mapped[int] = mapped_column(Integer)
    users_teacher: Mapped[int] = mapped_column(Integer)
    srm_p_value: Mapped[float | None] = mapped_column(Double, nullable=True)
    rule: Mapped[dict[str, Any]] = mapped_column(JSONB)
    figures: Mapped[dict[str, Any]] = mapped_column(JSONB)


class ExperimentError(ValueError):
    pass


@dataclass(frozen=True)
class ArmSpec:
    arm: str
    weight: float
    backend: str
    model_ref: str | None = None


@dataclass(frozen=True)
class ExperimentConfig:
    experiment_id: str
    name: str
    salt: str
    status: str
    started_at: datetime | None
    ended_at: datetime | None
    arms: tuple[ArmSpec, ...]

    def weights(self) -> list[tuple[str, float]]:
        return [(a.arm, a.weight) for a in self.arms]

    def arm(self, name: str) -> ArmSpec:
        return next(a for a in self.arms if a.arm == name)


def parse_arms(spec: str) -> list[ArmSpec]:
    """``name:weight:backend[:model_ref],...`` e.g. ``teacher:0.5:teacher,student:0.5:student``."""
    arms = []
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        bits = part.split(":", 3)
        if len(bits) < 3:
            raise ExperimentError(f"arm {part!r}: expected name:weight:backend[:model_ref]")
        try:
            weight = float(bits[1])
        except ValueError as exc:
            raise ExperimentError(f"arm {part!r}: weight {bits[1]!r} is not a number") from exc
        arms.append(ArmSpec(bits[0], weight, bits[2], bits[3] if len(bits) > 3 and bits[3] else None))
    validate_arms(arms)
    return arms


def validate_arms(arms: list[ArmSpec]) -> None:
    if not arms:
        raise ExperimentError("an experiment needs at least one arm")
    names = [a.arm for a in arms]
    if len(set(names)) != len(names):
        raise ExperimentError(f"arm names must be unique, got {names}")
    for a in arms:
        if not a.arm or len(a.arm) > 64:
            raise ExperimentError(f"arm name {a.arm!r} must be 1..64 characters")
        if a.backend not in BACKENDS:
            raise ExperimentError(f"arm {a.arm!r}: backend {a.backend!r} is not one of {BACKENDS}")
        if a.backend == "teacher" and a.arm != TEACHER_ARM:
            # Ground truth selects teacher rows by arm='teacher'; another name would hide them.
            raise ExperimentError(f"the teacher backend's arm must be named {TEACHER_ARM!r}, got {a.arm!r}")
        if not a.weight >= 0:
            raise ExperimentError(f"arm {a.arm!r}: weight must be >= 0, got {a.weight}")
    if sum(a.weight for a in arms) <= 0:
        raise ExperimentError("arm weights must not all be 0")


def _config(s: Session, e: Experiment) -> ExperimentConfig:
    arms = s.scalars(select(ExperimentArm).where(ExperimentArm.experiment_id == e.experiment_id)
                     .order_by(ExperimentArm.arm)).all()
    return ExperimentConfig(e.experiment_id, e.name, e.salt, e.status, e.started_at, e.ended_at,
                            tuple(ArmSpec(a.arm, a.weight, a.backend, a.model_ref) for a in arms))


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "exp"


def create_experiment(engine: Engine, name: str, arms: list[ArmSpec], *, salt: str | None = None,
                      activate: bool = True, experiment_id: str | None = None,
                      now: datetime | None = None) -> ExperimentConfig:
    validate_arms(arms)
    if not name.strip():
        raise ExperimentError("experiment name must not be empty")
    now = now or datetime.now(UTC)
    eid = experiment_id or f"exp-{now:%Y%m%d}-{_slug(name)}-{secrets.token_hex(3)}"
    with Session(engine) as s, s.begin():
        if s.get(Experiment, eid) is not None:
            raise ExperimentError(f"experiment {eid!r} already exists")
        s.add(Experiment(experiment_id=eid, name=name, salt=salt or secrets.token_hex(8), status="draft",
                         started_at=None, ended_at=None))
        s.flush()
        s.add_all(ExperimentArm(experiment_id=eid, arm=a.arm, weight=a.weight, backend=a.backend,
                                model_ref=a.model_ref) for a in arms)
    return activate_experiment(engine, eid, now=now) if activate else get_experiment(engine, eid)


def get_experiment(engine: Engine, experiment_id: str) -> ExperimentConfig:
    with Session(engine) as s:
        e = s.get(Experiment, experiment_id)
        if e is None:
            known = s.scalars(select(Experiment.experiment_id).order_by(Experiment.experiment_id)).all()
            raise ExperimentError(f"unknown experiment {experiment_id!r}; known: {list(known) or 'none'}")
        return _config(s, e)


def activate_experiment(engine: Engine, experiment_id: str, *, now: datetime | None = None) -> ExperimentConfig:
    """Make it the active experiment (ending any other active one) — one transaction, row-locked."""
    now = now or datetime.now(UTC)
    with Session(engine) as s, s.begin():
        e = s.get(Experiment, experiment_id, with_for_update=True)
        if e is None:
            raise ExperimentError(f"unknown experiment {experiment_id!r}")
        if e.status == "ended":
            raise ExperimentError(f"experiment {experiment_id!r} has ended; create a new one (a new salt too)")
        s.execute(update(Experiment).where(Experiment.status == "active", Experiment.experiment_id != experiment_id)
                  .values(status="ended", ended_at=now))
        if e.status != "active":
            e.status, e.started_at, e.ended_at = "active", now, None
    return get_experiment(engine, experiment_id)


def end_experiment(engine: Engine, experiment_id: str, *, now: datetime | None = None) -> ExperimentConfig:
    with Session(engine) as s, s.begin():
        e = s.get(Experiment, experiment_id, with_for_update=True)
        if e is None:
            raise ExperimentError(f"unknown experiment {experiment_id!r}")
        if e.status != "ended":
            e.status, e.ended_at = "ended", now or datetime.now(UTC)
    return get_experiment(engine, experiment_id)


def active_experiment(engine: Engine) -> ExperimentConfig | None:
    with Session(engine) as s:
        e = s.scalars(select(Experiment).where(Experiment.status == "active")
                      .order_by(Experiment.started_at.desc()).limit(1)).first()
        return None if e is None else _config(s, e)


def list_experiments(engine: Engine) -> list[ExperimentConfig]:
    with Session(engine) as s:
        rows = s.scalars(select(Experiment).order_by(Experiment.started_at.desc().nulls_last(),
                                                     Experiment.experiment_id)).all()
        return [_config(s, e) for e in rows]


@dataclass(frozen=True)
class PhaseInfo:
    experiment_id: str
    series_id: str
    phase: int
    student_weight: float
    rule: dict[str, Any]
    reason: str


def register_phase(session: Session, *, experiment_id: str, rule: dict[str, Any], series_id: str | None = None,
                   phase: int = 1, reason: str = "start", decision_id: str | None = None) -> PhaseInfo:
    """Record ``experiment_id`` as a phase (the first of its own series by default) with its pre-registered rule."""
    e = session.get(Experiment, experiment_id)
    if e is None:
        raise ExperimentError(f"unknown experiment {experiment_id!r}")
    arms = session.scalars(select(ExperimentArm).where(ExperimentArm.experiment_id == experiment_id)).all()
    total = sum(a.weight for a in arms) or 1.0
    weight = sum(a.weight for a in arms if a.backend == "student") / total
    row = ExperimentPhase(experiment_id=experiment_id, series_id=series_id or experiment_id, phase=phase,
                          student_weight=weight, rule=rule, reason=reason, decision_id=decision_id)
    session.add(row)
    session.flush()
    return PhaseInfo(experiment_id, row.series_id, phase, weight, rule, reason)


def phase_of(session: Session, experiment_id: str) -> PhaseInfo | None:
    row = session.get(ExperimentPhase, experiment_id)
    return None if row is None else PhaseInfo(row.experiment_id, row.series_id, row.phase, row.student_weight,
                                              row.rule, row.reason)


def start_phase(session: Session, *, current: str, student_weight: float, reason: str, decision_id: str | None,
                now: datetime) -> str:
    """End phase ``current`` and begin the next one of its series in the same transaction (the caller's): a new
    experiments row with the same arms at the new weights (``student_weight`` 0: the teacher alone), a salt of its
    own (the series' salt and the phase number, so a rerun reshuffles the same way), active from ``now``. The
    assistant picks it up on its next read of the active experiment (ExperimentCache, ``experiment_ttl_s``)."""
    if not 0 <= student_weight <= 1:
        raise ExperimentError(f"student_weight must be in [0, 1], got {student_weight}")
    arms = session.scalars(select(ExperimentArm).where(ExperimentArm.experiment_id == current)).all()
    new_arms = [ArmSpec(TEACHER_ARM, 1.0 - student_weight, "teacher")]
    new_arms += [ArmSpec(a.arm, student_weight, a.backend, a.model_ref) for a in arms if a.backend == "student"]
    return begin_phase(session, current=current, arms=new_arms, reason=reason, decision_id=decision_id, now=now)


def begin_phase(session: Session, *, current: str, arms: list[ArmSpec], reason: str, decision_id: str | None,
                now: datetime) -> str:
    """End phase ``current`` and begin the next one of its series with these ``arms`` (weight-0 arms left out), in
    the caller's transaction; returns the new phase's experiment_id (``{series}-p{n}``)."""
    old = session.get(Experiment, current, with_for_update=True)
    info = phase_of(session, current)
    if old is None or info is None:
        raise ExperimentError(f"experiment {current!r} is not a phase of a decided experiment")
    series = session.get(Experiment, info.series_id)
    phase = info.phase + 1
    eid = f"{info.series_id}-p{phase}"
    if session.get(Experiment, eid) is not None:
        raise ExperimentError(f"phase {eid!r} already exists")
    new_arms = [a for a in arms if a.weight > 0]
    validate_arms(new_arms)
    session.execute(update(Experiment).where(Experiment.status == "active")
                    .values(status="ended", ended_at=now))
    old.status, old.ended_at = "ended", old.ended_at or now
    session.add(Experiment(experiment_id=eid, name=f"{series.name if series else old.name} (phase {phase})",
                           salt=f"{series.salt if series else old.salt}/p{phase}", status="active",
                           started_at=now, ended_at=None))
    session.flush()
    session.add_all(ExperimentArm(experiment_id=eid, arm=a.arm, weight=a.weight, backend=a.backend,
                                  model_ref=a.model_ref) for a in new_arms)
    register_phase(session, experiment_id=eid, rule=info.rule, series_id=info.series_id, phase=phase,
                   reason=reason, decision_id=decision_id)
    return eid


def _arms(session: Session, experiment_id: str) -> dict[str, ExperimentArm]:
    rows = session.scalars(select(ExperimentArm).where(ExperimentArm.experiment_id == experiment_id))
    return {a.arm: a for a in rows}


def _kept(arms: dict[str, ExperimentArm]) -> list[ArmSpec]:
    """The arms a champion/challenger change leaves as they were (the teacher holdout, any other arm)."""
    return [ArmSpec(a.arm, a.weight, a.backend, a.model_ref) for a in arms.values()
            if a.arm not in (STUDENT_ARM, CHALLENGER_ARM)]


def enter_challenger(session: Session, *, model_id: str, champion_id: str, now: datetime) -> str | None:
    """Start a challenger phase of the active experiment in the caller's transaction (which should hold the
    promotion lock): the student arm's share is split in two equal arms, ``student`` pinned to the champion (its
    pinned model, else ``champion_id``: production) and ``challenger`` pinned to ``model_id``; other arms (the
    teacher holdout) keep their weights. Returns the new phase's id, or None when nothing serves a student (no
    active experiment, or its student arm at weight 0): there is no champion to challenge. Raises ExperimentError
    when a challenger is already under test or the experiment has no pre-registered rule to decide with."""
    current = session.scalars(select(Experiment.experiment_id).where(Experiment.status == "active")
                              .order_by(Experiment.started_at.desc()).limit(1)).first()
    if current is None:
        return None
    arms = _arms(session, current)
    student = arms.get(STUDENT_ARM)
    if student is None or student.backend != "student" or student.weight <= 0:
        return None
    if CHALLENGER_ARM in arms:
        raise ExperimentError(f"challenger {arms[CHALLENGER_ARM].model_ref} is under test in {current}; its "
                              "experiment's rule decides it first")
    if phase_of(session, current) is None:
        raise ExperimentError(f"the active experiment {current!r} has no pre-registered rule to decide a challenger "
                              "with (its first look registers one)")
    champion = student.model_ref or champion_id
    if champion == model_id:
        raise ExperimentError(f"{model_id} is already the champion of {current}")
    half = student.weight / 2
    new = [*_kept(arms), ArmSpec(STUDENT_ARM, half, "student", champion),
           ArmSpec(CHALLENGER_ARM, half, "student", model_id)]
    return begin_phase(session, current=current, arms=new, reason="challenger", decision_id=f"promotion:{model_id}",
                       now=now)


def end_challenger(session: Session, *, current: str, won: bool, decision_id: str, now: datetime) -> str:
    """The next phase after a challenger phase's decision, in the caller's transaction: one ``student`` arm with
    the champion's and the challenger's shares together, other arms unchanged. It serves what the student arm
    served before the challenger came (production, or an operator's pin), except that a pin moves to the
    challenger when it ``won`` (the caller promotes it to production in the same transaction)."""
    arms = _arms(session, current)
    info = phase_of(session, current)
    champ, chal = arms.get(STUDENT_ARM), arms.get(CHALLENGER_ARM)
    if info is None or champ is None or chal is None:
        raise ExperimentError(f"{current!r} is not a challenger phase (arms {STUDENT_ARM!r} and {CHALLENGER_ARM!r})")
    before = session.scalars(select(ExperimentPhase.experiment_id).where(
        ExperimentPhase.series_id == info.series_id, ExperimentPhase.phase == info.phase - 1)).first()
    pinned = None if before is None else _arms(session, before).get(STUDENT_ARM)
    ref = pinned.model_ref if pinned is not None else None
    if won and ref is not None:
        ref = chal.model_ref
    new = [*_kept(arms), ArmSpec(STUDENT_ARM, champ.weight + chal.weight, "student", ref)]
    return begin_phase(session, current=current, arms=new, decision_id=decision_id, now=now,
                       reason="challenger_ship" if won else "challenger_roll_back")
