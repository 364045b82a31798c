"""The parts of Alipay's published protocol that both the Alipay adapter and the FAKE sandbox speak.

Kept apart from the SDK so the sandbox (which signs with its own key) and the
real adapter read notifications and query answers the same way.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from assistant.providers.base import ProviderTrade, TradeState

# Alipay's protocol times are Beijing time whatever zone the service runs in.
BEIJING = ZoneInfo("Asia/Shanghai")

# trade_status → what it means for the ledger. TRADE_FINISHED is a paid trade past its refund window.
TRADE_STATES: dict[str, TradeState] = {
    "TRADE_SUCCESS": "paid",
    "TRADE_FINISHED": "paid",
    "WAIT_BUYER_PAY": "waiting",
    "TRADE_CLOSED": "closed",
}
_YUAN = re.compile(r"(\d{1,9})(?:\.(\d{1,2}))?")


def string_to_sign(form: Mapping[str, str]) -> str:
    """Alipay's notification rule: drop sign, sign_type and empty values; sort by name; join key=value with &."""
    return "&".join(f"{key}={form[key]}" for key in sorted(form)
                    if key not in ("sign", "sign_type") and form[key] != "")


def parse_yuan(text: str) -> int | None:
    """'128.50' → 12850 exactly; None for anything that is not a plain yuan amount."""
    if _YUAN.fullmatch(text) is None:
        return None
    return int((Decimal(text) * 100).to_integral_exact())


def beijing_time(moment: datetime) -> str:
    """Alipay's 'YYYY-MM-DD HH:MM:SS', always in Beijing time."""
    return moment.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")


def parse_beijing_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=BEIJING).astimezone(timezone.utc)
    except ValueError:
        return None


def trade_from_fields(fields: Mapping[str, Any]) -> ProviderTrade:
    """A notification form or an alipay.trade.query answer as a ProviderTrade.

    Both use the same names (out_trade_no, trade_no, total_amount in yuan,
    trade_status); the payment time is gmt_payment in a notification and
    send_pay_date in a query answer.
    """
    status = str(fields.get("trade_status", ""))
    return ProviderTrade(
        link_id=str(fields.get("out_trade_no", "")),
        state=TRADE_STATES.get(status, "waiting"),
        provider_status=status or "missing",
        transaction_id=str(fields.get("trade_no", "")),
        amount_fen=parse_yuan(str(fields.get("total_amount", ""))),
        paid_at=parse_beijing_time(fields.get("gmt_payment") or fields.get("send_pay_date")),
        record={key: str(value) for key, value in fields.items()},
    )

