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


# --- slots wherever they are said (issue 10) ---------------------------------------------

@pytest.mark.parametrize(
    "text",
    [
        "户号是3201 000 001，这个月多少钱",
        "三二零一零零，呃，零零零一",
        "三二零一 零零零 零零一",
        "户号是三二零一零零零零零一",
        "三二零幺零零零零零幺",  # 幺 for one
        "三二零一、零零零、零零一",
        "3201-000-001",
        "三 二 零 一 零 零 零 零 零 一",  # a recogniser that spaces every digit
        "我的户号，那个，三二零一，嗯，零零零零零一，帮我查一下",
    ],
)
def test_account_said_in_pieces(text: str) -> None:
    assert slots(text).account == "3201000001"


def test_account_with_two_for_liang() -> None:
    assert slots("户号三二零一零零零零零两").account == "3201000002"


@pytest.mark.parametrize(
    ("text", "account", "other", "value"),
    [
        ("户号3201000001，两百度多少钱", "3201000001", "kwh", Decimal(200)),
        ("三二零一零零零零零一，两百度电多少钱", "3201000001", "kwh", Decimal(200)),
        ("户号三二零一零零零零零一两百度多少钱", "3201000001", "kwh", Decimal(200)),
        ("3201 000 001 十月份的电费", "3201000001", "month", "2026-10"),
        ("三二零一零零零零零一十月份的电费", "3201000001", "month", "2026-10"),
        ("户号3201000001，交128块5", "3201000001", "amount_fen", 12850),
        ("户号3201000001 电话138 0013 8000", "3201000001", "phone", "13800138000"),
        ("3201000001，13800138000", "3201000001", "phone", "13800138000"),
        ("三二零一零零零零零一，幺三八零零幺三八零零零", "3201000001", "phone", "13800138000"),
    ],
)
def test_account_does_not_swallow_a_neighbouring_number(text: str, account: str, other: str, value: object) -> None:
    found = slots(text)
    assert found.account == account
    assert getattr(found, other) == value


@pytest.mark.parametrize(
    "text",
    [
        "我的电话是幺三八，零零幺三，八零零零",
        "手机138-0013-8000",
        "138 0013 8000",
        "幺三八 零零幺三 八零零零",
        "号码是一三八零零一三八零零零",
    ],
)
def test_phone_said_in_groups(text: str) -> None:
    found = slots(text)
    assert found.phone == "13800138000"
    assert found.account is None  # 11 digits starting 1[3-9] are a phone, not a 户号


def test_ten_digits_and_one_more_are_not_an_account() -> None:
    assert slots("3201 000 0012").account is None


@pytest.mark.parametrize(
    ("text", "kwh"),
    [
        ("两百度", "200"),
        ("四百度的话呢", "400"),
        ("用了三百来度", "300"),
        ("三百多度电要多少钱", "300"),
        ("200千瓦时", "200"),
        ("一百五十度", "150"),
        ("一百五度", "150"),
    ],
)
def test_kwh_said_every_way(text: str, kwh: str) -> None:
    assert slots(text).kwh == Decimal(kwh)


@pytest.mark.parametrize(
    ("text", "quantity"),
    [("两百", "200"), ("四百的话呢", "400"), ("三百五", "350"), ("那要是一百二呢", "120"), ("二百五十点五呢", "250.5")],
)
def test_bare_quantity_without_a_unit(text: str, quantity: str) -> None:
    found = slots(text)
    assert found.quantity == Decimal(quantity)
    assert found.kwh is None  # not guessed: the dialogue decides what a bare number means


@pytest.mark.parametrize(
    "text",
    ["两百度", "交两百块", "十月份的电费", "户号3201000001", "13800138000", "我选3", "第二个", "明天停电吗", "你好"],
)
def test_no_bare_quantity_when_the_number_has_a_meaning(text: str) -> None:
    assert slots(text).quantity is None


@pytest.mark.parametrize(
    ("text", "month"),
    [("十月份的电费", "2026-10"), ("10月电费", "2026-10"), ("去年12月", "2025-12"), ("上上个月用了几度", "2026-09")],
)
def test_month_said_every_way(text: str, month: str) -> None:
    assert slots(text).month == month


def test_a_number_of_months_is_not_a_month() -> None:
    assert slots("前两个月的电费").month is None


@pytest.mark.parametrize(
    ("text", "day"),  # TODAY is Sunday 2026-11-22
    [
        ("后天停电吗", "2026-11-24"),
        ("大后天停电吗", "2026-11-25"),
        ("明儿停电吗", "2026-11-23"),
        ("后儿停电吗", "2026-11-24"),
        ("今儿个停电吗", "2026-11-22"),
        ("周六停电吗", "2026-11-28"),
        ("星期三停不停电", "2026-11-25"),
        ("礼拜天停电吗", "2026-11-22"),
        ("下周一停电吗", "2026-11-23"),
        ("这周末停电吗", "2026-11-22"),
    ],
)
def test_day_said_every_way(text: str, day: str) -> None:
    assert slots(text).day == day


def test_next_week_from_a_weekday() -> None:
    wednesday = date(2026, 11, 25)
    assert extract_slots(normalize("下周三停电吗"), wednesday).day == "2026-12-02"
    assert extract_slots(normalize("周一停电吗"), wednesday).day == "2026-11-30"
    assert extract_slots(normalize("这周末停电吗"), wednesday).day == "2026-11-28"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("户号 3201 000 001", "户号3201000001"),  # one number said in pieces stays one number
        ("手机138-0013-8000", "手机13800138000"),  # so the turn log can still mask it
        ("3201000001，200度", "3201000001 200度"),  # two numbers stay two
        ("三 百 度", "300度"),
        ("嗯，我 要 交 电费", "我要交电费"),
    ],
)
def test_normalized_numbers_keep_their_boundaries(raw: str, expected: str) -> None:
    assert normalize(raw) == expected
