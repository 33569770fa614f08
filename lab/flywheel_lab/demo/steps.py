"""The demo's steps: timed headings, ingest, one night of the real nightly DAG and its offline tables."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from flywheel.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class DemoOptions:
    intents: int = 3000  # unique intents of day 0 (the collection period), and the catalogue every day draws from
    days: int = 5  # A/B days after day 0, each after one night (5: ~11 min measured, the 15-min goal with margin)
    seed: int = 7
    test_size: int = 300
    ab_fraction: float = 0.3  # share of a collection-sized day's projects that one A/B day serves (same mix)
    # Share of an A/B day's projects whose intents were never seen before (flywheel_lab.simulator.novel): unseen
    # variants, held-out wordings, new wrappers; new ones every day.
    new_share: float = 0.3
    ab_workers: int = 6
    max_steps: int | None = None
    init_from: str = "production"  # the nights after the first continue the production model
    # Training epochs of a warm-started night (None: the config default). A warm night continues a model that
    # already fits yesterday's data, so a few epochs over today's ground truth suffice and keep a night short.
    warm_epochs: float | None = 20.0
    groundtruth_arms: str | None = None  # None: the setting
    backend: str | None = None  # the student family; None: the nightly DAG's default
    keep: bool = False


@dataclass
class DayResult:
    day: int
    date: str
    model_id: str | None = None  # the production student that served the day
    rq1_overall: float | None = None  # its offline RQ1 overall on its own test split
    promoted: bool = False  # the night before promoted a new student
    truth: dict[str, dict[str, float]] = field(default_factory=dict)  # the simulator's hidden truth per arm
    # The paired referee per arm and subset (all / seen / new): SimulationSummary.paired_by_arm.
    paired: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    requests: int = 0
    failed_requests: int = 0
    new_requests: int = 0
    # The decision taken at the day's end (flywheel.experiments.decide): outcome, check, action, the phase and
    # student share that served the day, the sequential interval; empty when nothing was decided.
    decision: dict[str, Any] = field(default_factory=dict)
    # The serving student on the referee's held-out wordings (flywheel_lab.checks.wordings.WordingFigures as a dict):
    # RQ1 held-out / canonical on every look, on looks whose held-out words the training data has met, and on the rest.
    wordings: dict[str, Any] = field(default_factory=dict)

    def paired_ratio(self, subset: str = "all", arm: str = "student") -> float | None:
        """The arm's true completion over the teacher stand-in's expected completion on the same projects."""
        st = self.paired.get(arm, {}).get(subset)
        return None if st is None or not st["teacher_rate"] else st["paired_ratio"]

    @property
    def true_ratio(self) -> float | None:
        """The student's paired true ratio on all its projects: what the A/B ratio estimates."""
        return self.paired_ratio("all")

    @property
    def unpaired_ratio(self) -> float | None:
        """The student arm's true rate over the teacher arm's: two different crowds (kept for reference)."""
        t = self.truth
        if "teacher" not in t or "student" not in t or not t["teacher"]["true_rate"]:
            return None
        return t["student"]["true_rate"] / t["teacher"]["true_rate"]


@dataclass
class DemoResult:
    steps: dict[str, float] = field(default_factory=dict)
    split_id: str | None = None
    model_id: str | None = None
    promoted: bool = False
    report_path: str | None = None
    plot_path: str | None = None
    days: list[DayResult] = field(default_factory=list)
    report: Any = None
    # The reports of the experiment's later phases (a ramp starts a new experiment row): their days' rows.
    later_reports: list[Any] = field(default_factory=list)

    def ratios_of(self, attr: str) -> list[Any]:
        return [r for rep in (self.report, *self.later_reports) for r in getattr(rep, attr, [])]

    @property
    def covers_truth(self) -> bool | None:
        """Whether the report's daily ratio interval covers the simulator's paired true ratio on every A/B day."""
        cover = [c for c in self.coverage().values() if c is not None]
        return all(cover) if cover else None

    def coverage(self, subset: str = "all") -> dict[int, bool | None]:
        """Per A/B day: whether the report's daily student/teacher ratio interval (of all projects, or of the
        report's seen / new segment) covers the student's paired true ratio of the same subset."""
        out: dict[int, bool | None] = {}
        if subset == "all":
            ratios = {str(r.day): r for r in self.ratios_of("daily_ratios")}
        else:
            ratios = {str(r.day): r for r in self.ratios_of("daily_ratios_by_segment") if r.segment == subset}
        for d in self.days:
            r, t = ratios.get(d.date), d.paired_ratio(subset)
            out[d.day] = None if r is None or t is None or r.ci_low is None else r.ci_low <= t <= r.ci_high
        return out


def stepper(console: Console, result: DemoResult) -> Callable[[str], AbstractContextManager[None]]:
    """`with step(title):` prints a numbered heading and records the step's wall time in `result.steps`."""

    @contextmanager
    def step(title: str) -> Iterator[None]:
        title = f"{len(result.steps) + 1}. {title}"
        console.rule(f"[bold]{title}")
        t0 = time.monotonic()
        try:
            yield
        finally:
            dt = time.monotonic() - t0
            result.steps[title] = round(dt, 1)
            console.print(f"[dim]   {title}: {dt:.1f}s[/]")

    return step


