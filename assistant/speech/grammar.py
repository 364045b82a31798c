"""Vosk grammar from phrases: each phrase spelled in words the model knows, or left out.

Vosk lexicons hold words, not sentences (a Mandarin model knows 电费, not 我想交电费), so a
phrase is split at its spaces and each piece into the longest words the model knows. A phrase
the model cannot spell out could never be heard, so it is left out rather than sent to Kaldi
(which would warn about it on every utterance).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

_NOT_SPOKEN = re.compile(r"[^\w\s]")


def spelled_in_words(piece: str, knows_word: Callable[[str], bool]) -> list[str] | None:
    """Greedy longest match of ``piece`` against the lexicon; None when some part is unknown."""
    words: list[str] = []
    position = 0
    while position < len(piece):
        for size in range(len(piece) - position, 0, -1):
            candidate = piece[position:position + size]
            if knows_word(candidate):
                words.append(candidate)
                position += size
                break
        else:
            return None
    return words


def grammar_phrases(phrases: Iterable[str], knows_word: Callable[[str], bool]) -> list[str]:
    """The phrases the model can hear, as space-separated words, each once, in their first order."""
    kept: list[str] = []
    for phrase in dict.fromkeys(phrases):
        words: list[str] = []
        for piece in _NOT_SPOKEN.sub(" ", phrase).split():
            spelled = spelled_in_words(piece, knows_word)
            if spelled is None:
                words = []
                break
            words.extend(spelled)
        if words:
            kept.append(" ".join(words))
    return list(dict.fromkeys(kept))
