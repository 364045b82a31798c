"""Measure a matcher on labelled utterances (used by tests and benchmarks)."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from intents.ids import OUT_OF_SCOPE


@dataclass(frozen=True, slots=True)
class LabelledUtterance:
    text: str
    intent: str


@dataclass
class Accuracy:
    total: int = 0
    correct: int = 0
    errors: list[tuple[str, str, str]] = field(default_factory=list)  # text, expected, got

    @property
    def rate(self) -> float:
        return self.correct / self.total if self.total else 0.0


def read_labelled_tsv(path: Path) -> list[LabelledUtterance]:
    """Rows of ``text<TAB>intent`` with a header line."""
    with path.open(encoding="utf-8", newline="") as handle:
        rows = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        return [LabelledUtterance(row["text"], row["intent"]) for row in rows if row.get("text")]


def measure(predict: Callable[[str], str], utterances: Iterable[LabelledUtterance]) -> Accuracy:
    """Top-1 accuracy; an out-of-scope line is right only when predicted ``none``."""
    result = Accuracy()
    for utterance in utterances:
        got = predict(utterance.text) or OUT_OF_SCOPE
        result.total += 1
        if got == utterance.intent:
            result.correct += 1
        else:
            result.errors.append((utterance.text, utterance.intent, got))
    return result
