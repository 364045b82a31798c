"""The day's review sample: stratified by intent and channel, plus targeted picks (分层抽样加重点抽样).

Strata are (main intent, channel) of the day's conversations; each stratum gives a share
of ``stratified`` picks in proportion to its size, at least one. Targeted picks add, up to
``per_target`` each: high-frequency intents (payment, outages), low confidence, dissatisfied
ratings, handoffs, new scenarios (cross-border and family payment), long conversations. The
draw is seeded by the day, so drawing again gives the same sample (and adds nothing twice).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date

from sqlalchemy.engine import Engine
from sqlmodel import col, select

from intents import ids
from knowledge_base.db import session
from knowledge_base.models import QualityConversation, ReviewSample, SatisfactionRating

HIGH_FREQUENCY = frozenset({ids.PAY_BILL, ids.QUERY_BILL, ids.REPORT_OUTAGE, ids.PLANNED_OUTAGE})
NEW_SCENARIOS = frozenset({ids.CROSS_BORDER_PAYMENT, ids.FAMILY_PROXY})
LONG_CONVERSATION_TURNS = 8
LOW_CONFIDENCE = 0.6
PICK_LABELS = {"stratum": "分层抽样", "dissatisfied": "客户不满意", "handoff": "转人工", "new_scenario": "新场景",
               "high_frequency": "高频业务", "low_confidence": "置信度低", "long": "对话很长"}


@dataclass(frozen=True)
class SampleSize:
    stratified: int = 20
    per_target: int = 3


def halls_of(engine: Engine, samples: list[ReviewSample]) -> dict[int, str]:
    """Each sampled conversation's service hall ("" at none), by sample id: the reviewer sees where it was."""
    with session(engine) as db:
        halls = dict(db.exec(select(QualityConversation.session_id, QualityConversation.hall).where(
            col(QualityConversation.session_id).in_([s.session_id for s in samples]))).all())
    return {s.id: halls.get(s.session_id, "") for s in samples if s.id is not None}


def draw_sample(engine: Engine, day: date, size: SampleSize = SampleSize()) -> list[ReviewSample]:
    """Draw (or return the already drawn) sample of ``day``."""
    with session(engine) as db:
        existing = list(db.exec(select(ReviewSample).where(ReviewSample.day == day).order_by(ReviewSample.id)))
        if existing:
            return existing
        conversations = list(db.exec(select(QualityConversation).where(QualityConversation.day == day)
                                     .order_by(QualityConversation.session_id)))
        dissatisfied = set(db.exec(select(SatisfactionRating.session_id).where(SatisfactionRating.score == 1)))
        rng = random.Random(day.toordinal())
        picked: dict[str, str] = {}

        strata: dict[tuple[str, str], list[QualityConversation]] = {}
        for conversation in conversations:
            strata.setdefault((conversation.main_intent, conversation.channel), []).append(conversation)
        total, budget = len(conversations), size.stratified
        # Largest strata first, each its proportional share (at least one) while the budget lasts.
        for _, members in sorted(strata.items(), key=lambda item: (-len(item[1]), item[0])):
            share = min(max(1, round(size.stratified * len(members) / total)), budget, len(members))
            for conversation in rng.sample(members, share):
                picked.setdefault(conversation.session_id, "stratum")
            budget -= share
            if budget <= 0:
                break

        targets = {  # what a customer felt first: a conversation picked for two reasons shows the first
            "dissatisfied": lambda c: c.session_id in dissatisfied,
            "handoff": lambda c: c.handoff_reason is not None,
            "new_scenario": lambda c: c.main_intent in NEW_SCENARIOS,
            "high_frequency": lambda c: c.main_intent in HIGH_FREQUENCY,
            "low_confidence": lambda c: c.min_confidence < LOW_CONFIDENCE,
            "long": lambda c: c.turns >= LONG_CONVERSATION_TURNS,
        }
        for reason, wanted in targets.items():
            matching = [c for c in conversations if wanted(c) and c.session_id not in picked]
            for conversation in rng.sample(matching, min(size.per_target, len(matching))):
                picked[conversation.session_id] = reason
        channel_of = {c.session_id: c.channel for c in conversations}
        rows = [ReviewSample(day=day, session_id=sid, channel=channel_of[sid], picked_for=reason)
                for sid, reason in picked.items()]
        db.add_all(rows)
        db.commit()
        for row in rows:
            db.refresh(row)
        return rows
