"""Shared by the reminder tests: subscriptions on the seeded demo accounts, a frozen clock, counts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from knowledge_base.db import session
from knowledge_base.models import SERVICE_TZ, ReminderMessage, ReminderSubscription

DEMO_ACCOUNTS = ("3201000001", "3201000002", "3201000003", "1101000004")


def at(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    """A moment in the service zone, November 2026 (tests.conftest.TODAY is 2026-11-22)."""
    return datetime(2026, month, day, hour, minute, tzinfo=SERVICE_TZ)


def subscribe(engine: Engine, number: str, **preferences: Any) -> None:
    with session(engine) as db:
        row = db.get(ReminderSubscription, number) or ReminderSubscription(account_number=number)
        for name, value in preferences.items():
            setattr(row, name, value)
        db.add(row)
        db.commit()


def queued(engine: Engine) -> list[tuple[str, str, str]]:
    """(户号, rule, period) of every outbox row, sorted."""
    with session(engine) as db:
        rows = db.exec(select(ReminderMessage.account_number, ReminderMessage.rule_id, ReminderMessage.period)).all()
    return sorted(tuple(row) for row in rows)


def count_messages(engine: Engine) -> int:
    with session(engine) as db:
        return db.exec(select(func.count()).select_from(ReminderMessage)).one()[0]
