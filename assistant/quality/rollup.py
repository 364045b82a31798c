"""The turn log read once into the quality tables, incrementally.

``refresh`` reads the turns after the cursor (``QualityCursor``), in id order and in batches,
and adds them to the day's figures (``QualityDay``), to their conversations
(``QualityConversation``) and to the unanswered utterances (``QualityUtterance``); the cursor
moves in the same transaction by compare-and-set, so two workers refreshing at once never
count a turn twice (the loser's batch is rolled back and nothing is lost). The dashboard, the
grouping and the sample read only these tables.

The day's figures are per channel and service hall. A kiosk may bind a conversation to its hall after
some of its turns were counted (``assistant.quality.halls``): the bind moves the cursor's ``binds`` and
what was counted (``move_to_hall``) in its own transaction, so a refresh that read those turns before
loses its compare-and-set and reads them again.

A turn is "unanswered" when 小电 did not understand it (none), asked to confirm a guess the
customer then simply said yes to (a needless confirmation), gave an answer the customer
corrected (不对…), an answer the customer asked to hear again, or was followed by a request
for a person. The last four point back at the customer's previous utterance.
"""

from __future__ import annotations

import weakref
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel

from assistant.quality import latency
from assistant.quality.privacy import masked
from intents import ids
from knowledge_base.models import (
    Account,
    HandoffTicket,
    QualityConversation,
    QualityCursor,
    QualityDay,
    QualityUtterance,
    Rectification,
    ReviewSample,
    SatisfactionRating,
    TurnLog,
    TurnMark,
    service_tz,
)

BATCH = 20_000
RETRIES = 5  # lost compare-and-sets in a row before a refresh leaves the rest to the workers that won
LOW_CONFIDENCE = 0.6
# Turns that steer the conversation rather than ask for something.
CONTROL_INTENTS = frozenset({ids.OUT_OF_SCOPE, ids.REPEAT, ids.SLOWER, ids.HUMAN_AGENT, ids.EMERGENCY, ids.AFFIRM,
                             ids.DENY, ids.GREETING, ids.GOODBYE})
CORRECTION_OPENINGS = ("不对", "不是", "错了", "我不是问", "我说的是", "说错了")
UNANSWERED_REASONS = {"none": "没听懂", "confirm": "多余的确认", "correction": "被客户纠正", "repeat": "客户要求再说",
                      "handoff": "之后转人工"}
MAX_TEXT = 200

_day_table = QualityDay.__table__  # type: ignore[attr-defined]
_conversation_table = QualityConversation.__table__  # type: ignore[attr-defined]
_utterance_table = QualityUtterance.__table__  # type: ignore[attr-defined]
_turn_table = TurnLog.__table__  # type: ignore[attr-defined]


def service_day(moment: datetime) -> date:
    moment = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(service_tz()).date()


def is_request(intent: str, decision: str) -> bool:
    return decision == "accept" and intent not in CONTROL_INTENTS


def is_correction(normalized: str, intent: str) -> bool:
    return intent == ids.DENY or normalized.startswith(CORRECTION_OPENINGS)


