"""Choose and load the speech engines once per process (models are big and slow to load)."""

from __future__ import annotations

import threading
from typing import Iterable

from assistant.settings import Settings
from assistant.speech.models import ModelError, mandarin_vosk_model, registered_vosk_models
from assistant.speech.recognizer import Recognizer

_loaded: dict[tuple[object, ...], Recognizer] = {}
_load_lock = threading.Lock()


def chosen_engine(settings: Settings, engine: str | None = None) -> str:
    """``auto`` means Vosk when a Mandarin Vosk model is registered, else Whisper."""
    choice = engine or settings.asr_engine
    if choice == "auto":
        return "vosk" if mandarin_vosk_model(settings.data_dir) else "whisper"
    if choice not in ("whisper", "vosk"):
        raise ModelError(f"未知的语音识别引擎：{choice}（可选 auto、whisper、vosk）")
    return choice


def segment(phrase: str, knows_word, longest: int = 4) -> list[str] | None:  # type: ignore[no-untyped-def]
    """Split a Chinese phrase into words a Vosk model knows (greedy longest match).

    Mandarin Vosk lexicons hold words, not sentences; a phrase the model
    cannot spell out is left out of the grammar (None).
    """
    words: list[str] = []
    position = 0
    while position < len(phrase):
        for size in range(min(longest, len(phrase) - position), 0, -1):
            candidate = phrase[position : position + size]
            if knows_word(candidate):
                words.append(candidate)
                position += size
                break
        else:
            return None
    return words


def load_recognizer(settings: Settings, engine: str | None = None,
                    grammar_phrases: Iterable[str] | None = None) -> Recognizer:
    """The shared recogniser for this process (loaded on first use, then reused)."""
    choice = chosen_engine(settings, engine)
    if choice == "whisper":
        key: tuple[object, ...] = ("whisper", str(settings.data_dir), settings.whisper_beam_size, settings.asr_threads,
                                   settings.whisper_prompt)
    else:
        model = mandarin_vosk_model(settings.data_dir) or next(iter(registered_vosk_models(settings.data_dir)), None)
        if model is None:
            raise ModelError("还没有注册 Vosk 模型。请运行：xiaodian models add-vosk 模型文件夹或zip "
                             "(no Vosk model registered: run `xiaodian models add-vosk PATH`)")
        key = ("vosk", str(model.path), settings.vosk_grammar)
    with _load_lock:
        if key not in _loaded:
            _loaded[key] = _load(choice, settings, key, grammar_phrases)
        return _loaded[key]


def _load(choice: str, settings: Settings, key: tuple[object, ...], grammar_phrases: Iterable[str] | None) -> Recognizer:
    if choice == "whisper":
        from assistant.speech.whisper_engine import WhisperOptions, WhisperRecognizer, assemble_whisper_base

        options = WhisperOptions(beam_size=settings.whisper_beam_size, threads=settings.asr_threads,
                                 prompt=settings.whisper_prompt or None)
        return WhisperRecognizer(assemble_whisper_base(settings.data_dir), options)
    from pathlib import Path

    from assistant.speech.vosk_engine import VoskRecognizer

    recognizer = VoskRecognizer(Path(str(key[1])))
    if settings.vosk_grammar and grammar_phrases is not None:
        phrases = []
        for phrase in dict.fromkeys(grammar_phrases):
            words = segment(phrase, recognizer.knows_word)
            if words:
                phrases.append(" ".join(words))
        recognizer = recognizer.with_grammar(phrases)
    return recognizer
