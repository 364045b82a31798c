"""Vosk (Kaldi) recognition: offline, truly streaming, optionally held to a word list.

Vosk is the engine that can show text while the caller is still speaking
(kiosk screen, phone line) and, in grammar mode, answer only with words from
a short list (是 / 不是 before money moves), which is far steadier on
elderly speech than free dictation.

One loaded model is shared by every call; each utterance gets its own
``KaldiRecognizer``, which is not thread-safe and carries decoding state.
"""

from __future__ import annotations

import copy
import json
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from math import ceil, gcd
from pathlib import Path

import numpy as np
import vosk

from assistant.speech.audio import Audio, prepare_for_recognition, resample
from assistant.speech.models import ModelError, has_dynamic_graph, validate_vosk_model
from assistant.speech.recognizer import NoSpeechError, RecognitionStopped, Transcript, never, timed_transcript

ENGINE = "vosk"
# Frames handed to Vosk per call: endpoints are checked between calls, so
# smaller pieces find the end of a sentence sooner; 0.25 s is Vosk's own example size.
CHUNK_FRAMES = 4000
UNKNOWN_WORD = "[unk]"
# Peak (int16) below which a whole utterance counts as silence (about -50 dBFS):
# quieter than any speech a kiosk or phone microphone picks up.
SILENCE_PEAK = 100
# The level targets of audio.normalize_level, applied causally while streaming.
_TARGET_PEAK = 0.7
_MAX_GAIN = 20.0
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")


@dataclass(frozen=True, slots=True)
class _Word:
    text: str
    confidence: float | None


class VoskRecognizer:
    """A ``Recognizer`` backed by a Vosk model folder."""

    name = ENGINE
    partials = True

    def __init__(self, model_path: Path, grammar_words: Iterable[str] | None = None, sample_rate: int = 16000) -> None:
        model_path = Path(model_path)
        problems = validate_vosk_model(model_path)
        if problems:
            raise ModelError(f"无法加载语音模型：{model_path}（cannot load Vosk model）\n" + "\n".join(problems))
        vosk.SetLogLevel(-1)  # Kaldi's LOG lines, not its warnings
        started = time.perf_counter()
        try:
            self._model = vosk.Model(str(model_path))
        except Exception as error:  # vosk raises a bare Exception when Kaldi fails to load
            raise ModelError(f"语音模型加载失败：{model_path}（Vosk failed to load the model）") from error
        self.load_seconds = round(time.perf_counter() - started, 3)
        self.model_path = model_path
        self.sample_rate = sample_rate
        self._dynamic_graph = has_dynamic_graph(model_path)
        self._use_grammar(grammar_words)

    def knows_word(self, word: str) -> bool:
        return self._model.vosk_model_find_word(word) >= 0

    def with_grammar(self, grammar_words: Iterable[str] | None) -> VoskRecognizer:
        """Another recogniser on the same loaded model (no second load, no second copy in memory)."""
        other = copy.copy(self)
        other._use_grammar(grammar_words)
        return other

    def _use_grammar(self, grammar_words: Iterable[str] | None) -> None:
        """Keep only phrases whose every word the model knows.

        Vosk would otherwise print a warning for each unknown word on every
        utterance, and a phrase with one unknown word can never be heard anyway.
        """
        self.grammar: tuple[str, ...] | None = None
        self.dropped_words: tuple[str, ...] = ()
        self._grammar_json: str | None = None
        if grammar_words is None:
            return
        if not self._dynamic_graph:
            raise ModelError(f"这个语音模型不支持限定词表识别：{self.model_path}"
                             "（grammar mode needs a dynamic-graph model: graph/HCLr.fst + graph/Gr.fst）")
        kept: list[str] = []
        dropped: list[str] = []
        for phrase in dict.fromkeys(" ".join(word.split()) for word in grammar_words):
            if phrase:
                (kept if all(self.knows_word(part) for part in phrase.split()) else dropped).append(phrase)
        if not kept:
            raise ModelError(f"限定词表里的词模型都不认识：{dropped}（no grammar word is in the model's vocabulary）")
        self.grammar = tuple(kept)
        self.dropped_words = tuple(dropped)
        # Not every model has [unk] (the Korean test model does not); adding it blindly would warn per call.
        entries = kept + ([UNKNOWN_WORD] if self.knows_word(UNKNOWN_WORD) else [])
        # ensure_ascii=False: Vosk does not decode \uXXXX escapes, so escaped Chinese would match no word.
        self._grammar_json = json.dumps(entries, ensure_ascii=False)

    def _decoder(self) -> _Decoder:
        return _Decoder(self._model, self.sample_rate, self._grammar_json)

    def transcribe(self, audio: Audio, stop: Callable[[], bool] = never) -> Transcript:
        """Empty or silent audio raises ``NoSpeechError``; sound with no words gives empty text."""
        started = time.perf_counter()
        if _peak(audio.samples) < SILENCE_PEAK:
            raise NoSpeechError()
        if stop():  # one pass, no segments: the only place to give up
            raise RecognitionStopped()
        decoder = self._decoder()
        decoder.feed(prepare_for_recognition(audio, self.sample_rate).samples)
        text, confidence = decoder.finish()
        return timed_transcript(text, confidence, audio, started, self.name)

    def stream(self) -> VoskStream:
        return VoskStream(self._decoder(), self.sample_rate)


