"""Debian's Chromium driven by Playwright, for the browser tests of every page.

Import what a test module uses (pytest finds the fixture by name):

    from tests.browser_fixtures import ARTIFACTS, ask, browser, log_in, new_page  # noqa: F401

- ``browser``: one headless Chromium per test module, launched as the machine's own probe starts it.
- ``launch_chromium(browser.browser_type, extra_args)``: another one with more flags (e.g. a WAV file
  as the microphone: ``--use-file-for-fake-audio-capture``), from the same Playwright.
- ``new_page``, ``ask``, ``log_in``: a kiosk page at a given size, a typed question answered, a
  logged-in staff or admin page.

Screenshots go to ``test-artifacts/`` at the repository root for a person to look at.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.server_fixtures import ACCOUNTS, LiveServer

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
# As the machine's own probe starts it: headless, and no background calls to the closed network.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def require_chromium() -> None:
    if not Path(CHROMIUM).exists():
        message = "Debian's chromium is not installed (make test installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def launch_chromium(browser_type: Any, extra_args: Sequence[str] = ()) -> Any:
    ARTIFACTS.mkdir(exist_ok=True)
    return browser_type.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *extra_args])


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = launch_chromium(playwright.chromium)
        yield launched
        launched.close()


def new_page(browser, live: LiveServer, width: int = 1080, height: int = 1600):  # type: ignore[no-untyped-def]
    page = browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN").new_page()
    page.set_default_timeout(15_000)
    page.goto(live.url + "/")
    return page


def ask(page, text: str) -> str:  # type: ignore[no-untyped-def]
    before = page.locator("#answer").inner_text()
    page.fill("#typed", text)
    page.click("button.send")
    page.wait_for_function("([before]) => document.getElementById('answer').innerText !== before", arg=[before])
    page.wait_for_function("() => document.getElementById('status').innerText === ''")
    return page.locator("#answer").inner_text()


def log_in(browser, live: LiveServer, name: str):  # type: ignore[no-untyped-def]
    page = browser.new_context(viewport={"width": 1280, "height": 1000}, locale="zh-CN").new_page()
    page.set_default_timeout(15_000)
    page.goto(live.url + "/login")
    page.fill("#name", name)
    page.fill("#password", ACCOUNTS[name][1])
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
    return page
