"""Database tables. Money is integer fen; prices are decimal strings (exact)."""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import JSON, Column, Index, LargeBinary, UniqueConstraint
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
    # --- staff pages (issue 13): where the call came from, for staff ("江都营业厅 1号自助机",
    # "电话 138****5678"); empty when not known. Migration 0007 adds it to older databases.
    origin: str = Field(default="", max_length=120)


class RepairTicket(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    account_number: str | None = None
    area: str = ""
    kind: str = "outage"  # outage, reconnect, meter_test
    description: str = ""
    session_id: str | None = None
    created_at: datetime = Field(default_factory=utc_now)
    status: str = "open"


# When a reminder goes by default, in minutes after local midnight: 09:00, never between 21:00 and 08:00.
DEFAULT_REMIND_MINUTE = 9 * 60
DEFAULT_QUIET_START_MINUTE, DEFAULT_QUIET_END_MINUTE = 21 * 60, 8 * 60


class ReminderSubscription(SQLModel, table=True):
    account_number: str = Field(primary_key=True, foreign_key="account.number")
    channel: str = "sms"  # sms or call
    active: bool = True
    created_at: datetime = Field(default_factory=utc_now)
    updated_at: datetime = Field(default_factory=utc_now)
    # --- daily reminders (issue 14): preferences, each with a server default for older rows ---
    # Channels in order of preference, comma-separated (call, sms, family, kiosk); empty: ``channel`` alone.
    channels: str = Field(default="", max_length=64, sa_column_kwargs={"server_default": ""})
    # Minutes after local midnight (service time zone): when to remind, and the quiet hours.
    preferred_minute: int = Field(default=DEFAULT_REMIND_MINUTE,
                                  sa_column_kwargs={"server_default": str(DEFAULT_REMIND_MINUTE)})
    quiet_start_minute: int = Field(default=DEFAULT_QUIET_START_MINUTE,
                                    sa_column_kwargs={"server_default": str(DEFAULT_QUIET_START_MINUTE)})
    quiet_end_minute: int = Field(default=DEFAULT_QUIET_END_MINUTE,
                                  sa_column_kwargs={"server_default": str(DEFAULT_QUIET_END_MINUTE)})
    family_phone: str = Field(default="", max_length=20, sa_column_kwargs={"server_default": ""})
    consent_at: datetime | None = None
    consent_channel: str = Field(default="", max_length=16, sa_column_kwargs={"server_default": ""})
    updated_by: str = Field(default="", max_length=64, sa_column_kwargs={"server_default": ""})


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
    hall: str = Field(default="", max_length=64)  # the service hall of the kiosk it was said at; "" elsewhere
    recording: str | None = Field(default=None, max_length=64)  # the customer's own words, kept for listening


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


# --- the phone line (issue 12) ------------------------------------------------------------


class PhoneCall(SQLModel, table=True):
    """One phone call, by the UUID Asterisk gives the AudioSocket.

    The PBX registers it (caller number) before it connects the socket, or the reminders job
    creates it with ``first_words`` for an outbound call; the gateway writes the outcome the
    dialplan reads once the socket closes (``next`` = transfer or hangup).
    """

    uuid: str = Field(primary_key=True, max_length=36)  # canonical lowercase UUID text
    caller: str = Field(default="", max_length=32)  # the number the PBX vouches for; "" = anonymous
    first_words: str = ""  # said instead of the greeting (outbound reminder calls)
    created_at: datetime = Field(default_factory=utc_now, index=True)
    connected_at: datetime | None = None
    ended_at: datetime | None = None
    next: str = Field(default="", max_length=16)  # "" while the call runs, then transfer or hangup
    queue: str = Field(default="", max_length=32)  # the staff queue the dialplan dials on transfer
    ticket_id: int | None = None  # the handoff ticket staff see
    end_reason: str = Field(default="", max_length=32)  # hangup, handoff, goodbye, silence, bad_frame, ...
    session_id: str = Field(default="", max_length=64)  # the conversation, for the turn log


# --- quality review (issue 15) --------------------------------------------------------------
# The turn log is read once, in id order, into these rollups (assistant/quality/rollup.py), so
# the dashboard and the grouping read thousands of rows, not millions.


class QualityCursor(SQLModel, table=True):
    """One row: the last turn-log id and satisfaction-rating id already counted into the rollups."""

    id: int = Field(default=1, primary_key=True)
    last_turn_id: int = 0
    last_rating_id: int = 0
    # Moves whenever a kiosk binds a conversation to its hall (issue 15): a refresh that read the turns before
    # the bind loses its compare-and-set and reads them again, with their hall.
    binds: int = Field(default=0, sa_column_kwargs={"server_default": "0"})  # 0006 inserts the row without it


class QualityDay(SQLModel, table=True):
    """Figures of one service day and channel (sums, so a new batch just adds to them). Conversations
    count on the day of their first turn; a later turn that hands one off moves it from resolved."""

    day: date = Field(primary_key=True)
    channel: str = Field(primary_key=True, max_length=16)
    hall: str = Field(default="", primary_key=True, max_length=64)  # "" for phone, web and unregistered kiosks
    turns: int = 0
    none_turns: int = 0
    confirm_turns: int = 0
    emergencies: int = 0
    frauds: int = 0
    asr_turns: int = 0  # turns with a recognition confidence (spoken ones)
    asr_confidence_sum: float = 0.0
    low_confidence_turns: int = 0  # match confidence under 0.6
    # Turn latency as counts per bucket (assistant/quality/latency.py): medians and p90 from sums.
    latency_buckets: dict[str, int] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    conversations: int = 0
    resolved: int = 0  # a request answered and no handoff
    handoffs: dict[str, int] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))  # by reason
    ratings: dict[str, int] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))  # by score 1–3


