"""Offline Mandarin speech out: espeak-ng reading pinyin, behind a caching ``Speaker``.

Debian's espeak-ng Mandarin dictionary lacks most common characters, so the
voice is given tone-numbered pinyin made by pypinyin (phrase-aware, so
polyphones such as 还钱/还有 come out right) and the ``sit/cmn-latn-pinyin``
voice reads that. The result is robotic but correct Mandarin.

``Speaker`` is what the front ends use: display text in, audio at the line's
rate out (16 kHz kiosk/browser, 8 kHz phone), with the figures rewritten the
way a person says them (``spoken_text``) and every answer cached on disk, so
repeating an answer ("再说一遍") costs nothing.

Limits, chosen for elderly listeners and a bounded server:
- at most ``MAX_SPOKEN_CHARS`` characters of spoken text are voiced; longer
  text is cut at the last sentence end before the limit and the audio is
  marked ``truncated`` (the full text is still on the screen or in the SMS);
- text with nothing to say (empty, blanks, punctuation only) gives
  ``NOTHING_TO_SAY_MS`` of silence, not an error: an empty reply must never
  break a call, and silence keeps the audio pipeline uniform.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import tempfile
import threading
import time
import wave
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pypinyin import Style, lazy_pinyin

from assistant.speech.audio import SUPPORTED_RATES, Audio, AudioError, read_wav
from assistant.speech.spoken_text import to_spoken
from assistant.speech.voice import Voice
from assistant.voice_settings import VoiceSettings

MAX_SPOKEN_CHARS = 300  # about two minutes at the slow elderly rate; answers are far shorter
NOTHING_TO_SAY_MS = 300
MAX_SPEECH_SECONDS = 600.0  # read-back limit for synthesised audio (audio.read_wav cuts at 30 s by default)
PINYIN_VOICE_ID = "sit/cmn-latn-pinyin"
ESPEAK_SAMPLE_RATE = 22050  # what pyttsx3's espeak driver writes
ESPEAK_RATE_RANGE = (80, 450)  # words per minute espeak-ng accepts
LEAD_MS = 100  # silence before and after speech, so a phone line or speaker does not clip it
_TRIM_LEVEL = 200  # int16 level under which espeak's padding counts as silence


class VoiceError(AudioError):
    """The voice cannot speak; ``str(error)`` says why, in Chinese."""


# ---------------------------------------------------------------- pinyin

# Phrases pypinyin reads wrongly in this product's answers.
_PHRASE_READINGS: dict[str, tuple[str, ...]] = {
    "还款": ("huan2", "kuan3"),
    "还电费": ("huan2", "dian4", "fei4"),
    "得交": ("dei3", "jiao1"),
    "得缴": ("dei3", "jiao3"),
    "还得": ("hai2", "dei3"),
    "差不多": ("cha4", "bu4", "duo1"),
    "朝阳区": ("chao2", "yang2", "qu1"),
    "朝阳门": ("chao2", "yang2", "men2"),
    "朝阳路": ("chao2", "yang2", "lu4"),
}
# 儿 keeps its own syllable after these characters (女儿, 婴儿, 孤儿 ...) ...
_FULL_ER_AFTER = frozenset("女婴孤幼健男少患胎宠育托孙侄弃")
# ... and before these, where it starts a word (儿童, 儿子, 儿女, 儿科).
_ER_WORD_STARTS = frozenset("童子女科歌孙媳")
# 这儿/那儿/哪儿 mean 这里/那里/哪里; dropping the 儿 alone would change the meaning.
_ER_AS_LI = frozenset("这那哪")
_DIGIT_PINYIN = ("ling2", "yi1", "er4", "san1", "si4", "wu3", "liu4", "qi1", "ba1", "jiu3")
# Latin letters as Chinese speakers name them, in syllables the pinyin voice knows.
_LETTER_PINYIN = {
    "a": "ei1", "b": "bi4", "c": "xi1", "d": "di4", "e": "yi4", "f": "ai2 fu1", "g": "ji4",
    "h": "ai1 qi1", "i": "ai4", "j": "jie4", "k": "kai4", "l": "ai2 le5", "m": "ai2 mu5",
    "n": "en1", "o": "ou1", "p": "pi4", "q": "kiu1", "r": "a4", "s": "ai2 si1", "t": "ti4",
    "u": "you1", "v": "wei1", "w": "da2 bu5 liu1", "x": "ai2 ke4 si1", "y": "wai1", "z": "zei4",
}
_SENTENCE_MARKS = {"。": ".", "．": ".", ".": ".", "；": ".", ";": ".", "…": ".",
                   "！": "!", "!": "!", "？": "?", "?": "?"}
_CLAUSE_MARKS = frozenset("，、,：:（）()【】[]《》<>—-/")
_HAN_CHARS = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_HAN = re.compile(f"[{_HAN_CHARS}]")
_TOKEN = re.compile(f"[{_HAN_CHARS}]+|[A-Za-z]+|[0-9]+|.", re.DOTALL)
_SENTENCE = re.compile(r"[^.?!]+[.?!]?")


def _han_syllables(run: str) -> list[str]:
    """One syllable per character; phrase-aware, neutral tone as 5, 儿化 folded."""
    syllables = lazy_pinyin(run, style=Style.TONE3, neutral_tone_with_five=True,
                            errors=lambda chars: [""] * len(chars))
    if len(syllables) != len(run):  # never seen, but alignment below depends on it
        syllables = [next(iter(lazy_pinyin(c, style=Style.TONE3, neutral_tone_with_five=True)), "") for c in run]
    for phrase, reading in _PHRASE_READINGS.items():
        start = run.find(phrase)
        while start != -1:
            syllables[start:start + len(phrase)] = reading
            start = run.find(phrase, start + len(phrase))
    for i, char in enumerate(run):
        if char != "儿" or i == 0 or run[i - 1] in _FULL_ER_AFTER:
            continue
        if i + 1 < len(run) and run[i + 1] in _ER_WORD_STARTS:
            continue
        # espeak-ng has no 儿化 syllables ("dianr3" comes out as two odd ones):
        # say the plain word, as southern speakers do (一点儿 → 一点).
        syllables[i] = "li3" if run[i - 1] in _ER_AS_LI else ""
    return [_espeak_syllable(s) for s in syllables if s]


def _espeak_syllable(syllable: str) -> str:
    """pypinyin's interjection syllables (嗯 n2, ng2) have no vowel espeak can voice."""
    if syllable[:-1] in ("n", "ng"):
        return "en" + syllable[-1]
    return syllable


