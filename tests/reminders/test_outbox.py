"""Delivering the outbox with a frozen clock: quiet hours and preferred time at send time, opt-out at
once, rate limits, retries with back-off, falling back along the customer's channels, what each
message says, and the senders: the FAKE SMS gateway (demo), a real HTTP gateway protocol, call files."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlmodel import select

from assistant.reminders.links import link_url, read_link_code
from assistant.reminders.outbox import ReminderOutbox
from assistant.reminders.run import run_reminders
from assistant.reminders.senders import CallFileSender, CallFileSettings, FakeSmsSender, HttpSmsSender, KioskNoticeSender
from knowledge_base.db import session
from knowledge_base.models import PhoneCall, ReminderMessage, SmsMessage
from knowledge_base.settings import Settings
from tests.reminders.helpers import at, subscribe

KEY = b"k" * 32
EVERYTHING = {"sms": 100, "family": 100, "call": 100, "kiosk": 100}


def _outbox(engine, tmp_path: Path, **senders) -> ReminderOutbox:  # type: ignore[no-untyped-def]
    chosen = {"sms": FakeSmsSender(Settings(demo=True, data_dir=tmp_path)), "kiosk": KioskNoticeSender(),
              "call": None}
    chosen["family"] = chosen["sms"]
    chosen.update(senders)
    return ReminderOutbox(engine, chosen, max_attempts=3, retry_base_s=60,
                          link_for=lambda message_id: link_url("https://pay.example.cn", KEY, message_id))


def _messages(engine) -> list[ReminderMessage]:  # type: ignore[no-untyped-def]
    with session(engine) as db:
        return list(db.exec(select(ReminderMessage).order_by(ReminderMessage.id)))


def _sms(engine) -> list[SmsMessage]:  # type: ignore[no-untyped-def]
    with session(engine) as db:
        return list(db.exec(select(SmsMessage).where(SmsMessage.kind == "reminder")))


def test_queued_at_2059_is_not_sent_at_2101_but_next_morning(engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    subscribe(engine, "3201000001")
    assert run_reminders(engine, at(22, 20, 59)).queued == 1
    outbox = _outbox(engine, tmp_path)
    assert outbox.send_due(at(22, 21, 1), EVERYTHING).sent == 0
    assert outbox.send_due(at(23, 7, 59), EVERYTHING).sent == 0
    assert outbox.send_due(at(23, 8, 0), EVERYTHING).sent == 1
    [sms] = _sms(engine)
    assert sms.phone == "13800000001" and sms.gateway == "fake"


def test_not_before_the_preferred_time_of_day(engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    subscribe(engine, "3201000001", preferred_minute=10 * 60)
    run_reminders(engine, at(22, 8, 30))
    outbox = _outbox(engine, tmp_path)
    assert outbox.send_due(at(22, 9, 59), EVERYTHING).sent == 0
    assert outbox.send_due(at(22, 10, 0), EVERYTHING).sent == 1


def test_opt_out_is_honoured_at_once(engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    subscribe(engine, "3201000001")
    run_reminders(engine, at(22, 10))
    subscribe(engine, "3201000001", active=False)  # "别再提醒了" after the run, before the send
    report = _outbox(engine, tmp_path).send_due(at(22, 10, 1), EVERYTHING)
    assert (report.sent, report.cancelled) == (0, 1)
    assert _sms(engine) == [] and _messages(engine)[0].status == "cancelled"


def test_sms_is_at_most_70_characters_with_the_payment_link(engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    subscribe(engine, "3201000001")
    subscribe(engine, "3201000003", channel="family", family_phone="13900000009")
    run_reminders(engine, at(22, 10))
    assert _outbox(engine, tmp_path).send_due(at(22, 10), EVERYTHING).sent == 4
    texts = {(sms.phone, sms.text) for sms in _sms(engine)}
    for _, text in texts:
        assert len(text) <= 70, text
    own = next(text for phone, text in texts if phone == "13800000001")
    assert own.startswith("【供电】张*华您好，10月电费128.50元") and "https://pay.example.cn/r/" in own
    code = own.rsplit("/r/", 1)[1]
    assert read_link_code(KEY, code) == _messages(engine)[0].id  # the short link names this reminder
    assert read_link_code(KEY, code[:-1] + ("a" if code[-1] != "a" else "b")) is None
    family = [text for phone, text in texts if phone == "13900000009"]
    assert any(text.startswith("【供电】您家老人王*强10月电费167.77元") and "/r/" in text for text in family)
    assert any("余额20.00元" in text for text in family)  # low balance: no link (nothing is owed)


def test_rate_limit_per_channel(engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    for number in ("3201000001", "3201000003", "1101000004"):
        subscribe(engine, number)
    run_reminders(engine, at(22, 10))  # 5 SMS due
    outbox = _outbox(engine, tmp_path)
    assert outbox.send_due(at(22, 10), {"sms": 2}).sent == 2
    assert outbox.send_due(at(22, 10), {"sms": 2}).sent == 2
    assert outbox.send_due(at(22, 10), {"sms": 2}).sent == 1


class _Gateway(BaseHTTPRequestHandler):
    """A stand-in for the operator's SMS gateway (FAKE): answers as told, records what it got."""

    answers: list[int] = []
    received: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).received.append({"auth": self.headers["Authorization"], **body})
        status = type(self).answers.pop(0) if type(self).answers else 200
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:  # type: ignore[no-untyped-def]
        pass


