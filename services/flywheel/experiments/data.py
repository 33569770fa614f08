"""The figures one decision reads, from the database (the caller owns the connection).

Projects are counted as the A/B report counts them (D16) by reading ``analytics.experiment_assignments``: a project
belongs to the arm of its first response inside the phase's window. The unit is the user: a project without a
``project_started`` event (no user) counts as a user of its own. Exports are those known when the rule looks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, text

from flywheel.experiments.rule import ArmOps
from flywheel.experiments.sequential import ArmSums

_UNITS_SQL = """
SELECT arm, coalesce(user_id, 'project:' || project_id) AS unit,
       (project_started_at AT TIME ZONE 'UTC')::date AS day,
       count(*) AS n, count(*) FILTER (WHERE exported) AS x
FROM analytics.experiment_assignments
WHERE experiment_id = :e AND project_started_at < :as_of
GROUP BY 1, 2, 3
"""

_OPS_SQL = """
SELECT r.arm, count(*) AS responses,
       count(*) FILTER (WHERE r.arm <> 'teacher' AND r.served_by = 'teacher') AS fallbacks,
       count(*) FILTER (WHERE r.arm <> 'teacher' AND r.fallback_reason LIKE 'student_contract%') AS contract_fixes,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY r.latency_ms) FILTER (WHERE r.fallback_reason IS NULL) AS p50,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY r.latency_ms) FILTER (WHERE r.fallback_reason IS NULL) AS p95
FROM responses r
JOIN experiments e ON e.experiment_id = :e
WHERE r.arm IN (SELECT arm FROM experiment_arms WHERE experiment_id = :e)
  AND r.occurred_at >= e.started_at AND (e.ended_at IS NULL OR r.occurred_at < e.ended_at)
  AND r.occurred_at < :as_of
GROUP BY r.arm
"""

_SAVINGS_SQL = """
SELECT day, arm, responses, teacher_calls, student_calls, teacher_calls_avoided, teacher_tokens_avoided,
       teacher_usd_avoided, spend_usd, p50_latency_ms, p95_latency_ms, projects, exported, usd_per_completed_project
FROM analytics.arm_savings_daily WHERE experiment_id = ANY(:e) ORDER BY day, arm
"""


@dataclass(frozen=True)
class UnitRow:
    arm: str
    unit: str
    day: date
    projects: int
    exported: int


def unit_rows(conn: Connection, *, experiment_id: str, as_of: datetime) -> list[UnitRow]:
    """Per arm, user and start day: projects and exported projects."""
    rows = conn.execute(text(_UNITS_SQL), {"e": experiment_id, "as_of": as_of}).all()
    return [UnitRow(a, u, d, int(n), int(x)) for a, u, d, n, x in rows]


def arm_sums(rows: list[UnitRow], *, until: date | None = None) -> dict[str, ArmSums]:
    """Per-user sums per arm over the rows started on or before ``until`` (all of them without it)."""
    per_user: dict[tuple[str, str], list[int]] = {}
    for r in rows:
        if until is None or r.day <= until:
            t = per_user.setdefault((r.arm, r.unit), [0, 0])
            t[0] += r.exported
            t[1] += r.projects
    by_arm: dict[str, list[tuple[float, float]]] = {}
    for (arm, _), (x, n) in per_user.items():
        by_arm.setdefault(arm, []).append((x, n))
    return {arm: ArmSums.of(xs) for arm, xs in by_arm.items()}


def arm_ops(conn: Connection, *, experiment_id: str, as_of: datetime) -> dict[str, ArmOps]:
    out = {}
    for arm, n, fb, cf, p50, p95 in conn.execute(text(_OPS_SQL), {"e": experiment_id, "as_of": as_of}):
        out[arm] = ArmOps(int(n), int(fb), int(cf), None if p50 is None else float(p50),
                          None if p95 is None else float(p95))
    return out


def savings_rows(conn: Connection, *, experiment_ids: list[str]) -> list[dict[str, Any]]:
    """analytics.arm_savings_daily for these phases, one dict per day and arm."""
    cols = ("day", "arm", "responses", "teacher_calls", "student_calls", "teacher_calls_avoided",
            "teacher_tokens_avoided", "teacher_usd_avoided", "spend_usd", "p50_latency_ms", "p95_latency_ms",
            "projects", "exported", "usd_per_completed_project")
    out = []
    for row in conn.execute(text(_SAVINGS_SQL), {"e": experiment_ids}):
        out.append({c: (float(v) if hasattr(v, "as_tuple") else v) for c, v in zip(cols, row, strict=True)})
    return out
