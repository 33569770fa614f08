"""The photos renders are made on: public-domain / CC0 images bundled in the scikit-image wheel (no download).

Their source and licence are in photos.json (and docs/render.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

from PIL import Image


@dataclass(frozen=True)
class Photo:
    name: str
    loader: str
    file: str
    subject: str
    source: str
    licence: str


@lru_cache(maxsize=1)
def catalogue() -> dict[str, Photo]:
    data = json.loads(resources.files("flywheel.render").joinpath("photos.json").read_text())
    return {p["name"]: Photo(**p) for p in data["photos"]}


def names() -> list[str]:
    return list(catalogue())


def bundled_path(name: str) -> Path:
    """Where the photo's file lies inside the installed scikit-image (it must be there: nothing is downloaded)."""
    import skimage.data

    return Path(skimage.data.__file__).parent / catalogue()[name].file


def load(name: str, *, max_side: int | None = None) -> Image.Image:
    """The photo as an RGB Pillow image, optionally scaled down so its long side is at most `max_side`."""
    if name not in catalogue():
        raise KeyError(f"unknown photo {name!r}; known: {', '.join(names())}")
    import skimage.data

    image = Image.fromarray(getattr(skimage.data, catalogue()[name].loader)()).convert("RGB")
    if max_side and max(image.size) > max_side:
        image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return image
