"""Answers a customer would hear, from the real seeded database."""

import pytest

from assistant.answers import mask_name
from assistant.knowledge import Knowledge
from knowledge_base.seed import load_intent_seeds
from tests.conftest import TODAY

DEMO = "3201000001"


def answer(knowledge: Knowledge, text: str, account: str | None = None) -> str:
    reply = knowledge.ask(text, account, today=TODAY)
    assert reply.answer is not None
    return reply.answer.display


def test_last_months_bill_of_the_demo_account(knowledge: Knowledge) -> None:
    text = answer(knowledge, "上个月电费多少", DEMO)
    assert "10月" in text and "128.50元" in text and "还没交" in text


def test_pay_bill_states_the_amount_due(knowledge: Knowledge) -> None:
    text = answer(knowledge, "我要交电费", DEMO)
    assert "128.50元" in text and "张*华" in text


def test_pay_bill_without_account_asks_for_it(knowledge: Knowledge) -> None:
    assert "户号" in answer(knowledge, "我要交电费")


def test_account_spoken_in_the_utterance_is_used(knowledge: Knowledge) -> None:
    assert "128.50元" in answer(knowledge, "三二零一零零零零零一，上个月电费多少")


def test_unknown_account_gets_the_general_answer(knowledge: Knowledge) -> None:
    text = answer(knowledge, "我要交电费", "9999999999")
    assert "户号" in text and "{" not in text


def test_prepaid_balance(knowledge: Knowledge) -> None:
    assert "86.50元" in answer(knowledge, "我卡里还剩多少钱", "3201000002")


def test_cost_of_300_kwh(knowledge: Knowledge) -> None:
    text = answer(knowledge, "用三百度电要多少钱")
    assert "161.99元" in text and "230度" in text and "70度" in text


def test_beijing_account_hears_beijing_prices(knowledge: Knowledge) -> None:
    assert "149.49元" in answer(knowledge, "三百度电要交多少钱", "1101000004")


def test_planned_outage_tomorrow_in_the_demo_area(knowledge: Knowledge) -> None:
    text = answer(knowledge, "明天停电吗", "3201000003")
    assert "明天8点30分到16点" in text and "线路检修" in text


def test_no_outage_is_said_plainly(knowledge: Knowledge) -> None:
    assert "没有计划停电" in answer(knowledge, "明天停电吗", DEMO)


def test_missing_month_is_said_plainly(knowledge: Knowledge) -> None:
    text = answer(knowledge, "三月份的电费多少", DEMO)
    assert "没有查到" in text and "3月" in text


def test_hall_info_reads_the_local_hall(knowledge: Knowledge) -> None:
    assert "江都" in answer(knowledge, "营业厅在什么地方")


@pytest.mark.parametrize("account", [None, DEMO, "3201000002", "3201000003", "1101000004"])
def test_every_answer_renders_without_template_fields(knowledge: Knowledge, account: str | None) -> None:
    for seed in load_intent_seeds():
        reply = knowledge.ask(seed.examples[0], account, today=TODAY)
        if reply.match.intent != seed.id or reply.answer is None:
            continue
        assert "{" not in reply.answer.display and "}" not in reply.answer.display, seed.id
        assert not reply.answer.missing, (seed.id, reply.answer.missing)


def test_mask_name() -> None:
    assert [mask_name(n) for n in ("张建华", "李明", "欧阳娜娜", "王")] == ["张*华", "李*", "欧**娜", "王"]


def test_reload_picks_up_an_edited_answer(knowledge: Knowledge, engine) -> None:  # type: ignore[no-untyped-def]
    from knowledge_base.db import session
    from knowledge_base.models import Intent

    with session(engine) as db:
        intent = db.get(Intent, "hall_info")
        intent.answer_display = "营业厅搬到了新地址：文化路1号。"
        db.add(intent)
        db.commit()
    assert "文化路1号" not in answer(knowledge, "营业厅在哪")
    knowledge.reload()
    assert "文化路1号" in answer(knowledge, "营业厅在哪")


def test_a_bad_spoken_template_beside_a_good_display_reads_the_display() -> None:
    from datetime import date

    from assistant.answers import CustomerFacts, compose
    from intents.slots import Slots
    from knowledge_base.queries import IntentAnswers

    hours = IntentAnswers(id="hall_info", title="营业厅", action="hall_info", needs_account=False,
                          display="营业厅电话95598。", spoken="营业厅电话{hall_phone:电话}。",
                          account_display=None, account_spoken=None)
    answer = compose(hours, CustomerFacts(), None, None, Slots(), date(2026, 11, 22))
    assert answer.display == answer.spoken == "营业厅电话95598。"
