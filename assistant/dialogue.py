"""The conversation policy: state and one customer turn in, reply and effects out.

Pure: nothing here writes anything. Facts come from a read-only ``World``
(accounts, bills, queue length); things that must happen (a payment link,
a handoff ticket, a subscription) come back as ``Effect`` values that the
caller carries out. So the kiosk, the phone line, the browser and the CLI
share one policy, and a test can drive a whole conversation from text.

The rules, in the order they apply each turn:
1. danger first (``intents.safety``, whatever is pending): an emergency gets
   the safety message and an urgent handoff, fraud gets the warning;
2. 再说一遍, 说慢点 and 转人工 work in every state;
3. an open question (confirmation, 户号, satisfaction, a numbered choice)
   is answered, kept open once, or dropped when the customer asks something
   else (saying plainly that a pending action was not done);
4. otherwise the intent is answered, confirmed first when money or contact
   details change, and misunderstandings climb the fallback ladder
   (confirm the best guess → offer numbered choices → hand off); small talk
   gets a friendly word, not the ladder.

The turn arrives already read against the conversation (``dialogue_context``
and ``intents.context``): "对" as a reply, "那就交了吧" as the action offered.

Who the customer is decides what may be said (the same on every channel):
- anonymous: general answers, tariffs, estimates;
- named (a 户号 said or typed): the amount due and a payment link only, the
  holder's name masked (anyone may pay for a relative);
- verified (a code sent to the phone on file, a card read signed by a kiosk,
  the caller's number on the phone line, or the fallback of surname plus the
  phone's last four digits): everything else. Changing the phone number
  needs a code sent to the old number. How many 户号 one conversation and one
  client may look up is bounded, and failed verifications slow down, then
  end with staff.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Protocol

from assistant import formatting
from assistant.answers import Answer, CustomerFacts, mask_name
from assistant.voice_settings import VoiceSettings
from intents import Decision, MatchResult, Slots, extract_slots, normalize
from intents import ids
from intents.context import ASKS_AMOUNT, CONVERSATIONAL, YES_NO_QUESTIONS, DialogueContext, month_step, takes_back
from intents.ids import AFFIRM, DENY, EMERGENCY, GOODBYE, HUMAN_AGENT, OUT_OF_SCOPE, REPEAT, SLOWER
from intents.safety import Alarm, Danger
from intents.slots import shift_month
from knowledge_base.models import DEFAULT_QUIET_END_MINUTE, DEFAULT_QUIET_START_MINUTE
# Intents that work whatever else is going on.
# Offered as numbered choices when 小电 did not understand.
DEFAULT_CHOICES = (ids.PAY_BILL, ids.QUERY_BILL, ids.REPORT_OUTAGE)
MAX_ACCOUNT_TRIES = 2
# What a session (and a staff ticket) keeps of the conversation: the latest turns, each cut short.
# Enough for staff to see what happened; a flood of long turns cannot grow either without end.
MAX_TRANSCRIPT_TURNS = 40
MAX_TURN_CHARS = 300
# Open to whoever names the account: paying (also for a relative), reporting a fault and asking to be reconnected.
NAMED_ACTIONS = frozenset({ids.PAY_BILL, ids.CROSS_BORDER_PAYMENT, ids.FAMILY_PROXY, ids.REPORT_OUTAGE, ids.RECONNECT})
MAX_MISSES = 2
# An emergency is acted on even when the matcher is unsure: a false alarm costs
# a staff minute, a missed one can cost a life.
EMERGENCY_MIN_SCORE = 0.45
_CHINESE_ORDINALS = ("一", "二", "三", "四", "五")
# Not offered as a numbered choice: talk about the conversation, and what acts at once (alarms, staff).
_NOT_OFFERED = CONVERSATIONAL | {EMERGENCY, ids.FRAUD_CHECK, ids.COMPLAINT, HUMAN_AGENT}
# What an answer to each request offers to do next: "那就交了吧" after the amount due pays it.
OFFERED_AFTER = {
    ids.QUERY_BILL: ids.PAY_BILL,
    ids.QUERY_BALANCE: ids.PAY_BILL,
    ids.QUERY_USAGE: ids.PAY_BILL,
    ids.RECONNECT: ids.PAY_BILL,
    ids.FRAUD_CHECK: ids.QUERY_BALANCE,
    ids.TARIFF_INFO: ids.BILL_ESTIMATE,
}
# A relative far away pays: the link goes by SMS to the mobile they give (issue 13).
SHARED_LINK = frozenset({ids.CROSS_BORDER_PAYMENT, ids.FAMILY_PROXY})
# How many of the customer's latest turns a month or kWh said earlier still holds for.
CONTEXT_TURNS = 3
# The "对或者不对" prompt, in the forms 小电 says it.
_YES_NO_PROMPT = re.compile(r"请您?说“对”或者“不对”。")
_QUESTION = re.compile(r"[^。！？]*？")
# Actions that state what they will do and ask "对吗" anyway: no "您是想问……吗" before them.
SELF_CONFIRMING = frozenset({ids.PAY_BILL, ids.REMINDER_UNSUBSCRIBE, ids.UPDATE_CONTACT})
# Actions done at once, and what a change of mind right after them asks for.
UNDONE_BY = {ids.REMINDER_SUBSCRIBE: ids.REMINDER_UNSUBSCRIBE}
# What "how much" is about while a payment waits for its yes.
AMOUNT_QUESTIONS = frozenset({ids.PAY_BILL, ids.QUERY_BILL, ids.QUERY_BALANCE, ids.BILL_ESTIMATE})


class Channel(StrEnum):
    KIOSK = "kiosk"
    PHONE = "phone"
    WEB = "web"
    CLI = "cli"


class HandoffReason(StrEnum):
    ASKED = "asked"
    MISSES = "misses"
    EMERGENCY = "emergency"
    COMPLAINT = "complaint"
    FRAUD = "fraud"
    ACCOUNT = "account"  # the 户号 could not be found
    VERIFY = "verify"  # identity could not be verified
    LIMIT = "limit"  # too many 户号 looked up


class Verified(StrEnum):
    """How the customer proved they may see the account's data."""

    CALLER = "caller"  # the phone line's caller number is the phone on file
    CARD = "card"  # a card read signed by a registered kiosk device
    CODE = "code"  # a one-time code sent to the phone on file
    FALLBACK = "fallback"  # the holder's surname and the last four digits of the phone on file


# Named (unverified): the amount due and a payment link. These intents are answered
# with the amount due; every other personal answer or change waits for verification.
AMOUNT_DUE_INTENTS = frozenset({ids.QUERY_BALANCE, ids.QUERY_BILL, ids.QUERY_USAGE, ids.INVOICE})
# Changes that need verification even though their answer shows no personal data.
VERIFIED_ACTIONS = frozenset({ids.REMINDER_SUBSCRIBE, ids.REMINDER_UNSUBSCRIBE, ids.UPDATE_CONTACT})
# The first wrong try waits this long before the next is taken, doubling each time.
VERIFY_WAIT_SECONDS = 15
CODE_DIGITS = 6


