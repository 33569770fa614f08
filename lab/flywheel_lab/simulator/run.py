"""`flywheel simulate`: publish the app's events to Kafka, directly or by driving the assistant over HTTP.

Direct mode asks the simulator's teacher in-process (fast, deterministic: the same seed gives the same events).
Assistant mode posts every intent to ``POST {url}/v1/edits``, so the A/B arm really changes what users get; the
assistant publishes intent_submitted/assistant_responded and the simulator the rest, all stamped with one clock (the
wall clock, or a multi-day demo's simulated clock).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from flywheel_lab.simulator.novel import with_new_intents
from flywheel_lab.simulator.paired import paired_by_arm, truth_by_arm
from flywheel_lab.simulator.plan import (
    BASE_DATE,
    Answer,
    Clock,
    Plan,
    PlannedProject,
    ProjectOutcome,
    RequestFailed,
    Responder,
    direct_responder,
    make_plan,
    run_project,
    wall_clock_now,
)
from flywheel_lab.simulator.teacher import SimTeacher
from flywheel_lab.simulator.truth import TruthRow, truth_path, write_truth
from flywheel_lab.simulator.world import DEFAULT_BASE_INTENTS, World, build_world

log = logging.getLogger(__name__)


@dataclass
class SimulationSummary:
    seed: int
    mode: str  # "direct" | "assistant"
    intents: int
    unique_intents: int
    requests: int
    projects: int
    projects_exported: int
    failed_requests: int
    events: int
    events_by_type: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    events_per_s: float = 0.0
    truth_path: str = ""
    topic: str = ""
    # Hidden truth per arm (never read by the pipeline): {"projects", "true_rate" (mean export probability),
    # "teacher_rate" (mean teacher counterfactual on the same projects), "paired_ratio"}; see simulator/paired.py.
    truth_by_arm: dict[str, dict[str, float]] = field(default_factory=dict)
    # The same per arm and subset "all" / "seen" / "new" (projects of never-seen intents).
    paired_by_arm: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    new_share: float = 0.0
    new_requests: int = 0  # requests of never-seen intents
    new_intents: int = 0  # distinct never-seen intents asked

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def write_world_truth(world: World, catalogue: list[tuple[str, int, int]], path: Path,
                      novel: list[tuple[str, int]] | None = None) -> Path:
    """The truth file of a period: its catalogue, then the never-seen intents it asked (if any)."""
    used = [(norm, i) for norm, i, _ in catalogue] + list(novel or [])
    return write_truth(path, [TruthRow(norm, world.bases[i].base_id, world.bases[i].ideal) for norm, i in used])


def plan_period(world: World, intents: int, days: float, seed: int, *, requests_per_intent: float = 3.0,
                start: datetime = BASE_DATE, project_fraction: float = 1.0, new_share: float = 0.0,
                period: int = 1) -> Plan:
    """A period's plan: the catalogue's traffic, a seeded ``project_fraction`` of it, and a ``new_share`` of its
    projects turned into never-seen intents of day ``period`` (:mod:`flywheel_lab.simulator.novel`)."""
    plan = _sampled(make_plan(world, intents, days, seed, requests_per_intent, start=start), seed, project_fraction)
    return with_new_intents(plan, world, seed, share=new_share, period=period)


def generate_events(seed: int, intents: int, days: float, *, base_intents: int = DEFAULT_BASE_INTENTS,
                    requests_per_intent: float = 3.0, model_name: str = "gpt-3.5-turbo", new_share: float = 0.0,
                    period: int = 1, outcomes: list[ProjectOutcome] | None = None) -> Iterator[dict[str, Any]]:
    """The direct-mode event stream, without Kafka (tests and dry runs); ``outcomes`` collects each project's."""
    world = build_world(seed, base_intents)
    plan = plan_period(world, intents, days, seed, requests_per_intent=requests_per_intent, new_share=new_share,
                       period=period)
    teacher = SimTeacher(world)
    respond = direct_responder(teacher, model_name)
    for pp in plan.projects:
        buf: list[dict[str, Any]] = []
        o = run_project(pp, world, seed, respond, buf.append, teacher=teacher)
        if outcomes is not None:
            outcomes.append(o)
        yield from buf


