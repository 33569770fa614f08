"""The spatial operations of `adjust`: structure (local contrast), sharpen and bloom, all in Pillow's C code.

Structure and bloom share one soft low-pass of the image, computed at about 256 px and scaled back up (a wide
blur costs little there); sharpen is a 3x3 unsharp kernel on luma at full resolution.
"""

from __future__ import annotations

from functools import lru_cache

from PIL import Image, ImageChops, ImageFilter

# Low-pass radius as a fraction of the image's long side (about 15 px at 1024 px).
LOW_PASS_FRACTION = 0.015
LOW_PASS_SIDE = 256
STRUCTURE_GAIN = 1.0     # structure 100 adds the image's detail above the low-pass once more
SHARPEN_GAIN = 1.5       # sharpen 100 adds 1.5x the 3x3 high-pass
BLOOM_THRESHOLD = 0.55   # tones below this (of the low-pass) do not glow
BLOOM_GAIN = 0.9


def low_pass(image: Image.Image) -> Image.Image:
    factor = max(1, min(image.size) // LOW_PASS_SIDE)
    small = image.reduce(factor) if factor > 1 else image
    radius = max(1.0, LOW_PASS_FRACTION * max(image.size) / factor)
    blurred = small.filter(ImageFilter.GaussianBlur(radius))
    return blurred.resize(image.size, Image.Resampling.BILINEAR) if factor > 1 else blurred


def sharpen(image: Image.Image, s: float) -> Image.Image:
    """Unsharp mask on luma only (no colour fringes): image + a * (Y - box3x3(Y)) added to R, G and B alike.

    The high-pass comes from one 3x3 kernel (centre 8a/9, neighbours -a/9) around an offset of 128.
    """
    a = SHARPEN_GAIN * s
    high = image.convert("L").filter(ImageFilter.Kernel((3, 3), [-a / 9] * 4 + [8 * a / 9] + [-a / 9] * 4,
                                                        scale=1, offset=128))
    return ImageChops.add(image, Image.merge("RGB", (high, high, high)), scale=1.0, offset=-128)


def structure(image: Image.Image, low: Image.Image, s: float) -> Image.Image:
    """image + gain * s * (image - low_pass): Image.blend extrapolates (and clips) for alpha > 1."""
    return Image.blend(low, image, 1.0 + STRUCTURE_GAIN * s)


def bloom(image: Image.Image, low: Image.Image, s: float) -> Image.Image:
    """Screen-blend a glow: the low-pass's bright tones above a threshold, scaled by the slider."""
    glow = low.point(_bloom_curve(round(s, 3)) * len(low.getbands()))
    return ImageChops.screen(image, glow)


@lru_cache(maxsize=128)
def _bloom_curve(s: float) -> list[int]:
    def curve(v: int) -> int:
        t = min(1.0, max(0.0, (v / 255 - BLOOM_THRESHOLD) / (1 - BLOOM_THRESHOLD)))
        return round(255 * BLOOM_GAIN * s * t * t * (3 - 2 * t))

    return [curve(v) for v in range(256)]


def apply_spatial(image: Image.Image, *, sharpen_s: float, structure_s: float, bloom_s: float) -> Image.Image:
    """Sliders in [0, 1]; a zero slider is skipped, so all zeros give the same pixels back."""
    low = low_pass(image) if (structure_s > 0 or bloom_s > 0) else None
    out = image
    if sharpen_s > 0:
        out = sharpen(out, sharpen_s)
    if structure_s > 0 and low is not None:
        out = structure(out, low, structure_s)
    if bloom_s > 0 and low is not None:
        out = bloom(out, low, bloom_s)
    return out
