"""The A/B report's project counts, split into SEEN and NEW intents (docs/domain.md#what-is-counted).

A project is **new** on its day when at least one of its intents (``intent_norm``) had never been submitted before
that day began (UTC): no ``intent_submitted`` row of that text, from anyone, in any arm, earlier than the day's start,
over all history including the collection period. Otherwise it is **seen** (a project without any intent row asked
nothing new, so it is seen too). The split answers "does the student hold up on what nobody typed before?".

One query yields the report's per-(day, arm) counts split by segment; their sums are the report's daily rows, so the
two can never disagree. The rates, intervals and ratios use the same rules as the unsplit rows (D16).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from flywheel.reports.ab_stats import rate_ratio, wilson_interval

SEGMENTS = ("seen", "new")

# {where}: the window on responses (alias r); {started_where}: the start-in-window rule (aliases f, s).
PROJECTS_SQL = """
WITH first_any AS (
    -- A project answered before the experiment began was not assigned by it (e.g. a collection-period project
    -- whose later requests fall inside the window): only a project whose FIRST answer is in the window counts.
    SELECT DISTINCT ON (r.project_id) r.project_id, r.arm, r.occurred_at
    FROM responses r
    ORDER BY r.project_id, r.occurred_at, r.event_id
), first_resp AS (
    SELECT r.project_id, r.arm, r.occurred_at AS first_response_at FROM first_any r WHERE {where}
), started AS (
    SELECT project_id, min(occurred_at) AS started_at FROM projects GROUP BY project_id
), exported AS (
    SELECT DISTINCT project_id FROM project_exports
), proj AS (
    SELECT f.project_id, f.arm,
           (coalesce(s.started_at, f.first_response_at) AT TIME ZONE 'UTC')::date AS day,
           e.project_id IS NOT NULL AS exported
    FROM first_resp f
    LEFT JOIN started s USING (project_id)
    LEFT JOIN exported e USING (project_id)
    WHERE {started_where}
), asked AS (
    SELECT p.project_id, p.day, i.intent_norm FROM proj p JOIN intents i USING (project_id)
), first_seen AS (
    -- One pass over the intents of the texts asked (any time, anyone): cheaper than probing history per (day, text).
    SELECT o.intent_norm, min(o.occurred_at) AS first_at
    FROM intents o WHERE o.intent_norm IN (SELECT intent_norm FROM asked) GROUP BY 1
), new_projects AS (
    SELECT DISTINCT a.project_id FROM asked a JOIN first_seen f USING (intent_norm)
    WHERE f.first_at >= a.day::timestamp AT TIME ZONE 'UTC'
)
SELECT p.arm, p.day, (n.project_id IS NOT NULL) AS new,
       count(*) AS started, count(*) FILTER (WHERE p.exported) AS exported
FROM proj p
LEFT JOIN new_projects n USING (project_id)
GROUP BY 1, 2, 3
ORDER BY 2, 1, 3
"""


@dataclass(frozen=True)
class SegmentCount:
    """One row of PROJECTS_SQL: projects of one arm, day and segment."""
    arm: str
    day: date
    segment: str
    started: int
    exported: int


@dataclass(frozen=True)
class DailySegment:
    day: date
    arm: str
    segment: str  # "seen" | "new"
    started: int
    exported: int
    rate: float | None
    ci_low: float | None
    ci_high: float | None


@dataclass(frozen=True)
class DailySegmentRatio:
    day: date
    segment: str
    numerator: str
    denominator: str
    ratio: float | None
    ci_low: float | None
    ci_high: float | None


@dataclass(frozen=True)
class ArmSegment:
    arm: str
    segment: str
    started: int
    exported: int
    rate: float | None
    ci_low: float | None
    ci_high: float | None


@dataclass(frozen=True)
class SegmentRatio:
    segment: str
    numerator: str
    denominator: str
    ratio: float | None
    ci_low: float | None
    ci_high: float | None


def segment_counts(*, rows: Iterable[tuple[str, date, bool, int, int]]) -> list[SegmentCount]:
    return [SegmentCount(arm, day, "new" if new else "seen", int(started), int(exported))
            for arm, day, new, started, exported in rows]


def daily_segments(*, counts: list[SegmentCount]) -> list[DailySegment]:
    """Both segments for every (day, arm) with traffic; a segment without projects has n = 0 and no rate."""
    by_key = {(c.day, c.arm, c.segment): c for c in counts}
    out = []
    for day, arm in sorted({(c.day, c.arm) for c in counts}):
        for seg in SEGMENTS:
            c = by_key.get((day, arm, seg))
            started, exported = (c.started, c.exported) if c else (0, 0)
            ci = wilson_interval(exported, started)
            out.append(DailySegment(day, arm, seg, started, exported, ci.rate, ci.ci_low, ci.ci_high))
    return out


def daily_segment_ratios(*, daily: list[DailySegment], control: str) -> list[DailySegmentRatio]:
    """Every other arm / control, per day and segment, on each day the control has traffic."""
    by_day: dict[tuple[date, str], dict[str, DailySegment]] = {}
    for d in daily:
        by_day.setdefault((d.day, d.segment), {})[d.arm] = d
    out = []
    for (day, seg), arms in sorted(by_day.items(), key=lambda kv: (kv[0][0], SEGMENTS.index(kv[0][1]))):
        c = arms.get(control)
        if c is None:
            continue
        for arm, d in sorted(arms.items()):
            if arm != control:
                r = rate_ratio(d.exported, d.started, c.exported, c.started, numerator=arm, denominator=control)
                out.append(DailySegmentRatio(day, seg, arm, control, r.ratio, r.ci_low, r.ci_high))
    return out


def arm_segments(*, daily: list[DailySegment], arms: list[str]) -> list[ArmSegment]:
    """Each arm's projects over the whole window, per segment (a project keeps the segment of its own day)."""
    out = []
    for arm in arms:
        for seg in SEGMENTS:
            rows = [d for d in daily if d.arm == arm and d.segment == seg]
            started, exported = sum(d.started for d in rows), sum(d.exported for d in rows)
            ci = wilson_interval(exported, started)
            out.append(ArmSegment(arm, seg, started, exported, ci.rate, ci.ci_low, ci.ci_high))
    return out


def segment_ratios(*, arms: list[ArmSegment], control: str) -> list[SegmentRatio]:
    out = []
    for seg in SEGMENTS:
        c = next((a for a in arms if a.arm == control and a.segment == seg), None)
        if c is None:
            continue
        for a in arms:
            if a.segment == seg and a.arm != control:
                r = rate_ratio(a.exported, a.started, c.exported, c.started, numerator=a.arm, denominator=control)
                out.append(SegmentRatio(seg, a.arm, control, r.ratio, r.ci_low, r.ci_high))
    return out
