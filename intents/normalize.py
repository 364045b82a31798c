"""Text normalisation shared by matching and slot extraction.

Speech recognisers emit spaces between words (我 要 交 电费), traditional
characters, full-width digits and Chinese numerals; elderly callers add
fillers (嗯、那个、就是). Everything below maps those variants to one form so
the matcher compares like with like.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import opencc

from intents.numerals import ACCOUNT_DIGITS, DIGITS, MOBILE, chinese_numerals_to_digits

# Inputs longer than this are cut before any work: no sensible spoken
# question is longer, and the cut bounds the cost of hostile input.
MAX_INPUT_CHARS = 200

# Fillers carry no meaning for the intent. Two-character ones first so that
# 那个 is removed whole. 这个 is not a filler here: 这个月 matters.
# Not 额 (余额, 金额) nor 哈 (哈尔滨).
FILLERS = ("那个", "就是说", "就是", "然后呢", "嗯", "啊", "哎", "唉", "呃", "哦", "噢", "喔", "呀")
_FILLER_PATTERN = re.compile("|".join(map(re.escape, FILLERS)))

# Northern and regional everyday words, said to 小电 as often as the standard ones (俺们这明儿停电不,
# 电费咋算的): each read as its standard form, so one set of examples serves both. Longest first.
_DIALECT = {"俺们": "我们", "俺": "我", "咋样": "怎么样", "咋": "怎么", "啥子": "什么", "啥": "什么",
            "明儿个": "明天", "明儿": "明天", "今儿个": "今天", "今儿": "今天", "昨儿个": "昨天", "昨儿": "昨天",
            "后儿个": "后天", "晓得": "知道", "中不中": "行不行", "甭": "不用", "木有": "没有"}
_DIALECT_PATTERN = re.compile("|".join(sorted(map(re.escape, _DIALECT), key=len, reverse=True)))

# Keep CJK ideographs, ASCII letters and digits and the decimal point; drop the rest
# (punctuation, emoji, symbols, control characters, whitespace).
_DROP_PATTERN = re.compile(r"[^0-9a-z\.\u3007\u3400-\u4dbf\u4e00-\u9fff]+")  # \u3007: 〇, the zero
_LONE_DOTS = re.compile(r"(?<![0-9])\.|\.(?![0-9])")
# A pause (space, comma, dash, filler) between two digits may end one number and start the
# next (户号3201000001，两百度), so it is kept as one space until the numbers are read.
_ARABIC = frozenset("0123456789")
_DIGIT_CHARS = _ARABIC | frozenset(DIGITS) - {"洞"}
# A recogniser may space 三 百 度 apart: a pause beside 十/百/千/万 splits numbers only after Arabic digits.
_NUMERAL_CHARS = _DIGIT_CHARS | frozenset("十百千万亿")
_GAPS = re.compile(" +")
# Long numbers are said in chunks (3201 000 001, 138-0013-8000); chunks that add up to a 户号
# (10 digits) or a mobile number (11 digits, 1[3-9]…) are one number again. Single digits
# spaced by a recogniser (3 2 0 1) are read as one number too.
_CHUNKED = re.compile(r"(?<![0-9.])[0-9]+(?: [0-9]+)+(?![0-9.])")

_t2s = opencc.OpenCC("t2s")


@lru_cache(maxsize=4096)
def normalize(text: str) -> str:
    """Return the canonical form of an utterance: simplified, digits, no fillers.

    >>> normalize("嗯，我 要 繳 二百五十 度的電費！")
    '我要缴250度的电费'
    """
    text = text[: MAX_INPUT_CHARS * 4]
    # NFKC turns full-width letters and digits into ASCII (１２３ → 123).
    text = unicodedata.normalize("NFKC", text).lower()
    text = _t2s.convert(text)
    text = _DIALECT_PATTERN.sub(lambda word: _DIALECT[word.group()], text)
    text = _DROP_PATTERN.sub(" ", text)
    # A filler alone is an answer (嗯 = yes, 啊 = what?), so keep it when nothing else is said.
    without_fillers = _FILLER_PATTERN.sub(" ", text)
    text = without_fillers if without_fillers.strip() else text
    text = _GAPS.sub(_gap_between_digits, text)
    text = chinese_numerals_to_digits(text)
    text = _CHUNKED.sub(_join_chunks, text)
    text = _LONE_DOTS.sub("", text)
    return text[:MAX_INPUT_CHARS]


def _gap_between_digits(gap: re.Match[str]) -> str:
    text, start, end = gap.string, gap.start(), gap.end()
    if start == 0 or end == len(text):
        return ""
    before, after = text[start - 1], text[end]
    between_digits = before in _DIGIT_CHARS and after in _DIGIT_CHARS
    after_arabic = (before in _ARABIC and after in _NUMERAL_CHARS) or (after in _ARABIC and before in _NUMERAL_CHARS)
    return " " if between_digits or after_arabic else ""


def _join_chunks(chunked: re.Match[str]) -> str:
    """'3201 000 001 200' → '3201000001 200': a 户号 or mobile said in chunks is one number."""
    chunks = chunked.group().split(" ")
    if all(len(chunk) == 1 for chunk in chunks):
        return "".join(chunks)
    numbers: list[str] = []
    start = 0
    while start < len(chunks):
        end = _end_of_long_number(chunks, start)
        numbers.append("".join(chunks[start:end]))
        start = end
    return " ".join(numbers)


def _end_of_long_number(chunks: list[str], start: int) -> int:
    """The end of the chunks from ``start`` that make a 户号 or mobile number, else ``start + 1``."""
    joined = ""
    for end in range(start, len(chunks)):
        if end > start and len(chunks[end]) >= ACCOUNT_DIGITS:
            break  # a whole 户号 said in one breath stands alone ("最后一个是1，3201000001")
        joined += chunks[end]
        if len(joined) == ACCOUNT_DIGITS or MOBILE.fullmatch(joined):
            return end + 1
        if len(joined) > ACCOUNT_DIGITS:
            break
    return start + 1
