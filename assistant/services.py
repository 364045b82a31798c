"""Wire the assistant's parts together from the settings (one place, for CLI and server)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.engine import Engine

from assistant.conversation import ConversationService
from assistant.handoffs import HandoffDesk
from assistant.identity import limits_from
from assistant.knowledge import Knowledge
from assistant.settings import Settings
from assistant.sms import sms_sender
from knowledge_base.db import make_engine
from knowledge_base.seed import seed_database


@dataclass
class Services:
    engine: Engine
    knowledge: Knowledge
    payments: object  # assistant.payments.PaymentService
    provider: object | None  # chosen by XIAODIAN_PAYMENT_PROVIDER (assistant.providers); None: links only
    conversations: ConversationService


def build_services(settings: Settings, engine: Engine | None = None, seed: bool = True,
                   provider_required: bool = True) -> Services:
    """``provider_required=False`` (the terminal conversation) still issues payment links when no
    provider may run here (the sandbox outside demo mode): a link is a database row and a signed
    token, and only the service, which does need a provider, takes money for it."""
    from assistant.payments import PaymentService, load_or_create_secret
    from assistant.providers import ConfigurationError, build_provider, check_payment_settings

    try:
        check_payment_settings(settings)  # before anything is opened: a refused setting changes nothing
        provider_allowed = True
    except ConfigurationError:
        if provider_required:
            raise
        provider_allowed = False
    engine = engine or make_engine(settings.resolved_database_url)
    if seed:
        seed_database(engine)  # idempotent: a fresh machine works without a separate init
    knowledge = Knowledge(engine, settings.region)
    provider = build_provider(settings, engine) if provider_allowed else None
    payments = PaymentService(engine, load_or_create_secret(settings.data_dir, "payment-links"), provider,
                              base_url=settings.public_url, ttl=timedelta(hours=settings.payment_link_hours))
    conversations = ConversationService(knowledge, payments, sms=sms_sender(settings), limits=limits_from(settings),
                                        handoffs=HandoffDesk(settings.max_handoffs_per_client_hour))
    return Services(engine, knowledge, payments, provider, conversations)