@dataclass
class _DayFigures:
    turns: int = 0
    none_turns: int = 0
    confirm_turns: int = 0
    emergencies: int = 0
    frauds: int = 0
    asr_turns: int = 0
    asr_confidence_sum: float = 0.0
    low_confidence_turns: int = 0
    latency_buckets: dict[str, int] = field(default_factory=dict)
    conversations: int = 0
    resolved: int = 0
    handoffs: dict[str, int] = field(default_factory=dict)
    ratings: dict[str, int] = field(default_factory=dict)

    def add(self, other: dict[str, Any], sign: int = 1) -> None:
        """Add ``other``'s figures (``sign`` -1: take them away, when a conversation moves to its hall)."""
        for name in ("turns", "none_turns", "confirm_turns", "emergencies", "frauds", "asr_turns",
                     "asr_confidence_sum", "low_confidence_turns", "conversations", "resolved"):
            setattr(self, name, getattr(self, name) + sign * other[name])
        for name in ("latency_buckets", "handoffs", "ratings"):
            mine = getattr(self, name)
            for key, count in other[name].items():
                mine[key] = mine.get(key, 0) + sign * count

    def add_turn(self, turn: Any) -> None:
        """One logged turn's own figures."""
        self.turns += 1
        self.none_turns += turn.decision == "none"
        self.confirm_turns += turn.decision == "confirm"
        self.emergencies += turn.intent == ids.EMERGENCY
        self.frauds += turn.intent == ids.FRAUD_CHECK
        if turn.asr_confidence is not None:
            self.asr_turns += 1
            self.asr_confidence_sum += float(turn.asr_confidence)
        self.low_confidence_turns += turn.confidence < LOW_CONFIDENCE
        bucket = str(latency.bucket_of(turn.latency_ms))
        self.latency_buckets[bucket] = self.latency_buckets.get(bucket, 0) + 1


@dataclass
class _Batch:
    """What one batch of turns adds; written in one go."""

    # (day, channel, hall) → figures
    days: dict[tuple[date, str, str], _DayFigures] = field(default_factory=lambda: defaultdict(_DayFigures))
    conversations: dict[str, dict[str, Any]] = field(default_factory=dict)
    new_conversations: set[str] = field(default_factory=set)
    # What each stored conversation counted for before this batch: (resolved, handoff reason).
    counted_before: dict[str, tuple[bool, str | None]] = field(default_factory=dict)
    utterances: dict[tuple[date, str, str], list[Any]] = field(default_factory=dict)  # key → [count, example]
    holders: dict[str, str] = field(default_factory=dict)  # account number → holder's name, of this batch

    def unanswered(self, day: date, normalized: str, reason: str, said: str, account: str | None) -> None:
        # Stored as reviewers may see it: phones and the conversation's account holder's name masked.
        names = [self.holders[account]] if account in self.holders else []
        text = masked(normalized.strip(), names)[:MAX_TEXT]
        if not text:
            return
        entry = self.utterances.setdefault((day, text, reason), [0, masked(said, names)[:MAX_TEXT]])
        entry[0] += 1


def _handoff_reasons(connection: Connection, since: datetime) -> dict[str, str]:
    """Each conversation's most urgent handoff reason among tickets opened since ``since``."""
    rows = connection.execute(
        select(HandoffTicket.session_id, HandoffTicket.reason, HandoffTicket.priority)
        .where(HandoffTicket.created_at >= since).order_by(HandoffTicket.priority.desc())  # type: ignore[attr-defined]
    )
    return {session_id: reason for session_id, reason, _ in rows}  # the most urgent (lowest priority) last wins


def _load_conversations(connection: Connection, session_ids: list[str]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(session_ids), 500):
        chunk = session_ids[start:start + 500]
        for row in connection.execute(select(_conversation_table).where(_conversation_table.c.session_id.in_(chunk))):
            found[row.session_id] = dict(row._mapping)
    return found


def _holders(connection: Connection, accounts: set[str | None]) -> dict[str, str]:
    """The holders' names of these accounts, so what a verified customer said is stored with it masked."""
    wanted = sorted(a for a in accounts if a)
    return {number: holder for start in range(0, len(wanted), 500) for number, holder in connection.execute(
        select(Account.number, Account.holder).where(Account.number.in_(wanted[start:start + 500])))}  # type: ignore[attr-defined]


def _resolved(conversation: dict[str, Any]) -> bool:
    return conversation["answered_turns"] > 0 and conversation["handoff_reason"] is None


def _count_conversations(batch: _Batch) -> None:
    """Each conversation's change of standing, on the day of its first turn: new, resolved, handed off."""
    for session_id, conversation in batch.conversations.items():
        figures = batch.days[(conversation["day"], conversation["channel"], conversation["hall"])]
        was_resolved, was_handed = batch.counted_before.get(session_id, (False, None))
        figures.conversations += session_id in batch.new_conversations
        figures.resolved += int(_resolved(conversation)) - int(was_resolved)
        if was_handed != conversation["handoff_reason"]:
            if was_handed is not None:
                figures.handoffs[was_handed] = figures.handoffs.get(was_handed, 0) - 1
            figures.handoffs[conversation["handoff_reason"]] = figures.handoffs.get(conversation["handoff_reason"], 0) + 1


