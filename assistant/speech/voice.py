"""The voice interface: text in, speech out. Engines plug in behind ``Voice``."""

from __future__ import annotations

from typing import Protocol

from assistant.speech.audio import Audio
from assistant.voice_settings import VoiceSettings


class Voice(Protocol):
    name: str

    def synthesize(self, text: str, settings: VoiceSettings) -> Audio:
        """Speak ``text`` (Chinese as written) at the voice's native rate."""
