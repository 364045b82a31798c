"""Choose and load the speech engines once per process (models are big and slow to load)."""

from __future__ import annotations

import threading
from typing import Iterable

from knowledge_base.settings import Settings
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


def load_recognizer(settings: Settings, engine: str | None = None,
                    grammar_phrases: Iterable[str] | None = None) -> Recognizer:
    """The shared recogniser for this process (loaded on first use, then reused).

    With ``XIAODIAN_VOSK_GRAMMAR`` a Vosk recogniser is held to ``grammar_phrases`` (the knowledge
    base's examples and keywords, see ``assistant.speech_vocabulary``) as far as its
    model can spell them."""
    choice = chosen_engine(settings, engine)
    if choice == "whisper":
        key: tuple[object, ...] = ("whisper", str(settings.data_dir), settings.whisper_beam_size, settings.asr_threads,
                                   settings.whisper_prompt, settings.end_silence_s, settings.max_utterance_s,
                                   settings.denoise)
    else:
        model = mandarin_vosk_model(settings.data_dir) or next(iter(registered_vosk_models(settings.data_dir)), None)
        if model is None:
            raise ModelError("还没有注册 Vosk 模型。请运行：xiaodian models add-vosk 模型文件夹或zip "
                             "(no Vosk model registered: run `xiaodian models add-vosk PATH`)")
        key = ("vosk", str(model.path))
    with _load_lock:
        if key not in _loaded:
            _loaded[key] = _load(choice, settings, key)
        recognizer = _loaded[key]
    if choice == "vosk" and settings.vosk_grammar and grammar_phrases is not None:
        from assistant.speech.grammar import grammar_phrases as spelled_phrases

        # Another recogniser on the same loaded model, held to the phrases it can spell.
        return recognizer.with_grammar(spelled_phrases(grammar_phrases, recognizer.knows_word))  # type: ignore[attr-defined]
    return recognizer


def _load(choice: str, settings: Settings, key: tuple[object, ...]) -> Recognizer:
    if choice == "whisper":
        from assistant.speech.vad import EndpointConfig
        from assistant.speech.whisper_engine import WhisperOptions, WhisperRecognizer, assemble_whisper_base

        endpoint = EndpointConfig(end_silence_s=settings.end_silence_s, max_utterance_s=settings.max_utterance_s)
        options = WhisperOptions(beam_size=settings.whisper_beam_size, threads=settings.asr_threads,
                                 prompt=settings.whisper_prompt or None, endpoint=endpoint,
                                 window_min_s=settings.whisper_window_s if settings.whisper_window_s < 30 else None)
        if settings.denoise == "off":
            import dataclasses

            from assistant.speech.denoise import DenoiseConfig

            options = dataclasses.replace(options, denoise=DenoiseConfig(enabled=False))
        return WhisperRecognizer(assemble_whisper_base(settings.data_dir), options)
    from pathlib import Path

    from assistant.speech.vosk_engine import VoskRecognizer

    return VoskRecognizer(Path(str(key[1])))
