"""Delivering the reminders outbox: queued → sending → sent, or retried, or the next channel, or failed.

- **Once**: a sender takes rows by switching them to "sending" with a lease, in one short
  transaction (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, SQLite's write lock otherwise), so two
  senders never take the same row. A sender killed mid-way leaves its rows "sending"; when the
  lease runs out they are taken again (the HTTP gateway gets the dedup key as ``ref``).
- **Quiet hours at send time**: a row is taken only outside the customer's quiet hours and not
  before their preferred time on the day it was queued; one queued at 20:59 waits till morning.
- **Opt-out at once**: messages of a customer who opted out are cancelled, never sent.
- **Retries**: a failure waits retry_base × 2^attempts; after max_attempts on a channel, or a
  permanent failure, the customer's next channel is tried; after the last, "failed".
- **Rate limits**: at most ``budget[channel]`` rows per call of ``send_due``; the drain loop
  calls it every interval, so the budget per interval is the channel's rate.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable

from sqlalchemy import and_, not_, or_, select, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from assistant.reminders.rules import LOW_BALANCE, MONEY_RULES, Moment, previous_month, quiet_now
from assistant.reminders.senders import DeliveryError, Outgoing, ReminderSender
from assistant.reminders.texts import MessageFacts, Outage, render, sms_text
from knowledge_base.models import (Account, Bill, PlannedOutage, ReminderMessage, ReminderRule,
                                   ReminderSubscription, service_tz)

logger = logging.getLogger(__name__)

_M = ReminderMessage.__table__  # type: ignore[attr-defined]
_S = ReminderSubscription.__table__.c  # type: ignore[attr-defined]
CHANNELS = ("call", "sms", "family", "kiosk")
LEASE = timedelta(minutes=5)


def channel_order(subscription: ReminderSubscription) -> list[str]:
    """The customer's channels in order of preference (the primary ``channel`` first)."""
    listed = [name.strip() for name in subscription.channels.split(",") if name.strip() in CHANNELS]
    ordered = [subscription.channel] + [name for name in listed if name != subscription.channel]
    return [name for name in dict.fromkeys(ordered) if name in CHANNELS]


@dataclass
class DrainReport:
    sent: int = 0
    retried: int = 0
    fell_back: int = 0
    failed: int = 0
    cancelled: int = 0

    @property
    def taken(self) -> int:
        return self.sent + self.retried + self.fell_back + self.failed + self.cancelled


