"""Slot values in a normalised utterance: kWh, month, day, 户号, phone, money, a bare number.

Runs on the output of ``normalize`` (digits already Arabic, fillers gone).
Relative words (上个月, 明天) are resolved against ``today`` so the caller,
not this module, decides what "now" is.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from decimal import Decimal

from intents.numerals import ACCOUNT_DIGITS, MOBILE

# normalize joins a 户号 or mobile said in chunks and leaves one space between separate numbers.
_ACCOUNT = re.compile(rf"(?<![0-9])[0-9]{{{ACCOUNT_DIGITS}}}(?![0-9])")
_MOBILE = re.compile(rf"(?<![0-9]){MOBILE.pattern}(?![0-9])")
# 三百来度 / 三百多度: about 300; the round figure is what the caller wants costed.
_KWH = re.compile(r"([0-9]+(?:\.[0-9]+)?)(?:来|多)?(?:度|千瓦时|kwh|个字|个电|字)")
# A number said on its own (四百的话呢); one with a unit, an ordinal or a choice means something else.
_NUMBER = re.compile(r"(?<![0-9.])[0-9]+(?:\.[0-9]+)?(?![0-9.])")
_NOT_A_QUANTITY_BEFORE = "第选块元角毛度号点"
_UNITS_AFTER = re.compile(
    r"(?:来|多|余|几)?(?:度|千瓦|kwh|个|字|元|块|角|毛|分|月|号|年|日|天|岁|户|点|周|位|次|遍|下|楼|栋|层|单元|小时"
    r"|钟|期|倍|折|%|百分|万|亿|张|条|台|只|米|平|斤|公里|块钱)"
)
# No figure a caller asks the cost of reaches 100,000: a longer one is a code or a number read out.
MAX_QUANTITY = Decimal(100_000)
_MONEY = re.compile(r"([0-9]+(?:\.[0-9]{1,2})?)(元|块)钱?(?:([0-9])(?:角|毛)?)?(?:([0-9])分)?|([0-9])(?:角|毛)钱?")
_RELATIVE_MONTH = (("上上个月", -2), ("上上月", -2), ("上个月", -1), ("上月", -1), ("这个月", 0), ("本月", 0), ("这月", 0), ("下个月", 1), ("下月", 1))
_EXPLICIT_MONTH = re.compile(r"(去年|今年|前年)?([0-9]{1,2})月(?!份?[0-9]+[日号])")
_YEAR_OFFSET = {"去年": -1, "前年": -2, "今年": 0}
_RELATIVE_DAY = (
    ("大后天", 3), ("后天", 2), ("后儿", 2), ("明天", 1), ("明儿", 1), ("今天", 0), ("今儿", 0), ("现在", 0),
    ("昨天", -1), ("昨儿", -1), ("大前天", -3), ("前天", -2),
)
# 周六 / 星期3 (normalize turns a final 三 into 3) / 下礼拜天 / 这周末; weeks run Monday to Sunday.
_WEEKDAY = re.compile(r"(下|这|本|上)?个?(?:周|星期|礼拜)(末|[一二三四五六日天1-7])")
_WEEKDAY_INDEX = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6, "末": 5}
_WEEK_OFFSET = {"下": 7, "这": 0, "本": 0, "上": -7}

MAX_KWH = Decimal(1_000_000)


@dataclass(frozen=True, slots=True)
class Slots:
    account: str | None = None  # 10-digit 户号
    phone: str | None = None  # mobile number
    kwh: Decimal | None = None
    month: str | None = None  # YYYY-MM
    day: str | None = None  # YYYY-MM-DD
    amount_fen: int | None = None  # money mentioned, in fen
    quantity: Decimal | None = None  # a number said with no unit (四百的话呢): the dialogue decides its meaning
    time_of_day: int | None = None  # a clock time said (下午3点半), in minutes after midnight

    def as_json(self) -> dict[str, object]:
        """Only the slots that were found; Decimal as a string so nothing is rounded."""
        return {k: (str(v) if isinstance(v, Decimal) else v) for k, v in asdict(self).items() if v is not None}


def _shift_month(year: int, month: int, offset: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + offset
    return index // 12, index % 12 + 1


def shift_month(month: str, offset: int) -> str:
    """'2026-10' moved by ``offset`` months."""
    year, number = _shift_month(int(month[:4]), int(month[5:7]), offset)
    return f"{year:04d}-{number:02d}"


def _month(text: str, today: date) -> str | None:
    for word, offset in _RELATIVE_MONTH:
        if word in text:
            year, month = _shift_month(today.year, today.month, offset)
            return f"{year:04d}-{month:02d}"
    match = _EXPLICIT_MONTH.search(text)
    if not match or not 1 <= int(match.group(2)) <= 12:
        return None
    month = int(match.group(2))
    if match.group(1):
        year = today.year + _YEAR_OFFSET[match.group(1)]
    else:
        # Bills exist only for the past: 十二月 said in November means last December.
        year = today.year if month <= today.month else today.year - 1
    return f"{year:04d}-{month:02d}"


def _day(text: str, today: date) -> str | None:
    for word, offset in _RELATIVE_DAY:
        if word in text:
            return (today + timedelta(days=offset)).isoformat()
    match = _WEEKDAY.search(text)
    if not match:
        return None
    week, name = match.groups()
    target = _WEEKDAY_INDEX[name] if not name.isdigit() else int(name) - 1
    if week is None:  # 周六 alone: the next one, today included
        return (today + timedelta(days=(target - today.weekday()) % 7)).isoformat()
    if name == "末" and week in ("这", "本") and today.weekday() >= 5:
        return today.isoformat()  # 这周末 said on the weekend is today
    monday = today - timedelta(days=today.weekday())
    return (monday + timedelta(days=_WEEK_OFFSET[week] + target)).isoformat()


def _amount_fen(text: str) -> int | None:
    match = _MONEY.search(text)
    if not match:
        return None
    if match.group(5):  # 五毛
        return int(match.group(5)) * 10
    fen = int(Decimal(match.group(1)) * 100)
    if match.group(3):
        fen += int(match.group(3)) * 10
    if match.group(4):
        fen += int(match.group(4))
    return fen


def _kwh(text: str) -> Decimal | None:
    match = _KWH.search(text)
    if not match:
        return None
    value = Decimal(match.group(1))
    return value if value <= MAX_KWH else None


def _quantity(text: str) -> Decimal | None:
    """The first number said without a unit: 四百的话呢 → 400, 三百五 → 350."""
    for match in _NUMBER.finditer(text):
        after_unit = match.start() > 0 and text[match.start() - 1] in _NOT_A_QUANTITY_BEFORE
        if after_unit or _UNITS_AFTER.match(text, match.end()):
            continue
        value = Decimal(match.group())
        if value < MAX_QUANTITY:
            return value
    return None


# 早上8点, 下午3点半, 晚上7点20分, 9点 (normalised: the numerals are digits already).
_TIME_OF_DAY = re.compile(r"(凌晨|早上|早晨|上午|中午|下午|傍晚|晚上)?(\d{1,2})点(?:(半)|(\d{1,2})分?)?")
_AFTER_NOON = ("下午", "傍晚", "晚上")


def _time_of_day(text: str) -> int | None:
    found = _TIME_OF_DAY.search(text)
    if found is None:
        return None
    period, hour, half, minute = found.group(1), int(found.group(2)), found.group(3), found.group(4)
    if (period in _AFTER_NOON and hour < 12) or (period == "中午" and hour < 6):
        hour += 12
    minutes = 30 if half else int(minute or 0)
    return hour * 60 + minutes if hour <= 23 and minutes <= 59 else None


def extract_slots(normalized: str, today: date) -> Slots:
    """Every slot value found in a normalised utterance; ``today`` is the service's date, not the machine's."""
    account = _ACCOUNT.search(normalized)
    phone = _MOBILE.search(normalized)
    return Slots(
        account=account.group() if account else None,
        phone=phone.group() if phone else None,
        kwh=_kwh(normalized),
        month=_month(normalized, today),
        day=_day(normalized, today),
        amount_fen=_amount_fen(normalized),
        quantity=_quantity(normalized),
        time_of_day=_time_of_day(normalized),
    )
