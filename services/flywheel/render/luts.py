"""3D LUTs: the one colour LUT of an edit, the `.cube` files of the catalogue filters, and their cache.

Table layout is the `.cube` one (and Pillow's): red changes fastest, then green, then blue.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from PIL.ImageFilter import Color3DLUT
from pillow_lut import amplify_lut, load_cube_file, transform_lut

from flywheel.render import colour

# 17 points a side, as many editors' LUT packs: smooth looks need no more, and it keeps an edit's LUT cheap to
# build (the render bench's budget is 50 ms).
EDIT_LUT_SIZE = 17
FILTER_LUT_SIZE = 17
# Bump when a filter's look (the recipe below) changes: cached .cube files of another version are ignored.
FILTER_RECIPE_VERSION = 1

ColourOp = Callable[[np.ndarray], np.ndarray]


def grid(size: int) -> np.ndarray:
    """The LUT's input colours, (size**3, 3), red fastest."""
    b, g, r = np.mgrid[0:1:size * 1j, 0:1:size * 1j, 0:1:size * 1j].astype(np.float32)
    return np.stack((r, g, b), axis=-1).reshape(-1, 3)


def bake(op: ColourOp, size: int = EDIT_LUT_SIZE, name: str | None = None) -> Color3DLUT:
    table = np.clip(op(grid(size)), 0.0, 1.0).astype(np.float32)
    lut = Color3DLUT(size, table.reshape(-1), _copy_table=False)
    if name:
        lut.name = name
    return lut


def write_cube(lut: Color3DLUT, path: Path, *, title: str, comments: tuple[str, ...] = ()) -> Path:
    """Write a 3-channel LUT as an Adobe/Resolve `.cube` text file (DOMAIN 0..1, six decimals)."""
    size = lut.size[0]
    if lut.size != (size, size, size) or lut.channels != 3:
        raise ValueError(f"only cubic 3-channel LUTs can be written, got size {lut.size}, {lut.channels} channels")
    table = np.asarray(lut.table, dtype=np.float64).reshape(-1, 3)
    header = [f"# {c}" for c in comments] + [
        f'TITLE "{title}"', f"LUT_3D_SIZE {size}", "DOMAIN_MIN 0.0 0.0 0.0", "DOMAIN_MAX 1.0 1.0 1.0"]
    body = "\n".join(f"{r:.6f} {g:.6f} {b:.6f}" for r, g, b in table)
    path.parent.mkdir(parents=True, exist_ok=True)
    # A temporary file of this writer's own: two requests that need the same LUT at once (an annotation page loads
    # its images in parallel) must not move each other's file away. Readers never see a half-written file.
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write("\n".join(header) + "\n" + body + "\n")
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise
    return path


def read_cube(path: Path) -> Color3DLUT:
    return load_cube_file(str(path))


# --- catalogue filters -----------------------------------------------------------------------------------------

# What each catalogue tag does, as `adjust` sliders in [-1, 1].
TAG_SLIDERS: dict[str, dict[str, float]] = {
    "bright": {"exposure": 0.2, "brightness": 0.2, "shadows": 0.2},
    "dark": {"exposure": -0.25, "brightness": -0.15, "shadows": -0.2},
    "warm": {"temperature": 0.35, "tint": 0.05},
    "cool": {"temperature": -0.35, "tint": -0.05},
    "vivid": {"saturation": 0.2, "vibrance": 0.4},
    "muted": {"saturation": -0.35},
    "faded": {"linearOffset": 0.6, "contrast": -0.35, "highlights": -0.2},
    "contrast": {"contrast": 0.5},
    "vintage": {"saturation": -0.15, "linearOffset": 0.3, "highlights": -0.15},
    "mono": {"saturation": -1.0},
}
# Name words with a known colour (HSV hue of the shadows' and the highlights' tint). Other names get a hue from
# a hash of the name, so two filters with the same tags still look different, deterministically.
WORD_TONES: dict[str, tuple[float, float]] = {
    "goldenhour": (30.0, 40.0), "bluehour": (220.0, 200.0), "dusk": (270.0, 25.0), "dawn": (200.0, 340.0),
    "highnoon": (200.0, 55.0), "film": (180.0, 35.0), "matte": (210.0, 30.0), "neon": (300.0, 180.0),
    "sepia": (30.0, 35.0), "memory": (25.0, 40.0), "noir": (220.0, 220.0), "city": (200.0, 190.0),
    "classic": (0.0, 0.0), "soft": (30.0, 30.0),
}


