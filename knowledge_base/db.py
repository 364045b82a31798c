"""Engine, sessions and migrations. SQLite gets WAL and foreign keys; other URLs pass through."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from sqlalchemy import event, inspect, text
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, SQLModel, create_engine

from knowledge_base import models  # noqa: F401  (registers the tables)

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
INITIAL_REVISION = "0001"
# PostgreSQL advisory lock held while migrating: two processes starting at once take turns.
_PG_MIGRATION_LOCK = 0x5844_6D69  # "XDmi"


def make_private_sqlite_file(path: Path) -> None:
    """The database holds customers' names, phones and what they said: only the service user may read it.

    The file becomes 0600 (made empty with that mode when new, so it is never readable by
    others even for a moment); SQLite gives the -wal and -shm files the database file's
    mode, and ones left with looser modes by an older version are fixed. A folder made here
    is 0700; an existing one is the operator's (the server tightens its own data folder).
    """
    if str(path) == ":memory:":
        return
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if file.exists():
            os.chmod(file, 0o600)


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite:///"):
        make_private_sqlite_file(Path(url.removeprefix("sqlite:///")))
        engine = create_engine(url, connect_args={"check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(connection, _record) -> None:  # type: ignore[no-untyped-def]
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            # Safe with WAL (never corrupts; at worst the last commits before a power cut are lost)
            # and it spares an fsync on every conversation turn.
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=5000")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


# --- Migrations ------------------------------------------------------------------


def alembic_config(connection: Connection | None = None, url: str | None = None, cmd_opts=None):  # type: ignore[no-untyped-def]
    """Alembic's configuration in code (no alembic.ini): the scripts are in this package."""
    from alembic.config import Config

    config = Config(cmd_opts=cmd_opts)
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@lru_cache(maxsize=1)
def head_revisions() -> tuple[str, ...]:
    """The newest revision(s) the shipped scripts define (read once per process)."""
    from alembic.script import ScriptDirectory

    return tuple(sorted(ScriptDirectory.from_config(alembic_config()).get_heads()))


def current_revisions(connection: Connection) -> tuple[str, ...]:
    from alembic.migration import MigrationContext

    return tuple(sorted(MigrationContext.configure(connection).get_current_heads()))


@dataclass(frozen=True)
class MigrationResult:
    before: tuple[str, ...]  # () for a new database, or one made before migrations existed
    after: tuple[str, ...]
    adopted: bool = False  # the database had tables but no revision: made by create_all

    @property
    def changed(self) -> bool:
        return self.before != self.after


@contextmanager
def _migration_transaction(engine: Engine) -> Iterator[Connection]:
    """One connection and one transaction for the whole upgrade, holding the database's lock.

    SQLite: ``BEGIN IMMEDIATE`` takes the write lock up front (a second process waits on
    busy_timeout, then finds the work done), and its DDL is transactional, so a failed
    migration leaves nothing half-done. Foreign keys are off while migrating, as SQLite's
    table-rebuild procedure (Alembic's batch mode) requires, and checked before commit.
    PostgreSQL: an advisory lock for the length of the transaction.
    """
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            # Only outside a transaction does this pragma take effect; the driver has not begun one yet.
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            try:
                connection.exec_driver_sql("BEGIN IMMEDIATE")
                yield connection
                problems = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if problems:
                    raise RuntimeError(f"migration left rows with broken foreign keys: {problems[:5]}")
                connection.commit()
            except BaseException:
                connection.rollback()
                raise
            finally:
                connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                connection.commit()
        else:
            if engine.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
            try:
                yield connection
                connection.commit()
            except BaseException:
                connection.rollback()
                raise


def migrate(engine: Engine) -> MigrationResult:
    """Bring the database to the newest revision (``alembic upgrade head``), keeping its data.

    A new database gets every table. One created by ``create_all`` before migrations
    existed (tables, no ``alembic_version``) is adopted: the initial revision creates only
    the tables it lacks, the revision is recorded, later revisions run as usual. An
    up-to-date database is only read.
    """
    from alembic import command

    heads = head_revisions()
    with engine.connect() as connection:
        before = current_revisions(connection)
    if before == heads:
        return MigrationResult(before, before)
    with _migration_transaction(engine) as connection:
        before = current_revisions(connection)  # another process may have just done it
        if before == heads:
            return MigrationResult(before, before)
        names = set(inspect(connection).get_table_names())
        adopted = not before and bool(names & set(SQLModel.metadata.tables))
        if adopted:
            logger.info("database made before migrations (%d tables): adopting it at revision %s",
                        len(names), INITIAL_REVISION)
        command.upgrade(alembic_config(connection), "head")
        after = current_revisions(connection)
    logger.info("database migrated from %s to %s", before or "nothing", after)
    return MigrationResult(before, after, adopted)


def session(engine: Engine) -> Session:
    return Session(engine, expire_on_commit=False)
