"""What the student saves, totalled from the per-day rows of ``analytics.arm_savings_daily`` (pure).

Per arm over all days: calls by backend, teacher calls/tokens/dollars avoided, spend, exported projects and the cost
per completed project. Latency percentiles do not add up over days: the totals carry the responses-weighted mean of
the daily p50/p95 (labelled as such); the exact ones per day are in the view.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

SUMMED = ("responses", "teacher_calls", "student_calls", "teacher_calls_avoided", "teacher_tokens_avoided",
          "teacher_usd_avoided", "spend_usd", "projects", "exported")


def _num(v: Any) -> float:
    return 0.0 if v is None else float(v)


def totals(rows: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, float | None]]:
    """arm -> summed figures, ``usd_per_completed_project`` and the responses-weighted mean daily p50/p95."""
    acc: dict[str, dict[str, float]] = {}
    for r in rows:
        t = acc.setdefault(str(r["arm"]), {k: 0.0 for k in SUMMED} | {"_p50w": 0.0, "_p95w": 0.0, "_w": 0.0})
        for k in SUMMED:
            t[k] += _num(r.get(k))
        if r.get("p50_latency_ms") is not None and r.get("p95_latency_ms") is not None:
            w = _num(r.get("responses"))
            t["_p50w"] += w * _num(r["p50_latency_ms"])
            t["_p95w"] += w * _num(r["p95_latency_ms"])
            t["_w"] += w
    out: dict[str, dict[str, float | None]] = {}
    for arm, t in sorted(acc.items()):
        w = t.pop("_w")
        p50, p95 = t.pop("_p50w"), t.pop("_p95w")
        row: dict[str, float | None] = dict(t)
        out[arm] = row | {
            "mean_daily_p50_ms": p50 / w if w else None, "mean_daily_p95_ms": p95 / w if w else None,
            "usd_per_completed_project": t["spend_usd"] / t["exported"] if t["exported"] else None}
    return out


def overall(rows: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    """Across arms: teacher calls avoided, tokens and dollars avoided, and the share of all calls the student served."""
    t = totals(rows)
    calls = sum(_num(a["responses"]) for a in t.values())
    student = sum(_num(a["student_calls"]) for a in t.values())
    return {"teacher_calls_avoided": sum(_num(a["teacher_calls_avoided"]) for a in t.values()),
            "teacher_tokens_avoided": sum(_num(a["teacher_tokens_avoided"]) for a in t.values()),
            "teacher_usd_avoided": sum(_num(a["teacher_usd_avoided"]) for a in t.values()),
            "spend_usd": sum(_num(a["spend_usd"]) for a in t.values()),
            "student_share_of_calls": student / calls if calls else 0.0}
