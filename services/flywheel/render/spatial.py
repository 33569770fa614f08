"""The spatial operations of `adjust`: structure (local contrast), sharpen and bloom, all in Pillow's C code.

All three work on luma (Pillow's "L" conversion, ITU-R 601 weights). Structure and bloom share one soft low-pass
of it, computed at about 256 px and scaled back up (a wide blur costs little there); sharpen is a 3x3 box
high-pass at full resolution. Everything is 8-bit and band by band: no full-size float or RGB intermediate.
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


def detail(luma: Image.Image, low: Image.Image | None, *, sharpen_s: float, structure_s: float) -> Image.Image:
    """128 + a (Y - box3x3(Y)) + k (Y - low_pass(Y)), in three cheap 8-bit passes.

    Rewritten as (a + k) (Y - M) with M = (a box3x3(Y) + k low_pass(Y)) / (a + k): a box blur, a blend and a
    subtraction, instead of a float 3x3 kernel, a subtraction and an addition (each rounding costs at most one
    level). The box blur extends the edge pixels, so the border is sharpened like the rest.
    """
    a = SHARPEN_GAIN * sharpen_s
    k = STRUCTURE_GAIN * structure_s if low is not None else 0.0
    smooth = luma.filter(ImageFilter.BoxBlur(1)) if a > 0 else None
    if low is not None and k > 0:
        smooth = low if smooth is None else Image.blend(smooth, low, k / (a + k))
    if smooth is None:
        raise ValueError("detail needs sharpen > 0, or structure > 0 with a low-pass")
    return ImageChops.subtract(luma, smooth, scale=1.0 / (a + k), offset=128)


@lru_cache(maxsize=128)
def _bloom_curve(s: float) -> list[int]:
    def curve(v: int) -> int:
        t = min(1.0, max(0.0, (v / 255 - BLOOM_THRESHOLD) / (1 - BLOOM_THRESHOLD)))
        return round(255 * BLOOM_GAIN * s * t * t * (3 - 2 * t))

    return [curve(v) for v in range(256)]


def apply_spatial(image: Image.Image, *, sharpen_s: float, structure_s: float, bloom_s: float) -> Image.Image:
    """Sliders in [0, 1] on an RGB image; a zero slider is skipped, so all zeros give the same pixels back.

    Sharpen and structure add one luma detail image to R, G and B alike (no colour fringes, as editors do);
    bloom screen-blends a neutral glow made of the low-pass's bright tones. Both run band by band on 8-bit
    images: cheaper than on RGB (4 bytes a pixel in Pillow) and no grey RGB copy of the detail or glow.
    """
    if not (sharpen_s > 0 or structure_s > 0 or bloom_s > 0):
        return image
    luma = image.convert("L")
    low = low_pass(luma) if (structure_s > 0 or bloom_s > 0) else None
    add = detail(luma, low, sharpen_s=sharpen_s, structure_s=structure_s) if (sharpen_s > 0 or structure_s > 0) \
        else None
    glow = low.point(_bloom_curve(round(bloom_s, 3))) if (bloom_s > 0 and low is not None) else None
    bands = []
    for band in image.split():
        if add is not None:
            band = ImageChops.add(band, add, scale=1.0, offset=-128)
        if glow is not None:
            # screen(x, g) = x + g (1 - x): white pasted through the glow as a mask, in place
            band.paste(255, None, glow)
        bands.append(band)
    return Image.merge("RGB", bands)
