"""``groundtruth_request_spans``: per request, the span of ``occurred_at`` of its events the incremental fold has
read (flywheel.datasets.groundtruth_fold). The event tables are partitioned by ``occurred_at`` (0024); a night's fold
bounds each touched request's probes by this span widened by its new events, so it reads only the partitions where
that request's events can be. A span only ever widens, so rows that go later (retention, erasure) leave it a safe
over-approximation; the first fold rebuilds the table."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, String
from sqlalchemy.orm import Mapped, mapped_column

from flywheel.db.base import Base


class GroundTruthRequestSpan(Base):
    __tablename__ = "groundtruth_request_spans"
    request_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    lo: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    hi: Mapped[datetime] = mapped_column(DateTime(timezone=True))