class QualityConversation(SQLModel, table=True):
    """One conversation, as far as the turns read so far tell."""

    session_id: str = Field(primary_key=True, max_length=64)
    day: date = Field(index=True)  # the service day of its first turn
    channel: str = Field(max_length=16)
    hall: str = Field(default="", max_length=64)  # the kiosk's service hall; "" elsewhere (issue 15)
    account_number: str | None = None
    turns: int = 0
    answered_turns: int = 0  # a request answered (accepted, not control or none)
    main_intent: str = "none"  # the first request answered, for the sample's strata
    min_confidence: float = 1.0
    handoff_reason: str | None = None
    emergency: bool = False
    fraud: bool = False
    last_at: datetime = Field(default_factory=utc_now)
    last_text: str = ""  # the previous turn's normalised text: a correction or 再说一遍 points back at it
    last_intent: str = "none"
    last_decision: str = "none"


class QualityUtterance(SQLModel, table=True):
    """How often a normalised utterance went unanswered on a day, and why (none, confirm, correction, repeat,
    handoff). Holds what customers said, so the turn log's retention applies to it too."""

    # The grouping sums counts per text over a window from this index alone (no table rows read).
    __table_args__ = (Index("ix_qualityutterance_text_day", "text", "day", "reason", "count"),)

    day: date = Field(primary_key=True)
    text: str = Field(primary_key=True, max_length=200)
    reason: str = Field(primary_key=True, max_length=16)
    count: int = 0
    example: str = ""  # one masked original wording


class ReviewSample(SQLModel, table=True):
    """A conversation drawn for review on a day: by stratum (intent x channel) or a targeted reason."""

    __table_args__ = (UniqueConstraint("day", "session_id"),)

    id: int | None = Field(default=None, primary_key=True)
    day: date = Field(index=True)
    session_id: str = Field(max_length=64)
    channel: str = Field(max_length=16)
    picked_for: str = Field(max_length=32)  # stratum, or high_frequency, low_confidence, dissatisfied, ...
    status: str = "open"  # open → reviewed
    reviewer: str = ""
    attitude: int | None = None  # experience dimensions, 1 (poor) to 5 (very good)
    clarity: int | None = None
    need_discovered: int | None = None
    comment: str = ""
    reviewed_at: datetime | None = None


class TurnMark(SQLModel, table=True):
    """A reviewer's verdict on one turn of a sampled conversation."""

    __table_args__ = (UniqueConstraint("sample_id", "turn_id"),)

    id: int | None = Field(default=None, primary_key=True)
    sample_id: int = Field(foreign_key="reviewsample.id", index=True)
    turn_id: int
    correct: bool
    reason: str = ""  # one of assistant.quality.review.MARK_REASONS when wrong
    reviewer: str = ""
    at: datetime = Field(default_factory=utc_now)


class Rectification(SQLModel, table=True):
    """A finding turned into work: who fixes what by when, and whether the metric moved."""

    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(max_length=200)
    category: str = Field(max_length=32)  # knowledge, recognition, dialogue, service, compliance
    owner: str = Field(max_length=64)
    deadline: date
    status: str = Field(default="open", index=True)  # open → doing → done; verified when the metric moved
    source: str = ""  # group:<key> or sample:<id>
    # What the item should move: the unanswered count of these utterances per 1000 turns.
    utterances: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    note: str = ""
    created_at: datetime = Field(default_factory=utc_now)
    updated_at: datetime = Field(default_factory=utc_now)


# --- the hall kiosk device and the pay pages (issue 13, device) ---------------------------


class KioskScreen(SQLModel, table=True):
    """What a hall kiosk's screen shows of the conversation its device loop (microphone, speaker,
    card reader) is having: the page follows it. In the database, so any worker serves both."""

    device: str = Field(primary_key=True, max_length=64)  # KioskDevice.id
    seq: int = 0  # moves on every change; the page asks for changes after the one it has
    session_id: str = Field(default="", max_length=64)
    state: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    updated_at: datetime = Field(default_factory=utc_now)


