"""New intents every day: the share of an A/B day's requests that nobody typed before.

Real traffic is long-tailed: every day brings intents and words that were never collected. A day after collection
(``period`` 1, 2, ...) can replace a seeded share of its projects with *novel* projects, whose every intent is one of:

- an **unseen variant**: a member of a look's paraphrase family beyond the collected catalogue (``--intents``);
- a **held-out wording**: the look (and, for a modified look, often the modifier) in words the lexicon never uses,
  inside an old or a new wrapper ("sunkissed", "mellow sunkissed in tokyo");
- a **new wrapper** around a collected core ("golden hour on my dog's pics").

Each belongs to a base of the world, so it has a hidden ideal. Per base, one seeded sequence of such intents is cut
into consecutive blocks of :data:`PER_BASE_PER_PERIOD`; period k draws only from block k, so no novel intent is ever
collected or repeated on another day, whatever each day's size. Bases are chosen by the world's popularity, as the
collected traffic is.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from dataclasses import replace

from flywheel_lab.simulator import heldout
from flywheel_lab.simulator.plan import Plan, surface
from flywheel_lab.simulator.world import World

PER_BASE_PER_PERIOD = 6
KINDS = ("variant", "heldout", "wrapper")
_MAX_MISSES = 200  # consecutive rejected draws before a base counts as exhausted


def _candidates(world: World, index: int, seen: frozenset[str]) -> Iterator[str]:
    """The base's never-seen intents in their fixed order (normalized; each reads back to this base)."""
    b = world.bases[index]
    key = heldout.base_key(b.concepts)
    rng = random.Random(f"{world.seed}:novel:{b.base_id}")
    unseen = iter([v for v in b.variants if v not in seen])
    produced: set[str] = set()
    misses = 0
    while misses < _MAX_MISSES:
        kind = rng.choice(KINDS)
        if kind == "variant":
            text = next(unseen, None)
        elif kind == "heldout":
            text = heldout.wrap(heldout.heldout_core(key, rng), rng)
        else:
            text = heldout.wrap(heldout.known_core(key, rng), rng, new_only=True)
        if text is None or text in produced or text in seen or world.base_of(text) is not b:
            misses += 1
            continue
        misses = 0
        produced.add(text)
        yield text


def period_pool(world: World, index: int, seen: frozenset[str], period: int) -> list[str]:
    """Base ``index``'s novel intents for day ``period`` (1, 2, ...): block ``period`` of its sequence."""
    if period < 1:
        raise ValueError(f"period must be >= 1 (the first day after collection), got {period}")
    lo = (period - 1) * PER_BASE_PER_PERIOD
    return list(itertools.islice(_candidates(world, index, seen), lo, lo + PER_BASE_PER_PERIOD))


def with_new_intents(plan: Plan, world: World, seed: int, *, share: float, period: int) -> Plan:
    """The plan with a seeded ``share`` of its projects (so about that share of its requests) replaced by novel
    projects of the same size, user and time. ``share`` 0 returns the plan untouched."""
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"new-intent share must be in 0..1, got {share}")
    if share == 0.0:
        return plan
    seen = frozenset(norm for norm, _, _ in plan.catalogue)
    rng = random.Random(f"{seed}:new:{period}")
    cum = list(itertools.accumulate(world.popularity(i, 0) for i in range(len(world.bases))))
    pools: dict[int, list[str]] = {}

    def pool(i: int) -> list[str]:
        if i not in pools:
            pools[i] = period_pool(world, i, seen, period)
        return pools[i]

    used: dict[str, int] = {}
    projects = []
    for pp in plan.projects:
        if rng.random() >= share:
            projects.append(pp)
            continue
        intents = []
        for _ in pp.intents:
            i = rng.choices(range(len(world.bases)), cum_weights=cum)[0]
            while not pool(i):  # an exhausted base (only after very many days): the next one with intents left
                i = (i + 1) % len(world.bases)
                if len(pools) == len(world.bases) and not any(pools.values()):
                    raise ValueError(f"the world (seed {world.seed}) has no never-seen intents left for day {period}")
            norm = rng.choice(pool(i))
            used[norm] = i
            intents.append(surface(norm, rng))
        projects.append(replace(pp, intents=tuple(intents), novel=True))
    plan.projects = projects
    plan.novel = sorted(used.items())
    return plan
