"""The global colour operations of `adjust` and `selective_adjust`, as pure functions on colours.

Every function takes and returns an (N, 3) float32 array of sRGB-encoded colours in [0, 1]. They are evaluated on
the grid points of a 3D LUT (never per pixel), so clarity matters more than speed here. The formulas are the
contract of the renderer and are written down in docs/render.md; keep the two in step.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from flywheel.contracts import COLORS

# Rec. 709 luma weights (on the encoded values: a perceptual "lightness" for tone curves, not a colorimetric Y).
LUMA = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)

# Selective-adjust hue windows (HSV hue, degrees): centre, half-width to the left, half-width to the right.
# Neighbouring windows meet at the next centre, so from the red to the blue centre the weights add up to one;
# red fades out towards 330 and blue towards 300 degrees, and magenta/purple
# (about 300-330 degrees) belongs to no band, as in the contract (six colours).
HUE_BANDS: dict[str, tuple[float, float, float]] = {
    "red": (0.0, 30.0, 30.0),
    "orange": (30.0, 30.0, 30.0),
    "yellow": (60.0, 30.0, 60.0),
    "green": (120.0, 60.0, 60.0),
    "cyan": (180.0, 60.0, 60.0),
    "blue": (240.0, 60.0, 60.0),
}


def srgb_to_linear(x: np.ndarray) -> np.ndarray:
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4).astype(np.float32)


def linear_to_srgb(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return np.where(x <= 0.0031308, x * 12.92, 1.055 * x ** (1 / 2.4) - 0.055).astype(np.float32)


def luma(x: np.ndarray) -> np.ndarray:
    # Written out rather than `x @ LUMA`: a BLAS call may start threads, and renders stay on one core.
    return x[:, 0] * LUMA[0] + x[:, 1] * LUMA[1] + x[:, 2] * LUMA[2]


def channel_max_min(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # Element-wise over the three columns: numpy's max(axis=1) on an (N, 3) array is several times slower.
    r, g, b = x[:, 0], x[:, 1], x[:, 2]
    return np.maximum(np.maximum(r, g), b), np.minimum(np.minimum(r, g), b)


def smoothstep(lo: float, hi: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def hsv_hue_sat(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """HSV hue in degrees [0, 360) and HSV saturation; hue is 0 for greys (their saturation is 0)."""
    mx, mn = channel_max_min(x)
    c = mx - mn
    safe = np.where(c > 0, c, 1.0)
    r, g, b = x[:, 0], x[:, 1], x[:, 2]
    h = np.where(mx == r, ((g - b) / safe) % 6, np.where(mx == g, (b - r) / safe + 2, (r - g) / safe + 4))
    h = np.where(c > 0, h * 60.0, 0.0)
    s = np.where(mx > 0, c / np.where(mx > 0, mx, 1.0), 0.0)
    return h.astype(np.float32), s.astype(np.float32)


def scale_chroma(x: np.ndarray, factor: np.ndarray | float) -> np.ndarray:
    """Move each colour away from (factor > 1) or towards (factor < 1) the grey of the same luma."""
    y = luma(x)[:, None]
    f = np.asarray(factor, dtype=np.float32)
    return y + (x - y) * (f[:, None] if f.ndim else f)


def exposure_white_balance(x: np.ndarray, *, exposure: float, temperature: float, tint: float,
                           linear_offset: float) -> np.ndarray:
    """Per-channel gains and a black level in linear light (what a camera's raw pipeline would do)."""
    gains = np.float32(2.0 ** (2.0 * exposure)) * np.array(
        [2.0 ** (0.3 * temperature), 2.0 ** (-0.3 * tint), 2.0 ** (-0.3 * temperature)], dtype=np.float32)
    lin = srgb_to_linear(x) * gains
    o = np.float32(0.08 * linear_offset)
    lin = o + (1 - o) * lin if o >= 0 else (lin + o) / (1 + o)
    return linear_to_srgb(lin)


def brightness(x: np.ndarray, s: float) -> np.ndarray:
    """A gamma on the encoded values: lifts (s > 0) or lowers the midtones, black and white stay put."""
    return np.clip(x, 0.0, 1.0) ** np.float32(2.0 ** (-0.8 * s))


def _s_curve(x: np.ndarray, gain: float = 6.0) -> np.ndarray:
    lo, hi = 1 / (1 + np.exp(gain / 2)), 1 / (1 + np.exp(-gain / 2))
    return ((1 / (1 + np.exp(-gain * (x - 0.5)))) - lo) / (hi - lo)


def contrast(x: np.ndarray, s: float) -> np.ndarray:
    """s > 0: towards a logistic S-curve about mid-grey; s < 0: towards mid-grey (at -1, half the range)."""
    if s >= 0:
        return (1 - s) * x + s * _s_curve(x)
    return (1 + s) * x + (-s) * (0.5 + (x - 0.5) * 0.5)


def tones(x: np.ndarray, *, highlights: float, shadows: float) -> np.ndarray:
    """Add light to (or take it from) the bright or the dark tones; pure black and pure white do not move."""
    y = np.clip(luma(x), 0.0, 1.0)
    w_hi = 6.75 * y * y * (1 - y)          # peaks at 1 for y = 2/3
    w_sh = 6.75 * y * (1 - y) * (1 - y)    # peaks at 1 for y = 1/3
    return x + (0.3 * (highlights * w_hi + shadows * w_sh))[:, None]


def saturation_vibrance(x: np.ndarray, *, saturation: float, vibrance: float) -> np.ndarray:
    """Saturation scales all chroma; vibrance scales it more for the less saturated colours."""
    _, sat = hsv_hue_sat(np.clip(x, 0.0, 1.0))
    return scale_chroma(x, (1 + saturation) * (1 + vibrance * (1 - sat)))


def hue_rotate(x: np.ndarray, s: float) -> np.ndarray:
    """Rotate every colour about the grey axis by s * 60 degrees (Rodrigues; keeps the mean of R, G, B)."""
    theta = np.deg2rad(60.0 * s)
    k = np.ones(3) / np.sqrt(3)
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    rot = np.eye(3) + np.sin(theta) * kx + (1 - np.cos(theta)) * (kx @ kx)
    rot = rot.astype(np.float32)
    return np.stack([x[:, 0] * rot[i, 0] + x[:, 1] * rot[i, 1] + x[:, 2] * rot[i, 2] for i in range(3)], axis=1)


def band_weight(hue: np.ndarray, colour: str) -> np.ndarray:
    """Raised-cosine window of a colour band over HSV hue (1 at its centre, 0 beyond its half-widths)."""
    centre, left, right = HUE_BANDS[colour]
    d = (hue - centre + 180.0) % 360.0 - 180.0   # signed circular distance in (-180, 180]
    half = np.where(d < 0, left, right)
    t = np.clip(np.abs(d) / half, 0.0, 1.0)
    return (np.cos(t * np.pi / 2) ** 2).astype(np.float32)


def selective(x: np.ndarray, bands: Mapping[str, Mapping[str, float]]) -> np.ndarray:
    """Per-colour saturation (chroma scale) and luminance (gain) inside each band's hue window.

    `bands` maps colour -> {"saturation", "luminance"} in [-1, 1]. Greys have no hue, so the weights fade in
    with chroma (max - min of R, G, B) from 0.07 to 0.2: a grid point next to the grey axis of a 17-point LUT
    (chroma 1/16) gets no weight, so interpolation cannot leak a band onto greys.
    """
    xc = np.clip(x, 0.0, 1.0)
    hue, _ = hsv_hue_sat(xc)
    mx, mn = channel_max_min(xc)
    colourful = smoothstep(0.07, 0.2, mx - mn)
    sat_change = np.zeros(len(x), dtype=np.float32)
    lum_change = np.zeros(len(x), dtype=np.float32)
    for colour in COLORS:
        band = bands.get(colour)
        if not band:
            continue
        w = band_weight(hue, colour) * colourful
        sat_change += band.get("saturation", 0.0) * w
        lum_change += band.get("luminance", 0.0) * w
    out = scale_chroma(xc, 1 + sat_change)
    return out * (1 + 0.5 * lum_change)[:, None]


def split_tone(x: np.ndarray, *, shadow_hue: float, highlight_hue: float, amount: float) -> np.ndarray:
    """Tint the shadows and the highlights towards two hues (used by the catalogue filters)."""
    y = np.clip(luma(x), 0.0, 1.0)

    def direction(h: float) -> np.ndarray:
        rgb = np.clip(np.abs((h / 60.0 + np.array([0, 4, 2])) % 6 - 3) - 1, 0, 1)   # HSV hue -> pure colour
        return (rgb - rgb.mean()).astype(np.float32)

    w_sh, w_hi = (1 - y) ** 2, y ** 2
    return x + amount * (w_sh[:, None] * direction(shadow_hue) + w_hi[:, None] * direction(highlight_hue))


def apply_adjust(x: np.ndarray, a: Mapping[str, float]) -> np.ndarray:
    """The colour part of `adjust` (sliders scaled to [-1, 1]) in the documented order."""
    g = a.get
    x = exposure_white_balance(x, exposure=g("exposure", 0.0), temperature=g("temperature", 0.0),
                               tint=g("tint", 0.0), linear_offset=g("linearOffset", 0.0))
    x = brightness(x, g("brightness", 0.0))
    x = contrast(x, g("contrast", 0.0))
    x = tones(x, highlights=g("highlights", 0.0), shadows=g("shadows", 0.0))
    x = saturation_vibrance(x, saturation=g("saturation", 0.0), vibrance=g("vibrance", 0.0))
    x = hue_rotate(x, g("hue", 0.0))
    return np.clip(x, 0.0, 1.0).astype(np.float32)
