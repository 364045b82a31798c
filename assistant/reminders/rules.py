"""The kinds of reminder, and who is due for each: one set-based SQL query per rule.

Rules are data (table ``reminderrule``): an admin switches them on and off and sets their
figures (``days``, ``threshold_fen``) and wording. What a kind *means* is code, here, as a
SELECT over a range of 户号 that returns one row per (account, period) due, with the facts
the message needs. Nothing is loaded row by row into Python: the run inserts these rows
straight into the outbox (``run.py``), so memory does not grow with the number of accounts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Date, Integer, String, and_, cast, func, literal, null, or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.sql import Select

from knowledge_base.models import Account, Bill, PlannedOutage, ReminderRule, ReminderSubscription, service_tz

_S = ReminderSubscription.__table__.c  # type: ignore[attr-defined]
_A = Account.__table__.c  # type: ignore[attr-defined]
_B = Bill.__table__.c  # type: ignore[attr-defined]
_O = PlannedOutage.__table__.c  # type: ignore[attr-defined]
_R = ReminderRule.__table__.c  # type: ignore[attr-defined]

BILL_ISSUED = "bill_issued"
DUE_SOON = "due_soon"
OVERDUE = "overdue"
LOW_BALANCE = "low_balance"
OUTAGE_TOMORROW = "outage_tomorrow"
PAYMENT_THANKS = "payment_thanks"
RULE_KINDS = (BILL_ISSUED, DUE_SOON, OVERDUE, LOW_BALANCE, OUTAGE_TOMORROW, PAYMENT_THANKS)
# Reminders about money owed: their SMS carries the one-tap payment link.
MONEY_RULES = frozenset({BILL_ISSUED, DUE_SOON, OVERDUE})
# What ``days`` and ``threshold_fen`` mean for each kind, for the admin page.
FIGURES = {
    BILL_ISSUED: ("只在离到期还有多于N天时发（再近就由“快到期”提醒）", ""),
    DUE_SOON: ("到期前N天内提醒", ""),
    OVERDUE: ("逾期后再过N天停电（提醒里读出的停电日期）", ""),
    LOW_BALANCE: ("按最近用电量估计N天内用完就提醒（每周最多一次）", "余额低于这个数（分）也提醒"),
    OUTAGE_TOMORROW: ("（不用）", ""),
    PAYMENT_THANKS: ("N天内交的费才发感谢", ""),
}
DAYS_PER_BILL = 30  # a bill covers about a month: the daily use estimate divides by this


@dataclass(frozen=True, slots=True)
class RuleSpec:
    id: str
    days: int
    threshold_fen: int


@dataclass(frozen=True, slots=True)
class Moment:
    """The run's clock, explicit (tests freeze it): ``now`` aware, ``today`` and the minute in the service zone."""

    now: datetime
    today: date
    minute: int  # minutes after local midnight

    @classmethod
    def at(cls, now: datetime) -> "Moment":
        local = now.astimezone(service_tz())
        return cls(now, local.date(), local.hour * 60 + local.minute)

    def local_midnight(self, offset_days: int = 0) -> datetime:
        return datetime.combine(self.today + timedelta(days=offset_days), time(), tzinfo=service_tz())


def enabled_rules(connection: Connection) -> list[RuleSpec]:
    rows = connection.execute(select(_R.id, _R.days, _R.threshold_fen).where(_R.enabled).order_by(_R.id)).all()
    return [RuleSpec(row.id, row.days, row.threshold_fen) for row in rows if row.id in RULE_KINDS]


def previous_month(today: date) -> str:
    index = today.year * 12 + today.month - 2
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def iso_week(today: date) -> str:
    year, week, _ = today.isocalendar()
    return f"{year}-W{week:02d}"


def in_quiet_hours(start: int, end: int, minute: int) -> bool:
    """Quiet hours may wrap midnight (21:00–08:00) or not (12:00–14:00); start == end means none."""
    if start <= end:
        return start <= minute < end
    return minute >= start or minute < end


def quiet_now(minute: int) -> Any:
    """``in_quiet_hours`` as SQL over the subscription's own quiet hours."""
    now = literal(minute, Integer)
    start, end = _S.quiet_start_minute, _S.quiet_end_minute
    return or_(and_(start <= end, start <= now, now < end), and_(start > end, or_(now >= start, now < end)))


