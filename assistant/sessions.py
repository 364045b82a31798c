"""Conversation sessions in the database, so any worker continues any conversation.

A turn loads the session (one primary-key read, with the knowledge base's version), runs the
policy, and saves the new state in the same transaction as the turn's effects and log. The save is a compare-and-set on
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
from knowledge_base.models import ConversationSession, KnowledgeVersion, utc_now

_TABLE = ConversationSession.__table__  # type: ignore[attr-defined]
_KNOWLEDGE = KnowledgeVersion.__table__  # type: ignore[attr-defined]
# Built once: making a statement costs more than running it on a primary key (it runs every turn).
# A turn needs the knowledge base's version too: one statement for both (the version row always
# exists; the session's columns are NULL when the id is unknown). Each statement is a round trip
# to PostgreSQL, and on SQLite a release of the GIL that the event loop's thread takes.
_LOAD_WITH_KNOWLEDGE_VERSION = (
    select(_KNOWLEDGE.c.version.label("knowledge_version"), _TABLE.c.version, _TABLE.c.state)
    .select_from(_KNOWLEDGE.outerjoin(_TABLE, _TABLE.c.id == bindparam("session_id")))
    .where(_KNOWLEDGE.c.id == 1))
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
        return self.load_with_knowledge_version(connection, session_id)[1]

    def load_with_knowledge_version(self, connection: Connection,
                                    session_id: str | None) -> tuple[int, StoredSession | None]:
        """The knowledge base's version and the stored session (None: no id, or not stored)."""
        row = connection.execute(_LOAD_WITH_KNOWLEDGE_VERSION, {"session_id": session_id}).one()
        stored = None if row.state is None else StoredSession(decode_state(row.state), row.version)
        return row.knowledge_version, stored

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
