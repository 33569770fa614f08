"""`project_completion_rate` per arm for an A/B experiment: counted in SQL, stored, written as a report with a plot.

Definitions (docs/domain.md#online-metrics-and-the-ab-report):
- a project's arm is the arm on its `responses` rows inside the experiment window; a project that saw more than one
  arm (should not happen with per-user hashing) is counted once, under the arm of its first response, and the number
  of such projects is reported (`n_projects_multi_arm`);
- started = projects with at least one response of the arm in the window; exported = those with a `project_exports`
  row (at any time: exports after the window still complete a project started in it);
- the day of a project is the UTC date of its `project_started` event (its first response when that event is missing);
- the control arm is "teacher" when present (else the first configured arm); ratios are every other arm / control,
  overall and per day (`daily_ratios`, the same delta-method interval on that day's counts);
- the model that served an arm on a day is the most frequent `model_version` of its responses that day
  (`daily_models`; a promotion during a day shows the version that answered most);
- without an `experiments` row the report covers all traffic, and the SRM test is skipped (no configured weights);
- every count is also split into projects that asked only SEEN intents and those that asked a NEW one
  (`*_by_segment`, rule in ab_segments); seen + new = the unsplit row.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, insert, text

from flywheel.assistant.routing import assign_arm
from flywheel.db.engine import owned_engine
from flywheel.db.reports import ABReportArm, ABReportDaily, ABReportRow
from flywheel.db.runs import track_run
from flywheel.reports.ab_segments import (
    PROJECTS_SQL,
    ArmSegment,
    DailySegment,
    DailySegmentRatio,
    SegmentRatio,
    arm_segments,
    daily_segment_ratios,
    daily_segments,
    segment_counts,
    segment_ratios,
)
from flywheel.reports.ab_stats import RatioCI, SRMResult, rate_ratio, srm_test, wilson_interval
from flywheel.reports.render import render_markdown, render_plot
from flywheel.settings import Settings

CONTROL_ARM = "teacher"


class ABReportError(RuntimeError):
    """The report cannot be computed (unknown experiment, no traffic, ...). The message says why."""


@dataclass(frozen=True)
class ArmResult:
    arm: str
    weight: float | None
    started: int
    exported: int
    rate: float | None
    ci_low: float | None
    ci_high: float | None


@dataclass(frozen=True)
class DailyResult:
    day: date
    arm: str
    started: int
    exported: int
    rate: float | None
    ci_low: float | None
    ci_high: float | None


@dataclass(frozen=True)
class DailyRatio:
    day: date
    numerator: str
    denominator: str
    ratio: float | None
    ci_low: float | None
    ci_high: float | None


@dataclass(frozen=True)
class DailyModel:
    day: date
    arm: str
    model_version: str
    responses: int


@dataclass
class ABReport:
    report_id: str
    experiment_id: str | None
    generated_at: datetime
    since: datetime | None
    until: datetime | None
    control_arm: str
    arms: list[ArmResult]
    ratios: list[RatioCI]
    srm: SRMResult | None
    daily: list[DailyResult]
    n_projects_multi_arm: int = 0
    assignment_mismatches: int | None = None
    paths: dict[str, str] = field(default_factory=dict)
    daily_ratios: list[DailyRatio] = field(default_factory=list)
    daily_models: list[DailyModel] = field(default_factory=list)
    # The same counts split into projects that asked only seen intents and those that asked a new one (ab_segments).
    daily_by_segment: list[DailySegment] = field(default_factory=list)
    daily_ratios_by_segment: list[DailySegmentRatio] = field(default_factory=list)
    arms_by_segment: list[ArmSegment] = field(default_factory=list)
    ratios_by_segment: list[SegmentRatio] = field(default_factory=list)

    def days(self) -> list[date]:
        return sorted({d.day for d in self.daily})

    def arm(self, name: str) -> ArmResult:
        for a in self.arms:
            if a.arm == name:
                return a
        raise KeyError(f"no arm {name!r} in report {self.report_id} (arms: {[a.arm for a in self.arms]})")

    def ratio(self, numerator: str, denominator: str | None = None) -> RatioCI:
        den = denominator or self.control_arm
        for r in self.ratios:
            if (r.numerator, r.denominator) == (numerator, den):
                return r
        raise KeyError(f"no ratio {numerator}/{den} in report {self.report_id}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        return json.loads(json.dumps(d, default=_json_default))

    def to_markdown(self) -> str:
        return render_markdown(self)


def _json_default(o: object) -> str:
    if isinstance(o, datetime | date):
        return o.isoformat()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


@dataclass(frozen=True)
class _Experiment:
    experiment_id: str | None
    salt: str | None
    since: datetime | None
    until: datetime | None
    weights: dict[str, float] | None  # configured arm -> weight, in configured order


def _table_exists(conn: Connection, name: str) -> bool:
    return bool(conn.execute(text("SELECT to_regclass(:n) IS NOT NULL"), {"n": name}).scalar())


def _resolve_experiment(conn: Connection, experiment_id: str | None) -> _Experiment:
    if not _table_exists(conn, "experiments"):
        if experiment_id is not None:
            raise ABReportError(f"experiment {experiment_id!r} requested but there is no experiments table "
                                "(run `flywheel db upgrade`)")
        return _Experiment(None, None, None, None, None)
    if experiment_id is None:
        # The running experiment if any, else the most recent one.
        row = conn.execute(text(
            "SELECT experiment_id FROM experiments ORDER BY (status = 'active') DESC, started_at DESC NULLS LAST, "
            "experiment_id DESC LIMIT 1")).first()
        if row is None:
            return _Experiment(None, None, None, None, None)
        experiment_id = row[0]
    exp = conn.execute(text(
        "SELECT experiment_id, salt, started_at, ended_at FROM experiments WHERE experiment_id = :e"),
        {"e": experiment_id}).first()
    if exp is None:
        known = [r[0] for r in conn.execute(text("SELECT experiment_id FROM experiments ORDER BY 1"))]
        raise ABReportError(f"unknown experiment {experiment_id!r}; known: {known or 'none'}")
    arms = conn.execute(text(
        "SELECT arm, weight FROM experiment_arms WHERE experiment_id = :e ORDER BY arm"), {"e": experiment_id}).all()
    if not arms:
        raise ABReportError(f"experiment {experiment_id!r} has no arms in experiment_arms")
    return _Experiment(exp[0], exp[1], exp[2], exp[3], {a: float(w) for a, w in arms})


def _window_sql(exp: _Experiment, alias: str = "r") -> tuple[str, dict[str, Any]]:
    where: list[str] = ["TRUE"]
    params: dict[str, Any] = {}
    if exp.weights is not None:
        where.append(f"{alias}.arm = ANY(:arms)")
        params["arms"] = list(exp.weights)
    if exp.since is not None:
        where.append(f"{alias}.occurred_at >= :since")
        params["since"] = exp.since
    if exp.until is not None:
        where.append(f"{alias}.occurred_at < :until")
        params["until"] = exp.until
    return " AND ".join(where), params


_MODELS_SQL = """
SELECT (r.occurred_at AT TIME ZONE 'UTC')::date AS day, r.arm,
       mode() WITHIN GROUP (ORDER BY r.model_version) AS model_version, count(*) AS responses
