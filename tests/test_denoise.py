"""Noise suppression before Whisper (issue 11): noisy speech understood, clean speech untouched,
coughs and clicks still not speech. Real Whisper-base, real audio from tests/fixtures/audio."""

import copy
import csv
from pathlib import Path

import pytest

from assistant.speech.audio import prepare_for_recognition, read_wav
from assistant.speech.denoise import DenoiseConfig, denoised, estimated_snr_db, suppress_noise
from assistant.speech.recognizer import NoSpeechError
from assistant.speech.vad import speech_span
from assistant.speech.whisper_engine import WhisperOptions, WhisperRecognizer, assemble_whisper_base
from intents import IntentMatcher

FIXTURES = Path(__file__).parent / "fixtures" / "audio"
SHORT = FIXTURES / "short"
NO_DENOISE = WhisperOptions(denoise=DenoiseConfig(enabled=False))


@pytest.fixture(scope="module")
def whisper(tmp_path_factory) -> WhisperRecognizer:  # type: ignore[no-untyped-def]
    return WhisperRecognizer(assemble_whisper_base(tmp_path_factory.mktemp("data")))


def manifest(folder: Path) -> list[dict[str, str]]:
    with (folder / "manifest.tsv").open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def test_a_slow_no_in_noise_is_no_longer_heard_as_yes(whisper: WhisperRecognizer,
                                                     shipped_matcher: IntentMatcher) -> None:
    """不对 said slowly in a noisy hall: without suppression Whisper heard 无对 (a yes to the matcher);
    suppressed, it is a no. (On the short slow + noisy set: 5 of 10 answers understood before, 6 now.)"""
    row = next(row for row in manifest(SHORT) if row["file"] == "slow_noisy/s04.wav")
    audio = read_wav(SHORT / row["file"])
    heard = whisper.transcribe(audio).text
    assert shipped_matcher.match(heard).intent == row["intent"] == "deny", heard
    unsuppressing = copy.copy(whisper)  # the same loaded model, without the suppression
    unsuppressing.options = NO_DENOISE
    unsuppressed = unsuppressing.transcribe(audio).text
    assert shipped_matcher.match(unsuppressed).intent != "deny", "the clip no longer shows the difference"


@pytest.mark.parametrize("kind", ["16k", "8k"])
def test_clean_speech_is_passed_through_untouched(kind: str) -> None:
    """Suppression can only take away from clean speech: below the noise gate it is the very same audio."""
    for row in manifest(FIXTURES):
        if row["kind"] != kind:
            continue
        prepared = prepare_for_recognition(read_wav(FIXTURES / row["file"]))
        assert denoised(prepared) is prepared, row["file"]


def test_noisy_speech_is_cleaned_and_keeps_its_length() -> None:
    for row in manifest(FIXTURES):
        if row["kind"] != "noisy":
            continue
        prepared = prepare_for_recognition(read_wav(FIXTURES / row["file"]))
        cleaned = denoised(prepared)
        assert cleaned is not prepared and len(cleaned.samples) == len(prepared.samples)
        before, after = estimated_snr_db(prepared), estimated_snr_db(cleaned)
        assert before is not None and after is not None and after > before + 6, (row["file"], before, after)


@pytest.mark.parametrize("row", [row for row in manifest(SHORT) if row["speech"] == "0"], ids=lambda row: row["file"])
def test_coughs_and_clicks_stay_no_speech(whisper: WhisperRecognizer, row: dict[str, str]) -> None:
    """Suppressed or not, a cough or a click gains no voice, and the recogniser hears nothing."""
    audio = prepare_for_recognition(read_wav(SHORT / row["file"]))
    assert speech_span(suppress_noise(audio, DenoiseConfig().level)) is None
    with pytest.raises(NoSpeechError):
        whisper.transcribe(read_wav(SHORT / row["file"]))
