"""The reminders' parts put together from the settings, for the CLI and the service."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from assistant.payments import load_or_create_secret
from assistant.reminders.links import link_url
from assistant.reminders.outbox import ReminderOutbox
from assistant.reminders.scheduler import ReminderJobs, ReminderScheduler
from assistant.reminders.senders import build_senders
from knowledge_base.settings import Settings


def build_outbox(settings: Settings, engine: Engine) -> ReminderOutbox:
    """The outbox with this configuration's senders and short payment links."""
    key = load_or_create_secret(settings.data_dir, "payment-links")
    return ReminderOutbox(engine, build_senders(settings), max_attempts=settings.reminder_max_attempts,
                          retry_base_s=settings.reminder_retry_base_s,
                          link_for=lambda message_id: link_url(settings.public_url, key, message_id))


def channel_budgets(settings: Settings, interval_s: float) -> dict[str, int]:
    """Messages per channel allowed in one round of the drain, from the per-minute rates."""
    sms = max(1, int(settings.reminder_sms_per_minute * interval_s / 60))
    calls = max(1, int(settings.reminder_calls_per_minute * interval_s / 60))
    return {"sms": sms, "family": sms, "call": calls, "kiosk": 4 * sms}  # notices only wait in the hall


def start_in_service(settings: Settings, engine: Engine) -> ReminderScheduler:
    """The daily run on ``reminder_cron`` and the drain every ``reminder_drain_interval_s``, started."""
    jobs = ReminderJobs(engine, build_outbox(settings, engine),
                        channel_budgets(settings, settings.reminder_drain_interval_s), settings.reminder_batch_accounts)
    scheduler = ReminderScheduler(jobs, settings.reminder_cron, settings.reminder_drain_interval_s)
    scheduler.start()
    return scheduler
