"""Sound keys: text → a string with one symbol per toneless, accent-folded syllable.

Speech recognisers confuse homophones (叫电费 for 交电费, 停店 for 停电,
工电局 for 供电局) and many elderly callers merge zh/z, ch/c, sh/s, n/l and
-ng/-n. Mapping each folded syllable to a single private-use character lets
the fuzzy scorer compare sounds syllable by syllable at C speed.
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache

from pypinyin import Style, lazy_pinyin

_INITIAL_FOLDS = (("zh", "z"), ("ch", "c"), ("sh", "s"), ("n", "l"))
_FINAL_FOLDS = (("ang", "an"), ("eng", "en"), ("ing", "in"))

_symbol_of: dict[str, str] = {}
_symbol_lock = threading.Lock()
_FIRST_SYMBOL = 0xE000  # Unicode private-use area: never present in real text
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
_RUNS = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]+|.", re.DOTALL)


def fold(syllable: str) -> str:
    """Merge the sounds that regional accents and recognisers mix up."""
    for long_form, short_form in _INITIAL_FOLDS:
        if syllable.startswith(long_form):
            syllable = short_form + syllable[len(long_form):]
            break
    for long_form, short_form in _FINAL_FOLDS:
        if syllable.endswith(long_form):
            syllable = syllable[: -len(long_form)] + short_form
            break
    return syllable


def syllables(text: str) -> list[str]:
    """Toneless pinyin, phrase-aware for polyphones (还钱 huan, 还有 hai).

    Characters that are not Chinese (digits, letters) come back one by one,
    marked with a leading ``#`` so that the letter a never equals the sound a (啊).
    """
    result: list[str] = []
    for run in _RUNS.findall(text):
        if _HAN.match(run):
            result.extend(lazy_pinyin(run, style=Style.NORMAL))
        else:
            result.append("#" + run)
    return result


def _symbol(token: str) -> str:
    symbol = _symbol_of.get(token)
    if symbol is None:
        with _symbol_lock:
            symbol = _symbol_of.setdefault(token, chr(_FIRST_SYMBOL + len(_symbol_of)))
    return symbol


@lru_cache(maxsize=8192)
def sound_key(text: str) -> str:
    """One symbol per folded syllable: equal keys mean the texts sound alike."""
    return "".join(_symbol(token if token.startswith("#") else fold(token)) for token in syllables(text))


_INITIALS = ("zh", "ch", "sh", "b", "p", "m", "f", "d", "t", "n", "l", "g", "k", "h", "j", "q", "x", "r", "z", "c",
             "s", "y", "w")


def _split_syllable(syllable: str) -> tuple[str, str]:
    for initial in _INITIALS:
        if syllable.startswith(initial) and len(syllable) > len(initial):
            return initial, syllable[len(initial):]
    return "", syllable


@lru_cache(maxsize=8192)
def phone_key(text: str) -> str:
    """Like ``sound_key`` but one symbol per initial and per final.

    A recogniser that gets half a syllable wrong (是的 → 试灯: shi de → shi
    deng) still shares most of these symbols with what was said.
    """
    symbols: list[str] = []
    for token in syllables(text):
        if token.startswith("#"):
            symbols.append(_symbol(token))
            continue
        initial, final = _split_syllable(fold(token))
        if initial:
            symbols.append(_symbol("<" + initial))
        symbols.append(_symbol(">" + final))
    return "".join(symbols)
