"""Reading a turn against the conversation: yes/no by sound, take-backs, follow-ups, slots kept."""

from datetime import date
from decimal import Decimal

import pytest

from intents import Decision, IntentMatcher, extract_slots, normalize
from intents.context import DialogueContext, cancels, goes_ahead, month_step, with_context, yes_or_no

PAYING = DialogueContext(pending="confirm_action", pending_intent="pay_bill", last_intent="pay_bill")


@pytest.mark.parametrize(("heard", "answer"), [
    ("对", "affirm"), ("队", "affirm"), ("对对对", "affirm"), ("事的", "affirm"), ("号的", "affirm"),
    ("型", "affirm"), ("恩恩", "affirm"), ("可以啊", "affirm"), ("嗯", None),
    ("不勇", "deny"), ("部队", "deny"), ("不用了", "deny"), ("算了", "deny"),
    ("对吗", None), ("我要交电费", None), ("3201000001", None),
])
def test_short_answers_are_read_by_their_sound(heard: str, answer: str | None) -> None:
    assert yes_or_no(normalize(heard)) == answer


@pytest.mark.parametrize("heard", ["队", "事的", "号", "型"])
def test_under_a_yes_no_question_a_misheard_yes_is_yes(shipped_matcher: IntentMatcher, heard: str) -> None:
    result = shipped_matcher.match(heard, PAYING)
    assert (result.intent, result.decision) == ("affirm", Decision.ACCEPT)


@pytest.mark.parametrize("heard", ["不交了不交了", "哎呀先不弄了", "部队", "不用"])
def test_under_a_yes_no_question_a_change_of_mind_is_no(shipped_matcher: IntentMatcher, heard: str) -> None:
    assert shipped_matcher.match(heard, PAYING).intent == "deny"


def test_a_new_question_under_a_yes_no_question_is_that_question(shipped_matcher: IntentMatcher) -> None:
    result = shipped_matcher.match("先别急，现在一度电多少钱", PAYING)
    assert (result.intent, result.decision) == ("tariff_info", Decision.ACCEPT)


def test_goodbye_after_a_change_of_mind_is_goodbye(shipped_matcher: IntentMatcher) -> None:
    assert shipped_matcher.match("哎呀先不弄了，拜拜", PAYING).intent == "goodbye"


@pytest.mark.parametrize("said", ["不对，我是问欠多少", "不是这个，我想知道还欠多少钱"])
def test_a_correction_is_routed_to_what_follows(shipped_matcher: IntentMatcher, said: str) -> None:
    result = shipped_matcher.match(said, DialogueContext(last_intent="query_usage"))
    assert (result.intent, result.decision) == ("query_balance", Decision.ACCEPT)


@pytest.mark.parametrize("said", ["那好，交上吧", "行，那就交了吧"])
def test_going_ahead_after_an_amount_takes_the_offered_action(shipped_matcher: IntentMatcher, said: str) -> None:
    after_bill = DialogueContext(last_intent="query_bill", offered="pay_bill")
    assert shipped_matcher.match(said, after_bill).intent == "pay_bill"
    assert shipped_matcher.match("那就这样吧", after_bill).intent == "goodbye"


@pytest.mark.parametrize("said", ["停到几点", "什么时候来电", "要停多久"])
def test_after_an_outage_answer_when_power_returns_is_that_outage(shipped_matcher: IntentMatcher, said: str) -> None:
    assert shipped_matcher.match(said, DialogueContext(last_intent="planned_outage")).intent == "planned_outage"


@pytest.mark.parametrize("said", ["两百", "四百度的话呢", "那三百呢"])
def test_a_bare_quantity_after_a_cost_question_is_costed(shipped_matcher: IntentMatcher, said: str) -> None:
    context = DialogueContext(last_intent="tariff_info")
    result = shipped_matcher.match(said, context)
    assert (result.intent, result.decision) == ("bill_estimate", Decision.ACCEPT)
    slots = with_context(extract_slots(result.normalized, date(2026, 11, 22)), context, result.intent, result.normalized)
    assert slots.kwh in (Decimal(200), Decimal(300), Decimal(400))


def test_a_follow_up_keeps_the_month() -> None:
    context = DialogueContext(last_intent="query_bill", month="2026-10")
    slots = with_context(extract_slots(normalize("用了几度电啊"), date(2026, 11, 22)), context, "query_usage", normalize("用了几度电啊"))
    assert slots.month == "2026-10"
    own = with_context(extract_slots(normalize("这个月呢"), date(2026, 11, 22)), context, "query_usage", normalize("这个月呢"))
    assert own.month == "2026-11"



def test_a_kwh_said_a_moment_ago_is_costed_when_asked() -> None:
    context = DialogueContext(last_intent="query_usage", kwh=Decimal(300))
    slots = with_context(extract_slots("那要交多少钱", date(2026, 11, 22)), context, "bill_estimate", "那要交多少钱")
    assert slots.kwh == Decimal(300)


@pytest.mark.parametrize("said, gives_up", [
    ("算了，我儿子说手机上会有提示的，那就不要了", True), ("先不弄了", True), ("今天不交了", True),
    ("电又不来了", False), ("算了，还是交了吧", False), ("不对，我是问欠多少", False)])
def test_a_turn_that_ends_by_giving_up_cancels(said: str, gives_up: bool) -> None:
    assert cancels(normalize(said)) is gives_up


@pytest.mark.parametrize("said, going", [
    ("那你给我交了吧", True), ("还是交了吧省得跑一趟", True), ("那不用了，还是留着吧", False), ("就这样吧，拜拜", False),
    ("那要交多少钱吧", False)])
def test_going_ahead_is_neither_a_refusal_nor_a_farewell_nor_a_question(said: str, going: bool) -> None:
    assert goes_ahead(normalize(said)) is going


@pytest.mark.parametrize("said, step", [("那再往前一个月呢", -1), ("之前一个月呢", -1), ("再往后一个月呢", 1), ("上个月呢", None)])
def test_a_month_step_counts_from_the_month_talked_about(said: str, step: int | None) -> None:
    assert month_step(normalize(said)) == step
