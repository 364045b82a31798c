"""The offline voice for real: pypinyin → espeak-ng (through pyttsx3) → WAV, and the caching Speaker."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from assistant.speech.audio import Audio, AudioError, read_wav
from assistant.speech.tts import (
    MAX_SPOKEN_CHARS,
    NOTHING_TO_SAY_MS,
    EspeakPinyinVoice,
    Speaker,
    VoiceError,
    limit_length,
    pinyin_sentences,
    to_pinyin_for_espeak,
)
from assistant.voice_settings import VoiceSettings

BILL_QUESTION = "您好，您上个月的电费是128.50元，请问现在交吗"
SYLLABLE = re.compile(r"^[a-z]+[1-5]$")


def rms(audio: Audio) -> float:
    return float(np.sqrt(np.mean(audio.samples.astype(np.float64) ** 2)))


@dataclass
class CountingVoice:
    """The real espeak voice, counting how often it is really asked to synthesise."""

    inner: EspeakPinyinVoice = field(default_factory=EspeakPinyinVoice)
    calls: int = 0

    @property
    def name(self) -> str:
        return self.inner.name

    def synthesize(self, text: str, settings: VoiceSettings) -> Audio:
        self.calls += 1
        return self.inner.synthesize(text, settings)


@pytest.fixture(scope="module")
def voice() -> EspeakPinyinVoice:
    return EspeakPinyinVoice()


# ---------------------------------------------------------------- pinyin

@pytest.mark.parametrize(("text", "pinyin"), [
    ("还钱", "huan2 qian2"),
    ("还有", "hai2 you3"),
    ("我要还款", "wo3 yao4 huan2 kuan3"),
    ("银行", "yin2 hang2"),
    ("行吗", "xing2 ma5"),
    ("重新", "chong2 xin1"),
    ("重量", "zhong4 liang4"),
    ("长度", "chang2 du4"),
    ("长大", "zhang3 da4"),
    ("电费了", "dian4 fei4 le5"),
    ("了解", "liao3 jie3"),
    ("朝阳门", "chao2 yang2 men2"),
    ("供电", "gong1 dian4"),
    ("女儿", "nv3 er2"),
    ("儿童", "er2 tong2"),
])
def test_polyphones_follow_the_phrase(text: str, pinyin: str) -> None:
    assert to_pinyin_for_espeak(text) == pinyin


def test_erhua_is_said_as_the_plain_word() -> None:
    assert to_pinyin_for_espeak("等一会儿") == "deng3 yi1 hui4"
    assert to_pinyin_for_espeak("说慢一点儿") == "shuo1 man4 yi4 dian3"
    assert to_pinyin_for_espeak("哪儿") == "na3 li3"  # 哪里, not 哪


def test_punctuation_becomes_pauses_and_sentences() -> None:
    pinyin = to_pinyin_for_espeak("您好，我是小电。请问有什么可以帮您？")
    assert pinyin == "nin2 hao3, wo3 shi4 xiao3 dian4. qing3 wen4 you3 shen2 me5 ke3 yi3 bang1 nin2?"
    assert pinyin_sentences(pinyin) == ["nin2 hao3, wo3 shi4 xiao3 dian4.", "qing3 wen4 you3 shen2 me5 ke3 yi3 bang1 nin2?"]


def test_non_chinese_leftovers_are_spelled_or_dropped() -> None:
    assert to_pinyin_for_espeak("打开APP") == "da3 kai1 ei1 pi4 pi4"
    assert to_pinyin_for_espeak("第3") == "di4 san1"
    assert to_pinyin_for_espeak("好的😀“对”……") == "hao3 de5 dui4."
    assert to_pinyin_for_espeak("。，！") == ""


def test_pinyin_of_a_real_answer_is_only_syllables_and_pauses() -> None:
    pinyin = to_pinyin_for_espeak("江都供电营业厅（演示）在扬州市江都区龙城路八十八号，电话零五幺四。")
    words = pinyin.replace(",", " ").replace(".", " ").split()
    assert words and all(SYLLABLE.match(w) for w in words)
    assert "yao1" in words and "jiang1 du1" in pinyin


# ---------------------------------------------------------------- espeak-ng voice

def test_voice_speaks_a_sentence_at_native_rate(voice: EspeakPinyinVoice) -> None:
    audio = voice.synthesize("您好，您上个月的电费是一百二十八元五角，请问现在交吗", VoiceSettings())
    assert audio.rate == 22050
    assert 1.0 < audio.seconds < 15.0
    assert rms(audio) > 500


def test_repeated_calls_in_one_process_keep_working(voice: EspeakPinyinVoice) -> None:
    # espeak-ng's noise sources use rand(), so samples differ a little from call to call.
    results = [voice.synthesize("请问现在交吗？好的。", VoiceSettings()) for _ in range(4)]
    for audio in results:
        assert audio.seconds == pytest.approx(results[0].seconds, rel=0.03)
        assert rms(audio) > 500


def test_settings_change_speed_and_loudness(voice: EspeakPinyinVoice) -> None:
    text = "请您告诉我户号，十位数字，在电费单上就有。"
    normal = voice.synthesize(text, VoiceSettings())
    slower = voice.synthesize(text, VoiceSettings().slower_and_louder())
    fast = voice.synthesize(text, VoiceSettings(rate=200))
    quiet = voice.synthesize(text, VoiceSettings(volume=0.3))
    assert slower.seconds > normal.seconds * 1.1 > fast.seconds * 1.1
    assert rms(quiet) < rms(normal) * 0.5


def test_sentence_pause_is_the_setting(voice: EspeakPinyinVoice) -> None:
    text = "好的。请稍等。"
    short = voice.synthesize(text, VoiceSettings(sentence_pause_ms=100))
    long = voice.synthesize(text, VoiceSettings(sentence_pause_ms=900))
    assert long.seconds - short.seconds == pytest.approx(0.8, abs=0.01)


def test_voice_works_from_several_threads(voice: EspeakPinyinVoice) -> None:
    durations: dict[int, float] = {}

    def speak(number: int) -> None:
        durations[number] = voice.synthesize("您好，请问有什么可以帮您？", VoiceSettings()).seconds

    threads = [threading.Thread(target=speak, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(durations) == 6
    assert max(durations.values()) < min(durations.values()) * 1.03


def test_nothing_speakable_gives_short_silence(voice: EspeakPinyinVoice) -> None:
    audio = voice.synthesize("。。。", VoiceSettings())
    assert audio.seconds == pytest.approx(NOTHING_TO_SAY_MS / 1000)
    assert not audio.samples.any()


def test_missing_voice_is_a_clear_chinese_error() -> None:
    with pytest.raises(VoiceError, match="没有普通话拼音音色") as raised:
        EspeakPinyinVoice(voice_id="xx/no-such-voice").synthesize("你好", VoiceSettings())
    assert isinstance(raised.value, AudioError)


# ---------------------------------------------------------------- speaker

@pytest.mark.parametrize("rate", [16000, 8000])
def test_speaker_gives_line_rate_audio(tmp_path: Path, rate: int) -> None:
    speaker = Speaker(EspeakPinyinVoice(), tmp_path)
    audio = speaker.speak(BILL_QUESTION, VoiceSettings(), rate=rate)
    assert audio.rate == rate and audio.samples.dtype == np.int16 and audio.samples.ndim == 1
    assert 1.0 < audio.seconds < 15.0
    assert rms(audio) > 500
    assert not audio.truncated
    reread = read_wav(audio.wav_bytes())
    assert reread.rate == rate and len(reread.samples) == len(audio.samples)


def test_speaker_reads_figures_as_words(tmp_path: Path) -> None:
    speaker = Speaker(EspeakPinyinVoice(), tmp_path)
    figures = speaker.speak("电费128.50元", VoiceSettings())
    words = speaker.speak("电费一百二十八元五角", VoiceSettings())
    assert speaker.hits == 1  # same spoken text, same cache entry
    assert np.array_equal(figures.samples, words.samples)


def test_second_call_is_a_cache_hit_without_synthesis(tmp_path: Path) -> None:
    voice = CountingVoice()
    speaker = Speaker(voice, tmp_path)
    first = speaker.speak(BILL_QUESTION, VoiceSettings())
    second = speaker.speak(BILL_QUESTION, VoiceSettings())
    assert (speaker.misses, speaker.hits, voice.calls) == (1, 1, 1)
    assert np.array_equal(first.samples, second.samples)
    # A new Speaker on the same folder (another process, a restart) finds it too.
    again = Speaker(voice, tmp_path).speak(BILL_QUESTION, VoiceSettings())
    assert voice.calls == 1 and np.array_equal(again.samples, first.samples)


def test_cache_keys_differ_by_settings_rate_and_text(tmp_path: Path) -> None:
    speaker = Speaker(EspeakPinyinVoice(), tmp_path)
    settings = VoiceSettings()
    keys = {
        speaker.cache_key("您好", settings, 16000),
        speaker.cache_key("您好", settings, 8000),
        speaker.cache_key("您好", settings.slower_and_louder(), 16000),
        speaker.cache_key("您好", VoiceSettings(volume=0.5), 16000),
        speaker.cache_key("你好", settings, 16000),
    }
    assert len(keys) == 5
    assert speaker.cache_key("您好", VoiceSettings(), 16000) == speaker.cache_key("您好", settings, 16000)
    speaker.speak("您好", settings)
    speaker.speak("您好", settings.slower_and_louder())
    assert (speaker.misses, speaker.hits) == (2, 0)


def test_cache_is_bounded_and_leaves_no_temp_files(tmp_path: Path) -> None:
    speaker = Speaker(EspeakPinyinVoice(), tmp_path, max_files=2)
    for text in ("您好", "再见", "请稍等", "好的"):
        speaker.speak(text, VoiceSettings())
    assert len(list(tmp_path.glob("*.wav"))) == 2
    assert not list(tmp_path.glob(".*.part"))
    speaker.speak("好的", VoiceSettings())  # the newest survived
    assert speaker.hits == 1


def test_damaged_cache_file_is_synthesised_again(tmp_path: Path) -> None:
    voice = CountingVoice()
    speaker = Speaker(voice, tmp_path)
    good = speaker.speak("您好", VoiceSettings())
    (cached,) = tmp_path.glob("*.wav")
    cached.write_bytes(b"not a wav file")
    again = speaker.speak("您好", VoiceSettings())
    assert voice.calls == 2 and speaker.hits == 0
    assert again.seconds == pytest.approx(good.seconds, rel=0.03)


@pytest.mark.parametrize("text", ["", "   ", "\n\t", "……"])
def test_empty_text_is_a_short_silence(tmp_path: Path, text: str) -> None:
    speaker = Speaker(CountingVoice(), tmp_path)
    audio = speaker.speak(text, VoiceSettings(), rate=8000)
    assert audio.rate == 8000 and audio.seconds == pytest.approx(NOTHING_TO_SAY_MS / 1000)
    assert not audio.samples.any()
    assert (speaker.hits, speaker.misses) == (0, 0)


def test_very_long_text_is_cut_at_a_sentence_end(tmp_path: Path) -> None:
    speaker = Speaker(EspeakPinyinVoice(), tmp_path)
    audio = speaker.speak("您的电费已经交好了，谢谢您。" * 400, VoiceSettings())  # 5,600 characters
    assert audio.truncated
    assert rms(audio) > 500
    assert audio.seconds < 180  # MAX_SPOKEN_CHARS at the slow default rate, with pauses


def test_limit_length_prefers_sentence_then_clause_ends() -> None:
    assert limit_length("一二三四五。六七八九十", 8) == ("一二三四五。", True)
    assert limit_length("一二三四五，六七八九十", 8) == ("一二三四五，", True)
    assert limit_length("一二三四五六七八九十", 8) == ("一二三四五六七八", True)
    assert limit_length("短句。", MAX_SPOKEN_CHARS) == ("短句。", False)


def test_unsupported_output_rate_is_refused(tmp_path: Path) -> None:
    with pytest.raises(VoiceError, match="Hz"):
        Speaker(EspeakPinyinVoice(), tmp_path).speak("您好", VoiceSettings(), rate=12345)


def test_a_warmed_answer_is_spoken_sentence_by_sentence_from_the_cache(tmp_path: Path) -> None:
    voice = CountingVoice()
    speaker = Speaker(voice, tmp_path)
    answer = "您好，我是小电。您上个月的电费是128.50元。请问现在交吗？"
    assert not speaker.holds(answer, VoiceSettings(), 16000)
    assert speaker.warm(answer, VoiceSettings(), (16000, 8000)) == 3
    assert voice.calls == 3  # each sentence synthesised once, stored at both rates
    assert speaker.holds(answer, VoiceSettings(), 16000) and speaker.holds(answer, VoiceSettings(), 8000)
    assert not speaker.holds(answer, VoiceSettings().slower_and_louder(), 16000)
    for rate in (16000, 8000):
        chunks = list(speaker.speak_sentences(answer, VoiceSettings(), rate))
        assert len(chunks) == 3 and all(chunk.rate == rate for chunk, _ in chunks)
    assert voice.calls == 3 and speaker.misses == 0 and speaker.hits == 6
    assert speaker.warm(answer, VoiceSettings(), (16000, 8000)) == 0
