"""A/B experiment configuration (table-backed): experiments and their arms, plus a small API to manage them.

At most one experiment is ``active``; activating one ends the one before. An experiment created without activation
is a ``draft`` (status values: 'draft' | 'active' | 'ended'). The assistant reads the active one; with none, every
user is served by the teacher (arm 'teacher').
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import DateTime, Double, Engine, ForeignKey, Text, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from flywheel.db.base import Base

BACKENDS = ("teacher", "student")
TEACHER_ARM = "teacher"


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