def candidates(rule: RuleSpec, moment: Moment, lo: str, hi: str) -> Select[Any]:
    """Rows (account_number, period, amount_fen, due_date, outage_id, channel, active, quiet), one per
    reminder of this rule due now for subscriptions with lo < 户号 <= hi, opted-out ones included
    (the run counts them, and skips them)."""
    in_range = and_(_S.account_number > lo, _S.account_number <= hi)
    no_date = cast(null(), Date)
    no_outage = cast(null(), Integer)
    today = literal(moment.today, Date)
    if rule.id in (BILL_ISSUED, DUE_SOON, OVERDUE, PAYMENT_THANKS):
        source = ReminderSubscription.__table__.join(Bill.__table__, _B.account_number == _S.account_number)  # type: ignore[attr-defined]
        unpaid = _B.paid_at.is_(None)
        if rule.id == BILL_ISSUED:
            when = and_(unpaid, _B.month == previous_month(moment.today),
                        _B.due_date > literal(moment.today + timedelta(days=rule.days), Date))
        elif rule.id == DUE_SOON:
            when = and_(unpaid, _B.due_date >= today,
                        _B.due_date <= literal(moment.today + timedelta(days=rule.days), Date))
        elif rule.id == OVERDUE:
            when = and_(unpaid, _B.due_date < today)
        else:
            when = and_(_B.paid_at >= literal(moment.now - timedelta(days=rule.days), _B.paid_at.type),
                        _B.paid_at <= literal(moment.now, _B.paid_at.type))
        # The range on the bills too: the planner then reads this chunk's bills by index, not all of them.
        bills_in_range = and_(_B.account_number > lo, _B.account_number <= hi)
        return _rows(source, cast(_B.month, String), _B.amount_fen, _B.due_date, no_outage, moment,
                     and_(in_range, bills_in_range, when))
    if rule.id == LOW_BALANCE:
        # Recent daily use: last month's bill / 30 (joined, not looked up account by account).
        last_bill = and_(_B.account_number == _A.number, _B.month == previous_month(moment.today))
        source = (ReminderSubscription.__table__  # type: ignore[attr-defined]
                  .join(Account.__table__, _A.number == _S.account_number)  # type: ignore[attr-defined]
                  .outerjoin(Bill.__table__, last_bill))  # type: ignore[attr-defined]
        # balance < days × (bill / 30), kept in integers: balance × 30 < days × bill
        runs_out = _A.balance_fen * DAYS_PER_BILL < func.coalesce(_B.amount_fen, 0) * rule.days
        when = and_(_A.balance_fen > 0, or_(_A.balance_fen < rule.threshold_fen, runs_out))
        return _rows(source, literal(iso_week(moment.today), String), _A.balance_fen, no_date, no_outage, moment,
                     and_(in_range, _A.number > lo, _A.number <= hi, when))
    if rule.id == OUTAGE_TOMORROW:
        source = (ReminderSubscription.__table__  # type: ignore[attr-defined]
                  .join(Account.__table__, _A.number == _S.account_number)  # type: ignore[attr-defined]
                  .join(PlannedOutage.__table__, _O.area == _A.area))  # type: ignore[attr-defined]
        when = and_(_O.starts_at >= literal(moment.local_midnight(1), _O.starts_at.type),
                    _O.starts_at < literal(moment.local_midnight(2), _O.starts_at.type))
        period = literal("outage-", String) + cast(_O.id, String)
        return _rows(source, period, literal(0, Integer), no_date, _O.id, moment,
                     and_(in_range, _A.number > lo, _A.number <= hi, when))
    raise ValueError(f"unknown reminder rule {rule.id!r}")


def _rows(source: Any, period: Any, amount: Any, due: Any, outage: Any, moment: Moment, where: Any) -> Select[Any]:
    return (select(_S.account_number.label("account_number"), period.label("period"), amount.label("amount_fen"),
                   due.label("due_date"), outage.label("outage_id"), _S.channel.label("channel"),
                   _S.active.label("active"), quiet_now(moment.minute).label("quiet"))
            .select_from(source).where(where))
