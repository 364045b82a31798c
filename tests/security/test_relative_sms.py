"""Finding 2 of the red team (issue 13's cross-border / family flow): anyone who says a 户号 can have
小电 text a payment link to any mobile, so those texts are bounded per client address an hour and
per account a day; beyond the bound the customer hears a polite refusal, nobody is texted and the
account's payment link is not replaced. Over real HTTP: tests/security/test_new_surfaces.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from assistant.conversation import RELATIVE_SMS_PER_ACCOUNT_DAY, ConversationService
from assistant.sms import FakeSmsGateway
from knowledge_base.db import session
from knowledge_base.models import PaymentLink, SmsMessage
from knowledge_base.settings import Settings
from tests.test_dialogue import DEMO, NOW, payments, provider  # noqa: F401


@pytest.fixture
def service(knowledge, payments, tmp_path: Path) -> ConversationService:  # type: ignore[no-untyped-def]  # noqa: F811
    return ConversationService(knowledge, payments, clock=lambda: NOW,
                               sms=FakeSmsGateway(Settings(data_dir=tmp_path, demo=True)))


def _send_to_relative(service: ConversationService, client: str, phone: str) -> str:
    said = ["人在国外，家里的电费咋交", f"户号是{DEMO}", phone, "对"]
    reply = service.handle(None, said[0], client=client)
    for text in said[1:]:
        reply = service.handle(reply.session_id, text, client=client)
    return reply.text


def _texted(engine: Engine) -> list[str]:
    with session(engine) as db:
        return list(db.exec(select(SmsMessage.phone).where(SmsMessage.kind == "payment_link")))


def test_an_account_gets_few_payment_texts_a_day_whichever_address_asks(service: ConversationService,
                                                                        engine: Engine) -> None:
    for index in range(RELATIVE_SMS_PER_ACCOUNT_DAY):
        assert "短信" in _send_to_relative(service, f"10.0.0.{index}", f"1390000000{index}")
    with session(engine) as db:
        links = list(db.exec(select(PaymentLink.id)))
    refused = _send_to_relative(service, "10.0.0.99", "13999999999")
    assert "95598" in refused and "好几次" in refused  # polite, and says where to turn
    assert "13999999999" not in _texted(engine) and len(_texted(engine)) == RELATIVE_SMS_PER_ACCOUNT_DAY
    with session(engine) as db:
        assert list(db.exec(select(PaymentLink.id))) == links  # the link the relatives got still works
