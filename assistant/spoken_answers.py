"""Speech ids: a spoken answer addressed by its content, so any worker can make its audio.

The id is a hash of the text, the voice settings and the sample rate; the database keeps
what each id stands for (``SpokenText``), written before the reply naming it is sent. A
request for ``/api/speech/<id>.wav`` reaching any worker or machine finds the text there
and synthesises it (into that machine's own speech cache, which needs no sharing: the
same id always makes the same audio). Answers repeat a lot, so each worker remembers the
ids it has already stored or read and most turns touch the database not at all.

``SpeechWarmer`` keeps the speech cache holding every fixed answer of the knowledge base (each
intent's general answer), made in the background after start-up and again whenever the
knowledge version moves (an admin's edit through any worker), so a customer rarely waits for
the voice: a natural voice takes about a second per answer on this hardware.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from assistant.answers import CustomerFacts
from assistant.knowledge import Knowledge
from assistant.voice_settings import VoiceSettings
from intents import Slots
from knowledge_base.models import SpokenText, service_today

if TYPE_CHECKING:  # the voice is loaded where speech is made
    from assistant.speech.tts import Speaker

logger = logging.getLogger("xiaodian.voice")

_TABLE = SpokenText.__table__  # type: ignore[attr-defined]
_REMEMBERED = 5000  # per worker; beyond it the oldest are read from the database again


@dataclass(frozen=True, slots=True)
class SpokenAnswer:
    spoken: str
    voice: VoiceSettings
    sample_rate: int


def speech_id(answer: SpokenAnswer) -> str:
    key = [answer.spoken, answer.voice.rate, answer.voice.volume, answer.voice.sentence_pause_ms, answer.sample_rate]
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
                        voice_volume=answer.voice.volume, voice_pause_ms=answer.voice.sentence_pause_ms,
                        sample_rate=answer.sample_rate))
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
        voice = VoiceSettings(rate=row.voice_rate, volume=row.voice_volume, sentence_pause_ms=row.voice_pause_ms)
        answer = SpokenAnswer(row.spoken, voice, row.sample_rate)
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


# The kiosk and browser speak at 16 kHz, the phone line at 8 kHz (assistant.pipeline).
WARM_RATES = (16000, 8000)
_WARM_POLL_S = 5.0  # how soon an admin's edit is spoken from the cache


def fixed_answers(knowledge: Knowledge) -> list[str]:
    """The spoken text of every intent's general answer (no account named), in intent order."""
    today = service_today()
    texts: list[str] = []
    for intent in sorted(knowledge.snapshot.answers):
        answer = knowledge.answer(intent, CustomerFacts(), Slots(), today)
        if answer is not None and answer.spoken not in texts:
            texts.append(answer.spoken)
    return texts


class SpeechWarmer:
    """A background thread that synthesises every fixed answer into the speech cache, after
    start-up and after each change of the knowledge version: first in the configured voice, then
    in the slower one "说慢点" asks for.

    Several workers share one cache folder (content-addressed, atomic writes): a file lock lets
    one of them do the work while the others wait and then find every answer already there.
    """

    def __init__(self, knowledge: Knowledge, speaker: Speaker, voice: VoiceSettings,
                 rates: tuple[int, ...] = WARM_RATES, poll_s: float = _WARM_POLL_S) -> None:
        self.knowledge, self.speaker, self.voice, self.rates, self.poll_s = knowledge, speaker, voice, rates, poll_s
        self.warmed_version: int | None = None  # the knowledge version whose answers are all cached
        self.warm = threading.Event()  # set while the cache holds the current version's answers
        # Set once the first pass has ended, warm or not (a voice that cannot speak must not keep
        # the service from ever being ready: its answers are then made when asked).
        self.first_pass_over = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="warm-speech")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def warm_once(self) -> int:
        """Bring the cache up to the current knowledge; returns how many sentences were synthesised."""
        version = self.knowledge.sync()
        if version == self.warmed_version:
            return 0
        self.warm.clear()
        made = 0
        answers = fixed_answers(self.knowledge)
        with _exclusive(self.speaker.cache_dir / ".warming.lock"):
            made += self._warm_all(answers, self.voice)
            if self._stop.is_set():
                return made
            self.warm.set()
            self.first_pass_over.set()
            made += self._warm_all(answers, self.voice.slower_and_louder())
        if not self._stop.is_set():
            self.warmed_version = version
        return made

    def _warm_all(self, answers: list[str], voice: VoiceSettings) -> int:
        made = 0
        for text in answers:
            if self._stop.is_set():
                break
            made += self.speaker.warm(text, voice, self.rates)
        return made

    def _run(self) -> None:
        from assistant.speech.audio import AudioError

        while not self._stop.is_set():
            try:
                made = self.warm_once()
                if made:
                    logger.info("speech cache warm: %d sentences made with %s", made, self.speaker.voice.name)
            except AudioError:  # the voice cannot speak (e.g. its process did not start); turns say so
                logger.exception("speech cache warming failed; answers are synthesised when asked")
                self.first_pass_over.set()
            except Exception:  # the database away for a moment: try again at the next poll
                logger.exception("speech cache warming failed")
            self._stop.wait(self.poll_s)


@contextlib.contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
