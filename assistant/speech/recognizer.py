"""The one recogniser interface every front end uses, and what it returns."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from assistant.speech.audio import Audio, AudioError


@dataclass(frozen=True, slots=True)
class Transcript:
    text: str  # simplified Chinese, as heard
    confidence: float | None  # engine's confidence in [0, 1] where it gives one
    seconds_audio: float
    seconds_decode: float
    engine: str


class RecognizerStream(Protocol):
    def accept(self, audio: Audio) -> str | None:
        """Feed more audio; returns the partial transcript where the engine has one."""

    def finish(self) -> Transcript:
        """End of utterance: the final transcript."""


class Recognizer(Protocol):
    name: str
    sample_rate: int  # the rate the engine decodes at; callers may pass any rate
    partials: bool  # whether its stream gives text while the customer is still speaking

    def transcribe(self, audio: Audio, stop: Callable[[], bool] = ...) -> Transcript:
        """A whole utterance at once; gives up (``RecognitionStopped``) once ``stop()`` is true."""

    def stream(self) -> RecognizerStream:
        """An utterance fed in chunks."""


def never() -> bool:
    """The default ``stop``: a caller that will always wait for the transcript."""
    return False


class RecognitionStopped(Exception):
    """The caller asked to stop (its client has left): nothing more is decoded, nothing is returned."""


class NoSpeechError(AudioError):
    """The audio holds no speech at all (empty, silent)."""

    def __init__(self) -> None:
        super().__init__("没有听到您说话，请靠近一点再说一遍。")


@dataclass
class BufferedStream:
    """Streaming for engines that only decode whole utterances: collect, then decode."""

    recognizer: Recognizer
    _chunks: list[np.ndarray] = field(default_factory=list)
    _rate: int | None = None

    def accept(self, audio: Audio) -> str | None:
        if self._rate is None:
            self._rate = audio.rate
        self._chunks.append(audio.to(self._rate).samples)
        return None

    def finish(self) -> Transcript:
        if not self._chunks or self._rate is None:
            raise NoSpeechError()
        return self.recognizer.transcribe(Audio(np.concatenate(self._chunks), self._rate))


def timed_transcript(text: str, confidence: float | None, audio: Audio, started: float, engine: str) -> Transcript:
    return Transcript(text, confidence, round(audio.seconds, 3), round(time.perf_counter() - started, 3), engine)