def _count_ratings(connection: Connection, batch: _Batch, ratings: list[Any]) -> None:
    """Ratings on the day they were given, under their conversation's channel and hall."""
    places = {sid: (c["channel"], c["hall"]) for sid, c in batch.conversations.items()}
    unknown = list({r.session_id for r in ratings} - set(places))
    places.update({sid: (row["channel"], row["hall"]) for sid, row in _load_conversations(connection, unknown).items()})
    for rating in ratings:
        channel, hall = places.get(rating.session_id) or _place_in_log(connection, rating.session_id)
        figures = batch.days[(service_day(rating.at), channel, hall)]
        figures.ratings[str(rating.score)] = figures.ratings.get(str(rating.score), 0) + 1


def _place_in_log(connection: Connection, session_id: str) -> tuple[str, str]:
    """A conversation's channel and hall from its turns (a rating of a conversation not counted yet)."""
    row = connection.execute(select(_turn_table.c.channel, _turn_table.c.hall)
                             .where(_turn_table.c.session_id == session_id).limit(1)).first()
    return (row.channel, row.hall) if row is not None else ("kiosk", "")


def _count_turn(batch: _Batch, turn: Any, handoffs: dict[str, str]) -> None:
    day = service_day(turn.at)
    batch.days[(day, turn.channel, turn.hall)].add_turn(turn)

    conversation = batch.conversations.get(turn.session_id)
    if conversation is None:
        conversation = dict(session_id=turn.session_id, day=day, channel=turn.channel, hall=turn.hall,
                            account_number=None, turns=0,
                            answered_turns=0, main_intent="none", min_confidence=1.0, handoff_reason=None,
                            emergency=False, fraud=False, last_at=turn.at, last_text="", last_intent="none",
                            last_decision="none")
        batch.conversations[turn.session_id] = conversation
        batch.new_conversations.add(turn.session_id)
    previous_text, previous_intent, previous_decision = (conversation["last_text"], conversation["last_intent"],
                                                         conversation["last_decision"])
    normalized = turn.normalized or ""
    conversation["turns"] += 1
    conversation["account_number"] = turn.account_number or conversation["account_number"]
    conversation["min_confidence"] = min(conversation["min_confidence"], float(turn.confidence))
    conversation["emergency"] = conversation["emergency"] or turn.intent == ids.EMERGENCY
    conversation["fraud"] = conversation["fraud"] or turn.intent == ids.FRAUD_CHECK
    if turn.session_id in handoffs:
        conversation["handoff_reason"] = handoffs[turn.session_id]
    if is_request(turn.intent, turn.decision):
        conversation["answered_turns"] += 1
        if conversation["main_intent"] == "none":
            conversation["main_intent"] = turn.intent

    # What this turn says about itself, and about the utterance before it.
    if turn.decision == "none" and turn.intent == ids.OUT_OF_SCOPE:
        batch.unanswered(day, normalized, "none", turn.input_text, conversation["account_number"])
    previous_was_request = bool(previous_text) and previous_intent not in CONTROL_INTENTS
    if previous_was_request:
        if previous_decision == "confirm" and turn.intent == ids.AFFIRM:
            batch.unanswered(day, previous_text, "confirm", previous_text, conversation["account_number"])
        elif previous_decision in ("accept", "confirm") and is_correction(normalized, turn.intent):
            batch.unanswered(day, previous_text, "correction", previous_text, conversation["account_number"])
        elif turn.intent == ids.REPEAT and previous_decision == "accept":
            batch.unanswered(day, previous_text, "repeat", previous_text, conversation["account_number"])
        elif turn.intent == ids.HUMAN_AGENT:
            batch.unanswered(day, previous_text, "handoff", previous_text, conversation["account_number"])
    conversation["last_at"] = turn.at
    conversation["last_text"] = normalized[:MAX_TEXT]
    conversation["last_intent"] = turn.intent
    conversation["last_decision"] = turn.decision


