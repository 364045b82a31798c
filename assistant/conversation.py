"""Conversations at the edge: sessions, the policy's effects carried out, every turn logged.

``ConversationService`` is what the kiosk, the phone line, the browser and
the CLI talk to. It keeps session state in the database (``assistant.sessions``,
so any worker continues any conversation), asks the pure policy
(``assistant.dialogue``) what to say, then does what the policy asked for
(payment links, handoff and repair tickets, reminders, contact changes,
ratings) and writes the turn log, all in one transaction per turn.
"""

from __future__ import annotations

import secrets
import threading
import time
import zlib
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any, Callable

from sqlalchemy import insert
from sqlalchemy.engine import Connection
from sqlmodel import Session, col, func, select

from assistant import identity
from assistant.answers import Answer, CustomerFacts
from assistant.dialogue import (
    Channel,
    Effect,
    IdentityLimits,
    IssuePaymentLink,
    MAX_TURN_CHARS,
    OpenHandoff,
    OpenRepairTicket,
    Outcome,
    Policy,
    RecordLookup,
    RecordRating,
    Reply as PolicyReply,
    SendCode,
    SessionState,
    SetReminder,
    Understanding,
    UpdatePhone,
    VerificationAttempt,
    Verified,
    dialogue_context,
)
from assistant.handoffs import HandoffDesk
from assistant.knowledge import Knowledge
from assistant.sessions import SessionConflict, SessionStore, StoredSession
from assistant.sms import SmsSender, mask_phones_deep, mask_phones_in
from assistant.voice_settings import VoiceSettings
from intents import extract_slots
from intents.context import with_context
from intents.safety import detect_danger
from intents.slots import Slots
from knowledge_base.db import session
from knowledge_base.models import (
    Account,
    HandoffTicket,
    Payment,
    PaymentLink,
    PayLinkRequest,
    ReminderSubscription,
    RepairTicket,
    SatisfactionRating,
    TurnLog,
    service_tz,
    utc_now,
)

# A turn whose session another worker saved meanwhile runs again on the fresh state; two
# workers racing on one session more than this many times in a row is a client gone wrong.
TURN_ATTEMPTS = 3
# Payment links texted to a relative's mobile (the cross-border / family flow): per client address
# an hour, per account a day, as the pay page bounds its fresh links.
RELATIVE_SMS_PER_CLIENT_HOUR = 3
RELATIVE_SMS_PER_ACCOUNT_DAY = 3
# Turns of one session take turns inside this process (double taps, retries); a fixed set of
# locks chosen by the session id's hash needs no bookkeeping of which sessions exist.
_LOCK_STRIPES = 64


@dataclass(frozen=True, slots=True)
class HandoffInfo:
    ticket_id: int
    reason: str
    priority: int


@dataclass(frozen=True, slots=True)
class ConversationReply:
    """What a front end shows and says after one customer turn."""

    session_id: str
    text: str
    spoken: str
    intent: str
    decision: str
    confidence: float
    voice_rate: int
    voice_volume: float
    choices: tuple[dict[str, str], ...] = ()
    pay_url: str | None = None
    pay_qr_svg: str | None = None
    share_text: str | None = None
    handoff: HandoffInfo | None = None
    end: bool = False
    voice_pause_ms: int = VoiceSettings().sentence_pause_ms

    @property
    def voice(self) -> VoiceSettings:
        """How to speak this reply: a slower voice also pauses longer between sentences."""
        return VoiceSettings(rate=self.voice_rate, volume=self.voice_volume, sentence_pause_ms=self.voice_pause_ms)

    def as_json(self) -> dict[str, Any]:
        """The reply contract shared by ``xiaodian chat --json`` and the HTTP API."""
        return {
            "session_id": self.session_id,
            "text": self.text,
            "spoken": self.spoken,
            "intent": self.intent,
            "decision": self.decision,
            "confidence": self.confidence,
            "choices": list(self.choices),
            "pay_url": self.pay_url,
            "pay_qr_svg": self.pay_qr_svg,
            "share_text": self.share_text,
            "handoff": None if self.handoff is None else {
                "ticket_id": self.handoff.ticket_id, "reason": self.handoff.reason, "priority": self.handoff.priority},
            "end": self.end,
            "voice": {"rate": self.voice_rate, "volume": self.voice_volume},
        }


