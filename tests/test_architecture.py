"""The import contract (pyproject [tool.importlinter]) holds, and it is a contract that can fail."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

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


def test_a_violated_contract_fails(tmp_path: Path) -> None:
    """The same tool on a contract the code breaks today (training imports the datasets layer): exit 1."""
    cfg = tmp_path / "contracts.ini"
    cfg.write_text("[importlinter]\nroot_package = flywheel\n\n"
                   "[importlinter:contract:upside-down]\nname = datasets above training (wrong on purpose)\n"
                   "type = layers\nlayers =\n    flywheel.datasets\n    flywheel.training\n")
    r = _lint(cfg)
    assert r.returncode == 1, r.stdout[-2000:]
    assert "flywheel.training is not allowed to import flywheel.datasets" in r.stdout


def test_the_product_importing_the_referee_fails(tmp_path: Path) -> None:
    """The boundary contract can fail: the lab imports the product, so the reverse contract is broken."""
    cfg = tmp_path / "contracts.ini"
    cfg.write_text("[importlinter]\nroot_packages =\n    flywheel\n    flywheel_lab\n\n"
                   "[importlinter:contract:reverse]\nname = the referee never imports the product (wrong on purpose)\n"
                   "type = forbidden\nsource_modules =\n    flywheel_lab.demo\nforbidden_modules =\n    flywheel\n")
    r = _lint(cfg)
    assert r.returncode == 1, r.stdout[-2000:]
    assert "flywheel_lab.demo" in r.stdout
