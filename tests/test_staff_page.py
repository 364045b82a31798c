"""The staff console as staff use it (issue 13): one card per conversation, the customer told who is
really ahead of them, cards that say where the call came from in words, fit on one screen, and a
beep and "(1) 新工单" in the tab's title when a ticket arrives. Real server, real Chromium.

Screenshots go to ``test-artifacts/staff/``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import col, select

from assistant.kiosk_devices import add_device
from assistant.kiosk_screen import show
from knowledge_base.db import session
from knowledge_base.models import HandoffTicket
from tests.browser_fixtures import ARTIFACTS, browser, log_in, new_page  # noqa: F401
from tests.server_fixtures import (  # noqa: F401
    LiveServer,
    app,
    client,
    live_server,
    server_settings,
    staff_client,
)

SHOTS = ARTIFACTS / "staff"
CALLER = "tel:138****5678"  # as the phone line keeps the caller (assistant/phone): masked
# Counts the tones the page starts, so a test can tell a beep was played (headless Chromium has no speaker).
COUNT_BEEPS = """
window.__beeps = 0;
const startTone = OscillatorNode.prototype.start;
OscillatorNode.prototype.start = function (...args) { window.__beeps += 1; return startTone.apply(this, args); };
"""


def say(http: httpx.Client | TestClient, text: str, session_id: str | None = None) -> dict[str, Any]:
    """One kiosk turn through the kiosk's own API."""
    response = http.post("/api/converse", json={"session_id": session_id, "text": text, "channel": "kiosk"})
    assert response.status_code == 200, response.text
    return response.json()


def conversation(http: httpx.Client | TestClient, *lines: str) -> tuple[str, list[dict[str, Any]]]:
    replies, session_id = [], None
    for line in lines:
        replies.append(say(http, line, session_id))
        session_id = replies[-1]["session_id"]
    assert session_id is not None
    return session_id, replies


def tickets(staff: TestClient | httpx.Client) -> list[dict[str, Any]]:
    return staff.get("/api/staff/tickets").json()["tickets"]


# --- what the customer hears and what staff read -----------------------------------------------


def test_the_waiting_count_leaves_out_the_customers_own_ticket(client: TestClient,  # noqa: F811
                                                                staff_client: TestClient) -> None:  # noqa: F811
    first, replies = conversation(client, "转人工", "转人工", "再说一遍", "转人工")
    assert "前面还有" not in replies[0]["text"]  # nobody else is waiting
    assert "已经在排队" in replies[1]["text"]
    # 再说一遍 repeats what was said ("already queued"), never the draft that counted the customer's own ticket.
    assert "已经在排队" in replies[2]["text"] and "前面还有" not in replies[2]["text"]
    # Staff read what the customer heard, too.
    [ticket] = tickets(staff_client)
    said = [turn["text"] for turn in ticket["transcript"] if turn["speaker"] == "小电"]
    assert not any("前面还有" in line for line in said) and said[-1].startswith("您已经在排队")
    _, [second] = conversation(client, "我要找人工")
    assert "前面还有1位" in second["text"]
    # An emergency goes ahead of the ordinary tickets; a complaint (more urgent than those) is told it is first.
    _, complaint = conversation(client, "我要投诉")
    assert "前面还有" not in complaint[0]["text"]


def test_an_emergency_summary_says_what_the_danger_is(client: TestClient, staff_client: TestClient) -> None:  # noqa: F811
    # The customer reports sparks, then asks for a person: the card must still read as the emergency.
    conversation(client, "电线着火了", "转人工")
    [ticket] = tickets(staff_client)
    assert ticket["reason"] == "emergency" and ticket["priority"] == 0
    assert "电线着火了" in ticket["summary"] and "紧急" in ticket["summary"]
    assert "没说清楚" not in ticket["summary"]
    assert [turn["intent_title"] for turn in ticket["transcript"] if turn["speaker"] == "客户"] == ["紧急情况", "转人工"]


def test_cards_say_which_hall_and_kiosk_or_which_caller(app: FastAPI, client: TestClient,  # noqa: F811
                                                         staff_client: TestClient, tmp_path: Path) -> None:  # noqa: F811
    engine = app.state.engine
    add_device(engine, "jd-01", tmp_path / "jd-01.key", hall="江都营业厅")
    add_device(engine, "jd-02", tmp_path / "jd-02.key", hall="江都营业厅")
    # The device loop's screen follows a conversation from its first reply on: this ticket came first.
    first_words, _ = conversation(client, "转人工")
    show(engine, "jd-01", first_words, {"heard": "转人工"})
    # Here the screen followed the conversation before the handoff.
    session_id, _ = conversation(client, "你好")
    show(engine, "jd-02", session_id, {"heard": "你好"})
    say(client, "转人工", session_id)
    services = app.state.services.conversations
    call = services.start(channel="phone", client=CALLER)
    services.handle(call.id, "转人工", "phone", client=CALLER)
    assert [ticket["origin"] for ticket in tickets(staff_client)] == [
        "江都营业厅 · 自助机 jd-01", "江都营业厅 · 自助机 jd-02", "电话 138****5678"]
    with session(engine) as db:  # the second was known when it was written, and stays so when the kiosk moves on
        assert [row.origin for row in db.exec(select(HandoffTicket).order_by(col(HandoffTicket.id)))] == [
            "", "江都营业厅 · 自助机 jd-02", "电话 138****5678"]


