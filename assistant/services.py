"""Wire the assistant's parts together from the settings (one place, for CLI and server)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.engine import Engine

from assistant.conversation import ConversationService
from assistant.knowledge import Knowledge
from assistant.settings import Settings
from knowledge_base.db import make_engine
from knowledge_base.seed import seed_database


@dataclass
class Services:
    engine: Engine
    knowledge: Knowledge
    payments: object  # assistant.payments.PaymentService
    provider: object  # the payment provider (the sandbox fake here)
    conversations: ConversationService


def build_services(settings: Settings, engine: Engine | None = None, seed: bool = True) -> Services:
    from assistant.payments import PaymentService, load_or_create_secret
    from assistant.sandbox_provider import SandboxPaymentProvider

    engine = engine or make_engine(settings.resolved_database_url)
    if seed:
        seed_database(engine)  # idempotent: a fresh machine works without a separate init
    knowledge = Knowledge(engine, settings.region)
    provider = SandboxPaymentProvider(load_or_create_secret(settings.data_dir, "sandbox-provider"),
                                      base_url=settings.public_url)
    payments = PaymentService(engine, load_or_create_secret(settings.data_dir, "payment-links"), provider,
                              base_url=settings.public_url, ttl=timedelta(hours=settings.payment_link_hours))
    return Services(engine, knowledge, payments, provider, ConversationService(knowledge, payments))
