"""`flywheel experiment arms`: the multi-day demo once per ground-truth arms setting, each in its own state and
artifacts folder (its own database), and the two true-ratio trajectories side by side."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

from rich.console import Console

from flywheel.settings import Settings
from flywheel_lab.demo.days import run_demo
from flywheel_lab.demo.steps import DemoOptions, DemoResult

SETTINGS = ("teacher", "all")


def compare_arms(settings: Settings, opts: DemoOptions, root: Path, console: Console) -> dict[str, DemoResult]:
    results: dict[str, DemoResult] = {}
    for arms in SETTINGS:
        where = root / f"arms-{arms}"
        shutil.rmtree(where, ignore_errors=True)  # a fresh database and registry per setting
        s = settings.model_copy(update={"state_dir": where / "state", "artifacts_dir": where / "artifacts",
                                        "groundtruth_arms": arms})
        console.rule(f"[bold]groundtruth_arms = {arms}")
        results[arms] = run_demo(s, replace(opts, groundtruth_arms=arms, keep=False), console)
    return results


def trajectory_rows(results: dict[str, DemoResult]) -> list[list[str]]:
    """Per day: each setting's true ratio and the report's daily ratio."""
    days = sorted({d.day for r in results.values() for d in r.days})
    rows = []
    for k in days:
        row = [str(k)]
        for arms in SETTINGS:
            d = next((x for x in results.get(arms, DemoResult()).days if x.day == k), None)
            row.append("n/a" if d is None or d.true_ratio is None else f"{d.true_ratio:.3f}")
            row.append("n/a" if d is None or d.rq1_overall is None else f"{d.rq1_overall:.3f}")
        rows.append(row)
    return rows
