"""The daily run: every due reminder queued in the outbox exactly once, at any scale.

How the guarantees are kept:
- **Once**: the outbox's unique ``dedup_key`` (account|rule|period). The run inserts with
  "on conflict do nothing", so a second run, or a killed run started again, finds what is there.
- **Nobody missed after a kill**: the work is split into chunks of 户号 (lo, hi]; each chunk is
  inserted and marked done in ONE transaction, so a killed runner's chunk rolls back whole and
  stays "todo" for whoever runs next (the next run joins the unfinished run of the day).
- **Several runners** (PostgreSQL): each takes the next todo chunk with ``FOR UPDATE SKIP
  LOCKED``, so two never work on the same chunk; SQLite has one writer, hence one runner.
- **Bounded memory**: nothing is read row by row; each rule is an INSERT … SELECT per chunk.
- **No message at night**: a reminder due while the customer's quiet hours hold is not queued
  ("skipped_quiet"); the next run of the day after the quiet hours queues it (the service runs
  hourly), and the sender checks quiet hours again at send time.
"""

from __future__ import annotations

import os
import time as clock
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Callable

from sqlalchemy import Date, Integer, String, and_, case, exists, func, literal, not_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from assistant.reminders.rules import Moment, RuleSpec, candidates, enabled_rules
from knowledge_base.models import ReminderMessage, ReminderRun, ReminderRunChunk, ReminderSubscription

_S = ReminderSubscription.__table__.c  # type: ignore[attr-defined]
_M = ReminderMessage.__table__  # type: ignore[attr-defined]
_RUN = ReminderRun.__table__  # type: ignore[attr-defined]
_CHUNK = ReminderRunChunk.__table__  # type: ignore[attr-defined]
LAST_ACCOUNT = "9999999999"  # 户号 are 10 digits: the last chunk ends here
_PG_RUN_LOCK = 0x5844_5275  # "XDRu": creating or joining the day's run
# Tests only: pause inside this chunk's transaction (after its first insert) and touch the file
# named by XIAODIAN_REMINDERS_PAUSE_FILE, so a test can kill -9 the run at a known point.
_PAUSE_IN_CHUNK = "XIAODIAN_REMINDERS_PAUSE_IN_CHUNK"
_PAUSE_FILE = "XIAODIAN_REMINDERS_PAUSE_FILE"


@dataclass
class Counts:
    accounts: int = 0
    due: int = 0
    queued: int = 0
    skipped_quiet: int = 0
    skipped_opt_out: int = 0
    already_sent: int = 0

    def add(self, other: "Counts") -> None:
        for name, value in asdict(other).items():
            setattr(self, name, getattr(self, name) + value)


@dataclass
class RunSummary:
    """What ``xiaodian reminders run --json`` prints."""

    date: str
    accounts: int
    due: int
    queued: int
    skipped_quiet: int
    skipped_opt_out: int
    already_sent: int
    seconds: float
    run_id: int | None = None
    chunks_done_here: int = 0
    by_rule: dict[str, int] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        keys = ("date", "accounts", "due", "queued", "skipped_quiet", "skipped_opt_out", "already_sent", "seconds")
        return {key: getattr(self, key) for key in keys}


def _insert(dialect: str) -> Any:
    if dialect == "postgresql":
        return postgresql.insert(_M)
    if dialect == "sqlite":
        return sqlite.insert(_M)
    raise RuntimeError(f"reminders run on SQLite or PostgreSQL, not {dialect}")


_COLUMNS = ["dedup_key", "account_number", "rule_id", "period", "run_date", "channel", "status", "attempts",
            "amount_fen", "due_date", "outage_id", "created_at", "recipient", "text", "last_error"]


def _tallies(rows: Any) -> list[Any]:
    """due, opted out, quiet: over a rule's candidate rows."""
    return [func.count(),
            func.coalesce(func.sum(case((not_(rows.c.active), 1), else_=0)), 0),
            func.coalesce(func.sum(case((and_(rows.c.active, rows.c.quiet), 1), else_=0)), 0)]


def _outbox_rows(rows: Any, rule: RuleSpec, moment: Moment) -> Any:
    """The outbox rows for a rule's candidates: active, outside quiet hours."""
    key = rows.c.account_number + literal(f"|{rule.id}|", String) + rows.c.period
    return select(
        key, rows.c.account_number, literal(rule.id, String), rows.c.period, literal(moment.today, Date),
        rows.c.channel, literal("queued", String), literal(0, Integer), rows.c.amount_fen, rows.c.due_date,
        rows.c.outage_id, literal(moment.now, _M.c.created_at.type), literal("", String),
        literal("", String), literal("", String),
    ).where(rows.c.active, not_(rows.c.quiet))


