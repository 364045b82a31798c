"""Database tables. Money is integer fen; prices are decimal strings (exact)."""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel


# Wall-clock times customers hear (outages, due dates) are China Standard Time;
# the database stores every moment as aware UTC.
SERVICE_TZ = ZoneInfo("Asia/Shanghai")


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class Intent(SQLModel, table=True):
    """An FAQ intent: how customers say it and how 小电 answers.

    Answers are templates; ``{field}`` names are filled from the account and
    the knowledge base (see ``assistant.answers``). The ``*_spoken`` variants
    are read aloud when the display text would not sound right; when empty
    the display text is spoken.
    """

    id: str = Field(primary_key=True, max_length=64)
    title: str
    description: str = ""
    examples: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    keywords: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    answer_display: str
    answer_spoken: str | None = None
    answer_account_display: str | None = None
    answer_account_spoken: str | None = None
    action: str
    needs_account: bool = False
    enabled: bool = True
    # "seed" rows follow the shipped YAML; once an admin edits a row it becomes
    # "admin" and later seeding leaves it alone.
    origin: str = "seed"
    version: int = 1  # bumped on every edit, for optimistic concurrency
    updated_at: datetime = Field(default_factory=utc_now)


class Tariff(SQLModel, table=True):
    """Residential (or other category) tariff of one region.

    ``tiers`` is a list of {"upto_month": int | null, "upto_year": int | null,
    "price": "0.5283"}, lowest tier first, the last one open-ended.
    ``peak_valley`` is null or {"periods": [{"name", "start", "end", "price"}],
    "tier_surcharges": ["0", "0.05", "0.30"]}.
    """

    __table_args__ = (UniqueConstraint("region", "category"),)

    id: int | None = Field(default=None, primary_key=True)
    region: str = Field(index=True)
    region_name: str
    category: str = "residential"
    tiers: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    peak_valley: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    source: str = ""


class ServiceHall(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True)
    region: str = "jiangsu"
    area: str = Field(index=True)
    address: str
    hours: str
    phone: str
    demo: bool = True


class Account(SQLModel, table=True):
    number: str = Field(primary_key=True, min_length=10, max_length=10)  # 户号
    holder: str
    phone: str
    address: str
    area: str = Field(index=True)
    region: str = "jiangsu"
    category: str = "residential"
    balance_fen: int = 0  # prepaid balance
    demo: bool = False
    created_at: datetime = Field(default_factory=utc_now)


class Bill(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("account_number", "month"),)

    id: int | None = Field(default=None, primary_key=True)
    account_number: str = Field(foreign_key="account.number", index=True)
    month: str  # YYYY-MM
    kwh: int
    amount_fen: int
    due_date: date
    paid_at: datetime | None = None


class PlannedOutage(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    area: str = Field(index=True)
    starts_at: datetime
    ends_at: datetime
    reason: str
    demo: bool = False


# --- The conversation's records: payments, handoffs, the turn log ---------------


class PaymentLink(SQLModel, table=True):
    """A one-tap payment link: the amount is fixed here, never by the page."""

    id: str = Field(primary_key=True, max_length=32)  # random, also the provider's out_trade_no
    account_number: str = Field(foreign_key="account.number", index=True)
    bill_ids: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    amount_fen: int
    channel: str = "kiosk"
    session_id: str | None = None
    created_at: datetime = Field(default_factory=utc_now)
    expires_at: datetime
    status: str = "open"  # open → paying → paid; or expired / cancelled
    paid_at: datetime | None = None


class Payment(SQLModel, table=True):
    """The ledger: one row per provider transaction, never two for the same one."""

    id: int | None = Field(default=None, primary_key=True)
    link_id: str = Field(foreign_key="paymentlink.id", index=True)
    provider: str
    provider_transaction_id: str = Field(unique=True)  # the idempotency key
    amount_fen: int
    paid_at: datetime = Field(default_factory=utc_now)
    notification: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class HandoffTicket(SQLModel, table=True):
    """A conversation handed to call-centre staff, with everything they need."""

    id: int | None = Field(default=None, primary_key=True)
    session_id: str = Field(index=True)
    reason: str  # asked, misses, emergency, complaint, fraud
    priority: int = 2  # 0 emergency, 1 complaint/fraud, 2 other: lower is served first
    account_number: str | None = None
    channel: str = "kiosk"
    summary: str = ""  # the assistant's one-line guess of what the customer wants
    transcript: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    status: str = Field(default="waiting", index=True)  # waiting → claimed → closed
    claimed_by: str | None = None
    note: str = ""
    created_at: datetime = Field(default_factory=utc_now)
    claimed_at: datetime | None = None
    closed_at: datetime | None = None
    version: int = 1  # compare-and-set: two staff can never claim the same ticket


class RepairTicket(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    account_number: str | None = None
    area: str = ""
    kind: str = "outage"  # outage, reconnect, meter_test
    description: str = ""
    session_id: str | None = None
    created_at: datetime = Field(default_factory=utc_now)
    status: str = "open"


class ReminderSubscription(SQLModel, table=True):
    account_number: str = Field(primary_key=True, foreign_key="account.number")
    channel: str = "sms"  # sms or call
    active: bool = True
    created_at: datetime = Field(default_factory=utc_now)
    updated_at: datetime = Field(default_factory=utc_now)


class TurnLog(SQLModel, table=True):
    """Every turn, for quality review: what was heard, understood, answered and how fast."""

    id: int | None = Field(default=None, primary_key=True)
    session_id: str = Field(index=True)
    at: datetime = Field(default_factory=utc_now, index=True)
    channel: str
    account_number: str | None = None
    input_text: str
    asr_confidence: float | None = None
    normalized: str = ""
    intent: str = Field(default="none", index=True)
    confidence: float = 0.0
    decision: str = "none"
    slots: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    reply: str = ""
    latency_ms: float = 0.0


class SatisfactionRating(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    session_id: str = Field(index=True)
    score: int  # 1 不满意, 2 一般, 3 满意
    at: datetime = Field(default_factory=utc_now)


# --- People who run the service: accounts, login sessions, the audit trail ------


class User(SQLModel, table=True):
    """An admin or staff member. Customers never log in."""

    # "user" is a reserved word in PostgreSQL; a plain name spares every psql session the quoting.
    __tablename__ = "user_account"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, max_length=32)
    role: str  # admin or staff
    password_hash: str  # argon2id, never the password itself
    created_at: datetime = Field(default_factory=utc_now)
    disabled: bool = False


class LoginSession(SQLModel, table=True):
    """A logged-in browser. The cookie holds a random token; only its hash is stored."""

    id: str = Field(primary_key=True, max_length=64)  # sha256 hex of the cookie token
    user_id: int = Field(foreign_key="user_account.id", index=True)
    csrf_token: str  # per session: forms send it in a hidden field, fetch in X-CSRF-Token
    client_ip: str = ""
    created_at: datetime = Field(default_factory=utc_now)
    expires_at: datetime = Field(index=True)


class LoginAttempt(SQLModel, table=True):
    """One login try, for rate limiting by name and by client address."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, max_length=64)
    client_ip: str = Field(index=True, max_length=64)
    at: datetime = Field(default_factory=utc_now, index=True)
    success: bool = False


class AuditLog(SQLModel, table=True):
    """Who changed what and when, with the record before and after (null when created or removed)."""

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utc_now, index=True)
    actor: str  # user name, or "system" for changes the service makes by itself
    entity: str  # intent, handoff_ticket, user
    entity_id: str = Field(index=True)
    action: str  # create, update, disable, enable, import, claim, note, close, password
    before: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    after: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
