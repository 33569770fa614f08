"""The demo's decision cells and the phases plot (pure: no services)."""

from __future__ import annotations

from pathlib import Path

from flywheel_lab.demo.steps import DayResult
from flywheel_lab.experiments.decisions_view import decision_cells, plot_decisions


def _day(k: int, outcome: str, weight: float, action: str = "none") -> DayResult:
    d = DayResult(day=k, date=f"2026-07-0{k + 1}")
    d.decision = {"outcome": outcome, "check": "non_inferior" if outcome == "ship" else "undecided",
                  "action": action, "phase": 1 if weight == .5 else 2, "student_weight": weight, "ratio": 1.02,
                  "seq_low": 0.97, "seq_high": 1.08}
    return d


def test_cells_and_plot(tmp_path: Path) -> None:
    days = [_day(1, "keep_testing", .5), _day(2, "ship", .5, "ramp"), _day(3, "ship", .9)]
    cells = decision_cells(days[1].decision)
    assert cells == {"phase (student share)": "1 (50%)", "sequential ratio": "1.020 [0.970, 1.080]",
                     "decision": "ship (non_inferior) -> ramp"}
    assert decision_cells({})["decision"] == "-"
    out = plot_decisions(days, tmp_path / "d.png", margin=0.96)
    assert out is not None and out.stat().st_size > 5000
    assert plot_decisions([DayResult(day=1, date="x")], tmp_path / "none.png", margin=.96) is None
