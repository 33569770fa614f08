"""The reality-check summary of a model's batch: the paper's counts (tasks whose annotators said yes by majority),
Fleiss' kappa per question (statsmodels) and how the automatic mimicry scores agree with the annotators."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.stats import pearsonr
from sqlalchemy.orm import Session
from statsmodels.stats.inter_rater import fleiss_kappa

from flywheel.annotate import store


@dataclass(frozen=True)
class RealitySummary:
    model_id: str
    batch_id: str
    n_tasks: int
    per_task: int
    tasks_done: int             # tasks with all their answers; only these count below
    relevant: int               # the paper's relevancy count ("13-14 of 15")
    mimicry: int                # the paper's mimicry count ("11 of 15")
    kappa_relevancy: float | None
    kappa_mimicry: float | None
    mean_delta_e: float
    mean_ssim: float
    r_ssim_mimicry: float | None      # Pearson r: SSIM vs the share of "mimics" votes (should be > 0)
    r_delta_e_mimicry: float | None   # CIEDE2000 vs that share (should be < 0)
    auc_delta_e_mimicry: float | None  # P(a task the majority says mimics has the lower colour difference)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def lines(self) -> list[str]:
        def f(x: float | None, fmt: str = "{:.2f}") -> str:
            return "n/a" if x is None else fmt.format(x)

        done = f"{self.tasks_done} of {self.n_tasks} tasks answered by {self.per_task} annotators"
        return [f"reality check of {self.model_id} ({self.batch_id}): {done}",
                f"  relevancy {self.relevant} of {self.tasks_done}, mimicry {self.mimicry} of {self.tasks_done}"
                f" (majority votes; the paper: 13-14 and 11 of 15)",
                f"  Fleiss' kappa: relevancy {f(self.kappa_relevancy)}, mimicry {f(self.kappa_mimicry)}",
                f"  automatic mimicry scores: mean CIEDE2000 {self.mean_delta_e:.2f}, mean SSIM {self.mean_ssim:.3f};"
                f" agreement with the annotators: r(SSIM) {f(self.r_ssim_mimicry)},"
                f" r(CIEDE2000) {f(self.r_delta_e_mimicry)}, AUC(CIEDE2000) {f(self.auc_delta_e_mimicry)}"]


def _finite(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def kappa(yes: list[int], n: int) -> float | None:
    """Fleiss' kappa of binary answers: `yes[i]` of `n` raters said yes on item i (None when undefined)."""
    if not yes or n < 2:
        return None
    table = np.array([[y, n - y] for y in yes])
    with np.errstate(divide="ignore", invalid="ignore"):
        return _finite(fleiss_kappa(table, method="fleiss"))


def _pearson(x: list[float], y: list[float]) -> float | None:
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    return _finite(pearsonr(x, y).statistic)


def auc(scores_pos: list[float], scores_neg: list[float]) -> float | None:
    """P(a positive scores lower than a negative), ties half: how well a low score picks the positives."""
    if not scores_pos or not scores_neg:
        return None
    wins = sum((p < q) + 0.5 * (p == q) for p in scores_pos for q in scores_neg)
    return wins / (len(scores_pos) * len(scores_neg))


def summarise(session: Session, *, batch_id: str) -> RealitySummary:
    batch = store.get_batch(session, batch_id=batch_id)
    tasks = store.batch_answers(session, batch_id=batch_id)
    done = [t for t in tasks if len(t["votes"]) == batch.per_task]
    rel = [sum(v[0] for v in t["votes"]) for t in done]
    mim = [sum(v[1] for v in t["votes"]) for t in done]
    n = batch.per_task
    share = [m / n for m in mim]
    majority = [2 * m > n for m in mim]
    return RealitySummary(
        model_id=batch.model_id, batch_id=batch_id, n_tasks=batch.n_tasks, per_task=n, tasks_done=len(done),
        relevant=sum(2 * r > n for r in rel), mimicry=sum(majority),
        kappa_relevancy=kappa(rel, n), kappa_mimicry=kappa(mim, n),
        mean_delta_e=float(np.mean([t["delta_e"] for t in tasks])) if tasks else math.nan,
        mean_ssim=float(np.mean([t["ssim"] for t in tasks])) if tasks else math.nan,
        r_ssim_mimicry=_pearson([t["ssim"] for t in done], share),
        r_delta_e_mimicry=_pearson([t["delta_e"] for t in done], share),
        auc_delta_e_mimicry=auc([t["delta_e"] for t, m in zip(done, majority, strict=True) if m],
                                [t["delta_e"] for t, m in zip(done, majority, strict=True) if not m]),
    )


def model_summary(session: Session, *, model_id: str) -> RealitySummary | None:
    """The summary of the model's latest batch (None when it has none)."""
    batch = store.latest_batch(session, model_id=model_id)
    return None if batch is None else summarise(session, batch_id=batch.batch_id)