FROM responses r WHERE {where}
GROUP BY 1, 2
ORDER BY 1, 2
"""

_MULTI_ARM_SQL = """
SELECT count(*) FROM (
    SELECT r.project_id FROM responses r WHERE {where} GROUP BY r.project_id HAVING count(DISTINCT r.arm) > 1
) m
"""

_USERS_SQL = """
SELECT DISTINCT p.user_id, f.arm
FROM (SELECT DISTINCT ON (r.project_id) r.project_id, r.arm FROM responses r WHERE {where}
      ORDER BY r.project_id, r.occurred_at, r.event_id) f
JOIN projects p USING (project_id)
"""


def _assignment_mismatches(conn: Connection, exp: _Experiment, where: str, params: dict[str, Any]) -> int | None:
    """Projects whose served arm disagrees with the hash assignment (None for an experiment without salt/weights)."""
    if exp.salt is None or exp.weights is None:
        return None
    arms = list(exp.weights.items())
    rows = conn.execute(text(_USERS_SQL.format(where=where)), params).all()
    return sum(1 for user_id, arm in rows if assign_arm(user_id, exp.salt, arms) != arm)


def compute_ab(conn: Connection, experiment_id: str | None = None) -> ABReport:
    """All numbers of the report from the database (nothing stored, nothing written)."""
    exp = _resolve_experiment(conn, experiment_id)
    where, params = _window_sql(exp)
    # A project started before the experiment (e.g. just before midnight, answered just after) was not assigned by it.
    started_where = "coalesce(s.started_at, f.first_response_at) >= :since" if "since" in params else "TRUE"
    counts = segment_counts(rows=conn.execute(
        text(PROJECTS_SQL.format(where=where, started_where=started_where)), params).all())
    if not counts:
        scope = f"experiment {exp.experiment_id!r}" if exp.experiment_id else "all traffic"
        raise ABReportError(f"no projects with assistant responses for {scope} "
                            f"(window {exp.since} .. {exp.until or 'now'}); nothing to report")
    # Seen + new = the day's projects: the unsplit daily rows are the sums of the split ones.
    per_day: dict[tuple[date, str], list[int]] = {}
    for sc in counts:
        t = per_day.setdefault((sc.day, sc.arm), [0, 0])
        t[0] += sc.started
        t[1] += sc.exported
    daily = []
    totals: dict[str, list[int]] = {}
    for (day, arm), (started, exported) in sorted(per_day.items()):
        ci = wilson_interval(int(exported), int(started))
        daily.append(DailyResult(day, arm, int(started), int(exported), ci.rate, ci.ci_low, ci.ci_high))
        t = totals.setdefault(arm, [0, 0])
        t[0] += int(started)
        t[1] += int(exported)
    arm_names = list(exp.weights) if exp.weights else sorted(totals)
    # Control first: tables and plots read "control, then treatments".
    arm_names.sort(key=lambda a: a != CONTROL_ARM)
    arms = []
    for name in arm_names:
        started, exported = totals.get(name, [0, 0])
        ci = wilson_interval(exported, started)
        weight = exp.weights.get(name) if exp.weights else None
        arms.append(ArmResult(name, weight, started, exported, ci.rate, ci.ci_low, ci.ci_high))
    control = CONTROL_ARM if CONTROL_ARM in arm_names else arm_names[0]
    c = next(a for a in arms if a.arm == control)
    ratios = [rate_ratio(a.exported, a.started, c.exported, c.started, numerator=a.arm, denominator=control)
              for a in arms if a.arm != control]
    srm = None
    if exp.weights and len(exp.weights) >= 2:
        srm = srm_test({a.arm: a.started for a in arms}, exp.weights)
    multi = int(conn.execute(text(_MULTI_ARM_SQL.format(where=where)), params).scalar() or 0)
    models = [DailyModel(day, arm, str(mv), int(n))
              for day, arm, mv, n in conn.execute(text(_MODELS_SQL.format(where=where)), params)]
    by_segment = daily_segments(counts=counts)
    arms_by_segment = arm_segments(daily=by_segment, arms=arm_names)
    now = datetime.now(UTC)
    return ABReport(
        report_id=f"ab-{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}",
        experiment_id=exp.experiment_id, generated_at=now, since=exp.since, until=exp.until, control_arm=control,
        arms=arms, ratios=ratios, srm=srm, daily=daily, n_projects_multi_arm=multi,
        assignment_mismatches=_assignment_mismatches(conn, exp, where, params),
        daily_ratios=_daily_ratios(daily, control), daily_models=models,
        daily_by_segment=by_segment, daily_ratios_by_segment=daily_segment_ratios(daily=by_segment, control=control),
        arms_by_segment=arms_by_segment, ratios_by_segment=segment_ratios(arms=arms_by_segment, control=control),
    )


def _daily_ratios(daily: list[DailyResult], control: str) -> list[DailyRatio]:
    """Every other arm / control on each day both have traffic."""
    by_day: dict[date, dict[str, DailyResult]] = {}
    for d in daily:
        by_day.setdefault(d.day, {})[d.arm] = d
    out = []
    for day, arms in sorted(by_day.items()):
        c = arms.get(control)
        if c is None:
            continue
        for arm, d in sorted(arms.items()):
            if arm != control:
                r = rate_ratio(d.exported, d.started, c.exported, c.started, numerator=arm, denominator=control)
                out.append(DailyRatio(day, arm, control, r.ratio, r.ci_low, r.ci_high))
    return out


def store_report(conn: Connection, report: ABReport) -> None:
    d = report.to_dict()
    summary = {k: d[k] for k in ("control_arm", "ratios", "srm", "n_projects_multi_arm", "assignment_mismatches",
                                 "paths", "since", "until", "daily_ratios", "daily_models",
                                 "daily_by_segment", "daily_ratios_by_segment", "arms_by_segment",
                                 "ratios_by_segment")}
    conn.execute(insert(ABReportRow).values(
        report_id=report.report_id, experiment_id=report.experiment_id, generated_at=report.generated_at,
        params={"experiment_id": report.experiment_id}, summary=summary))
    conn.execute(insert(ABReportArm), [asdict(a) | {"report_id": report.report_id} for a in report.arms])
    conn.execute(insert(ABReportDaily),
                 [asdict(x) | {"report_id": report.report_id} for x in report.daily])


def ab_report(settings: Settings, experiment_id: str | None = None, out_dir: Path | str | None = None, *,
              airflow_run_id: str | None = None, engine: Engine | None = None) -> ABReport:
    """The report stage: compute the A/B report, write `<report_id>.md/.json/.png` under `out_dir` (default
    `{artifacts_dir}/reports/`) and store it in ab_reports / ab_report_arms / ab_report_daily."""
    with owned_engine(settings, engine) as eng, \
            track_run(eng, stage="report", inputs={"experiment_id": experiment_id},
                      airflow_run_id=airflow_run_id) as run_out:
        with eng.begin() as conn:
            report = compute_ab(conn, experiment_id)
            out = Path(out_dir) if out_dir is not None else Path(settings.artifacts_dir) / "reports"
            out.mkdir(parents=True, exist_ok=True)
            base = out / report.report_id
            report.paths = {"markdown": str(base.with_suffix(".md")), "json": str(base.with_suffix(".json")),
                            "plot": str(base.with_suffix(".png"))}
            render_plot(report, Path(report.paths["plot"]))
            Path(report.paths["json"]).write_text(json.dumps(report.to_dict(), indent=2) + "\n")
            Path(report.paths["markdown"]).write_text(render_markdown(report))
            store_report(conn, report)
        run_out.update(report_id=report.report_id, paths=report.paths)
    return report
