"""Voice activity detection and end-pointing, tuned for elderly speakers.

Pure numpy. A frame is *voiced* when it is louder than the noise floor and
periodic: a vowel repeats at the speaker's pitch (70–400 Hz), while a cough,
a click, a tap or hiss does not, however loud or however shaped by the
throat. Spectral flatness let a cough through (its throat resonances make it
look tonal), and a 12 dB margin over the floor lost most of a short answer
said in a noisy hall. Periodicity holds at 10 dB SNR, so the margin can be
small. An utterance ends after ``end_silence_s`` without voice (1.2 s by
default: old people pause mid-sentence) or at ``max_utterance_s``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from assistant.speech.audio import Audio


@dataclass(frozen=True, slots=True)
class EndpointConfig:
    frame_ms: int = 30
    end_silence_s: float = 1.2  # pause that ends an utterance
    max_utterance_s: float = 15.0
    min_voiced_s: float = 0.12  # less voiced sound than this is a noise, not speech
    margin_db: float = 6.0  # voiced frames are this far above the noise floor
    absolute_floor_dbfs: float = -50.0  # and never quieter than this
    # Normalised autocorrelation at the best pitch lag: the fixtures' vowels 0.6–1.0, even slow at
    # 10 dB SNR; their coughs, clicks and taps at most 0.41. (A beep or music is periodic too.)
    min_periodicity: float = 0.5
    pad_s: float = 0.25  # kept around speech when trimming


def _frames(samples: np.ndarray, frame: int) -> np.ndarray:
    usable = len(samples) - len(samples) % frame
    return samples[:usable].astype(np.float32).reshape(-1, frame) / 32768.0


# Pitch of a human voice: an elderly man's may go down to 70 Hz, a woman's or child's up to 400 Hz.
_PITCH_HZ = (70, 400)
# Periodicity is judged on the telephone band only: below it, hum and the low rumble of pink noise
# are correlated over a pitch period without being a voice; above it, every rate looks alike.
_BAND_HZ = (200, 3400)


def frame_features(samples: np.ndarray, rate: int, frame_ms: int) -> tuple[np.ndarray, np.ndarray]:
    """Per frame: level in dBFS and periodicity (0 noise-like … 1 a steady voice)."""
    size = max(1, rate * frame_ms // 1000)
    frames = _frames(samples, size)
    if len(frames) == 0:
        return np.zeros(0), np.zeros(0)
    level = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-10)
    # Autocorrelation as the inverse transform of the band-limited power spectrum (zero-padded to
    # twice the frame, so it does not wrap around).
    power = np.abs(np.fft.rfft(frames, 2 * size, axis=1)) ** 2
    frequencies = np.fft.rfftfreq(2 * size, 1 / rate)
    power[:, (frequencies < _BAND_HZ[0]) | (frequencies > _BAND_HZ[1])] = 0.0
    autocorrelation = np.fft.irfft(power, axis=1)[:, :size]
    shortest, longest = rate // _PITCH_HZ[1], min(size - 1, rate // _PITCH_HZ[0])
    lags = np.arange(shortest, longest)
    # Unbiased (a lag of τ overlaps size - τ samples), relative to the frame's energy.
    per_lag = autocorrelation[:, lags] / (size - lags) / (autocorrelation[:, :1] / size + 1e-12)
    return level, per_lag.max(axis=1)


# Frames this alike in the speech band are one sound held still: a beep, China's 450 Hz dial and
# busy tone, a keypad's tones played down a phone line. A voice's spectrum moves from frame to
# frame (pitch, formants): over the speech fixtures no three voiced frames in a row are this alike
# (1.5 % of single voiced frames are, and no clip loses its speech).
_STEADY_SIMILARITY = 0.99
_STEADY_RUN = 2  # alike pairs in a row (three frames) before it is called a tone


def frame_spectra(samples: np.ndarray, rate: int, frame_ms: int) -> np.ndarray:
    """Per frame: the power spectrum in the speech band, unit length (a Hann window, so that a
    tone's leakage does not change with its phase in the frame)."""
    size = max(1, rate * frame_ms // 1000)
    frames = _frames(samples, size)
    power = np.abs(np.fft.rfft(frames * np.hanning(size), 2 * size, axis=1)) ** 2
    frequencies = np.fft.rfftfreq(2 * size, 1 / rate)
    power = power[:, (frequencies >= _BAND_HZ[0]) & (frequencies <= _BAND_HZ[1])]
    return power / (np.linalg.norm(power, axis=1, keepdims=True) + 1e-12)


@dataclass
class ToneTracker:
    """Frame by frame: is this a steady tone? ``step`` also says how many frames just before it
    turn out, now, to have been the start of one."""

    _previous: np.ndarray | None = None
    _run: int = 0
    _tone_ended: bool = False

    def step(self, spectrum: np.ndarray) -> tuple[bool, int]:
        alike = self._previous is not None and float(spectrum @ self._previous) >= _STEADY_SIMILARITY
        self._previous = spectrum
        self._run = self._run + 1 if alike else 0
        if self._run >= _STEADY_RUN:
            self._tone_ended = True
            return True, _STEADY_RUN if self._run == _STEADY_RUN else 0
        if self._tone_ended:  # the frame in which the tone stops is half tone
            self._tone_ended = False
            return True, 0
        return False, 0


def steady_tone_frames(spectra: np.ndarray) -> np.ndarray:
    tracker, tone = ToneTracker(), np.zeros(len(spectra), dtype=bool)
    for index, spectrum in enumerate(spectra):
        tone[index], began_earlier = tracker.step(spectrum)
        tone[max(0, index - began_earlier):index] = True
    return tone


def voiced_frames(audio: Audio, config: EndpointConfig = EndpointConfig(), noise_floor_db: float | None = None) -> np.ndarray:
    level, periodicity = frame_features(audio.samples, audio.rate, config.frame_ms)
    if len(level) == 0:
        return np.zeros(0, dtype=bool)
    floor = noise_floor_db if noise_floor_db is not None else float(np.percentile(level, 10))
    threshold = max(floor + config.margin_db, config.absolute_floor_dbfs)
    tones = steady_tone_frames(frame_spectra(audio.samples, audio.rate, config.frame_ms))
    return (level > threshold) & (periodicity >= config.min_periodicity) & ~tones


def speech_span(audio: Audio, config: EndpointConfig = EndpointConfig()) -> tuple[float, float] | None:
    """(start, end) in seconds of the speech in a whole recording, or None if there is none.

    Voiced runs separated by less than ``end_silence_s`` belong together; runs
    with less than ``min_voiced_s`` of voice (a cough, a knock) are ignored.
    """
    voiced = voiced_frames(audio, config)
    frame_s = config.frame_ms / 1000
    gap_frames = int(config.end_silence_s / frame_s)
    groups: list[list[int]] = []
    for index in np.flatnonzero(voiced):
        if groups and index - groups[-1][-1] <= gap_frames:
            groups[-1].append(int(index))
        else:
            groups.append([int(index)])
    speech = [g for g in groups if len(g) * frame_s >= config.min_voiced_s]
    if not speech:
        return None
    return speech[0][0] * frame_s, (speech[-1][-1] + 1) * frame_s


def trim_to_speech(audio: Audio, config: EndpointConfig = EndpointConfig()) -> Audio | None:
    """The speech with a little padding, capped at ``max_utterance_s``; None when silent."""
    span = speech_span(audio, config)
    if span is None:
        return None
    start = max(0.0, span[0] - config.pad_s)
    end = min(audio.seconds, span[1] + config.pad_s, start + config.max_utterance_s)
    samples = audio.samples[int(start * audio.rate) : int(end * audio.rate)]
    return Audio(samples, audio.rate, audio.truncated or span[1] - span[0] > config.max_utterance_s)


@dataclass
class Endpointer:
    """Streaming end-pointing for live audio (microphone, phone line).

    Feed chunks as they arrive; ``feed`` returns the finished utterance once
    the speaker has been quiet for ``end_silence_s`` (or talked for
    ``max_utterance_s``). The noise floor follows the room: it is the
    quietest recent level, so a noisy hall raises the bar.
    """

    rate: int
    config: EndpointConfig = field(default_factory=EndpointConfig)
    _pending: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int16))
    _utterance: list[np.ndarray] = field(default_factory=list)
    _recent_levels: list[float] = field(default_factory=list)
    _voiced_s: float = 0.0
    _silence_s: float = 0.0
    _length_s: float = 0.0
    _voiced_end: int = 0  # samples of the utterance up to the end of its last voiced frame
    _tones: ToneTracker = field(default_factory=ToneTracker)
    _credited: list[bool] = field(default_factory=list)  # whether each of the last few frames counted as voice

    @property
    def in_speech(self) -> bool:
        return self._voiced_s >= self.config.min_voiced_s

    @property
    def pause_s(self) -> float:
        """How long the speaker has been quiet inside the current utterance."""
        return self._silence_s

    @property
    def voiced_s(self) -> float:
        """Voice heard so far in the current utterance: it grows when the speaker goes on."""
        return self._voiced_s

    def speech_so_far(self) -> Audio | None:
        """The utterance as ``flush`` would give it if the speaker said nothing more; None before speech."""
        if not self.in_speech:
            return None
        samples = np.concatenate(self._utterance)
        return Audio(samples[: self._voiced_end + int(self.config.pad_s * self.rate)], self.rate,
                     self._length_s >= self.config.max_utterance_s)

    @property
    def hearing(self) -> bool:
        """Collecting a possible utterance (it may still turn out to be only a cough)."""
        return bool(self._utterance)

    def feed(self, audio: Audio) -> Audio | None:
        """Add a chunk; the complete utterance when it has just ended, else None."""
        chunk = audio.to(self.rate).samples
        frame = self.rate * self.config.frame_ms // 1000
        self._pending = np.concatenate([self._pending, chunk])
        usable = len(self._pending) - len(self._pending) % frame
        frames, self._pending = self._pending[:usable], self._pending[usable:]
        frame_s = self.config.frame_ms / 1000
        for start in range(0, len(frames), frame):
            finished = self._step(frames[start : start + frame], frame_s)
            if finished is not None:
                self._pending = np.concatenate([frames[start + frame :], self._pending])
                return finished
        return None

    def _step(self, frame: np.ndarray, frame_s: float) -> Audio | None:
        level, periodicity = frame_features(frame, self.rate, self.config.frame_ms)
        self._recent_levels = (self._recent_levels + [float(level[0])])[-200:]  # about 6 s of history
        floor = float(np.percentile(self._recent_levels, 10))
        tone, began_earlier = self._tones.step(frame_spectra(frame, self.rate, self.config.frame_ms)[0])
        if began_earlier:  # what looked like the start of a voice was the start of a tone
            self._voiced_s = max(0.0, self._voiced_s - frame_s * sum(self._credited[-began_earlier:]))
        voiced = bool(level[0] > max(floor + self.config.margin_db, self.config.absolute_floor_dbfs)
                      and periodicity[0] >= self.config.min_periodicity and not tone)
        self._credited = (self._credited + [voiced])[-_STEADY_RUN:]
        if voiced:
            self._voiced_s += frame_s
            self._silence_s = 0.0
        elif self._utterance:
            self._silence_s += frame_s
        if voiced or self._utterance:
            self._utterance.append(frame)
            self._length_s += frame_s
            if voiced:
                self._voiced_end = len(self._utterance) * len(frame)
        if not self._utterance:
            return None
        if self._silence_s >= self.config.end_silence_s and not self.in_speech:
            self._reset()  # only a cough or a knock: forget it
            return None
        if (self.in_speech and self._silence_s >= self.config.end_silence_s) or self._length_s >= self.config.max_utterance_s:
            return self.flush()
        return None

    def flush(self) -> Audio | None:
        """End of input: whatever speech was collected, up to ``pad_s`` after the last voice; None if none."""
        utterance = self.speech_so_far() if self._utterance else None
        self._reset()
        return utterance

    def _reset(self) -> None:
        self._utterance = []
        self._voiced_s = self._silence_s = self._length_s = 0.0
        self._voiced_end = 0
