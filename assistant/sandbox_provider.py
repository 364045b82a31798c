"""A FAKE payment provider: it stands in for Alipay / WeChat Pay and moves no money.

The real providers cannot exist here (no internet, no merchant account, no
keys), yet the payment code must be exercised against something that behaves
like them, including their awkward parts. So this fake speaks the slice of
Alipay's protocol that 小电 relies on:

- One order per out_trade_no (our link id): asking again returns the same
  order, as Alipay does for a repeated out_trade_no; the customer is sent to a
  cashier page the server serves at ``/sandbox-pay/{order_id}``.
- The asynchronous notification is Alipay's: a flat form with its field names
  (notify_id, out_trade_no, trade_no, total_amount in yuan as exact text,
  trade_status, gmt_payment ...), signed over Alipay's string-to-sign: every
  parameter except ``sign`` and ``sign_type`` and empty ones, sorted by name,
  joined as ``key=value`` with ``&``. The one difference is the signature:
  HMAC-SHA256 under a sandbox key, base64, instead of RSA2. Real RSA2 needs
  Alipay's key pair, which cannot exist offline, and a home-made RSA pair would
  test nothing more than a shared key does.
- Delivery retries until the merchant answers exactly ``success``, so the
  same notification can arrive several times.

Orders live in memory: a restart forgets them, which is acceptable for a fake.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType

import httpx

from assistant.formatting import yuan
from knowledge_base.models import SERVICE_TZ, utc_now

SIGN_TYPE = "HMAC-SHA256"  # Alipay would say RSA2
WAITING, PAID = "WAIT_BUYER_PAY", "TRADE_SUCCESS"


class DeliveryFailed(Exception):
    """The merchant never answered ``success``: a real provider would keep trying for about a day."""

    def __init__(self, url: str, attempts: int) -> None:
        super().__init__(f"notification to {url} not acknowledged after {attempts} attempts")
        self.url = url
        self.attempts = attempts


@dataclass(slots=True)
class SandboxOrder:
    order_id: str  # the cashier page's id
    link_id: str  # out_trade_no
    amount_fen: int
    subject: str
    trade_no: str  # the provider's transaction id
    created_at: datetime
    status: str = WAITING
    notification: dict[str, str] | None = None


def string_to_sign(form: Mapping[str, str]) -> str:
    """Alipay's rule: drop sign, sign_type and empty values; sort by name; join key=value with &."""
    return "&".join(f"{key}={form[key]}" for key in sorted(form)
                    if key not in ("sign", "sign_type") and form[key] != "")


def _beijing(moment: datetime) -> str:
    return moment.astimezone(SERVICE_TZ).strftime("%Y-%m-%d %H:%M:%S")


class SandboxPaymentProvider:
    """The FAKE provider (see the module docstring). Thread-safe: the server calls it from many requests."""

    name = "sandbox"

    def __init__(self, key: bytes, base_url: str = "", app_id: str = "2026000000000000",
                 now: Callable[[], datetime] = utc_now) -> None:
        self.app_id = app_id
        self.base_url = base_url.rstrip("/")
        self._key = key
        self._now = now
        self._lock = threading.Lock()
        self._orders: dict[str, SandboxOrder] = {}
        self._order_by_link: dict[str, str] = {}

    @property
    def orders(self) -> Mapping[str, SandboxOrder]:
        return MappingProxyType(self._orders)

    def order(self, order_id: str) -> SandboxOrder | None:
        """For the cashier page: what is being paid."""
        return self._orders.get(order_id)

    def create_order(self, link_id: str, amount_fen: int, subject: str) -> str:
        """The cashier URL for this out_trade_no; the same order when asked again.

        A repeated out_trade_no with another amount is refused, as Alipay
        refuses it (ACQ.CONTEXT_INCONSISTENT).
        """
        with self._lock:
            existing = self._order_by_link.get(link_id)
            if existing is not None:
                order = self._orders[existing]
                if order.amount_fen != amount_fen:
                    raise ValueError(f"out_trade_no {link_id} already ordered for {yuan(order.amount_fen)} 元")
            else:
                now = self._now()
                order = SandboxOrder(
                    order_id=secrets.token_hex(12),
                    link_id=link_id,
                    amount_fen=amount_fen,
                    subject=subject,
                    # Alipay's shape: date, channel digits, then a serial; 28 digits.
                    trade_no=f"{now.astimezone(SERVICE_TZ):%Y%m%d}22001{secrets.randbelow(10**15):015d}",
                    created_at=now,
                )
                self._orders[order.order_id] = order
                self._order_by_link[link_id] = order.order_id
        return f"{self.base_url}/sandbox-pay/{order.order_id}"

    def complete(self, order_id: str) -> dict[str, str]:
        """The customer pays at the cashier: return the notification the provider would POST.

        Paying twice charges once: the same notification comes back, as a retry would.
        """
        with self._lock:
            order = self._orders[order_id]
            if order.notification is None:
                now = self._now()
                form = {
                    "notify_time": _beijing(now),
                    "notify_type": "trade_status_sync",
                    "notify_id": secrets.token_hex(16),
                    "app_id": self.app_id,
                    "charset": "utf-8",
                    "version": "1.0",
                    "trade_no": order.trade_no,
                    "out_trade_no": order.link_id,
                    "subject": order.subject,
                    "trade_status": PAID,
                    "total_amount": yuan(order.amount_fen),
                    "receipt_amount": yuan(order.amount_fen),
                    "gmt_create": _beijing(order.created_at),
                    "gmt_payment": _beijing(now),
                    "sign_type": SIGN_TYPE,
                }
                form["sign"] = self.sign(form)
                order.notification = form
                order.status = PAID
            return dict(order.notification)

    def sign(self, form: Mapping[str, str]) -> str:
        digest = hmac.new(self._key, string_to_sign(form).encode("utf-8"), hashlib.sha256).digest()
        return base64.b64encode(digest).decode("ascii")

    def verify(self, form: Mapping[str, str]) -> bool:
        """Signed by this sandbox, for this merchant (Alipay merchants must check app_id too)."""
        if form.get("sign_type") != SIGN_TYPE or form.get("app_id") != self.app_id:
            return False
        return hmac.compare_digest(form.get("sign", "").encode("utf-8"), self.sign(form).encode("ascii"))

    def deliver(self, notification: Mapping[str, str], url: str,
                attempts: tuple[float, ...] = (0, 15, 15, 30, 180),
                sleep: Callable[[float], None] = time.sleep,
                post: Callable[..., httpx.Response] | None = None) -> int:
        """POST the notification form-encoded until the merchant answers exactly ``success``.

        ``attempts`` are the waits before each try (a shortened version of the
        providers' day-long schedule). Returns the number of the attempt that
        was acknowledged; raises DeliveryFailed when none was. ``post`` is
        called as ``post(url, data=form)`` (httpx.Client.post by default, so a
        FastAPI TestClient's ``post`` fits).
        """
        if post is None:
            with httpx.Client(timeout=10.0) as client:
                return self.deliver(notification, url, attempts, sleep, client.post)
        form = dict(notification)
        for number, wait in enumerate(attempts, start=1):
            sleep(wait)
            try:
                response = post(url, data=form)
            except httpx.HTTPError:
                continue  # unreachable merchant: try again later, as the provider would
            if response.status_code == 200 and response.text == "success":
                return number
        raise DeliveryFailed(url, len(attempts))