def _write_days(connection: Connection, days: dict[tuple[date, str, str], _DayFigures]) -> None:
    if not days:
        return
    existing_days = {(row.day, row.channel, row.hall): dict(row._mapping) for row in connection.execute(
        select(_day_table).where(_day_table.c.day.in_({day for day, _, _ in days})))}
    new_days, changed_days = [], []
    for (day, channel, hall), figures in days.items():
        old = existing_days.get((day, channel, hall))
        if old is None:
            new_days.append(dict(day=day, channel=channel, hall=hall, **figures.__dict__))
            continue
        total = _DayFigures(**{k: v for k, v in old.items() if k not in ("day", "channel", "hall")})
        total.latency_buckets = dict(total.latency_buckets)
        total.handoffs, total.ratings = dict(total.handoffs), dict(total.ratings)
        total.add(figures.__dict__)
        changed_days.append(dict(b_day=day, b_channel=channel, b_hall=hall, **total.__dict__))
    if new_days:
        connection.execute(insert(_day_table), new_days)
    if changed_days:
        connection.execute(update(_day_table).where(_day_table.c.day == bindparam("b_day"),
                                                    _day_table.c.channel == bindparam("b_channel"),
                                                    _day_table.c.hall == bindparam("b_hall")), changed_days)


def _write(connection: Connection, batch: _Batch) -> None:
    _write_days(connection, batch.days)

    new = [row for key, row in batch.conversations.items() if key in batch.new_conversations]
    old = [dict(row, b_session_id=row["session_id"]) for key, row in batch.conversations.items()
           if key not in batch.new_conversations]
    if new:
        connection.execute(insert(_conversation_table), new)
    if old:
        for row in old:
            del row["session_id"]
        connection.execute(update(_conversation_table)
                           .where(_conversation_table.c.session_id == bindparam("b_session_id")), old)

    if batch.utterances:
        keys = list(batch.utterances)
        existing: dict[tuple[date, str, str], int] = {}
        for start in range(0, len(keys), 300):
            chunk = keys[start:start + 300]
            for row in connection.execute(select(_utterance_table.c.day, _utterance_table.c.text,
                                                 _utterance_table.c.reason, _utterance_table.c.count)
                                          .where(_utterance_table.c.text.in_({text for _, text, _ in chunk}),
                                                 _utterance_table.c.day.in_({day for day, _, _ in chunk}))):
                existing[(row.day, row.text, row.reason)] = row.count
        inserts = [dict(day=d, text=t, reason=r, count=c, example=e) for (d, t, r), (c, e) in batch.utterances.items()
                   if (d, t, r) not in existing]
        updates = [dict(b_day=d, b_text=t, b_reason=r, count=existing[(d, t, r)] + c)
                   for (d, t, r), (c, _) in batch.utterances.items() if (d, t, r) in existing]
        if inserts:
            connection.execute(insert(_utterance_table), inserts)
        if updates:
            connection.execute(update(_utterance_table).where(
                _utterance_table.c.day == bindparam("b_day"), _utterance_table.c.text == bindparam("b_text"),
                _utterance_table.c.reason == bindparam("b_reason")), updates)


def lock_cursor(connection: Connection) -> tuple[int, int]:
    """In the caller's transaction: move ``binds`` (so a refresh that read turns before this commits loses its
    compare-and-set and reads them again) and return what has been counted: (last turn id, last rating id).
    Taken first, it holds the cursor (SQLite's write lock, PostgreSQL's row lock) until the caller commits."""
    connection.execute(update(QualityCursor.__table__).where(QualityCursor.id == 1)  # type: ignore[attr-defined]
                       .values(binds=QualityCursor.binds + 1))
    position = connection.execute(select(QualityCursor.last_turn_id, QualityCursor.last_rating_id)
                                  .where(QualityCursor.id == 1)).first()
    return (position[0], position[1]) if position is not None else (0, 0)


