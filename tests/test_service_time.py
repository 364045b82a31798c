"""Calendar words (今天, 后天, 这个月) are read in the service's time zone, a setting, not the machine's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from assistant.conversation import ConversationService, KnowledgeWorld
from assistant.dialogue import Channel
from assistant.knowledge import Knowledge
from knowledge_base.db import make_engine
from knowledge_base.models import service_tz
from knowledge_base.seed import seed_database
from knowledge_base.settings import Settings, get_settings

XIAODIAN = Path(sys.executable).with_name("xiaodian")
# 3201000003 (扬州市广陵区) has the demo's planned outage, 08:30–16:00 on the day after seeding.
OUTAGE_CALLER = "13800000003"
# 2026-11-30 17:00 UTC is already 2026-12-01 01:00 in Shanghai.
LATE_EVENING_UTC = datetime(2026, 11, 30, 17, 0, tzinfo=timezone.utc)


@pytest.fixture
def zone(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Settings re-read from the environment the test sets, and forgotten afterwards."""
    monkeypatch.delenv("XIAODIAN_TIMEZONE", raising=False)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def service_seeded_on(tmp_path: Path, seed_day: date, now: datetime) -> ConversationService:
    engine = make_engine(f"sqlite:///{tmp_path / 'xiaodian.db'}")
    seed_database(engine, today=seed_day)
    return ConversationService(Knowledge(engine), None, clock=lambda: now)


def ask_as_outage_caller(service: ConversationService, text: str) -> str:
    state = service.start(Channel.PHONE, caller_phone=OUTAGE_CALLER)  # the phone on file: verified
    return service.handle(state.id, text).text


def test_the_default_zone_is_shanghai(zone: pytest.MonkeyPatch) -> None:
    assert Settings().timezone == "Asia/Shanghai"
    assert service_tz() == ZoneInfo("Asia/Shanghai")


def test_an_unknown_zone_is_refused_with_a_clear_error(zone: pytest.MonkeyPatch) -> None:
    zone.setenv("XIAODIAN_TIMEZONE", "Asia/Yangzhou")
    with pytest.raises(ValidationError, match="XIAODIAN_TIMEZONE.*Asia/Yangzhou.*IANA"):
        Settings()


def test_today_is_the_service_day_not_the_utc_day(zone: pytest.MonkeyPatch, knowledge: Knowledge) -> None:
    assert KnowledgeWorld(knowledge, LATE_EVENING_UTC).today == date(2026, 12, 1)


def test_day_after_tomorrow_late_at_night_utc_is_the_shanghai_day_after_tomorrow(
        zone: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Seeded on 12-02, the outage is on 12-03: 后天 as said at 01:00 on 12-01 in Shanghai.
    service = service_seeded_on(tmp_path, date(2026, 12, 2), LATE_EVENING_UTC)
    reply = ask_as_outage_caller(service, "后天停电吗")
    assert "后天8点30分到16点" in reply and "计划停电" in reply


def test_another_service_zone_moves_the_calendar(zone: pytest.MonkeyPatch, tmp_path: Path) -> None:
    zone.setenv("XIAODIAN_TIMEZONE", "America/New_York")
    assert service_tz() == ZoneInfo("America/New_York")
    # 2026-12-01 03:00 UTC is still 11-30 22:00 in New York: 后天 is 12-02, the outage day.
    now = datetime(2026, 12, 1, 3, 0, tzinfo=timezone.utc)
    service = service_seeded_on(tmp_path, date(2026, 12, 1), now)
    reply = ask_as_outage_caller(service, "后天停电吗")
    assert "后天8点30分到16点" in reply  # the outage's wall-clock times are New York's too


@pytest.mark.parametrize("zone_name", ["Pacific/Kiritimati", "Pacific/Pago_Pago"])  # UTC+14 and UTC-11
def test_command_line_reads_today_in_the_service_zone(tmp_path: Path, zone_name: str) -> None:
    # The two zones are 25 hours apart, so at any moment one of them is not on the machine's date.
    env = {**os.environ, "XIAODIAN_DATA_DIR": str(tmp_path / "var"), "XIAODIAN_TIMEZONE": zone_name}
    before = datetime.now(ZoneInfo(zone_name)).date()
    result = subprocess.run([str(XIAODIAN), "intents", "match", "--json"], input="今天停电吗\n", env=env,
                            capture_output=True, text=True, timeout=120, check=False)
    after = datetime.now(ZoneInfo(zone_name)).date()
    assert result.returncode == 0, result.stderr
    said_day = json.loads(result.stdout.splitlines()[0])["slots"]["day"]
    assert said_day in (before.isoformat(), after.isoformat())
