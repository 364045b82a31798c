"""Conversations at the edge: sessions, the policy's effects carried out, every turn logged.

``ConversationService`` is what the kiosk, the phone line, the browser and
the CLI talk to. It keeps session state in memory, asks the pure policy
(``assistant.dialogue``) what to say, then does what the policy asked for
(payment links, handoff and repair tickets, reminders, contact changes,
ratings) and writes the turn log, all in one transaction per turn.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any, Callable

from sqlalchemy import insert
from sqlmodel import func, select

from assistant.answers import Answer, CustomerFacts
from assistant.dialogue import (
    Channel,
    Effect,
    IssuePaymentLink,
    OpenHandoff,
    OpenRepairTicket,
    Policy,
    RecordRating,
    Reply as PolicyReply,
    SessionState,
    SetReminder,
    Understanding,
    UpdatePhone,
)
from assistant.knowledge import Knowledge
from intents import extract_slots
from intents.slots import Slots
from knowledge_base.db import session
from knowledge_base.models import (
    SERVICE_TZ,
    Account,
    HandoffTicket,
    Payment,
    PaymentLink,
    ReminderSubscription,
    RepairTicket,
    SatisfactionRating,
    TurnLog,
    utc_now,
)

MAX_SESSIONS = 10_000  # oldest idle sessions are forgotten beyond this


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
    _facts: dict[str | None, CustomerFacts] = field(default_factory=dict)

    @property
    def today(self) -> date:
        return self.now.astimezone(SERVICE_TZ).date()

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

    def waiting_tickets(self) -> int:
        with session(self.knowledge.engine) as db:
            return db.exec(select(func.count()).select_from(HandoffTicket).where(HandoffTicket.status == "waiting")).one()

    def paid_recently(self, account: str) -> datetime | None:
        with session(self.knowledge.engine) as db:
            return db.exec(
                select(Payment.paid_at).join(PaymentLink, Payment.link_id == PaymentLink.id)
                .where(PaymentLink.account_number == account).order_by(Payment.paid_at.desc())  # type: ignore[attr-defined]
            ).first()


class ConversationService:
    def __init__(self, knowledge: Knowledge, payments: Any = None, clock: Callable[[], datetime] = utc_now,
                 policy: Policy | None = None) -> None:
        self.knowledge = knowledge
        self.payments = payments  # assistant.payments.PaymentService, or None where links cannot be made
        self.clock = clock
        self.policy = policy or Policy()
        self._sessions: OrderedDict[str, SessionState] = OrderedDict()
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
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
        return self._open(channel, account, caller_phone, KnowledgeWorld(self.knowledge, self.clock()), client)

    def _open(self, channel: Channel | str, account: str | None, caller_phone: str | None,
              world: KnowledgeWorld, client: str = "") -> SessionState:
        channel = Channel(channel)
        if account is None and caller_phone:
            account = self._account_by_phone(caller_phone)
        if account is not None and not world.account_exists(account):
            account = None
        state = SessionState(id=secrets.token_urlsafe(12), channel=channel, started_at=self.clock(), account=account,
                             client=client[:64])
        self._store(state)
        return state

    def get(self, session_id: str) -> SessionState | None:
        with self._guard:
            return self._sessions.get(session_id)

    def _store(self, state: SessionState) -> None:
        with self._guard:
            self._sessions[state.id] = state
            self._sessions.move_to_end(state.id)
            self._locks.setdefault(state.id, threading.Lock())
            while len(self._sessions) > MAX_SESSIONS:
                old_id, _ = self._sessions.popitem(last=False)
                self._locks.pop(old_id, None)

    def _account_by_phone(self, phone: str) -> str | None:
        with session(self.knowledge.engine) as db:
            return db.exec(select(Account.number).where(Account.phone == phone)).first()

    # -- turns --

    def handle(self, session_id: str | None, text: str, channel: Channel | str = Channel.KIOSK,
               account: str | None = None, asr_confidence: float | None = None,
               client: str = "") -> ConversationReply:
        """One customer turn: understand, decide, act, log. Unknown session ids start a new session."""
        started = time.perf_counter()
        state = self.get(session_id) if session_id else None
        world = None
        if state is None:
            # The new session's first turn uses the same view: the account checked at the
            # start is not read again for the answer.
            world = KnowledgeWorld(self.knowledge, self.clock())
            state = self._open(channel, account, None, world, client)
        with self._locks[state.id]:  # one turn at a time per conversation (double taps, retries)
            state = self.get(state.id) or state
            if world is None:
                world = KnowledgeWorld(self.knowledge, self.clock())
            match = self.knowledge.matcher.match(text)
            understanding = Understanding(match, extract_slots(match.normalized, world.today), asr_confidence)
            outcome = self.policy.step(state, understanding, world)
            reply = self._reply(outcome.state, outcome.reply, match.confidence)
            reply = self._carry_out(outcome.state, outcome.effects, reply, understanding, world,
                                    latency_ms=(time.perf_counter() - started) * 1000)
            self._store(outcome.state)
        return reply

    def _reply(self, state: SessionState, reply: PolicyReply, confidence: float) -> ConversationReply:
        world_titles = self.knowledge.snapshot.answers
        choices = tuple({"intent": c, "title": world_titles[c].title if c in world_titles else c} for c in reply.choices)
        return ConversationReply(state.id, reply.text, reply.spoken, reply.intent, reply.decision, round(confidence, 4),
                                 reply.voice.rate, reply.voice.volume, choices, end=reply.end)

    def _carry_out(self, state: SessionState, effects: tuple[Effect, ...], reply: ConversationReply,
                   understanding: Understanding, world: KnowledgeWorld, latency_ms: float) -> ConversationReply:
        """Do what the policy asked, and log the turn, in one transaction."""
        links = [e for e in effects if isinstance(e, IssuePaymentLink)]
        for effect in links:  # made first: the provider-facing service commits its own link row
            reply = self._issue_link(state, effect, reply)
        with self._write_turn, session(self.knowledge.engine) as db:
            for effect in effects:
                if isinstance(effect, OpenHandoff):
                    ticket = HandoffTicket(
                        session_id=state.id, reason=effect.reason.value, priority=effect.priority, client=state.client,
                        account_number=state.account, channel=state.channel.value, summary=effect.summary,
                        transcript=[t.as_json() for t in state.transcript],  # ends with the handoff reply
                    )
                    db.add(ticket)
                    db.flush()
                    reply = replace(reply, handoff=HandoffInfo(ticket.id or 0, ticket.reason, ticket.priority))
                elif isinstance(effect, OpenRepairTicket):
                    known = world.facts(effect.account).account
                    area = known.area if known else ""
                    db.add(RepairTicket(account_number=effect.account, area=area, kind=effect.kind,
                                        description=effect.description, session_id=state.id))
                elif isinstance(effect, SetReminder):
                    row = db.get(ReminderSubscription, effect.account) or ReminderSubscription(account_number=effect.account)
                    row.active, row.channel, row.updated_at = effect.active, effect.channel, world.now
                    db.add(row)
                elif isinstance(effect, UpdatePhone):
                    account = db.get(Account, effect.account)
                    if account is not None:
                        account.phone = effect.phone
                        db.add(account)
                elif isinstance(effect, RecordRating):
                    db.add(SatisfactionRating(session_id=state.id, score=effect.score, at=world.now))
            match = understanding.match
            # Every turn writes this row: a plain INSERT in the same transaction (the ORM's unit
            # of work for one new object cost more than twice as much).
            db.connection().execute(insert(TurnLog.__table__), dict(  # type: ignore[attr-defined]
                session_id=state.id, at=world.now, channel=state.channel.value, account_number=state.account,
                input_text=match.text[:2000], asr_confidence=understanding.asr_confidence, normalized=match.normalized,
                intent=match.intent, confidence=match.confidence, decision=str(match.decision),
                slots=understanding.slots.as_json(), reply=reply.text, latency_ms=round(latency_ms, 2),
            ))
            db.commit()
        return reply

    def _issue_link(self, state: SessionState, effect: IssuePaymentLink, reply: ConversationReply) -> ConversationReply:
        if self.payments is None:
            text = "抱歉，现在生成不了付款链接。您可以在网上国网或营业厅交费，或者说转人工。"
            return replace(reply, text=text, spoken=text)
        from assistant.payments import NothingToPay

        try:
            link = self.payments.create_link(effect.account, channel=state.channel.value, session_id=state.id)
        except NothingToPay:
            text = "您的电费已经交清了，现在不用交。"
            return replace(reply, text=text, spoken=text)
        if effect.share:
            return replace(reply, pay_url=link.url, pay_qr_svg=link.qr_svg, share_text=link.short_text)
        return replace(reply, pay_url=link.url, pay_qr_svg=link.qr_svg)