def move_to_hall(connection: Connection, session_id: str, hall: str, counted: tuple[int, int]) -> None:
    """A conversation just bound to a kiosk's hall: what was already counted of it (turns up to
    ``counted``'s turn id, ratings up to its rating id) moves from its channel without a hall to
    (kiosk, ``hall``); call it with the cursor held (``lock_cursor``), before its turns get their hall."""
    turn_cursor, rating_cursor = counted
    turns = connection.execute(
        select(_turn_table.c.at, _turn_table.c.channel, _turn_table.c.asr_confidence, _turn_table.c.intent,
               _turn_table.c.confidence, _turn_table.c.decision, _turn_table.c.latency_ms)
        .where(_turn_table.c.session_id == session_id, _turn_table.c.hall == "", _turn_table.c.id <= turn_cursor)).all()
    stored = _load_conversations(connection, [session_id]).get(session_id)
    if stored is not None and stored["hall"]:
        return  # counted under a hall already
    channel = stored["channel"] if stored is not None else (turns[0].channel if turns else None)
    if channel is None:
        return  # nothing of it counted yet
    moved: dict[tuple[date, str], _DayFigures] = defaultdict(_DayFigures)
    for turn in turns:
        moved[(service_day(turn.at), turn.channel)].add_turn(turn)
    if stored is not None:
        figures = moved[(stored["day"], channel)]
        figures.conversations += 1
        figures.resolved += _resolved(stored)
        if stored["handoff_reason"] is not None:
            figures.handoffs[stored["handoff_reason"]] = figures.handoffs.get(stored["handoff_reason"], 0) + 1
        connection.execute(update(_conversation_table).where(_conversation_table.c.session_id == session_id)
                           .values(hall=hall, channel="kiosk"))
    for rating in connection.execute(select(SatisfactionRating.score, SatisfactionRating.at).where(
            SatisfactionRating.session_id == session_id, SatisfactionRating.id <= rating_cursor)):
        figures = moved[(service_day(rating.at), channel)]
        figures.ratings[str(rating.score)] = figures.ratings.get(str(rating.score), 0) + 1
    changes: dict[tuple[date, str, str], _DayFigures] = defaultdict(_DayFigures)
    for (day, old_channel), figures in moved.items():
        changes[(day, old_channel, "")].add(figures.__dict__, -1)
        changes[(day, "kiosk", hall)].add(figures.__dict__)
    _write_days(connection, changes)


