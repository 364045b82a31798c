"""Slot values in a normalised utterance: kWh, month, day, 户号, phone, money.

Runs on the output of ``normalize`` (digits already Arabic, fillers gone).
Relative words (上个月, 明天) are resolved against ``today`` so the caller,
not this module, decides what "now" is.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from decimal import Decimal

_ACCOUNT = re.compile(r"(?<![0-9])[0-9]{10}(?![0-9])")
_MOBILE = re.compile(r"(?<![0-9])1[3-9][0-9]{9}(?![0-9])")
_KWH = re.compile(r"([0-9]+(?:\.[0-9]+)?)(?:度|千瓦时|kwh|个字|个电|字)")
_MONEY = re.compile(r"([0-9]+(?:\.[0-9]{1,2})?)(元|块)钱?(?:([0-9])(?:角|毛)?)?(?:([0-9])分)?|([0-9])(?:角|毛)钱?")
_RELATIVE_MONTH = (("上上个月", -2), ("上上月", -2), ("上个月", -1), ("上月", -1), ("这个月", 0), ("本月", 0), ("这月", 0), ("下个月", 1), ("下月", 1))
_EXPLICIT_MONTH = re.compile(r"(去年|今年|前年)?([0-9]{1,2})月(?!份?[0-9]+[日号])")
_YEAR_OFFSET = {"去年": -1, "前年": -2, "今年": 0}
_RELATIVE_DAY = (("大后天", 3), ("后天", 2), ("明天", 1), ("明儿", 1), ("今天", 0), ("今儿", 0), ("现在", 0), ("昨天", -1))

MAX_KWH = Decimal(1_000_000)


@dataclass(frozen=True, slots=True)
class Slots:
    account: str | None = None  # 10-digit 户号
    phone: str | None = None  # mobile number
    kwh: Decimal | None = None
    month: str | None = None  # YYYY-MM
    day: str | None = None  # YYYY-MM-DD
    amount_fen: int | None = None  # money mentioned, in fen

    def as_json(self) -> dict[str, object]:
        """Only the slots that were found; Decimal as a string so nothing is rounded."""
        return {k: (str(v) if isinstance(v, Decimal) else v) for k, v in asdict(self).items() if v is not None}


def _shift_month(year: int, month: int, offset: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + offset
    return index // 12, index % 12 + 1


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
    return None


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


def extract_slots(normalized: str, today: date | None = None) -> Slots:
    """Every slot value found in a normalised utterance."""
    today = today or date.today()
    account = _ACCOUNT.search(normalized)
    phone = _MOBILE.search(normalized)
    return Slots(
        account=account.group() if account else None,
        phone=phone.group() if phone else None,
        kwh=_kwh(normalized),
        month=_month(normalized, today),
        day=_day(normalized, today),
        amount_fen=_amount_fen(normalized),
    )
