"""Chinese numerals to Arabic digits, the way callers say numbers.

Handles values with units (二百五十 → 250, 三百五 → 350, 一千零五 → 1005,
两万三 → 23000, 十二 → 12), digit-by-digit readings (三二零一 → 3201, 幺三八 →
138) and decimals (一点五 → 1.5). A lone 一/两 is converted only before a
unit word (一个月, 两度), because 一下、一点、一遍 are not numbers.
"""

from __future__ import annotations

import re

DIGITS: dict[str, int] = {
    "零": 0, "〇": 0, "洞": 0, "一": 1, "幺": 1, "二": 2, "两": 2, "三": 3,
    "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9,
}
SMALL_UNITS: dict[str, int] = {"十": 10, "百": 100, "千": 1000}
BIG_UNITS: dict[str, int] = {"万": 10_000, "亿": 100_000_000}

# The long numbers callers read out, often in chunks: a 户号 and a mainland mobile number.
ACCOUNT_DIGITS = 10
MOBILE = re.compile(r"1[3-9][0-9]{9}")

# Words after which a single numeral really is a quantity.
_MEASURE_WORDS = "度元块角毛分月号年日天个岁户点周位次"
# 洞 is only a digit inside digit strings (phone numbers); on its own it is a hole.
_NUMERAL_CHARS = "零〇一幺二两三四五六七八九十百千万亿"
_RUN = re.compile(f"[{_NUMERAL_CHARS}]+(?:点[零〇一二三四五六七八九十]+)?")


def _digit_string(run: str) -> str | None:
    """三二零一 → '3201': a run of digits with no units, read one by one."""
    if all(ch in DIGITS for ch in run):
        return "".join(str(DIGITS[ch]) for ch in run)
    return None


def _value(run: str) -> int | None:
    """Value of a numeral with units, or None when it is not well formed."""
    total = 0  # completed 万/亿 groups
    section = 0  # value below the current 万
    number: int | None = None  # pending digit
    last_unit = 1
    zero_seen = False
    for ch in run:
        if ch in DIGITS:
            if number is not None and not zero_seen:
                return None  # two digits in a row inside a unit numeral: not well formed
            if DIGITS[ch] == 0:
                zero_seen = True
                number = None
                continue
            number = DIGITS[ch]
        elif ch in SMALL_UNITS:
            unit = SMALL_UNITS[ch]
            if number is None:
                if unit != 10:
                    return None
                number = 1  # 十二 = 12
            section += number * unit
            number = None
            zero_seen = False
            last_unit = unit
        else:  # 万 or 亿
            unit = BIG_UNITS[ch]
            section += number or 0
            total = (total + section) * unit
            section = 0
            number = None
            zero_seen = False
            last_unit = unit
    if number is not None:
        # 三百五 = 350 and 两万三 = 23000: a trailing digit takes the next lower unit,
        # unless a 零 stood between (三百零五 = 305).
        if last_unit >= 100 and not zero_seen:
            number *= last_unit // 10
        section += number
    return total + section


def _convert_run(run: str, next_char: str, prev_char: str) -> str:
    integer_part, _, decimals = run.partition("点")
    if decimals:
        whole = _convert_integer(integer_part, next_char="点", is_decimal=True)
        if whole is not None and ("十" in decimals or next_char == "分"):
            # A time of day: 七点二十(分) is 7:20 and 九点零五分 is 9:05. Decimals are read digit
            # by digit (三点一四), never with 十.
            minutes = _value(decimals.lstrip("零〇"))
            return run if minutes is None else f"{whole}点{minutes}"
        decimal_digits = _digit_string(decimals)
        if whole is None or decimal_digits is None:
            return run
        return f"{whole}.{decimal_digits}"
    converted = _convert_integer(run, next_char, prev_char=prev_char)
    if converted is None:
        converted = _digits_then_quantity(run)
    return run if converted is None else converted


def _digits_then_quantity(run: str) -> str | None:
    """三二零一零零零零零一两百 → '3201000001 200': a number read digit by digit, then a quantity.

    The quantity starts at the digit before its first unit (两百), or at the unit itself when
    that is 十 (十月: nobody says 一十月).
    """
    first_unit = next((i for i, ch in enumerate(run) if ch in SMALL_UNITS or ch in BIG_UNITS), None)
    if first_unit is None:
        return None
    cut = first_unit if run[first_unit] == "十" else first_unit - 1
    digits, quantity = _digit_string(run[:cut]), _value(run[cut:])
    # Two digits or fewer before a unit are a range (三四百 = three or four hundred), not a number.
    if digits is None or len(digits) < 3 or quantity is None:
        return None
    return f"{digits} {quantity}"


def _convert_integer(run: str, next_char: str, is_decimal: bool = False, prev_char: str = "") -> str | None:
    if not run:
        return None
    if len(run) == 1 and run in DIGITS and not is_decimal:
        if run == "一" and next_char == "点":
            return None  # 一点 = "a little"
        # A lone numeral at the very end is an answer such as 选二 or 第三个; one beside a
        # kept pause (normalize leaves a space only between digits) is a digit of a longer number.
        is_quantity = next_char in ("", " ") or next_char in _MEASURE_WORDS or prev_char == " "
        if run == "洞" or not is_quantity:
            return None
    if any(ch in SMALL_UNITS or ch in BIG_UNITS for ch in run):
        value = _value(run)
        return None if value is None else str(value)
    return _digit_string(run)


def chinese_numerals_to_digits(text: str) -> str:
    """Replace every Chinese numeral in ``text`` by Arabic digits."""
    pieces: list[str] = []
    position = 0
    for match in _RUN.finditer(text):
        start, end = match.span()
        run = match.group()
        # A run may not start with a bare big unit (万一 = "in case").
        lead = len(run) - len(run.lstrip("百千万亿"))
        pieces.append(text[position:start + lead])
        run = run[lead:]
        next_char = text[end] if end < len(text) else ""
        prev_char = text[start + lead - 1] if start + lead > 0 else ""
        pieces.append(_convert_run(run, next_char, prev_char) if run else "")
        position = end
    pieces.append(text[position:])
    return "".join(pieces)
