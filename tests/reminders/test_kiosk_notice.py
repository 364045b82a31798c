"""A reminder whose channel is the hall kiosk waits for the customer's card: the read shows it, once."""

from __future__ import annotations

import secrets
from dataclasses import asdict
from datetime import date
from pathlib import Path

import httpx
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from assistant.kiosk_devices import add_device, sign_card_read
from knowledge_base.db import session
from knowledge_base.models import ReminderMessage
from tests.browser_fixtures import browser  # noqa: F401
from tests.server_fixtures import LiveServer, live_server, server_settings  # noqa: F401

NOTICE = "您10月的电费128.50元已经出账，请在11月27日前交。"


def test_a_kiosk_reminder_is_shown_when_the_card_is_read(live_server: LiveServer, tmp_path: Path) -> None:  # noqa: F811
    engine = live_server.app.state.engine
    with session(engine) as db:  # delivered to the kiosk channel by the outbox: waiting for the card
        db.add(ReminderMessage(dedup_key="3201000001|bill_issued|2026-10", account_number="3201000001",
                               rule_id="bill_issued", period="2026-10", run_date=date(2026, 11, 22),
                               channel="kiosk", status="sent", text=NOTICE))
        db.commit()
    add_device(engine, "hall-kiosk-7", tmp_path / "kiosk.pem", hall="江都营业厅")
    key = load_pem_private_key((tmp_path / "kiosk.pem").read_bytes(), password=None)

    def card_read() -> dict[str, object]:
        card = asdict(sign_card_read(key, "hall-kiosk-7", "3201000001", nonce=secrets.token_hex(16)))  # type: ignore[arg-type]
        with httpx.Client(base_url=live_server.url, timeout=30) as kiosk:
            response = kiosk.post("/api/converse", json={"text": "你好", "channel": "kiosk", "card": card})
        assert response.status_code == 200, response.text
        return response.json()

    first = card_read()
    assert first["notices"] == [NOTICE]
    assert card_read()["notices"] == []  # shown once


def test_the_kiosk_page_shows_the_notice_under_the_answer(live_server: LiveServer, browser) -> None:  # noqa: F811
    """What the customer sees: the reply's notices as lines of their own, after the answer."""
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(live_server.url + "/")
    page.evaluate("""() => window.xiaodianKiosk.render({session_id: "s", text: "您好，有什么可以帮您？",
        notices: ["%s"], choices: []})""" % NOTICE)
    assert page.locator("#answer .notice").inner_text() == "提醒：" + NOTICE
    page.close()