def to_pinyin_for_espeak(text: str) -> str:
    """Spoken Chinese → 'nin2 hao3, qing3 wen4.' for espeak-ng's pinyin voice.

    Sentence ends become '.', '?' or '!' (espeak pauses and we split there);
    clause marks become ','; Latin letters are spelled the Chinese way
    (APP → ei1 pi4 pi4); leftover digits are said one by one; anything else
    (emoji, symbols, quotes) is dropped.
    """
    words: list[str] = []

    def mark(symbol: str) -> None:
        if not words:
            return
        if words[-1] in (",", ".", "?", "!"):
            if symbol == ",":
                return
            words.pop()
        words.append(symbol)

    for token in _TOKEN.findall(text):
        first = token[0]
        if _HAN.match(first):
            words.extend(_han_syllables(token))
        elif first in _SENTENCE_MARKS:
            mark(_SENTENCE_MARKS[first])
        elif first in _CLAUSE_MARKS:
            mark(",")
        elif first.isascii() and first.isalpha():
            words.extend(_LETTER_PINYIN[c] for c in token.lower())
        elif first.isascii() and first.isdigit():
            words.extend(_DIGIT_PINYIN[int(c)] for c in token)
    while words and words[-1] == ",":
        words.pop()
    spoken = ""
    for word in words:
        spoken += word if word in (",", ".", "?", "!") else (" " if spoken else "") + word
    return spoken


def pinyin_sentences(pinyin: str) -> list[str]:
    """Split at sentence ends, so each sentence can be followed by a pause of our choosing."""
    return [s.strip() for s in _SENTENCE.findall(pinyin) if s.strip(" .?!,")]


# ---------------------------------------------------------------- espeak-ng voice

# espeak-ng is one engine per process (pyttsx3 initialises it once and shares
# it between all Engine objects), and pyttsx3's run loop is not re-entrant:
# every use goes through this lock, whatever the thread.
_ENGINE_LOCK = threading.Lock()
_SENTENCE_TIMEOUT_S = 60.0  # espeak-ng runs ~100x faster than real time; this is "stuck"


