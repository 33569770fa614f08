"""`render(image, outputs)`: apply the three tool outputs (`adjust`, `selective_adjust`, `filter`) to a photo.

Pipeline: every global colour operation (adjust's colour sliders, selective_adjust's bands, the filter's LUT
blended by its intensity) is baked into ONE 3D LUT per edit and applied once; then structure, sharpen and bloom
run as spatial operations. Tools that are null, sliders at zero and a filter at intensity 0 are skipped, so an
edit that does nothing returns the same pixels.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from PIL.ImageFilter import Color3DLUT

from flywheel.contracts import ADJUST_KEYS, COLORS, TOOLS, load_tool_contracts
from flywheel.render import colour, luts
from flywheel.render.spatial import apply_spatial

# The sliders rendered as neighbourhood operations (apply_spatial takes them by name), the rest go into the LUT. A
# rendering fact, not a contract one; `render` clamps them to 0..1 because they are unipolar sliders
# (tests/test_contracts.py checks that they are).
SPATIAL_KEYS = ("bloom", "sharpen", "structure")
# Pillow's free-block cache for this process (docs/render.md#speed): 32 blocks of 1 MiB keep at most 32 MiB.
PILLOW_BLOCK_SIZE = 1 << 20
PILLOW_BLOCKS_MAX = 32
COLOUR_KEYS = tuple(k for k in ADJUST_KEYS if k not in SPATIAL_KEYS)


class UnknownFilter(ValueError):
    pass


def default_lut_dir() -> Path:
    from flywheel.settings import get_settings

    return get_settings().artifacts_dir / "luts"


@cache
def reuse_pillow_memory() -> None:
    """Let Pillow keep freed image blocks for reuse, unless the process configured its allocator itself.

    A render makes about a dozen full-size intermediate images; by default Pillow returns each to the OS and
    the next one page-faults fresh memory, which costs about a tenth of a 1-Mpx render. Equal 1 MiB blocks are
    reused without a realloc, and the cache holds at most PILLOW_BLOCKS_MAX of them.
    """
    if "PILLOW_BLOCKS_MAX" in os.environ or "PILLOW_BLOCK_SIZE" in os.environ:
        return
    Image.core.set_block_size(PILLOW_BLOCK_SIZE)
    Image.core.set_blocks_max(max(PILLOW_BLOCKS_MAX, Image.core.get_blocks_max()))


def _sliders(adjust: Mapping[str, Any] | None) -> dict[str, float]:
    return {k: float((adjust or {}).get(k, 0)) / 100.0 for k in ADJUST_KEYS}


def _bands(selective: Mapping[str, Any] | None) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for c in COLORS:
        ch = (selective or {}).get(c) or {}
        sat, lum = float(ch.get("saturation", 0)) / 100.0, float(ch.get("luminance", 0)) / 100.0
        if sat or lum:
            out[c] = {"saturation": sat, "luminance": lum}
    return out


def edit_lut(outputs: Mapping[str, Any], *, lut_dir: Path | None = None,
             size: int = luts.EDIT_LUT_SIZE) -> Color3DLUT | None:
    """The edit's one colour LUT, or None when no colour operation is active (cached per edit: the teacher's
    and the student's renders of one sample, and the annotation pages, render the same edit again)."""
    key = json.dumps([outputs.get(k) for k in TOOLS], sort_keys=True)
    return _cached_edit_lut(key, None if lut_dir is None else str(lut_dir), size)


@lru_cache(maxsize=64)
def _cached_edit_lut(key: str, lut_dir: str | None, size: int) -> Color3DLUT | None:
    adjust, selective, flt = json.loads(key)
    return build_edit_lut({"adjust": adjust, "selective_adjust": selective, "filter": flt},
                          lut_dir=None if lut_dir is None else Path(lut_dir), size=size)


def clear_edit_lut_cache() -> None:
    _cached_edit_lut.cache_clear()


def build_edit_lut(outputs: Mapping[str, Any], *, lut_dir: Path | None = None,
                   size: int = luts.EDIT_LUT_SIZE) -> Color3DLUT | None:
    """Build the edit's LUT from scratch (what `edit_lut` caches)."""
    sliders = _sliders(outputs.get("adjust"))
    colour_sliders = {k: sliders[k] for k in COLOUR_KEYS if sliders[k]}
    bands = _bands(outputs.get("selective_adjust"))
    lut = None
    if colour_sliders or bands:
        def op(x: np.ndarray) -> np.ndarray:
            if colour_sliders:
                x = colour.apply_adjust(x, colour_sliders)
            return colour.selective(x, bands) if bands else x
        lut = luts.bake(op, size)
    flt = outputs.get("filter")
    if flt and float(flt.get("intensity", 0)) > 0:
        catalogue = load_tool_contracts().filters
        if flt["name"] not in catalogue:
            raise UnknownFilter(f"unknown filter {flt['name']!r} (not in the catalogue filters.json)")
        table = luts.filter_lut(name=flt["name"], tags=catalogue[flt["name"]], cache_dir=lut_dir or default_lut_dir())
        lut = luts.with_filter(lut, table, min(1.0, float(flt["intensity"]) / 100.0))
    return lut


def render(image: Image.Image, outputs: Mapping[str, Any] | None, *, lut_dir: Path | None = None) -> Image.Image:
    """The photo as the tool outputs edit it (a new image; the input is not modified)."""
    outputs = outputs or {}
    lut = edit_lut(outputs, lut_dir=lut_dir)
    sliders = _sliders(outputs.get("adjust"))
    spatial = {k: min(1.0, max(0.0, sliders[k])) for k in SPATIAL_KEYS}
    if lut is None and not any(spatial.values()):
        return image.copy()
    reuse_pillow_memory()
    alpha = image.getchannel("A") if image.mode in ("RGBA", "LA") else None
    out = image if image.mode == "RGB" else image.convert("RGB")
    if lut is not None:
        out = out.filter(lut)
    out = apply_spatial(out, sharpen_s=spatial["sharpen"], structure_s=spatial["structure"],
                        bloom_s=spatial["bloom"])
    if alpha is not None:
        out.putalpha(alpha)
    return out
