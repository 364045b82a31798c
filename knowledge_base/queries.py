"""Read the knowledge base into plain, immutable values for the pure core."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy.engine import Connection, Engine
from sqlalchemy import select as sql_select
from sqlmodel import select

from intents.spec import IntentSpec
from knowledge_base.db import session
from knowledge_base.models import Account, Bill, Intent, PlannedOutage, ServiceHall, Tariff, service_tz
from knowledge_base.tariff import TariffTable


@dataclass(frozen=True, slots=True)
class IntentAnswers:
    id: str
    title: str
    action: str
    needs_account: bool
    display: str
    spoken: str | None
    account_display: str | None
    account_spoken: str | None


@dataclass(frozen=True, slots=True)
class AccountFacts:
    number: str
    holder: str
    phone: str
    area: str
    region: str
    category: str
    balance_fen: int
    demo: bool


@dataclass(frozen=True, slots=True)
class BillFacts:
    month: str  # YYYY-MM
    kwh: int
    amount_fen: int
    due_date: date
    paid: bool


@dataclass(frozen=True, slots=True)
class OutageFacts:
    area: str
    starts_at: datetime
    ends_at: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class HallFacts:
    name: str
    area: str
    address: str
    hours: str
    phone: str


@dataclass(frozen=True, slots=True)
class KnowledgeSnapshot:
    """Everything that is the same for every customer: loaded once, replaced on edit."""

    specs: tuple[IntentSpec, ...]
    answers: dict[str, IntentAnswers]
    tariffs: dict[tuple[str, str], TariffTable]
    halls: tuple[HallFacts, ...]

    def tariff_for(self, region: str, category: str = "residential") -> TariffTable | None:
        return self.tariffs.get((region, category)) or self.tariffs.get((region, "residential"))

    def hall_for(self, area: str | None) -> HallFacts | None:
        for hall in self.halls:
            if area and hall.area == area:
                return hall
        return self.halls[0] if self.halls else None


def load_snapshot(engine: Engine, default_region: str = "jiangsu") -> KnowledgeSnapshot:
    with session(engine) as db:
        intents = db.exec(select(Intent).where(Intent.enabled == True).order_by(Intent.id)).all()  # noqa: E712
        tariffs = db.exec(select(Tariff)).all()
        halls = db.exec(select(ServiceHall).order_by(ServiceHall.id)).all()
    specs = tuple(IntentSpec(i.id, tuple(i.examples), tuple(i.keywords)) for i in intents)
    answers = {
        i.id: IntentAnswers(i.id, i.title, i.action, i.needs_account, i.answer_display, i.answer_spoken,
                            i.answer_account_display, i.answer_account_spoken)
        for i in intents
    }
    tables = {
        (t.region, t.category): TariffTable.from_record(t.region, t.region_name, t.category, t.tiers, t.peak_valley)
        for t in tariffs
    }
    # The default region's halls first, so a customer with no account hears a local hall.
    ordered = sorted(halls, key=lambda h: h.region != default_region)
    hall_facts = tuple(HallFacts(h.name, h.area, h.address, h.hours, h.phone) for h in ordered)
    return KnowledgeSnapshot(specs, answers, tables, hall_facts)


# The look-ups below run on every turn that knows an account, so they are plain SQL
# expressions on a connection (no ORM session, identity map or model objects): the same
# rows and values at about half the cost.

_ACCOUNT = Account.__table__.c  # type: ignore[attr-defined]
_BILL = Bill.__table__.c  # type: ignore[attr-defined]
_OUTAGE = PlannedOutage.__table__.c  # type: ignore[attr-defined]
_FIND_ACCOUNT = sql_select(_ACCOUNT.number, _ACCOUNT.holder, _ACCOUNT.phone, _ACCOUNT.area, _ACCOUNT.region,
                           _ACCOUNT.category, _ACCOUNT.balance_fen, _ACCOUNT.demo)
_BILLS = sql_select(_BILL.month, _BILL.kwh, _BILL.amount_fen, _BILL.due_date, _BILL.paid_at).order_by(
    _BILL.month.desc())
_OUTAGES = sql_select(_OUTAGE.area, _OUTAGE.starts_at, _OUTAGE.ends_at, _OUTAGE.reason).order_by(_OUTAGE.starts_at)


def customer_records(engine: Engine, number: str, today: date) -> tuple[
        AccountFacts | None, tuple[BillFacts, ...], tuple[OutageFacts, ...]]:
    """The account, its bills (newest first) and its area's planned outages from the start of ``today``
    for a week (times in the service's zone), read on one connection: what one conversation turn needs.

    ``(None, (), ())`` when there is no such account.
    """
    with engine.connect() as connection:
        account = _account(connection, number)
        if account is None:
            return None, (), ()
        start = datetime.combine(today, time(), tzinfo=service_tz())
        return account, _bills(connection, number), _outages(connection, account.area, start)


def _account(connection: Connection, number: str) -> AccountFacts | None:
    row = connection.execute(_FIND_ACCOUNT.where(_ACCOUNT.number == number)).first()
    return None if row is None else AccountFacts(**row._mapping)


def _bills(connection: Connection, number: str) -> tuple[BillFacts, ...]:
    rows = connection.execute(_BILLS.where(_BILL.account_number == number)).all()
    return tuple(BillFacts(month, kwh, amount_fen, due_date, paid_at is not None)
                 for month, kwh, amount_fen, due_date, paid_at in rows)


def _outages(connection: Connection, area: str, start: datetime, days: int = 7) -> tuple[OutageFacts, ...]:
    zone = service_tz()
    end = datetime.combine(start.date() + timedelta(days=days), time(), tzinfo=zone)
    rows = connection.execute(
        _OUTAGES.where(_OUTAGE.area == area, _OUTAGE.ends_at > start, _OUTAGE.starts_at < end)).all()
    return tuple(OutageFacts(area, starts_at.astimezone(zone), ends_at.astimezone(zone), reason)
                 for area, starts_at, ends_at, reason in rows)
