"""Render bench: one photo scaled to 1024 px, every tool active, timed on the calling thread."""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

from PIL import Image

import flywheel.render.photos as photos
from flywheel.contracts import ADJUST_KEYS, COLORS, UNIPOLAR_ADJUST_KEYS
from flywheel.render.renderer import build_edit_lut, clear_edit_lut_cache, render

# Every slider and every band non-zero, and a filter: the most work one edit can ask for.
ALL_TOOLS: dict[str, Any] = {
    "adjust": {k: (25 if i % 2 else -20) if k not in UNIPOLAR_ADJUST_KEYS else 40
               for i, k in enumerate(ADJUST_KEYS)},
    "selective_adjust": {c: {"saturation": 20 - 10 * i, "luminance": 10 - 5 * i} for i, c in enumerate(COLORS)},
    "filter": {"name": "vivid_GoldenHour", "intensity": 70},
}


def _square(image: Image.Image, side: int) -> Image.Image:
    return image.resize((side, side), Image.Resampling.LANCZOS)


def _timed(fn: Any, repeats: int, clock: Any = time.perf_counter) -> list[float]:
    out = []
    for _ in range(repeats):
        t0 = clock()
        fn()
        out.append((clock() - t0) * 1000.0)
    return out


def _summary(ms: list[float]) -> dict[str, float]:
    ordered = sorted(ms)
    return {"median_ms": round(statistics.median(ordered), 2),
            "p95_ms": round(ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))], 2),
            "min_ms": round(ordered[0], 2)}


def bench_render(*, side: int = 1024, repeats: int = 30, photo: str = "astronaut",
                 lut_dir: Path | None = None, outputs: dict[str, Any] | None = None) -> dict[str, Any]:
    """Median / p95 milliseconds of `render`, wall clock and process CPU time, with the edit's LUT built on every
    call (its per-edit cache cleared; the filter's .cube is read once and cached) and, apart, with it cached;
    and of its two colour stages."""
    image = _square(photos.load(photo), side)
    edit = outputs or ALL_TOOLS
    render(image, edit, lut_dir=lut_dir)   # warm-up: generates/loads the filter's .cube

    def cold() -> None:
        clear_edit_lut_cache()
        render(image, edit, lut_dir=lut_dir)

    lut = build_edit_lut(edit, lut_dir=lut_dir)
    assert lut is not None
    return {
        "image": f"{photo} {side}x{side}", "repeats": repeats,
        "render": _summary(_timed(cold, repeats)),
        # CPU time of the process: what one core spends, even when other work shares the machine (it would
        # exceed the wall time if anything ran on several threads).
        "render_cpu": _summary(_timed(cold, repeats, time.process_time)),
        "render_cpu_lut_cached": _summary(_timed(lambda: render(image, edit, lut_dir=lut_dir), repeats,
                                                 time.process_time)),
        "lut_build": _summary(_timed(lambda: build_edit_lut(edit, lut_dir=lut_dir), repeats)),
        "lut_apply": _summary(_timed(lambda: image.filter(lut), repeats)),
    }
