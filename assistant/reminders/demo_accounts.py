"""Generated DEMO accounts at scale (``xiaodian demo accounts --count N --seed S``): accounts with
bills, balances and reminder subscriptions, all marked demo, for trying and measuring the daily run.

户号 3300000000 + i (never a real range, never the shipped demo 户号); the same seed gives the same
accounts, and running it again adds only what is missing. Rows go in by the batch, so a million
accounts need no more memory than ten thousand.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Iterator

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from assistant.reminders.rules import previous_month
from knowledge_base.models import (DEFAULT_QUIET_END_MINUTE, DEFAULT_QUIET_START_MINUTE, Account, Bill, PlannedOutage,
                                   ReminderSubscription, service_tz)

FIRST_NUMBER = 3_300_000_000
_SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕"
_GIVEN = "建华秀英国强淑芬桂兰明德玉珍志刚海燕凤英文军丽娟春梅永福金花长青"
AREAS = ("扬州市江都区", "扬州市广陵区", "扬州市邗江区", "南京市鼓楼区", "苏州市姑苏区", "北京市东城区")
_ROADS = ("人民路", "文昌路", "东关街", "新民街", "解放路", "建设路")
# Channels as customers choose them: most by SMS, some by call, some through family, a few at the kiosk.
_CHANNELS = (("sms", "sms,kiosk", 55), ("call", "call,sms,kiosk", 20), ("family", "family,sms", 10),
             ("kiosk", "kiosk", 15))


@dataclass
class GeneratedReport:
    accounts: int = 0
    bills: int = 0
    subscriptions: int = 0


def _insert(engine: Engine, table: Any) -> Any:
    module = postgresql if engine.dialect.name == "postgresql" else sqlite
    return module.insert(table).on_conflict_do_nothing()


def _month(today: date, offset: int) -> str:
    index = today.year * 12 + today.month - 1 + offset
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def _rows(count: int, seed: int, today: date) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any] | None]]:
    rng = random.Random(seed)
    midnight = datetime.combine(today, time(), tzinfo=service_tz())
    last_month = previous_month(today)
    weights = [weight for _, _, weight in _CHANNELS]
    for index in range(count):
        number = str(FIRST_NUMBER + index)
        area = AREAS[rng.randrange(len(AREAS))]
        prepaid = rng.random() < 0.3
        kwh = rng.randint(60, 450)
        account = {
            "number": number, "holder": rng.choice(_SURNAMES) + "".join(rng.sample(_GIVEN, 2)),
            "phone": f"139{rng.randrange(10 ** 8):08d}", "address": f"{area}{rng.choice(_ROADS)}{rng.randint(1, 300)}号",
            "area": area, "region": "beijing" if area.startswith("北京") else "jiangsu", "category": "residential",
            "balance_fen": rng.randint(100, 20000) if prepaid else 0, "demo": True, "created_at": midnight,
        }
        bills = []
        for offset in (-2, -1):
            amount = kwh * 53 + rng.randint(0, 99)  # about 0.53 元/kWh
            due = today + timedelta(days=rng.randint(-12, 12)) if offset == -1 else today - timedelta(days=30)
            paid = offset == -2 or prepaid or rng.random() < 0.4
            back = rng.randint(0, 3) if offset == -1 else rng.randint(32, 40)  # last month's: maybe just paid
            paid_at = midnight - timedelta(days=back, hours=rng.randint(0, 12)) if paid else None
            bills.append({"account_number": number, "month": _month(today, offset) if offset != -1 else last_month,
                          "kwh": kwh, "amount_fen": amount, "due_date": due, "paid_at": paid_at})
        subscription = None
        if rng.random() < 0.8:
            channel, channels, _ = rng.choices(_CHANNELS, weights)[0]
            subscription = {
                "account_number": number, "channel": channel, "channels": channels, "active": rng.random() >= 0.05,
                "created_at": midnight, "updated_at": midnight, "preferred_minute": rng.choice((480, 540, 600, 900)),
                "quiet_start_minute": DEFAULT_QUIET_START_MINUTE, "quiet_end_minute": DEFAULT_QUIET_END_MINUTE,
                "family_phone": f"138{rng.randrange(10 ** 8):08d}" if channel == "family" else "",
                "consent_at": midnight - timedelta(days=rng.randint(1, 400)), "consent_channel": "demo",
                "updated_by": "demo",
            }
        yield account, bills, subscription


def generate_demo_accounts(engine: Engine, count: int, seed: int = 1, today: date | None = None,
                           batch: int = 10000) -> GeneratedReport:
    today = today or datetime.now(service_tz()).date()
    report = GeneratedReport()
    accounts: list[dict[str, Any]] = []
    bills: list[dict[str, Any]] = []
    subscriptions: list[dict[str, Any]] = []

    def flush() -> None:
        with engine.begin() as connection:
            if accounts:
                report.accounts += connection.execute(_insert(engine, Account.__table__), accounts).rowcount
                report.bills += connection.execute(_insert(engine, Bill.__table__), bills).rowcount
            if subscriptions:
                report.subscriptions += connection.execute(
                    _insert(engine, ReminderSubscription.__table__), subscriptions).rowcount
        accounts.clear(), bills.clear(), subscriptions.clear()

    for account, account_bills, subscription in _rows(count, seed, today):
        accounts.append(account)
        bills.extend(account_bills)
        if subscription is not None:
            subscriptions.append(subscription)
        if len(accounts) >= batch:
            flush()
    flush()
    # One planned outage tomorrow in the second area, so that rule has work too (once per seed and day).
    zone = service_tz()
    tomorrow = today + timedelta(days=1)
    with engine.begin() as connection:
        reason = f"线路检修（演示 {seed}）"
        exists = connection.execute(PlannedOutage.__table__.select().where(  # type: ignore[attr-defined]
            PlannedOutage.__table__.c.reason == reason,  # type: ignore[attr-defined]
            PlannedOutage.__table__.c.starts_at == datetime.combine(tomorrow, time(9), tzinfo=zone))).first()  # type: ignore[attr-defined]
        if exists is None:
            connection.execute(PlannedOutage.__table__.insert().values(  # type: ignore[attr-defined]
                area=AREAS[1], starts_at=datetime.combine(tomorrow, time(9), tzinfo=zone),
                ends_at=datetime.combine(tomorrow, time(17), tzinfo=zone), reason=reason, demo=True))
    return report
