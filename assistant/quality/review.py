"""A reviewer's work on a sampled conversation: each turn right or wrong with a reason, and the
service rated on the experience dimensions (attitude, clarity, need discovered), not only compliance."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Engine
from sqlmodel import select

from knowledge_base.db import session
from knowledge_base.models import Recording, ReviewSample, TurnLog, TurnMark, utc_now
from assistant.quality.privacy import holder_names, masked

MARK_REASONS = {
    "misunderstood": "听错或理解错了",
    "wrong_answer": "回答内容不对",
    "not_answered": "没有回答客户的问题",
    "needless_confirm": "不必要的确认",
    "too_long": "回答太长、不好懂",
    "tone": "语气不合适",
    "should_handoff": "该转人工没有转",
    "privacy": "泄露了个人信息",
    "other": "其他",
}
DIMENSIONS = {"attitude": "服务态度", "clarity": "表达清楚", "need_discovered": "发现客户需求"}


class ReviewError(ValueError):
    """A mark or rating that cannot be saved; the message is for the reviewer."""


@dataclass(frozen=True)
class ReviewTurn:
    id: int
    at: datetime
    said: str
    intent: str
    decision: str
    confidence: float
    asr_confidence: float | None
    reply: str
    correct: bool | None
    reason: str
    recorded: bool = False  # the customer's own words can be heard (issue 15: assistant.quality.recordings)


def conversation_turns(engine: Engine, sample: ReviewSample) -> list[ReviewTurn]:
    """The sampled conversation's turns as a reviewer sees them (phones and names masked), with any marks."""
    with session(engine) as db:
        turns = list(db.exec(select(TurnLog).where(TurnLog.session_id == sample.session_id).order_by(TurnLog.id)))
        marks = {m.turn_id: m for m in db.exec(select(TurnMark).where(TurnMark.sample_id == sample.id))}
        named = [t.recording for t in turns if t.recording]  # still kept: retention may have taken the audio
        kept = set(db.exec(select(Recording.id).where(Recording.id.in_(named)))) if named else set()  # type: ignore[attr-defined]
    names = list(holder_names(engine, {t.account_number for t in turns if t.account_number}).values())
    return [ReviewTurn(t.id or 0, t.at, masked(t.input_text, names), t.intent, t.decision, t.confidence,
                       t.asr_confidence, masked(t.reply, names),
                       marks[t.id].correct if t.id in marks else None, marks[t.id].reason if t.id in marks else "",
                       t.recording in kept)
            for t in turns]


def mark_turn(engine: Engine, sample_id: int, turn_id: int, correct: bool, reason: str, reviewer: str) -> None:
    if not correct and reason not in MARK_REASONS:
        raise ReviewError("请选一个错误原因。")
    with session(engine) as db:
        sample = db.get(ReviewSample, sample_id)
        turn = db.get(TurnLog, turn_id)
        if sample is None or turn is None or turn.session_id != sample.session_id:
            raise ReviewError("这一句不在这次抽检的对话里。")
        mark = db.exec(select(TurnMark).where(TurnMark.sample_id == sample_id, TurnMark.turn_id == turn_id)).first()
        mark = mark or TurnMark(sample_id=sample_id, turn_id=turn_id, correct=correct)
        mark.correct, mark.reason, mark.reviewer, mark.at = correct, "" if correct else reason, reviewer, utc_now()
        db.add(mark)
        db.commit()


def rate_sample(engine: Engine, sample_id: int, ratings: dict[str, int], comment: str, reviewer: str) -> None:
    if set(ratings) != set(DIMENSIONS) or not all(1 <= v <= 5 for v in ratings.values()):
        raise ReviewError("请给每一项打 1 到 5 分。")
    with session(engine) as db:
        sample = db.get(ReviewSample, sample_id)
        if sample is None:
            raise ReviewError("没有这次抽检。")
        sample.attitude, sample.clarity, sample.need_discovered = (
            ratings["attitude"], ratings["clarity"], ratings["need_discovered"])
        sample.comment, sample.reviewer, sample.status, sample.reviewed_at = comment[:1000], reviewer, "reviewed", utc_now()
        db.add(sample)
        db.commit()


@dataclass(frozen=True)
class Findings:
    """What the day's reviewed sample found, for the report."""

    sampled: int
    reviewed: int
    turns_marked: int
    turns_wrong: int
    reasons: dict[str, int]  # label → count
    dimensions: dict[str, float | None]  # label → mean score


def findings(engine: Engine, samples: list[ReviewSample]) -> Findings:
    ids = [s.id for s in samples if s.id is not None]
    with session(engine) as db:
        marks = list(db.exec(select(TurnMark).where(TurnMark.sample_id.in_(ids)))) if ids else []  # type: ignore[attr-defined]
    reasons: dict[str, int] = {}
    for mark in marks:
        if not mark.correct:
            label = MARK_REASONS.get(mark.reason, mark.reason)
            reasons[label] = reasons.get(label, 0) + 1
    reviewed = [s for s in samples if s.status == "reviewed"]
    dimensions: dict[str, float | None] = {}
    for name, label in DIMENSIONS.items():
        values = [getattr(s, name) for s in reviewed if getattr(s, name) is not None]
        dimensions[label] = round(sum(values) / len(values), 2) if values else None
    return Findings(len(samples), len(reviewed), len(marks), sum(not m.correct for m in marks), reasons, dimensions)
