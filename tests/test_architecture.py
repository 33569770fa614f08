"""The import contract (pyproject [tool.importlinter]) holds, and it is a contract that can fail."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")


def _lint(config: Path | None = None) -> subprocess.CompletedProcess[str]:
    cmd = [str(LINT)] + (["--config", str(config)] if config else [])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "services"), str(ROOT / "lab")])}
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)


def _contracts() -> list[dict]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]


def test_contracts_name_the_layers_and_the_forbidden_modules() -> None:
    by_id = {c["id"]: c for c in _contracts()}
    layers = by_id["layers"]["layers"]
    order = [name for layer in layers for name in layer.split(" | ")]
    stages = ["flywheel.registry", "flywheel.evaluation", "flywheel.inference", "flywheel.training",
              "flywheel.datasets"]
    assert [order.index(s) for s in stages] == sorted(order.index(s) for s in stages)  # highest first
    # The product stands apart from its referee: nothing under flywheel may import flywheel_lab (the simulator, the
    # demo, checks, benches, experiments), so no stage can read the hidden truth.
    assert by_id["product-apart-from-referee"]["source_modules"] == ["flywheel"]
    assert by_id["product-apart-from-referee"]["forbidden_modules"] == ["flywheel_lab"]
    assert by_id["lab-layers"]["layers"][-1] == "flywheel_lab.simulator"
    assert by_id["no-airflow"]["forbidden_modules"] == ["airflow"]
    assert set(by_id["light-ingest"]["forbidden_modules"]) == {"torch", "transformers"}


def test_the_package_keeps_its_import_contracts() -> None:
    r = _lint()
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert f"{len(_contracts())} kept, 0 broken" in r.stdout


# Contracts the code breaks today, each with a line lint-imports must print: the same tool fails (exit 1) on a layer
# order turned upside down (training imports the datasets layer) and on a package boundary drawn the wrong way round
# (the referee imports the product).
BROKEN = {
    "layers": ("[importlinter]\nroot_package = flywheel\n\n"
               "[importlinter:contract:upside-down]\nname = datasets above training (wrong on purpose)\n"
               "type = layers\nlayers =\n    flywheel.datasets\n    flywheel.training\n",
               "flywheel.training is not allowed to import flywheel.datasets"),
    "boundary": ("[importlinter]\nroot_packages =\n    flywheel\n    flywheel_lab\n\n"
                 "[importlinter:contract:reverse]\nname = the referee never imports the product (wrong on purpose)\n"
                 "type = forbidden\nsource_modules =\n    flywheel_lab.demo\nforbidden_modules =\n    flywheel\n",
                 "flywheel_lab.demo is not allowed to import flywheel"),
}


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_a_violated_contract_fails(kind: str, tmp_path: Path) -> None:
    text, expected = BROKEN[kind]
    cfg = tmp_path / "contracts.ini"
    cfg.write_text(text)
    r = _lint(cfg)
    assert r.returncode == 1, r.stdout[-2000:]
    assert expected in r.stdout, r.stdout[-2000:]