def http_responder(url: str, timeout_s: float = 30.0, api_key: str | None = None) -> Responder:
    """Users calling the assistant at `url`; `api_key` goes as `Authorization: Bearer` (the assistant requires one)."""
    import httpx

    local = threading.local()
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}

    def client() -> httpx.Client:
        c = getattr(local, "client", None)
        if c is None:
            c = local.client = httpx.Client(base_url=url.rstrip("/"), timeout=timeout_s, headers=headers)
        return c

    def respond(pp: PlannedProject, intent: str, at: datetime, rng: random.Random,
                emit: Callable[[dict[str, Any]], None]) -> Answer:
        try:
            r = client().post("/v1/edits", json={"project_id": pp.project_id, "user_id": pp.user_id, "intent": intent})
        except httpx.HTTPError as exc:
            log.warning("assistant at %s unreachable: %s", url, exc)
            raise RequestFailed(str(exc)) from exc
        if r.status_code != 200:
            log.warning("assistant answered %s: %s", r.status_code, r.text[:300])
            raise RequestFailed(f"HTTP {r.status_code}")
        body = r.json()
        return Answer(body["request_id"], body["outputs"], float(body.get("latency_ms", 0.0)),
                      str(body.get("arm", "teacher")))
    return respond


class _Throttle:
    """At most `rate` events per second on average (None = as fast as possible)."""

    def __init__(self, rate: float | None) -> None:
        self.rate = rate
        self.t0 = time.monotonic()
        self.n = 0
        self.lock = threading.Lock()

    def tick(self) -> None:
        if not self.rate:
            return
        with self.lock:
            self.n += 1
            ahead = self.n / self.rate - (time.monotonic() - self.t0)
        if ahead > 0:
            time.sleep(ahead)


