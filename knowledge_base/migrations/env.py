"""Alembic environment for 小电: the tables are ``SQLModel.metadata`` from ``knowledge_base.models``.

Configured in code, without an alembic.ini (see ``knowledge_base.db.alembic_config``):

* ``config.attributes["connection"]``: a connection to migrate on, already inside the
  transaction (and the lock) ``knowledge_base.db.migrate`` holds. The caller commits.
* otherwise the ``sqlalchemy.url`` option: an engine is made with ``make_engine``.

SQLite cannot ALTER most things, so its migrations are rendered and run in batch mode
(copy the table, swap it in), which on PostgreSQL simply becomes ALTER TABLE.
"""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel
from sqlmodel.sql.sqltypes import AutoString, UTCDateTime

from knowledge_base import models  # noqa: F401  (registers the tables)

config = context.config
target_metadata = SQLModel.metadata


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """Write sqlmodel's column types as the plain SQLAlchemy types they store as.

    Revisions then depend on SQLAlchemy only, not on sqlmodel's internals: ``AutoString``
    is a VARCHAR, ``UTCDateTime`` (what sqlmodel gives ``datetime`` fields) a DateTime with
    time zone whose UTC conversion happens in Python, not in the database.
    """
    if type_ == "type":
        if isinstance(obj, AutoString):
            length = getattr(obj.impl, "length", None)
            return f"sa.String(length={length})" if length else "sa.String()"
        if isinstance(obj, UTCDateTime):
            return "sa.DateTime(timezone=True)"
    return False  # everything else: Alembic's default rendering


def _options(dialect_name: str) -> dict[str, Any]:
    return {
        "target_metadata": target_metadata,
        "compare_type": True,
        "render_as_batch": dialect_name == "sqlite",
        "render_item": render_item,
    }


def run_migrations_offline() -> None:
    """``--sql`` mode: print the SQL instead of running it."""
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("set the sqlalchemy.url option to generate SQL")
    context.configure(url=url, literal_binds=True, dialect_opts={"paramstyle": "named"},
                      **_options(url.split(":", 1)[0].split("+", 1)[0]))
    with context.begin_transaction():
        context.run_migrations()


def _run(connection: Connection) -> None:
    context.configure(connection=connection, **_options(connection.dialect.name))
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("pass a connection in config.attributes['connection'] or set sqlalchemy.url")
    from knowledge_base.db import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            _run(connection)
            connection.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
