"""The referee's figures: drawn on a bare matplotlib ``Figure`` (no pyplot, so no global figure state and no backend
to choose) and saved the same way everywhere."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def figure(*, figsize: tuple[float, float], **subplots: Any) -> tuple[Any, Any]:
    """A figure laid out tight at save time and its axes (``subplots`` as ``Figure.subplots``: ncols, gridspec_kw)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="tight")
    return fig, fig.subplots(**subplots)


def save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path
