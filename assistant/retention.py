"""How long the turn log keeps what customers said: ``settings.turn_log_days``, then the rows go.

The turn log is for quality review; it holds raw text, which can include phone numbers
and 户号. ``purge_turn_log`` deletes rows older than the retention; ``DailyTurnLogPurge``
runs it when the server starts and then once a day (``xiaodian turns purge`` runs it by hand).
The customers' recordings (issue 15) go after ``settings.recordings_days`` (``purge_recordings``),
and always with their turn-log rows.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.engine import Engine
from sqlmodel import col

from knowledge_base.db import session
from knowledge_base.models import (
    AccountLookup,
    CardReadNonce,
    ConversationSession,
    Recording,
    TurnLog,
    VerificationCode,
    utc_now,
)

logger = logging.getLogger(__name__)

PURGE_INTERVAL = timedelta(days=1)
# Look-ups count against an hourly limit, codes live minutes, card reads a minute, and a
# conversation idle for a day is over: a day later they only hold 户号 and what was said.
SHORT_LIVED = timedelta(days=1)


def purge_turn_log(engine: Engine, days: int, now: datetime | None = None) -> int:
    """Delete turn-log rows older than ``days`` days; return how many were removed."""
    cutoff = (now or utc_now()) - timedelta(days=days)
    with session(engine) as db:
        # A recording goes with its turn-log row, whatever recordings_days says (issue 15).
        db.exec(delete(Recording).where(col(Recording.id).in_(  # type: ignore[call-overload]
            select(TurnLog.recording).where(col(TurnLog.at) < cutoff, col(TurnLog.recording).is_not(None)))))
        removed = db.exec(delete(TurnLog).where(col(TurnLog.at) < cutoff)).rowcount  # type: ignore[call-overload]
        db.commit()
    return int(removed or 0)


def purge_recordings(engine: Engine, days: int, now: datetime | None = None) -> int:
    """Delete the customers' recordings older than ``days`` days (0: every one); return how many.
    Their turn-log rows stay (the text is kept longer); the review page then offers no player."""
    cutoff = (now or utc_now()) - timedelta(days=max(0, days))
    with session(engine) as db:
        removed = db.exec(delete(Recording).where(col(Recording.at) < cutoff)).rowcount  # type: ignore[call-overload]
        db.commit()
    return int(removed or 0)


def purge_short_lived(engine: Engine, now: datetime | None = None) -> int:
    """Delete look-ups, codes, card-read nonces and idle conversations that nothing reads any more."""
    cutoff = (now or utc_now()) - SHORT_LIVED
    with session(engine) as db:
        removed = db.exec(delete(AccountLookup).where(col(AccountLookup.at) < cutoff)).rowcount  # type: ignore[call-overload]
        removed += db.exec(delete(VerificationCode).where(col(VerificationCode.expires_at) < cutoff)).rowcount  # type: ignore[call-overload]
        removed += db.exec(delete(CardReadNonce).where(col(CardReadNonce.seen_at) < cutoff)).rowcount  # type: ignore[call-overload]
        removed += db.exec(delete(ConversationSession).where(col(ConversationSession.updated_at) < cutoff)).rowcount  # type: ignore[call-overload]
        db.commit()
    return int(removed or 0)


class DailyTurnLogPurge:
    """Purge at start (before the service reports ready), then every ``PURGE_INTERVAL`` in a daemon thread."""

    def __init__(self, engine: Engine, days: int, recordings_days: int | None = None) -> None:
        self.engine = engine
        self.days = days
        self.recordings_days = recordings_days  # None: recordings go only with their turn-log rows
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="turn-log-purge")

    def start(self) -> None:
        self.run_once()
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=5)

    def run_once(self) -> None:
        try:
            removed = purge_turn_log(self.engine, self.days)
            purge_short_lived(self.engine)
            if self.recordings_days is not None:
                purge_recordings(self.engine, self.recordings_days)
        except Exception:  # a busy or unreachable database: try again tomorrow, keep serving
            logger.exception("turn-log purge failed")
            return
        if removed:
            logger.info("turn log: removed %d rows older than %d days", removed, self.days)

    def _run(self) -> None:
        while not self._stopped.wait(PURGE_INTERVAL.total_seconds()):
            self.run_once()