@dataclass
class _Espeak:
    engine: Any  # pyttsx3.Engine with the espeak driver
    library: Any  # pyttsx3.drivers._espeak: the ctypes binding, for IsPlaying/Cancel
    errors: list[BaseException] = field(default_factory=list)


_espeak: _Espeak | None = None


def _espeak_engine() -> _Espeak:
    """The process's pyttsx3 espeak engine, created once (call with the lock held)."""
    global _espeak
    if _espeak is None:
        try:
            import pyttsx3
            from pyttsx3.drivers import _espeak as library

            engine = pyttsx3.init("espeak")
        except (ImportError, RuntimeError, OSError) as error:
            raise VoiceError("语音合成引擎 espeak-ng 没有安装，暂时不能朗读。"
                             "请管理员安装 espeak-ng（apt-get install espeak-ng）。") from error
        espeak = _Espeak(engine, library)
        # pyttsx3 swallows errors raised inside its run loop and only reports them here.
        engine.connect("error", lambda name=None, exception=None: espeak.errors.append(exception))
        _espeak = espeak
    _settle(_espeak)
    return _espeak


def _wait_until_idle(espeak: _Espeak) -> None:
    """Wait until libespeak-ng has run every command it was given.

    In the retrieval mode pyttsx3 uses, libespeak-ng works on a thread of its
    own: parameter changes and texts are queued there, and the WAV is written
    by pyttsx3's callback on that thread at the end. pyttsx3 2.99 does not
    wait for that queue: its runAndWait can return before the file exists,
    and it calls espeak_Cancel whenever espeak is busy, which silently drops
    a queued rate or volume change.
    """
    deadline = time.monotonic() + _SENTENCE_TIMEOUT_S
    while espeak.library.IsPlaying():
        if time.monotonic() > deadline:
            espeak.library.Cancel()
            raise VoiceError("语音合成超时了，请看屏幕上的文字。")
        time.sleep(0.001)


def _settle(espeak: _Espeak) -> None:
    """Idle engine, with pyttsx3's command queue not busy, so property changes apply at once.

    A new pyttsx3 engine starts "busy" and queues every setProperty until the
    next run loop; one empty runAndWait clears that.
    """
    _wait_until_idle(espeak)
    if espeak.engine.isBusy():
        espeak.engine.runAndWait()
        _wait_until_idle(espeak)


def silence(milliseconds: int, rate: int) -> np.ndarray:
    return np.zeros(max(0, int(rate * milliseconds / 1000)), dtype=np.int16)


def _trim(samples: np.ndarray, rate: int) -> np.ndarray:
    """Drop espeak's own leading/trailing padding, keeping 20 ms, so pauses are ours."""
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > _TRIM_LEVEL)
    if len(loud) == 0:
        return samples[:0]
    margin = rate // 50
    return samples[max(0, loud[0] - margin):loud[-1] + margin]