@dataclass(frozen=True, slots=True)
class IdentityLimits:
    max_accounts_per_conversation: int = 3
    max_accounts_per_client_hour: int = 20
    max_verification_failures: int = 3
    code_minutes: int = 10


HANDOFF_PRIORITY = {HandoffReason.EMERGENCY: 0, HandoffReason.COMPLAINT: 1, HandoffReason.FRAUD: 1}


# --- what the policy asks the caller to do --------------------------------------


@dataclass(frozen=True, slots=True)
class IssuePaymentLink:
    account: str
    share: bool = False  # for a relative (cross-border, family): show the link text to forward
    # The relative's mobile (cross-border flow, issue 13): the link goes there by SMS and is not shown.
    send_to: str | None = None


@dataclass(frozen=True, slots=True)
class OpenHandoff:
    reason: HandoffReason
    summary: str

    @property
    def priority(self) -> int:
        return HANDOFF_PRIORITY.get(self.reason, 2)


@dataclass(frozen=True, slots=True)
class OpenRepairTicket:
    account: str | None
    kind: str  # outage, reconnect, meter_test
    description: str


@dataclass(frozen=True, slots=True)
class SetReminder:
    account: str
    active: bool
    channel: str = "sms"
    preferred_minute: int | None = None  # a time of day the customer said; None keeps the one on file
    family_phone: str | None = None  # a relative's mobile, read back and confirmed first


@dataclass(frozen=True, slots=True)
class UpdatePhone:
    account: str
    phone: str


@dataclass(frozen=True, slots=True)
class RecordRating:
    score: int  # 1 不满意, 2 一般, 3 满意


@dataclass(frozen=True, slots=True)
class SendCode:
    """A one-time code to the phone on file (for a phone change: the OLD number)."""

    account: str
    purpose: str = "verify"  # verify or phone_change


@dataclass(frozen=True, slots=True)
class VerificationAttempt:
    account: str
    method: Verified
    ok: bool


@dataclass(frozen=True, slots=True)
class RecordLookup:
    """A 户号 this client tried (counted against the per-client hourly limit)."""

    account: str


Effect = (IssuePaymentLink | OpenHandoff | OpenRepairTicket | SetReminder | UpdatePhone | RecordRating | SendCode
          | VerificationAttempt | RecordLookup)


# --- state ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Turn:
    speaker: str  # customer or assistant
    text: str
    intent: str = ""
    confidence: float | None = None

    def as_json(self) -> dict[str, object]:
        return {"speaker": self.speaker, "text": self.text, "intent": self.intent, "confidence": self.confidence}


@dataclass(frozen=True, slots=True)
class Pending:
    """A question 小电 asked and is waiting on."""

    kind: str  # confirm_action, confirm_intent, account, phone, kwh, choice, satisfaction, offer_handoff
    intent: str = ""  # the intent it belongs to
    data: tuple[str, ...] = ()  # e.g. the new phone number, the numbered choices
    reminded: bool = False  # kept open once already


@dataclass(frozen=True, slots=True)
class Reply:
    text: str  # on screen
    spoken: str  # aloud
    intent: str
    decision: str
    voice: VoiceSettings
    choices: tuple[str, ...] = ()  # numbered options the customer may pick
    end: bool = False


@dataclass(frozen=True, slots=True)
class SessionState:
    id: str
    channel: Channel
    started_at: datetime
    account: str | None = None
    pending: Pending | None = None
    account_tries: int = 0
    misses: int = 0
    last_reply: Reply | None = None
    voice: VoiceSettings = field(default_factory=VoiceSettings)
    transcript: tuple[Turn, ...] = ()
    topic: str = ""  # the last real request (for summaries and fraud handoffs)
    handed_off: bool = False
    ended: bool = False
    client: str = ""  # who is on the other end, as the edge knows it (address, line): for abuse limits
    verified: Verified | None = None  # how the current account was verified; None: named only
    accounts: tuple[str, ...] = ()  # distinct 户号 looked up in this conversation
    retry_at: datetime | None = None  # after a failed verification, the next try is taken from then on
    hall: str = ""  # the service hall, set only by a signed kiosk device's request (issue 15); "" elsewhere


@dataclass(frozen=True, slots=True)
class Understanding:
    """One customer turn as understood: the matcher's result, the slots and any danger heard in it."""

    match: MatchResult
    slots: Slots
    asr_confidence: float | None = None
    alarm: Alarm | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    state: SessionState
    reply: Reply
    effects: tuple[Effect, ...] = ()


class World(Protocol):
    """Read-only facts the policy may look at."""

    today: date
    now: datetime

    def needs_account(self, intent: str) -> bool: ...

    def account_exists(self, number: str) -> bool: ...

    def facts(self, account: str | None) -> CustomerFacts: ...

    def answer(self, intent: str, facts: CustomerFacts, slots: Slots) -> Answer | None: ...

    def title(self, intent: str) -> str: ...

    def waiting_tickets(self, session_id: str = "", priority: int = 2) -> int:
        """Tickets waiting ahead of this conversation's: other conversations', as urgent or more."""

    def paid_recently(self, account: str) -> datetime | None:
        """When the account's latest payment arrived, if any."""

    limits: IdentityLimits
    can_send_codes: bool  # an SMS sender exists (the FAKE one in demo mode, or a real gateway)

    def client_accounts(self, client: str) -> frozenset[str]:
        """The 户号 this client tried in the last hour."""

    def verification_failures(self, account: str) -> int:
        """Failed verifications of this account in the last hour, whoever tried."""

    def code_matches(self, session_id: str, account: str, code: str) -> bool:
        """The code is this conversation's latest unexpired, unused code for the account."""


# --- helpers -------------------------------------------------------------------


def _say(state: SessionState, text: str, intent: str, decision: str, spoken: str | None = None,
         choices: tuple[str, ...] = (), end: bool = False) -> Reply:
    return Reply(text, spoken or text, intent, decision, state.voice, choices, end)


def _with_lead(outcome: Outcome, lead: str) -> Outcome:
    reply = replace(outcome.reply, text=lead + outcome.reply.text, spoken=lead + outcome.reply.spoken)
    return replace(outcome, reply=reply)


# "八点以后别提醒" names a limit, not the time to remind.
_TIME_LIMIT = re.compile(r"\d点[半\d分]*(?:以后|之后|以前|之前)")
# Reminders are never sent at night (the default quiet hours).
_DAYTIME_MINUTES = range(DEFAULT_QUIET_END_MINUTE, DEFAULT_QUIET_START_MINUTE)


def _reminder_minute(understanding: Understanding) -> str:
    """The time of day a customer asked to be reminded at, as text for Pending data; "" for none."""
    minute = understanding.slots.time_of_day
    if minute is None or _TIME_LIMIT.search(understanding.match.normalized) or minute not in _DAYTIME_MINUTES:
        return ""
    return str(minute)


