"""How 小电 speaks to one customer: a plain value the policy changes and the speech engines read."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True, slots=True)
class VoiceSettings:
    """How to speak, per session. Elderly defaults: slower than normal, full volume."""

    rate: int = 130  # words per minute as espeak counts them (its default is 175)
    volume: float = 1.0  # 0..1
    sentence_pause_ms: int = 400

    def slower_and_louder(self) -> "VoiceSettings":
        """What "说慢点" / "大点声" asks for; never slower than is still natural."""
        return replace(self, rate=max(90, self.rate - 25), volume=1.0,
                       sentence_pause_ms=min(1000, self.sentence_pause_ms + 200))
