"""Simulated annotators: they judge reality-check tasks from the world's hidden truth, so tests and the demo fill a
real batch end to end through the same assignment and storage as people in the browser.

An annotator sees an edit as relevant the closer the student's edit is to the world's latent ideal for the intent,
and as mimicking the closer it is to the teacher's edit, both measured with the simulated users' distance
(`flywheel_lab.simulator.users.distance`, averaged over the three tools). Each annotator has a stable leniency of their
own and every answer is a coin flip with that probability, so annotators disagree on borderline tasks.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from flywheel.annotate import store
from flywheel.annotate.batch import TASK_PHOTO_SIDE
from flywheel.annotate.report import auc
from flywheel.contracts import TOOLS, load_tool_contracts, normalize_intent
from flywheel.db.annotations import Annotator
from flywheel.db.engine import owned_engine
from flywheel.render import photos
from flywheel.render.scores import relevance
from flywheel.settings import Settings
from flywheel_lab.simulator.truth import TruthRow, load_truth
from flywheel_lab.simulator.users import distance

NULL_MISMATCH = 1.0   # a tool used on one side only counts as unrelated
THRESHOLD = 0.35      # the distance at which an average annotator says yes half the time
GAIN = 9.0            # how sharply the probability falls around it (logit per unit of distance)
LENIENCY_SD = 0.8     # spread of the annotators' own leniency (logit)


@dataclass(frozen=True)
class SimAnnotator:
    annotator_id: int
    name: str
    leniency: float


def edit_distance(a: dict[str, Any] | None, b: dict[str, Any] | None, filters: dict[str, list[str]]) -> float:
    """Mean over the three tools of the users' distance; 0 = the same edit."""
    total = 0.0
    for tool in TOOLS:
        x, y = (a or {}).get(tool), (b or {}).get(tool)
        if x is None or y is None:
            total += 0.0 if x is None and y is None else NULL_MISMATCH
        else:
            total += distance(tool, x, y, filters)
    return total / len(TOOLS)


def p_yes(d: float, leniency: float) -> float:
    return 1.0 / (1.0 + math.exp(-(GAIN * (THRESHOLD - d) + leniency)))


def annotators(session: Session, *, count: int, seed: int) -> list[SimAnnotator]:
    """`count` simulated annotators (created on first use; their leniency is stable per name)."""
    out = []
    for i in range(count):
        name = f"sim-{seed}-{i}"
        if session.scalar(select(Annotator.id).where(Annotator.name == name)) is None:
            store.add_annotator(session, name=name)
        uid = session.scalars(select(Annotator.id).where(Annotator.name == name)).one()
        out.append(SimAnnotator(int(uid), name, random.Random(f"leniency:{name}").gauss(0.0, LENIENCY_SD)))
    return out


def _ideal(truth: dict[str, TruthRow], intent: str) -> dict[str, Any] | None:
    row = truth.get(normalize_intent(intent))
    return None if row is None else row.ideal


def fill_batch(settings: Settings, *, batch_id: str, truth_file: Path | str, n_annotators: int = 5, seed: int = 0,
               engine: Engine | None = None) -> int:
    """Answer every open task of the batch (each annotator takes their next task in turn); the answers stored."""
    truth = load_truth(truth_file)
    filters = load_tool_contracts(settings.schemas_dir).filters
    rng = random.Random(f"answers:{seed}:{batch_id}")
    stored = 0
    with owned_engine(settings, engine) as eng:
        with Session(eng) as s, s.begin():
            crowd = annotators(s, count=n_annotators, seed=seed)
        busy = True
        while busy:
            busy = False
            for a in crowd:
                with Session(eng) as s, s.begin():
                    t = store.next_task(s, annotator_id=a.annotator_id, batch_id=batch_id)
                    if t is None:
                        continue
                    ideal = _ideal(truth, t.intent)
                    d_rel = edit_distance(t.student, ideal, filters) if ideal is not None else THRESHOLD
                    d_mim = edit_distance(t.student, t.teacher, filters)
                    store.submit_answer(s, task_id=t.task_id, annotator_id=a.annotator_id,
                                        relevant=rng.random() < p_yes(d_rel, a.leniency),
                                        mimics=rng.random() < p_yes(d_mim, a.leniency))
                    stored += 1
                    busy = True
    return stored


def relevance_agreement(settings: Settings, *, batch_id: str, truth_file: Path | str,
                        engine: Engine | None = None) -> dict[str, float | None]:
    """The known-answer relevance score (CIEDE2000 between the student's render and the render of the hidden ideal)
    against the annotators' relevancy votes: Pearson r with the share of yes votes, and the AUC of a low colour
    difference for the tasks the majority found relevant."""
    truth = load_truth(truth_file)
    with owned_engine(settings, engine) as eng, Session(eng) as s:
        batch = store.get_batch(s, batch_id=batch_id)
        rows = store.batch_answers(s, batch_id=batch_id)
        tasks = {r["task_id"]: store.get_task(s, task_id=r["task_id"]) for r in rows}
    de, share = [], []
    for r in rows:
        t = tasks[r["task_id"]]
        ideal = _ideal(truth, t.intent)
        if len(r["votes"]) < batch.per_task or ideal is None:
            continue
        photo = photos.load(t.photo, max_side=TASK_PHOTO_SIDE)
        de.append(relevance(photo, prediction=t.student, reference=ideal).delta_e)
        share.append(sum(v[0] for v in r["votes"]) / batch.per_task)
    r_value = float(np.corrcoef(de, share)[0, 1]) if len(de) > 2 and np.ptp(de) and np.ptp(share) else None
    pos = [d for d, s in zip(de, share, strict=True) if s > 0.5]
    neg = [d for d, s in zip(de, share, strict=True) if s <= 0.5]
    return {"n": len(de), "mean_delta_e": float(np.mean(de)) if de else None,
            "r_delta_e_relevancy": r_value, "auc_delta_e_relevancy": auc(pos, neg)}