def _grouped_phone(phone: str) -> str:
    """13912345678 → 139 1234 5678: easy to check on the screen, and read aloud digit by digit."""
    return f"{phone[:3]} {phone[3:7]} {phone[7:]}"


def _digits_aloud(digits: str) -> str:
    """5678 → 五六七八: a number's tail said digit by digit (1 as 幺), never as a value."""
    return "".join("零幺二三四五六七八九"[int(d)] for d in digits)


def _choice_index(understanding: Understanding, count: int) -> int | None:
    """第二个 / 二 / 2 → 1 (the customer picked a numbered option)."""
    text = understanding.match.normalized
    for index in range(count):
        if text in (str(index + 1), f"第{index + 1}个", f"第{index + 1}", f"{index + 1}号", f"选{index + 1}"):
            return index
    return None


def _rating(understanding: Understanding) -> int | None:
    text = understanding.match.normalized
    if "不满意" in text or text in ("3", "第3个"):
        return 1
    if "一般" in text or "还行" in text or text in ("2", "第2个"):
        return 2
    if "满意" in text or text in ("1", "第1个") or understanding.match.intent == AFFIRM:
        return 3
    return None


def summarize(state: SessionState, reason: HandoffReason, world: World) -> str:
    """One sentence for staff: who, what they want, why 小电 handed over.

    An emergency leads with the danger in the customer's own words: it used to read "的问题没说清楚"
    (no request had been named yet), which sent staff the wrong way. With no request named, the
    summary says so rather than guess (staff pages, issue 13)."""
    who = f"户号{state.account}" if state.account else "户号未知"
    last = next((t.text for t in reversed(state.transcript) if t.speaker == "customer"), "")
    topic = state.topic if state.topic not in ("", HUMAN_AGENT, EMERGENCY) else ""
    if reason == HandoffReason.EMERGENCY:
        before = f"（之前想{world.title(topic)}）" if topic else ""
        return f"紧急：客户（{who}）报告危险情况：“{last}”，请立即处理{before}。"
    if not topic and reason == HandoffReason.ASKED:
        return f"客户（{who}）没说要办什么事，直接要求转人工。最后一句：“{last}”"
    # A complaint or a fraud check is itself the request: "想投诉，要投诉" says it twice.
    wants = f"想{world.title(topic)}，" if topic and reason not in (HandoffReason.COMPLAINT, HandoffReason.FRAUD) else ""
    why = {
        HandoffReason.ASKED: "要求转人工",
        HandoffReason.MISSES: "说的话小电连续两次没听懂",
        HandoffReason.COMPLAINT: "要投诉",
        HandoffReason.FRAUD: "可能遇到冒充供电公司的诈骗",
        HandoffReason.ACCOUNT: "户号没有找到",
        HandoffReason.VERIFY: "身份核实没有通过",
        HandoffReason.LIMIT: "查的户号超过了限额",
    }[reason]
    return f"客户（{who}）{wants}{why}。最后一句：“{last}”"


def dialogue_context(state: SessionState, today: date) -> DialogueContext:
    """The conversation as the next turn is read against it (see ``intents.context``)."""
    pending = state.pending
    month, kwh = None, None
    said = [turn.text for turn in state.transcript if turn.speaker == "customer"][-CONTEXT_TURNS:]
    for text in said:  # oldest first: the latest month (said, or counted from the one before) and kWh
        normalized = normalize(text)
        slots = extract_slots(normalized, today)
        step = month_step(normalized)
        month = slots.month or (shift_month(month, step) if month and step is not None else month)
        kwh = slots.kwh if slots.kwh is not None else kwh
    if pending is not None and pending.kind in ("confirm_action", "confirm_intent"):
        offered = pending.intent  # under "您要交……，对吗？" "行，那就交了吧" is a yes
    else:
        # After an amount, paying is offered; after paying was put off, "还是交了吧" takes it up again.
        offered = OFFERED_AFTER.get(state.topic, state.topic if state.topic in SELF_CONFIRMING else "")
    return DialogueContext(pending=pending.kind if pending else "", pending_intent=pending.intent if pending else "",
                           last_intent=state.topic, offered=offered, month=month, kwh=kwh)


def handoff_text(reason: HandoffReason, waiting_ahead: int, lead: str = "") -> str:
    """What happens next and roughly how long, said plainly (about 2 minutes per caller ahead)."""
    if reason == HandoffReason.EMERGENCY:
        return lead + "我已经通知值班人员优先处理，马上就有人和您联系。"
    minutes = max(1, (waiting_ahead + 1) * 2)
    ahead = f"前面还有{waiting_ahead}位，" if waiting_ahead else ""
    return (lead or "好的，") + f"我正在给您转人工客服。{ahead}大约{minutes}分钟，请您稍等，不要走开。"


# --- the policy ------------------------------------------------------------------