class PayLinkRequest(SQLModel, table=True):
    """A payment link sent by SMS (a fresh one from a pay page, or one a relative was given at the kiosk): bounds how often."""

    id: int | None = Field(default=None, primary_key=True)
    client: str = Field(index=True, max_length=64)
    account_number: str = Field(index=True, max_length=10)
    at: datetime = Field(default_factory=utc_now, index=True)


# --- daily reminders (issue 14) -----------------------------------------------------------


class ReminderRule(SQLModel, table=True):
    """One kind of reminder, as data an admin edits: when it is due and what it says.

    Texts are templates with {fields} (assistant.reminders.texts lists them); ``days`` and
    ``threshold_fen`` mean what the rule's kind says (e.g. "due within N days").
    """

    id: str = Field(primary_key=True, max_length=32)  # the kind: bill_issued, due_soon, overdue, ...
    title: str
    enabled: bool = True
    days: int = 3
    threshold_fen: int = 0
    sms_text: str
    spoken_text: str
    family_text: str
    kiosk_text: str = ""
    origin: str = "seed"  # "admin" once edited: seeding leaves it alone
    version: int = 1
    updated_at: datetime = Field(default_factory=utc_now)


class ReminderMessage(SQLModel, table=True):
    """The reminders outbox: one row per (account, rule, period), whatever happens, queued → sent.

    The unique ``dedup_key`` is the guarantee: a second run, a killed run started again, or two
    runners at once can only find the row there already. Texts are made at send time from the
    facts kept here, so a rule's edited wording reaches messages still waiting.
    """

    # The senders' query: what is queued and whose time has come.
    __table_args__ = (Index("ix_remindermessage_status_next", "status", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    dedup_key: str = Field(unique=True, max_length=96)  # account|rule|period
    account_number: str = Field(index=True, max_length=10)
    rule_id: str = Field(max_length=32)
    period: str = Field(max_length=32)  # bill month, ISO week, outage id ...
    run_date: date = Field(index=True)
    channel: str = Field(max_length=16)  # the channel being tried now (falls back along the preferences)
    status: str = Field(default="queued", max_length=16)  # queued → sending → sent | failed | cancelled
    attempts: int = 0  # on the current channel
    next_attempt_at: datetime | None = None  # null: as soon as allowed
    claimed_until: datetime | None = None  # a sender's lease on a "sending" row
    amount_fen: int = 0
    due_date: date | None = None
    outage_id: int | None = None
    created_at: datetime = Field(default_factory=utc_now)
    sent_at: datetime | None = None
    recipient: str = Field(default="", max_length=32)  # masked phone, call id or "kiosk"
    text: str = ""  # what was sent or said
    last_error: str = ""
    shown_at: datetime | None = None  # kiosk notices: when the hall's screen showed it


class ReminderRun(SQLModel, table=True):
    """One daily run: its chunks are shared out to the runners (SKIP LOCKED on PostgreSQL)."""

    id: int | None = Field(default=None, primary_key=True)
    run_date: date = Field(index=True)
    started_at: datetime = Field(default_factory=utc_now)
    finished_at: datetime | None = None
    chunks: int = 0


class ReminderRunChunk(SQLModel, table=True):
    """A range of 户号 (lo, hi] of one run, done by one runner in one transaction with its counts."""

    run_id: int = Field(primary_key=True, foreign_key="reminderrun.id")
    chunk_no: int = Field(primary_key=True)
    lo: str = Field(max_length=10)
    hi: str = Field(max_length=10)
    status: str = Field(default="todo", max_length=8)  # todo → done
    due: int = 0
    queued: int = 0
    skipped_quiet: int = 0
    skipped_opt_out: int = 0
    already_sent: int = 0
    runner: str = Field(default="", max_length=64)
    done_at: datetime | None = None


class ReminderLock(SQLModel, table=True):
    """A lease: one scheduler of the daily run (or drain) at a time across workers and machines."""

    name: str = Field(primary_key=True, max_length=32)
    holder: str = Field(default="", max_length=64)
    until: datetime


# --- recordings (issue 15) ------------------------------------------------------------------


class Recording(SQLModel, table=True):
    """A spoken turn's audio, the customer's own words, for a reviewer to listen to (issue 15).

    In the database, not on a worker's disk: any worker (on any machine) serves it. The turn log row
    names it (``TurnLog.recording``); the id is random, never the session id, so a recording's name
    says nothing about the conversation. Kept ``recordings_days`` days (assistant.retention)."""

    id: str = Field(primary_key=True, max_length=64)
    at: datetime = Field(default_factory=utc_now, index=True)
    channel: str = Field(max_length=16)
    sample_rate: int  # of the audio as heard (16 kHz kiosk and web, 8 kHz phone)
    duration_ms: int
    audio: bytes = Field(sa_column=Column(LargeBinary, nullable=False))  # WebM Opus (assistant.recordings)
