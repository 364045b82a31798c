"""Tariff maths: tiered (阶梯) and peak/valley (峰谷) electricity cost, exact to the fen.

Pure: the tariff comes in as data (see ``Tariff.from_record``), the cost
comes out as Decimal yuan and integer fen. Rounding happens once, on the
total, half up to the fen, as on a printed bill.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal, Mapping, Sequence

FEN = Decimal("0.01")
Period = Literal["month", "year"]


@dataclass(frozen=True, slots=True)
class Tier:
    number: int  # 1, 2, 3
    upto_month: int | None  # upper limit of this tier for one month, None = no limit
    upto_year: int | None
    price: Decimal  # 元 per kWh


@dataclass(frozen=True, slots=True)
class TimePeriod:
    name: Literal["peak", "valley", "flat"]
    start: time
    end: time
    price: Decimal  # base price in tier 1


@dataclass(frozen=True, slots=True)
class TariffTable:
    region: str
    region_name: str
    category: str
    tiers: tuple[Tier, ...]
    periods: tuple[TimePeriod, ...] = ()
    tier_surcharges: tuple[Decimal, ...] = ()  # added to peak/valley prices in tier 2, 3

    @classmethod
    def from_record(cls, region: str, region_name: str, category: str,
                    tiers: Sequence[Mapping[str, Any]], peak_valley: Mapping[str, Any] | None) -> "TariffTable":
        parsed_tiers = tuple(
            Tier(i + 1, t.get("upto_month"), t.get("upto_year"), Decimal(str(t["price"])))
            for i, t in enumerate(tiers)
        )
        periods: tuple[TimePeriod, ...] = ()
        surcharges: tuple[Decimal, ...] = ()
        if peak_valley:
            periods = tuple(
                TimePeriod(p["name"], time.fromisoformat(p["start"]), time.fromisoformat(p["end"]),
                           Decimal(str(p["price"])))
                for p in peak_valley["periods"]
            )
            surcharges = tuple(Decimal(str(s)) for s in peak_valley["tier_surcharges"])
        return cls(region, region_name, category, parsed_tiers, periods, surcharges)


@dataclass(frozen=True, slots=True)
class TierCharge:
    tier: int
    kwh: Decimal
    price: Decimal
    cost: Decimal  # exact, not yet rounded


@dataclass(frozen=True, slots=True)
class Estimate:
    kwh: Decimal
    charges: tuple[TierCharge, ...]

    @property
    def total(self) -> Decimal:
        """Total in 元, rounded half up to the fen."""
        return sum((c.cost for c in self.charges), Decimal(0)).quantize(FEN, rounding=ROUND_HALF_UP)

    @property
    def total_fen(self) -> int:
        return int(self.total * 100)


def _limit(tier: Tier, period: Period) -> int | None:
    return tier.upto_month if period == "month" else tier.upto_year


def tier_split(tariff: TariffTable, kwh: Decimal, period: Period = "month",
               already_used: Decimal = Decimal(0)) -> list[tuple[Tier, Decimal]]:
    """How ``kwh`` falls into tiers, given ``already_used`` earlier in the period.

    Jiangsu counts tiers per year (2,760 / 4,800 kWh): pass ``period="year"``
    and the year's usage so far. The monthly split (230 / 400) is the usual
    way to explain one bill.
    """
    if kwh < 0 or already_used < 0:
        raise ValueError("用电量不能是负数")
    split: list[tuple[Tier, Decimal]] = []
    lower = Decimal(0)
    start, end = already_used, already_used + kwh
    for tier in tariff.tiers:
        limit = _limit(tier, period)
        upper = Decimal(limit) if limit is not None else None
        portion_start = max(start, lower)
        portion_end = end if upper is None else min(end, upper)
        if portion_end > portion_start:
            split.append((tier, portion_end - portion_start))
        if upper is None or end <= upper:
            break
        lower = upper
    return split


def estimate(tariff: TariffTable, kwh: Decimal, period: Period = "month",
             already_used: Decimal = Decimal(0)) -> Estimate:
    """Cost of ``kwh`` at the tiered prices."""
    charges = tuple(
        TierCharge(tier.number, portion, tier.price, portion * tier.price)
        for tier, portion in tier_split(tariff, kwh, period, already_used)
    )
    return Estimate(kwh, charges)


def peak_valley_estimate(tariff: TariffTable, peak_kwh: Decimal, valley_kwh: Decimal,
                         period: Period = "month", already_used: Decimal = Decimal(0)) -> Estimate:
    """Cost under the optional peak/valley (峰谷) tariff.

    Every kWh is charged at its time-of-day price; kWh that fall in tier 2 or
    3 of the period's total add that tier's surcharge (+0.05, +0.30 in Jiangsu).
    """
    if not tariff.periods:
        raise ValueError(f"{tariff.region_name}没有峰谷电价")
    prices = {p.name: p.price for p in tariff.periods}
    charges = [
        TierCharge(1, peak_kwh, prices["peak"], peak_kwh * prices["peak"]),
        TierCharge(1, valley_kwh, prices["valley"], valley_kwh * prices["valley"]),
    ]
    for tier, portion in tier_split(tariff, peak_kwh + valley_kwh, period, already_used):
        surcharge = tariff.tier_surcharges[tier.number - 1]
        if surcharge:
            charges.append(TierCharge(tier.number, portion, surcharge, portion * surcharge))
    return Estimate(peak_kwh + valley_kwh, tuple(charges))


def period_at(tariff: TariffTable, moment: time) -> TimePeriod | None:
    """The peak/valley period a time of day falls in (periods may wrap midnight)."""
    for period in tariff.periods:
        if period.start <= period.end:
            if period.start <= moment < period.end:
                return period
        elif moment >= period.start or moment < period.end:
            return period
    return None
