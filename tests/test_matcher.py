"""The matcher as a caller sees it: the right intent, a sensible decision, no crash."""

import time

import pytest

from intents import Decision, IntentMatcher, IntentSpec
from intents.evaluation import measure, read_labelled_tsv
from tests.conftest import eval_file


@pytest.mark.parametrize(
    ("heard", "intent"),
    [
        ("我要叫电费", "pay_bill"),  # 叫 for 交
        ("家里停店了", "report_outage"),  # 店 for 电
        ("拽人工", "human_agent"),  # 拽 for 转
        ("帮我转人工", "human_agent"),
        ("工电局营业厅几点开门", "hall_info"),  # 工电 for 供电
        ("我 要 交 电费", "pay_bill"),
        ("我要繳電費", "pay_bill"),
        ("用三百度电要交多少钱", "bill_estimate"),
        ("一度电多少钱", "tariff_info"),
        ("电线掉下来冒火花了", "emergency"),
        ("交费", "pay_bill"),  # the bare word an elderly customer says (it was 子女代交, confirmed)
        ("我来交费", "pay_bill"),
    ],
)
def test_recogniser_errors_and_variants_still_land(shipped_matcher: IntentMatcher, heard: str, intent: str) -> None:
    result = shipped_matcher.match(heard)
    assert result.intent == intent
    assert result.decision != Decision.NONE


@pytest.mark.parametrize("text", ["今天天气怎么样", "给我讲个笑话", "帮我买张火车票"])
def test_out_of_scope_is_none(shipped_matcher: IntentMatcher, text: str) -> None:
    result = shipped_matcher.match(text)
    assert (result.intent, result.decision) == ("none", Decision.NONE)


@pytest.mark.parametrize(
    "text",
    ["", "   ", "\x00\x01\x02", "😀😀😀", "hello, how are you?", "。。。！！！", "\u202e\u200b", "电" * 10_000,
     "的" * 10_000, "a" * 10_000],
)
def test_bad_input_is_a_clean_result(shipped_matcher: IntentMatcher, text: str) -> None:
    start = time.perf_counter()
    result = shipped_matcher.match(text)
    elapsed = time.perf_counter() - start
    assert 0.0 <= result.confidence <= 1.0
    assert elapsed < 1.0  # bounded work, generous for a loaded CI machine
    if text.strip() in ("", "\x00\x01\x02") or set(text) <= set("😀。！\u202e\u200b"):
        assert (result.intent, result.decision) == ("none", Decision.NONE)


def test_english_is_out_of_scope(shipped_matcher: IntentMatcher) -> None:
    assert shipped_matcher.match("hello, how are you?").decision == Decision.NONE


def test_candidates_are_ranked_and_bounded(shipped_matcher: IntentMatcher) -> None:
    result = shipped_matcher.match("电费")
    scores = [c.score for c in result.candidates]
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert len({c.intent for c in result.candidates}) == len(result.candidates)


def test_close_call_is_confirmed_not_accepted() -> None:
    matcher = IntentMatcher([IntentSpec("query_bill", ("查电费",)), IntentSpec("pay_bill", ("交电费",))])
    assert matcher.match("电费").decision == Decision.CONFIRM


def test_no_intents_means_none() -> None:
    assert IntentMatcher([]).match("交电费").decision == Decision.NONE


def test_dev_set_accuracy(shipped_matcher: IntentMatcher) -> None:
    """Top-1 on the shared measuring set must be at least 0.95, out-of-scope lines `none`."""
    utterances = read_labelled_tsv(eval_file("dev.tsv"))
    accuracy = measure(lambda text: shipped_matcher.match(text).intent, utterances)
    assert accuracy.rate >= 0.95, accuracy.errors
    out_of_scope = [u for u in utterances if u.intent == "none"]
    assert out_of_scope and all(shipped_matcher.match(u.text).intent == "none" for u in out_of_scope)
