"""Run multi-turn conversations end to end, in process, as ``xiaodian chat --json`` would.

A conversation file is YAML: a list of conversations, each with a ``name`` (what it checks), an
optional ``id`` and ``turns``; each turn has ``say`` (what the customer says) and ``expect``:

    intent      one id or a list of ids the reply's intent must be among ("none" when there is none)
    has         a list of strings: the reply text holds at least one of them
    not         a list of strings: the reply text holds none of them
    pay         true: a payment link comes with this reply; false: none does
    handoff     true: a staff ticket is opened with this reply; false: none is
    end         true: the conversation ends with this reply
    rate_below  the voice rate of this reply is below this number

How the customer is known, per conversation (the ``xiaodian chat`` options):

    account       a card read at a kiosk: that account, verified (``--account``)
    named         a 户号 said earlier: named, not verified (``--named``)
    caller_phone  the phone line's caller number, verified when it is the number on file
                  (``--caller-phone``; the channel becomes ``phone`` unless ``channel`` says otherwise)
    channel       kiosk, phone, web or cli (default cli, as ``xiaodian chat``)
    demo          true: demo mode, where the FAKE SMS gateway sends one-time codes
    any           expectations that at least one turn must meet

A ``say`` may hold ``{sms_code}``: the digits of the latest one-time code the (demo) SMS gateway
sent, as the customer reads them off the phone.

Each conversation runs on its own copy of one database seeded per process (as ``xiaodian db init``
does), through the same services and voice pipeline as ``xiaodian chat``: what is checked is what a
customer gets.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import statistics
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy.engine import Engine
from sqlmodel import select

from assistant.cli import _conversation_turns
from assistant.conversation import ConversationService
from assistant.events import Replied
from assistant.pipeline import Stage, TypedInput, VoicePipeline
from assistant.services import build_services
from knowledge_base.db import make_engine, session
from knowledge_base.models import SERVICE_TZ, SmsMessage
from knowledge_base.seed import seed_database
from knowledge_base.settings import Settings

DATABASE_NAME = "xiaodian.db"
SMS_CODE = "{sms_code}"
EXPECTATION_KEYS = frozenset({"intent", "has", "not", "pay", "handoff", "end", "rate_below"})


@dataclass(frozen=True, slots=True)
class Turn:
    say: str
    expect: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Conversation:
    id: str
    name: str
    turns: tuple[Turn, ...]
    account: str | None = None
    named: str | None = None
    caller_phone: str | None = None
    channel: str = "cli"
    demo: bool = False
    any: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ConversationResult:
    conversation: Conversation
    problems: tuple[str, ...]
    turns_met: int
    turn_latencies_ms: tuple[float, ...]

    @property
    def passed(self) -> bool:
        return not self.problems

    def describe(self) -> str:
        head = f"{'ok  ' if self.passed else 'FAIL'} {self.conversation.id} {self.conversation.name}"
        return "\n".join((head, *self.problems))


@dataclass(frozen=True, slots=True)
class SuiteResult:
    results: tuple[ConversationResult, ...]

    @property
    def total(self) -> int:
        return len(self.results)

    @property
    def passed(self) -> int:
        return sum(result.passed for result in self.results)

    @property
    def rate(self) -> float:
        return self.passed / self.total if self.total else 0.0

    @property
    def turns_total(self) -> int:
        return sum(len(result.conversation.turns) for result in self.results)

    @property
    def turns_met(self) -> int:
        return sum(result.turns_met for result in self.results)

    @property
    def failures(self) -> tuple[ConversationResult, ...]:
        return tuple(result for result in self.results if not result.passed)

    @property
    def turn_latencies_ms(self) -> list[float]:
        return [ms for result in self.results for ms in result.turn_latencies_ms]

    def summary(self) -> str:
        """The scorer's last line, so figures from both read alike."""
        return (f"conversations {self.passed}/{self.total} passed (rate {self.rate:.3f}), "
                f"turns {self.turns_met}/{self.turns_total} met")

    def report(self) -> str:
        return "\n".join([*(failure.describe() for failure in self.failures), self.summary()])


