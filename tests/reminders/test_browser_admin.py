"""The admin's reminders pages in a real browser (Chromium): the run and the chart show, nothing is
blocked by the page's security policy, and a rule is edited through the form. Screenshots go to
test-artifacts/."""

from __future__ import annotations

from pathlib import Path

import pytest

from knowledge_base.db import session
from knowledge_base.models import ReminderRule
from knowledge_base.settings import Settings
from tests.browser_fixtures import ARTIFACTS, browser, log_in  # noqa: F401  (fixture)
from tests.reminders.test_admin import _run_and_send
from tests.server_fixtures import LiveServer, live_server  # noqa: F401  (fixture)


@pytest.fixture
def server_settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", speech_enabled=False, demo=True, reminders_in_service=False)


def test_admin_sees_the_run_and_edits_a_rule(browser, live_server: LiveServer) -> None:  # noqa: F811
    _run_and_send(live_server.app)
    page = log_in(browser, live_server, "admin1")
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.click("text=缴费提醒")
    page.wait_for_selector("#run-totals")
    assert page.locator("svg.chart rect").count() > 10 and page.locator("svg.chart").is_visible()
    assert page.locator("#by-rule-channel tbody tr").count() == 4
    page.screenshot(path=str(ARTIFACTS / "reminders.png"), full_page=True)

    page.click("text=提醒规则")
    form = page.locator("#rule-due_soon")
    form.locator("input[name=days]").fill("4")
    form.locator("button[type=submit]").click()
    page.wait_for_selector("#saved")
    assert "已保存“快到期”" in page.locator("#saved").inner_text()
    with session(live_server.app.state.engine) as db:
        assert db.get(ReminderRule, "due_soon").days == 4
    page.screenshot(path=str(ARTIFACTS / "reminder-rules.png"))
    assert problems == []
