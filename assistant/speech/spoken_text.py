"""Display text → what a person would say aloud, for the voice. Pure, no I/O.

The screen shows "128.50元", "0514-86000001" and "8:30"; a voice that reads
the characters one by one says nonsense to an elderly listener. Here every
figure is rewritten the way a counter clerk would say it:

- money: 128.50元 → 一百二十八元五角, 0.05元 → 五分; prices with more than two
  decimals (0.5283元) are read as a decimal: 零点五二八三元;
- identifiers (户号, mobiles, landlines, 95598, 119, 120): digit by digit,
  1 said as 幺 (so it is not heard as 七), in short groups separated by a
  pause: 3201000001 → 三二零幺，零零零，零零幺;
- years digit by digit (2026年 → 二零二六年), other figures as values with
  cn2an (230度 → 二百三十度: hundreds always 二百, never 两百);
- clock times (8:30, 8点30分 → 八点三十分; 2点 → 两点), ranges (231–400 →
  二百三十一到四百), percentages (15% → 百分之十五), 2 before a measure word
  (2个 → 两个);
- URLs become the word 链接; units the screen abbreviates (kWh, V, A) are
  said in Chinese.
"""

from __future__ import annotations

import re

import cn2an

DIGIT_NAMES = "零一二三四五六七八九"
# Phone numbers and account numbers: 1 is 幺, as every call centre says it.
PHONE_DIGIT_NAMES = "零幺二三四五六七八九"
# Numbers people dial, read digit by digit even though they are short.
SERVICE_NUMBERS = frozenset({"110", "112", "114", "119", "120", "122", "12315", "12345", "12398", "95598"})
# Words after a figure that make it a quantity, not a number to dial.
_QUANTITY_AFTER = "元块角分度个次天年月日号位项种份张件小周户台遍条步倍层楼座间辆名秒点%千万亿"
# Measure words after which the value 2 is said 两 (两个, 两天), unlike 二月, 二号.
_LIANG_BEFORE = ("小时", "分钟", "星期", "个", "次", "天", "年", "位", "项", "种", "份", "张", "件",
                 "块", "元", "角", "周", "户", "台", "遍", "条", "步", "倍", "座", "辆", "名", "度")
_MAX_VALUE_DIGITS = 16  # cn2an reads at most 16 integer digits; longer runs are identifiers anyway

_NUMBER = r"\d+(?:,\d{3})*(?:\.\d+)?"
_WIDE_SYMBOLS = str.maketrans("％：．", "%:.")

