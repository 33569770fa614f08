"""A real browser for UI tests: Debian's chromium and chromium-driver, headless, with a profile of its own."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")


def headless_chrome(profile: Path) -> Any:
    """A Selenium Chrome driver (the caller quits it). Needs CHROMIUM and DRIVER."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM or ""
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,860",
                f"--user-data-dir={profile}"):
        opts.add_argument(arg)
    return webdriver.Chrome(service=Service(executable_path=DRIVER), options=opts)
