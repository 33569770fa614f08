"""`render(image, outputs)`: apply the three tool outputs (`adjust`, `selective_adjust`, `filter`) to a photo.

Pipeline: every global colour operation (adjust's colour sliders, selective_adjust's bands, the filter's LUT
blended by its intensity) is baked into ONE 3D LUT per edit and applied once; then structure, sharpen and bloom
run as spatial operations. Tools that are null, sliders at zero and a filter at intensity 0 are skipped, so an
edit that does nothing returns the same pixels.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from PIL.ImageFilter import Color3DLUT

from flywheel.contracts import ADJUST_KEYS, COLORS, load_tool_contracts
from flywheel.render import colour, luts
from flywheel.render.spatial import apply_spatial

SPATIAL_KEYS = ("bloom", "sharpen", "structure")
COLOUR_KEYS = tuple(k for k in ADJUST_KEYS if k not in SPATIAL_KEYS)


class UnknownFilter(ValueError):
    pass


def default_lut_dir() -> Path:
    from flywheel.settings import get_settings

    return get_settings().artifacts_dir / "luts"


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
    """The edit's one colour LUT, or None when no colour operation is active."""
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
    alpha = image.getchannel("A") if image.mode in ("RGBA", "LA") else None
    out = image if image.mode == "RGB" else image.convert("RGB")
    if lut is not None:
        out = out.filter(lut)
    out = apply_spatial(out, sharpen_s=spatial["sharpen"], structure_s=spatial["structure"],
                        bloom_s=spatial["bloom"])
    if alpha is not None:
        out.putalpha(alpha)
    return out
