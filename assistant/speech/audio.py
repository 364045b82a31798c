"""Audio as the speech code sees it: mono 16-bit PCM at a known rate.

Reading is bounded: a file is never read past ``max_seconds`` (the rest is
not even loaded), headers are checked before data is trusted, and every
failure is an ``AudioError`` with a message a customer may see.
"""

from __future__ import annotations

import io
import struct
import wave
from dataclasses import dataclass
from math import gcd
from pathlib import Path
from typing import BinaryIO

import numpy as np
from scipy.signal import resample_poly

SUPPORTED_RATES = (8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000, 96000)
MAX_CHANNELS = 8
# Longest audio any caller gets: a question is seconds long; a 10-minute file
# is cut here instead of filling memory.
DEFAULT_MAX_SECONDS = 30.0


class AudioError(ValueError):
    """Audio that cannot be used; ``str(error)`` is polite Chinese for the customer."""


@dataclass(frozen=True, slots=True)
class Audio:
    samples: np.ndarray  # int16, mono
    rate: int
    truncated: bool = False  # True when the source was longer than the reading limit

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.rate if self.rate else 0.0

    def to(self, rate: int) -> "Audio":
        return Audio(resample(self.samples, self.rate, rate), rate, self.truncated)

    def float32(self) -> np.ndarray:
        return self.samples.astype(np.float32) / 32768.0

    def wav_bytes(self) -> bytes:
        buffer = io.BytesIO()
        with wave.open(buffer, "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(self.rate)
            out.writeframes(self.samples.astype("<i2").tobytes())
        return buffer.getvalue()


def _decode(frames: bytes, sample_width: int, channels: int) -> np.ndarray:
    """Interleaved PCM bytes of any common width → float32 frames × channels in [-1, 1]."""
    usable = len(frames) - len(frames) % (sample_width * channels)
    frames = frames[:usable]
    if sample_width == 1:  # 8-bit WAV is unsigned
        data = (np.frombuffer(frames, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
    elif sample_width == 2:
        data = np.frombuffer(frames, dtype="<i2").astype(np.float32) / 32768.0
    elif sample_width == 3:
        raw = np.frombuffer(frames, dtype=np.uint8).reshape(-1, 3)
        as_int = (raw[:, 0].astype(np.int32) | (raw[:, 1].astype(np.int32) << 8) | (raw[:, 2].astype(np.int32) << 16))
        as_int = np.where(as_int >= 1 << 23, as_int - (1 << 24), as_int)
        data = as_int.astype(np.float32) / float(1 << 23)
    elif sample_width == 4:
        data = np.frombuffer(frames, dtype="<i4").astype(np.float32) / float(1 << 31)
    else:
        raise AudioError("这段录音的格式不支持，请换一段录音。")
    return data.reshape(-1, channels)


def to_int16(mono: np.ndarray) -> np.ndarray:
    return np.clip(np.round(mono * 32768.0), -32768, 32767).astype(np.int16)


def resample(samples: np.ndarray, source_rate: int, target_rate: int) -> np.ndarray:
    """Band-limited polyphase resampling of int16 mono samples."""
    if source_rate == target_rate or len(samples) == 0:
        return samples.astype(np.int16, copy=False)
    divisor = gcd(source_rate, target_rate)
    result = resample_poly(samples.astype(np.float32), target_rate // divisor, source_rate // divisor)
    return np.clip(np.round(result), -32768, 32767).astype(np.int16)


def normalize_level(samples: np.ndarray, target_peak: float = 0.7, max_gain: float = 20.0) -> np.ndarray:
    """Bring quiet speech up (elderly callers often speak far from the microphone).

    Gain is capped so that silence and hiss are not blown up into noise.
    """
    if len(samples) == 0:
        return samples
    peak = float(np.max(np.abs(samples.astype(np.int32))))
    if peak < 1:
        return samples
    gain = min(max_gain, target_peak * 32767.0 / peak)
    return np.clip(np.round(samples.astype(np.float32) * gain), -32768, 32767).astype(np.int16)


def from_pcm(data: bytes, rate: int, channels: int = 1, sample_width: int = 2,
             max_seconds: float = DEFAULT_MAX_SECONDS) -> Audio:
    """Raw interleaved PCM with a declared format (phone line, browser stream)."""
    _check_format(rate, channels, sample_width)
    limit = int(max_seconds * rate) * channels * sample_width
    frames = _decode(data[:limit], sample_width, channels)
    return Audio(to_int16(frames.mean(axis=1)), rate, truncated=len(data) > limit)


def _check_format(rate: int, channels: int, sample_width: int) -> None:
    if rate not in SUPPORTED_RATES:
        raise AudioError(f"这段录音的采样率（{rate} Hz）不支持，请用 8000 或 16000 Hz 的录音。")
    if not 1 <= channels <= MAX_CHANNELS:
        raise AudioError("这段录音的声道数不对，请换一段录音。")
    if sample_width not in (1, 2, 3, 4):
        raise AudioError("这段录音的格式不支持，请换一段录音。")


def read_wav(source: str | Path | bytes | BinaryIO, max_seconds: float = DEFAULT_MAX_SECONDS) -> Audio:
    """Read a WAV file (path, bytes or stream) into mono int16, cut at ``max_seconds``."""
    if isinstance(source, bytes):
        source = io.BytesIO(source)
    try:
        with wave.open(source if not isinstance(source, Path) else str(source), "rb") as reader:
            channels, sample_width, rate = reader.getnchannels(), reader.getsampwidth(), reader.getframerate()
            _check_format(rate, channels, sample_width)
            wanted = int(max_seconds * rate)
            total = reader.getnframes()
            frames = reader.readframes(min(total, wanted))
    except AudioError:
        raise
    except FileNotFoundError:
        raise AudioError("没有找到这段录音。") from None
    except (wave.Error, EOFError, OSError, ValueError, struct.error) as error:
        raise AudioError("这不是一段能识别的 WAV 录音，请重新录一遍。") from error
    decoded = _decode(frames, sample_width, channels)
    return Audio(to_int16(decoded.mean(axis=1)), rate, truncated=total > wanted)


def prepare_for_recognition(audio: Audio, rate: int = 16000) -> Audio:
    """Mono at the recogniser's rate with a usable level."""
    converted = audio.to(rate)
    return Audio(normalize_level(converted.samples), rate, audio.truncated)
