"""Pure tests of the renderer: identity at zero, each slider monotone on a suitable statistic, band locality."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from skimage.color import rgb2hsv, rgb2lab
from skimage.filters import gaussian, laplace

from flywheel.contracts import ADJUST_KEYS, COLORS
from flywheel.render import UnknownFilter, colour, photos, render
from flywheel_lab.bench.render import ALL_TOOLS

VALUES = (-100, -50, 0, 50, 100)
NONNEG = (0, 35, 70, 100)


@pytest.fixture(scope="module")
def lut_dir(tmp_path_factory: pytest.TempPathFactory):
    return tmp_path_factory.mktemp("luts")


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    return photos.load("astronaut", max_side=256)


def _adjust(**kw: int) -> dict:
    return {"adjust": {k: kw.get(k, 0) for k in ADJUST_KEYS}, "selective_adjust": None, "filter": None}


def _lab(image: Image.Image) -> np.ndarray:
    return rgb2lab(np.asarray(image.convert("RGB")))


def _hue_shift(out: Image.Image, base: Image.Image) -> float:
    h0, h1 = rgb2hsv(np.asarray(base)), rgb2hsv(np.asarray(out))
    mask = (h0[..., 1] > 0.3) & (h0[..., 2] > 0.2)
    d = (h1[..., 0] - h0[..., 0] + 0.5) % 1.0 - 0.5
    return float(d[mask].mean() * 360)


def _highlights(img, base):
    return _lab(img)[..., 0][_lab(base)[..., 0] > 60].mean()


def _shadows(img, base):
    return _lab(img)[..., 0][_lab(base)[..., 0] < 40].mean()


def _band_pass(img, base):
    lum = _lab(img)[..., 0]
    return float(np.std(lum - gaussian(lum, sigma=6)))


STATISTICS = {
    "exposure": (VALUES, lambda img, base: _lab(img)[..., 0].mean()),
    "brightness": (VALUES, lambda img, base: _lab(img)[..., 0].mean()),
    "linearOffset": (VALUES, lambda img, base: _lab(img)[..., 0].mean()),
    "contrast": (VALUES, lambda img, base: _lab(img)[..., 0].std()),
    "highlights": (VALUES, _highlights),
    "shadows": (VALUES, _shadows),
    "saturation": (VALUES, lambda img, base: np.hypot(*np.moveaxis(_lab(img)[..., 1:], -1, 0)).mean()),
    "vibrance": (VALUES, lambda img, base: np.hypot(*np.moveaxis(_lab(img)[..., 1:], -1, 0)).mean()),
    "temperature": (VALUES, lambda img, base: _lab(img)[..., 2].mean()),
    "tint": (VALUES, lambda img, base: _lab(img)[..., 1].mean()),
    "hue": (VALUES, lambda img, base: _hue_shift(img, base)),
    "bloom": (NONNEG, lambda img, base: _lab(img)[..., 0].mean()),
    "sharpen": (NONNEG, lambda img, base: np.abs(laplace(_lab(img)[..., 0])).mean()),
    "structure": (NONNEG, _band_pass),
}


def test_every_slider_has_a_statistic():
    assert set(STATISTICS) == set(ADJUST_KEYS)


@pytest.mark.parametrize("outputs", [
    None, {}, {"adjust": None, "selective_adjust": None, "filter": None}, _adjust(),
    {"adjust": None, "selective_adjust": {c: {"saturation": 0, "luminance": 0} for c in COLORS}, "filter": None},
    {"adjust": _adjust()["adjust"], "selective_adjust": None, "filter": {"name": "mono_Classic", "intensity": 0}},
])
@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L"])
def test_identity_at_zero_is_pixel_identical(photo, outputs, mode, lut_dir):
    image = photo.convert(mode)
    out = render(image, outputs, lut_dir=lut_dir)
    assert out is not image and out.mode == image.mode
    assert np.array_equal(np.asarray(out), np.asarray(image))


@pytest.mark.parametrize("slider", ADJUST_KEYS)
def test_each_slider_is_monotone_in_its_statistic(photo, slider, lut_dir):
    values, stat = STATISTICS[slider]
    got = [float(stat(render(photo, _adjust(**{slider: v}), lut_dir=lut_dir), photo)) for v in values]
    steps = np.diff(got)
    assert (steps > 0).all(), f"{slider}: {dict(zip(values, got, strict=True))}"
    assert got[-1] - got[0] > 0.5, f"{slider} barely moves: {got}"


def test_render_does_not_modify_its_input(photo, lut_dir):
    before = np.asarray(photo).copy()
    render(photo, ALL_TOOLS, lut_dir=lut_dir)
    assert np.array_equal(np.asarray(photo), before)


def _hue_sweep() -> Image.Image:
    """Every HSV hue at two saturations and brightnesses, plus a grey ramp (greys have no hue)."""
    hue = np.linspace(0, 1, 360, endpoint=False)
    rows = [np.stack([hue, np.full(360, s), np.full(360, v)], -1) for s in (0.5, 0.9) for v in (0.5, 0.9)]
    from skimage.color import hsv2rgb
    rgb = (hsv2rgb(np.stack(rows)) * 255).round().astype(np.uint8)
    grey = np.repeat(np.linspace(0, 255, 360).round().astype(np.uint8)[None, :, None], 3, axis=2)
    return Image.fromarray(np.repeat(np.concatenate([rgb, grey[None, 0:1].reshape(1, 360, 3)]), 4, axis=0))


@pytest.mark.parametrize("colour_name", COLORS)
@pytest.mark.parametrize("channel", ["saturation", "luminance"])
def test_each_selective_band_only_moves_its_hue_window(colour_name, channel, lut_dir):
    sweep = _hue_sweep()
    base = np.asarray(sweep).astype(int)
    hsv0 = rgb2hsv(np.asarray(sweep))
    centre, left, right = colour.HUE_BANDS[colour_name]
    d = (hsv0[..., 0] * 360 - centre + 180) % 360 - 180
    colourful = hsv0[..., 1] > 0.3
    inside = colourful & (d > -left / 3) & (d < right / 3)
    outside = ~colourful | (d < -left - 25) | (d > right + 25)
    for value in (100, -100):
        out = render(sweep, {"selective_adjust": {colour_name: {"saturation": 0, "luminance": 0, channel: value}}},
                     lut_dir=lut_dir)
        hsv1 = rgb2hsv(np.asarray(out))
        stat = 1 if channel == "saturation" else 2
        moved = (hsv1[..., stat] - hsv0[..., stat])[inside]
        assert (np.sign(value) * moved.mean()) > 0.05, f"{colour_name} {channel} {value}: inside moved {moved.mean()}"
        leak = np.abs(np.asarray(out).astype(int) - base).max(axis=-1)[outside]
        assert leak.max() <= 3, f"{colour_name} {channel} {value}: outside moved by up to {leak.max()} levels"


def test_band_windows_partition_red_to_blue():
    hue = np.arange(0, 240.5, 0.5, dtype=np.float32)   # from the red centre to the blue centre
    total = sum(colour.band_weight(hue, c) for c in COLORS)
    assert np.allclose(total, 1.0, atol=1e-5)
    assert np.allclose(sum(colour.band_weight(np.array([310.0], dtype=np.float32), c) for c in COLORS), 0.0)


def test_unknown_filter_is_refused(photo, lut_dir):
    with pytest.raises(UnknownFilter):
        render(photo, {"filter": {"name": "no_such_filter", "intensity": 50}}, lut_dir=lut_dir)


def test_every_tool_at_once_changes_the_photo(photo, lut_dir):
    out = render(photo, ALL_TOOLS, lut_dir=lut_dir)
    assert out.size == photo.size and out.mode == "RGB"
    assert np.abs(np.asarray(out).astype(int) - np.asarray(photo)).mean() > 5
