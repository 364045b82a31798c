"""What the recogniser listens for: the knowledge base's phrases, kept current on every worker.

With ``XIAODIAN_VOSK_GRAMMAR`` Vosk hears only the phrases customers say to 小电 (every intent's
examples and keywords). An admin's new example, saved through any worker, moves the knowledge
base's version; the next utterance on every worker is decoded with a grammar that holds it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from assistant.knowledge import Knowledge
from assistant.speech.recognizer import never
from knowledge_base.settings import Settings

if TYPE_CHECKING:
    from assistant.speech.audio import Audio
    from assistant.speech.recognizer import Recognizer, RecognizerStream, Transcript


def speech_vocabulary(knowledge: Knowledge) -> list[str]:
    """Every intent's examples and keywords."""
    return [phrase for spec in knowledge.snapshot.specs for phrase in (*spec.examples, *spec.keywords)]


WHISPER_HOTWORDS = 8  # a handful: a long list in Whisper's prompt made it loop (停电价 停电价 …)


def whisper_hotwords(knowledge: Knowledge) -> str:
    """Words Whisper is told to expect: the first keyword of the service intents customers ask most
    about (most examples first), e.g. 交电费 余额 停电了. Measured in bench/speech.py."""
    from intents.ids import ESSENTIAL

    service = [spec for spec in knowledge.snapshot.specs if spec.id not in ESSENTIAL and spec.keywords]
    service.sort(key=lambda spec: (-len(spec.examples), spec.id))
    return " ".join(spec.keywords[0] for spec in service[:WHISPER_HOTWORDS])


class GrammarFollowsKnowledge:
    """A recogniser held to the knowledge base's phrases, rebuilt when the knowledge base's version moves.

    The version is read before every utterance (one primary-key read, nothing beside a decode);
    rebuilding reuses the loaded model and only spells the phrases again."""

    def __init__(self, knowledge: Knowledge, held_to: Callable[[Iterable[str]], Recognizer]) -> None:
        self._knowledge = knowledge
        self._held_to = held_to
        self._lock = threading.Lock()
        self._version = knowledge.sync()
        self._current = held_to(speech_vocabulary(knowledge))
        self.name, self.sample_rate, self.partials = self._current.name, self._current.sample_rate, self._current.partials

    def current(self) -> Recognizer:
        version = self._knowledge.sync()
        with self._lock:
            if version != self._version:
                self._current, self._version = self._held_to(speech_vocabulary(self._knowledge)), version
            return self._current

    @property
    def grammar(self) -> tuple[str, ...] | None:
        """The phrases the next utterance is held to."""
        return self.current().grammar  # type: ignore[attr-defined,no-any-return]

    def transcribe(self, audio: Audio, stop: Callable[[], bool] = never) -> Transcript:
        return self.current().transcribe(audio, stop)

    def stream(self) -> RecognizerStream:
        return self.current().stream()


def recognizer_for(settings: Settings, knowledge: Knowledge, engine: str | None = None) -> Recognizer:
    """The process's recogniser; in Vosk grammar mode, one that follows the knowledge base."""
    from assistant.speech.engines import chosen_engine, load_recognizer

    if chosen_engine(settings, engine) == "vosk" and settings.vosk_grammar:
        return GrammarFollowsKnowledge(
            knowledge, lambda phrases: load_recognizer(settings, engine, grammar_phrases=phrases))
    return load_recognizer(settings, engine)
