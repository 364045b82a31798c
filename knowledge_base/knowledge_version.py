"""The knowledge base's version: one number that moves whenever intents, tariffs or halls change.

Every worker keeps its own matcher in memory; comparing this number (one primary-key read)
tells it, at the start of a turn, that another worker's admin save made its copy stale.
The bump runs in the transaction of the edit itself, so a worker that sees the new number
also sees the edit.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.engine import Connection
from sqlmodel import Session

from knowledge_base.models import KnowledgeVersion

_TABLE = KnowledgeVersion.__table__  # type: ignore[attr-defined]
_READ = select(_TABLE.c.version).where(_TABLE.c.id == 1)


def bump_knowledge_version(db: Session) -> None:
    """Call before committing any change to the knowledge base (the row is made by migration 0003)."""
    db.connection().execute(update(_TABLE).where(_TABLE.c.id == 1).values(version=_TABLE.c.version + 1))


def knowledge_version(connection: Connection) -> int:
    return connection.execute(_READ).scalar_one()
