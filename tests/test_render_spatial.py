"""The fast spatial step and the LUT caches: same results as the plain formulas, to a level or two."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image, ImageChops

from flywheel.render import photos, render, spatial
from flywheel.render.renderer import build_edit_lut, edit_lut, reuse_pillow_memory
from flywheel_lab.bench.render import ALL_TOOLS


@pytest.fixture(scope="module")
def lut_dir(tmp_path_factory: pytest.TempPathFactory):
    return tmp_path_factory.mktemp("luts")


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    return photos.load("coffee", max_side=200)


def _box3(y: np.ndarray) -> np.ndarray:
    p = np.pad(y, 1, mode="edge")
    h, w = y.shape
    return sum(p[i:i + h, j:j + w] for i in range(3) for j in range(3)) / 9.0


@pytest.mark.parametrize(("sharpen", "structure"), [(1.0, 0.0), (0.0, 1.0), (0.4, 0.4), (0.7, 0.3)])
def test_detail_is_the_documented_formula(photo, sharpen, structure):
    luma = photo.convert("L")
    low = spatial.low_pass(luma)
    y, lo = np.asarray(luma, dtype=np.float64), np.asarray(low, dtype=np.float64)
    a, k = spatial.SHARPEN_GAIN * sharpen, spatial.STRUCTURE_GAIN * structure
    want = np.clip(128 + a * (y - _box3(y)) + k * (y - lo), 0, 255)
    got = np.asarray(spatial.detail(luma, low, sharpen_s=sharpen, structure_s=structure), dtype=np.float64)
    err = np.abs(got - want)
    assert err.max() <= 2.5 and err.mean() < 0.6, (err.max(), err.mean())


def test_sharpen_and_structure_leave_a_flat_photo_flat_up_to_its_border():
    flat = Image.new("RGB", (96, 64), (90, 140, 200))
    out = render(flat, {"adjust": {"sharpen": 100, "structure": 100}})
    assert np.array_equal(np.asarray(out), np.asarray(flat))


def test_bloom_is_a_screen_of_the_glow(photo):
    luma = photo.convert("L")
    glow = spatial.low_pass(luma).point(spatial._bloom_curve(0.8))
    want = ImageChops.screen(photo, Image.merge("RGB", (glow, glow, glow)))
    got = spatial.apply_spatial(photo, sharpen_s=0.0, structure_s=0.0, bloom_s=0.8)
    diff = np.abs(np.asarray(got).astype(int) - np.asarray(want))
    assert diff.max() <= 1 and np.asarray(got).mean() > np.asarray(photo).mean() + 1


def test_edit_lut_is_cached_per_edit_and_equals_a_fresh_build(lut_dir):
    first = edit_lut(ALL_TOOLS, lut_dir=lut_dir)
    assert edit_lut(dict(ALL_TOOLS), lut_dir=lut_dir) is first
    fresh = build_edit_lut(ALL_TOOLS, lut_dir=lut_dir)
    assert first is not None and fresh is not None
    assert np.array_equal(np.asarray(first.table), np.asarray(fresh.table))
    other = edit_lut({**ALL_TOOLS, "filter": {"name": "vivid_GoldenHour", "intensity": 30}}, lut_dir=lut_dir)
    assert other is not None and not np.allclose(np.asarray(other.table), np.asarray(first.table))


@pytest.mark.skipif("PILLOW_BLOCKS_MAX" in os.environ or "PILLOW_BLOCK_SIZE" in os.environ,
                    reason="the process configured Pillow's allocator itself")
def test_render_keeps_freed_pillow_blocks_for_reuse():
    reuse_pillow_memory()
    assert Image.core.get_blocks_max() >= 32
    assert Image.core.get_block_size() == 1 << 20
