"""The phone line wired from the settings: the gateway's configuration, its pipeline when it runs on
its own (``xiaodian phone``), and the PBX's token."""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Callable

import anyio
import anyio.to_thread

from assistant.admission import RecognitionGate
from assistant.conversation import ConversationReply
from assistant.dialogue import Channel
from assistant.payments import load_or_create_secret
from assistant.phone.gateway import LineConfig, LineParts, PhoneLine
from assistant.pipeline import VoicePipeline, understood_by
from assistant.recordings import keeper_for
from assistant.services import Services
from assistant.speech.recognizer import Recognizer
from assistant.speech.tts import Speaker
from assistant.speech.vad import EndpointConfig
from knowledge_base.settings import Settings

PBX_TOKEN_SECRET = "pbx-token"


def pbx_token(settings: Settings) -> str:
    """What the PBX sends to register calls: the setting, else a token made on first run in the data folder."""
    return settings.pbx_token or load_or_create_secret(settings.data_dir, PBX_TOKEN_SECRET).hex()


def token_matches(settings: Settings, offered: str | None) -> bool:
    return bool(offered) and hmac.compare_digest(offered.encode(), pbx_token(settings).encode())  # type: ignore[union-attr]


def line_config(settings: Settings) -> LineConfig:
    return LineConfig(max_calls=settings.max_phone_calls, queue=settings.phone_queue,
                      silence_s=settings.phone_silence_s, recording_notice=settings.recordings_days > 0)


def phone_endpoint(settings: Settings) -> EndpointConfig:
    """End-pointing for callers: the service's pause (elderly callers pause mid-sentence), never shorter."""
    return EndpointConfig(end_silence_s=max(1.2, settings.end_silence_s), max_utterance_s=settings.max_utterance_s)


def build_line(settings: Settings, services: Services, speaker: Speaker, pipeline: Callable[[], VoicePipeline],
               config: LineConfig | None = None) -> PhoneLine:
    parts = LineParts(services.engine, services.conversations, pipeline, speaker, phone_endpoint(settings),
                      understood_by(services.knowledge))
    return PhoneLine(parts, config or line_config(settings))


def standalone_pipeline(settings: Settings, services: Services, speaker: Speaker,
                        recognizer: Recognizer | None) -> Callable[[], VoicePipeline]:
    """The pipeline when the gateway runs without the web service: its own gate and turn threads
    (one at a time on SQLite, which has one writer anyway)."""
    gate = RecognitionGate(settings.recognition_slots, settings.recognition_queue)
    limiters: dict[int, anyio.CapacityLimiter] = {}  # one per event loop (a limiter belongs to its loop)

    async def run_turn(session_id: str | None, text: str, channel: Channel, asr_confidence: float | None,
                       client: str, recording: str | None) -> ConversationReply:
        loop = id(asyncio.get_running_loop())
        if loop not in limiters:
            limiters.clear()
            limiters[loop] = anyio.CapacityLimiter(1 if services.engine.dialect.name == "sqlite" else 2)
        return await anyio.to_thread.run_sync(services.conversations.handle, session_id, text, channel, None,
                                              asr_confidence, client, recording, limiter=limiters[loop])

    pipeline = VoicePipeline(run_turn, gate, recognizer, speaker, keeper_for(services.engine, settings.recordings_days))
    return lambda: pipeline
