"""Automatic scores (CIEDE2000, SSIM), the offline photos, the bench and the module's command line."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from flywheel.render import photos, render
from flywheel.render.__main__ import main
from flywheel.render.scores import compare, mimicry, relevance
from flywheel_lab.bench.render import ALL_TOOLS, bench_render


@pytest.fixture(scope="module")
def lut_dir(tmp_path_factory: pytest.TempPathFactory):
    return tmp_path_factory.mktemp("luts")


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    return photos.load("chelsea", max_side=200)


def _exposure(v: int) -> dict:
    return {"adjust": {"exposure": v}, "selective_adjust": None, "filter": None}


def test_identical_renders_score_zero_and_one(photo, lut_dir):
    s = compare(photo, photo.copy())
    assert s.delta_e == 0.0 and s.ssim == pytest.approx(1.0)
    m = mimicry(photo, teacher=ALL_TOOLS, student=json.loads(json.dumps(ALL_TOOLS)), lut_dir=lut_dir)
    assert m.delta_e == 0.0 and m.ssim == pytest.approx(1.0)


def test_scores_move_the_right_way(photo, lut_dir):
    near = relevance(photo, prediction=_exposure(20), reference=_exposure(10), lut_dir=lut_dir)
    far = relevance(photo, prediction=_exposure(90), reference=_exposure(10), lut_dir=lut_dir)
    assert 0 < near.delta_e < far.delta_e
    assert 1 > near.ssim > far.ssim
    blurred = mimicry(photo, teacher=None, student={"adjust": {"structure": 100, "sharpen": 100}}, lut_dir=lut_dir)
    assert blurred.ssim < 0.98


def test_compare_refuses_different_sizes(photo):
    with pytest.raises(ValueError):
        compare(photo, photo.resize((50, 50)))


@pytest.mark.parametrize("name", photos.names())
def test_photos_are_bundled_rgb_and_documented(name):
    assert photos.bundled_path(name).is_file()     # shipped in the wheel: nothing is downloaded
    meta = photos.catalogue()[name]
    assert meta.source and meta.licence and ("public domain" in meta.licence or "CC0" in meta.licence)
    img = photos.load(name, max_side=128)
    assert img.mode == "RGB" and max(img.size) == 128
    assert np.asarray(img).std() > 10


def test_photo_set_size_and_unknown_name():
    assert 4 <= len(photos.names()) <= 8
    with pytest.raises(KeyError):
        photos.load("no_such_photo")


def test_bench_reports_median_and_p95(lut_dir):
    result = bench_render(side=128, repeats=3, lut_dir=lut_dir)
    for part in ("render", "render_cpu", "lut_build", "lut_apply"):
        assert 0 < result[part]["median_ms"] <= result[part]["p95_ms"]


def test_module_cli_renders_a_png(tmp_path, lut_dir, capsys):
    out = tmp_path / "r.png"
    assert main(["render", json.dumps(ALL_TOOLS), "--photo", "rocket", "--max-side", "160", "--out", str(out),
                 "--lut-dir", str(lut_dir)]) == 0
    img = Image.open(out)
    ref = render(photos.load("rocket", max_side=160), ALL_TOOLS, lut_dir=lut_dir)
    assert np.array_equal(np.asarray(img), np.asarray(ref))
