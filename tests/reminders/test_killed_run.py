"""A real `xiaodian reminders run` killed with SIGKILL in the middle of a chunk, then started again:
every due reminder ends up queued exactly once (compared with one uninterrupted run of the same data),
and the CLI's --json summary is the contract cron sees."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

from sqlalchemy import text

from assistant.reminders.demo_accounts import generate_demo_accounts
from assistant.reminders.run import run_reminders
from knowledge_base.db import make_engine
from knowledge_base.models import service_tz
from knowledge_base.seed import seed_database

XIAODIAN = str(Path(sys.executable).with_name("xiaodian"))


def _generated(path: Path, today) -> str:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    seed_database(engine, include_demo=False)
    generate_demo_accounts(engine, 3000, seed=7, today=today)
    with engine.begin() as connection:  # whatever the hour the suite runs at: no quiet hours here
        connection.execute(text("UPDATE remindersubscription SET quiet_start_minute = 0, quiet_end_minute = 0"))
    engine.dispose()
    return url


def _keys(url: str) -> list[str]:
    engine = make_engine(url)
    with engine.connect() as connection:
        keys = list(connection.execute(text("SELECT dedup_key FROM remindermessage ORDER BY dedup_key")).scalars())
    engine.dispose()
    return keys


def _cli(url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "XIAODIAN_DATABASE_URL": url, "XIAODIAN_DATA_DIR": str(tmp_path / "data"),
            "XIAODIAN_REMINDER_BATCH_ACCOUNTS": "400", **extra}


def test_killed_run_started_again_misses_nobody_and_duplicates_nothing(tmp_path: Path) -> None:
    today = datetime.now(service_tz()).date()
    reference = _generated(tmp_path / "reference.db", today)
    killed = _generated(tmp_path / "killed.db", today)
    expected = run_reminders(make_engine(reference), datetime.now(service_tz()), batch_accounts=400)
    assert expected.queued > 1000

    paused = tmp_path / "paused"
    first = subprocess.Popen([XIAODIAN, "reminders", "run", "--json", "--date", today.isoformat()],
                             env=_cli(killed, tmp_path, XIAODIAN_REMINDERS_PAUSE_IN_CHUNK="2",
                                      XIAODIAN_REMINDERS_PAUSE_FILE=str(paused)),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not paused.exists():
        assert first.poll() is None, first.stderr.read().decode() if first.stderr else ""
        assert time.monotonic() < deadline, "the run never reached its third chunk"
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)  # mid-transaction: the third chunk has inserted rows, not committed
    first.wait(timeout=30)
    halfway = _keys(killed)
    assert 0 < len(halfway) < expected.queued  # two chunks done, the rest not
    assert len(set(halfway)) == len(halfway)

    again = subprocess.run([XIAODIAN, "reminders", "run", "--json", "--date", today.isoformat()],
                           env=_cli(killed, tmp_path), capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout)
    assert set(summary) == {"date", "accounts", "due", "queued", "skipped_quiet", "skipped_opt_out",
                            "already_sent", "seconds"}
    assert _keys(killed) == _keys(reference)  # everyone once: nobody missed, nothing twice
    assert summary["queued"] == expected.queued  # the resumed run's totals include the chunks done before the kill
    assert summary["date"] == today.isoformat()

    twice = subprocess.run([XIAODIAN, "reminders", "run", "--json", "--date", today.isoformat()],
                           env=_cli(killed, tmp_path), capture_output=True, text=True, timeout=300)
    assert json.loads(twice.stdout)["queued"] == 0
    assert json.loads(twice.stdout)["already_sent"] == expected.queued
    assert _keys(killed) == _keys(reference)
