"""Headless Chromium (Debian's `chromium` + `chromium-driver`) driven by Selenium, and the screenshot folder.

The browser and driver are the system packages: Selenium is given both paths, so it never looks for or
downloads a browser of its own. Each session gets a fresh profile directory, removed at the end.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from tests.support.backends import wait_for

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
REPO = Path(__file__).resolve().parents[2]
T = TypeVar("T")

# Flags that work on this machine: no sandbox (root), no GPU, and nothing that reaches the internet.
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1280,1000")


def screenshot_dir() -> Path:
    """`<repo>/.state/screenshots/`, or $OSTIA_SCREENSHOTS."""
    folder = Path(os.environ.get("OSTIA_SCREENSHOTS") or REPO / ".state" / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@contextlib.contextmanager
def chromium() -> Iterator[webdriver.Chrome]:
    profile = tempfile.mkdtemp(prefix="ostia-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # the page's console, for driver.get_log
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def until(what: str, probe: Callable[[], T | None], timeout: float = 20.0, interval: float = 0.2) -> T:
    """wait_for that takes page look-ups raising (stale or missing elements while the page re-renders) as
    "not yet"."""
    return wait_for(what, probe, timeout, interval, tolerate=(Exception,))
