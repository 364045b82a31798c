"""The composition root: the assistant's parts wired together from the settings, for the CLI and the server alike."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy.engine import Engine

from assistant.conversation import ConversationService
from assistant.handoffs import HandoffDesk
from assistant.identity import limits_from
from assistant.knowledge import Knowledge
from assistant.payments import PaymentService, load_or_create_secret
from assistant.providers import ConfigurationError, PaymentProvider, build_provider, check_payment_settings
from knowledge_base.settings import Settings
from assistant.sms import sms_sender
from assistant.spoken_answers import SpeechRegistry
from assistant.voice_settings import VoiceSettings
from knowledge_base.db import make_engine
from knowledge_base.seed import seed_database

if TYPE_CHECKING:  # the voice (scipy, espeak) is loaded only where speech is made, not for a typed chat
    from assistant.speech.tts import Speaker


@dataclass
class Services:
    engine: Engine
    knowledge: Knowledge
    payments: PaymentService
    provider: PaymentProvider | None  # chosen by XIAODIAN_PAYMENT_PROVIDER; None: links only
    conversations: ConversationService
    speech: SpeechRegistry  # speech ids any worker can serve


def build_knowledge(settings: Settings, engine: Engine, seed: bool = True) -> Knowledge:
    """The knowledge base and its matcher."""
    if seed:
        seed_database(engine)  # idempotent: a fresh machine works without a separate init
    return Knowledge(engine, settings.region)


def configured_voice(settings: Settings) -> VoiceSettings:
    """How every conversation starts speaking (``XIAODIAN_VOICE_RATE``, ``XIAODIAN_VOICE_VOLUME``)."""
    return VoiceSettings(rate=settings.voice_rate, volume=settings.voice_volume)


def make_speaker(settings: Settings) -> Speaker:
    """The voice every channel speaks with (``XIAODIAN_VOICE``), its audio cached on disk; the choice
    is logged, and said plainly when the natural voice is missing and espeak-ng speaks instead."""
    from assistant.speech.tts import Speaker
    from assistant.speech.voices import choose_voice

    choice = choose_voice(settings.voice)
    logging.getLogger("xiaodian.voice").log(logging.WARNING if choice.fell_back else logging.INFO,
                                            "%s", choice.announcement)
    return Speaker(choice.voice, settings.speech_cache_dir)


def build_services(settings: Settings, engine: Engine | None = None, seed: bool = True,
                   provider_required: bool = True) -> Services:
    """``provider_required=False`` (the terminal conversation) still issues payment links when no
    provider may run here (the sandbox outside demo mode): a link is a database row and a signed
    token, and only the service, which does need a provider, takes money for it."""
    try:
        check_payment_settings(settings)  # before anything is opened: a refused setting changes nothing
        provider_allowed = True
    except ConfigurationError:
        if provider_required:
            raise
        provider_allowed = False
    engine = engine or make_engine(settings.resolved_database_url)
    knowledge = build_knowledge(settings, engine, seed)
    provider = build_provider(settings, engine) if provider_allowed else None
    payments = PaymentService(engine, load_or_create_secret(settings.data_dir, "payment-links"), provider,
                              base_url=settings.public_url, ttl=timedelta(hours=settings.payment_link_hours))
    conversations = ConversationService(knowledge, payments, sms=sms_sender(settings), limits=limits_from(settings),
                                        handoffs=HandoffDesk(settings.max_handoffs_per_client_hour),
                                        voice=configured_voice(settings))
    return Services(engine, knowledge, payments, provider, conversations, SpeechRegistry(engine))
