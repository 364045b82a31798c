from datetime import date
from decimal import Decimal

import pytest

from intents.normalize import normalize
from intents.slots import extract_slots

TODAY = date(2026, 11, 22)


def slots(text: str):  # type: ignore[no-untyped-def]
    return extract_slots(normalize(text), TODAY)


@pytest.mark.parametrize(
    ("text", "kwh"),
    [("用三百度电要交多少钱", "300"), ("二百五十个字多少钱", "250"), ("500度电", "500"), ("一点五千瓦时", "1.5")],
)
def test_kwh(text: str, kwh: str) -> None:
    assert slots(text).kwh == Decimal(kwh)


@pytest.mark.parametrize(
    ("text", "month"),
    [
        ("这个月电费多少", "2026-11"),
        ("上个月电费多少", "2026-10"),
        ("上上个月的账单", "2026-09"),
        ("三月份的电费", "2026-03"),
        ("去年十二月的电费", "2025-12"),
        ("十二月的电费", "2025-12"),  # said in November: last December, bills are in the past
    ],
)
def test_month(text: str, month: str) -> None:
    assert slots(text).month == month


def test_account_spoken_with_pauses_and_numerals() -> None:
    assert slots("我的户号是三二零一，零零零，零零一").account == "3201000001"
    assert slots("户号 3201 000 001").account == "3201000001"


def test_phone_number() -> None:
    found = slots("我的新号码是幺三八零零一二三四五六")
    assert found.phone == "13800123456"
    assert found.account is None  # 11 digits are not a 10-digit 户号


@pytest.mark.parametrize(
    ("text", "fen"),
    [("交一百二十八元五角", 12850), ("交128.5元", 12850), ("一块五", 150), ("五毛钱", 50), ("充二百块钱", 20000)],
)
def test_money_in_fen(text: str, fen: int) -> None:
    assert slots(text).amount_fen == fen


def test_day() -> None:
    assert slots("明天停电吗").day == "2026-11-23"
    assert slots("今天有没有停电").day == "2026-11-22"


def test_nothing_found_gives_empty_json() -> None:
    assert slots("你好").as_json() == {}
