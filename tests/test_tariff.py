"""Tariff maths against hand-worked cases (prices from knowledge_base/data/tariffs.yaml)."""

from datetime import time
from decimal import Decimal

import pytest

from knowledge_base.seed import DATA_DIR
from knowledge_base.tariff import TariffTable, estimate, peak_valley_estimate, period_at

import yaml


def table(region: str) -> TariffTable:
    data = yaml.safe_load((DATA_DIR / "tariffs.yaml").read_text(encoding="utf-8"))
    item = next(t for t in data["tariffs"] if t["region"] == region)
    return TariffTable.from_record(item["region"], item["region_name"], item["category"], item["tiers"],
                                   item["peak_valley"])


@pytest.mark.parametrize(
    ("kwh", "total"),
    [
        (0, "0.00"),
        (100, "52.83"),  # 100 x 0.5283
        (230, "121.51"),  # 121.509 rounds half up
        (300, "161.99"),  # 230 x 0.5283 + 70 x 0.5783 = 121.509 + 40.481
        (400, "219.82"),  # 121.509 + 170 x 0.5783 = 121.509 + 98.311
        (500, "302.65"),  # 219.820 + 100 x 0.8283
    ],
)
def test_jiangsu_monthly_tiers(kwh: int, total: str) -> None:
    result = estimate(table("jiangsu"), Decimal(kwh))
    assert result.total == Decimal(total)
    assert result.total_fen == int(Decimal(total) * 100)


def test_split_of_300_kwh_is_shown_per_tier() -> None:
    result = estimate(table("jiangsu"), Decimal(300))
    assert [(c.tier, c.kwh, c.price) for c in result.charges] == [
        (1, Decimal(230), Decimal("0.5283")),
        (2, Decimal(70), Decimal("0.5783")),
    ]


def test_beijing_monthly_tiers() -> None:
    # 240 x 0.4883 + 60 x 0.5383 = 117.192 + 32.298 = 149.490
    assert estimate(table("beijing"), Decimal(300)).total == Decimal("149.49")


def test_jiangsu_yearly_tiers_use_usage_so_far() -> None:
    # 2,700 kWh used this year already: 60 kWh left in tier 1, 40 go to tier 2.
    result = estimate(table("jiangsu"), Decimal(100), period="year", already_used=Decimal(2700))
    assert result.total == (60 * Decimal("0.5283") + 40 * Decimal("0.5783")).quantize(Decimal("0.01"))


def test_fractional_kwh_is_exact() -> None:
    assert estimate(table("jiangsu"), Decimal("0.5")).total == Decimal("0.26")  # 0.26415


def test_peak_valley_with_tier_surcharge() -> None:
    # 200 peak + 100 valley = 300 kWh: 70 kWh in tier 2 add 0.05 each.
    result = peak_valley_estimate(table("jiangsu"), Decimal(200), Decimal(100))
    expected = 200 * Decimal("0.5583") + 100 * Decimal("0.3583") + 70 * Decimal("0.05")
    assert result.total == expected.quantize(Decimal("0.01"))


def test_period_at_wraps_midnight() -> None:
    jiangsu = table("jiangsu")
    assert period_at(jiangsu, time(9, 0)).name == "peak"
    assert period_at(jiangsu, time(23, 30)).name == "valley"
    assert period_at(jiangsu, time(3, 0)).name == "valley"


def test_negative_kwh_is_refused() -> None:
    with pytest.raises(ValueError):
        estimate(table("jiangsu"), Decimal(-1))
