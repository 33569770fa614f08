"""The .cube files: round trip through a standard reader, and every catalogue filter as a real LUT."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from pillow_lut import identity_table, load_cube_file

from flywheel.contracts import load_tool_contracts
from flywheel.render import luts, photos, render

CATALOGUE = load_tool_contracts().filters


@pytest.fixture(scope="module")
def lut_dir(tmp_path_factory: pytest.TempPathFactory):
    return tmp_path_factory.mktemp("luts")


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    return photos.load("coffee", max_side=192)


def test_cube_round_trip_gives_the_same_table(tmp_path):
    recipe = luts.filter_recipe("retro_Film", ["vintage", "warm", "faded"])
    lut = luts.bake(luts.recipe_op(recipe), 17)
    path = luts.write_cube(lut, tmp_path / "x.cube", title="retro_Film")
    back = load_cube_file(str(path))
    assert back.size == lut.size and back.channels == 3 and back.name == "retro_Film"
    assert np.allclose(np.asarray(back.table), np.asarray(lut.table), atol=1e-6)
    text = path.read_text().splitlines()
    assert "LUT_3D_SIZE 17" in text and len([ln for ln in text if ln[:1].isdigit()]) == 17 ** 3


def test_identity_cube_is_red_fastest(tmp_path):
    path = luts.write_cube(identity_table(5), tmp_path / "id.cube", title="identity")
    rows = [ln for ln in path.read_text().splitlines() if ln[:1].isdigit()]
    assert rows[1] == "0.250000 0.000000 0.000000" and rows[5] == "0.000000 0.250000 0.000000"
    assert np.allclose(luts.grid(5), np.array([list(map(float, r.split())) for r in rows]))


def test_generation_is_deterministic(tmp_path):
    a = luts.generate_filter_cube(name="moody_Dusk", tags=CATALOGUE["moody_Dusk"], cache_dir=tmp_path / "a")
    b = luts.generate_filter_cube(name="moody_Dusk", tags=CATALOGUE["moody_Dusk"], cache_dir=tmp_path / "b")
    assert a.name == b.name and a.read_bytes() == b.read_bytes()


def test_filters_with_the_same_tags_still_differ():
    seen: dict[tuple[str, ...], list[str]] = {}
    for name, tags in CATALOGUE.items():
        seen.setdefault(tuple(sorted(tags)), []).append(name)
    twins = next(names for names in seen.values() if len(names) > 1)
    tables = [np.asarray(luts.bake(luts.recipe_op(luts.filter_recipe(n, CATALOGUE[n])), 9).table) for n in twins]
    assert not np.allclose(tables[0], tables[1], atol=1e-3), twins


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_every_catalogue_filter_loads_and_changes_the_photo(name, photo, lut_dir):
    path = luts.generate_filter_cube(name=name, tags=CATALOGUE[name], cache_dir=lut_dir)
    assert load_cube_file(str(path)).size == (luts.FILTER_LUT_SIZE,) * 3
    base = np.asarray(photo).astype(int)

    def diff(intensity: int) -> float:
        out = render(photo, {"filter": {"name": name, "intensity": intensity}}, lut_dir=lut_dir)
        return float(np.abs(np.asarray(out).astype(int) - base).mean())

    zero, half, full = diff(0), diff(50), diff(100)
    assert zero == 0.0
    assert 0 < half < full and full > 3.0, (name, half, full)


def test_tag_directions_show_in_the_lut():
    def mean_change(tag: str, channel: int) -> float:
        recipe = {**luts.filter_recipe("x_y", [tag]), "split_amount": 0.0}   # the tag's sliders alone
        lut = luts.bake(luts.recipe_op(recipe), 9)
        return float((np.asarray(lut.table).reshape(-1, 3) - luts.grid(9)).mean(axis=0)[channel])

    assert mean_change("warm", 0) > 0 > mean_change("warm", 2)
    assert mean_change("cool", 2) > 0 > mean_change("cool", 0)
    assert mean_change("bright", 1) > 0 > mean_change("dark", 1)
    mono = np.asarray(luts.bake(luts.recipe_op(luts.filter_recipe("mono_Classic", ["mono"])), 9).table)
    assert np.ptp(mono.reshape(-1, 3), axis=1).max() < 1e-5   # no colour left


def test_writers_of_the_same_cube_at_once_do_not_trip_over_each_other(tmp_path):
    """An annotation page loads its images in parallel; two of them may need the same LUT file at the same moment."""
    from concurrent.futures import ThreadPoolExecutor

    lut = luts.bake(luts.recipe_op(luts.filter_recipe("retro_Film", ["vintage", "warm"])), 9)
    path = tmp_path / "same.cube"
    with ThreadPoolExecutor(8) as pool:
        done = list(pool.map(lambda _: luts.write_cube(lut, path, title="same"), range(32)))
    assert done == [path] * 32
    assert np.allclose(np.asarray(load_cube_file(str(path)).table), np.asarray(lut.table), atol=1e-6)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["same.cube"]  # no temporary file left behind
