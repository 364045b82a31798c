"""What every payment provider adapter offers 小电, and the values they exchange.

The payment service (``assistant.payments``) only talks to this interface, so
the same link, ledger and reconciliation code runs over Alipay, WeChat Pay and
the FAKE sandbox. Each adapter checks its provider's signature and translates
the provider's words (trade_status, trade_state, yuan or fen, Beijing time or
RFC 3339) into a ``ProviderTrade``; nothing provider-specific leaks past it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol
from urllib.parse import parse_qsl, urlencode

TradeState = Literal["paid", "waiting", "closed"]


class InvalidNotification(Exception):
    """The notification is not genuinely from the configured provider (signature, merchant or shape)."""


class ProviderUnavailable(Exception):
    """The provider could not be asked (network, outage, refusal): try again later."""


@dataclass(frozen=True, slots=True)
class RawNotification:
    """A provider's call to ``/pay/notify`` as it arrived: headers (any case) and the exact body bytes.

    The body is kept as bytes because WeChat Pay signs the exact body text.
    """

    headers: Mapping[str, str]
    body: bytes

    @classmethod
    def form(cls, form: Mapping[str, str]) -> RawNotification:
        """The POST a form-posting provider (Alipay, the sandbox) makes of ``form``."""
        return cls({"content-type": "application/x-www-form-urlencoded"}, urlencode(dict(form)).encode("utf-8"))

    def form_fields(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode("utf-8"), keep_blank_values=True))


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """What the merchant asks the provider to collect; the amount is the link's, never the page's."""

    link_id: str  # out_trade_no
    amount_fen: int
    subject: str
    expires_at: datetime  # the provider must refuse payment after this (the link's own expiry)
    return_url: str  # where the provider sends the customer's browser back to
    client_ip: str = ""  # WeChat Pay H5 requires the payer's address


@dataclass(frozen=True, slots=True)
class Checkout:
    """Where the customer pays: a page to send the browser to, or a code to scan with the provider's app.

    Alipay WAP and WeChat Pay H5 give a page; Alipay precreate and WeChat Pay
    Native give a code (qr_code / code_url) that 小电 shows as a QR code.
    """

    url: str = ""
    scan_code: str = ""


@dataclass(frozen=True, slots=True)
class ProviderTrade:
    """One provider order as the provider reports it, in 小电's terms."""

    link_id: str  # out_trade_no
    state: TradeState
    provider_status: str  # the provider's own word (TRADE_SUCCESS, SUCCESS, NOTPAY ...), for logs and staff
    transaction_id: str = ""  # the provider's id of the money movement: the ledger's idempotency key
    amount_fen: int | None = None  # None when the provider's amount could not be read exactly
    paid_at: datetime | None = None
    record: dict[str, Any] = field(default_factory=dict)  # what the provider said, kept in the ledger


@dataclass(frozen=True, slots=True)
class Acknowledgement:
    """The HTTP answer that tells the provider to stop (accepted) or keep retrying."""

    status_code: int
    body: str
    media_type: str = "text/plain"


class PaymentProvider(Protocol):
    """A payment provider: Alipay, WeChat Pay, or the FAKE sandbox (demo mode only)."""

    name: str

    def create_order(self, order: OrderRequest) -> Checkout:
        """Open (or find) the order for ``order.link_id``; say where the customer pays.

        Idempotent per link id, as the providers are per out_trade_no: asking
        twice gives the same order, never a second one.
        """
        ...

    def parse_notification(self, notification: RawNotification) -> ProviderTrade:
        """The trade a notification reports; raises InvalidNotification unless it is genuine."""
        ...

    def acknowledge(self, accepted: bool) -> Acknowledgement:
        ...

    def query(self, link_id: str) -> ProviderTrade | None:
        """Ask the provider how the order stands (None: no such order); raises ProviderUnavailable."""
        ...

    def close(self, link_id: str) -> None:
        """Make the order unpayable (superseded or expired link). A paid or missing order is left as it is."""
        ...
