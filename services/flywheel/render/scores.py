"""Automatic scores of renders: mean CIEDE2000 colour difference and structural similarity (SSIM).

Mimicry compares the teacher's and the student's render of one photo; relevance compares a prediction's render
with the render of a reference the caller passes (on the simulator, its hidden ideal: this module never imports
the simulator, and the pipeline never calls `relevance`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from skimage.color import deltaE_ciede2000, rgb2lab
from skimage.metrics import structural_similarity

from flywheel.render.renderer import render

SCORE_MAX_SIDE = 512   # renders are compared at this size at most: the scores barely move, the cost drops 4x


@dataclass(frozen=True)
class RenderScores:
    delta_e: float   # mean CIEDE2000 over pixels: 0 = same colours, ~2.3 = just noticeable
    ssim: float      # structural similarity on the RGB channels: 1 = same image

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def _array(image: Image.Image, max_side: int | None) -> np.ndarray:
    image = image.convert("RGB")
    if max_side and max(image.size) > max_side:
        image = image.copy()
        image.thumbnail((max_side, max_side), Image.Resampling.BILINEAR)
    return np.asarray(image)


def compare(a: Image.Image, b: Image.Image, *, max_side: int | None = SCORE_MAX_SIDE) -> RenderScores:
    """Scores between two renders of the same photo (same size)."""
    if a.size != b.size:
        raise ValueError(f"renders differ in size: {a.size} vs {b.size}")
    x, y = _array(a, max_side), _array(b, max_side)
    delta_e = float(np.mean(deltaE_ciede2000(rgb2lab(x), rgb2lab(y))))
    ssim = float(structural_similarity(x, y, channel_axis=2, data_range=255))
    return RenderScores(delta_e=delta_e, ssim=ssim)


def mimicry(photo: Image.Image, *, teacher: Mapping[str, Any] | None, student: Mapping[str, Any] | None,
            lut_dir: Path | None = None) -> RenderScores:
    """How close the student's edit looks to the teacher's on this photo."""
    return compare(render(photo, teacher, lut_dir=lut_dir), render(photo, student, lut_dir=lut_dir))


def relevance(photo: Image.Image, *, prediction: Mapping[str, Any] | None, reference: Mapping[str, Any] | None,
              lut_dir: Path | None = None) -> RenderScores:
    """How close a prediction's edit looks to a reference edit (the caller's known answer) on this photo."""
    return compare(render(photo, prediction, lut_dir=lut_dir), render(photo, reference, lut_dir=lut_dir))
