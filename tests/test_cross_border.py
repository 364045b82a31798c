"""The cross-border flow (issue 13): a relative far away pays, and the link goes to them by SMS.

One thing at a time: the 户号, then the relative's mobile number, then that number read back digit
by digit for a yes; only then is the link sent, by SMS to that number. The kiosk never shows the
SMS text (it holds a payment link anyone could use), and nothing says the link is ready before it
has been sent. Scripted against a real SQLite database, as tests/test_dialogue.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from assistant.conversation import ConversationService
from assistant.sms import FakeSmsGateway
from assistant.speech.spoken_text import to_spoken
from knowledge_base.models import SmsMessage
from knowledge_base.settings import Settings
from tests.test_dialogue import DEMO, NOW, Script, payments, provider, rows  # noqa: F401

RELATIVE = "13912345678"


@pytest.fixture
def service(knowledge, payments, tmp_path: Path) -> ConversationService:  # type: ignore[no-untyped-def]  # noqa: F811
    return ConversationService(knowledge, payments, clock=lambda: NOW,
                               sms=FakeSmsGateway(Settings(data_dir=tmp_path, demo=True)))


def link_messages(engine) -> list[SmsMessage]:  # type: ignore[no-untyped-def]
    return [m for m in rows(engine, SmsMessage) if m.kind == "payment_link"]


def shows_no_link(reply) -> bool:  # type: ignore[no-untyped-def]
    return reply.pay_url is None and reply.share_text is None and "/pay/" not in reply.text


def test_the_relatives_number_is_asked_alone_and_nothing_is_ready_yet(service: ConversationService, engine: Engine) -> None:
    chat = Script(service)
    first = chat.say("我闺女在澳大利亚，她想帮我交电费")
    assert first.intent == "cross_border_payment" and "户号" in first.text
    asked = chat.say("户号是三二零一零零零零零一")
    assert "手机号" in asked.text and asked.text.count("？") + asked.text.count("。") >= 1
    assert "已经生成" not in asked.text and "转发" not in asked.text and "已经" not in asked.text
    assert shows_no_link(asked) and link_messages(engine) == []


def test_the_number_is_read_back_digit_by_digit_before_anything_is_sent(service: ConversationService, engine: Engine) -> None:
    chat = Script(service)
    chat.say("我儿子在加拿大，想帮家里交电费")
    chat.say("3201000001")
    check = chat.say("一三九，一二三四，五六七八")
    assert "139 1234 5678" in check.text and "对吗" in check.text
    assert "幺三九，幺二三四，五六七八" in to_spoken(check.spoken)  # heard digit by digit, 1 as 幺
    assert shows_no_link(check) and link_messages(engine) == []


def test_after_yes_the_link_goes_by_sms_to_that_number_and_is_not_shown(service: ConversationService, engine: Engine) -> None:
    chat = Script(service)
    chat.say("人在国外，家里的电费咋交")
    chat.say("户号是3201000001")
    chat.say(RELATIVE)
    sent = chat.say("对")
    assert "短信" in sent.text and "5678" in sent.text
    assert shows_no_link(sent)  # the kiosk shows neither the SMS text nor the link
    [message] = link_messages(engine)
    assert message.phone == RELATIVE and message.account_number == DEMO
    assert "/pay/" in message.text and "128.50" in message.text
    assert message.text not in sent.text
    # Written to the relative, not to the account holder: it says whose bill it is and greets nobody by name.
    assert "张*华您好" not in message.text and "您家人张*华" in message.text


def test_a_wrong_number_is_asked_again_and_only_the_right_one_gets_the_link(service: ConversationService, engine: Engine) -> None:
    chat = Script(service)
    chat.say("孙子在日本留学，想给我交电费")
    chat.say("3201000001")
    chat.say("13812345678")
    again = chat.say("不对")
    assert "手机号" in again.text and shows_no_link(again)
    check = chat.say(RELATIVE)
    assert "139 1234 5678" in check.text
    chat.say("对")
    assert [m.phone for m in link_messages(engine)] == [RELATIVE]


def test_no_number_heard_asks_once_more_plainly(service: ConversationService, engine: Engine) -> None:
    chat = Script(service)
    chat.say("我在外地，怎么给老家交电费")
    chat.say("3201000001")
    again = chat.say("嗯，那个，我想想")
    assert "手机号" in again.text and "十一位" in again.text and shows_no_link(again)


def test_with_a_card_read_it_asks_for_the_number_at_once(service: ConversationService, engine: Engine) -> None:
    chat = Script(service).card_read(DEMO)
    asked = chat.say("把交费链接发给在国外的儿子")
    assert "手机号" in asked.text and shows_no_link(asked)
    chat.say(RELATIVE)
    assert "短信" in chat.say("对").text and len(link_messages(engine)) == 1


def test_without_an_sms_gateway_no_number_is_asked_and_no_link_is_printed(  # type: ignore[no-untyped-def]
        knowledge, payments, engine) -> None:  # noqa: F811
    service = ConversationService(knowledge, payments, clock=lambda: NOW)
    for chat in (Script(service), Script(service).card_read(DEMO)):
        reply = chat.say("我闺女在澳大利亚，她想帮我交电费")
        assert "手机号" not in reply.text and "支付宝" in reply.text and shows_no_link(reply)
    assert link_messages(engine) == []