def simulate(settings: Any, intents: int, days: float, seed: int, rate: float | None = None,
             via_assistant_url: str | None = None, progress: bool = True, *,
             base_intents: int = DEFAULT_BASE_INTENTS, requests_per_intent: float = 3.0,
             workers: int = 8, world_seed: int | None = None, start: datetime | None = None,
             clock: Clock | None = None, project_fraction: float = 1.0,
             api_key: str | None = None, new_share: float = 0.0, period: int = 1) -> SimulationSummary:
    """Run the simulation and publish its events to ``settings.events_topic``; write the hidden truth file.

    ``world_seed`` (default: ``seed``) picks the world; ``seed`` picks the traffic. A later period of the same world
    (an A/B test after training) uses the training world's seed with a new traffic seed, so its projects, users and
    event ids are new. ``start`` dates the period (default: the simulator's fixed origin); in assistant mode
    ``clock`` stamps the simulator's events (default: the wall clock; a multi-day demo passes its simulated clock,
    the same one the assistant stamps its events with). ``project_fraction`` < 1 keeps a seeded random sample of the
    planned projects: fewer requests with the same intent distribution per request. ``api_key`` is the assistant key
    the simulated app sends with ``via_assistant_url``. ``new_share`` of the projects ask never-seen intents of day
    ``period`` instead (0: none, the collected catalogue only)."""
    from flywheel.events.publisher import EventPublisher
    from flywheel.kafka_admin import ensure_topics

    if rate is not None and rate <= 0:
        raise ValueError(f"--rate must be > 0 events/s, got {rate}")
    world = build_world(seed if world_seed is None else world_seed, base_intents)
    plan = plan_period(world, intents, days, seed, requests_per_intent=requests_per_intent, start=start or BASE_DATE,
                       project_fraction=project_fraction, new_share=new_share, period=period)
    path = write_world_truth(world, plan.catalogue, truth_path(settings.artifacts_dir, seed), plan.novel)
    ensure_topics(settings.bootstrap(), {settings.events_topic: settings.topic_partitions})
    counts: Counter[str] = Counter()
    outcomes: list[ProjectOutcome] = []
    throttle = _Throttle(rate)
    lock = threading.Lock()
    mode = "assistant" if via_assistant_url else "direct"
    t0 = time.perf_counter()
    with EventPublisher(settings.bootstrap(), settings.events_topic, client_id="flywheel-simulator",
                        linger_ms=100, batch_size=1024 * 1024) as pub:
        def emit(ev: dict[str, Any]) -> None:
            throttle.tick()
            pub.publish(ev)
            with lock:
                counts[ev["event_type"]] += 1

        with _progress(progress, len(plan.projects), mode) as advance:
            teacher = SimTeacher(world)
            if via_assistant_url is None:
                respond = direct_responder(teacher, settings.teacher_model)
                for pp in plan.projects:
                    outcomes.append(run_project(pp, world, seed, respond, emit, teacher=teacher))
                    advance()
            else:
                respond = http_responder(via_assistant_url, settings.teacher_timeout_s * 2, api_key)
                outcomes = _run_concurrently(plan.projects, workers, lambda pp: run_project(
                    pp, world, seed, respond, emit, clock=clock or wall_clock_now, teacher=teacher), advance)
    seconds = time.perf_counter() - t0
    n_events = sum(counts.values())
    summary = SimulationSummary(
        seed=seed, mode=mode, intents=intents, unique_intents=len(plan.catalogue), requests=plan.requests,
        projects=len(plan.projects), projects_exported=sum(o.exported for o in outcomes),
        failed_requests=sum(o.failed for o in outcomes), events=n_events, events_by_type=dict(counts),
        seconds=round(seconds, 3), events_per_s=round(n_events / seconds, 1) if seconds else 0.0,
        truth_path=str(path), topic=settings.events_topic, truth_by_arm=truth_by_arm(outcomes),
        paired_by_arm=paired_by_arm(outcomes), new_share=new_share,
        new_requests=sum(len(pp.intents) for pp in plan.projects if pp.novel), new_intents=len(plan.novel))
    log.info("simulation done: %s", summary)
    return summary


def _sampled(plan: Plan, seed: int, project_fraction: float) -> Plan:
    """A seeded random share of the planned projects: fewer requests with the same intent mix per request."""
    if project_fraction < 1.0:
        keep = random.Random(f"{seed}:sample")
        plan.projects = [pp for pp in plan.projects if keep.random() < project_fraction]
        plan.requests = sum(len(pp.intents) for pp in plan.projects)
    return plan


def _run_concurrently(projects: list[PlannedProject], workers: int,
                      run: Callable[[PlannedProject], ProjectOutcome], advance: Callable[[], None]
                      ) -> list[ProjectOutcome]:
    """Projects in parallel, as many app users at once; outcomes in plan order."""
    def one(pp: PlannedProject) -> ProjectOutcome:
        o = run(pp)
        advance()
        return o

    with ThreadPoolExecutor(max_workers=max(1, workers)) as ex:
        return list(ex.map(one, projects))


class _progress:
    """Rich progress bar over projects (or nothing). Thread-safe advance()."""

    def __init__(self, enabled: bool, total: int, mode: str) -> None:
        self.enabled, self.total, self.mode = enabled, total, mode
        self.lock = threading.Lock()

    def __enter__(self) -> Callable[[], None]:
        if not self.enabled:
            return lambda: None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.p = Progress(TextColumn(f"simulate ({self.mode})"), BarColumn(), MofNCompleteColumn(),
                          TextColumn("projects"), TimeRemainingColumn())
        self.p.start()
        self.task = self.p.add_task("projects", total=self.total)

        def advance() -> None:
            with self.lock:
                self.p.advance(self.task)
        return advance

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self.p.stop()