@pytest.fixture
def gateway() -> Iterator[str]:
    _Gateway.answers, _Gateway.received = [], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Gateway)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/send"
    server.shutdown()


def test_http_gateway_retries_with_back_off_then_sends(engine, tmp_path, gateway) -> None:  # type: ignore[no-untyped-def]
    subscribe(engine, "3201000001")
    run_reminders(engine, at(22, 10))
    _Gateway.answers = [503, 429]
    outbox = _outbox(engine, tmp_path, sms=HttpSmsSender(gateway, "secret-token"))
    assert outbox.send_due(at(22, 10, 0), EVERYTHING).retried == 1
    assert outbox.send_due(at(22, 10, 0, ), EVERYTHING).taken == 0  # waiting out the back-off (60 s)
    assert outbox.send_due(at(22, 10, 1), EVERYTHING).retried == 1  # second failure: now 120 s
    assert outbox.send_due(at(22, 10, 2), EVERYTHING).taken == 0
    assert outbox.send_due(at(22, 10, 3), EVERYTHING).sent == 1
    assert len(_Gateway.received) == 3
    last = _Gateway.received[-1]
    assert last["auth"] == "Bearer secret-token" and last["to"] == "13800000001"
    assert last["ref"] == "3201000001|bill_issued|2026-10" and "128.50元" in last["text"]
    assert _messages(engine)[0].recipient == "138****0001"


def test_refused_channel_falls_back_to_the_next_preference(engine, tmp_path, gateway) -> None:  # type: ignore[no-untyped-def]
    # Calls first (not configured here), then SMS (the gateway refuses the number), then the kiosk.
    subscribe(engine, "3201000001", channel="call", channels="call,sms,kiosk")
    run_reminders(engine, at(22, 10))
    _Gateway.answers = [400]
    outbox = _outbox(engine, tmp_path, sms=HttpSmsSender(gateway, "t"))
    report = outbox.send_due(at(22, 10), EVERYTHING)  # call → sms (refused for good) → kiosk, in one round
    assert (report.fell_back, report.sent) == (2, 1)
    [message] = _messages(engine)
    assert (message.channel, message.status) == ("kiosk", "sent")
    assert message.text == "您10月的电费128.50元已经出账，请在11月27日前交。"
    from assistant.reminders.outbox import kiosk_notices
    assert kiosk_notices(engine, "3201000001", at(23, 9)) == [message.text]  # shown at the card read, once
    assert kiosk_notices(engine, "3201000001", at(23, 9)) == []


def test_failed_after_the_last_channel_and_attempt(engine, tmp_path, gateway) -> None:  # type: ignore[no-untyped-def]
    subscribe(engine, "3201000001")  # sms only
    run_reminders(engine, at(22, 10))
    _Gateway.answers = [500, 500, 500]
    outbox = _outbox(engine, tmp_path, sms=HttpSmsSender(gateway, "t"))
    for minute in (0, 2, 5):
        outbox.send_due(at(22, 10, minute), EVERYTHING)
    [message] = _messages(engine)
    assert (message.status, message.attempts) == ("failed", 3) and "HTTP 500" in message.last_error


def test_call_file_is_well_formed_and_the_call_registered(engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    spool = tmp_path / "spool" / "outgoing"
    spool.mkdir(parents=True)
    sender = CallFileSender(CallFileSettings(spool, "PJSIP/{number}@carrier", wait_s=40))
    subscribe(engine, "3201000001", channel="call")
    run_reminders(engine, at(22, 10))
    assert _outbox(engine, tmp_path, call=sender).send_due(at(22, 10), EVERYTHING).sent == 1
    [call_file] = list(spool.iterdir())
    assert list((tmp_path / "spool" / "xiaodian-staging").iterdir()) == []  # written aside, renamed in
    lines = call_file.read_text().splitlines()
    fields = dict(line.split(": ", 1) for line in lines)
    assert len(fields) == len(lines)  # one Key: value per line, no repeats
    assert set(fields) <= {"Channel", "CallerID", "MaxRetries", "RetryTime", "WaitTime", "Context", "Extension",
                           "Priority", "Setvar", "Archive", "Account", "Codecs"}
    assert fields["Channel"] == "PJSIP/13800000001@carrier"
    assert fields["CallerID"] == '"95598" <95598>'
    assert (fields["Context"], fields["Extension"], fields["Priority"]) == ("xiaodian-reminder", "s", "1")
    assert fields["WaitTime"] == "40" and fields["MaxRetries"].isdigit() and fields["RetryTime"].isdigit()
    name, call_uuid = fields["Setvar"].split("=")
    assert name == "XIAODIAN_CALL_UUID" and call_file.name == f"xiaodian-{call_uuid}.call"
    with session(engine) as db:
        call = db.get(PhoneCall, call_uuid)
    assert call is not None and call.caller == "13800000001"
    assert call.first_words.startswith("您好，这里是供电公司的小电。张*华您好，您10月的电费128.50元已经出账了")
    assert "交电费" in call.first_words and "转人工" in call.first_words


def test_call_file_refuses_what_could_break_its_lines(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError):
        CallFileSender(CallFileSettings(tmp_path, "PJSIP/{number}@carrier\nContext: evil"))
    from assistant.reminders.senders import DeliveryError, call_file_text
    with pytest.raises(DeliveryError):
        call_file_text(CallFileSettings(tmp_path, "PJSIP/{number}@c"), "138\nApplication: System", "u")
