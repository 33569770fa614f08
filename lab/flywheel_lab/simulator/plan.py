"""Traffic plan and per-project behaviour (pure and seeded; publishing lives in :mod:`flywheel_lab.simulator.run`).

Volume: every catalogue intent is asked at least once ("the tail once") and ``requests_per_intent - 1`` times as many
extra requests are drawn by Zipf popularity ("popular ones many"), so ``--intents 9252`` gives exactly 9,252 distinct
intent_norm and 27,756 teacher responses at the default 3.0, the paper's counts.
"""

from __future__ import annotations

import itertools
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from flywheel.contracts import TOOLS, normalize_intent
from flywheel.events.envelope import make_event
from flywheel_lab.simulator import users
from flywheel_lab.simulator.teacher import SimTeacher
from flywheel_lab.simulator.world import World

# A fixed origin (not now()), so the same seed gives byte-identical events.
BASE_DATE = datetime(2026, 7, 1, tzinfo=UTC)
PRODUCER = "app-simulator"
APP_VERSIONS = ("5.2.0", "5.3.0", "5.3.1")
PROJECT_SIZES = ((1, .72), (2, .20), (3, .08))  # intents per project


def seeded_uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


@dataclass(frozen=True)
class PlannedProject:
    project_id: str
    user_id: str
    start: datetime
    intents: tuple[str, ...]  # as typed in the app (case and punctuation vary)
    app_version: str
    novel: bool = False  # every intent is one never seen before (flywheel_lab.simulator.novel); else all are seen


@dataclass
class Plan:
    projects: list[PlannedProject]
    catalogue: list[tuple[str, int, int]]  # (intent_norm, base index, level)
    requests: int = 0
    novel: list[tuple[str, int]] = field(default_factory=list)  # never-seen (intent_norm, base index) it asks


def surface(norm: str, rng: random.Random) -> str:
    """How the app user typed it: case and punctuation vary, intent_norm does not."""
    x = rng.random()
    text = norm.title() if x < .15 else norm.capitalize() if x < .3 else norm.upper() if x < .34 else norm
    y = rng.random()
    if y < .08:
        text += rng.choice(("!", ".", "?", "!!", "..."))
    elif y < .11:
        text = f"  {text} "
    return text if normalize_intent(text) == norm else norm


def make_plan(world: World, n_intents: int, days: float, seed: int, requests_per_intent: float = 3.0, *,
              start: datetime = BASE_DATE) -> Plan:
    """The period's projects, dated from ``start`` (a later simulated day of a multi-day run starts later)."""
    if n_intents < 1:
        raise ValueError(f"--intents must be >= 1, got {n_intents}")
    if days <= 0:
        raise ValueError(f"--days must be > 0, got {days}")
    if requests_per_intent < 1:
        raise ValueError(f"requests_per_intent must be >= 1, got {requests_per_intent}")
    rng = random.Random(f"{seed}:plan")
    cat = world.catalogue(n_intents)
    names = [c[0] for c in cat]
    cum = list(itertools.accumulate(world.popularity(i, lvl) for _, i, lvl in cat))
    extra = round(n_intents * (requests_per_intent - 1))
    draws = names + rng.choices(names, cum_weights=cum, k=extra)
    rng.shuffle(draws)
    total = len(draws)
    n_users = max(3, round(total / 1.4 / 3))
    sizes = [k for k, _ in PROJECT_SIZES]
    probs = [p for _, p in PROJECT_SIZES]
    projects: list[PlannedProject] = []
    cursor = 0
    span = days * 86400.0
    while cursor < total:
        k = min(rng.choices(sizes, weights=probs)[0], total - cursor)
        chunk = tuple(surface(n, rng) for n in draws[cursor:cursor + k])
        frac = cursor / total
        start_at = start + timedelta(seconds=round(span * frac + rng.uniform(0, 30), 3))
        user = min(n_users - 1, int(n_users * rng.random() ** 1.5))  # some users edit much more than others
        version = APP_VERSIONS[min(len(APP_VERSIONS) - 1, int(frac * len(APP_VERSIONS) + rng.uniform(-.2, .2)))]
        projects.append(PlannedProject(seeded_uuid(rng), f"u{seed}-{user:06d}", start_at, chunk, version))
        cursor += k
    return Plan(projects=projects, catalogue=cat, requests=total)


@dataclass
class Answer:
    request_id: str
    outputs: dict[str, Any]
    latency_ms: float
    arm: str = "teacher"


# respond(project, intent, at, rng, emit) -> Answer. The direct responder emits intent_submitted and
# assistant_responded itself; over HTTP the assistant publishes them.
Responder = Callable[[PlannedProject, str, datetime, random.Random, Callable[[dict[str, Any]], None]], Answer]


@dataclass
class ProjectOutcome:
    requests: int = 0
    exported: bool = False
    failed: int = 0
    tools_exported: dict[str, int] = field(default_factory=dict)
    # The hidden truth of the online metric: the project's export probability given what it was shown, and the
    # arm that served it. Reports compare the A/B estimate against the mean of these per arm.
    arm: str | None = None
    p_export: float = 0.0
    # The paired referee: the teacher stand-in's expected export probability for the same intents and the same user
    # (exact over its answer modes, no draw), so an arm is compared with the teacher on its own projects.
    p_export_teacher: float = 0.0
    novel: bool = False