class ReminderOutbox:
    def __init__(self, engine: Engine, senders: dict[str, ReminderSender | None], *, max_attempts: int = 4,
                 retry_base_s: float = 60.0, link_for: Callable[[int], str] | None = None) -> None:
        self.engine = engine
        self.senders = senders
        self.max_attempts = max_attempts
        self.retry_base = timedelta(seconds=retry_base_s)
        self.link_for = link_for

    def cancel_opted_out(self, now: datetime) -> int:
        opted_out = select(_S.account_number).where(not_(_S.active))
        with self.engine.begin() as connection:
            return connection.execute(
                update(_M).where(_M.c.status.in_(("queued", "sending")), _M.c.account_number.in_(opted_out))
                .values(status="cancelled", last_error="客户已取消提醒", claimed_until=None)).rowcount

    def claim(self, now: datetime, channel: str, limit: int) -> list[int]:
        """Take up to ``limit`` rows of this channel whose time has come (see the module's notes)."""
        if limit <= 0:
            return []
        moment = Moment.at(now)
        ready = or_(
            and_(_M.c.status == "queued", or_(_M.c.next_attempt_at.is_(None), _M.c.next_attempt_at <= now)),
            and_(_M.c.status == "sending", _M.c.claimed_until < now))
        allowed = and_(_S.active, not_(quiet_now(moment.minute)),
                       or_(_S.preferred_minute <= moment.minute, _M.c.run_date < moment.today))
        query = (select(_M.c.id).select_from(_M.join(ReminderSubscription.__table__,  # type: ignore[attr-defined]
                                                      _S.account_number == _M.c.account_number))
                 .where(_M.c.channel == channel, ready, allowed).order_by(_M.c.id).limit(limit))
        with self.engine.connect() as connection:
            if connection.dialect.name == "sqlite":
                connection.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                query = query.with_for_update(of=_M, skip_locked=True)
            ids = list(connection.execute(query).scalars())
            if ids:
                connection.execute(update(_M).where(_M.c.id.in_(ids))
                                   .values(status="sending", claimed_until=now + LEASE))
            connection.commit()
        return ids

    def send_due(self, now: datetime, budgets: dict[str, int]) -> DrainReport:
        report = DrainReport()
        report.cancelled += self.cancel_opted_out(now)
        for channel in CHANNELS:
            for message_id in self.claim(now, channel, budgets.get(channel, 0)):
                self._deliver(message_id, now, report)
        return report

    def drain(self, now: Callable[[], datetime], budgets: dict[str, int], max_rounds: int = 1000) -> DrainReport:
        """Send until nothing more may go now (``xiaodian reminders send``)."""
        total = DrainReport()
        for _ in range(max_rounds):
            report = self.send_due(now(), budgets)
            for name in ("sent", "retried", "fell_back", "failed", "cancelled"):
                setattr(total, name, getattr(total, name) + getattr(report, name))
            if report.taken == 0:
                break
        return total

    # -- one message

    def _deliver(self, message_id: int, now: datetime, report: DrainReport) -> None:
        with Session(self.engine, expire_on_commit=False) as db:
            message = db.get(ReminderMessage, message_id)
            if message is None or message.status != "sending":
                return
            subscription = db.get(ReminderSubscription, message.account_number)
            account = db.get(Account, message.account_number)
            rule = db.get(ReminderRule, message.rule_id)
            if subscription is None or not subscription.active or account is None or rule is None:
                message.status, message.last_error = "cancelled", "客户已取消提醒或规则已删除"
                db.add(message)
                db.commit()
                report.cancelled += 1
                return
            sender = self.senders.get(message.channel)
            order = channel_order(subscription)
            try:
                if sender is None:
                    raise DeliveryError(f"这里没有配置“{message.channel}”渠道", permanent=True)
                outgoing = self._outgoing(db, message, subscription, account, rule, now)
                delivered = sender.deliver(db, outgoing)
                message.status, message.sent_at, message.claimed_until = "sent", now, None
                message.recipient, message.text, message.last_error = delivered.recipient[:32], outgoing.text, ""
                db.add(message)
                db.commit()
                report.sent += 1
                return
            except DeliveryError as error:
                db.rollback()
                self._failed(message_id, order, error, now, report)

    def _failed(self, message_id: int, order: list[str], error: DeliveryError, now: datetime,
                report: DrainReport) -> None:
        with Session(self.engine, expire_on_commit=False) as db:
            message = db.get(ReminderMessage, message_id)
            assert message is not None
            message.attempts += 1
            message.last_error = f"{message.channel}: {error.reason}"[:500]
            message.claimed_until = None
            if not error.permanent and message.attempts < self.max_attempts:
                message.status = "queued"
                message.next_attempt_at = now + self.retry_base * (2 ** (message.attempts - 1))
                report.retried += 1
            else:
                later = order[order.index(message.channel) + 1:] if message.channel in order else []
                if later:
                    message.channel, message.attempts, message.status = later[0], 0, "queued"
                    message.next_attempt_at = None
                    report.fell_back += 1
                else:
                    message.status = "failed"
                    report.failed += 1
            db.add(message)
            db.commit()
        logger.info("reminder %s not delivered: %s", message_id, error.reason)

    def _outgoing(self, db: Session, message: ReminderMessage, subscription: ReminderSubscription,
                  account: Account, rule: ReminderRule, now: datetime) -> Outgoing:
        moment = Moment.at(now)
        latest = 0
        if message.rule_id == LOW_BALANCE:
            latest = db.exec(select(Bill.amount_fen).where(  # type: ignore[call-overload]
                col(Bill.account_number) == account.number,
                col(Bill.month) == previous_month(message.run_date))).scalar() or 0  # as the rule reckoned it
        outage = None
        if message.outage_id is not None:
            row = db.get(PlannedOutage, message.outage_id)
            if row is not None:
                zone = service_tz()
                outage = Outage(row.area, _aware(row.starts_at).astimezone(zone), _aware(row.ends_at).astimezone(zone),
                                row.reason)
        written = message.channel in ("sms", "family")
        link = ""
        if written and message.rule_id in MONEY_RULES and self.link_for is not None and message.id is not None:
            link = self.link_for(message.id)
        facts = MessageFacts(message.rule_id, account.holder, account.number, moment.today, message.period,
                             message.amount_fen, message.due_date, rule.days, latest, account.area, outage, link)
        if message.channel == "sms":
            return Outgoing(message.dedup_key, account.number, "sms", account.phone, sms_text(rule.sms_text, facts))
        if message.channel == "family":
            return Outgoing(message.dedup_key, account.number, "family", subscription.family_phone,
                            sms_text(rule.family_text, facts, family=True))
        if message.channel == "call":
            return Outgoing(message.dedup_key, account.number, "call", account.phone, render(rule.spoken_text, facts))
        return Outgoing(message.dedup_key, account.number, "kiosk", "",
                        render(rule.kiosk_text or rule.sms_text, facts))


def _aware(moment: datetime) -> datetime:
    from datetime import timezone

    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def kiosk_notices(engine: Engine, account_number: str, now: datetime) -> list[str]:
    """Reminders waiting for this customer's card at the hall: returned once, then marked shown."""
    with Session(engine) as db:
        rows = list(db.exec(select(ReminderMessage).where(  # type: ignore[call-overload]
            col(ReminderMessage.account_number) == account_number, col(ReminderMessage.channel) == "kiosk",
            col(ReminderMessage.status) == "sent", col(ReminderMessage.shown_at).is_(None))).scalars())
        for row in rows:
            row.shown_at = now
            db.add(row)
        db.commit()
        return [row.text for row in rows]
