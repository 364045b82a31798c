"""The utility's equivalent words (``data/synonyms.yaml``): read once, then a text's words are read as one.

过户, 改户名 and 换户主 ask one thing; a comparison of characters cannot know it. Each word of a
line is replaced by the line's first word, longest words first (电表坏了 before 电表), so two
wordings of one need come to share characters and sounds. The words of the file's ``needs`` lines
name what a customer wants done (过户, 销户): ``needs_in`` tells which a text names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from intents import normalize

SYNONYMS_FILE = Path(__file__).parent / "data" / "synonyms.yaml"


@dataclass(frozen=True)
class Lexicon:
    canonical: dict[str, str]  # word → the word it is read as (its line's first)
    needs: frozenset[str]  # the first words of the lines that name a need
    pattern: re.Pattern[str] | None  # every word, longest first

    def canonicalise(self, text: str) -> str:
        """``text`` with every known word replaced by the word it is read as."""
        if self.pattern is None:
            return text
        return self.pattern.sub(lambda found: self.canonical[found.group(0)], text)

    def needs_in(self, text: str) -> list[str]:
        """The needs ``text`` names, each by its line's first word, in order."""
        if self.pattern is None:
            return []
        named = (self.canonical[found.group(0)] for found in self.pattern.finditer(text))
        return [word for word in named if word in self.needs]


def lexicon_of(needs: list[list[str]], subjects: list[list[str]] | None = None) -> Lexicon:
    """A lexicon from lines of equivalent words; a word on two lines keeps its first line."""
    canonical: dict[str, str] = {}
    heads: set[str] = set()
    for kind, lines in (("need", needs), ("subject", subjects or [])):
        for line in lines:
            words = [w for w in (normalize(str(word)) for word in line) if w]
            if not words:
                continue
            if kind == "need":
                heads.add(words[0])
            for word in words:
                canonical.setdefault(word, words[0])
    if not canonical:
        return Lexicon({}, frozenset(), None)
    ordered = sorted(canonical, key=lambda word: (-len(word), word))
    return Lexicon(canonical, frozenset(heads), re.compile("|".join(map(re.escape, ordered))))


@lru_cache(maxsize=4)
def load_lexicon(path: Path = SYNONYMS_FILE) -> Lexicon:
    """The shipped lexicon, read once per process."""
    with path.open(encoding="utf-8") as handle:
        data = yaml.safe_load(handle) or {}
    return lexicon_of(data.get("needs") or [], data.get("subjects") or [])