@dataclass
class KnowledgeWorld:
    """The policy's read-only view of the knowledge base for one turn."""

    knowledge: Knowledge
    now: datetime
    limits: IdentityLimits = field(default_factory=IdentityLimits)
    can_send_codes: bool = False
    _facts: dict[str | None, CustomerFacts] = field(default_factory=dict)

    @property
    def today(self) -> date:
        return self.now.astimezone(service_tz()).date()

    def account_exists(self, number: str) -> bool:
        return self.facts(number).account is not None

    def facts(self, account: str | None) -> CustomerFacts:
        if account not in self._facts:  # one turn asks several times; read once
            self._facts[account] = self.knowledge.customer_facts(account, self.today)
        return self._facts[account]

    def needs_account(self, intent: str) -> bool:
        answers = self.knowledge.snapshot.answers.get(intent)
        return bool(answers and answers.needs_account)

    def answer(self, intent: str, facts: CustomerFacts, slots: Slots) -> Answer | None:
        return self.knowledge.answer(intent, facts, slots, self.today)

    def title(self, intent: str) -> str:
        answers = self.knowledge.snapshot.answers.get(intent)
        return answers.title if answers else intent

    def waiting_tickets(self, session_id: str = "", priority: int = 2) -> int:
        # Only who is ahead: a customer's own ticket is not (a second 转人工 alone in the queue
        # heard "前面还有1位"), nor are less urgent ones (staff pages, issue 13).
        with session(self.knowledge.engine) as db:
            return db.exec(select(func.count()).select_from(HandoffTicket).where(
                HandoffTicket.status == "waiting", col(HandoffTicket.session_id) != session_id,
                col(HandoffTicket.priority) <= priority)).one()

    def paid_recently(self, account: str) -> datetime | None:
        with session(self.knowledge.engine) as db:
            return db.exec(
                select(Payment.paid_at).join(PaymentLink, Payment.link_id == PaymentLink.id)
                .where(PaymentLink.account_number == account).order_by(Payment.paid_at.desc())  # type: ignore[attr-defined]
            ).first()

    def client_accounts(self, client: str) -> frozenset[str]:
        return identity.client_accounts(self.knowledge.engine, client, self.now)

    def verification_failures(self, account: str) -> int:
        return identity.verification_failures(self.knowledge.engine, account, self.now)

    def code_matches(self, session_id: str, account: str, code: str) -> bool:
        return identity.code_matches(self.knowledge.engine, session_id, account, code, self.now,
                                     self.limits.max_verification_failures)


