"""The admin pages as an admin uses them (issue 13): "try a phrase" beside the fields, showing exactly
what the kiosk would say and the customer hear ("您是想问…吗？" included), and an audit trail that
shows only the lines added and removed. Real server, real Chromium.

Screenshots go to ``test-artifacts/admin/``.
"""

from __future__ import annotations

from contextlib import closing
from typing import Any

import httpx

from server.admin.audit_diff import DiffLine, changed_lines
from tests.browser_fixtures import ARTIFACTS, browser, log_in  # noqa: F401
from tests.server_fixtures import LiveServer, live_server, server_settings  # noqa: F401

SHOTS = ARTIFACTS / "admin"
NEW_EXAMPLE = "营业厅礼拜天上不上班"
NEW_ANSWER = "营业厅在文昌路1号，每天早上9点开门。"


def kiosk_first_turn(live: LiveServer, text: str) -> dict[str, Any]:
    """What a customer who opens with ``text`` at the kiosk gets, through the kiosk's own API."""
    with closing(httpx.Client(base_url=live.url, timeout=10)) as http:
        response = http.post("/api/converse", json={"text": text, "channel": "kiosk"})
    assert response.status_code == 200, response.text
    return response.json()


def try_phrase(page: Any, text: str) -> tuple[str, str | None]:
    """Type into "try a phrase"; returns what the page says the customer hears and sees (None: the same)."""
    before = page.locator("#try-result").inner_text()
    page.fill("#try-text", text)
    page.click("#try-form button[type=submit]")
    page.wait_for_function("([before]) => document.getElementById('try-result').innerText !== before", arg=[before])
    shown = page.locator("#try-shown")
    return page.locator("#try-spoken").inner_text(), shown.inner_text() if shown.count() else None


def test_try_a_phrase_says_what_the_kiosk_says_beside_the_fields(browser, live_server: LiveServer) -> None:  # noqa: F811
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = log_in(browser, live_server, "admin1")
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(live_server.url + "/admin/intents/hall_info")
    # The panel sits beside the fields, in the first screen (it used to be 3,000 px below them).
    form, panel = page.locator("#intent-form").bounding_box(), page.locator("#try-form").bounding_box()
    assert form and panel and panel["y"] + panel["height"] < 800 and panel["x"] >= form["x"] + form["width"]
    # A phrase the kiosk is not sure of: it asks "您是想问…吗？", and so must the preview.
    kiosk = kiosk_first_turn(live_server, "电费")
    assert "您是想问" in kiosk["text"]
    heard, shown = try_phrase(page, "电费")
    assert heard == kiosk["spoken"] and (shown or heard) == kiosk["text"]
    page.screenshot(path=str(SHOTS / "try-confirm-1280x800.png"))
    # A clear question: the answer itself, word for word as the kiosk says it.
    kiosk = kiosk_first_turn(live_server, "营业厅几点开门")
    heard, shown = try_phrase(page, "营业厅几点开门")
    assert heard == kiosk["spoken"] and (shown or heard) == kiosk["text"] and "营业厅" in kiosk["text"]
    # Scrolled down to the answers being edited, the panel is still in view.
    page.locator("#f-answer_account_display").scroll_into_view_if_needed()
    assert page.locator("#try-result").is_visible()
    box = page.locator("#try-form").bounding_box()
    assert box and 0 <= box["y"] < 800
    page.screenshot(path=str(SHOTS / "try-scrolled-1280x800.png"))
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.evaluate("() => window.scrollTo(0, 0)")
    page.screenshot(path=str(SHOTS / "edit-1920x1080.png"))
    # On a phone the panel comes first, above the fields, rather than after all of them.
    page.set_viewport_size({"width": 390, "height": 844})
    page.evaluate("() => window.scrollTo(0, 0)")
    form, panel = page.locator("#intent-form").bounding_box(), page.locator("#try-form").bounding_box()
    assert form and panel and panel["y"] < form["y"]
    page.screenshot(path=str(SHOTS / "edit-390x844.png"))


def test_the_audit_shows_only_the_lines_added_and_removed(browser, live_server: LiveServer) -> None:  # noqa: F811
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = log_in(browser, live_server, "admin1")
    page.goto(live_server.url + "/admin/intents/hall_info")
    examples = page.input_value("#f-examples").splitlines()
    old_answer = page.input_value("#f-answer_display")
    page.fill("#f-examples", "\n".join([*examples, NEW_EXAMPLE]))
    page.fill("#f-answer_display", NEW_ANSWER)
    page.click("#intent-form button[type=submit]")
    page.wait_for_selector("#form-message.message-ok")
    page.goto(live_server.url + "/admin/audit?entity_id=hall_info")
    page.screenshot(path=str(SHOTS / "audit.png"), full_page=True)

    def lines(label: str, kind: str) -> list[str]:
        change = page.locator(".changes > li", has=page.locator(f"strong:text-is('{label}')"))
        return [line[1:] for line in change.locator(f".diff-{kind}").all_inner_texts()]

    assert lines("例句", "added") == [NEW_EXAMPLE] and lines("例句", "removed") == []
    assert lines("回答", "added")[:1] == [NEW_ANSWER] and lines("回答", "removed")[:1] == [old_answer]
    assert examples[0] not in page.locator("table").inner_text()  # unchanged lines are not repeated


def test_changed_lines_of_texts_lists_and_single_values() -> None:
    assert changed_lines(["a", "b", "c"], ["a", "c", "d"]) == [DiffLine("-", "b"), DiffLine("+", "d")]
    assert changed_lines("第一行\n第二行", "第一行\n第二行改了") == [DiffLine("-", "第二行"), DiffLine("+", "第二行改了")]
    assert changed_lines(None, ["新"]) == [DiffLine("+", "新")]  # created
    assert changed_lines(True, False) is None  # shown as before → after
