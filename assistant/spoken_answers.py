"""Speech ids: a spoken answer addressed by its content, so any worker can make its audio.

The id is a hash of the text, the voice settings and the sample rate; the database keeps
what each id stands for (``SpokenText``), written before the reply naming it is sent. A
request for ``/api/speech/<id>.wav`` reaching any worker or machine finds the text there
and synthesises it (into that machine's own speech cache, which needs no sharing: the
same id always makes the same audio). Answers repeat a lot, so each worker remembers the
ids it has already stored or read and most turns touch the database not at all.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass

from sqlalchemy import insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from assistant.voice_settings import VoiceSettings
from knowledge_base.models import SpokenText

_TABLE = SpokenText.__table__  # type: ignore[attr-defined]
_REMEMBERED = 5000  # per worker; beyond it the oldest are read from the database again


@dataclass(frozen=True, slots=True)
class SpokenAnswer:
    spoken: str
    voice: VoiceSettings
    sample_rate: int


def speech_id(answer: SpokenAnswer) -> str:
    key = [answer.spoken, answer.voice.rate, answer.voice.volume, answer.sample_rate]
    return hashlib.sha256(json.dumps(key, ensure_ascii=False).encode()).hexdigest()[:32]


class SpeechRegistry:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._known: OrderedDict[str, SpokenAnswer] = OrderedDict()
        self._lock = threading.Lock()

    def register(self, answer: SpokenAnswer) -> str:
        """The answer's speech id, stored for every worker (blocking on a new text: call it off the event loop)."""
        key = speech_id(answer)
        if self._remembered(key) is None:
            try:
                with self.engine.begin() as connection:
                    connection.execute(insert(_TABLE), dict(
                        id=key, spoken=answer.spoken, voice_rate=answer.voice.rate,
                        voice_volume=answer.voice.volume, sample_rate=answer.sample_rate))
            except IntegrityError:  # stored already, by this worker earlier or by another
                pass
            self._remember(key, answer)
        return key

    def get(self, key: str) -> SpokenAnswer | None:
        answer = self._remembered(key)
        if answer is not None:
            return answer
        with self.engine.connect() as connection:
            row = connection.execute(select(_TABLE).where(_TABLE.c.id == key)).first()
        if row is None:
            return None
        answer = SpokenAnswer(row.spoken, VoiceSettings(rate=row.voice_rate, volume=row.voice_volume), row.sample_rate)
        self._remember(key, answer)
        return answer

    def _remembered(self, key: str) -> SpokenAnswer | None:
        with self._lock:
            return self._known.get(key)

    def _remember(self, key: str, answer: SpokenAnswer) -> None:
        with self._lock:
            self._known[key] = answer
            self._known.move_to_end(key)
            while len(self._known) > _REMEMBERED:
                self._known.popitem(last=False)