@dataclass
class EspeakPinyinVoice:
    """espeak-ng's Mandarin pinyin voice through pyttsx3; robotic but offline and instant.

    ``name`` carries a version: bump it when the pinyin rules change, so
    cached audio made by the old rules is not served.
    """

    voice_id: str = PINYIN_VOICE_ID
    name: str = "espeak-ng-pinyin-v1"
    _resolved_id: str | None = field(default=None, init=False, repr=False)

    def synthesize(self, text: str, settings: VoiceSettings) -> Audio:
        """Speak ``text`` at espeak's native 22.05 kHz, sentence by sentence with ``sentence_pause_ms`` between."""
        sentences = pinyin_sentences(to_pinyin_for_espeak(text))
        chunks: list[Audio] = []
        with _ENGINE_LOCK:
            espeak = _espeak_engine()
            voice = self._voice(espeak.engine)
            with tempfile.TemporaryDirectory(prefix="xiaodian-tts-") as folder:
                for number, sentence in enumerate(sentences):
                    chunks.append(self._synthesize_sentence(espeak, voice, sentence, settings,
                                                            Path(folder) / f"{number}.wav"))
        rate = chunks[0].rate if chunks else ESPEAK_SAMPLE_RATE
        spoken = [s for s in (_trim(c.samples, rate) for c in chunks) if len(s)]
        if not spoken:
            return Audio(silence(NOTHING_TO_SAY_MS, rate), rate)
        pause = silence(settings.sentence_pause_ms, rate)
        parts = [silence(LEAD_MS, rate)]
        for i, samples in enumerate(spoken):
            parts.extend([pause, samples] if i else [samples])
        parts.append(silence(LEAD_MS, rate))
        return Audio(np.concatenate(parts), rate)

    def _voice(self, engine: Any) -> str:
        """The exact espeak id of the pinyin voice (ids differ between espeak-ng builds)."""
        if self._resolved_id is None:
            voices = engine.getProperty("voices")
            wanted = self.voice_id.lower()
            language = wanted.rsplit("/", 1)[-1]  # "cmn-latn-pinyin": other builds file it elsewhere
            found = ([v.id for v in voices if v.id.lower() == wanted]
                     or [v.id for v in voices if v.id.lower().rsplit("/", 1)[-1] == language]
                     or [v.id for v in voices if language in (lang.lower() for lang in v.languages)])
            if not found:
                raise VoiceError(f"espeak-ng 里没有普通话拼音音色（{self.voice_id}），暂时不能朗读。"
                                 "请管理员安装完整的 espeak-ng-data。")
            self._resolved_id = found[0]
        return self._resolved_id

    @staticmethod
    def _synthesize_sentence(espeak: _Espeak, voice: str, sentence: str, settings: VoiceSettings,
                             path: Path) -> Audio:
        engine, low, high = espeak.engine, *ESPEAK_RATE_RANGE
        espeak.errors.clear()
        engine.setProperty("voice", voice)
        engine.setProperty("rate", min(high, max(low, int(settings.rate))))
        engine.setProperty("volume", min(1.0, max(0.0, float(settings.volume))))
        _wait_until_idle(espeak)
        engine.save_to_file(sentence, str(path))
        try:
            # The espeak driver prints "Audio saved to ..." for every file.
            with contextlib.redirect_stdout(io.StringIO()):
                engine.runAndWait()
                _wait_until_idle(espeak)
        except VoiceError:
            raise
        except Exception as error:
            with contextlib.suppress(RuntimeError):
                engine.endLoop()  # leave the engine usable for the next call
            raise VoiceError("语音合成出错了，请看屏幕上的文字。") from error
        if espeak.errors:
            raise VoiceError("语音合成出错了，请看屏幕上的文字。") from espeak.errors[0]
        if not path.exists():
            raise VoiceError("语音合成没有生成声音，请看屏幕上的文字。")
        return read_wav(path, max_seconds=MAX_SPEECH_SECONDS)


# ---------------------------------------------------------------- speaker with cache

_SENTENCE_END = re.compile(r"[。！？!?；;]")
_CLAUSE_END = re.compile(r"[，、,：:]")
_SPEAKABLE = re.compile(r"\w")
_STALE_PART_SECONDS = 3600.0


_ANSWER_SENTENCE = re.compile(r"[^。！？!?；;]+[。！？!?；;]*")


def answer_sentences(text: str) -> list[str]:
    """Display text cut after each sentence end (an ASCII "." is a decimal point here, not an end)."""
    return [s.strip() for s in _ANSWER_SENTENCE.findall(text) if _SPEAKABLE.search(s)]


# Latency (issue 11): a long first sentence is spoken as its first clause, then the rest. The
# clause's audio is ready after a short synthesis and plays while the rest is made: uncached, the
# natural voice's first audio comes in about half the time (bench/voice.py). A shorter sentence
# is quick to make whole, and a clause of one character is not worth a chunk of its own.
FIRST_CLAUSE_FROM_CHARS = 10
_MIN_FIRST_CLAUSE_CHARS = 2
# A clause ends at a comma (an ASCII one only outside a figure: 1,280). Not at 、 (a list is one
# thought) nor at a colon (8：30 is a time; 户号：… needs its label for the figures' reading).
_FIRST_CLAUSE_END = re.compile(r"，|,(?!\d)")