def _rule_in_chunk(connection: Connection, rule: RuleSpec, moment: Moment, lo: str, hi: str,
                   write: bool) -> tuple[int, int, int, int]:
    """(due, opted out, quiet, queued) for one rule over one chunk; queued is "would queue" in a dry run."""
    dialect = connection.dialect.name
    if write and dialect == "postgresql":
        # One statement, one pass over the candidates: they are counted and inserted together
        # (psycopg gives no rowcount for INSERT … SELECT, so the inserted rows are counted).
        rows = candidates(rule, moment, lo, hi).cte("due_rows")
        inserted = (postgresql.insert(_M).from_select(_COLUMNS, _outbox_rows(rows, rule, moment))
                    .on_conflict_do_nothing(index_elements=["dedup_key"]).returning(literal(1, Integer))
                    .cte("inserted"))
        due, opted_out, quiet, queued = connection.execute(
            select(*_tallies(rows), select(func.count()).select_from(inserted).scalar_subquery())
            .select_from(rows)).one()
        return int(due), int(opted_out), int(quiet), int(queued)
    rows = candidates(rule, moment, lo, hi).subquery()
    due, opted_out, quiet = connection.execute(select(*_tallies(rows)).select_from(rows)).one()
    if due <= opted_out + quiet:
        return due, opted_out, quiet, 0
    if not write:
        key = rows.c.account_number + literal(f"|{rule.id}|", String) + rows.c.period
        queued = connection.execute(select(func.count()).select_from(rows).where(
            rows.c.active, not_(rows.c.quiet), ~exists().where(_M.c.dedup_key == key))).scalar_one()
        return due, opted_out, quiet, queued
    statement = (_insert(dialect).from_select(_COLUMNS, _outbox_rows(rows, rule, moment))
                 .on_conflict_do_nothing(index_elements=["dedup_key"]))
    return due, opted_out, quiet, connection.execute(statement).rowcount


def _chunk_counts(connection: Connection, rules: list[RuleSpec], moment: Moment, lo: str, hi: str,
                  write: bool, pause: Callable[[], None] | None = None) -> tuple[Counts, dict[str, int]]:
    counts = Counts()
    by_rule: dict[str, int] = {}
    counts.accounts = connection.execute(
        select(func.count()).select_from(ReminderSubscription.__table__)  # type: ignore[attr-defined]
        .where(_S.account_number > lo, _S.account_number <= hi)).scalar_one()
    for rule in rules:
        due, opted_out, quiet, queued = _rule_in_chunk(connection, rule, moment, lo, hi, write)
        if write and queued and pause is not None:
            pause()
            pause = None
        counts.due += due
        counts.skipped_opt_out += opted_out
        counts.skipped_quiet += quiet
        counts.queued += queued
        counts.already_sent += due - opted_out - quiet - queued
        by_rule[rule.id] = queued
    return counts, by_rule


def chunk_bounds(connection: Connection, size: int) -> list[tuple[str, str]]:
    """(lo, hi] ranges of subscribed 户号, about ``size`` each, found by walking the primary key."""
    bounds: list[tuple[str, str]] = []
    lo = ""
    table = ReminderSubscription.__table__  # type: ignore[attr-defined]
    while True:
        hi = connection.execute(select(_S.account_number).where(_S.account_number > lo)
                                .order_by(_S.account_number).offset(size - 1).limit(1)).scalar()
        if hi is None:
            last = connection.execute(select(func.max(_S.account_number)).select_from(table)
                                      .where(_S.account_number > lo)).scalar()
            if last is not None or not bounds:
                # Open-ended: a run resumed later also covers 户号 subscribed since it was planned.
                bounds.append((lo, LAST_ACCOUNT))
            else:
                bounds[-1] = (bounds[-1][0], LAST_ACCOUNT)
            return bounds
        bounds.append((lo, hi))
        lo = hi


def _begin_exclusive(connection: Connection) -> None:
    """Take the database's lock for a short critical section: SQLite's write lock, a PostgreSQL advisory lock."""
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        connection.begin()
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_RUN_LOCK})


