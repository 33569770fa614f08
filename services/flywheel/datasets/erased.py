"""Files an erasure reached (docs/domain.md#erasure): split folders and model folders whose JSON Lines hold intents
lose the erased user's private intents' lines, and get an ``ERASED.json`` marker. A split so marked is refused by
training (:func:`refuse_erased`); a marked model stays servable, listed in the erasure record for an operator to
retrain."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flywheel.datasets.files import read_jsonl, write_jsonl

MARKER = "ERASED.json"  # beside the files an erasure rewrote


class ErasedSplit(ValueError):
    """A split that lost intents to an erasure: training on it would learn from a partial, changed dataset."""


def refuse_erased(folder: Path, *, split_id: str | None) -> None:
    """Raise :class:`ErasedSplit` naming the split and the erasure when ``folder`` carries the marker."""
    marker = Path(folder) / MARKER
    if not marker.is_file():
        return
    info = json.loads(marker.read_text())
    raise ErasedSplit(f"split {split_id or folder} is unusable: erasure {info.get('erasure_id')} removed intents "
                      f"from it ({marker}); make a new split from a ground-truth run computed after the erasure")


def drop_intents(path: Path, *, private: set[str]) -> int:
    """Rewrite a JSON Lines file of intent rows without the rows of ``private`` intents (atomically: a reader sees
    the old file or the new one); returns the rows removed."""
    rows = read_jsonl(path)
    kept = [r for r in rows if r["intent"] not in private]
    if len(kept) != len(rows):
        write_jsonl(path.with_name(f".{path.name}.erase"), kept).replace(path)
    return len(rows) - len(kept)


def scrub_folder(folder: Path, *, files: list[Path], private: set[str], erasure_id: int, mark: bool,
                 note: dict[str, Any] | None = None) -> int:
    """Drop the private intents' rows from ``files`` (those that exist) and mark ``folder`` when it lost any or
    ``mark``; returns the rows removed. The marker adds to an earlier one (several erasures may reach a folder)."""
    if not folder.is_dir():
        return 0
    removed = sum(drop_intents(f, private=private) for f in files if f.is_file())
    if mark or removed:
        marker = folder / MARKER
        earlier = json.loads(marker.read_text()) if marker.is_file() else {}
        marker.write_text(json.dumps({
            **(note or {}), "erasure_id": erasure_id,
            "erasure_ids": [*earlier.get("erasure_ids", []), erasure_id],
            "rows_removed": earlier.get("rows_removed", 0) + removed}) + "\n")
    return removed