_URL = re.compile(r"(?:https?://|www\.)[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+", re.IGNORECASE)
_UNITS = [  # (pattern, Chinese), only right after a figure, longest first
    (re.compile(r"(?<=\d)\s*(?:kWh|kwh|KWh|KWH|千瓦·时)"), "千瓦时"),
    (re.compile(r"(?<=\d)\s*(?:kV|KV|kv)\b"), "千伏"),
    (re.compile(r"(?<=\d)\s*(?:kW|KW|kw)\b"), "千瓦"),
    (re.compile(r"(?<=\d)\s*Hz\b"), "赫兹"),
    (re.compile(r"(?<=\d)\s*V\b"), "伏"),
    (re.compile(r"(?<=\d)\s*A\b"), "安"),
    (re.compile(r"(?<=\d)\s*W\b"), "瓦"),
]
_STANDALONE_KWH = re.compile(r"kWh|kwh|KWh|KWH", re.ASCII)
_PER_UNIT = re.compile(r"\s*/\s*(?=千瓦时|度|月|年|天|次|小时|户|人)")
_DATE = re.compile(r"(?<!\d)(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*([日号])?(?!\d)")
_DASHED_PHONE = re.compile(r"(?<![\d-])(0\d{2,3}-\d{7,8}|1\d{2}-\d{4}-\d{4}|400-\d{3}-\d{4})(?![\d-])")
_SPACED_DIGITS = re.compile(r"(?<![\d.])\d{3,4}(?: \d{3,4}){1,3}(?![\d.])")
_RANGE_DASH = re.compile(r"(?<=\d)\s*[-–—~～]\s*(?=\d)")
_CLOCK_COLON = re.compile(r"(?<![\d.])([01]?\d|2[0-4])[:：]([0-5]\d)(?!\d)")
_MONEY_PREFIX = re.compile(rf"[¥￥]\s*({_NUMBER})\s*(?:元)?")
_MONEY = re.compile(rf"(?<![\d.])({_NUMBER})\s*元")
_PERCENT = re.compile(rf"(?<![\d.])({_NUMBER})\s*%")
_YEAR = re.compile(r"(?<![\d.])(\d{4})\s*年(?!代)")
_CLOCK = re.compile(r"(?<![\d.])([01]?\d|2[0-4])点(?:(半)|([0-5]?\d)分(?!钟))?")
# A comma or point counts as part of a number only with a digit on its other side.
_IDENTIFIER = re.compile(r"(?<!\d)(?<!\d[.,])\d{2,}(?!\d|[.,]\d)")
_VALUE = re.compile(rf"(?<![\d.])({_NUMBER})(?!\d)")
_DIGIT = re.compile(r"[0-9]")
_ARITHMETIC = [
    (re.compile(r"(?<=\d)\s*[x×*]\s*(?=\d)"), "乘"),
    (re.compile(r"(?<=\d)\s*\+\s*(?=\d)"), "加"),
    (re.compile(r"\s*[=＝]\s*"), "等于"),
]
_SYMBOLS = [
    (re.compile(r"\s*(?:→|->|=>)\s*"), "，"),
    (re.compile(r"\s*&\s*"), "和"),
    (re.compile(r"[#＃]号?"), "井号"),  # phone keys: 按#号键 → 按井号键
    (re.compile(r"[*＊]号?"), "星号"),
    (re.compile(r"\s+"), " "),
]


def read_value(number: str) -> str:
    """A quantity as a value: '230' → 二百三十, '12.5' → 十二点五, '0.5283' → 零点五二八三."""
    plain = number.replace(",", "")
    whole = plain.partition(".")[0]
    if len(whole) > _MAX_VALUE_DIGITS or (len(whole) > 1 and whole[0] == "0"):  # 007号: a code, not a value
        return read_digits(plain.replace(".", "点"), phone=False)
    return cn2an.an2cn(plain)


def read_digits(digits: str, phone: bool = True) -> str:
    """Digit by digit: '95598' → 九五五九八; phone digits say 1 as 幺."""
    names = PHONE_DIGIT_NAMES if phone else DIGIT_NAMES
    return "".join(names[int(c)] if c.isdigit() else c for c in digits)


