"""Load the YAML seed data into the database, idempotently.

Running it twice changes nothing. Intents still marked ``origin="seed"``
follow the YAML (so a shipped fix reaches them); intents an admin has edited
are left alone. Demo accounts are created once, with their bills and the
demo outages placed relative to that day, and never touched again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.engine import Engine
from sqlmodel import select

from intents import ids
from knowledge_base.db import migrate, session
from knowledge_base.intent_schema import IntentItem, read_intent_file
from knowledge_base.knowledge_version import bump_knowledge_version
from knowledge_base.models import Account, Bill, Intent, PlannedOutage, ServiceHall, Tariff, service_today, service_tz, utc_now
from knowledge_base.models import ReminderRule  # daily reminders (issue 14)

DATA_DIR = Path(__file__).parent / "data"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TariffSeed(_Strict):
    region: str
    region_name: str
    category: str = "residential"
    tiers: list[dict[str, Any]]
    peak_valley: dict[str, Any] | None = None


class HallSeed(_Strict):
    name: str
    region: str
    area: str
    address: str
    hours: str
    phone: str


class BillSeed(_Strict):
    month_offset: int = Field(le=0)
    kwh: int = Field(ge=0)
    amount_fen: int = Field(ge=0)
    due_in_days: int
    paid: bool


class AccountSeed(_Strict):
    number: str = Field(pattern=r"^[0-9]{10}$")
    holder: str
    phone: str
    address: str
    area: str
    region: str
    category: str = "residential"
    balance_fen: int = 0
    bills: list[BillSeed] = []


class OutageSeed(_Strict):
    area: str
    starts_in_days: int
    start: time
    end: time
    reason: str


class DemoSeed(_Strict):
    accounts: list[AccountSeed]
    outages: list[OutageSeed] = []


@dataclass
class SeedReport:
    """What one run of seeding changed, for the operator."""

    added: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)

    def count(self, kind: str, table: str) -> None:
        bucket = self.added if kind == "added" else self.updated
        bucket[table] = bucket.get(table, 0) + 1

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated)


def _read_yaml(name: str, data_dir: Path) -> dict[str, Any]:
    with (data_dir / name).open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


class SeedError(ValueError):
    """The shipped YAML is wrong: 小电 refuses to start on it rather than answer from it."""


def load_intent_seeds(data_dir: Path = DATA_DIR) -> list[IntentItem]:
    """The checked intents of ``intents.yaml``, with every intent the code names by id."""
    items, problems = read_intent_file(_read_yaml("intents.yaml", data_dir))
    if problems:
        raise SeedError("intents.yaml: " + " ".join(found["msg"] for found in problems))
    missing = ids.NAMED_IN_CODE - {item.id for item in items}
    if missing:
        raise SeedError(f"intents.yaml lacks intents the code relies on: {', '.join(sorted(missing))}")
    return items


def _month_start(today: date, offset: int) -> str:
    index = today.year * 12 + today.month - 1 + offset
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def _seed_intents(db, seeds: list[IntentItem], report: SeedReport) -> None:  # type: ignore[no-untyped-def]
    existing = {row.id: row for row in db.exec(select(Intent))}
    for seed in seeds:
        values = seed.row_values()
        row = existing.get(seed.id)
        if row is None:
            db.add(Intent(id=seed.id, **values))
            report.count("added", "intent")
        elif row.origin == "seed" and any(getattr(row, k) != v for k, v in values.items()):
            for key, value in values.items():
                setattr(row, key, value)
            row.version += 1
            row.updated_at = utc_now()
            report.count("updated", "intent")


def _seed_tariffs(db, data_dir: Path, report: SeedReport) -> None:  # type: ignore[no-untyped-def]
    existing = {(t.region, t.category) for t in db.exec(select(Tariff))}
    for item in _read_yaml("tariffs.yaml", data_dir)["tariffs"]:
        seed = TariffSeed.model_validate(item)
        if (seed.region, seed.category) not in existing:
            db.add(Tariff(**seed.model_dump()))
            report.count("added", "tariff")


def _seed_halls(db, data_dir: Path, report: SeedReport) -> None:  # type: ignore[no-untyped-def]
    existing = set(db.exec(select(ServiceHall.name)))
    for item in _read_yaml("halls.yaml", data_dir)["halls"]:
        seed = HallSeed.model_validate(item)
        if seed.name not in existing:
            db.add(ServiceHall(**seed.model_dump(), demo=True))
            report.count("added", "service_hall")


def _seed_demo(db, data_dir: Path, today: date, report: SeedReport) -> None:  # type: ignore[no-untyped-def]
    demo = DemoSeed.model_validate(_read_yaml("demo.yaml", data_dir))
    existing = set(db.exec(select(Account.number)))
    zone = service_tz()
    midnight = datetime.combine(today, time(), tzinfo=zone)
    for seed in demo.accounts:
        if seed.number in existing:
            continue
        db.add(Account(**seed.model_dump(exclude={"bills"}), demo=True))
        report.count("added", "account")
        for bill in seed.bills:
            db.add(Bill(
                account_number=seed.number,
                month=_month_start(today, bill.month_offset),
                kwh=bill.kwh,
                amount_fen=bill.amount_fen,
                due_date=today + timedelta(days=bill.due_in_days),
                paid_at=midnight + timedelta(days=bill.due_in_days - 3) if bill.paid else None,
            ))
            report.count("added", "bill")
    if not db.exec(select(PlannedOutage).where(PlannedOutage.demo == True)).first():  # noqa: E712
        for outage in demo.outages:
            day = today + timedelta(days=outage.starts_in_days)
            db.add(PlannedOutage(
                area=outage.area,
                starts_at=datetime.combine(day, outage.start, tzinfo=zone),
                ends_at=datetime.combine(day, outage.end, tzinfo=zone),
                reason=outage.reason,
                demo=True,
            ))
            report.count("added", "planned_outage")


class ReminderRuleSeed(_Strict):
    """A daily reminder rule (issue 14); its kind is the id (assistant/reminders/rules.py)."""

    id: str
    title: str
    days: int = Field(default=3, ge=0)
    threshold_fen: int = Field(default=0, ge=0)
    sms_text: str
    spoken_text: str
    family_text: str
    kiosk_text: str = ""


def _seed_reminder_rules(db, data_dir: Path, report: SeedReport) -> None:  # type: ignore[no-untyped-def]
    """Rules missing from the table are added; existing ones (maybe edited by an admin) are left alone."""
    if not (data_dir / "reminder_rules.yaml").exists():
        return
    existing = set(db.exec(select(ReminderRule.id)))
    for item in _read_yaml("reminder_rules.yaml", data_dir)["rules"]:
        seed = ReminderRuleSeed.model_validate(item)
        if seed.id not in existing:
            db.add(ReminderRule(**seed.model_dump()))
            report.count("added", "reminder_rule")


def seed_database(engine: Engine, data_dir: Path = DATA_DIR, today: date | None = None,
                  include_demo: bool = True) -> SeedReport:
    """Create the tables and load the seed data; safe to run any number of times."""
    migrate(engine)  # create or upgrade the tables (Alembic), keeping the data
    report = SeedReport()
    with session(engine) as db:
        _seed_tariffs(db, data_dir, report)
        _seed_halls(db, data_dir, report)
        _seed_intents(db, load_intent_seeds(data_dir), report)
        _seed_reminder_rules(db, data_dir, report)
        if include_demo:
            _seed_demo(db, data_dir, today or service_today(), report)
        if report.changed:  # running workers reload what this seeding changed
            bump_knowledge_version(db)
        db.commit()
    return report
