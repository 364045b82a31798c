"""Revision 0005 on a database that already has subscriptions (made at revision 0004): the new
preference columns arrive with their defaults, the rows are kept, and the reminder tables exist."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from sqlalchemy import inspect, text

from knowledge_base.db import alembic_config, make_engine, migrate


def test_upgrade_to_0005_keeps_subscriptions_and_gives_them_defaults(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), "0004")
        connection.execute(text("INSERT INTO account (number, holder, phone, address, area, region, category, "
                                "balance_fen, demo, created_at) VALUES ('3201000001', '张建华', '13800000001', "
                                "'人民路12号', '扬州市江都区', 'jiangsu', 'residential', 0, 0, '2026-11-01 00:00:00')"))
        connection.execute(text("INSERT INTO remindersubscription (account_number, channel, active, created_at, "
                                "updated_at) VALUES ('3201000001', 'call', 1, '2026-11-01 00:00:00', "
                                "'2026-11-01 00:00:00')"))
        assert "reminderrule" not in inspect(connection).get_table_names()
    migrate(engine)
    with engine.connect() as connection:
        row = connection.execute(text("SELECT channel, channels, preferred_minute, quiet_start_minute, "
                                      "quiet_end_minute, family_phone, consent_at FROM remindersubscription")).one()
        tables = set(inspect(connection).get_table_names())
    assert tuple(row) == ("call", "", 540, 1260, 480, "", None)
    assert {"reminderrule", "remindermessage", "reminderrun", "reminderrunchunk", "reminderlock"} <= tables
    engine.dispose()
