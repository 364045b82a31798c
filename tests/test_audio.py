"""Audio reading and end-pointing, including every kind of bad input."""

import csv
import io
import struct
import time
import wave
from pathlib import Path

import numpy as np
import pytest

from assistant.speech.audio import DEFAULT_MAX_SECONDS, Audio, AudioError, from_pcm, read_wav, resample
from assistant.speech.vad import EndpointConfig, Endpointer, speech_span, trim_to_speech

FIXTURES = Path(__file__).parent / "fixtures" / "audio"


def wav_bytes(samples: np.ndarray, rate: int, channels: int = 1, width: int = 2) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(width)
        out.setframerate(rate)
        out.writeframes(samples.tobytes())
    return buffer.getvalue()


def speech() -> Audio:
    return read_wav(FIXTURES / "16k" / "a01.wav")


def test_fixture_reads_as_mono_16k() -> None:
    audio = speech()
    assert (audio.rate, audio.samples.dtype, audio.truncated) == (16000, np.int16, False)
    assert 1.0 < audio.seconds < 5.0


@pytest.mark.parametrize(
    "data",
    [b"", b"RIFF", b"not a wav file at all" * 20, (FIXTURES / "16k" / "a01.wav").read_bytes()[:30]],
    ids=["zero-length", "four-bytes", "text", "truncated-header"],
)
def test_unreadable_audio_is_a_polite_error(data: bytes) -> None:
    with pytest.raises(AudioError, match="WAV"):
        read_wav(data)


def test_missing_file_is_a_polite_error(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match="没有找到"):
        read_wav(tmp_path / "nothing.wav")


def test_ten_minute_file_is_cut_not_loaded_whole(tmp_path: Path) -> None:
    path = tmp_path / "long.wav"
    path.write_bytes(wav_bytes(np.zeros(16000 * 600, dtype="<i2"), 16000))
    start = time.perf_counter()
    audio = read_wav(path)
    assert audio.truncated and audio.seconds == pytest.approx(DEFAULT_MAX_SECONDS)
    assert time.perf_counter() - start < 2.0


def test_header_claiming_more_data_than_present(tmp_path: Path) -> None:
    data = bytearray(wav_bytes(np.zeros(1600, dtype="<i2"), 16000))
    struct.pack_into("<I", data, 40, 10**9)  # data chunk says 1 GB
    audio = read_wav(bytes(data))
    assert audio.seconds == pytest.approx(0.1)


def test_96k_stereo_8bit_and_six_channels_are_converted() -> None:
    source = speech()
    stereo_96k = np.repeat(resample(source.samples, 16000, 96000)[:, None], 2, axis=1)
    converted = read_wav(wav_bytes(stereo_96k.astype("<i2"), 96000, channels=2)).to(16000)
    assert abs(converted.seconds - source.seconds) < 0.01
    eight_bit = ((source.samples.astype(np.int32) >> 8) + 128).astype(np.uint8)
    assert read_wav(wav_bytes(eight_bit, 16000, width=1)).seconds == pytest.approx(source.seconds)
    six = np.repeat(source.samples[:, None], 6, axis=1).astype("<i2")
    assert np.array_equal(read_wav(wav_bytes(six, 16000, channels=6)).samples, source.samples)


def test_unsupported_rate_is_refused() -> None:
    with pytest.raises(AudioError, match="采样率"):
        read_wav(wav_bytes(np.zeros(100, dtype="<i2"), 12345))


def test_raw_pcm_with_declared_rate() -> None:
    source = speech()
    phone = resample(source.samples, 16000, 8000)
    audio = from_pcm(phone.astype("<i2").tobytes(), 8000)
    assert audio.rate == 8000 and abs(audio.seconds - source.seconds) < 0.01


def test_silence_and_noise_hold_no_speech() -> None:
    rng = np.random.default_rng(1)
    assert speech_span(Audio(np.zeros(48000, dtype=np.int16), 16000)) is None
    hiss = Audio(rng.normal(0, 300, 48000).astype(np.int16), 16000)
    assert trim_to_speech(hiss) is None


def test_a_cough_is_not_speech() -> None:
    rng = np.random.default_rng(2)
    samples = np.zeros(48000, dtype=np.int16)
    samples[16000:19200] = rng.normal(0, 8000, 3200).astype(np.int16)  # 0.2 s broadband burst
    assert speech_span(Audio(samples, 16000)) is None


def test_pause_inside_a_sentence_keeps_it_whole() -> None:
    words = speech().samples
    pause = np.zeros(int(16000 * 0.9), dtype=np.int16)  # under the 1.2 s end-of-utterance silence
    joined = Audio(np.concatenate([words, pause, words]), 16000)
    start, end = speech_span(joined)
    assert end - start > 2 * 0.9


