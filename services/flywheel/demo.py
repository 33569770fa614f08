"""`make demo`: the platform's main job on embedded defaults, end to end, then cleanup.

up -> migrate -> simulate app traffic through Kafka -> ingest -> the nightly DAG through Airflow (ground truth, GX gate,
splits, tiny student training, evaluation, promotion) -> an A/B period in which the assistant serves the teacher vs
the promoted student to simulated users -> ingest -> the A/B report, checked against the simulator's hidden truth.
"""

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


@dataclass
class DemoOptions:
    intents: int = 3000
    days: float = 60.0
    seed: int = 7
    test_size: int = 300
    ab_intents: int = 800
    ab_workers: int = 6
    max_steps: int | None = None
    keep: bool = False


@dataclass
class DemoResult:
    steps: dict[str, float] = field(default_factory=dict)
    split_id: str | None = None
    model_id: str | None = None
    promoted: bool = False
    report_path: str | None = None
    plot_path: str | None = None
    true_ratio: float | None = None
    ratio_ci: tuple[float, float] | None = None

    @property
    def covers_truth(self) -> bool | None:
        if self.true_ratio is None or self.ratio_ci is None:
            return None
        return self.ratio_ci[0] <= self.true_ratio <= self.ratio_ci[1]


def _stepper(console: Console, result: DemoResult) -> Callable[[str], AbstractContextManager[None]]:
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


def run_demo(settings: Settings, opts: DemoOptions, console: Console | None = None) -> DemoResult:
    from flywheel.runtime.stack import down

    console = console or Console()
    # kafka-python warns about its own event-loop timing under load; the demo's output is for people.
    logging.getLogger("kafka").setLevel(logging.ERROR)
    result = DemoResult()
    try:
        _run(settings, opts, console, result)
    finally:
        if not opts.keep:
            console.rule("[bold]cleanup")
            for line in down(settings).lines:
                console.print(f"  {line}")
    return result


def _run(s: Settings, o: DemoOptions, console: Console, result: DemoResult) -> None:
    from flywheel.db.migrate import current, upgrade
    from flywheel.runtime.stack import up
    from flywheel.simulator.run import simulate

    step = _stepper(console, result)
    with step("services up + migrate"):
        for line in up(s).lines:
            console.print(f"  {line}")
        upgrade(s)
        console.print(f"  schema at revision {current(s)}")

    with step(f"simulate app traffic: {o.intents} unique intents over {o.days:g} days (seed {o.seed})"):
        sim = simulate(s, intents=o.intents, days=o.days, seed=o.seed)
        console.print(f"  {sim.events} events, {sim.projects} projects, {sim.requests} teacher responses "
                      f"-> {s.events_topic} ({sim.events_per_s:.0f} events/s)")

    with step("ingest Kafka -> Postgres"):
        _ingest(s, console)

    with step("nightly DAG through Airflow (airflow dags test flywheel_nightly)"):
        _nightly(s, o, console, result)

    if not result.promoted:
        console.print("[yellow]the promotion gate refused the student; the A/B period is skipped[/]")
        return

    with step(f"A/B period: assistant serves teacher vs promoted student ({o.ab_intents} intents)"):
        truth = _ab_period(s, o, console)

    with step("ingest the A/B period"):
        _ingest(s, console)

    with step("A/B report"):
        _ab_report(s, console, result, truth)


def _ingest(s: Settings, console: Console) -> None:
    from flywheel.ingest.service import IngestOptions, run_ingest

    st = run_ingest(s, IngestOptions(idle_exit_s=4.0, progress_every_s=10.0))
    console.print(f"  consumed {st.consumed}, inserted {st.inserted}, failed {st.failed} "
                  f"in {st.seconds:.1f}s ({st.rate:.0f} events/s)")


def _nightly(s: Settings, o: DemoOptions, console: Console, result: DemoResult) -> None:
    from flywheel.runtime.airflow import run_dag

    conf: dict[str, Any] = {"test_size": o.test_size, "seed": o.seed, "skip_augmentation": True}
    if o.max_steps:
        conf["max_steps"] = o.max_steps
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


def _ab_period(s: Settings, o: DemoOptions, console: Console) -> dict[str, dict[str, float]]:
    from flywheel.assistant.app import create_app as assistant_app
    from flywheel.db.engine import make_engine
    from flywheel.db.experiments import create_experiment, parse_arms
    from flywheel.simulator.run import simulate
    from flywheel.simulator.teacher_server import create_app as teacher_app
    from flywheel.simulator.world import build_world
    from flywheel.teacher.threaded import start_in_thread

    eng = make_engine(s)
    try:
        exp = create_experiment(eng, "demo: teacher vs student",
                                parse_arms("teacher:0.5:teacher,student:0.5:student"))
    finally:
        eng.dispose()
    console.print(f"  experiment {exp.experiment_id} active: teacher 50% / student 50%")
    with start_in_thread(teacher_app(build_world(o.seed))) as teacher:
        s2 = s.model_copy(update={"openai_base_url": f"{teacher.url}/v1", "openai_api_key": "local"})
        with start_in_thread(assistant_app(s2)) as assistant:
            console.print(f"  teacher-server {teacher.url}, assistant {assistant.url}")
            sim = simulate(s2, intents=o.ab_intents, days=1, seed=o.seed + 1000, world_seed=o.seed,
                           via_assistant_url=assistant.url, workers=o.ab_workers)
    console.print(f"  {sim.projects} projects, {sim.requests} requests, {sim.failed_requests} failed, "
                  f"{sim.events} events by the app")
    return sim.truth_by_arm


def _ab_report(s: Settings, console: Console, result: DemoResult, truth: dict[str, dict[str, float]]) -> None:
    from flywheel.reports.ab import ab_report
    from flywheel.reports.render import render_markdown

    rep = ab_report(s)
    console.print(render_markdown(rep), markup=False)
    result.report_path = rep.paths.get("markdown")
    result.plot_path = rep.paths.get("plot")
    if "teacher" in truth and "student" in truth:
        result.true_ratio = truth["student"]["true_rate"] / truth["teacher"]["true_rate"]
        r = rep.ratio("student", "teacher")
        if r.ci_low is not None and r.ci_high is not None:
            result.ratio_ci = (r.ci_low, r.ci_high)
        console.print(f"  simulator's true completion: teacher {truth['teacher']['true_rate']:.3f}, "
                      f"student {truth['student']['true_rate']:.3f}, true ratio {result.true_ratio:.3f}")
        if result.ratio_ci:
            lo, hi = result.ratio_ci
            verdict = "covers" if result.covers_truth else "does NOT cover"
            console.print(f"  the report's 95% interval for the ratio [{lo:.3f}, {hi:.3f}] {verdict} the truth")
    console.print(f"  report: {result.report_path}\n  plot:   {result.plot_path}")
