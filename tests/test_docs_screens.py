"""`flywheel docs screenshots` (flywheel_lab.docs_screens): the command is wired, refuses what it cannot do, and makes
the annotation page's screenshot from a seeded batch, stopping the Postgres it started. The Airflow screenshots start
`airflow standalone` (about 1.5 min); tests/test_airflow_ui.py covers that start and stop."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from flywheel.errors import UsageError
from flywheel_lab.docs_screens import annotation_screenshot, take_screenshots
from tests.support.browser import needs_browser, require_browser


def test_the_command_joins_the_cli() -> None:
    from flywheel.cli.main import app

    result = CliRunner().invoke(app, ["docs", "screenshots", "--help"])
    assert result.exit_code == 0, result.output
    assert "--only" in result.output and "--out" in result.output


def test_unknown_sets_and_missing_folders_are_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="unknown screenshot set"):
        take_screenshots(tmp_path, only=("nope",))
    with pytest.raises(UsageError, match="no folder"):
        take_screenshots(tmp_path / "missing", only=("annotation",))


@needs_browser
def test_annotation_screenshot(tmp_path: Path) -> None:
    require_browser()
    (tmp_path / "work").mkdir()
    lines: list[str] = []
    path = annotation_screenshot(tmp_path, tmp_path / "work", echo=lines.append)
    assert path == tmp_path / "annotation-app.png"
    with Image.open(path) as im:
        assert im.size == (1400, 720)
        assert len(im.getcolors(1 << 20) or range(1 << 20)) > 1000  # photos, not a blank or error page
    assert "postgres: stopped" in lines
    assert not list(tmp_path.glob("*.tmp"))
