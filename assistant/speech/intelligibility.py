"""How well a voice is understood: the round trip text → voice → Whisper → text, scored by
character error rate on a form both sides share (simplified characters, figures as digits, no
punctuation), so "一百二十八元" said and "128元" heard count as the same."""

from __future__ import annotations

import re
import unicodedata

import opencc
from rapidfuzz.distance import Levenshtein

from intents.numerals import chinese_numerals_to_digits

_t2s = opencc.OpenCC("t2s")
_NOT_COMPARED = re.compile(r"[^0-9a-z\u3400-\u4dbf\u4e00-\u9fff]+")


def comparable(text: str) -> str:
    text = _t2s.convert(unicodedata.normalize("NFKC", text).lower())
    return chinese_numerals_to_digits(_NOT_COMPARED.sub("", text))


def character_error_rate(said: str, heard: str) -> float:
    """Edits needed to turn what was said into what was heard, per character said."""
    reference, hypothesis = comparable(said), comparable(heard)
    if not reference:
        return 0.0 if not hypothesis else 1.0
    return Levenshtein.distance(reference, hypothesis) / len(reference)
