"""A FAKE payment provider for demo mode: it stands in for Alipay / WeChat Pay and moves no money.

It exists only when ``XIAODIAN_DEMO`` is on (``assistant.providers.build_provider``
refuses it otherwise, and the server mounts its cashier only then). It speaks
the slice of Alipay's protocol that 小电 relies on, awkward parts included:

- One order per out_trade_no (our link id), kept in the ``SandboxOrder`` table
  like a real provider's, so orders survive a restart and can be queried by
  the reconciliation job after a crash. Asking again returns the same order;
  a repeated out_trade_no with another amount is refused (ACQ.CONTEXT_INCONSISTENT).
- Orders can be closed (TRADE_CLOSED): a closed order cannot be paid.
- The asynchronous notification is Alipay's flat form (notify_id, out_trade_no,
  trade_no, total_amount in yuan as exact text, trade_status, gmt_payment ...),
  signed over Alipay's string-to-sign, but with HMAC-SHA256 under a sandbox key
  instead of RSA2, so that nobody can mistake a sandbox signature for Alipay's.
- Delivery retries until the merchant answers exactly ``success``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from urllib.parse import urlencode

import httpx
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select, update

from assistant.formatting import yuan
from assistant.providers.alipay_protocol import beijing_time, string_to_sign, trade_from_fields
from assistant.providers.base import (
    Acknowledgement,
    Checkout,
    InvalidNotification,
    OrderRequest,
    ProviderTrade,
    RawNotification,
)
from knowledge_base.db import session
from assistant.providers.alipay_protocol import BEIJING
from knowledge_base.models import SandboxOrder, utc_now

SIGN_TYPE = "HMAC-SHA256"  # Alipay would say RSA2
WAITING, PAID, CLOSED = "WAIT_BUYER_PAY", "TRADE_SUCCESS", "TRADE_CLOSED"
logger = logging.getLogger(__name__)


class DeliveryFailed(Exception):
    """The merchant never answered ``success``: a real provider would keep trying for about a day."""

    def __init__(self, url: str, attempts: int) -> None:
        super().__init__(f"notification to {url} not acknowledged after {attempts} attempts")
        self.url = url
        self.attempts = attempts


class OrderClosed(Exception):
    """The order was closed (its link was superseded or expired): the cashier refuses to take money."""


class SandboxPaymentProvider:
    """The FAKE provider (see the module docstring). Safe to call from many requests and processes."""

    name = "sandbox"

    def __init__(self, engine: Engine, key: bytes, base_url: str = "", app_id: str = "2026000000000000",
                 now: Callable[[], datetime] = utc_now) -> None:
        self.engine = engine
        self.app_id = app_id
        self.base_url = base_url.rstrip("/")
        # Where the merchant asked to be notified: from its settings, never from a request's Host header.
        self.notify_url = f"{self.base_url}/pay/notify"
        self._key = key
        self._now = now

    def order(self, order_id: str) -> SandboxOrder | None:
        """For the cashier page: what is being paid."""
        with session(self.engine) as db:
            return db.get(SandboxOrder, order_id)

    def order_for(self, link_id: str) -> SandboxOrder | None:
        with session(self.engine) as db:
            return db.exec(select(SandboxOrder).where(col(SandboxOrder.link_id) == link_id)).first()

    def create_order(self, order: OrderRequest) -> Checkout:
        """The cashier URL for this out_trade_no; the same order when asked again."""
        existing = self.order_for(order.link_id)
        if existing is None:
            now = self._now()
            row = SandboxOrder(
                order_id=secrets.token_hex(12), link_id=order.link_id, amount_fen=order.amount_fen,
                subject=order.subject, created_at=now,
                # Alipay's shape: date, channel digits, then a serial; 28 digits.
                trade_no=f"{now.astimezone(BEIJING):%Y%m%d}22001{secrets.randbelow(10**15):015d}")
            try:
                with session(self.engine) as db:
                    db.add(row)
                    db.commit()
                existing = row
            except IntegrityError:  # a double click made it first: use that one
                existing = self.order_for(order.link_id)
                assert existing is not None
        if existing.amount_fen != order.amount_fen:
            raise ValueError(f"out_trade_no {order.link_id} already ordered for {yuan(existing.amount_fen)} 元")
        return Checkout(url=f"{self.base_url}/sandbox-pay/{existing.order_id}?{urlencode({'return': order.return_url})}")

    def complete(self, order_id: str) -> dict[str, str]:
        """The customer pays at the cashier: return the notification the provider will POST.

        Paying twice charges once (the same notification comes back, as a
        retry would); a closed order raises OrderClosed and charges nothing.
        """
        now = self._now()
        with session(self.engine) as db:
            order = db.get(SandboxOrder, order_id)
            if order is None:
                raise KeyError(order_id)
            form = {
                "notify_time": beijing_time(now),
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
                "gmt_create": beijing_time(order.created_at),
                "gmt_payment": beijing_time(now),
                "sign_type": SIGN_TYPE,
            }
            form["sign"] = self.sign(form)
            # Compare-and-set on the status: a close and a payment at the same moment cannot both win.
            taken = db.exec(update(SandboxOrder).where(col(SandboxOrder.order_id) == order_id,
                                                       col(SandboxOrder.status) == WAITING)
                            .values(status=PAID, notification=form)).rowcount == 1
            db.commit()
            if taken:
                return form
            db.refresh(order)
            if order.status == PAID and order.notification is not None:
                return dict(order.notification)
            raise OrderClosed(order_id)

    def close(self, link_id: str) -> None:
        with session(self.engine) as db:
            db.exec(update(SandboxOrder).where(col(SandboxOrder.link_id) == link_id,
                                               col(SandboxOrder.status) == WAITING).values(status=CLOSED))
            db.commit()

    def query(self, link_id: str) -> ProviderTrade | None:
        """As alipay.trade.query answers: the order's state, and for a paid one its notification's facts."""
        order = self.order_for(link_id)
        if order is None:
            return None
        if order.notification is not None:
            return trade_from_fields(order.notification)
        return trade_from_fields({"out_trade_no": order.link_id, "trade_no": order.trade_no,
                                  "total_amount": yuan(order.amount_fen), "trade_status": order.status})

    def sign(self, form: Mapping[str, str]) -> str:
        digest = hmac.new(self._key, string_to_sign(form).encode("utf-8"), hashlib.sha256).digest()
        return base64.b64encode(digest).decode("ascii")

    def verify(self, form: Mapping[str, str]) -> bool:
        """Signed by this sandbox, for this merchant (Alipay merchants must check app_id too)."""
        if form.get("sign_type") != SIGN_TYPE or form.get("app_id") != self.app_id:
            return False
        return hmac.compare_digest(form.get("sign", "").encode("utf-8"), self.sign(form).encode("ascii"))

    def parse_notification(self, notification: RawNotification) -> ProviderTrade:
        form = notification.form_fields()
        if not self.verify(form):
            raise InvalidNotification("bad signature")
        return trade_from_fields(form)

    def acknowledge(self, accepted: bool) -> Acknowledgement:
        return Acknowledgement(200, "success" if accepted else "fail")

    def deliver(self, notification: Mapping[str, str], url: str,
                attempts: tuple[float, ...] = (0, 15, 15, 30, 180),
                sleep: Callable[[float], None] = time.sleep,
                post: Callable[..., httpx.Response] | None = None) -> int:
        """POST the notification form-encoded until the merchant answers exactly ``success``.

        ``attempts`` are the waits before each try (a shortened version of the
        providers' day-long schedule). Returns the number of the attempt that
        was acknowledged; raises DeliveryFailed when none was.
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
