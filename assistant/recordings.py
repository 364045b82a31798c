"""The customer's own words, kept so that a reviewer can listen to a conversation (issue 15).

Every spoken turn (kiosk socket, hall device, phone line, upload: whatever reaches
``VoicePipeline`` as a ``SpokenInput``) is named before the turn, so that its turn-log row can name
it, and written after the turn by one worker thread: encoding and the insert never delay an answer.

Stored in the database (table ``recording``), not on a worker's disk: workers are stateless and may
run on several machines, and any of them serves any recording. Opus in speech mode at
16 kbit/s, about 1.9 kB per second of speech (a WAV at 16 kHz is 32 kB/s, 8-bit A-law 16 kB/s),
in WebM, which a browser's ``<audio>`` plays as it is and whose header says how long it lasts (an
Ogg stream's length is known only at its end: Chromium showed an endless player). ``recordings_days`` (settings) says how long they are
kept; 0 keeps none (``keeper_for`` gives no keeper, so no turn names one).
"""

from __future__ import annotations

import io
import logging
import secrets
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime

import numpy as np
from sqlalchemy import insert
from sqlalchemy.engine import Engine

from assistant.speech.audio import Audio
from knowledge_base.db import session
from knowledge_base.models import Recording, utc_now

logger = logging.getLogger(__name__)

MEDIA_TYPE = "audio/webm"  # WebM Opus: Chromium, Firefox and current Safari play it
BITRATE = 16_000  # speech mode: clear for listening to what a customer said, ~1.7 kB per second
OPUS_RATES = (8000, 12000, 16000, 24000, 48000)  # what Opus takes as it is; other rates go to 16 kHz
# Recordings waiting for the writer thread. More means the database is stuck: later ones are dropped
# (the turn itself was answered and logged; only its audio is lost), so memory stays bounded.
MAX_PENDING = 32


def new_recording_id() -> str:
    """128 random bits: a recording's name says nothing about its conversation (never the session id)."""
    return secrets.token_hex(16)


def encode(audio: Audio) -> tuple[bytes, int]:
    """The audio as WebM Opus bytes, and the sample rate it was encoded at."""
    import av  # faster-whisper's own dependency: present wherever speech is recognised

    if audio.rate not in OPUS_RATES:
        audio = audio.to(16000)
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="webm") as out:  # seekable: the duration goes in the header
        stream = out.add_stream("libopus", rate=audio.rate, layout="mono")
        stream.bit_rate = BITRATE
        stream.options = {"application": "voip", "frame_duration": "60"}  # speech; 60 ms frames: less container overhead
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(audio.samples, dtype=np.int16).reshape(1, -1),
                                           format="s16", layout="mono")
        frame.rate = audio.rate
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buffer.getvalue(), audio.rate


def decode(data: bytes, rate: int = 16000) -> Audio:
    """Stored bytes back to 16-bit mono audio at ``rate`` (what a player hears), for checks and tools."""
    import av

    pieces: list[np.ndarray] = []
    with av.open(io.BytesIO(data)) as container:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)
        for frame in container.decode(audio=0):
            pieces += [made.to_ndarray().reshape(-1) for made in resampler.resample(frame)]
        pieces += [made.to_ndarray().reshape(-1) for made in resampler.resample(None)]
    return Audio(np.concatenate(pieces).astype(np.int16) if pieces else np.zeros(0, np.int16), rate)


class RecordingKeeper:
    """Names spoken turns and writes their audio after the turn, in one worker thread per process."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime] = utc_now) -> None:
        self.engine = engine
        self.clock = clock
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="recordings")
        self._pending = 0
        self._lock = threading.Lock()

    def new_id(self) -> str:
        return new_recording_id()

    def keep(self, recording_id: str, audio: Audio, channel: str) -> Future[None] | None:
        """Encode and store in the background; None when dropped (too many waiting)."""
        with self._lock:
            if self._pending >= MAX_PENDING:
                logger.warning("recording dropped: %d still waiting to be written", self._pending)
                return None
            self._pending += 1
        at = self.clock()
        try:
            return self._writer.submit(self._write, recording_id, audio, channel, at)
        except RuntimeError:  # the process is shutting down
            self._done()
            return None

    def _write(self, recording_id: str, audio: Audio, channel: str, at: datetime) -> None:
        try:
            self.write(recording_id, audio, channel, at)
        except Exception:  # noqa: BLE001  (a lost recording must not take the writer down; no audio in the log)
            logger.exception("recording %s not stored", recording_id)
        finally:
            self._done()

    def _done(self) -> None:
        with self._lock:
            self._pending -= 1

    def write(self, recording_id: str, audio: Audio, channel: str, at: datetime | None = None) -> None:
        """Encode and insert now (the writer thread's work; tools and tests may call it directly)."""
        data, rate = encode(audio)
        self.insert(recording_id, data, rate, audio.seconds, channel, at or self.clock())

    def insert(self, recording_id: str, data: bytes, rate: int, seconds: float, channel: str, at: datetime) -> None:
        with self.engine.begin() as connection:
            connection.execute(insert(Recording.__table__), dict(  # type: ignore[attr-defined]
                id=recording_id, at=at, channel=str(channel)[:16], sample_rate=rate,
                duration_ms=round(seconds * 1000), audio=data))

    def close(self) -> None:
        """Write what is waiting, then stop the thread."""
        self._writer.shutdown(wait=True)


def keeper_for(engine: Engine, days: int) -> RecordingKeeper | None:
    """The keeper when recordings are kept (``recordings_days`` > 0), else None: no turn names one."""
    return RecordingKeeper(engine) if days > 0 else None


def read_recording(engine: Engine, recording_id: str) -> Recording | None:
    with session(engine) as db:
        return db.get(Recording, recording_id)
