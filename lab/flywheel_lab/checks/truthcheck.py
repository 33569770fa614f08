"""Known-answer check: is the chosen ground truth the teacher candidate closest to the simulator's latent ideal?

Only tests and reports call this; the pipeline itself never reads the hidden truth file. For every (intent, tool) of a
ground-truth run whose intent had at least ``min_exposures`` teacher responses, the candidates are the distinct teacher
outputs up to the run's watermark; "closest" uses the simulator users' distance (what their export probability falls
with). A chosen output that ties with the closest counts as a hit. ``null`` vs ``null`` is distance 0, ``null`` vs an
output is farther than any two outputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

from flywheel.contracts import TOOLS, load_tool_contracts
from flywheel.datasets.groundtruth import get_run
from flywheel.db.engine import owned_engine
from flywheel.settings import Settings
from flywheel_lab.simulator.truth import load_truth
from flywheel_lab.simulator.users import distance

NULL_MISMATCH = 10.0


@dataclass
class TruthCheck:
    run_id: str
    min_exposures: int
    n: int = 0
    hits: int = 0
    missing_truth: int = 0
    per_tool: dict[str, dict[str, float]] = field(default_factory=dict)
    contested: dict[str, float] = field(default_factory=dict)  # rows with >= 2 candidates
    tolerance: float = 0.05
    near_hits: int = 0  # chosen within `tolerance` of the closest (users barely tell such outputs apart)
    # ideal is null, an exported used candidate won (docs/domain.md#d7-fallback-when-nothing-was-exported)
    null_ideal_misses: int = 0
    misses: list[dict[str, Any]] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.hits / self.n if self.n else 0.0

    @property
    def near_rate(self) -> float:
        return self.near_hits / self.n if self.n else 0.0


def _distance(tool: str, a: Any, b: Any, filters: dict[str, list[str]]) -> float:
    if a is None or b is None:
        return 0.0 if a is None and b is None else NULL_MISMATCH
    return distance(tool, a, b, filters)


def truthcheck(settings: Settings, truth_file: Path | str, run_id: str | None = None, min_exposures: int = 5,
               *, engine: Engine | None = None, n_misses: int = 10, tolerance: float = 0.05) -> TruthCheck:
    truth = load_truth(truth_file)
    filters = load_tool_contracts(settings.schemas_dir).filters
    with owned_engine(settings, engine) as eng:
        run = get_run(settings, run_id, engine=eng)
        with eng.connect() as conn:
            chosen = conn.execute(text(
                "SELECT intent_norm, tool, output, n_candidates FROM groundtruth_rows"
                " WHERE run_id = :r AND support >= :k"), {"r": run.run_id, "k": min_exposures}).all()
            cands: dict[tuple[str, str], list[Any]] = {}
            for norm, tool, out in conn.execute(text(
                    "SELECT DISTINCT i.intent_norm, v.tool, nullif(v.output, 'null'::jsonb)"
                    " FROM responses r JOIN intents i ON i.request_id = r.request_id"
                    " JOIN groundtruth_rows g ON g.run_id = :r AND g.intent_norm = i.intent_norm AND g.support >= :k"
                    "   AND g.tool = 'adjust'"
                    " CROSS JOIN LATERAL (VALUES ('adjust', r.adjust), ('selective_adjust', r.selective_adjust),"
                    "   ('filter', r.filter)) AS v(tool, output)"
                    " WHERE r.arm = :arm AND r.ingested_at <= :wm AND i.ingested_at <= :wm"),
                    {"r": run.run_id, "k": min_exposures, "arm": run.teacher_arm, "wm": run.watermark}):
                cands.setdefault((norm, tool), []).append(out)
    res = TruthCheck(run_id=run.run_id, min_exposures=min_exposures, tolerance=tolerance)
    tool_n = dict.fromkeys(TOOLS, 0)
    tool_hits = dict.fromkeys(TOOLS, 0)
    cont_n = cont_hits = 0
    for norm, tool, out, n_cand in chosen:
        row = truth.get(norm)
        if row is None:
            res.missing_truth += 1
            continue
        ideal = row.ideal.get(tool)
        dists = [_distance(tool, c, ideal, filters) for c in cands.get((norm, tool), [out])]
        d_chosen = _distance(tool, out, ideal, filters)
        hit = d_chosen <= min(dists) + 1e-9
        res.n += 1
        res.hits += hit
        res.near_hits += d_chosen <= min(dists) + tolerance
        res.null_ideal_misses += (not hit) and ideal is None
        tool_n[tool] += 1
        tool_hits[tool] += hit
        if n_cand >= 2:
            cont_n += 1
            cont_hits += hit
        if not hit and len(res.misses) < n_misses:
            res.misses.append({"intent": norm, "tool": tool, "chosen": out, "ideal": ideal,
                               "d_chosen": round(d_chosen, 3), "d_best": round(min(dists), 3)})
    res.per_tool = {t: {"n": tool_n[t], "hits": tool_hits[t], "rate": tool_hits[t] / tool_n[t] if tool_n[t] else 0.0}
                    for t in TOOLS}
    res.contested = {"n": cont_n, "hits": cont_hits, "rate": cont_hits / cont_n if cont_n else 0.0}
    return res
