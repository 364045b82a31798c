import pytest

from intents.normalize import MAX_INPUT_CHARS, normalize
from intents.numerals import chinese_numerals_to_digits


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("我 要 交 电费", "我要交电费"),  # recogniser spacing
        ("嗯，那个，我想交电费啊！", "我想交电费"),  # fillers and punctuation
        ("我要繳電費", "我要缴电费"),  # traditional to simplified
        ("電錶壞了", "电表坏了"),
        ("ＡＢＣ１２３", "abc123"),  # full-width to half-width
        ("查一下余额", "查一下余额"),  # 额 is not a filler
        ("这个月电费", "这个月电费"),  # 这个 is not a filler
    ],
)
def test_normalize(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("二百五十", "250"),
        ("三百五", "350"),
        ("一千", "1000"),
        ("十二月", "12月"),
        ("一千零五", "1005"),
        ("两万三", "23000"),
        ("二十五度", "25度"),
        ("一百二十八元五角", "128元5角"),
        ("一点五度", "1.5度"),
        ("三二零一零零零零零一", "3201000001"),  # a 户号 read digit by digit
        ("幺三八零零零零零零零一", "13800000001"),
        ("两个月", "2个月"),
        ("我选三", "我选3"),
        # A time of day is hours 点 minutes, never a decimal: 七点二十 is 7:20, not 7.2 then 10.
        ("晚上七点二十分", "晚上7点20分"),
        ("七点二十提醒我", "7点20提醒我"),
        ("早上九点零五分", "早上9点5分"),
        ("下午三点四十五", "下午3点45"),
        ("三点一四", "3.14"),  # digits read one by one after 点 are decimals
        ("一百二十八点五元", "128.5元"),
    ],
)
def test_chinese_numerals(raw: str, expected: str) -> None:
    assert chinese_numerals_to_digits(raw) == expected


@pytest.mark.parametrize("phrase", ["再说一遍", "查一下", "说慢一点", "万一停电了", "一直没电", "一样的"])
def test_words_with_numerals_that_are_not_numbers_stay(phrase: str) -> None:
    assert chinese_numerals_to_digits(phrase) == phrase


@pytest.mark.parametrize("raw", ["", "   ", "\x00\x07\x1b\x7f", "😀🔥⚡", "。，！？"])
def test_meaningless_input_normalises_to_empty(raw: str) -> None:
    assert normalize(raw) == ""


def test_long_input_is_cut() -> None:
    assert len(normalize("电" * 10_000)) == MAX_INPUT_CHARS


def test_the_ideographic_zero_is_a_zero() -> None:
    """〇 (U+3007) sits outside the CJK ideograph block; a 户号 written with it must survive."""
    assert normalize("三二〇一〇〇〇〇〇一") == "3201000001"
    assert normalize("二〇二六年") == "2026年"


def test_a_whole_account_number_is_not_joined_to_a_digit_said_before_it() -> None:
    assert normalize("最后一个是一，三二零一零零零零零一") == "最后1个是1 3201000001"


@pytest.mark.parametrize("said, standard", [("俺们这明儿停电不", "我们这明天停电不"), ("电费是咋收的", "电费是怎么收的"),
                                            ("啥时候来电", "什么时候来电"), ("俺不晓得户号", "我不知道户号")])
def test_everyday_regional_words_read_as_their_standard_form(said: str, standard: str) -> None:
    assert normalize(said) == standard
