"""The dashboard's figures over the last N service days: totals, per channel, per hall, per day.

Read from the daily rollup only (``QualityDay``, kept by ``assistant.quality.rollup``), so a
90-day summary sums a few hundred rows however many turns there were. Definitions (the tests count by hand
against these):

- turns, none / confirmation rates: every logged turn; rates are shares of the turns;
- conversations: by the day of their first turn; resolved = at least one request answered
  and no handoff; handoffs: one per conversation, its most urgent reason;
- satisfaction: the goodbye question's answers (满意 3, 一般 2, 不满意 1) given in the window;
- latency: median and p90 of the turns' processing time (within 2.5 %, from buckets);
- halls: the service hall of the registered kiosk the conversation took place at (``assistant.quality.halls``);
  conversations at no hall are shown by channel: 电话, 网页, 未登记自助机 (a kiosk page with no registered
  device behind it). The hall filter ``NO_HALL`` keeps only those.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine

from assistant.quality import latency
from knowledge_base.models import KioskDevice, QualityDay, service_today

CHANNEL_LABELS = {"kiosk": "自助机", "phone": "电话", "web": "网页", "cli": "命令行"}
HANDOFF_LABELS = {"asked": "客户要求", "misses": "多次没听懂", "emergency": "紧急情况", "complaint": "投诉",
                  "fraud": "疑似诈骗", "account": "户号查不到", "verify": "身份核实不了", "limit": "查询太多户号"}
SATISFACTION_LABELS = {3: "满意", 2: "一般", 1: "不满意"}
# Turns at no hall, named by their channel in the per-hall table.
NO_HALL_LABELS = {"kiosk": "未登记自助机", "phone": "电话", "web": "网页", "cli": "命令行"}
NO_HALL = "-"  # the hall filter's value for "not at a hall"


def hall_label(hall: str, channel: str = "") -> str:
    return hall if hall else NO_HALL_LABELS.get(channel, channel or "不在营业厅")


@dataclass
class Figures:
    """One row of the dashboard: everything, one channel, or one day."""

    label: str
    turns: int = 0
    conversations: int = 0
    resolved: int = 0
    resolution_rate: float | None = None
    handoffs: dict[str, int] = field(default_factory=dict)
    handoff_rate: float | None = None
    emergencies: int = 0
    frauds: int = 0
    none_rate: float | None = None
    confirm_rate: float | None = None
    low_confidence_rate: float | None = None
    asr_confidence: float | None = None
    satisfaction: dict[str, int] = field(default_factory=lambda: {v: 0 for v in SATISFACTION_LABELS.values()})
    satisfied_rate: float | None = None
    latency_ms: dict[str, float | None] = field(default_factory=lambda: {"median": None, "p90": None})

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Summary:
    days: int
    first_day: date
    last_day: date
    total: Figures
    by_channel: list[Figures]
    by_day: list[Figures]
    # One row per hall, then the turns at no hall by channel; keys are (hall, "") or ("", channel).
    by_hall: list[tuple[tuple[str, str], Figures]] = field(default_factory=list)
    hall: str | None = None  # the hall filter, if any (NO_HALL: not at a hall)

    def as_json(self) -> dict[str, Any]:
        body = self.total.as_json()
        body.pop("label")
        return {"days": self.days, "from": self.first_day.isoformat(), "to": self.last_day.isoformat(),
                "hall": self.hall, **body,
                "by_channel": [f.as_json() | {"channel": f.label, "channel_label": CHANNEL_LABELS.get(f.label, f.label)}
                               for f in self.by_channel],
                "by_hall": [f.as_json() | {"hall": hall, "channel": channel or None} for (hall, channel), f in self.by_hall],
                "by_day": [f.as_json() | {"day": f.label} for f in self.by_day]}


def _ratio(part: int | float, whole: int | float) -> float | None:
    return round(part / whole, 4) if whole else None


def _finish(figures: Figures, none_turns: int, confirm_turns: int, low: int, asr_n: int, asr_sum: float,
            histogram: dict[int, int]) -> Figures:
    figures.resolution_rate = _ratio(figures.resolved, figures.conversations)
    figures.handoff_rate = _ratio(sum(figures.handoffs.values()), figures.conversations)
    figures.none_rate = _ratio(none_turns, figures.turns)
    figures.confirm_rate = _ratio(confirm_turns, figures.turns)
    figures.low_confidence_rate = _ratio(low, figures.turns)
    figures.asr_confidence = round(asr_sum / asr_n, 4) if asr_n else None
    figures.satisfied_rate = _ratio(figures.satisfaction["满意"], sum(figures.satisfaction.values()))
    figures.latency_ms = {"median": latency.percentile(histogram, 0.5), "p90": latency.percentile(histogram, 0.9)}
    return figures


def summarize(engine: Engine, days: int, today: date | None = None, channel: str | None = None,
              hall: str | None = None) -> Summary:
    """The last ``days`` service days up to ``today`` (default: today where the service is), of one
    channel and one hall if asked (``NO_HALL``: the turns at no hall)."""
    last = today or service_today()
    first = last - timedelta(days=days - 1)
    day_rows = select(QualityDay).where(QualityDay.day >= first, QualityDay.day <= last)
    if channel:
        day_rows = day_rows.where(QualityDay.channel == channel)
    if hall:
        day_rows = day_rows.where(QualityDay.hall == ("" if hall == NO_HALL else hall))
    with engine.connect() as connection:
        days_read = connection.execute(day_rows).all()

    groups: dict[str, dict[Any, list[Any]]] = {"total": {}, "channel": {}, "day": {}, "hall": {}}

    def accumulate(key_kind: str, key: Any) -> list[Any]:
        # [Figures, none, confirm, low, asr_n, asr_sum, histogram]
        bucket = groups[key_kind].get(key)
        if bucket is None:
            label = "合计" if key_kind == "total" else hall_label(*key) if key_kind == "hall" else key
            bucket = groups[key_kind][key] = [Figures(label=str(label)), 0, 0, 0, 0, 0.0, {}]
        return bucket

    for row in days_read:
        if not (row.turns or row.conversations or any(row.ratings.values())):
            continue  # emptied: its conversations moved to the hall a kiosk bound them to
        place = (row.hall, "") if row.hall else ("", row.channel)
        for key in (("total", "total"), ("channel", row.channel), ("day", row.day.isoformat()), ("hall", place)):
            bucket = accumulate(*key)
            figures = bucket[0]
            figures.turns += row.turns
            figures.conversations += row.conversations
            figures.resolved += row.resolved
            figures.emergencies += row.emergencies
            figures.frauds += row.frauds
            for reason, count in row.handoffs.items():
                if count:
                    figures.handoffs[reason] = figures.handoffs.get(reason, 0) + count
            for score, count in row.ratings.items():
                label = SATISFACTION_LABELS.get(int(score))
                if label:
                    figures.satisfaction[label] += count
            bucket[1] += row.none_turns
            bucket[2] += row.confirm_turns
            bucket[3] += row.low_confidence_turns
            bucket[4] += row.asr_turns
            bucket[5] += row.asr_confidence_sum
            for b, n in row.latency_buckets.items():
                bucket[6][int(b)] = bucket[6].get(int(b), 0) + n

    total = _finish(*accumulate("total", "total"))
    by_channel = [_finish(*groups["channel"][c]) for c in sorted(groups["channel"])]
    by_day = []
    for offset in range(days):  # every day, empty ones too: a trend has no holes
        day_key = (first + timedelta(days=offset)).isoformat()
        by_day.append(_finish(*accumulate("day", day_key)))
    # The halls by name, then what was said at no hall (kiosk, phone, web).
    places = sorted(groups["hall"], key=lambda key: (not key[0], key[0], key[1]))
    by_hall = [(place, _finish(*groups["hall"][place])) for place in places]
    return Summary(days, first, last, total, by_channel, by_day, by_hall, hall or None)


def known_halls(engine: Engine) -> list[str]:
    """Every hall with figures, and every hall a kiosk is registered at (for the dashboard's hall filter)."""
    with engine.connect() as connection:
        counted = connection.execute(select(QualityDay.hall).distinct()).scalars().all()
        registered = connection.execute(select(KioskDevice.hall).distinct()).scalars().all()
    return sorted({hall for hall in [*counted, *registered] if hall})
