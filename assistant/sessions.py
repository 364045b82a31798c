"""Conversation sessions in the database, so any worker continues any conversation.

A turn loads the session (one primary-key read), runs the policy, and saves the new state
in the same transaction as the turn's effects and log. The save is a compare-and-set on
``version``: if another worker saved the session since it was loaded (a double tap sent to
two workers), nothing of the turn is committed and ``SessionConflict`` says to run the turn
again on the fresh state. This works the same on SQLite (one writer at a time) and
PostgreSQL (the UPDATE waits for the other transaction's row lock, then finds the version moved).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.engine import Connection, Engine

from assistant.dialogue import SessionState
from assistant.session_codec import decode_state, encode_state
from knowledge_base.models import ConversationSession, utc_now

_TABLE = ConversationSession.__table__  # type: ignore[attr-defined]
# Built once: making a statement costs more than running it on a primary key (it runs every turn).
_LOAD = select(_TABLE.c.version, _TABLE.c.state).where(_TABLE.c.id == bindparam("session_id"))
_INSERT = insert(_TABLE)
_COMPARE_AND_SET = (update(_TABLE).where(_TABLE.c.id == bindparam("session_id"), _TABLE.c.version == bindparam("loaded"))
                    .values(version=bindparam("saved"), state=bindparam("encoded"), updated_at=bindparam("now")))


class SessionConflict(Exception):
    """Another worker saved this session after it was loaded: run the turn again."""


@dataclass(frozen=True, slots=True)
class StoredSession:
    state: SessionState
    version: int  # 0: not in the database yet


class SessionStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def load(self, connection: Connection, session_id: str) -> StoredSession | None:
        row = connection.execute(_LOAD, {"session_id": session_id}).first()
        return None if row is None else StoredSession(decode_state(row.state), row.version)

    def save(self, connection: Connection, loaded: StoredSession, state: SessionState) -> StoredSession:
        """Write ``state`` in the caller's transaction, if nobody saved the session since ``loaded``."""
        encoded, now = encode_state(state), utc_now()
        if loaded.version == 0:
            connection.execute(_INSERT, {"id": state.id, "version": 1, "state": encoded, "updated_at": now})
            return StoredSession(state, 1)
        changed = connection.execute(_COMPARE_AND_SET, {"session_id": state.id, "loaded": loaded.version,
                                                        "saved": loaded.version + 1, "encoded": encoded,
                                                        "now": now}).rowcount
        if changed != 1:
            raise SessionConflict(state.id)
        return StoredSession(state, loaded.version + 1)

    def save_now(self, loaded: StoredSession, state: SessionState) -> StoredSession:
        """``save`` in a transaction of its own (a session opened or a card read outside a turn)."""
        with self.engine.begin() as connection:
            return self.save(connection, loaded, state)