class Policy:
    """One conversation step; stateless itself, so one instance serves every session."""

    def step(self, state: SessionState, understanding: Understanding, world: World) -> Outcome:
        said = Turn("customer", understanding.match.text[:MAX_TURN_CHARS], understanding.match.intent,
                    understanding.match.confidence)
        # The customer's turn is in the transcript while deciding (handoff tickets carry it);
        # room is left for the reply that follows.
        state = replace(state, transcript=(state.transcript + (said,))[-(MAX_TRANSCRIPT_TURNS - 1):])
        outcome = self._decide(state, understanding, world)
        reply = outcome.reply
        new_state = replace(
            outcome.state,
            transcript=outcome.state.transcript + (Turn("assistant", reply.text[:MAX_TURN_CHARS]),),
            # Repeating repeats the answer itself, not "好的，我说慢一点" said about it.
            last_reply=reply if reply.intent not in (REPEAT, SLOWER) else outcome.state.last_reply,
            ended=outcome.state.ended or reply.end,
        )
        return Outcome(new_state, reply, outcome.effects)

    def _decide(self, state: SessionState, understanding: Understanding, world: World) -> Outcome:
        state, learned, refusal = self._learn_account(state, understanding, world)
        outcome = self._respond(state, understanding, world, refusal)
        return replace(outcome, effects=learned + outcome.effects)

    def _respond(self, state: SessionState, understanding: Understanding, world: World,
                 refusal: Outcome | None) -> Outcome:
        match = understanding.match
        alarm = understanding.alarm
        # The danger detector first; the matcher's own emergency intent is a second net.
        emergency = next((c for c in match.candidates[:1] if c.intent == EMERGENCY), None)
        if (alarm is not None and alarm.kind == Danger.EMERGENCY) or (
                emergency is not None and emergency.score >= EMERGENCY_MIN_SCORE):
            lead = self._answer_text(EMERGENCY, state, understanding, world)
            return self._handoff(state, HandoffReason.EMERGENCY, world, lead=lead)
        if alarm is not None and alarm.kind == Danger.FRAUD:
            return self._fraud(replace(state, pending=None), ids.FRAUD_CHECK, understanding, world)
        pending = state.pending
        if pending is not None and pending.kind in ("choice", "satisfaction"):
            # "一" / "二" answer the numbered question before anything else can claim them.
            if _choice_index(understanding, len(pending.data) or 3) is not None:
                outcome = self._answer_pending(state, pending, understanding, world)
                if outcome is not None:
                    return outcome
        if match.intent == REPEAT and match.decision != Decision.NONE:
            return self._repeat(state)
        if match.intent == SLOWER and match.decision != Decision.NONE:
            return self._repeat(replace(state, voice=state.voice.slower_and_louder()), slower=True)
        if match.intent == HUMAN_AGENT and match.decision != Decision.NONE:
            reason = HandoffReason.FRAUD if state.topic == ids.FRAUD_CHECK else HandoffReason.ASKED
            return self._handoff(state, reason, world)
        if refusal is not None:
            return refusal
        dropped = state.pending
        if dropped is not None:
            outcome = self._answer_pending(state, dropped, understanding, world)
            if outcome is not None:
                return outcome
            state = replace(state, pending=None)
        outcome = self._handle(state, understanding, world)
        if dropped is not None and dropped.kind == "confirm_action":
            # Asked something else instead of yes or no: say plainly that the action was not done.
            return _with_lead(outcome, f"好的，{world.title(dropped.intent)}先不办了。")
        return outcome

    # -- account --

    def _learn_account(self, state: SessionState, understanding: Understanding,
                       world: World) -> tuple[SessionState, tuple[Effect, ...], Outcome | None]:
        """Take a newly said 户号, within the limits that stop enumeration."""
        number = understanding.slots.account
        if not number or number == state.account:
            return state, (), None
        effects: tuple[Effect, ...] = ()
        if number not in state.accounts:
            limits = world.limits
            if len(state.accounts) >= limits.max_accounts_per_conversation:
                lead = f"抱歉，为了保护用户信息，一次最多查{limits.max_accounts_per_conversation}个户号。"
                return state, (), self._offer_handoff(state, HandoffReason.LIMIT, lead)
            tried = world.client_accounts(state.client)
            if number not in tried and len(tried) >= limits.max_accounts_per_client_hour:
                lead = "抱歉，为了保护用户信息，这里查的户号太多了，请过一个小时再查。"
                return state, (), self._offer_handoff(state, HandoffReason.LIMIT, lead)
            state = replace(state, accounts=state.accounts + (number,))
            effects = (RecordLookup(number),)
        if world.account_exists(number):
            # Another account: what was verified or about to be confirmed was for the old one. An action
            # being confirmed ("不对，我家户号是……") is asked again for the new one, unless the turn asks
            # for something else.
            pending = state.pending
            match = understanding.match
            if pending is not None and pending.kind == "confirm_action" and (
                    match.decision != Decision.ACCEPT or match.intent in (AFFIRM, DENY, pending.intent)):
                pending = Pending("account", pending.intent)
            state = replace(state, account=number, account_tries=0, verified=None, retry_at=None,
                            pending=pending if pending and pending.kind == "account" else None)
        return state, effects, None

    def _offer_handoff(self, state: SessionState, reason: HandoffReason, lead: str) -> Outcome:
        state = replace(state, pending=Pending("offer_handoff", state.topic, (reason.value,)))
        return Outcome(state, _say(state, lead + "要不要我帮您转人工？请说“要”或者“不用”。", state.topic or HUMAN_AGENT, "confirm"))

    # -- open questions --

    def _answer_pending(self, state: SessionState, pending: Pending, understanding: Understanding,
                        world: World) -> Outcome | None:
        """Resolve the open question; None means "drop it and treat the turn as new"."""
        intent = understanding.match.intent
        if pending.kind == "satisfaction":
            score = _rating(understanding)
            text = "谢谢您的评价，祝您生活愉快，再见。" if score else "好的，祝您生活愉快，再见。"
            effects: tuple[Effect, ...] = (RecordRating(score),) if score else ()
            return Outcome(replace(state, pending=None), _say(state, text, GOODBYE, "accept", end=True), effects)
        if pending.kind == "account":
            if state.account:
                return self._handle_intent(replace(state, pending=None), pending.intent, understanding, world)
            if intent == DENY:  # "户号我记不得了，算了"
                text = "好的，先不办了。找到户号以后，随时再来找我。请问还有什么可以帮您？"
                return Outcome(replace(state, pending=None), _say(state, text, DENY, "accept"))
            said_digits = understanding.match.normalized.isdigit()
            if (understanding.slots.account or said_digits or understanding.match.decision == Decision.NONE
                    or intent in (AFFIRM, DENY)):
                return self._account_not_found(state, pending, understanding)
            return None
        if pending.kind == "choice":
            index = _choice_index(understanding, len(pending.data))
            if index is not None:
                state = replace(state, pending=None, misses=0)
                return self._handle_intent(state, pending.data[index], understanding, world)
            return None
        if pending.kind == "phone":
            if understanding.slots.phone:
                return self._confirm(state, ids.UPDATE_CONTACT, f"您要把联系电话改成{understanding.slots.phone}，对吗？",
                                     data=(understanding.slots.phone,))
            return self._keep_open(state, pending, "请您说一下新的手机号，十一位数字。")
        if pending.kind in ("code", "verify_fallback"):
            return self._check_identity(state, pending, understanding, world)
        if pending.kind == "relative_phone" or (pending.kind == "confirm_action" and pending.intent in SHARED_LINK):
            outcome = self._relative_phone(state, pending, understanding)
            if outcome is not None:
                return outcome
        if pending.kind == "kwh":
            if understanding.slots.kwh is not None:
                return self._handle_intent(replace(state, pending=None), ids.BILL_ESTIMATE, understanding, world)
            return None
        # Yes/no questions. Giving the 户号 when offered a look-up means yes too, and so does asking
        # for the very thing being confirmed.
        gave_account = pending.kind == "confirm_intent" and bool(understanding.slots.account) and state.account
        # A yes must be clear: "这个" sounds a little like "对，就是这个" and must not pay.
        said_yes = understanding.match.decision == Decision.ACCEPT and (
            intent == AFFIRM or (pending.kind in YES_NO_QUESTIONS and intent == pending.intent))
        if said_yes or gave_account:
            state = replace(state, pending=None)
            if pending.kind == "confirm_action":
                return self._do_confirmed(state, pending, world)
            if pending.kind == "offer_handoff":
                return self._handoff(state, HandoffReason(pending.data[0]) if pending.data else HandoffReason.ASKED, world)
            if pending.kind == "verify_offer":
                return self._send_code(state, pending, world)
            return self._handle_intent(state, pending.intent, understanding, world)
        if (pending.kind == "confirm_action" and pending.intent == ids.PAY_BILL and intent in AMOUNT_QUESTIONS
                and ASKS_AMOUNT.search(understanding.match.normalized) and not takes_back(understanding.match.normalized)):
            # "多少钱来着？" while asked to confirm the payment: the amount again, and the same question.
            return self._handle_intent(replace(state, pending=None), ids.PAY_BILL, understanding, world)
        if intent == DENY:
            state = replace(state, pending=None)
            if pending.kind == "confirm_intent":
                text = "好的。请您换个说法，再说一遍您要办什么。"
            else:
                text = "好的，不办了。请问您还需要什么帮助？"
            return Outcome(state, _say(state, text, DENY, "accept"))
        candidates = understanding.match.candidates
        small_talk = bool(candidates) and candidates[0].intent == OUT_OF_SCOPE
        if understanding.match.decision != Decision.NONE or small_talk or pending.reminded:
            return None  # another request, 再见 or small talk instead of an answer: the question lapses
        return self._keep_open(state, pending, self._ask_yes_no_again(state))

    @staticmethod
    def _ask_yes_no_again(state: SessionState) -> str:
        """The question once more, alone: not the "对或者不对" prompt (said twice it sounds like a
        machine), nor what was said before the question."""
        said = state.last_reply.text if state.last_reply else ""
        questions = _QUESTION.findall(_YES_NO_PROMPT.sub("", said))
        return "抱歉，我没听清。" + (questions[-1] if questions else said)

    def _keep_open(self, state: SessionState, pending: Pending, text: str) -> Outcome:
        """Ask the same question once more; the next unrelated turn drops it."""
        state = replace(state, pending=replace(pending, reminded=True))
        return Outcome(state, _say(state, text, pending.intent or OUT_OF_SCOPE, "confirm", choices=pending.data if pending.kind == "choice" else ()))

    def _account_not_found(self, state: SessionState, pending: Pending, understanding: Understanding) -> Outcome:
        tries = state.account_tries + 1
        if tries >= MAX_ACCOUNT_TRIES:
            state = replace(state, account_tries=tries, pending=Pending("offer_handoff", pending.intent, (HandoffReason.ACCOUNT.value,)))
            text = "抱歉，我还是没有找到您的户号。要不要我帮您转人工？请说“要”或者“不用”。"
            return Outcome(state, _say(state, text, pending.intent, "confirm"))
        heard = understanding.slots.account
        lead = f"没有查到户号{heard}。" if heard else "没有听清您的户号。"
        state = replace(state, account_tries=tries)
        return Outcome(state, _say(state, lead + "请您看着电费单，一位一位地慢慢说，十位数字。", pending.intent, "confirm"))

    # -- identity --

    def _needs_verification(self, state: SessionState, intent: str, world: World) -> bool:
        if state.verified is not None:
            # A phone change needs a code sent to the number being replaced, whatever else was shown.
            return intent == ids.UPDATE_CONTACT and state.verified != Verified.CODE
        if intent in VERIFIED_ACTIONS:
            return True
        answer = world.answer(intent, world.facts(state.account), Slots())
        return answer is not None and answer.personal

    def _named_line(self, state: SessionState, world: World) -> str:
        """What anyone who names the account may hear: the masked holder and the amount due."""
        facts = world.facts(state.account)
        holder = mask_name(facts.account.holder) if facts.account else ""
        due = sum(b.amount_fen for b in facts.bills if not b.paid)
        owed = f"现在要交{formatting.yuan(due)}元。" if due else "现在不用交电费。"
        return f"户号{state.account}，户主{holder}，{owed}"

    def _ask_verification(self, state: SessionState, intent: str, world: World, lead: str = "") -> Outcome:
        """One short step to prove it is the holder: a code when one can be sent, else the fallback."""
        assert state.account is not None
        limits = world.limits
        if world.verification_failures(state.account) >= limits.max_verification_failures:
            return self._offer_handoff(state, HandoffReason.VERIFY, lead + "身份核实没通过的次数太多了，请找工作人员办理。")
        title = world.title(intent)
        facts = world.facts(state.account)
        if world.can_send_codes and facts.account is not None:
            tail = facts.account.phone[-4:]
            purpose = "phone_change" if intent == ids.UPDATE_CONTACT else "verify"
            text = (lead + f"办“{title}”，要先确认是户主本人。我给户主登记的手机，尾号{tail}，"
                    "发一条验证码，好吗？请说“好”或者“不用”。")
            state = replace(state, pending=Pending("verify_offer", intent, (purpose,)), topic=intent)
            return Outcome(state, _say(state, text, intent, "confirm"))
        if intent == ids.UPDATE_CONTACT:
            # Without a code to the old number only staff may change it.
            return self._offer_handoff(replace(state, topic=intent),
                                       HandoffReason.ASKED, lead + "改手机号要给原来的手机发验证码，现在发不了，请工作人员帮您办。")
        text = lead + f"办“{title}”，要先确认是户主本人。请您说一下户主姓什么，再说登记手机号的最后四位数字。"
        state = replace(state, pending=Pending("verify_fallback", intent), topic=intent)
        return Outcome(state, _say(state, text, intent, "confirm"))

    def _send_code(self, state: SessionState, pending: Pending, world: World) -> Outcome:
        assert state.account is not None
        facts = world.facts(state.account)
        tail = facts.account.phone[-4:] if facts.account else ""
        text = (f"好的，验证码已经发到尾号{tail}的手机上，{world.limits.code_minutes}分钟内有效。"
                f"请您看一下短信，把{CODE_DIGITS}位数字说给我。")
        purpose = pending.data[0] if pending.data else "verify"
        state = replace(state, pending=Pending("code", pending.intent))
        return Outcome(state, _say(state, text, pending.intent, "confirm"), (SendCode(state.account, purpose),))

    def _check_identity(self, state: SessionState, pending: Pending, understanding: Understanding,
                        world: World) -> Outcome | None:
        """The code, or the surname and last four digits, as the customer said them."""
        assert state.account is not None
        digits = re.sub(r"\D", "", understanding.match.normalized)
        by_code = pending.kind == "code"
        if not digits:
            if pending.reminded or understanding.match.decision != Decision.NONE:
                return None  # said something else (不用, another request): the question lapses
            ask = f"请您说一下短信里的{CODE_DIGITS}位数字。" if by_code else "请您说一下户主姓什么，和手机号的最后四位数字。"
            return self._keep_open(state, pending, ask)
        if state.retry_at is not None and world.now < state.retry_at:
            seconds = max(1, int((state.retry_at - world.now).total_seconds()))
            return Outcome(state, _say(state, f"请您稍等{seconds}秒，再说一遍。", pending.intent, "confirm"))
        if world.verification_failures(state.account) >= world.limits.max_verification_failures:
            # Checked before the guess is weighed: conversations opened before the failures piled
            # up must not each get a try at a four-digit secret.
            return self._handoff(state, HandoffReason.VERIFY, world, lead="抱歉，这个户号核实身份没通过的次数太多了。")
        if by_code:
            method, ok = Verified.CODE, len(digits) == CODE_DIGITS and world.code_matches(state.id, state.account, digits)
        else:
            method, ok = Verified.FALLBACK, self._fallback_matches(understanding, digits, world.facts(state.account))
        attempt = VerificationAttempt(state.account, method, ok)
        if ok:
            state = replace(state, verified=method, pending=None, retry_at=None)
            outcome = self._handle_intent(state, pending.intent, understanding, world)
            reply = replace(outcome.reply, text="核实好了。" + outcome.reply.text, spoken="核实好了。" + outcome.reply.spoken)
            return Outcome(outcome.state, reply, (attempt,) + outcome.effects)
        failures = world.verification_failures(state.account) + 1  # this one is written after the turn
        if failures >= world.limits.max_verification_failures:
            outcome = self._handoff(state, HandoffReason.VERIFY, world, lead="抱歉，没能核实您的身份。")
            return replace(outcome, effects=(attempt,) + outcome.effects)
        wait = VERIFY_WAIT_SECONDS * 2 ** (failures - 1)
        state = replace(state, retry_at=world.now + timedelta(seconds=wait), pending=replace(pending, reminded=False))
        said = "验证码不对。" if by_code else "和登记的信息对不上。"
        text = f"{said}请您再看一下，{wait}秒以后再说一遍。"
        return Outcome(state, _say(state, text, pending.intent, "confirm"), (attempt,))

    @staticmethod
    def _fallback_matches(understanding: Understanding, digits: str, facts: CustomerFacts) -> bool:
        account = facts.account
        if account is None or len(digits) < 4 or not account.holder:
            return False
        return digits[-4:] == account.phone[-4:] and account.holder[0] in understanding.match.text

    # -- answering --

    def _handle(self, state: SessionState, understanding: Understanding, world: World) -> Outcome:
        match = understanding.match
        if match.decision == Decision.NONE and understanding.slots.account and state.topic:
            # Only a 户号 ("户号是三二零一……"): it is for the request just made.
            return self._handle_intent(replace(state, misses=0), state.topic, understanding, world)
        if match.decision == Decision.NONE:
            return self._miss(state, understanding, world)
        settled = self._settled_by_slots(understanding, world)
        if settled is not None:
            return self._handle_intent(replace(state, misses=0), settled, understanding, world)
        if match.intent == ids.PAY_BILL and ASKS_AMOUNT.search(match.normalized):
            # "我这个月要交多少电费" asks the amount; paying is offered once it has been heard.
            return self._handle_intent(replace(state, misses=0), ids.QUERY_BILL, understanding, world)
        if match.decision == Decision.CONFIRM and match.intent not in SELF_CONFIRMING | {AFFIRM, DENY, GOODBYE}:
            title = world.title(match.intent)
            state = replace(state, pending=Pending("confirm_intent", match.intent))
            return Outcome(state, _say(state, f"您是想问“{title}”吗？请说“对”或者“不对”。", match.intent, "confirm"))
        return self._handle_intent(replace(state, misses=0), match.intent, understanding, world)

    @staticmethod
    def _settled_by_slots(understanding: Understanding, world: World) -> str | None:
        """A close call settled by what was said with it: a 户号 ("户号是……，这个月多少钱") points to that
        account's own data, a number of kWh ("一个月三百度左右，要交多少") to costing it."""
        match, slots = understanding.match, understanding.slots
        if match.decision != Decision.CONFIRM:
            return None
        close = match.candidates[:2]
        if slots.kwh is not None and any(c.intent == ids.BILL_ESTIMATE for c in close):
            return ids.BILL_ESTIMATE
        if slots.account:
            return next((c.intent for c in close if world.needs_account(c.intent)), None)
        return None

    def _miss(self, state: SessionState, understanding: Understanding, world: World) -> Outcome:
        candidates = understanding.match.candidates
        if candidates and candidates[0].intent == OUT_OF_SCOPE:
            # Small talk ("我老伴今天过生日") or another service, recognised as such: a friendly word and
            # an offer of help. Not a miss: the numbered menu is for when 小电 did not understand.
            answer = world.answer(OUT_OF_SCOPE, CustomerFacts(), understanding.slots)
            text = answer.display if answer else "这个我帮不上忙。电费、停电的事您都可以问我。请问有什么可以帮您？"
            return Outcome(state, _say(state, text, OUT_OF_SCOPE, "none", spoken=answer.spoken if answer else None))
        misses = state.misses + 1
        state = replace(state, misses=misses)
        if misses >= MAX_MISSES:
            return self._handoff(state, HandoffReason.MISSES, world, lead="抱歉，我没能听明白。")
        # Near misses are worth offering first, then the usual three.
        guesses = tuple(c.intent for c in candidates if c.intent not in _NOT_OFFERED and c.score >= 0.3)
        choices = tuple(dict.fromkeys(guesses[:3] + DEFAULT_CHOICES))[:3]
        listed = "；".join(f"{_CHINESE_ORDINALS[i]}、{world.title(intent)}" for i, intent in enumerate(choices))
        text = f"抱歉，我没听明白。我可以帮您：{listed}。您可以说一、二、三，或者点屏幕。"
        state = replace(state, pending=Pending("choice", OUT_OF_SCOPE, choices))
        return Outcome(state, _say(state, text, OUT_OF_SCOPE, "none", choices=choices))

    def _repeat(self, state: SessionState, slower: bool = False) -> Outcome:
        last = state.last_reply
        if last is None:
            text = "好的，我会说慢一点。请问有什么可以帮您？" if slower else "我还没说什么呢。请问有什么可以帮您？"
            return Outcome(state, _say(state, text, SLOWER if slower else REPEAT, "accept"))
        lead = "好的，我说慢一点。" if slower else "好的，我再说一遍。"
        reply = Reply(lead + last.text, lead + last.spoken, SLOWER if slower else REPEAT, "accept", state.voice,
                      last.choices, last.end)
        return Outcome(state, reply)

    @staticmethod
    def _visible_facts(state: SessionState, world: World) -> CustomerFacts:
        """What answers may draw on: the account's data once verified, else nothing of it (not even its hall)."""
        return world.facts(state.account) if state.verified else CustomerFacts()

    def _answer_text(self, intent: str, state: SessionState, understanding: Understanding, world: World) -> str:
        answer = world.answer(intent, self._visible_facts(state, world), understanding.slots)
        return answer.display if answer else ""

    def _handle_intent(self, state: SessionState, intent: str, understanding: Understanding, world: World) -> Outcome:
        """Act on an understood intent."""
        special = {
            GOODBYE: self._goodbye,
            AFFIRM: self._nothing_pending,
            DENY: self._nothing_pending,
            ids.COMPLAINT: self._complaint,
            ids.FRAUD_CHECK: self._fraud,
        }
        if intent in special:
            return special[intent](state, intent, understanding, world)
        # Sharing a link needs the account, but the general answer already helps without it.
        requires = world.needs_account(intent) and intent not in (ids.CROSS_BORDER_PAYMENT, ids.FAMILY_PROXY)
        if requires and not state.account:
            general = world.answer(intent, CustomerFacts(), understanding.slots)
            text = general.display if general else "请您告诉我户号，十位数字，在电费单上就有。"
            state = replace(state, pending=Pending("account", intent), topic=intent)
            return Outcome(state, _say(state, text, intent, "accept"))
        state = replace(state, topic=intent)
        if state.account and intent not in NAMED_ACTIONS and self._needs_verification(state, intent, world):
            lead = self._named_line(state, world) if intent in AMOUNT_DUE_INTENTS else ""
            return self._ask_verification(state, intent, world, lead)
        actions = {
            ids.PAY_BILL: self._pay_bill,
            ids.REMINDER_SUBSCRIBE: self._subscribe,
            ids.REMINDER_UNSUBSCRIBE: self._unsubscribe,
            ids.UPDATE_CONTACT: self._update_contact,
            ids.REPORT_OUTAGE: self._report_outage,
            ids.RECONNECT: self._reconnect,
            ids.CROSS_BORDER_PAYMENT: self._share_link,
            ids.FAMILY_PROXY: self._share_link,
        }
        if intent in actions:
            return actions[intent](state, intent, understanding, world)
        answer = world.answer(intent, self._visible_facts(state, world), understanding.slots)
        if answer is None:
            return self._miss(state, understanding, world)
        if intent == ids.BILL_ESTIMATE and understanding.slots.kwh is None:
            state = replace(state, pending=Pending("kwh", intent))
        return Outcome(state, _say(state, answer.display, intent, "accept", spoken=answer.spoken))

    def _confirm(self, state: SessionState, intent: str, question: str, data: tuple[str, ...] = ()) -> Outcome:
        state = replace(state, pending=Pending("confirm_action", intent, data))
        return Outcome(state, _say(state, question, intent, "confirm"))

    def _do_confirmed(self, state: SessionState, pending: Pending, world: World) -> Outcome:
        assert state.account is not None
        if pending.intent == ids.PAY_BILL:
            # A caller hears which phone to look at (the tail only: the line may be on speaker).
            on_file = world.facts(state.account).account if state.channel == Channel.PHONE else None
            text = (f"好的，付款短信已经发到您尾号{on_file.phone[-4:]}的手机上，请点开短信里的链接付款。" if on_file
                    else "好的，付款链接已经用短信发到您登记的手机上，请点开链接付款。" if state.channel == Channel.PHONE
                    else "好的，请用手机扫屏幕上的二维码付款，或者点“去付款”按钮。")
            return Outcome(state, _say(state, text, ids.PAY_BILL, "accept"), (IssuePaymentLink(state.account),))
        if pending.intent in SHARED_LINK:
            phone = pending.data[0]
            text = f"好的，付款链接已经用短信发到尾号{phone[-4:]}的手机上了。请家人点开短信里的链接付款。"
            spoken = f"好的，付款链接已经用短信发到尾号{_digits_aloud(phone[-4:])}的手机上了。请家人点开短信里的链接付款。"
            return Outcome(state, _say(state, text, pending.intent, "accept", spoken=spoken),
                           (IssuePaymentLink(state.account, share=True, send_to=phone),))
        if pending.intent == ids.REMINDER_SUBSCRIBE:
            channel, minute, family_phone = pending.data
            return self._reminders_on(state, pending.intent, channel, minute, family_phone)
        if pending.intent == ids.REMINDER_UNSUBSCRIBE:
            text = "好的，电费提醒已经取消了。以后想要，随时跟我说。"
            return Outcome(state, _say(state, text, pending.intent, "accept"), (SetReminder(state.account, False),))
        if pending.intent == ids.UPDATE_CONTACT:
            phone = pending.data[0]
            text = f"好的，联系电话已经改成{phone}了。"
            return Outcome(state, _say(state, text, pending.intent, "accept"), (UpdatePhone(state.account, phone),))
        raise ValueError(f"nothing to confirm for {pending.intent}")

    def _pay_bill(self, state: SessionState, intent: str, understanding: Understanding, world: World) -> Outcome:
        facts = world.facts(state.account)
        unpaid = [b for b in facts.bills if not b.paid]
        if not unpaid:
            return Outcome(state, _say(state, "您的电费已经交清了，现在不用交。谢谢您！", intent, "accept"))
        total = sum(b.amount_fen for b in unpaid)
        months = "、".join(formatting.month_label(b.month, world.today) for b in reversed(unpaid))
        return self._confirm(state, intent, f"您要交{months}的电费{formatting.yuan(total)}元，对吗？")

    def _subscribe(self, state: SessionState, intent: str, understanding: Understanding, world: World) -> Outcome:
        assert state.account is not None
        slots = understanding.slots
        channel = "call" if "电话" in understanding.match.normalized else "sms"
        minute = _reminder_minute(understanding)
        if slots.phone:  # "也发给我儿子，13912345678": a relative's phone is read back before it gets anything
            return self._confirm(state, intent, f"您要让{_grouped_phone(slots.phone)}这个手机也收到电费提醒，对吗？",
                                 data=(channel, minute, slots.phone))
        at_night = not minute and slots.time_of_day is not None and slots.time_of_day not in _DAYTIME_MINUTES
        night_note = "晚上9点到第二天早上8点，我们不打扰您，提醒都在白天。" if at_night else ""
        return self._reminders_on(state, intent, channel, minute, None, night_note)

    def _reminders_on(self, state: SessionState, intent: str, channel: str, minute: str,
                      family_phone: str | None, note: str = "") -> Outcome:
        assert state.account is not None
        how = "打电话" if channel == "call" else "发短信"
        when = (f"到时候在{formatting.time_of_day(int(minute))}前后" if minute else "出账和快到期的时候")
        family = f"您家人尾号{family_phone[-4:]}的手机也会收到。" if family_phone else ""
        text = f"好的，已经给户号{state.account}开通电费提醒。{when}，我们会给您{how}。{family}{note}"
        effect = SetReminder(state.account, True, channel, int(minute) if minute else None, family_phone)
        return Outcome(state, _say(state, text, intent, "accept"), (effect,))

    def _unsubscribe(self, state: SessionState, intent: str, understanding: Understanding, world: World) -> Outcome:
        return self._confirm(state, intent, "您要取消电费提醒，以后不再提醒您交电费，对吗？")

    def _update_contact(self, state: SessionState, intent: str, understanding: Understanding, world: World) -> Outcome:
        phone = understanding.slots.phone
        if phone:
            return self._confirm(state, intent, f"您要把联系电话改成{phone}，对吗？", data=(phone,))
        facts = world.facts(state.account)
        holder = mask_name(facts.account.holder) if facts.account else ""
        state = replace(state, pending=Pending("phone", intent))
        return Outcome(state, _say(state, f"好的，户主{holder}。请您说一下新的手机号。", intent, "accept"))

    def _report_outage(self, state: SessionState, intent: str, understanding: Understanding, world: World) -> Outcome:
        # Anyone may report a fault; the area and its planned outages are the holder's to hear.
        facts = self._visible_facts(state, world)
        now_outage = [o for o in facts.outages if o.starts_at.date() <= world.today <= o.ends_at.date()]
        if now_outage:
            answer = world.answer(ids.PLANNED_OUTAGE, facts, understanding.slots)
            return Outcome(state, _say(state, (answer.display if answer else "") + "这是计划停电，到时间会自动来电。", intent, "accept"))
        area = facts.account.area if facts.account else "您那里"
        text = (f"已经给您登记报修，{area}的抢修人员会尽快联系您。城区一般45分钟、农村90分钟内到现场。"
                "请先别碰电线和电闸。")
        ticket = OpenRepairTicket(state.account, "outage", understanding.match.text)
        return Outcome(state, _say(state, text, intent, "accept"), (ticket,))

    def _reconnect(self, state: SessionState, intent: str, understanding: Understanding, world: World) -> Outcome:
        assert state.account is not None
        facts = world.facts(state.account)
        unpaid = sum(b.amount_fen for b in facts.bills if not b.paid)
        if unpaid:
            text = f"户号{state.account}还欠电费{formatting.yuan(unpaid)}元。交清以后会自动复电，最晚24小时内来电。要现在交吗？"
            state = replace(state, pending=Pending("confirm_intent", ids.PAY_BILL))
            return Outcome(state, _say(state, text, intent, "accept"))
        paid_at = world.paid_recently(state.account)
        if paid_at is not None and (world.now - paid_at).total_seconds() < 24 * 3600:
            text = "您的电费已经交清了。一般会自动复电，最晚24小时内来电，请您再等一等。"
            return Outcome(state, _say(state, text, intent, "accept"))
        text = "您的电费已经交清了，按规定应该已经来电。我马上给您登记，抢修人员会尽快联系您。"
        return Outcome(state, _say(state, text, intent, "accept"),
                       (OpenRepairTicket(state.account, ids.RECONNECT, understanding.match.text),))

    def _share_link(self, state: SessionState, intent: str, understanding: Understanding, world: World) -> Outcome:
        """A relative far away pays: one question at a time (户号, then their mobile, then that number read
        back for a yes), and the link goes to them by SMS; nothing is said to be ready before it is sent."""
        if not world.can_send_codes:  # no SMS gateway: the ways they can pay by themselves, no promise
            which = f"户号{state.account}" if state.account else "户号"
            text = f"您的家人可以在支付宝或微信的“生活缴费”里，输入{which}交电费，在国外也能用。"
            return Outcome(state, _say(state, text, intent, "accept"))
        if not state.account:
            general = world.answer(intent, CustomerFacts(), understanding.slots)
            text = (general.display if general else "") + "要我用短信把付款链接发给家人的话，请先告诉我户号。"
            state = replace(state, pending=Pending("account", intent))
            return Outcome(state, _say(state, text, intent, "accept"))
        facts = world.facts(state.account)
        if not any(not b.paid for b in facts.bills):
            return Outcome(state, _say(state, f"户号{state.account}的电费已经交清了，现在不用交。", intent, "accept"))
        answer = world.answer(intent, facts, understanding.slots)  # the answer for a named account asks for the number
        text = answer.display if answer and "手机号" in answer.display else ""
        text = text or f"好的，我用短信把户号{state.account}的付款链接发给您的家人。请说一下家人的手机号。"
        state = replace(state, pending=Pending("relative_phone", intent))
        return Outcome(state, _say(state, text, intent, "accept"))

    def _relative_phone(self, state: SessionState, pending: Pending, understanding: Understanding) -> Outcome | None:
        """The relative's mobile: read back digit by digit for a yes; a "不对" or another number asks again.
        None: the turn is something else (the question lapses)."""
        phone, intent = understanding.slots.phone, understanding.match.intent
        if phone and not (pending.kind == "confirm_action" and pending.data and phone == pending.data[0]):
            return self._confirm(state, pending.intent, f"家人的手机号是{_grouped_phone(phone)}，对吗？", data=(phone,))
        if pending.kind == "confirm_action":
            if intent == DENY and understanding.match.decision == Decision.ACCEPT:
                state = replace(state, pending=Pending("relative_phone", pending.intent))
                return Outcome(state, _say(state, "好的，请您再说一遍家人的手机号。", pending.intent, "confirm"))
            return None  # yes, or anything else: the usual confirmation rules
        if pending.reminded or (understanding.match.decision == Decision.ACCEPT and intent != AFFIRM):
            return None  # a clear other request; a mumble or a half-heard word gets the question once more
        return self._keep_open(state, pending, "请您说一下家人的手机号，十一位数字。")

    def _complaint(self, state: SessionState, intent: str, understanding: Understanding, world: World) -> Outcome:
        state = replace(state, topic=intent)
        return self._handoff(state, HandoffReason.COMPLAINT, world, lead="非常抱歉给您添麻烦了。我把您的情况转给工作人员处理。")

    def _fraud(self, state: SessionState, intent: str, understanding: Understanding, world: World) -> Outcome:
        state = replace(state, topic=intent, pending=Pending("confirm_intent", ids.QUERY_BALANCE))
        answer = world.answer(intent, CustomerFacts(), understanding.slots)
        warning = answer.display if answer else "请小心，供电公司不会让您转账，也不会要银行卡号和验证码。"
        offer = "" if "查" in warning else "要我帮您查一下真实的电费吗？"
        return Outcome(state, _say(state, warning + offer, intent, "accept"))

    def _goodbye(self, state: SessionState, intent: str, understanding: Understanding, world: World) -> Outcome:
        state = replace(state, pending=Pending("satisfaction", intent))
        text = "感谢您使用小电。请问您对这次服务满意吗？满意请说一，一般说二，不满意说三。"
        return Outcome(state, _say(state, text, intent, "accept", choices=("满意", "一般", "不满意")))

    def _nothing_pending(self, state: SessionState, intent: str, understanding: Understanding, world: World) -> Outcome:
        offered = OFFERED_AFTER.get(state.topic, "")
        if intent == AFFIRM and offered in SELF_CONFIRMING:
            # "行" after hearing the amount due: the payment, which still asks "对吗" before anything happens.
            return self._handle_intent(state, offered, understanding, world)
        if understanding.slots.account and state.topic in (NAMED_ACTIONS | AMOUNT_DUE_INTENTS):
            # "不对不对，是三二零一……零三": the request goes on with the 户号 as corrected.
            return self._handle_intent(state, state.topic, understanding, world)
        if intent == DENY and state.topic in UNDONE_BY:
            # "算了，那就不要了" right after the reminder was switched on: switch it off (which asks first).
            return self._handle_intent(state, UNDONE_BY[state.topic], understanding, world)
        return Outcome(state, _say(state, "好的。请问有什么可以帮您？", intent, "accept"))

    def _handoff(self, state: SessionState, reason: HandoffReason, world: World, lead: str = "") -> Outcome:
        summary = summarize(state, reason, world)
        text = handoff_text(reason, world.waiting_tickets(state.id, HANDOFF_PRIORITY.get(reason, 2)), lead)
        intent = EMERGENCY if reason == HandoffReason.EMERGENCY else HUMAN_AGENT
        state = replace(state, handed_off=True, pending=None, misses=0)
        return Outcome(state, _say(state, text, intent, "accept"), (OpenHandoff(reason, summary),))