def load_conversations(path: Path) -> list[Conversation]:
    """The conversations of one YAML file; a mistyped expectation is an error, not a silent pass."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    conversations = []
    for index, item in enumerate(raw, start=1):
        turns = tuple(Turn(str(turn["say"]), dict(turn.get("expect") or {})) for turn in item["turns"])
        for turn in turns:
            unknown = set(turn.expect) - EXPECTATION_KEYS
            if unknown:
                raise ValueError(f"{path.name} #{index}: unknown expectation {sorted(unknown)} in {turn.say!r}")
        caller_phone = _optional_text(item.get("caller_phone"))
        conversations.append(Conversation(
            id=str(item.get("id") or f"{path.stem}#{index}"),
            name=str(item["name"]),
            turns=turns,
            account=_optional_text(item.get("account")),
            named=_optional_text(item.get("named")),
            caller_phone=caller_phone,
            channel=str(item.get("channel") or ("phone" if caller_phone else "cli")),
            demo=bool(item.get("demo", False)),
            any=item.get("any"),
        ))
    return conversations


def _optional_text(value: Any) -> str | None:
    return None if value is None else str(value)


def check(expect: dict[str, Any], reply: dict[str, Any]) -> list[str]:
    """What in one reply (``ConversationReply.as_json``) falls short of the expectation; empty when met."""
    problems = []
    text = reply.get("text") or ""
    if "intent" in expect:
        wanted = expect["intent"] if isinstance(expect["intent"], list) else [expect["intent"]]
        if (reply.get("intent") or "none") not in wanted:
            problems.append(f"intent {reply.get('intent')} not in {wanted}")
    if "has" in expect and not any(part in text for part in expect["has"]):
        problems.append(f"text lacks any of {expect['has']}")
    for part in expect.get("not", []):
        if part in text:
            problems.append(f"text has {part!r}")
    if "pay" in expect and bool(reply.get("pay_url")) != expect["pay"]:
        problems.append(f"pay_url {'missing' if expect['pay'] else 'present'}")
    if "handoff" in expect and bool(reply.get("handoff")) != expect["handoff"]:
        problems.append(f"handoff {'missing' if expect['handoff'] else 'present'}")
    if expect.get("end") and not reply.get("end"):
        problems.append("did not end")
    if "rate_below" in expect:
        rate = (reply.get("voice") or {}).get("rate", 999)
        if not rate < expect["rate_below"]:
            problems.append(f"voice rate {rate} not below {expect['rate_below']}")
    return problems


@dataclass
class ConversationRunner:
    """Runs conversations, each on a fresh copy of one seeded database file made on first use."""

    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="xiaodian-conversations-")))

    @cached_property
    def template(self) -> Path:
        """Seeded once, as ``xiaodian db init`` does; the demo's dates count from today where the service is."""
        path = self.workdir / "template" / DATABASE_NAME
        path.parent.mkdir(parents=True, exist_ok=True)
        engine = make_engine(f"sqlite:///{path}")
        try:
            seed_database(engine, today=datetime.now(SERVICE_TZ).date())
        finally:
            engine.dispose()
        return path

    def run_all(self, conversations: Iterable[Conversation]) -> SuiteResult:
        return SuiteResult(tuple(self.run(conversation) for conversation in conversations))

    def run(self, conversation: Conversation) -> ConversationResult:
        replies, latencies = self._replies(conversation)
        problems = []
        met = 0
        for number, (turn, reply) in enumerate(zip(conversation.turns, replies, strict=False), start=1):
            bad = check(turn.expect, reply)
            if bad:
                problems.append(f"  turn {number} '{turn.say}' -> {reply.get('intent')} "
                                f"「{(reply.get('text') or '')[:80]}」: {'; '.join(bad)}")
            else:
                met += 1
        for number, turn in enumerate(conversation.turns[len(replies):], start=len(replies) + 1):
            problems.append(f"  turn {number} '{turn.say}': no reply (the conversation had ended)")
        if conversation.any and not any(not check(conversation.any, reply) for reply in replies):
            problems.append(f"  no turn met {conversation.any}")
        return ConversationResult(conversation, tuple(problems), met, tuple(latencies))

    def _replies(self, conversation: Conversation) -> tuple[list[dict[str, Any]], list[float]]:
        """Every reply as ``xiaodian chat --json`` prints it, and each turn's time; stops where the reply ends."""
        data_dir = Path(tempfile.mkdtemp(prefix="conversation-", dir=self.workdir))
        shutil.copyfile(self.template, data_dir / DATABASE_NAME)
        settings = Settings(data_dir=data_dir, database_url="", demo=conversation.demo)
        # As ``xiaodian chat`` builds them; the copy is seeded already, so seeding again would only cost time.
        services = build_services(settings, seed=False, provider_required=False)
        try:
            return asyncio.run(self._talk(services.conversations, conversation))
        finally:
            services.engine.dispose()
            shutil.rmtree(data_dir, ignore_errors=True)

    @staticmethod
    async def _talk(conversations: ConversationService, conversation: Conversation) -> tuple[list[dict[str, Any]], list[float]]:
        pipeline = VoicePipeline(_conversation_turns(conversations))
        state = conversations.start(conversation.channel, conversation.named, conversation.caller_phone, client="cli")
        if conversation.account:
            conversations.present_card(state.id, state.channel, conversation.account, client="cli")
        replies: list[dict[str, Any]] = []
        latencies: list[float] = []
        for turn in conversation.turns:
            said = turn.say.replace(SMS_CODE, _latest_code(conversations.knowledge.engine)) if SMS_CODE in turn.say \
                else turn.say
            started = time.perf_counter()
            events = [event async for event in pipeline.run(TypedInput(said), session_id=state.id,
                                                              channel=state.channel, client="cli", until=Stage.REPLY)]
            latencies.append((time.perf_counter() - started) * 1000)
            reply = next(event.reply for event in events if isinstance(event, Replied))
            replies.append(reply.as_json())
            if reply.end:
                break
        return replies, latencies

    def close(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)


def _latest_code(engine: Engine) -> str:
    """The code in the newest code SMS, or nothing when none was sent (the turn then says no digits)."""
    with session(engine) as db:
        text = db.exec(select(SmsMessage.text).where(SmsMessage.kind == "code")
                       .order_by(SmsMessage.id.desc())).first()  # type: ignore[union-attr]
    found = re.search(r"验证码(\d+)", text or "")
    return found.group(1) if found else ""


def load_folder(folder: Path) -> list[Conversation]:
    return [conversation for path in sorted(folder.glob("*.yaml")) for conversation in load_conversations(path)]


def percentile(values: Sequence[float], share: float) -> float:
    """The value below which ``share`` of the values lie (nearest rank)."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else 0.0