def _refresh_batch(engine: Engine, batch_size: int) -> tuple[int, int] | None:
    """One batch in one transaction; returns how many turns and ratings it counted (0, 0: none left), or
    None when the cursor moved meanwhile (another worker counted them, or a kiosk bound a conversation to
    its hall): read again."""
    with engine.connect() as connection:
        position = connection.execute(select(QualityCursor.last_turn_id, QualityCursor.last_rating_id,
                                             QualityCursor.binds).where(QualityCursor.id == 1)).first()
        if position is None:  # the migration makes the row; a database made by create_all may lack it
            try:
                connection.execute(insert(QualityCursor.__table__),  # type: ignore[attr-defined]
                                   {"id": 1, "last_turn_id": 0, "last_rating_id": 0, "binds": 0})
                connection.commit()
            except IntegrityError:  # another worker made it at this moment
                connection.rollback()
            position = (0, 0, 0)
        cursor, rating_cursor, binds = position
        turns = connection.execute(
            select(_turn_table.c.id, _turn_table.c.session_id, _turn_table.c.at, _turn_table.c.channel,
                   _turn_table.c.account_number, _turn_table.c.input_text, _turn_table.c.asr_confidence,
                   _turn_table.c.normalized, _turn_table.c.intent, _turn_table.c.confidence,
                   _turn_table.c.decision, _turn_table.c.latency_ms, _turn_table.c.hall)
            .where(_turn_table.c.id > cursor).order_by(_turn_table.c.id).limit(batch_size)
        ).all()
        ratings = connection.execute(
            select(SatisfactionRating.id, SatisfactionRating.session_id, SatisfactionRating.score, SatisfactionRating.at)
            .where(SatisfactionRating.id > rating_cursor).order_by(SatisfactionRating.id).limit(batch_size)).all()
        if not turns and not ratings:
            connection.rollback()
            return 0, 0
        batch = _Batch()
        if turns:
            earliest = min(t.at for t in turns)
            handoffs = _handoff_reasons(connection, earliest - timedelta(minutes=1))
            batch.conversations = _load_conversations(connection, list({t.session_id for t in turns}))
            batch.counted_before = {sid: (_resolved(c), c["handoff_reason"]) for sid, c in batch.conversations.items()}
            batch.holders = _holders(connection, {t.account_number for t in turns}
                                     | {c["account_number"] for c in batch.conversations.values()})
            for turn in turns:
                _count_turn(batch, turn, handoffs)
            _count_conversations(batch)
        _count_ratings(connection, batch, ratings)
        # The cursor first: on SQLite this takes the write lock, and a worker that lost the race stops here.
        moved = connection.execute(update(QualityCursor.__table__)  # type: ignore[attr-defined]
                                   .where(QualityCursor.id == 1, QualityCursor.last_turn_id == cursor,
                                          QualityCursor.last_rating_id == rating_cursor,
                                          QualityCursor.binds == binds)
                                   .values(last_turn_id=turns[-1].id if turns else cursor,
                                           last_rating_id=ratings[-1].id if ratings else rating_cursor))
        if moved.rowcount != 1:
            connection.rollback()
            return None
        _write(connection, batch)
        connection.commit()
        return len(turns), len(ratings)


# Engines whose quality tables are known to exist.
_checked: "weakref.WeakSet[Engine]" = weakref.WeakSet()
_QUALITY_TABLES = (QualityCursor, QualityDay, QualityConversation, QualityUtterance, ReviewSample, TurnMark,
                   Rectification)


def _ensure_tables(engine: Engine) -> None:
    """Create the quality tables if missing. Migration 0006 makes them; a database stamped 0006 while that
    revision was still an empty placeholder (development copies made during issue 15) would otherwise
    never get them, and later revisions already exist."""
    if engine in _checked:
        return
    SQLModel.metadata.create_all(engine, tables=[model.__table__ for model in _QUALITY_TABLES])  # type: ignore[attr-defined]
    _checked.add(engine)


def refresh(engine: Engine, batch_size: int = BATCH) -> int:
    """Count every turn not yet counted; returns how many."""
    _ensure_tables(engine)
    counted, lost = 0, 0
    while True:
        result = _refresh_batch(engine, batch_size)
        if result is None:
            lost += 1
            if lost > RETRIES:  # other workers keep winning: they count what is left
                return counted
            continue
        turns, ratings = result
        counted += turns
        if turns < batch_size and ratings < batch_size:
            return counted


def purge_said(engine: Engine, days: int, today: date) -> int:
    """What customers said leaves with the turn log (``settings.turn_log_days``): the unanswered texts and
    each conversation's last utterance older than that go; the counts without text stay. Returns the texts removed."""
    cutoff = today - timedelta(days=days)
    with engine.begin() as connection:
        removed = connection.execute(delete(_utterance_table).where(_utterance_table.c.day < cutoff)).rowcount or 0
        connection.execute(update(_conversation_table).where(_conversation_table.c.day < cutoff,
                                                             _conversation_table.c.last_text != "")
                           .values(last_text=""))
        return removed


def bring_up_to_date(engine: Engine, retention_days: int, today: date) -> int:
    """What every quality page and command does first: count the new turns, drop what retention says to."""
    counted = refresh(engine)
    purge_said(engine, retention_days, today)
    return counted
