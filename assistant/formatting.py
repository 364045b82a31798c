"""Numbers, money, dates and tariffs as short Chinese text for elderly listeners."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from knowledge_base.tariff import Estimate, TariffTable

_WEEKDAYS = "一二三四五六日"


def yuan(fen: int) -> str:
    """12850 → '128.50' (exact: integer arithmetic, no float)."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole}.{cents:02d}"


def price(value: Decimal) -> str:
    return format(value.normalize(), "f")


def kwh(value: Decimal | int) -> str:
    return format(Decimal(value).normalize(), "f")


def month_label(month: str, today: date) -> str:
    """'2026-10' → '10月'; another year is said: '2025年12月'."""
    year, number = (int(part) for part in month.split("-"))
    return f"{number}月" if year == today.year else f"{year}年{number}月"


def day_label(day: date, today: date) -> str:
    names = {0: "今天", 1: "明天", 2: "后天"}
    offset = (day - today).days
    if offset in names:
        return names[offset]
    return f"{day.month}月{day.day}日（星期{_WEEKDAYS[day.weekday()]}）"


def clock(moment: datetime) -> str:
    """08:30 → '8点30分', 16:00 → '16点'."""
    return f"{moment.hour}点" if moment.minute == 0 else f"{moment.hour}点{moment.minute}分"


def time_of_day(minute: int) -> str:
    """930 → '下午3点半', 480 → '早上8点', 1160 → '晚上7点20分': as a person says a time."""
    hour, rest = divmod(minute, 60)
    period = "凌晨" if hour < 6 else "早上" if hour < 11 else "中午" if hour < 13 else "下午" if hour < 18 else "晚上"
    shown = hour - 12 if hour > 12 else hour
    return f"{period}{shown}点" + ("" if rest == 0 else "半" if rest == 30 else f"{rest}分")


def tariff_summary(tariff: TariffTable) -> str:
    first, second, third = tariff.tiers[0], tariff.tiers[1], tariff.tiers[2]
    text = (
        f"{tariff.region_name}居民用电是阶梯电价：每月{first.upto_month}度以内，每度{price(first.price)}元；"
        f"{first.upto_month + 1}到{second.upto_month}度，每度{price(second.price)}元；"
        f"{second.upto_month}度以上，每度{price(third.price)}元。"
    )
    prices = {p.name: p for p in tariff.periods}
    if "peak" in prices and "valley" in prices:
        peak, valley = prices["peak"], prices["valley"]
        text += (
            f"办了峰谷电的，{peak.start.hour}点到{peak.end.hour}点每度{price(peak.price)}元，"
            f"{valley.start.hour}点到第二天{valley.end.hour}点每度{price(valley.price)}元。"
        )
    return text


def estimate_text(result: Estimate) -> str:
    parts = "，".join(f"{kwh(c.kwh)}度按每度{price(c.price)}元" for c in result.charges)
    return f"用{kwh(result.kwh)}度电，电费是{yuan(result.total_fen)}元：{parts}。"
