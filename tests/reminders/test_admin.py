"""The admin page over HTTP (the real app, logged in through the real form): today's run by rule and
channel, the outbox search, rules editing with polite errors and an audit entry, the chart of payments
after reminders, who may see it, and the SMS's short link leading to the payment page."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import select

from assistant.reminders.run import run_reminders
from assistant.reminders.scheduler import LeaseLock
from assistant.reminders.wiring import build_outbox
from knowledge_base.db import session
from knowledge_base.models import AuditLog, Bill, ReminderMessage, ReminderRule, SmsMessage, service_tz
from knowledge_base.settings import Settings
from tests.reminders.helpers import subscribe
from tests.server_fixtures import admin_client, app, client, staff_client  # noqa: F401  (fixtures)

EVERYTHING = {"sms": 100, "family": 100, "call": 100, "kiosk": 100}


@pytest.fixture
def server_settings(tmp_path: Path) -> Settings:
    # The scheduler is off here so the test decides when things are queued and sent (it has a test of its own).
    return Settings(data_dir=tmp_path / "data", speech_enabled=False, demo=True, reminders_in_service=False)


def _ten_today() -> datetime:
    return datetime.now(service_tz()).replace(hour=10, minute=0, second=0, microsecond=0)


def _run_and_send(app: FastAPI) -> datetime:
    engine = app.state.engine
    subscribe(engine, "3201000001")
    subscribe(engine, "3201000003", channel="kiosk")
    now = _ten_today()
    run_reminders(engine, now)
    build_outbox(app.state.settings, engine).send_due(now, EVERYTHING)
    return now


def test_today_outbox_and_chart(app: FastAPI, admin_client: TestClient) -> None:  # noqa: F811
    now = _run_and_send(app)
    with session(app.state.engine) as db:  # the customer pays an hour after the SMS
        db.exec(update(Bill).where(Bill.account_number == "3201000001", Bill.paid_at.is_(None))  # type: ignore[call-overload, union-attr]
                .values(paid_at=now + timedelta(hours=1)))
        db.commit()
    page = admin_client.get("/admin/reminders")
    assert page.status_code == 200
    html = page.text
    assert "已完成" in html
    totals = re.search(r'<table id="run-totals">.*?<tbody><tr>(.*?)</tr>', html, re.S).group(1)
    assert re.findall(r"<td>(\d+)</td>", totals) == ["4", "4", "0", "0", "0"]  # 3201000001: bill; 3201000003: bill, low balance, outage
    assert re.search(r"<td>出账通知</td><td>短信</td>\s*<td>0</td><td>0</td><td>1</td>", html)  # sent
    assert re.search(r"<td>明天停电</td><td>自助机提示</td>\s*<td>0</td><td>0</td><td>1</td>", html)
    assert "<svg" in html and "3天内交了费" in html
    assert re.search(rf"<td>{now.month}月{now.day}日</td><td>2</td><td>1</td><td>50%</td>", html)  # 3201000003 did not pay

    found = admin_client.get("/admin/reminders/outbox", params={"account": "3201000001"}).text
    assert "张*华您好" in found and "138****0001" in found and "已发送" in found
    assert "王*强" not in found
    assert "户号是10位数字" in admin_client.get("/admin/reminders/outbox", params={"account": "abc"}).text


def test_rules_editing_with_polite_errors_and_an_audit_entry(app: FastAPI, admin_client: TestClient) -> None:  # noqa: F811
    page = admin_client.get("/admin/reminders/rules")
    assert page.status_code == 200 and "快到期" in page.text
    form = {"title": "快到期提醒", "enabled": "on", "days": "5", "threshold_yuan": "0",
            "sms_text": "【供电】{holder}您好，电费{amount}元{due}到期：{link}{oops}",
            "spoken_text": "{holder}您好，电费{amount}元{due}到期。", "family_text": "【供电】您家老人{holder}电费{amount}元：{link}",
            "kiosk_text": ""}
    refused = admin_client.post("/admin/reminders/rules/due_soon", data=form)
    assert refused.status_code == 422
    assert "不认识的字段 {oops}" in refused.text and "{oops}" in refused.text  # what was typed is kept
    with session(app.state.engine) as db:
        assert db.get(ReminderRule, "due_soon").days == 3
    form["sms_text"] = "【供电】{holder}您好，电费{amount}元{due}到期：{link}"
    saved = admin_client.post("/admin/reminders/rules/due_soon", data=form, follow_redirects=False)
    assert saved.status_code == 303
    with session(app.state.engine) as db:
        rule = db.get(ReminderRule, "due_soon")
        entry = db.exec(select(AuditLog).where(AuditLog.entity == "reminder_rule")).one()
    assert (rule.days, rule.origin, rule.kiosk_text) == (5, "admin", "")
    assert entry.actor == "admin1" and entry.before["days"] == 3 and entry.after["days"] == 5
    no_token = TestClient(app)
    assert no_token.post("/admin/reminders/rules/due_soon", data=form, follow_redirects=False).status_code in (303, 401, 403)


def test_only_admins_see_it(app: FastAPI, staff_client: TestClient) -> None:  # noqa: F811
    assert staff_client.get("/admin/reminders").status_code == 403
    anonymous = TestClient(app).get("/admin/reminders", follow_redirects=False)
    assert anonymous.status_code in (303, 401)


def test_the_sms_short_link_leads_to_the_payment_page(app: FastAPI, client: TestClient) -> None:  # noqa: F811
    _run_and_send(app)
    with session(app.state.engine) as db:
        sms = db.exec(select(SmsMessage).where(SmsMessage.phone == "13800000001")).one()
    assert len(sms.text) <= 70
    path = sms.text.rsplit("8000", 1)[1]
    assert path.startswith("/r/")
    opened = client.get(path, follow_redirects=False)
    assert opened.status_code == 303 and "/pay/" in opened.headers["location"]
    assert "128.50" in client.get(opened.headers["location"]).text
    tampered = client.get(path[:-1] + ("x" if path[-1] != "x" else "y"))
    assert tampered.status_code == 404 and "链接已经失效" in tampered.text
    with session(app.state.engine) as db:
        db.exec(update(Bill).where(Bill.account_number == "3201000001").values(paid_at=_ten_today()))  # type: ignore[call-overload]
        db.commit()
    assert "已经交清了" in client.get(path).text


def test_one_scheduler_at_a_time_across_workers(app: FastAPI, client: TestClient) -> None:  # noqa: F811
    engine = app.state.engine
    now = _ten_today()
    first, second = LeaseLock(engine, "drain", "worker-1"), LeaseLock(engine, "drain", "worker-2")
    assert first.acquire(now, timedelta(minutes=1))
    assert not second.acquire(now + timedelta(seconds=30), timedelta(minutes=1))
    assert first.acquire(now + timedelta(seconds=30), timedelta(minutes=1))  # the holder renews
    assert second.acquire(now + timedelta(minutes=2), timedelta(minutes=1))  # a dead holder's lease runs out
    first.release(now)  # not the holder any more: changes nothing
    assert not first.acquire(now + timedelta(minutes=2, seconds=1), timedelta(minutes=1))


def test_staff_edit_a_customers_preferences(app: FastAPI, staff_client: TestClient) -> None:  # noqa: F811
    from knowledge_base.models import ReminderSubscription

    page = staff_client.get("/staff/reminders/3201000001")
    assert page.status_code == 200 and "张*华" in page.text
    form = {"active": "on", "use_call": "on", "rank_call": "1", "use_sms": "on", "rank_sms": "2",
            "use_family": "on", "rank_family": "3", "family_phone": "1390000", "preferred": "22:00",
            "quiet_start": "21:00", "quiet_end": "08:00"}
    refused = staff_client.post("/staff/reminders/3201000001", data=form)
    assert refused.status_code == 422
    assert "家人的11位手机号" in refused.text and "免打扰时段" in refused.text
    assert 'value="1390000"' in refused.text  # nothing typed is lost
    form.update(family_phone="13900000009", preferred="18:30")
    saved = staff_client.post("/staff/reminders/3201000001", data=form, follow_redirects=False)
    assert saved.status_code == 303
    with session(app.state.engine) as db:
        row = db.get(ReminderSubscription, "3201000001")
        entry = db.exec(select(AuditLog).where(AuditLog.entity == "reminder_subscription")).one()
    assert (row.active, row.channel, row.channels, row.preferred_minute) == (True, "call", "call,sms,family", 1110)
    assert row.consent_channel == "staff" and row.consent_at is not None and row.updated_by == "staff1"
    assert entry.after["family_phone"] == "139****0009"
    assert staff_client.get("/staff/reminders", params={"account": "12ab"}).status_code == 422
    assert staff_client.get("/staff/reminders/9999999999").status_code == 404


def test_staff_see_the_family_phone_masked_and_keep_it_by_leaving_it(app: FastAPI,  # noqa: F811
                                                                     staff_client: TestClient) -> None:  # noqa: F811
    """Any staff member may open a customer's page by typing a 户号, so the family member's mobile is shown
    masked; saving the form as shown keeps the number on file, a new number typed replaces it, and an
    emptied field removes it."""
    from knowledge_base.models import ReminderSubscription

    def on_file() -> str:
        with session(app.state.engine) as db:
            return db.get(ReminderSubscription, "3201000001").family_phone  # type: ignore[union-attr]

    form = {"active": "on", "use_sms": "on", "rank_sms": "1", "use_family": "on", "rank_family": "2",
            "family_phone": "13912345678", "preferred": "09:00", "quiet_start": "21:00", "quiet_end": "08:00"}
    assert staff_client.post("/staff/reminders/3201000001", data=form, follow_redirects=False).status_code == 303
    page = staff_client.get("/staff/reminders/3201000001").text
    assert "13912345678" not in page and 'value="139****5678"' in page

    form.update(family_phone="139****5678", preferred="10:00")  # the form sent back as shown, time changed
    assert staff_client.post("/staff/reminders/3201000001", data=form, follow_redirects=False).status_code == 303
    assert on_file() == "13912345678"
    refused = staff_client.post("/staff/reminders/3201000001", data={**form, "quiet_start": "25:00"})
    assert refused.status_code == 422 and "13912345678" not in refused.text and 'value="139****5678"' in refused.text

    form.update(family_phone="13700001111")  # a new number typed replaces it
    assert staff_client.post("/staff/reminders/3201000001", data=form, follow_redirects=False).status_code == 303
    assert on_file() == "13700001111"
    form.update(family_phone="139****5678")  # the old mask no longer names the number on file
    refused = staff_client.post("/staff/reminders/3201000001", data=form)
    assert refused.status_code == 422 and "11位" in refused.text and on_file() == "13700001111"

    del form["use_family"], form["rank_family"]
    form.update(family_phone="")  # emptied: the number is removed
    assert staff_client.post("/staff/reminders/3201000001", data=form, follow_redirects=False).status_code == 303
    assert on_file() == ""


def test_the_service_schedules_the_run_and_the_drain(tmp_path: Path) -> None:
    from server.app import create_app

    from assistant.reminders.scheduler import ReminderJobs
    from assistant.reminders.wiring import channel_budgets

    # Scheduled far away, so the test's own calls are the only ones (the timing is APScheduler's job).
    started = create_app(Settings(data_dir=tmp_path / "data", speech_enabled=False, demo=True,
                                  reminder_cron="0 3 1 1 *", reminder_drain_interval_s=3600))
    with TestClient(started):
        jobs = sorted(job.id for job in started.state.reminder_scheduler._scheduler.get_jobs())
        assert jobs == ["reminders-drain", "reminders-run"]
        engine, settings = started.state.engine, started.state.settings
        subscribe(engine, "3201000001")
        clock = _ten_today
        here = ReminderJobs(engine, build_outbox(settings, engine), channel_budgets(settings, 5), 1000, clock)
        there = ReminderJobs(engine, build_outbox(settings, engine), channel_budgets(settings, 5), 1000, clock)
        assert here.daily_run()
        assert here.drain() and not there.drain()  # one drainer at a time, across workers
        with session(engine) as db:
            sent = db.exec(select(ReminderMessage).where(ReminderMessage.account_number == "3201000001")).all()
        assert [message.status for message in sent] == ["sent"]
