"""Tables people read about ground truth and splits (the CLI and the demo print the same ones)."""

from __future__ import annotations

from typing import Any

from rich.table import Table

TOOL_LABELS = {"adjust": "Adjust", "selective_adjust": "Sel. adjust", "filter": "Filter"}


def set_table(split: Any) -> Table:
    """The paper's "Set" table: Used / All per tool, for train and test (docs/domain.md#the-set-table)."""
    t = Table(title=f"Set — split {split.split_id}")
    t.add_column("Set")
    for label in TOOL_LABELS.values():
        t.add_column(f"{label}\nUsed", justify="right")
        t.add_column("All", justify="right")
    for part in ("train", "test"):
        row = split.set_table.get(part, {})
        cells = [f"{row.get(tool, {}).get(k, 0):,}" for tool in TOOL_LABELS for k in ("used", "all")]
        t.add_row(part.capitalize(), *cells)
    return t