def ingest(s: Settings, console: Console) -> None:
    from flywheel.ingest.service import IngestOptions, run_ingest

    st = run_ingest(s, IngestOptions(idle_exit_s=4.0, progress_every_s=10.0))
    console.print(f"  consumed {st.consumed}, inserted {st.inserted}, failed {st.failed} "
                  f"in {st.seconds:.1f}s ({st.rate:.0f} events/s)")


def nightly(s: Settings, o: DemoOptions, console: Console, result: DemoResult, *, warm: bool) -> None:
    """One night: the real nightly DAG through `airflow dags test`, then its offline tables."""
    from flywheel.runtime.airflow import run_dag

    conf: dict[str, Any] = {"test_size": o.test_size, "seed": o.seed, "skip_augmentation": True,
                            "init_from": o.init_from if warm else "scratch"}
    if o.groundtruth_arms:
        conf["groundtruth_arms"] = o.groundtruth_arms
    if o.backend:
        conf["backend"] = o.backend
    if o.max_steps:
        conf["max_steps"] = o.max_steps
    if warm and o.init_from == "production" and o.warm_epochs:
        conf["epochs"] = o.warm_epochs
    run = run_dag(s, "flywheel_nightly", conf, echo=_task_progress(console, "flywheel_nightly"))
    for task, state in sorted(run.task_states.items()):
        console.print(f"  {task:<28} {state}")
    console.print(f"  DAG run {'succeeded' if run.ok else 'FAILED'} in {run.seconds:.0f}s (log: {run.log_path})")
    if not run.ok:
        tail = run.log_path.read_text().splitlines()[-40:]
        console.print("\n".join(tail), markup=False)
        raise RuntimeError(f"flywheel_nightly failed; see {run.log_path}")
    if run.run_id is None:
        raise RuntimeError(f"flywheel_nightly ran but Airflow lists no run of it; see {run.log_path}")
    _print_offline(s, console, result, run.run_id)


def _task_progress(console: Console, dag_id: str) -> Callable[[str], None]:
    """Airflow's log is long; show the operator one line per task start/finish with the elapsed time."""
    started = re.compile(rf"\[DAG TEST\] running task <TaskInstance: {re.escape(dag_id)}\.(\w+)")
    finished = re.compile(r"new_state=(\w+)")
    state: dict[str, Any] = {"task": None, "t0": time.monotonic()}

    def echo(line: str) -> None:
        if m := started.search(line):
            state["task"], state["t0"] = m.group(1), time.monotonic()
            console.print(f"  [cyan]▶[/] {m.group(1)}")
        elif (m := finished.search(line)) and state["task"]:
            console.print(f"  [green]✓[/] {state['task']} {m.group(1)} ({time.monotonic() - state['t0']:.0f}s)")
            state["task"] = None

    return echo


def _model_of_run(s: Settings, airflow_run_id: str) -> str:
    """The model the DAG run trained, from that run's own records (not the newest model: another run may exist)."""
    from flywheel.db.engine import make_engine
    from flywheel.pipeline.runs import model_from_dag_run

    eng = make_engine(s)
    try:
        model_id = model_from_dag_run(eng, airflow_run_id)
    finally:
        eng.dispose()
    if model_id is None:
        raise RuntimeError(f"the nightly run {airflow_run_id} recorded no trained model")
    return model_id


def _print_offline(s: Settings, console: Console, result: DemoResult, airflow_run_id: str) -> None:
    from flywheel.datasets.splits import get_split
    from flywheel.evaluation.table import print_report
    from flywheel.registry.stages import evaluate_model
    from flywheel.registry.store import decisions, get_model

    m = get_model(s, _model_of_run(s, airflow_run_id))
    result.model_id, result.split_id = m.model_id, m.split_id
    split = get_split(s, m.split_id)
    _print_set_table(console, split)
    # The nightly evaluate task stored the full report beside the checkpoint; recompute only if it is missing.
    stored = Path(m.path) / "eval" / m.split_id / "report.json"
    report = json.loads(stored.read_text()) if stored.exists() else evaluate_model(s, m.model_id, m.split_id,
                                                                                   store=False)
    print_report(report, model=f"{m.backend}:{m.base}", console=console)
    for d in decisions(s, m.model_id)[-1:]:
        console.print(f"  promotion: {'PROMOTED' if d['promoted'] else 'refused'} — {d['reason']}")
    result.promoted = get_model(s, m.model_id).status == "production"


def _print_set_table(console: Console, split: Any) -> None:
    from flywheel.datasets.tables import set_table
    from flywheel.textable import print_table

    print_table(console, set_table(split))
    console.print(f"  r_3 = {split.r_sizes.get('r_3')} test intents, r_5 = {split.r_sizes.get('r_5')}")