# --- the console in Chromium -------------------------------------------------------------------


def open_console(browser, live: LiveServer) -> Any:  # type: ignore[no-untyped-def]
    page = log_in(browser, live, "staff1")
    page.add_init_script(COUNT_BEEPS)
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(live.url + "/staff")
    page.wait_for_selector("#live-status[data-state=live]")
    return page


@pytest.fixture
def staff_page(browser, live_server: LiveServer) -> Iterator[Any]:  # noqa: F811
    page = open_console(browser, live_server)
    yield page
    page.context.close()


def _cards(page: Any) -> list[str]:
    return page.evaluate("() => [...document.querySelectorAll('#queue article')].map((card) => card.dataset.id)")


def test_a_new_ticket_beeps_and_shows_in_the_title(staff_page: Any, live_server: LiveServer) -> None:  # noqa: F811
    SHOTS.mkdir(parents=True, exist_ok=True)
    assert staff_page.title() == "转人工队列 · 小电"
    staff_page.click("#sound-on")  # Chromium plays sound only after a touch on the page: the page offers this
    staff_page.wait_for_selector("#sound-on", state="hidden")
    staff_page.wait_for_function("() => window.__beeps === 2")  # a sample: two tones
    http = httpx.Client(base_url=live_server.url, timeout=10)
    with closing(http):
        conversation(http, "上个月电费多少", "3201000001", "我要找真人说话")
        staff_page.wait_for_function("() => document.title.startsWith('(1) 新工单')")
        staff_page.wait_for_function("() => window.__beeps === 4")  # two tones for an ordinary ticket
        conversation(http, "家里电线冒火花了")
        staff_page.wait_for_function("() => document.title.startsWith('(2) 新工单')")
        staff_page.wait_for_function("() => window.__beeps === 7")  # three for an emergency
    urgent = staff_page.locator("#queue article").first
    assert "紧急" in urgent.inner_text() and "新" in urgent.inner_text()  # emergencies first, marked new
    staff_page.screenshot(path=str(SHOTS / "arrived-1280x800.png"))
    staff_page.mouse.click(5, 400)  # any touch: seen
    staff_page.wait_for_function("() => !document.title.includes('新工单')")
    assert staff_page.locator(".badge-new").count() == 0


def test_one_card_per_conversation_that_fits_on_one_screen(staff_page: Any, live_server: LiveServer) -> None:  # noqa: F811
    SHOTS.mkdir(parents=True, exist_ok=True)
    http = httpx.Client(base_url=live_server.url, timeout=10)
    with closing(http):
        # A long conversation that asks for staff three times and reports a danger: still one ticket.
        chat, _ = conversation(http, "营业厅几点开门", "电价是多少", "我要交电费", "3201000001", "不对",
                               "再说一遍", "说慢点", "转人工", "转人工", "电线着火了", "转人工")
        other, _ = conversation(http, "我要投诉", "转人工")
        services = live_server.app.state.services.conversations
        call = services.start(channel="phone", client=CALLER)
        services.handle(call.id, "查一下我家欠费", "phone", client=CALLER)
        services.handle(call.id, "转人工", "phone", client=CALLER)
        staff_page.wait_for_function("() => document.querySelectorAll('#queue article').length === 3")
        staff_page.wait_for_timeout(1000)  # later updates of the same tickets must not add cards
    ids = _cards(staff_page)
    assert len(ids) == len(set(ids)) == 3
    cards = staff_page.locator("#queue article")
    emergency, complaint, phone = (cards.nth(i) for i in range(3))
    assert "紧急" in emergency.locator(".ticket-summary").inner_text()  # emergencies first, said so
    assert "要投诉" in complaint.inner_text()
    assert "电话 138****5678" in phone.locator(".origin-phone").inner_text()  # the caller, with a phone badge
    assert "营业厅自助机" in emergency.locator(".origin").inner_text()
    # Transcripts are closed until staff open one; what is shown reads in Chinese, not intent ids.
    assert staff_page.locator("#queue details[open]").count() == 0
    emergency.locator("details > summary").click()
    transcript = emergency.locator(".transcript").inner_text()
    assert "意图：紧急情况" in transcript and "意图：营业厅信息" in transcript
    assert "emergency" not in transcript and "hall_info" not in transcript
    for width, height in ((1280, 800), (1920, 1080)):
        staff_page.set_viewport_size({"width": width, "height": height})
        for i in range(3):
            box = cards.nth(i).bounding_box()
            assert box is not None and box["height"] <= height, (width, height, i, box)
        staff_page.screenshot(path=str(SHOTS / f"queue-{width}x{height}.png"), full_page=True)
    staff_page.set_viewport_size({"width": 390, "height": 844})
    staff_page.screenshot(path=str(SHOTS / "queue-390x844.png"))
    staff_page.set_viewport_size({"width": 1280, "height": 800})
    emergency.scroll_into_view_if_needed()
    staff_page.screenshot(path=str(SHOTS / "emergency-card-open-1280x800.png"))
    assert chat != other


def test_a_double_tap_on_the_kiosk_makes_one_card(staff_page: Any, browser, live_server: LiveServer) -> None:  # noqa: F811
    kiosk = new_page(browser, live_server)
    kiosk.locator("button[data-say=转人工]").dblclick()
    staff_page.wait_for_function("() => document.querySelectorAll('#queue article').length >= 1")
    staff_page.wait_for_timeout(1500)
    assert len(_cards(staff_page)) == 1