def filter_recipe(name: str, tags: list[str]) -> dict[str, Any]:
    """Everything a filter's LUT is generated from, derived only from its catalogue entry (name and tags)."""
    sliders: dict[str, float] = {}
    for tag in sorted(tags):
        for key, value in TAG_SLIDERS.get(tag, {}).items():
            sliders[key] = max(-1.0, min(1.0, sliders.get(key, 0.0) + value))
    words = [w.lower() for w in name.split("_")]
    if "noir" in words:
        sliders["contrast"] = max(sliders.get("contrast", 0.0), 0.5)
    known = [WORD_TONES[w] for w in words if w in WORD_TONES]
    digest = hashlib.sha256(name.encode()).digest()
    shadow_hue, highlight_hue = known[-1] if known else (digest[0] * 360 / 256, digest[1] * 360 / 256)
    amount = 0.12 if ("vintage" in tags or "sepia" in words) else 0.06
    if "mono" in tags and "sepia" not in words:
        amount = 0.0 if "classic" in words else 0.02
    return {"version": FILTER_RECIPE_VERSION, "name": name, "tags": sorted(tags), "sliders": sliders,
            "shadow_hue": round(shadow_hue, 3), "highlight_hue": round(highlight_hue, 3), "split_amount": amount}


def recipe_op(recipe: Mapping[str, Any]) -> ColourOp:
    def op(x: np.ndarray) -> np.ndarray:
        x = colour.apply_adjust(x, recipe["sliders"])
        return colour.split_tone(x, shadow_hue=recipe["shadow_hue"], highlight_hue=recipe["highlight_hue"],
                                 amount=recipe["split_amount"])
    return op


def recipe_digest(recipe: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:12]


def cube_path(cache_dir: Path, recipe: Mapping[str, Any]) -> Path:
    return Path(cache_dir) / f"v{FILTER_RECIPE_VERSION}" / f"{recipe['name']}-{recipe_digest(recipe)}.cube"


def generate_filter_cube(*, name: str, tags: list[str], cache_dir: Path) -> Path:
    """Write the filter's `.cube` file (idempotent: an existing file of the same recipe is kept)."""
    recipe = filter_recipe(name, tags)
    path = cube_path(cache_dir, recipe)
    if not path.exists():
        lut = bake(recipe_op(recipe), FILTER_LUT_SIZE)
        write_cube(lut, path, title=name, comments=(
            "flywheel catalogue filter, generated by `python -m flywheel.render luts`",
            "recipe " + json.dumps(recipe, sort_keys=True)))
    return path


@lru_cache(maxsize=128)
def _load_cached(path: str) -> Color3DLUT:
    return read_cube(Path(path))


def filter_lut(*, name: str, tags: list[str], cache_dir: Path) -> Color3DLUT:
    """The filter's LUT, read back from its `.cube` file (generated on first use)."""
    return _load_cached(str(generate_filter_cube(name=name, tags=tags, cache_dir=cache_dir)))


@lru_cache(maxsize=256)
def _blended(flt: Color3DLUT, intensity: float) -> Color3DLUT:
    # Filters come from _load_cached (one object per file) and intensities are whole percents: few keys.
    return amplify_lut(flt, intensity)


def with_filter(edit: Color3DLUT | None, flt: Color3DLUT, intensity: float) -> Color3DLUT:
    """The filter blended with the identity by `intensity` (0..1), applied after the edit's own LUT."""
    blended = _blended(flt, intensity)
    if edit is None:
        return blended
    return transform_lut(edit, blended)
