"""How soon the answer starts (issue 11), as a customer notices it, with the real parts.

Whisper-base on the natural-speech fixtures, the Listener's speculative decoding and early end,
espeak-ng speaking through the caching Speaker. How fast is
measured by bench/speech.py and bench/voice.py, not here: these tests hold what must not break
on the way (a pause for breath is not the end, nothing is misheard for the speed, the first clause
is heard first and the pauses stay natural).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import numpy as np
import pytest

from assistant.events import AudioChunk, Replied
from assistant.knowledge import Knowledge
from assistant.pipeline import Listener, Stage, TypedInput, VoicePipeline, understood_by
from assistant.speech.audio import Audio, read_wav
from assistant.speech.tts import EspeakPinyinVoice, Speaker, answer_chunks, clause_pause_ms
from assistant.speech.vad import EndpointConfig
from assistant.speech.whisper_engine import WhisperOptions
from assistant.voice_settings import VoiceSettings
from knowledge_base.settings import Settings
from tests.test_pipeline import AUDIO, pipeline, silence, whisper  # noqa: F401 (fixtures)

FRAME = 320  # 20 ms at 16 kHz, as a socket sends it


def _speech_only(name: str) -> Audio:
    """A fixture without its 0.3 s of silence before and after."""
    return Audio(read_wav(AUDIO / name).samples[4800:-4800], 16000)


def test_a_breath_after_an_understood_half_sentence_does_not_end_it(whisper, knowledge: Knowledge) -> None:  # type: ignore[no-untyped-def]
    """我想交电费 … (0.6 s) … 我家电费还剩多少钱: the first half alone is a whole request, and its
    early decode is ready well inside the pause, yet the caller is not cut off."""
    first, second = _speech_only("a01.wav"), _speech_only("a04.wav")
    understood = understood_by(knowledge)
    assert understood(whisper.transcribe(first).text), "the first half alone would be answered"

    async def utterances() -> list[Audio]:
        listener = Listener(whisper, EndpointConfig(), understood=understood)
        heard: list[Audio] = []

        async def feed(samples: np.ndarray) -> None:
            for start in range(0, len(samples), FRAME):
                result = await listener.hear(Audio(samples[start:start + FRAME], 16000))
                heard.extend([result.utterance.audio] if result.utterance else [])

        await feed(first.samples)
        await feed(silence(0.4))
        assert listener._speculation is not None, "a decode starts at the pause"
        await anyio.to_thread.run_sync(listener._speculation.finish)  # as fast decodes are: done mid-pause
        await feed(silence(0.2))
        await feed(second.samples)
        await feed(silence(2.0))
        return heard

    heard = anyio.run(utterances)
    assert len(heard) == 1 and heard[0].seconds > first.seconds + 0.6 + second.seconds, [a.seconds for a in heard]


def test_a_shorter_encoder_window_set_by_the_operator_still_understands_requests(
        whisper, knowledge: Knowledge) -> None:  # type: ignore[no-untyped-def]
    """XIAODIAN_WHISPER_WINDOW_S trades a little accuracy for speed (bench/speech.py): off by default,
    and when set, plain requests are still heard and understood."""
    shipped = whisper.options
    assert shipped.encoder_frames(2.0) is None, "the full 30 s window by default: it hears best"
    whisper.options = dataclasses.replace(shipped, window_min_s=Settings(whisper_window_s=20).whisper_window_s)
    try:
        for name, intent in (("a01.wav", "pay_bill"), ("a07.wav", "query_bill")):
            text = whisper.transcribe(read_wav(AUDIO / name)).text
            assert knowledge.matcher.match(text).intent == intent, (name, text)
    finally:
        whisper.options = shipped


def test_the_encoder_window_grows_with_the_utterance_up_to_whispers_own() -> None:
    options = WhisperOptions(window_min_s=4.0, window_spare_s=1.0)
    assert options.encoder_frames(1.0) == 400  # at least the minimum
    assert options.encoder_frames(6.2) == 720  # the speech and a second of silence, even
    assert options.encoder_frames(45.0) == 3000  # never more than the 30 s Whisper knows
    assert WhisperOptions(window_min_s=None).encoder_frames(2.0) is None


@dataclass
class LoggedVoice:
    """espeak-ng, with what it was asked to say and when (the test reads the order)."""

    inner: EspeakPinyinVoice = field(default_factory=EspeakPinyinVoice)
    said: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.inner.name

    def synthesize(self, text: str, settings: VoiceSettings) -> Audio:
        self.said.append(text)
        return self.inner.synthesize(text, settings)


def test_the_first_clause_is_heard_before_the_rest_is_made(pipeline: VoicePipeline, tmp_path: Path) -> None:  # noqa: F811
    voice = LoggedVoice()
    pipeline.speaker = Speaker(voice, tmp_path / "speech")  # an empty cache: everything made anew

    async def made_when_each_chunk_came() -> tuple[str, list[int]]:
        spoken, made = "", []
        async for event in pipeline.run(TypedInput("我想交电费"), until=Stage.SPEECH):
            if isinstance(event, Replied):
                spoken = event.reply.spoken
            if isinstance(event, AudioChunk):
                made.append(len(voice.said))
        return spoken, made

    spoken, made = anyio.run(made_when_each_chunk_came)
    assert spoken.startswith("请您告诉我户号，") and len(spoken) >= 10  # one long first sentence
    assert made == list(range(1, len(made) + 1)) and len(made) >= 2, made  # each chunk made only when asked for
    assert voice.said[0] == "请您告诉我户号，", voice.said  # the first clause alone, then the rest
    assert "".join(voice.said) == spoken


@pytest.mark.parametrize("settings", [VoiceSettings(), VoiceSettings().slower_and_louder()])
def test_the_first_clause_ends_with_the_pause_of_a_comma(settings: VoiceSettings, tmp_path: Path) -> None:
    """Split off or not, the clause sounds the same: the comma's pause, longer when 说慢点 asked."""
    answer = "请您告诉我户号，十位数字，在电费单上就有。"
    split = [audio for audio, _ in Speaker(EspeakPinyinVoice(), tmp_path / "a").speak_sentences(answer, settings)]
    whole = [audio for audio, _ in Speaker(EspeakPinyinVoice(), tmp_path / "b", first_clause_from=None)
             .speak_sentences(answer, settings)]
    assert len(split) == 2 and len(whole) == 1
    heard_pause_s = _quiet_s(split[0], at_end=True) + _quiet_s(split[1], at_end=False)
    assert heard_pause_s == pytest.approx(clause_pause_ms(settings) / 1000, abs=0.06), heard_pause_s
    assert sum(a.seconds for a in split) == pytest.approx(whole[0].seconds, abs=0.35)


def _quiet_s(audio: Audio, at_end: bool) -> float:
    loud = np.flatnonzero(np.abs(audio.samples.astype(np.int32)) > 200)
    return (len(audio.samples) - (loud[-1] + 1) if at_end else loud[0]) / audio.rate


def test_short_first_sentences_and_figures_are_not_cut() -> None:
    assert answer_chunks("好的，已经取消。请问您想办什么？") == [("好的，已经取消。", True), ("请问您想办什么？", True)]
    assert answer_chunks("您这个月的电费是1,280元，请在月底前交。")[0] == ("您这个月的电费是1,280元，", False)
    assert answer_chunks("营业时间：周一到周五8：30到17：30。")[0][1] is True  # no comma: one piece
