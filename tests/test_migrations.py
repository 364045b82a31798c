"""Alembic migrations: the same schema as the models, on SQLite and PostgreSQL, and upgrades keep the data."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel, select

import knowledge_base.db as db
from knowledge_base.db import head_revisions, make_engine, migrate, session
from knowledge_base.models import Account, Bill, Intent, ServiceHall
from knowledge_base.seed import seed_database
from tests.conftest import TODAY
from tests.postgres import fresh_database, postgres_url  # noqa: F401  (fixture)

# The tables of the first release, made by create_all before there were migrations
# (var/xiaodian.db of an early install has exactly these).
FIRST_RELEASE_TABLES = ["account", "bill", "intent", "plannedoutage", "servicehall", "tariff"]


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of each kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'xiaodian.db'}"
    base = request.getfixturevalue("postgres_url")
    name = re.sub(r"[^a-z0-9]+", "_", f"mig_{request.node.name}".lower())[:60]
    return fresh_database(base, name)


@pytest.fixture
def empty_engine(empty_url: str) -> Iterator[Engine]:
    engine = make_engine(empty_url)
    yield engine
    engine.dispose()


def schema_differences(engine: Engine) -> list[object]:
    """What autogenerate would put in a new revision: empty when the models match the database."""
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, SQLModel.metadata)


def revision(engine: Engine) -> tuple[str, ...]:
    with engine.connect() as connection:
        return db.current_revisions(connection)


def test_upgrade_creates_every_table_as_the_models_say(empty_engine: Engine) -> None:
    result = migrate(empty_engine)
    assert result.changed and not result.adopted
    assert result.after == head_revisions() == revision(empty_engine)
    tables = set(sa.inspect(empty_engine).get_table_names())
    assert tables == set(SQLModel.metadata.tables) | {"alembic_version"}
    # A model changed without a migration shows up here (run `python -m knowledge_base.migrations
    # revision --autogenerate -m "..."` to write one).
    assert schema_differences(empty_engine) == []


def test_migrate_twice_is_a_no_op(empty_engine: Engine) -> None:
    migrate(empty_engine)
    seed_database(empty_engine, today=TODAY)  # migrates again, inside
    second = migrate(empty_engine)
    assert not second.changed and second.before == head_revisions()
    with session(empty_engine) as database:
        assert len(database.exec(select(Intent)).all()) >= 35


@pytest.mark.parametrize("tables", [None, FIRST_RELEASE_TABLES], ids=["all-tables", "first-release"])
def test_database_made_before_migrations_is_adopted_with_its_data(empty_engine: Engine,
                                                                  tables: list[str] | None) -> None:
    chosen = None if tables is None else [SQLModel.metadata.tables[name] for name in tables]
    SQLModel.metadata.create_all(empty_engine, tables=chosen)
    moment = datetime(2026, 11, 1, 8, 30, tzinfo=timezone.utc)
    with session(empty_engine) as database:
        database.add(Account(number="3209999999", holder="张三", phone="13800000000", address="某路1号",
                             area="鼓楼区", created_at=moment))
        database.add(Bill(account_number="3209999999", month="2026-10", kwh=210, amount_fen=11000,
                          due_date=TODAY, paid_at=moment))
        database.add(ServiceHall(name="测试营业厅", area="鼓楼区", address="某路2号", hours="9-17", phone="95598"))
        database.commit()

    result = migrate(empty_engine)

    assert result.adopted and result.before == () and result.after == head_revisions()
    assert schema_differences(empty_engine) == []
    with session(empty_engine) as database:
        account = database.get(Account, "3209999999")
        assert account is not None and account.holder == "张三" and account.created_at == moment
        bill = database.exec(select(Bill)).one()
        assert (bill.kwh, bill.amount_fen, bill.due_date, bill.paid_at) == (210, 11000, TODAY, moment)
        assert database.exec(select(ServiceHall.name)).all() == ["测试营业厅"]
    assert not migrate(empty_engine).changed
    report = seed_database(empty_engine, today=TODAY)  # the old install then works as a new one
    assert report.added["intent"] >= 35


def test_an_upgrade_that_rebuilds_a_table_keeps_its_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite's ALTERs rebuild the table (batch mode): with foreign keys on, dropping the
    referenced account table would fail, so migrate turns them off for the migration."""
    scripts = tmp_path / "migrations"
    shutil.copytree(db.MIGRATIONS_DIR, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    shipped_head = head_revisions()[0]
    (scripts / "versions" / "9999_rebuild_account.py").write_text(
        "import sqlalchemy as sa\n"
        "from alembic import op\n\n"
        "revision = '9999'\n"
        f"down_revision = '{shipped_head}'\n"
        "branch_labels = depends_on = None\n\n\n"
        "def upgrade() -> None:\n"
        "    with op.batch_alter_table('account', recreate='always') as batch_op:\n"
        "        batch_op.add_column(sa.Column('email', sa.String(length=80), nullable=True))\n\n\n"
        "def downgrade() -> None:\n"
        "    with op.batch_alter_table('account', recreate='always') as batch_op:\n"
        "        batch_op.drop_column('email')\n",
        encoding="utf-8",
    )
    engine = make_engine(f"sqlite:///{tmp_path / 'xiaodian.db'}")
    seed_database(engine, today=TODAY)
    with engine.connect() as connection:
        bills_before = connection.execute(sa.text("SELECT * FROM bill ORDER BY id")).all()
    assert bills_before

    monkeypatch.setattr(db, "MIGRATIONS_DIR", scripts)
    db.head_revisions.cache_clear()
    try:
        result = migrate(engine)
    finally:
        monkeypatch.undo()
        db.head_revisions.cache_clear()

    assert (result.before, result.after) == ((shipped_head,), ("9999",))
    with engine.connect() as connection:
        assert "email" in {c["name"] for c in sa.inspect(connection).get_columns("account")}
        assert connection.execute(sa.text("SELECT * FROM bill ORDER BY id")).all() == bills_before
        assert connection.execute(sa.text("PRAGMA foreign_key_check")).all() == []
        assert connection.execute(sa.text("PRAGMA foreign_keys")).scalar() == 1  # back on for the app
    engine.dispose()


def test_a_failed_migration_leaves_nothing_behind(tmp_path: Path) -> None:
    """SQLite's DDL runs in the migration's one transaction too, so a failure rolls it all back."""
    engine = make_engine(f"sqlite:///{tmp_path / 'xiaodian.db'}")
    with pytest.raises(RuntimeError):
        with db._migration_transaction(engine) as connection:
            connection.exec_driver_sql("CREATE TABLE half_done (id INTEGER)")
            raise RuntimeError("a migration failed")
    assert sa.inspect(engine).get_table_names() == []
    with engine.connect() as connection:
        assert connection.execute(sa.text("PRAGMA foreign_keys")).scalar() == 1
    engine.dispose()


def test_processes_starting_together_migrate_once(empty_url: str) -> None:
    """Several starts at once on a new database: one migrates, the others wait for its lock and find it done."""
    engines = [make_engine(empty_url) for _ in range(4)]
    barrier = threading.Barrier(len(engines))
    results: list[db.MigrationResult] = []
    errors: list[BaseException] = []

    def start(engine: Engine) -> None:
        barrier.wait()
        try:
            results.append(migrate(engine))
        except BaseException as error:  # noqa: BLE001  (reported below)
            errors.append(error)

    threads = [threading.Thread(target=start, args=(engine,)) for engine in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sum(result.changed for result in results) == 1
    assert schema_differences(engines[0]) == []
    for engine in engines:
        engine.dispose()


def test_xiaodian_db_upgrade(tmp_path: Path) -> None:
    xiaodian = Path(sys.executable).with_name("xiaodian")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("XIAODIAN_")},
           "XIAODIAN_DATA_DIR": str(tmp_path / "var")}
    first = subprocess.run([str(xiaodian), "db", "upgrade"], env=env, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    assert "已升级" in first.stdout and head_revisions()[0] in first.stdout
    second = subprocess.run([str(xiaodian), "db", "upgrade"], env=env, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0 and "已是最新版本" in second.stdout
    assert (tmp_path / "var" / "xiaodian.db").exists()
