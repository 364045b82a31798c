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

from intents.numerals import chinese_numerals_to_digits

# Inputs longer than this are cut before any work: no sensible spoken
# question is longer, and the cut bounds the cost of hostile input.
MAX_INPUT_CHARS = 200

# Fillers carry no meaning for the intent. Two-character ones first so that
# 那个 is removed whole. 这个 is not a filler here: 这个月 matters.
# Not 额 (余额, 金额) nor 哈 (哈尔滨).
FILLERS = ("那个", "就是说", "就是", "然后呢", "嗯", "啊", "哎", "唉", "呃", "哦", "噢", "喔", "呀")
_FILLER_PATTERN = re.compile("|".join(map(re.escape, FILLERS)))

# Keep CJK ideographs, ASCII letters and digits and the decimal point; drop the rest
# (punctuation, emoji, symbols, control characters, whitespace).
_DROP_PATTERN = re.compile(r"[^0-9a-z\.\u3400-\u4dbf\u4e00-\u9fff]+")
_LONE_DOTS = re.compile(r"(?<![0-9])\.|\.(?![0-9])")

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
    text = _DROP_PATTERN.sub("", text)
    # A filler alone is an answer (嗯 = yes, 啊 = what?), so keep it when nothing else is said.
    text = _FILLER_PATTERN.sub("", text) or text
    text = chinese_numerals_to_digits(text)
    text = _LONE_DOTS.sub("", text)
    return text[:MAX_INPUT_CHARS]