def _join_or_start(engine: Engine, run_date: date, size: int, now: datetime) -> int:
    """The day's unfinished run (a killed one, or one other runners are on), else a new one with its chunks."""
    with engine.connect() as connection:
        _begin_exclusive(connection)
        try:
            open_run = connection.execute(
                select(_RUN.c.id).where(_RUN.c.run_date == run_date, _RUN.c.finished_at.is_(None))
                .order_by(_RUN.c.id.desc()).limit(1)).scalar()
            if open_run is None:
                bounds = chunk_bounds(connection, size)
                open_run = connection.execute(_RUN.insert().values(run_date=run_date, started_at=now,
                                                                   chunks=len(bounds))).inserted_primary_key[0]
                if bounds:
                    connection.execute(_CHUNK.insert(), [
                        {"run_id": open_run, "chunk_no": number, "lo": lo, "hi": hi, "status": "todo", "due": 0,
                         "queued": 0, "skipped_quiet": 0, "skipped_opt_out": 0, "already_sent": 0, "runner": ""}
                        for number, (lo, hi) in enumerate(bounds)])
            connection.commit()
        except BaseException:
            connection.rollback()
            raise
    return int(open_run)


def _test_pause(chunks_done: int) -> Callable[[], None] | None:
    wanted = os.environ.get(_PAUSE_IN_CHUNK)
    if wanted is None or int(wanted) != chunks_done:
        return None

    def pause() -> None:
        Path(os.environ[_PAUSE_FILE]).write_text("paused")
        clock.sleep(3600)  # the test kills the process here, mid-transaction

    return pause


def run_reminders(engine: Engine, now: datetime, *, dry_run: bool = False, batch_accounts: int = 20000,
                  runner: str = "") -> RunSummary:
    """Queue every reminder due at ``now`` (service time zone decides the date); see the module's notes."""
    started = clock.perf_counter()
    moment = Moment.at(now)
    runner = runner or f"{os.uname().nodename}:{os.getpid()}"
    with engine.connect() as connection:
        rules = enabled_rules(connection)
    mine = Counts()
    by_rule: dict[str, int] = {}
    if dry_run:
        with engine.connect() as connection:
            for lo, hi in chunk_bounds(connection, batch_accounts):
                counts, _ = _chunk_counts(connection, rules, moment, lo, hi, write=False)
                mine.add(counts)
        return RunSummary(moment.today.isoformat(), seconds=round(clock.perf_counter() - started, 3), **asdict(mine))
    run_id = _join_or_start(engine, moment.today, batch_accounts, now)
    done_here = 0
    while True:
        with engine.connect() as connection:
            if connection.dialect.name == "sqlite":
                connection.exec_driver_sql("BEGIN IMMEDIATE")  # one writer: take the lock before reading
            chunk = connection.execute(
                select(_CHUNK.c.chunk_no, _CHUNK.c.lo, _CHUNK.c.hi)
                .where(_CHUNK.c.run_id == run_id, _CHUNK.c.status == "todo")
                .order_by(_CHUNK.c.chunk_no).limit(1).with_for_update(skip_locked=True)).first()
            if chunk is None:
                connection.rollback()
                break
            counts, rule_counts = _chunk_counts(connection, rules, moment, chunk.lo, chunk.hi, write=True,
                                                pause=_test_pause(done_here))
            connection.execute(update(_CHUNK).where(_CHUNK.c.run_id == run_id, _CHUNK.c.chunk_no == chunk.chunk_no)
                               .values(status="done", runner=runner[:64], done_at=now, due=counts.due,
                                       queued=counts.queued, skipped_quiet=counts.skipped_quiet,
                                       skipped_opt_out=counts.skipped_opt_out, already_sent=counts.already_sent))
            connection.commit()
        mine.add(counts)
        for rule_id, queued in rule_counts.items():
            by_rule[rule_id] = by_rule.get(rule_id, 0) + queued
        done_here += 1
    with engine.begin() as connection:
        connection.execute(update(_RUN).where(_RUN.c.id == run_id, _RUN.c.finished_at.is_(None))
                           .values(finished_at=now))
    totals = run_totals(engine, run_id)
    return RunSummary(moment.today.isoformat(), seconds=round(clock.perf_counter() - started, 3), run_id=run_id,
                      chunks_done_here=done_here, by_rule=by_rule, **asdict(totals))


def run_totals(engine: Engine, run_id: int) -> Counts:
    """The counts of a run's finished chunks (all runners', a killed attempt's included)."""
    columns = ("due", "queued", "skipped_quiet", "skipped_opt_out", "already_sent")
    with engine.connect() as connection:
        row = connection.execute(select(*(func.coalesce(func.sum(_CHUNK.c[name]), 0) for name in columns))
                                 .where(_CHUNK.c.run_id == run_id, _CHUNK.c.status == "done")).one()
        accounts = connection.execute(select(func.count()).select_from(ReminderSubscription.__table__)).scalar_one()  # type: ignore[attr-defined]
    return Counts(accounts, *(int(value) for value in row))