def stream_through(endpointer: Endpointer, audio: Audio, chunk_s: float = 0.02) -> list[Audio]:
    step = int(audio.rate * chunk_s)
    found = []
    for offset in range(0, len(audio.samples), step):
        utterance = endpointer.feed(Audio(audio.samples[offset : offset + step], audio.rate))
        if utterance is not None:
            found.append(utterance)
    return found


def test_endpointer_finds_two_questions_separated_by_a_long_pause() -> None:
    words = speech().samples
    gap = np.zeros(16000 * 2, dtype=np.int16)
    audio = Audio(np.concatenate([gap, words, gap, words, gap]), 16000)
    found = stream_through(Endpointer(16000), audio)
    assert len(found) == 2
    assert all(0.8 < u.seconds < 3.0 for u in found)


def test_endpointer_caps_a_never_ending_utterance() -> None:
    words = speech().samples
    endless = Audio(np.tile(words, 20), 16000)  # about 33 s without a long pause
    found = stream_through(Endpointer(16000, EndpointConfig(max_utterance_s=15.0)), endless)
    assert found and found[0].truncated and found[0].seconds <= 15.1


def test_endpointer_ignores_a_cough() -> None:
    rng = np.random.default_rng(3)
    samples = np.zeros(16000 * 3, dtype=np.int16)
    samples[16000:19200] = rng.normal(0, 8000, 3200).astype(np.int16)
    endpointer = Endpointer(16000)
    assert stream_through(endpointer, Audio(samples, 16000)) == []
    assert endpointer.flush() is None


# Short natural speech and non-speech (tests/fixtures/audio/short, tools/make_short_audio_fixtures.py):
# what end-pointing must never drop, and what it must never take for a voice.
SHORT = FIXTURES / "short"


def short_clips(speech: bool) -> list[tuple[str, str]]:
    with (SHORT / "manifest.tsv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    return [(row["file"], row["text"]) for row in rows if row["speech"] == ("1" if speech else "0")]


def followed_by_silence(audio: Audio, seconds: float = 1.5) -> Audio:
    return Audio(np.concatenate([audio.samples, np.zeros(int(audio.rate * seconds), dtype=np.int16)]), audio.rate)


@pytest.mark.parametrize("file, text", short_clips(speech=True))
def test_short_soft_and_noisy_answers_are_speech(file: str, text: str) -> None:
    audio = read_wav(SHORT / file)
    assert speech_span(audio) is not None, text
    found = stream_through(Endpointer(audio.rate), followed_by_silence(audio))
    assert len(found) == 1, text


@pytest.mark.parametrize("file, text", short_clips(speech=False))
def test_coughs_and_clicks_are_not_speech(file: str, text: str) -> None:
    audio = read_wav(SHORT / file)
    assert speech_span(audio) is None, text
    endpointer = Endpointer(audio.rate)
    assert stream_through(endpointer, followed_by_silence(audio)) == []
    assert endpointer.flush() is None


def test_a_cough_before_a_short_answer_does_not_hide_it() -> None:
    cough, answer = read_wav(SHORT / "16k" / "n01.wav"), read_wav(SHORT / "16k" / "s03.wav")
    found = stream_through(Endpointer(16000), followed_by_silence(Audio(np.concatenate([cough.samples, answer.samples]), 16000)))
    assert len(found) == 1
    assert found[0].seconds < cough.seconds + answer.seconds


def steady_tone(frequencies: tuple[int, ...], rate: int, seconds: float = 1.5) -> Audio:
    """A machine's tone between two half-seconds of quiet: 0.3 of full scale, like a beep near the microphone."""
    t = np.arange(int(rate * seconds)) / rate
    tone = sum(np.sin(2 * np.pi * f * t) for f in frequencies) / len(frequencies) * 0.3 * 32767
    quiet = np.zeros(rate // 2)
    return Audio(np.concatenate([quiet, tone, quiet]).astype(np.int16), rate)


# A beep (1 kHz), China's dial/busy/ringback tone (450 Hz), a kiosk chime's chord, keypad tones
# played in-band on a phone line (DTMF 1 and #): periodic like a vowel, but the same from frame to frame.
TONES = [(1000,), (450,), (150, 300, 450), (697, 1209), (941, 1477)]


@pytest.mark.parametrize("rate", [16000, 8000])
@pytest.mark.parametrize("frequencies", TONES)
def test_a_steady_tone_is_not_speech(frequencies: tuple[int, ...], rate: int) -> None:
    tone = steady_tone(frequencies, rate)
    assert speech_span(tone) is None
    endpointer = Endpointer(rate)
    assert stream_through(endpointer, followed_by_silence(tone)) == []
    assert endpointer.flush() is None


def test_a_beep_before_a_short_answer_does_not_hide_it() -> None:
    beep, answer = steady_tone((1000,), 16000), read_wav(SHORT / "16k" / "s01.wav")
    found = stream_through(Endpointer(16000), followed_by_silence(Audio(np.concatenate([beep.samples, answer.samples]), 16000)))
    assert len(found) == 1 and found[0].seconds < answer.seconds + 0.5
