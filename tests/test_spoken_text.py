"""Display text → what the voice says: money, identifiers, times, dates, counts."""

from __future__ import annotations

import pytest

from assistant.speech.spoken_text import group_identifier, read_money, to_spoken


@pytest.mark.parametrize(("shown", "said"), [
    ("128.50元", "一百二十八元五角"),
    ("0.05元", "五分"),
    ("161.99元", "一百六十一元九角九分"),
    ("128元", "一百二十八元"),
    ("100.05元", "一百元零五分"),
    ("1.02元", "一元零二分"),
    ("0.20元", "两角"),
    ("2元", "两元"),
    ("0元", "零元"),
    ("1,000元", "一千元"),
    ("¥86.50", "八十六元五角"),
    ("128.50 元", "一百二十八元五角"),
    ("１２８．５０元", "一百二十八元五角"),
])
def test_money_is_said_in_yuan_jiao_fen(shown: str, said: str) -> None:
    assert to_spoken(shown) == said


@pytest.mark.parametrize(("shown", "said"), [
    ("0.5283元", "零点五二八三元"),
    ("每度0.5283元", "每度零点五二八三元"),
    ("0.5283元/度", "零点五二八三元每度"),
    ("0.5783元/kWh", "零点五七八三元每千瓦时"),
])
def test_prices_with_more_than_two_decimals_are_decimals(shown: str, said: str) -> None:
    assert to_spoken(shown) == said


@pytest.mark.parametrize(("shown", "said"), [
    ("230度", "二百三十度"),
    ("用了300度电", "用了三百度电"),
    ("12.5度", "十二点五度"),
    ("2,760度", "二千七百六十度"),
    ("231–400度", "二百三十一到四百度"),
    ("2,761-4,800度", "二千七百六十一到四千八百度"),
    ("230kWh", "二百三十千瓦时"),
    ("220V", "二百二十伏"),
])
def test_kwh_and_ranges(shown: str, said: str) -> None:
    assert to_spoken(shown) == said


@pytest.mark.parametrize(("shown", "said"), [
    ("户号3201000001", "户号三二零幺，零零零，零零幺"),
    ("3201 000 001", "三二零幺，零零零，零零幺"),
    ("13812345678", "幺三八，幺二三四，五六七八"),
    ("138-1234-5678", "幺三八，幺二三四，五六七八"),
    ("0514-86000001", "零五幺四，八六零零，零零零幺"),
    ("010-60000003", "零幺零，六零零零，零零零三"),
    ("051486000001", "零五幺四，八六零零，零零零幺"),
    ("请打95598", "请打九五五九八"),
    ("着火打119，有人受伤打120。", "着火打幺幺九，有人受伤打幺二零。"),
    ("打110,再说", "打幺幺零,再说"),
    ("007号", "零零七号"),
])
def test_numbers_to_dial_are_read_digit_by_digit_with_yao(shown: str, said: str) -> None:
    assert to_spoken(shown) == said


def test_a_service_number_followed_by_a_unit_is_a_quantity() -> None:
    assert to_spoken("用了120度") == "用了一百二十度"
    assert to_spoken("110元") == "一百一十元"


@pytest.mark.parametrize(("digits", "groups"), [
    ("3201000001", ["3201", "000", "001"]),
    ("13812345678", ["138", "1234", "5678"]),
    ("95598", ["95598"]),
    ("123456", ["123", "456"]),
    ("123456789", ["123", "456", "789"]),
    ("02112345678", ["021", "1234", "5678"]),
])
def test_identifier_grouping(digits: str, groups: list[str]) -> None:
    assert group_identifier(digits) == groups


@pytest.mark.parametrize(("shown", "said"), [
    ("8点30分", "八点三十分"),
    ("8点05分", "八点零五分"),
    ("8点半", "八点半"),
    ("16点", "十六点"),
    ("2点", "两点"),
    ("8:30", "八点三十分"),
    ("12:05", "十二点零五分"),
    ("8:00–21:00", "八点到二十一点"),
    ("早上8点半到下午5点半", "早上八点半到下午五点半"),
])
def test_clock_times(shown: str, said: str) -> None:
    assert to_spoken(shown) == said


@pytest.mark.parametrize(("shown", "said"), [
    ("11月25日", "十一月二十五日"),
    ("2026年", "二零二六年"),
    ("2025年12月", "二零二五年十二月"),
    ("2026-11-25", "二零二六年十一月二十五日"),
    ("2月", "二月"),
    ("2号", "二号"),
])
def test_dates(shown: str, said: str) -> None:
    assert to_spoken(shown) == said


@pytest.mark.parametrize(("shown", "said"), [
    ("15%", "百分之十五"),
    ("0.5%", "百分之零点五"),
    ("１５％", "百分之十五"),
    ("٣٣个", "三十三个"),
    ("3个", "三个"),
    ("2个", "两个"),
    ("第2个", "第二个"),
    ("24小时内", "二十四小时内"),
    ("45分钟", "四十五分钟"),
    ("龙城路88号", "龙城路八十八号"),
    ("2026", "二千零二十六"),
])
def test_percentages_and_counts(shown: str, said: str) -> None:
    assert to_spoken(shown) == said


def test_urls_are_not_read_out() -> None:
    assert to_spoken("付款请点 https://pay.example.cn/a?b=1&c=2 谢谢") == "付款请点 链接 谢谢"
    assert to_spoken("网址www.95598.cn。") == "网址链接。"


def test_symbols_that_are_spoken_and_symbols_that_stay() -> None:
    assert to_spoken("江都供电营业厅（演示）") == "江都供电营业厅（演示）"
    assert to_spoken("按#号键") == "按井号键"
    assert to_spoken("230 x 0.5283 = 121.509") == "二百三十乘零点五二八三等于一百二十一点五零九"


def test_a_whole_answer() -> None:
    assert to_spoken("您好，您上个月的电费是128.50元，请问现在交吗") == "您好，您上个月的电费是一百二十八元五角，请问现在交吗"
    said = to_spoken("户号3201000001，2026年11月的电费是161.99元，用了300度电，请在11月25日前交，客服电话95598。")
    assert said == ("户号三二零幺，零零零，零零幺，二零二六年十一月的电费是一百六十一元九角九分，"
                    "用了三百度电，请在十一月二十五日前交，客服电话九五五九八。")


def test_spoken_text_has_no_digits_left_and_is_stable() -> None:
    shown = "江都供电营业厅（演示）周一到周日早上8点半到下午5点半，电话0514-86000001，阶梯电价0.5283元/度，230度以内。"
    said = to_spoken(shown)
    assert not any(c.isdigit() for c in said)
    assert to_spoken(said) == said


def test_text_without_figures_is_unchanged() -> None:
    assert to_spoken("好的，我现在就给您转人工，请稍等。") == "好的，我现在就给您转人工，请稍等。"
    assert to_spoken("  ") == ""


def test_read_money_direct() -> None:
    assert read_money("0") == "零元"
    assert read_money("12345678901234567890.5") == "一二三四五六七八九零一二三四五六七八九零点五元"
