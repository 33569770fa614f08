"""The daily A/B report step (`ab_report` DAG)."""

from __future__ import annotations

import logging
from typing import Any

from flywheel.reports.ab import ab_report as build_report
from flywheel.settings import Settings

log = logging.getLogger(__name__)


def ab_report(settings: Settings, *, experiment_id: str | None = None,
              airflow_run_id: str | None = None) -> dict[str, Any]:
    """Compute, store and write the report; returns its id and file paths (the asset's extra)."""
    rep = build_report(settings, experiment_id=experiment_id or None, airflow_run_id=airflow_run_id)
    log.info("A/B report %s\n%s", rep.report_id, rep.to_markdown())
    if rep.srm is not None and rep.srm.flagged:
        log.warning("SAMPLE-RATIO MISMATCH: p = %.3g; the assignment looks broken", rep.srm.p_value)
    return {"report_id": rep.report_id, **rep.paths}
