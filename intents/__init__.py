"""Pure Chinese text understanding for 小电: normalisation, intent matching, slots.

Nothing here touches a database, a file or the network, so the same code
serves the kiosk, the phone line, the browser and the command line, and a
test can drive it in microseconds.
"""

from intents.matcher import Candidate, Decision, IntentMatcher, MatchResult
from intents.normalize import normalize
from intents.slots import Slots, extract_slots
from intents.spec import IntentSpec

__all__ = [
    "Candidate",
    "Decision",
    "IntentMatcher",
    "IntentSpec",
    "MatchResult",
    "Slots",
    "extract_slots",
    "normalize",
]
