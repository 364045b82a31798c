"""Make speech-recogniser-like homophone errors (交电费 → 叫电费) for measuring.

Deterministic for a given seed. Replacement characters are drawn from the
3,755 common characters of GB2312 level 1 that share the toneless syllable,
which is what a recogniser's language model tends to choose from.
"""

from __future__ import annotations

import random
from functools import lru_cache

from pypinyin import Style, lazy_pinyin, pinyin_dict


def _is_common(character: str) -> bool:
    try:
        encoded = character.encode("gb2312")
    except UnicodeEncodeError:
        return False
    return len(encoded) == 2 and 0xB0 <= encoded[0] <= 0xD7


@lru_cache(maxsize=1)
def _characters_by_syllable() -> dict[str, tuple[str, ...]]:
    table: dict[str, list[str]] = {}
    for codepoint in pinyin_dict.pinyin_dict:
        character = chr(codepoint)
        if _is_common(character):
            syllable = lazy_pinyin(character, style=Style.NORMAL)[0]
            table.setdefault(syllable, []).append(character)
    return {syllable: tuple(sorted(chars)) for syllable, chars in table.items()}


def with_homophone_errors(text: str, rate: float, rng: random.Random) -> str:
    """Replace each Chinese character with probability ``rate`` by a homophone."""
    table = _characters_by_syllable()
    syllables = lazy_pinyin(text, style=Style.NORMAL, errors=lambda chunk: [None] * len(chunk))
    result = []
    for character, syllable in zip(text, syllables):
        choices = [c for c in table.get(syllable or "", ()) if c != character]
        result.append(rng.choice(choices) if choices and rng.random() < rate else character)
    return "".join(result)
