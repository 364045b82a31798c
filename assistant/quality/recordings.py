"""Listening in the review (issue 15): a sampled turn's recording, and what its answer sounded like.

A reviewer reaches audio only through a sample and one of its turns, as the rest of the review does:
never by a session id (which would continue the customer's conversation) nor by a recording's id.
Every listen to a customer's own words is written to the audit log: who, which sample and turn;
never the audio or anything the customer said.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine

from assistant.accounts import record_audit
from assistant.quality.privacy import holder_names, masked
from assistant.quality.review import ReviewError
from knowledge_base.db import session
from knowledge_base.models import Recording, ReviewSample, TurnLog

AUDIT_ENTITY = "recording"


@dataclass(frozen=True)
class HeardTurn:
    """One sampled turn as far as listening goes."""

    sample_id: int
    turn_id: int
    channel: str
    reply: str  # masked, as the review page shows it
    recording: str | None


@dataclass(frozen=True)
class CustomerWords:
    """A recording's bytes, for the player and nobody else."""

    audio: bytes
    sample_rate: int
    duration_ms: int


def sampled_turn(engine: Engine, sample_id: int, turn_id: int) -> HeardTurn:
    """The turn, if it belongs to the sampled conversation; else ``ReviewError``."""
    with session(engine) as db:
        sample = db.get(ReviewSample, sample_id)
        turn = db.get(TurnLog, turn_id)
    if sample is None or turn is None or turn.session_id != sample.session_id:
        raise ReviewError("这一句不在这次抽检的对话里。")
    names = list(holder_names(engine, {turn.account_number} if turn.account_number else set()).values())
    return HeardTurn(sample_id, turn_id, turn.channel, masked(turn.reply, names), turn.recording)


def listen(engine: Engine, sample_id: int, turn_id: int, reviewer: str) -> CustomerWords:
    """The customer's recorded words of a sampled turn, with the listen audited in the same transaction.
    ``ReviewError`` when the turn is not in the sample or has no recording (any more)."""
    turn = sampled_turn(engine, sample_id, turn_id)
    with session(engine) as db:
        found = db.get(Recording, turn.recording) if turn.recording else None
        if found is None:
            raise ReviewError("这一句没有录音（打字的，或者录音已经过了保存期限）。")
        record_audit(db, reviewer, AUDIT_ENTITY, str(turn_id), "listen", None,
                     {"sample": sample_id, "turn": turn_id})
        words = CustomerWords(found.audio, found.sample_rate, found.duration_ms)
        db.commit()
    return words
