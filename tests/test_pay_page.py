"""The pay page as a relative abroad uses it: on a 390x844 phone in Chromium, through the demo's
FAKE cashier and its asynchronous notification (issue 13). Screenshots go to test-artifacts/pay/."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

import httpx
import pytest
from sqlmodel import col, func, select

from assistant.formatting import yuan
from assistant.pay_pages import FRESH_PER_ACCOUNT_DAY, FRESH_PER_CLIENT_HOUR, request_fresh_link
from assistant.payments import IssuedLink
from assistant.sms import sms_sender
from knowledge_base.db import session
from knowledge_base.models import Bill, PaymentLink, PayLinkRequest, SmsMessage, utc_now
from knowledge_base.settings import Settings
from tests.browser_fixtures import ARTIFACTS, browser  # noqa: F401
from tests.server_fixtures import LiveServer, free_port, serving

PHONE = {"width": 390, "height": 844}
SHOTS = ARTIFACTS / "pay"


@pytest.fixture
def live(tmp_path) -> Iterator[LiveServer]:  # type: ignore[no-untyped-def]
    """A demo service whose public address is where it really listens (the cashier and links point there)."""
    port = free_port()
    settings = Settings(data_dir=tmp_path / "data", speech_enabled=False, demo=True,
                        public_url=f"http://127.0.0.1:{port}")
    with serving(settings, port) as server:
        yield server


def phone_page(browser):  # type: ignore[no-untyped-def]  # noqa: F811
    page = browser.new_context(viewport=PHONE, locale="zh-CN", device_scale_factor=2, is_mobile=True,
                               has_touch=True).new_page()
    page.set_default_timeout(20_000)
    return page


def fits_the_phone(page) -> bool:  # type: ignore[no-untyped-def]
    return page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")


def shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / name), full_page=True)


def test_paying_shows_a_receipt_and_the_paid_link_later_says_so_calmly(browser, live: LiveServer) -> None:  # noqa: F811
    link = live.app.state.services.payments.create_link("3201000001")
    page = phone_page(browser)
    page.goto(link.url)
    before = page.inner_text("main")  # a forwarded link may be opened by anyone: the 户号 is masked here too
    assert "3201****01" in before and "3201000001" not in before and "张*华" in before
    page.click("text=确认付款 128.50 元")
    page.click("text=模拟付款成功")  # the FAKE cashier (demo mode), which notifies like a real provider
    page.wait_for_selector("text=付款成功，电费已经到账")  # the done page refreshes until the notification came
    text = page.inner_text("main")
    for fact in ("128.50", "3201****01", "张*华", "北京时间", "交易号", "付款时间"):
        assert fact in text, fact
    assert "3201000001" not in text and "张建华" not in text
    assert fits_the_phone(page)
    shot(page, "receipt.png")

    # The link opened again, days later, from the SMS: calm, with the receipt; nothing to pay.
    again = phone_page(browser)
    response = again.goto(link.url)
    assert response is not None and response.status == 410  # it can no longer pay; the page is the receipt
    assert again.inner_text("h1") == "付款凭证"
    assert "这笔电费已经交清了" in again.inner_text("main") and "128.50" in again.inner_text("main")
    assert "不能用" not in again.content() and again.locator("text=确认付款").count() == 0
    transaction = again.inner_text(".receipt-id")
    assert transaction and transaction in text
    assert fits_the_phone(again)
    shot(again, "paid-again.png")


def expired_link(live: LiveServer) -> IssuedLink:
    """A link of 王国强 (3201000003, phone on file 13800000003) for a new bill, left to expire."""
    engine = live.app.state.engine
    with session(engine) as db:
        db.add(Bill(account_number="3201000003", month="2026-11", kwh=180, amount_fen=9509,
                    due_date=date.today() + timedelta(days=10)))
        db.commit()
    link = live.app.state.services.payments.create_link("3201000003")
    with session(engine) as db:
        row = db.get(PaymentLink, link.link_id)
        assert row is not None
        row.expires_at = utc_now() - timedelta(minutes=1)
        db.add(row)
        db.commit()
    return link


def sms_to(live: LiveServer, phone: str) -> list[SmsMessage]:
    with session(live.app.state.engine) as db:
        return list(db.exec(select(SmsMessage).where(col(SmsMessage.phone) == phone, col(SmsMessage.kind) == "payment_link")))


def test_an_expired_link_offers_a_fresh_one_to_the_phone_on_file_from_abroad(browser, live: LiveServer) -> None:  # noqa: F811
    link = expired_link(live)
    url, amount = link.url, yuan(link.amount_fen)
    page = phone_page(browser)
    page.goto(url)
    text = page.inner_text("body")
    assert "过期" in text and "钱没有扣" in text
    assert "营业厅" not in text.replace("演示", "")  # a relative abroad cannot go to a hall
    assert "+86-95598" in text
    assert fits_the_phone(page)
    shot(page, "expired.png")
    page.click("text=重新获取付款链接")
    page.wait_for_selector("text=新的付款链接已经用短信发到")
    said = page.inner_text("main")
    assert "138****0003" in said and "13800000003" not in page.content()  # the number only masked
    shot(page, "fresh-link-sent.png")
    sent = sms_to(live, "13800000003")
    assert len(sent) == 1 and "/pay/" in sent[0].text and amount in sent[0].text
    # The fresh link works: the new bill can be paid with it.
    fresh_url = sent[0].text.split("点击付款 ")[1].split(" ")[0]
    assert f"确认付款 {amount} 元" in httpx.get(fresh_url, timeout=10).text

    # Asking again and again is bounded: a few SMS a day reach the holder, then the page says to call.
    codes = [httpx.post(f"{url}/fresh", timeout=10).status_code for _ in range(4)]
    assert codes[:2] == [200, 200] and codes[-1] == 429
    assert len(sms_to(live, "13800000003")) == 3


def test_refused_asks_write_nothing_and_do_not_lock_the_relative_out(live: LiveServer) -> None:
    """Only SMS actually sent are counted (and stored): asks refused at one busy address, or that send
    nothing, neither grow the table nor use up the holder's few SMS a day that a relative elsewhere needs."""
    payments, sender = live.app.state.services.payments, sms_sender(live.app.state.settings)
    wang, zhang = expired_link(live), live.app.state.services.payments.create_link("3201000001")
    busy, relative = "203.0.113.9", "198.51.100.7"
    assert request_fresh_link(payments, None, zhang.token, relative).outcome == "no_sms"  # nothing sent: not counted
    asked = [request_fresh_link(payments, sender, wang.token, busy).outcome for _ in range(FRESH_PER_ACCOUNT_DAY + 2)]
    assert asked == ["sent"] * FRESH_PER_ACCOUNT_DAY + ["too_many"] * 2
    left = FRESH_PER_CLIENT_HOUR - FRESH_PER_ACCOUNT_DAY  # what the busy address may still have sent this hour
    asked = [request_fresh_link(payments, sender, zhang.token, busy).outcome for _ in range(20)]
    assert asked == ["sent"] * left + ["too_many"] * (20 - left)
    assert request_fresh_link(payments, sender, zhang.token, relative).outcome == "sent"
    with session(live.app.state.engine) as db:
        rows = db.exec(select(func.count()).select_from(PayLinkRequest)).one()
    assert rows == FRESH_PER_CLIENT_HOUR + 1  # one per SMS sent
    assert len(sms_to(live, "13800000001")) == left + 1
    with session(live.app.state.engine) as db:  # 王国强's bills are paid at the hall: an ask days later sends nothing
        for bill in db.exec(select(Bill).where(col(Bill.account_number) == "3201000003")):
            bill.paid_at = utc_now()
            db.add(bill)
        db.commit()
    later = utc_now() + timedelta(days=2)
    assert request_fresh_link(payments, sender, wang.token, relative, now=later).outcome == "paid"
    with session(live.app.state.engine) as db:
        assert db.exec(select(func.count()).select_from(PayLinkRequest)).one() == rows


def test_a_broken_link_says_what_to_do_without_a_hall(browser, live: LiveServer) -> None:  # noqa: F811
    link = live.app.state.services.payments.create_link("3201000001")
    page = phone_page(browser)
    response = page.goto(link.url[:-3] + "abc")
    assert response is not None and response.status == 404
    text = page.inner_text("body")
    assert "不要用它付款" in text and "+86-95598" in text and "营业厅" not in text.replace("演示", "")
    assert page.locator("form[action$='/fresh'] button").count() == 0  # a made-up token names no account to text
    assert httpx.post(f"{link.url[:-3]}abc/fresh", timeout=10).status_code == 404
    shot(page, "broken-link.png")
