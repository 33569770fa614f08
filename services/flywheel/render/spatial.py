"""The spatial operations of `adjust`: structure (local contrast), sharpen and bloom, all in Pillow's C code.

All three work on luma (Pillow's "L" conversion, ITU-R 601 weights). Structure and bloom share one soft low-pass
of it, computed at about 256 px and scaled back up (a wide blur costs little there); sharpen is a 3x3 unsharp
kernel at full resolution.
"""

from __future__ import annotations

from functools import lru_cache

from PIL import Image, ImageChops, ImageFilter

# Low-pass radius as a fraction of the image's long side (about 15 px at 1024 px).
LOW_PASS_FRACTION = 0.015
LOW_PASS_SIDE = 256
STRUCTURE_GAIN = 1.0     # structure 100 adds the luma detail above the low-pass once more
SHARPEN_GAIN = 1.5       # sharpen 100 adds 1.5x the 3x3 high-pass
BLOOM_THRESHOLD = 0.55   # tones below this (of the low-pass) do not glow
BLOOM_GAIN = 0.9


def low_pass(image: Image.Image) -> Image.Image:
    factor = max(1, min(image.size) // LOW_PASS_SIDE)
    small = image.reduce(factor) if factor > 1 else image
    radius = max(1.0, LOW_PASS_FRACTION * max(image.size) / factor)
    blurred = small.filter(ImageFilter.GaussianBlur(radius))
    return blurred.resize(image.size, Image.Resampling.BILINEAR) if factor > 1 else blurred


def sharpen_detail(luma: Image.Image, s: float) -> Image.Image:
    """128 + a * (Y - box3x3(Y)): one 3x3 kernel (centre 8a/9, neighbours -a/9) around an offset of 128."""
    a = SHARPEN_GAIN * s
    return luma.filter(ImageFilter.Kernel((3, 3), [-a / 9] * 4 + [8 * a / 9] + [-a / 9] * 4, scale=1, offset=128))


def structure_detail(luma: Image.Image, low: Image.Image, s: float) -> Image.Image:
    """128 + k * (Y - low_pass(Y)): the local contrast above the low-pass, amplified."""
    return ImageChops.subtract(luma, low, scale=1.0 / (STRUCTURE_GAIN * s), offset=128)


@lru_cache(maxsize=128)
def _bloom_curve(s: float) -> list[int]:
    def curve(v: int) -> int:
        t = min(1.0, max(0.0, (v / 255 - BLOOM_THRESHOLD) / (1 - BLOOM_THRESHOLD)))
        return round(255 * BLOOM_GAIN * s * t * t * (3 - 2 * t))

    return [curve(v) for v in range(256)]


def _grey_rgb(channel: Image.Image) -> Image.Image:
    return Image.merge("RGB", (channel, channel, channel))


def apply_spatial(image: Image.Image, *, sharpen_s: float, structure_s: float, bloom_s: float) -> Image.Image:
    """Sliders in [0, 1] on an RGB image; a zero slider is skipped, so all zeros give the same pixels back.

    Sharpen and structure add one luma detail image to R, G and B alike (no colour fringes, as editors do);
    bloom screen-blends a neutral glow made of the low-pass's bright tones.
    """
    if not (sharpen_s > 0 or structure_s > 0 or bloom_s > 0):
        return image
    luma = image.convert("L")
    low = low_pass(luma) if (structure_s > 0 or bloom_s > 0) else None
    parts = []
    if sharpen_s > 0:
        parts.append(sharpen_detail(luma, sharpen_s))
    if structure_s > 0 and low is not None:
        parts.append(structure_detail(luma, low, structure_s))
    out = image
    if parts:
        detail = parts[0] if len(parts) == 1 else ImageChops.add(parts[0], parts[1], scale=1.0, offset=-128)
        out = ImageChops.add(out, _grey_rgb(detail), scale=1.0, offset=-128)
    if bloom_s > 0 and low is not None:
        out = ImageChops.screen(out, _grey_rgb(low.point(_bloom_curve(round(bloom_s, 3)))))
    return out
