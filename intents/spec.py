"""What the matcher needs to know about an intent: its id, examples and keywords."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class IntentSpec:
    """One intent as the matcher sees it.

    ``examples`` are whole utterances that mean this intent; ``keywords`` are
    short phrases that strongly signal it wherever they occur in an utterance.
    An intent with id ``none`` holds out-of-scope examples: matching it means
    "not something 小电 does".
    """

    id: str
    examples: tuple[str, ...]
    keywords: tuple[str, ...] = ()