class _Decoder:
    """One KaldiRecognizer and the sentences it has already closed.

    Vosk closes a sentence at a pause (endpoint) and then forgets it, so each
    closed sentence is collected here, or a long utterance would lose its start.
    """

    def __init__(self, model: vosk.Model, rate: int, grammar_json: str | None) -> None:
        if grammar_json is None:
            self._recognizer = vosk.KaldiRecognizer(model, rate)
        else:
            self._recognizer = vosk.KaldiRecognizer(model, rate, grammar_json)
        self._recognizer.SetWords(True)  # per-word confidences
        self._closed: list[_Word] = []

    def feed(self, samples: np.ndarray) -> None:
        data = samples.astype("<i2").tobytes()
        step = CHUNK_FRAMES * 2
        for start in range(0, len(data), step):
            if self._recognizer.AcceptWaveform(data[start:start + step]):
                self._closed += _words(json.loads(self._recognizer.Result()))

    def partial_text(self) -> str:
        current = json.loads(self._recognizer.PartialResult()).get("partial", "")
        return _join([word.text for word in self._closed] + [w for w in current.split() if w != UNKNOWN_WORD])

    def finish(self) -> tuple[str, float | None]:
        words = self._closed + _words(json.loads(self._recognizer.FinalResult()))
        confidences = [word.confidence for word in words if word.confidence is not None]
        confidence = round(float(np.mean(confidences)), 3) if confidences else None
        return _join([word.text for word in words]), confidence


@dataclass
class VoskStream:
    """Audio in small chunks (20 ms phone frames, microphone blocks) at any rate.

    The rate of the first chunk is the stream's rate. Resampling and level
    normalisation run causally over the whole stream, so chunk edges leave no
    clicks and the result is close to ``transcribe`` of the same audio.
    """

    _decoder: _Decoder
    _model_rate: int
    _resampler: _StreamResampler | None = None  # made for the first chunk's rate
    _samples_seen: int = 0
    _peak: int = 0
    _seconds_decode: float = 0.0

    def accept(self, audio: Audio) -> str:
        """Feed more audio; returns everything heard so far (closed sentences + the current guess)."""
        started = time.perf_counter()
        if self._resampler is None:
            self._resampler = _StreamResampler(audio.rate, self._model_rate)
        resampler = self._resampler
        samples = audio.to(resampler.source_rate).samples
        self._samples_seen += len(samples)
        self._peak = max(self._peak, _peak(samples))
        self._decoder.feed(self._level(resampler.push(samples)))
        partial = self._decoder.partial_text()
        self._seconds_decode += time.perf_counter() - started
        return partial

    def finish(self) -> Transcript:
        """The whole utterance; ``NoSpeechError`` when nothing, or only silence, was fed."""
        if self._resampler is None or self._peak < SILENCE_PEAK:
            raise NoSpeechError()
        started = time.perf_counter()
        self._decoder.feed(self._level(self._resampler.flush()))
        text, confidence = self._decoder.finish()
        self._seconds_decode += time.perf_counter() - started
        return Transcript(text, confidence, round(self._samples_seen / self._resampler.source_rate, 3),
                          round(self._seconds_decode, 3), ENGINE)

    def _level(self, samples: np.ndarray) -> np.ndarray:
        """Gain from the loudest sample so far: it only ever falls, so speech is never clipped."""
        if self._peak < 1:
            return samples
        gain = min(_MAX_GAIN, _TARGET_PEAK * 32767.0 / self._peak)
        return np.clip(np.round(samples.astype(np.float32) * gain), -32768, 32767).astype(np.int16)


class _StreamResampler:
    """Chunk-by-chunk resampling that gives the same samples as resampling the whole signal at once.

    Each block is resampled with enough real neighbouring input on both sides
    that the polyphase filter never sees the chunk edge; output is held back by
    a few milliseconds (``margin``) until its right-hand neighbours arrive.
    """

    def __init__(self, source_rate: int, target_rate: int) -> None:
        divisor = gcd(source_rate, target_rate)
        self.source_rate, self.target_rate = source_rate, target_rate
        self.up, self.down = target_rate // divisor, source_rate // divisor
        # scipy's resample_poly filter reaches 10 * max(up, down) up-sampled taps each way.
        reach = ceil(10 * max(self.up, self.down) / self.up) + 1
        # A multiple of ``down`` keeps every block's output on the one-shot output grid.
        self.margin = ceil(reach / self.down) * self.down
        self._buffer = np.zeros(self.margin, dtype=np.int16)  # one-shot resampling pads the start with zeros too

    def push(self, samples: np.ndarray) -> np.ndarray:
        if self.up == self.down:
            return samples
        self._buffer = np.concatenate([self._buffer, samples.astype(np.int16, copy=False)])
        ready = (len(self._buffer) - 2 * self.margin) // self.down * self.down
        if ready <= 0:
            return np.zeros(0, dtype=np.int16)
        end = self.margin + ready
        out = resample(self._buffer[:end + self.margin], self.source_rate, self.target_rate)
        self._buffer = self._buffer[end - self.margin:]
        return out[self.margin * self.up // self.down:end * self.up // self.down]

    def flush(self) -> np.ndarray:
        if self.up == self.down:
            return np.zeros(0, dtype=np.int16)
        out = resample(self._buffer, self.source_rate, self.target_rate)[self.margin * self.up // self.down:]
        self._buffer = np.zeros(self.margin, dtype=np.int16)
        return out


def _words(result: dict) -> list[_Word]:
    if "result" in result:
        return [_Word(w["word"], w.get("conf")) for w in result["result"] if w["word"] != UNKNOWN_WORD]
    return [_Word(w, None) for w in result.get("text", "").split() if w != UNKNOWN_WORD]


def _join(words: list[str]) -> str:
    """Mandarin models put spaces between words; Chinese text has none. Other scripts keep them."""
    text = ""
    for word in words:
        if text and not (_HAN.match(text[-1]) or _HAN.match(word[0])):
            text += " "
        text += word
    return text


def _peak(samples: np.ndarray) -> int:
    return int(np.max(np.abs(samples.astype(np.int32)))) if len(samples) else 0
