"""A real browser for UI tests: Debian's chromium and chromium-driver, headless, with a profile of its own.

`make setup` installs both with apt-get where it runs as root. Without them a browser test is skipped, except under CI
(`CI` set, as CI services do): there it fails, so a CI run without the browser cannot pass with tests left out."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from flywheel_lab.docs_screens import BROWSER_MISSING, find_browser
from flywheel_lab.docs_screens import headless_chrome as _headless_chrome

CHROMIUM, DRIVER = find_browser()
IN_CI = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


# Outside CI a test without the browser is skipped at collection (before its fixtures start services); under CI it
# runs and fails in require_browser().
needs_browser = pytest.mark.skipif(not (CHROMIUM and DRIVER) and not IN_CI, reason=BROWSER_MISSING)


def require_browser() -> None:
    """Skip the calling test when chromium or chromedriver is missing; under CI, fail it with the same reason."""
    if CHROMIUM and DRIVER:
        return
    if IN_CI:
        pytest.fail(f"CI is set and this browser test cannot run: {BROWSER_MISSING}", pytrace=False)
    pytest.skip(BROWSER_MISSING)


def headless_chrome(profile: Path) -> Any:
    """A Selenium Chrome driver on chromium and the chromedriver on PATH (the caller quits it); never a download."""
    return _headless_chrome(profile)
