"""The flywheel over several simulated days: day 0 collects with the teacher; every night runs the real nightly DAG;
every following day's traffic goes through the assistant's A/B router (teacher vs the current production student),
is ingested and feeds the next night. A simulated clock dates everything, so each day is its own point in the report.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from rich.console import Console

from flywheel.settings import Settings
from flywheel_lab.demo.steps import DayResult, DemoOptions, DemoResult, ingest, nightly, stepper

DAY = timedelta(days=1)


class SimulatedClock:
    """A day's clock: the simulated day's midnight plus the wall time elapsed since the day began (a day of traffic
    takes minutes, so every event of day k is dated on day k)."""

    def __init__(self, day_start: datetime) -> None:
        self.day_start = day_start
        self.wall0 = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.day_start + (datetime.now(UTC) - self.wall0)


def day_start(k: int) -> datetime:
    from flywheel_lab.simulator.plan import BASE_DATE

    return BASE_DATE + k * DAY


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
    from flywheel_lab.simulator.run import simulate

    step = stepper(console, result)
    with step("services up + migrate"):
        for line in up(s).lines:
            console.print(f"  {line}")
        upgrade(s)
        console.print(f"  schema at revision {current(s)}")
    with step(f"day 0 ({day_start(0):%Y-%m-%d}): collect with the teacher, {o.intents} unique intents "
              f"(seed {o.seed})"):
        sim = simulate(s, intents=o.intents, days=1, seed=o.seed, start=day_start(0))
        console.print(f"  {sim.events} events, {sim.projects} projects, {sim.requests} teacher responses "
                      f"-> {s.events_topic} ({sim.events_per_s:.0f} events/s)")
    with step("ingest day 0"):
        ingest(s, console)
    experiment_id: str | None = None
    wordings = _wording_sets(o)
    with _teacher_server(o) as teacher_url:
        s = with_teacher(s, teacher_url)  # nights and A/B days: the stand-in, never the product's default teacher
        for k in range(1, o.days + 1):
            with step(f"night {k}: nightly DAG (ground truth -> gates -> split -> train -> evaluate -> promote)"):
                nightly(s, o, console, result, warm=k > 1)
            day = DayResult(day=k, date=f"{day_start(k):%Y-%m-%d}", promoted=result.promoted)
            _serving_model(s, day)
            if day.model_id is None:
                console.print("[yellow]no production student yet: the A/B days are skipped[/]")
                return
            with step(f"check {day.model_id} on the referee's held-out wordings ({len(wordings.heldout)} looks)"):
                _wordings(s, console, day, wordings)
            if experiment_id is None:
                experiment_id = _experiment(s, day_start(k), seed=o.seed)
            with step(f"day {k} ({day.date}): A/B teacher vs student {day.model_id}"):
                _ab_day(s, o, console, day, teacher_url)
            result.days.append(day)
            with step(f"ingest day {k}"):
                ingest(s, console)
            with step(f"decide after day {k}: the pre-registered rule on the sequential interval"):
                _decide(s, console, day, day_start(k + 1))
    if result.days:
        with step(f"reality check of the last served student {result.days[-1].model_id}"):
            _reality_check(s, o, console, result.days[-1].model_id)
    with step("A/B report (per day) vs the simulator's truth"):
        from flywheel_lab.demo.summary import final_report

        final_report(s, console, result, experiment_id)


def _reality_check(s: Settings, o: DemoOptions, console: Console, model_id: str | None) -> None:
    """The paper's human check, with simulated annotators drawn from the hidden truth: the nightly DAG prepared the
    batch (rendered teacher and student outputs on photos); here annotators answer it and the summary is printed."""
    from flywheel_lab.checks.reality import simulated_summary
    from flywheel_lab.simulator.truth import truth_path

    if model_id is None:
        return
    summary, relevance = simulated_summary(s, model_id=model_id, truth_file=truth_path(s.artifacts_dir, o.seed),
                                           n_annotators=3, seed=o.seed)
    for line in [*summary.lines(), f"  relevance (known answer) vs the annotators: {relevance}"]:
        console.print(line, markup=False)


def with_teacher(s: Settings, teacher_url: str) -> Settings:
    """Settings whose teacher is the stand-in at ``teacher_url`` (the product's default teacher is the OpenAI API)."""
    return s.model_copy(update={"openai_base_url": f"{teacher_url.rstrip('/')}/v1", "openai_api_key": "local"})


class _teacher_server:
    """The local teacher-server (the simulator's teacher stand-in) for every A/B day."""

    def __init__(self, o: DemoOptions) -> None:
        self.o = o

    def __enter__(self) -> str:
        from flywheel.teacher.threaded import start_in_thread
        from flywheel_lab.simulator.teacher_server import create_app as teacher_app
        from flywheel_lab.simulator.world import build_world

        self.cm = start_in_thread(teacher_app(build_world(self.o.seed)))
        return str(self.cm.__enter__().url)

    def __exit__(self, *exc: Any) -> None:
        self.cm.__exit__(*exc)


def _serving_model(s: Settings, day: DayResult) -> None:
    from flywheel.registry.store import production_model

    prod = production_model(s)
    if prod is not None:
        day.model_id = prod.model_id
        overall = (prod.metrics or {}).get("overall")
        day.rq1_overall = float(overall) if overall is not None else None


def _wording_sets(o: DemoOptions) -> Any:
    """Every look of the world in its canonical and in held-out wording (only the referee reads the held-out list)."""
    from flywheel_lab.checks.wordings import wording_sets
    from flywheel_lab.simulator.world import build_world

    return wording_sets(world=build_world(o.seed))


def _wordings(s: Settings, console: Console, day: DayResult, sets: Any) -> None:
    """How well the day's student reads looks in words collection never emitted: on every look, on looks whose
    held-out words earlier days' traffic brought into training, and on looks with a word it never saw."""
    from dataclasses import asdict

    from flywheel.datasets.files import split_dir
    from flywheel.registry.store import get_model
    from flywheel_lab.checks.wordings import served_wordings

    m = get_model(s, day.model_id or "")
    f = served_wordings(model_dir=m.path, split_dir=split_dir(s, m.split_id), sets=sets)
    day.wordings = asdict(f)
    console.print(f"  RQ1 canonical {f.canonical:.3f}, held-out {f.heldout:.3f}: held-out / canonical {_r(f.ratio)}; "
                  f"looks whose held-out words training has met {_r(f.seen_ratio)} ({f.n_seen}), "
                  f"with a word it never saw {_r(f.unseen_ratio)} ({f.n_unseen})")


def _r(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def _experiment(s: Settings, start: datetime, *, seed: int) -> str:
    """One 50/50 experiment over every A/B day, started at the first A/B day's simulated midnight; the student arm
    follows the production model, so each night's promotion reaches the next day. The salt follows the seed, so a
    rerun assigns every user to the same arm (a production experiment draws a random salt)."""
    from flywheel.db.engine import make_engine
    from flywheel.db.experiments import create_experiment, parse_arms
    from flywheel.experiments.decide import register_experiment

    eng = make_engine(s)
    try:
        exp = create_experiment(eng, "demo: teacher vs student", parse_arms("teacher:0.5:teacher,student:0.5:student"),
                                salt=f"demo-{seed}", now=start)
        register_experiment(eng, experiment_id=exp.experiment_id, settings=s)  # the rule, before any traffic
    finally:
        eng.dispose()
    return exp.experiment_id


def _decide(s: Settings, console: Console, day: DayResult, as_of: datetime) -> None:
    """One look at the day's end (flywheel.experiments.decide): a ship ramps the student to the ship weight and a
    roll back returns everyone to the teacher, each as a new phase that the next day's router reads."""
    from flywheel.db.engine import make_engine
    from flywheel.experiments.decide import decide_phase

    eng = make_engine(s)
    try:
        rec = decide_phase(eng, settings=s, as_of=as_of)
    finally:
        eng.dispose()
    if rec is None:
        console.print("  nothing to decide (the teacher alone serves)")
        return
    seq = rec.decision.sequential
    day.decision = {"outcome": rec.decision.outcome, "check": rec.decision.check, "action": rec.action,
                    "phase": rec.phase, "student_weight": rec.student_weight, "ratio": seq.ratio,
                    "seq_low": seq.ci_low, "seq_high": seq.ci_high, "experiment_id": rec.experiment_id,
                    "next_experiment_id": rec.next_experiment_id, "reason": rec.decision.reason}
    console.print(f"  {rec.line()}", markup=False)


def _ab_day(s: Settings, o: DemoOptions, console: Console, day: DayResult, teacher_url: str) -> None:
    """A collection-sized day of the same world (a seeded sample of its projects), served by the assistant, every
    event stamped with the day's simulated clock; ``o.new_share`` of its projects ask intents never seen before
    (new ones each day), the rest the collected catalogue's mix."""
    from flywheel.assistant.app import create_app as assistant_app
    from flywheel.teacher.threaded import start_in_thread
    from flywheel_lab.simulator.run import simulate

    clock = SimulatedClock(day_start(day.day))
    s2 = with_teacher(s, teacher_url)
    with start_in_thread(assistant_app(s2, clock=clock)) as assistant:
        sim = simulate(s2, intents=o.intents, days=1, seed=o.seed + 1000 * day.day, world_seed=o.seed,
                       via_assistant_url=assistant.url, workers=o.ab_workers, start=day_start(day.day), clock=clock,
                       project_fraction=o.ab_fraction, api_key=_app_key(s, day.day), new_share=o.new_share,
                       period=day.day)
    day.truth, day.paired, day.requests = sim.truth_by_arm, sim.paired_by_arm, sim.requests
    day.failed_requests, day.new_requests = sim.failed_requests, sim.new_requests
    console.print(f"  {sim.projects} projects, {sim.requests} requests ({sim.new_requests} of {sim.new_intents} "
                  f"never-seen intents), {sim.failed_requests} failed, {sim.events} events by the app in "
                  f"{sim.seconds:.0f}s")


def _app_key(s: Settings, day: int) -> str:
    """The simulated app's API key for one day, as a real app holds one: the assistant refuses keyless requests.
    Its limits fit a whole simulated day sent in a minute or two (every request may reserve the teacher cap)."""
    from sqlalchemy.orm import Session

    from flywheel.assistant.keys import create_key
    from flywheel.db.engine import make_engine

    eng = make_engine(s)
    try:
        with Session(eng) as session, session.begin():
            _, key = create_key(session, app="demo-app", note=f"simulated day {day}", rate_per_minute=1_000_000,
                                teacher_calls_per_day=10_000_000)
    finally:
        eng.dispose()
    return key
