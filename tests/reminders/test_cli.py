"""The commands an operator types: generated demo accounts (demo mode only), the run, and the send that
delivers through the FAKE SMS gateway; a fresh database needs nothing else first."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import text

from knowledge_base.db import make_engine

XIAODIAN = str(Path(sys.executable).with_name("xiaodian"))


def _xiaodian(tmp_path: Path, *args: str, demo: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XIAODIAN_DATA_DIR": str(tmp_path / "data"), "XIAODIAN_DEMO": "true" if demo else "false",
           "XIAODIAN_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}", "XIAODIAN_REMINDER_DRAIN_INTERVAL_S": "0.01",
           }
    return subprocess.run([XIAODIAN, *args], env=env, capture_output=True, text=True, timeout=120)


def test_demo_accounts_run_and_send_on_a_fresh_database(tmp_path: Path) -> None:
    refused = _xiaodian(tmp_path, "demo", "accounts", "--count", "10", demo=False)
    assert refused.returncode == 2 and "演示模式" in refused.stderr
    made = _xiaodian(tmp_path, "demo", "accounts", "--count", "300", "--seed", "4")
    assert made.returncode == 0 and "新增演示户号 300" in made.stdout, made.stderr
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.begin() as connection:
        assert connection.execute(text("SELECT count(*) FROM account WHERE demo AND number >= '3300000000'")).scalar() == 300
        connection.execute(text("UPDATE remindersubscription SET quiet_start_minute = 0, quiet_end_minute = 0, "
                                "preferred_minute = 0"))
    first = json.loads(_xiaodian(tmp_path, "reminders", "run", "--json").stdout)
    assert first["queued"] > 100 and first["accounts"] > 200
    assert json.loads(_xiaodian(tmp_path, "reminders", "run", "--json").stdout)["queued"] == 0
    sent = _xiaodian(tmp_path, "reminders", "send", "--json", "--max-messages", "40")
    assert sent.returncode == 0, sent.stderr
    figures = json.loads(sent.stdout)
    assert figures["sent"] + figures["fell_back"] >= 40 and figures["sent"] > 0 and figures["failed"] == 0
    with engine.connect() as connection:
        fake = connection.execute(text("SELECT count(*) FROM smsmessage WHERE gateway = 'fake' AND kind = 'reminder'")).scalar()
        written = connection.execute(text("SELECT count(*) FROM remindermessage WHERE status = 'sent' "
                                          "AND channel IN ('sms', 'family')")).scalar()
    assert fake == written > 0
    engine.dispose()
