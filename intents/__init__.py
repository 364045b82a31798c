"""Pure Chinese text understanding for 小电: normalisation, intent matching, slots.

Nothing here touches a database, a file or the network, so the same code
serves the kiosk, the phone line, the browser and the command line, and a
test can drive it in microseconds.

The names below are loaded on first use: a command that needs only ``intents.ids`` (seeding the
database) does not pay for the matcher's pinyin tables (about half a second).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

# Bound here, not lazily: each shares its name with a submodule, which importing would bind instead.
from intents.normalize import normalize
from intents.slots import Slots, extract_slots
from intents.spec import IntentSpec

if TYPE_CHECKING:
    from intents.matcher import Candidate, Decision, IntentMatcher, MatchResult

_HOMES = {name: "intents.matcher" for name in ("Candidate", "Decision", "IntentMatcher", "MatchResult")}

__all__ = sorted([*_HOMES, "IntentSpec", "Slots", "extract_slots", "normalize"])


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'intents' has no attribute {name!r}")
    value = getattr(import_module(_HOMES[name]), name)
    globals()[name] = value
    return value