class ConversationService:
    def __init__(self, knowledge: Knowledge, payments: Any = None, clock: Callable[[], datetime] = utc_now,
                 policy: Policy | None = None, sms: SmsSender | None = None,
                 limits: IdentityLimits | None = None, handoffs: HandoffDesk | None = None,
                 voice: VoiceSettings | None = None) -> None:
        self.knowledge = knowledge
        self.voice = voice or VoiceSettings()  # how a new conversation starts speaking (说慢点 slows from there)
        self.payments = payments  # assistant.payments.PaymentService, or None where links cannot be made
        self.clock = clock
        self.policy = policy or Policy()
        self.handoffs = handoffs or HandoffDesk()  # one open ticket per conversation, a bound per address
        self.sms = sms  # None: no SMS gateway, so no codes (the policy falls back) and no notices
        self.limits = limits or IdentityLimits()
        self.sessions = SessionStore(knowledge.engine)
        self._locks = tuple(threading.Lock() for _ in range(_LOCK_STRIPES))
        # SQLite has one writer at a time. Turns that find the write lock taken would sleep in
        # SQLite's busy handler (1, 2, 5, 10 ... ms back-off, not woken when it frees), which
        # under concurrent load made the turn log the slowest part of a turn; queueing the
        # turns' write transactions here instead wakes the next one as soon as one commits.
        self._write_turn: AbstractContextManager[Any] = (
            threading.Lock() if knowledge.engine.dialect.name == "sqlite" else nullcontext())

    # -- sessions --

    def start(self, channel: Channel | str = Channel.KIOSK, account: str | None = None,
              caller_phone: str | None = None, client: str = "") -> SessionState:
        """A new conversation; the account may come from a card read or the caller's number."""
        state = self._new_state(channel, account, caller_phone, self._world(), client)
        self.sessions.save_now(StoredSession(state, 0), state)
        return state

    def _world(self) -> KnowledgeWorld:
        return KnowledgeWorld(self.knowledge, self.clock(), self.limits, self.sms is not None)

    def _new_state(self, channel: Channel | str, account: str | None, caller_phone: str | None,
                   world: KnowledgeWorld, client: str = "") -> SessionState:
        """A named account (said, typed, ``--account``) is not verified; the phone line's caller number is."""
        channel = Channel(channel)
        verified = None
        if account is None and caller_phone and channel == Channel.PHONE:
            account = self._account_by_phone(caller_phone)
            verified = Verified.CALLER if account else None
        if account is not None and not world.account_exists(account):
            account, verified = None, None
        return SessionState(id=secrets.token_urlsafe(12), channel=channel, started_at=self.clock(), account=account,
                            voice=self.voice,
                            client=client[:64], verified=verified, accounts=(account,) if account else ())

    def _lock(self, session_id: str | None) -> AbstractContextManager[Any]:
        if not session_id:  # a new session: nobody else can hold it yet
            return nullcontext()
        return self._locks[zlib.crc32(session_id.encode()) % _LOCK_STRIPES]

    def _load_or_new(self, connection: Connection, session_id: str | None, channel: Channel | str,
                     account: str | None, client: str) -> tuple[StoredSession, KnowledgeWorld]:
        """The stored session, or a new one (not saved yet) when the id is missing or unknown, and the
        turn's view of the knowledge, brought up to date first: an admin's save through another
        worker is answered from this turn on. Both come from one statement."""
        version, stored = self.sessions.load_with_knowledge_version(connection, session_id)
        self.knowledge.refresh(version)
        world = self._world()
        if stored is not None and stored.state.verified is not None and client and stored.state.client \
                and client[:64] != stored.state.client:
            # A session id is a conversation's name, not a proof: a verified conversation's id used from
            # another address (a leaked log line, a screenshot) starts a conversation of its own.
            stored = None
        return stored or StoredSession(self._new_state(channel, account, None, world, client), 0), world

    def present_card(self, session_id: str | None, channel: Channel | str, account: str, client: str = "") -> str:
        """A card read whose kiosk signature the caller has checked: that account, verified. Returns the session id."""
        for _ in range(TURN_ATTEMPTS):
            with self._lock(session_id):
                with self.knowledge.engine.connect() as connection:
                    stored, world = self._load_or_new(connection, session_id, channel, None, client)
                state = stored.state
                if world.account_exists(account):
                    accounts = state.accounts if account in state.accounts else state.accounts + (account,)
                    state = replace(state, account=account, verified=Verified.CARD, accounts=accounts, pending=None,
                                    retry_at=None)
                try:
                    self.sessions.save_now(stored, state)
                except SessionConflict:
                    continue
                return state.id
        raise SessionConflict(session_id or "")

    def _account_by_phone(self, phone: str) -> str | None:
        with session(self.knowledge.engine) as db:
            return db.exec(select(Account.number).where(Account.phone == phone)).first()

    # -- turns --

    def handle(self, session_id: str | None, text: str, channel: Channel | str = Channel.KIOSK,
               account: str | None = None, asr_confidence: float | None = None,
               client: str = "", recording: str | None = None) -> ConversationReply:
        """One customer turn: understand, decide, act, log. Unknown session ids start a new session.
        ``recording`` names the spoken turn's audio (``assistant.recordings``), kept after the turn."""
        started = time.perf_counter()
        for _ in range(TURN_ATTEMPTS):
            # The whole turn on one pooled connection, one transaction: on PostgreSQL one checkout
            # (and its ping) and no second BEGIN. SQLite's driver begins only at the first write,
            # so its write lock is still taken late (see ``_carry_out``).
            with self._lock(session_id), self.knowledge.engine.connect() as connection:
                # A new session's first turn uses the same view: the account checked at the
                # start is not read again for the answer.
                stored, world = self._load_or_new(connection, session_id, channel, account, client)
                outcome, reply, understanding = self._decide(stored.state, text, world, asr_confidence)
                try:
                    return self._carry_out(connection, stored, outcome.state, outcome.effects, reply, understanding,
                                           world, started, recording)
                except SessionConflict:
                    continue  # another worker answered this session meanwhile: answer on its state
        raise SessionConflict(session_id or "")

    def _decide(self, state: SessionState, text: str, world: KnowledgeWorld,
                asr_confidence: float | None) -> tuple[Outcome, ConversationReply, Understanding]:
        """Understand the turn and let the policy decide; nothing is written yet."""
        # The turn is read as part of the conversation: a reply to the open question, a follow-up.
        context = dialogue_context(state, world.today)
        match = self.knowledge.matcher.match(text, context)
        slots = with_context(extract_slots(match.normalized, world.today), context, match.intent, match.normalized)
        understanding = Understanding(match, slots, asr_confidence, detect_danger(match.normalized))
        outcome = self.policy.step(state, understanding, world)
        return outcome, self._reply(outcome.state, outcome.reply, match.confidence), understanding

    def preview(self, text: str, channel: Channel | str = Channel.KIOSK) -> ConversationReply:
        """What a new conversation's first turn answers to ``text``, decided exactly as ``handle`` does,
        with nothing written (no session, turn log, ticket or link): the admin's try-a-phrase."""
        with self.knowledge.engine.connect() as connection:
            stored, world = self._load_or_new(connection, None, channel, None, "")
            return self._decide(stored.state, text, world, None)[1]

    def _reply(self, state: SessionState, reply: PolicyReply, confidence: float) -> ConversationReply:
        world_titles = self.knowledge.snapshot.answers
        choices = tuple({"intent": c, "title": world_titles[c].title if c in world_titles else c} for c in reply.choices)
        return ConversationReply(state.id, reply.text, reply.spoken, reply.intent, reply.decision, round(confidence, 4),
                                 reply.voice.rate, reply.voice.volume, choices, end=reply.end,
                                 voice_pause_ms=reply.voice.sentence_pause_ms)

    def _carry_out(self, connection: Connection, stored: StoredSession, state: SessionState,
                   effects: tuple[Effect, ...], reply: ConversationReply, understanding: Understanding,
                   world: KnowledgeWorld, started: float, recording: str | None = None) -> ConversationReply:
        """Do what the policy asked, log the turn and save the session, in one transaction.

        ``connection`` is the turn's, which read the session. Raises ``SessionConflict`` (nothing
        committed) when another worker saved the session first."""
        links = [e for e in effects if isinstance(e, IssuePaymentLink)]
        for effect in links:  # made first: the provider-facing service commits its own link row
            reply = self._issue_link(state, effect, reply)
        with self._write_turn:
            try:
                reply = self._write(connection, stored, state, effects, reply, understanding, world, started,
                                    recording)
                connection.commit()
            except BaseException:
                connection.rollback()  # before the next writer goes: SQLite's write lock is held until then
                raise
        return reply

    def _write(self, connection: Connection, stored: StoredSession, state: SessionState, effects: tuple[Effect, ...],
               reply: ConversationReply, understanding: Understanding, world: KnowledgeWorld,
               started: float, recording: str | None = None) -> ConversationReply:
        """The turn's writes: effects, turn log, session (compare-and-set); the caller commits."""
        if effects:  # most turns have none: they skip the ORM's unit of work altogether
            reply = self._carry_out_effects(connection, state, effects, reply, world)
            state = _as_said(state, reply)
        match = understanding.match
        # Every turn writes this row: a plain INSERT in the same transaction (the ORM's unit
        # of work for one new object cost more than twice as much). Quality review needs what
        # was asked and answered, not the phone numbers in it: those are masked.
        connection.execute(insert(TurnLog.__table__), dict(  # type: ignore[attr-defined]
            session_id=state.id, at=world.now, channel=state.channel.value, account_number=state.account,
            input_text=mask_phones_in(match.text[:2000]), asr_confidence=understanding.asr_confidence,
            normalized=mask_phones_in(match.normalized), intent=match.intent, confidence=match.confidence,
            decision=str(match.decision), slots=mask_phones_deep(understanding.slots.as_json()),
            reply=mask_phones_in(reply.text), latency_ms=round((time.perf_counter() - started) * 1000, 2),
            hall=state.hall,
            recording=recording,  # names the customer's audio, written after the turn (issue 15)
        ))
        self.sessions.save(connection, stored, state)
        return reply

    def _carry_out_effects(self, connection: Connection, state: SessionState, effects: tuple[Effect, ...],
                           reply: ConversationReply, world: KnowledgeWorld) -> ConversationReply:
        """The policy's effects, written in the turn's transaction (``connection``), which commits them."""
        with Session(bind=connection, expire_on_commit=False) as db:
            for effect in effects:
                if isinstance(effect, OpenHandoff):
                    handed = self.handoffs.hand_off(db, state, effect, world.now)
                    if handed.say_instead is not None:
                        reply = replace(reply, text=handed.say_instead, spoken=handed.say_instead)
                    if handed.ticket is not None:
                        reply = replace(reply, handoff=HandoffInfo(handed.ticket.id or 0, handed.ticket.reason,
                                                                   handed.ticket.priority))
                elif isinstance(effect, OpenRepairTicket):
                    known = world.facts(effect.account).account
                    area = known.area if known else ""
                    db.add(RepairTicket(account_number=effect.account, area=area, kind=effect.kind,
                                        description=effect.description, session_id=state.id))
                elif isinstance(effect, SetReminder):
                    row = db.get(ReminderSubscription, effect.account) or ReminderSubscription(account_number=effect.account)
                    row.active, row.channel, row.updated_at, row.updated_by = effect.active, effect.channel, world.now, "voice"
                    if effect.preferred_minute is not None:
                        row.preferred_minute = effect.preferred_minute
                    if effect.family_phone:
                        row.family_phone = effect.family_phone
                    if effect.active:  # the customer's own yes, said on this channel, is the consent
                        row.consent_at, row.consent_channel = world.now, str(state.channel)
                    db.add(row)
                elif isinstance(effect, UpdatePhone):
                    self._change_phone(db, effect)
                elif isinstance(effect, SendCode):
                    reply = self._send_code(db, state, effect, reply, world)
                elif isinstance(effect, VerificationAttempt):
                    identity.record_attempt(db, state.id, effect.account, effect.method, effect.ok, world.now)
                elif isinstance(effect, RecordLookup):
                    identity.record_lookup(db, state.client, state.id, effect.account, world.now)
                elif isinstance(effect, RecordRating):
                    db.add(SatisfactionRating(session_id=state.id, score=effect.score, at=world.now))
            db.flush()
        return reply

    def _change_phone(self, db: Session, effect: UpdatePhone) -> None:
        """The new number on file; the old number is told, so a change the holder did not make is noticed."""
        account = db.get(Account, effect.account)
        if account is None:
            return
        old, account.phone = account.phone, effect.phone
        db.add(account)
        if self.sms is not None and old != effect.phone:
            text = (f"【小电】您户号{effect.account}的联系电话已经改成尾号{effect.phone[-4:]}的号码。"
                    "如果不是您本人办理，请马上拨打95598。")
            self.sms.send(db, old, text, "notice", effect.account)

    def _send_code(self, db: Session, state: SessionState, effect: SendCode, reply: ConversationReply,
                   world: KnowledgeWorld) -> ConversationReply:
        account = world.facts(effect.account).account
        if self.sms is None or account is None:  # the policy only asks when a sender exists
            text = "抱歉，验证码现在发不了。您可以说转人工，请工作人员帮您办。"
            return replace(reply, text=text, spoken=text)
        if not identity.may_send_code(db, effect.account, world.now):
            text = "抱歉，验证码发得太频繁了，请您稍后再试。也可以说转人工，请工作人员帮您办。"
            return replace(reply, text=text, spoken=text)
        code = identity.issue_code(db, state.id, effect.account, effect.purpose, world.now, self.limits.code_minutes)
        doing = "修改联系电话" if effect.purpose == "phone_change" else "核实身份"
        text = (f"【小电】您正在{doing}，验证码{code}，{self.limits.code_minutes}分钟内有效。"
                "供电公司不会向您索要验证码，不要告诉别人。")
        self.sms.send(db, account.phone, text, "code", effect.account)
        return reply

    def _may_text_relative(self, client: str, account: str, now: datetime) -> bool:
        """Whether a payment link may go to a relative's mobile (issue 13). Anyone who says a 户号 can ask,
        so the texts are bounded per client address an hour and per account a day: the utility's
        name is not a free SMS service to strangers' phones."""
        with session(self.knowledge.engine) as db:
            by_client = db.exec(select(func.count()).select_from(PayLinkRequest).where(
                col(PayLinkRequest.client) == client[:64], col(PayLinkRequest.at) >= now - timedelta(hours=1))).one()
            by_account = db.exec(select(func.count()).select_from(PayLinkRequest).where(
                col(PayLinkRequest.account_number) == account, col(PayLinkRequest.at) >= now - timedelta(days=1))).one()
        return by_client < RELATIVE_SMS_PER_CLIENT_HOUR and by_account < RELATIVE_SMS_PER_ACCOUNT_DAY

    def _issue_link(self, state: SessionState, effect: IssuePaymentLink, reply: ConversationReply) -> ConversationReply:
        if self.payments is None:
            text = "抱歉，现在生成不了付款链接。您可以在网上国网或营业厅交费，或者说转人工。"
            return replace(reply, text=text, spoken=text)
        from assistant.payments import NothingToPay

        now = self.clock()
        if effect.send_to and self.sms is not None and not self._may_text_relative(state.client, effect.account, now):
            # Checked before a link is made: a refused ask neither texts anyone nor replaces the account's link.
            said = "付款短信已经发过好几次了，请先看看家人手机上有没有收到。还是不行的话，请户主本人拨打95598"
            return replace(reply, text=f"{said}（在国外请拨 +86-95598）。", spoken=f"{said}，在国外请拨加八六，95598。")
        try:
            link = self.payments.create_link(effect.account, channel=state.channel.value, session_id=state.id)
        except NothingToPay:
            text = "您的电费已经交清了，现在不用交。"
            return replace(reply, text=text, spoken=text)
        if effect.send_to:
            # A relative's mobile (issue 13): the link goes there by SMS and is never put on the screen.
            if self.sms is None:
                text = "抱歉，现在发不了短信。您的家人可以在支付宝或微信的“生活缴费”里输入户号交电费。"
                return replace(reply, text=text, spoken=text)
            with session(self.knowledge.engine) as db:
                self.sms.send(db, effect.send_to, link.family_text, "payment_link", effect.account)
                # Counted with the pay page's fresh links: both text a payment link for this account.
                db.add(PayLinkRequest(client=state.client[:64], account_number=effect.account, at=now))
                db.commit()
            return reply
        if effect.share:
            return replace(reply, pay_url=link.url, pay_qr_svg=link.qr_svg, share_text=link.family_text)
        if state.channel == Channel.PHONE:
            # A caller has no screen: the link goes by SMS to the phone on file, or is not promised.
            if self.sms is None:
                text = "抱歉，现在发不了短信。您可以到营业厅或者在网上国网交费，也可以说转人工。"
                return replace(reply, text=text, spoken=text)
            with session(self.knowledge.engine) as db:
                account = db.get(Account, effect.account)
                if account is not None:
                    self.sms.send(db, account.phone, link.short_text, "payment_link", effect.account)
                db.commit()
        return replace(reply, pay_url=link.url, pay_qr_svg=link.qr_svg)


def _as_said(state: SessionState, reply: ConversationReply) -> SessionState:
    """The session keeps what was said when an effect changed the policy's words ("您已经在排队了",
    a link that could not be made), so 再说一遍 repeats that and the transcript staff read holds it,
    not the policy's draft."""
    last = state.last_reply
    if last is None or last.intent != reply.intent or (last.text, last.spoken) == (reply.text, reply.spoken):
        return state
    transcript = state.transcript
    if transcript and transcript[-1].speaker == "assistant":
        transcript = (*transcript[:-1], replace(transcript[-1], text=reply.text[:MAX_TURN_CHARS]))
    return replace(state, last_reply=replace(last, text=reply.text, spoken=reply.spoken), transcript=transcript)