def direct_responder(teacher: SimTeacher, model_name: str) -> Responder:
    def respond(pp: PlannedProject, intent: str, at: datetime, rng: random.Random,
                emit: Callable[[dict[str, Any]], None]) -> Answer:
        request_id = seeded_uuid(rng)
        emit(make_event("intent_submitted", PRODUCER, occurred_at=at, event_id=seeded_uuid(rng),
                        project_id=pp.project_id, request_id=request_id, intent=intent))
        outputs, why = teacher.respond(intent, rng)
        latency = round(rng.lognormvariate(7.5, .35), 1)  # median ~1.8 s, as a hosted LLM
        emit(make_event("assistant_responded", PRODUCER, occurred_at=at + timedelta(milliseconds=latency),
                        event_id=seeded_uuid(rng), project_id=pp.project_id, request_id=request_id, arm="teacher",
                        model_name=model_name, model_version=teacher.model_version, outputs=outputs,
                        rationale=why, latency_ms=latency))
        return Answer(request_id, outputs, latency)
    return respond


class RequestFailed(RuntimeError):
    pass


Clock = Callable[[], datetime]


def wall_clock_now() -> datetime:
    return datetime.now(UTC)


def teacher_export_probability(intents: tuple[str, ...], world: World, teacher: SimTeacher, factor: float) -> float:
    """The project's export probability had the teacher stand-in answered every intent: its modes weighted by their
    probabilities. Tools and intents are drawn independently, so the expected no-export product is the product of
    the expected per-tool misses, and the result is exact (the same formula as ``ProjectOutcome.p_export``)."""
    p_none = 1.0
    for intent in intents:
        ideal = world.latent(intent)[3]
        modes = teacher.modes(intent)
        for tool in TOOLS:
            p_none *= 1.0 - sum(w * users.export_probability(tool, v, ideal[tool], world.filters, factor)
                                for w, v in modes[tool])
    return ((1.0 - p_none) * users.project_export_probability(True, factor)
            + p_none * users.project_export_probability(False, factor))


def run_project(pp: PlannedProject, world: World, seed: int, respond: Responder,
                emit: Callable[[dict[str, Any]], None], wall_clock: bool = False,
                clock: Clock | None = None, *, teacher: SimTeacher | None = None) -> ProjectOutcome:
    """One user's project: start, ask, look, export tools (or not), export the project (or abandon it).

    With ``clock`` (driving a live assistant, which stamps its own events with the same clock) events carry that
    clock's time; ``wall_clock`` is the clock of the real world. Otherwise simulated time from the plan, so the same
    seed gives the same events. ``teacher`` (pass one shared instance: it caches answer modes) scores the paired
    counterfactual; it draws nothing, so the events do not depend on it."""
    if clock is None and wall_clock:
        clock = wall_clock_now
    rng = random.Random(f"{seed}:project:{pp.project_id}")
    factor = users.user_factor(pp.user_id, seed)
    out = ProjectOutcome(novel=pp.novel, p_export_teacher=teacher_export_probability(
        pp.intents, world, teacher or SimTeacher(world), factor))
    t = pp.start

    def at(dt_s: float) -> datetime:
        nonlocal t
        t = t + timedelta(seconds=round(dt_s, 3))
        return clock() if clock is not None else t

    emit(make_event("project_started", PRODUCER, occurred_at=at(0), event_id=seeded_uuid(rng),
                    project_id=pp.project_id, user_id=pp.user_id, platform=users.platform_of(pp.user_id, seed),
                    app_version=pp.app_version))
    any_export = False
    p_none = 1.0  # probability that no tool gets exported, over everything shown in this project
    for intent in pp.intents:
        try:
            ans = respond(pp, intent, at(rng.uniform(5, 90)), rng, emit)
        except RequestFailed:
            out.failed += 1
            return out  # the user gives up on a broken assistant: the project is abandoned
        out.requests += 1
        out.arm = ans.arm
        at(ans.latency_ms / 1000)
        ideal = world.latent(intent)[3]
        for tool in TOOLS:
            shown = ans.outputs.get(tool)
            if shown is None:
                continue
            p = users.export_probability(tool, shown, ideal[tool], world.filters, factor)
            p_none *= 1.0 - p
            exported = rng.random() < p
            any_export |= exported
            out.tools_exported[tool] = out.tools_exported.get(tool, 0) + int(exported)
            emit(make_event("tool_exported", PRODUCER, occurred_at=at(rng.uniform(3, 60)), event_id=seeded_uuid(rng),
                            project_id=pp.project_id, request_id=ans.request_id, tool=tool, exported=exported))
    out.p_export = ((1.0 - p_none) * users.project_export_probability(True, factor)
                    + p_none * users.project_export_probability(False, factor))
    if rng.random() < users.project_export_probability(any_export, factor):
        out.exported = True
        emit(make_event("project_exported", PRODUCER, occurred_at=at(rng.uniform(30, 600)),
                        event_id=seeded_uuid(rng), project_id=pp.project_id))
    return out
