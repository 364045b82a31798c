"""Read the knowledge base into plain, immutable values for the pure core."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import col, select

from intents.spec import IntentSpec
from knowledge_base.db import session
from knowledge_base.models import SERVICE_TZ, Account, Bill, Intent, PlannedOutage, ServiceHall, Tariff
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


def find_account(engine: Engine, number: str) -> AccountFacts | None:
    with session(engine) as db:
        row = db.get(Account, number)
    if row is None:
        return None
    return AccountFacts(row.number, row.holder, row.phone, row.area, row.region, row.category,
                        row.balance_fen, row.demo)


def bills_of(engine: Engine, number: str) -> tuple[BillFacts, ...]:
    """The account's bills, newest first."""
    with session(engine) as db:
        rows = db.exec(select(Bill).where(Bill.account_number == number).order_by(col(Bill.month).desc())).all()
    return tuple(BillFacts(b.month, b.kwh, b.amount_fen, b.due_date, b.paid_at is not None) for b in rows)


def outages_in(engine: Engine, area: str, start: datetime, days: int = 7) -> tuple[OutageFacts, ...]:
    """Planned outages in ``area`` that are not over by ``start`` and begin within ``days``.

    Times come back in China Standard Time, as the customer will hear them.
    """
    end = datetime.combine(start.date() + timedelta(days=days), time(), tzinfo=SERVICE_TZ)
    with session(engine) as db:
        rows = db.exec(
            select(PlannedOutage)
            .where(PlannedOutage.area == area, PlannedOutage.ends_at > start, PlannedOutage.starts_at < end)
            .order_by(PlannedOutage.starts_at)
        ).all()
    return tuple(
        OutageFacts(o.area, o.starts_at.astimezone(SERVICE_TZ), o.ends_at.astimezone(SERVICE_TZ), o.reason)
        for o in rows
    )
