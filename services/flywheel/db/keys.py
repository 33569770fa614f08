"""API keys of the assistant (revision 0011): only a sha256 of each key is stored, scoped to one app."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, DateTime, ForeignKey, Integer, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from flywheel.db.base import Base


class ApiKey(Base):
    __tablename__ = "api_keys"
    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    app: Mapped[str] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(Text, default="", server_default="")
    rate_per_minute: Mapped[int] = mapped_column(Integer, default=120, server_default="120")
    teacher_calls_per_day: Mapped[int] = mapped_column(Integer, default=2000, server_default="2000")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ApiKeyUsage(Base):
    """Requests and paid teacher calls per key per day (the daily teacher budget is checked against this)."""

    __tablename__ = "api_key_usage"
    key_id: Mapped[str] = mapped_column(String(16), ForeignKey("api_keys.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    requests: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    teacher_calls: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
