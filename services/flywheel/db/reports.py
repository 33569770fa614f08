"""A/B report tables (revision 0007): one row per generated report, its per-arm numbers and its daily trend.

Reports are append-only snapshots so an analyst can see how the estimate moved while an experiment ran.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, DateTime, Double, ForeignKey, Integer, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from flywheel.db.base import Base


class ABReportRow(Base):
    __tablename__ = "ab_reports"

    report_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    experiment_id: Mapped[str | None] = mapped_column(String(64), index=True)
    generated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    params: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    # Ratios between arms, SRM test, file paths: everything that is not one number per arm.
    summary: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)


class ABReportArm(Base):
    __tablename__ = "ab_report_arms"

    report_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("ab_reports.report_id", ondelete="CASCADE"), primary_key=True)
    arm: Mapped[str] = mapped_column(String(64), primary_key=True)
    weight: Mapped[float | None] = mapped_column(Double)
    started: Mapped[int] = mapped_column(Integer)
    exported: Mapped[int] = mapped_column(Integer)
    rate: Mapped[float | None] = mapped_column(Double)
    ci_low: Mapped[float | None] = mapped_column(Double)
    ci_high: Mapped[float | None] = mapped_column(Double)


class ABReportDaily(Base):
    __tablename__ = "ab_report_daily"

    report_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("ab_reports.report_id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    arm: Mapped[str] = mapped_column(String(64), primary_key=True)
    started: Mapped[int] = mapped_column(Integer)
    exported: Mapped[int] = mapped_column(Integer)
    rate: Mapped[float | None] = mapped_column(Double)
    ci_low: Mapped[float | None] = mapped_column(Double)
    ci_high: Mapped[float | None] = mapped_column(Double)