def answer_chunks(text: str, first_clause_from: int | None = FIRST_CLAUSE_FROM_CHARS) -> list[tuple[str, bool]]:
    """What is synthesised and played as one piece: each sentence, the first one cut after its
    first clause when it has ``first_clause_from`` characters or more (None: never); with each,
    whether it ends a sentence (the pause after it)."""
    chunks = [(sentence, True) for sentence in answer_sentences(text)]
    if chunks and first_clause_from is not None and len(_SPEAKABLE.findall(chunks[0][0])) >= first_clause_from:
        first = chunks[0][0]
        end = _FIRST_CLAUSE_END.search(first)
        if (end is not None and len(_SPEAKABLE.findall(first[:end.start()])) >= _MIN_FIRST_CLAUSE_CHARS
                and _SPEAKABLE.search(first[end.end():])):
            chunks[:1] = [(first[:end.end()].strip(), False), (first[end.end():].strip(), True)]
    return chunks


def clause_pause_ms(settings: VoiceSettings) -> int:
    """The pause at a comma: half the pause between sentences (which "说慢点" lengthens), at least 150 ms."""
    return max(150, settings.sentence_pause_ms // 2)


def limit_length(spoken: str, max_chars: int = MAX_SPOKEN_CHARS) -> tuple[str, bool]:
    """Cut to ``max_chars`` at the last sentence end (else clause end) before it; (text, was_cut)."""
    if len(spoken) <= max_chars:
        return spoken, False
    head = spoken[:max_chars]
    for boundary in (_SENTENCE_END, _CLAUSE_END):
        ends = [m.end() for m in boundary.finditer(head)]
        if ends and ends[-1] >= max_chars // 2:
            return head[:ends[-1]], True
    return head, True


@dataclass
class Speaker:
    """Display text → speech at the line's rate, through any ``Voice``, cached on disk.

    The cache key is the sha256 of (voice name, spoken text, settings, rate);
    files are written atomically (temp file + rename), touched on every hit
    and evicted oldest first beyond ``max_files`` or ``max_bytes``. The
    folder may be deleted at any time.
    """

    voice: Voice
    cache_dir: Path
    max_files: int = 2000
    max_bytes: int = 200 * 1024 * 1024
    max_chars: int = MAX_SPOKEN_CHARS
    first_clause_from: int | None = FIRST_CLAUSE_FROM_CHARS  # see answer_chunks
    hits: int = field(default=0, init=False)
    misses: int = field(default=0, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        self.cache_dir = Path(self.cache_dir)
        self.cache_dir.mkdir(parents=True, exist_ok=True)

    def speak(self, text: str, settings: VoiceSettings, rate: int = 16000) -> Audio:
        """Mono 16-bit audio at ``rate`` (16000 kiosk/browser, 8000 phone); see the module doc for limits."""
        if rate not in SUPPORTED_RATES:
            raise VoiceError(f"不支持 {rate} Hz 的语音输出，请用 8000 或 16000 Hz。")
        spoken, cut = self._spoken(text)
        if not _SPEAKABLE.search(spoken):
            return Audio(silence(NOTHING_TO_SAY_MS, rate), rate)
        path = self.cache_dir / f"{self.cache_key(spoken, settings, rate)}.wav"
        cached = self._read_cached(path, rate)
        if cached is not None:
            with self._lock:
                self.hits += 1
            return Audio(cached, rate, truncated=cut)
        with self._lock:
            self.misses += 1
        audio = self.voice.synthesize(spoken, settings).to(rate)
        self._store(path, audio)
        return Audio(audio.samples, rate, truncated=cut)

    def speak_sentences(self, text: str, settings: VoiceSettings, rate: int = 16000) -> Iterator[tuple[Audio, bool]]:
        """The answer one sentence at a time (a long first sentence as its first clause, then the
        rest: ``answer_chunks``), each with whether it is the last, so a front end can play the
        first while the rest is made.

        Played one after the other they sound like ``speak``: each sentence but the last ends with
        the pause between sentences, a first clause with the pause at a comma. Beyond
        ``max_chars`` of text the rest is left to the screen.
        """
        # Nothing to say: one chunk of silence.
        chunks = answer_chunks(text[:self.max_chars], self.first_clause_from) or [("", True)]
        # Each chunk's audio starts and ends with LEAD_MS of silence: the pause is made up to the setting.
        pauses = {True: silence(max(0, settings.sentence_pause_ms - 2 * LEAD_MS), rate),
                  False: silence(max(0, clause_pause_ms(settings) - 2 * LEAD_MS), rate)}
        for number, (chunk, ends_sentence) in enumerate(chunks):
            audio = self.speak(chunk, settings, rate)
            last = number == len(chunks) - 1
            yield (audio if last else Audio(np.concatenate([audio.samples, pauses[ends_sentence]]), rate,
                                            audio.truncated)), last

    def close(self) -> None:
        """Let the voice free what it holds (the natural voice's process); it starts again if used."""
        close = getattr(self.voice, "close", None)
        if callable(close):
            close()

    def warm(self, text: str, settings: VoiceSettings, rates: tuple[int, ...]) -> int:
        """Store ``text``'s audio at each of ``rates`` the way ``speak_sentences`` will ask for it
        (sentence by sentence), synthesising each sentence once; returns how many were made."""
        made = 0
        for spoken in self._sentences_spoken(text):
            paths = {rate: self.cache_dir / f"{self.cache_key(spoken, settings, rate)}.wav" for rate in rates}
            missing = [rate for rate, path in paths.items() if not path.exists()]
            if missing:
                audio = self.voice.synthesize(spoken, settings)
                for rate in missing:
                    self._store(paths[rate], audio.to(rate))
                made += 1
        return made

    def holds(self, text: str, settings: VoiceSettings, rate: int) -> bool:
        """Whether every sentence of ``text`` would be served from the cache."""
        return all((self.cache_dir / f"{self.cache_key(spoken, settings, rate)}.wav").exists()
                   for spoken in self._sentences_spoken(text))

    def _sentences_spoken(self, text: str) -> list[str]:
        spoken = (self._spoken(chunk)[0] for chunk, _ in answer_chunks(text[:self.max_chars], self.first_clause_from))
        return [s for s in spoken if _SPEAKABLE.search(s)]

    def _spoken(self, text: str) -> tuple[str, bool]:
        # Spoken text is never much shorter than the display text, so this bounds the work only.
        return limit_length(to_spoken(text[:self.max_chars * 4]), self.max_chars)

    def cache_key(self, spoken: str, settings: VoiceSettings, rate: int) -> str:
        identity = {"voice": self.voice.name, "text": spoken, "settings": asdict(settings), "rate": rate}
        return hashlib.sha256(json.dumps(identity, ensure_ascii=False, sort_keys=True).encode()).hexdigest()

    @staticmethod
    def _read_cached(path: Path, rate: int) -> np.ndarray | None:
        """The cached samples exactly as stored (audio.read_wav rescales, which would make a hit differ)."""
        try:
            with wave.open(str(path), "rb") as reader:
                if (reader.getnchannels(), reader.getsampwidth(), reader.getframerate()) != (1, 2, rate):
                    raise wave.Error("not what this cache writes")
                frames = reader.readframes(reader.getnframes())
            os.utime(path)  # recently used: evicted last
        except FileNotFoundError:
            return None
        except (wave.Error, EOFError, OSError):
            with contextlib.suppress(OSError):
                path.unlink()  # damaged: synthesise again
            return None
        return np.frombuffer(frames, dtype="<i2").astype(np.int16)

    def _store(self, path: Path, audio: Audio) -> None:
        handle, temp_name = tempfile.mkstemp(dir=self.cache_dir, prefix=".", suffix=".part")
        try:
            with os.fdopen(handle, "wb") as temp:
                temp.write(audio.wav_bytes())
            os.replace(temp_name, path)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(temp_name)
            return  # a full or read-only disk costs speed, never the answer
        self._evict()

    def _evict(self) -> None:
        now = time.time()
        entries: list[tuple[float, int, Path]] = []
        for entry in self.cache_dir.iterdir():
            with contextlib.suppress(OSError):
                info = entry.stat()
                if entry.suffix == ".part" and now - info.st_mtime > _STALE_PART_SECONDS:
                    entry.unlink()  # left by a process that died mid-write
                elif entry.suffix == ".wav":
                    entries.append((info.st_mtime, info.st_size, entry))
        entries.sort()
        count, total = len(entries), sum(size for _, size, _ in entries)
        for _, size, entry in entries:
            if count <= self.max_files and total <= self.max_bytes:
                break
            with contextlib.suppress(OSError):
                entry.unlink()
            count, total = count - 1, total - size
