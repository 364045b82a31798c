"""Database tables. Money is integer fen; prices are decimal strings (exact)."""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from knowledge_base.settings import DEFAULT_TIMEZONE, get_settings


# The default service zone, for tests that build moments in it; the code reads service_tz().
SERVICE_TZ = ZoneInfo(DEFAULT_TIMEZONE)


def service_tz() -> ZoneInfo:
    """The zone of the wall-clock times customers hear (outages, due dates, 今天): a setting.
    The database stores every moment as aware UTC."""
    return ZoneInfo(get_settings().timezone)  # ZoneInfo keeps one instance per name


def service_today() -> date:
    """Today's date where the service is (not where the machine is)."""
    return datetime.now(service_tz()).date()


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
    provider: str = ""  # which provider holds the order (sandbox, alipay, wechatpay)
    paying_at: datetime | None = None  # when the customer went to the provider: reconciliation looks here


class Payment(SQLModel, table=True):
    """The ledger: one row per provider transaction, never two for the same one."""

    id: int | None = Field(default=None, primary_key=True)
    link_id: str = Field(foreign_key="paymentlink.id", index=True)
    provider: str
    provider_transaction_id: str = Field(unique=True)  # the idempotency key
    amount_fen: int
    paid_at: datetime = Field(default_factory=utc_now)
    notification: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # "recorded", or "refund_needed" when the bills had already been paid (shown to staff)
    status: str = Field(default="recorded", index=True)
    refund_reason: str = ""


class SandboxOrder(SQLModel, table=True):
    """An order held by the FAKE sandbox provider (demo mode only), kept in the database like a real one."""

    order_id: str = Field(primary_key=True, max_length=32)
    link_id: str = Field(unique=True, max_length=32)  # out_trade_no
    amount_fen: int
    subject: str
    trade_no: str = Field(unique=True, max_length=64)
    created_at: datetime = Field(default_factory=utc_now)
    status: str = "WAIT_BUYER_PAY"  # WAIT_BUYER_PAY, TRADE_SUCCESS, TRADE_CLOSED
    notification: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))


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
    client: str = Field(default="", index=True, max_length=64)  # who asked (address or line), for rate limits
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


class VerificationCode(SQLModel, table=True):
    """A one-time code sent by SMS to the phone on file; only its hash is stored."""

    id: int | None = Field(default=None, primary_key=True)
    session_id: str = Field(index=True, max_length=64)
    account_number: str = Field(foreign_key="account.number", index=True)
    purpose: str = "verify"  # verify, or phone_change (sent to the OLD number)
    code_hash: str
    created_at: datetime = Field(default_factory=utc_now)
    expires_at: datetime
    attempts: int = 0
    used_at: datetime | None = None


class SmsMessage(SQLModel, table=True):
    """The SMS outbox: codes, notices of changes, payment links, reminders."""

    id: int | None = Field(default=None, primary_key=True)
    phone: str = Field(index=True, max_length=20)
    text: str
    kind: str = "notice"  # code, notice, payment_link, reminder
    account_number: str | None = Field(default=None, index=True)
    created_at: datetime = Field(default_factory=utc_now, index=True)
    sent_at: datetime | None = None
    status: str = "queued"  # queued, sent, failed
    gateway: str = ""  # fake (demo mode) or the real gateway's name


class AccountLookup(SQLModel, table=True):
    """A 户号 looked up by a client: bounds enumeration per conversation and per client address."""

    id: int | None = Field(default=None, primary_key=True)
    client: str = Field(index=True, max_length=64)
    session_id: str = Field(max_length=64)
    account_number: str = Field(max_length=10)
    at: datetime = Field(default_factory=utc_now, index=True)


class KioskDevice(SQLModel, table=True):
    """A hall kiosk that signs its card reads with its own Ed25519 key; the server keeps the public half."""

    id: str = Field(primary_key=True, max_length=64)
    public_key: str  # base64 of the raw 32-byte Ed25519 public key
    hall: str = ""
    created_at: datetime = Field(default_factory=utc_now)
    disabled: bool = False


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
    must_change_password: bool = False  # the generated first-admin password must be replaced at first login


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


# --- what several workers share (issue 9: any worker serves any request) ---------------


class ConversationSession(SQLModel, table=True):
    """A conversation's state between turns, so any worker continues it and a restart loses nothing.

    ``version`` is the compare-and-set guard: a turn saves only if the row still has the
    version it loaded, so two workers answering one session at once cannot both win.
    """

    id: str = Field(primary_key=True, max_length=64)
    version: int = 1
    state: str  # JSON made by assistant.session_codec
    updated_at: datetime = Field(default_factory=utc_now, index=True)


class CardReadNonce(SQLModel, table=True):
    """A signed card read already counted (device and nonce): a replay to any worker is refused."""

    key: str = Field(primary_key=True, max_length=160)  # device id, newline, nonce
    seen_at: datetime = Field(default_factory=utc_now, index=True)


class SpokenText(SQLModel, table=True):
    """What a speech id stands for: the id is a hash of these fields, so any worker can make its audio."""

    id: str = Field(primary_key=True, max_length=32)
    spoken: str
    voice_rate: int
    voice_volume: float
    voice_pause_ms: int = Field(default=400, sa_column_kwargs={"server_default": "400"})
    sample_rate: int
    created_at: datetime = Field(default_factory=utc_now)


class KnowledgeVersion(SQLModel, table=True):
    """One row: moves on every change of the knowledge base, so every worker knows to reload its matcher."""

    id: int = Field(default=1, primary_key=True)
    version: int = 1