def group_identifier(digits: str) -> list[str]:
    """Split a number to dial into the groups people pause between.

    Mobiles 3-4-4, 10-digit 户号 4-3-3, landlines area code then the rest,
    anything else in even groups of 3–4 digits (up to 5 digits stay whole).
    """
    n = len(digits)
    if n == 11 and digits[0] == "1":
        return [digits[:3], digits[3:7], digits[7:]]
    if n == 10 and digits[0] != "0":
        return [digits[:4], digits[4:7], digits[7:]]
    if digits[0] == "0" and n in (11, 12):
        area = 3 if digits[1] in "12" else 4
        return [digits[:area], *group_identifier(digits[area:])]
    if n <= 5:
        return [digits]
    count = -(-n // 4)
    sizes = [n // count + (1 if i < n % count else 0) for i in range(count)]
    groups, start = [], 0
    for size in sizes:
        groups.append(digits[start:start + size])
        start += size
    return groups


def read_identifier(digits: str) -> str:
    return "，".join(read_digits(group) for group in group_identifier(digits))


def read_money(amount: str) -> str:
    """'128.50' → 一百二十八元五角; more than two decimals is a price: 零点五二八三元."""
    plain = amount.replace(",", "")
    whole, _, decimals = plain.partition(".")
    if len(decimals) > 2 or len(whole) > _MAX_VALUE_DIGITS:
        return read_value(plain) + "元"
    yuan = int(whole or "0")
    jiao, fen = (int(d) for d in decimals.ljust(2, "0"))
    parts: list[str] = []
    if yuan:
        parts.append(("两" if yuan == 2 else read_value(str(yuan))) + "元")
    if jiao:
        parts.append(("两" if jiao == 2 else DIGIT_NAMES[jiao]) + "角")
    elif yuan and fen:
        parts.append("零")
    if fen:
        parts.append(("两" if not parts and fen == 2 else DIGIT_NAMES[fen]) + "分")  # 两分, but 一元零二分
    return "".join(parts) or "零元"


def read_clock(hour: str, minute: str | None = None, half: bool = False) -> str:
    """'8','30' → 八点三十分; '2' → 两点; '8','05' → 八点零五分; '16','00' → 十六点."""
    spoken = ("两" if int(hour) == 2 else read_value(str(int(hour)))) + "点"
    if half:
        return spoken + "半"
    if minute and int(minute):
        spoken += ("零" if len(minute) == 2 and minute[0] == "0" else "") + read_value(str(int(minute))) + "分"
    return spoken


def _read_identifier_or_value(match: re.Match[str]) -> str:
    """A bare digit run: dial it (long, leading zero, service number) unless a unit follows."""
    digits = match.group(0)
    following = match.string[match.end():match.end() + 1]
    if following and following in _QUANTITY_AFTER:
        return digits
    if len(digits) >= 5 or digits[0] == "0" or digits in SERVICE_NUMBERS:
        return read_identifier(digits)
    return digits


def _read_value_in_context(match: re.Match[str]) -> str:
    number = match.group(1)
    rest = match.string[match.end():]
    before = match.string[max(0, match.start() - 1):match.start()]
    if number == "2" and before != "第" and rest.lstrip().startswith(_LIANG_BEFORE):
        return "两"
    return read_value(number)


def _ascii_digits(text: str) -> str:
    """Full-width (１２８) and other scripts' digits as 0-9, so every rule (and cn2an) sees one kind."""
    return "".join(str(int(c)) if c.isdecimal() and not c.isascii() else c for c in text)


def _read_spaced_digits(match: re.Match[str]) -> str:
    """'3201 000 001' as the screen groups it; short runs like '100 200' are values."""
    groups = match.group(0).split()
    if sum(len(g) for g in groups) < 7:
        return match.group(0)
    return "，".join(read_identifier(g) for g in groups)


def to_spoken(text: str) -> str:
    """Rewrite display text into the words a person would say (see the module doc)."""
    text = _ascii_digits(text).translate(_WIDE_SYMBOLS)
    text = _URL.sub("链接", text)
    for pattern, unit in _UNITS:
        text = pattern.sub(unit, text)
    text = _STANDALONE_KWH.sub("千瓦时", text)
    text = _PER_UNIT.sub("每", text)
    text = _DATE.sub(lambda m: f"{read_digits(m[1], phone=False)}年{read_value(str(int(m[2])))}月"
                               f"{read_value(str(int(m[3])))}{m[4] or '日'}", text)
    text = _DASHED_PHONE.sub(lambda m: "，".join(read_identifier(g) for g in m[1].split("-")), text)
    text = _SPACED_DIGITS.sub(_read_spaced_digits, text)
    text = _RANGE_DASH.sub("到", text)
    text = _CLOCK_COLON.sub(lambda m: read_clock(m[1], m[2]), text)
    text = _MONEY_PREFIX.sub(lambda m: read_money(m[1]), text)
    text = _MONEY.sub(lambda m: read_money(m[1]), text)
    text = _PERCENT.sub(lambda m: "百分之" + read_value(m[1]), text)
    text = _YEAR.sub(lambda m: read_digits(m[1], phone=False) + "年", text)
    text = _CLOCK.sub(lambda m: read_clock(m[1], m[3], half=bool(m[2])), text)
    text = _IDENTIFIER.sub(_read_identifier_or_value, text)
    for pattern, word in _ARITHMETIC:
        text = pattern.sub(word, text)
    text = _VALUE.sub(_read_value_in_context, text)
    text = _DIGIT.sub(lambda m: DIGIT_NAMES[int(m[0])], text)  # stray digits (".5") one by one
    for pattern, replacement in _SYMBOLS:
        text = pattern.sub(replacement, text)
    return text.strip()
