"""One-tap payment links: issue a link, show it, start paying, record the provider's word.

Why it is built this way:

- The amount is the server's. A link stores the sum of the account's unpaid
  bills when it is issued; the page, the provider order and the provider's
  notification are all checked against that figure. A client never supplies
  an amount.
- A link travels in an SMS or a QR code, so its token is signed (HMAC) and
  carries its own expiry: a changed character is refused before any money
  talk, and an old SMS stops working on its own.
- Only the provider's signed asynchronous notification moves money in the
  ledger, never the browser coming back. Providers retry that notification
  until acknowledged, so it arrives many times, late, even twice at once: the
  provider's transaction id is the ledger's unique key, and the ledger row,
  the link and the bills change in one database transaction.
- A bill can be paid only once. A new link cancels the account's older open
  links and closes their provider orders; money that still arrives for a
  paid, superseded or expired link is kept in the ledger as refund_needed,
  with the reason, for staff. Notifications can be lost (a crash, an outage
  longer than the provider retries), so ``reconcile`` asks the provider about
  links left "paying" and records what it says exactly as a notification would.

I/O goes only through the engine and the provider object, so tests drive it
against a real SQLite file and the sandbox provider.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import os
import re
import secrets
import tempfile
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Literal

import segno
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select, update

from assistant.answers import mask_name
from assistant.formatting import month_label, yuan
from assistant.providers.base import (
    Checkout,
    InvalidNotification,
    OrderRequest,
    PaymentProvider,
    ProviderTrade,
    ProviderUnavailable,
    RawNotification,
)
from knowledge_base.db import session
from knowledge_base.models import Account, Bill, Payment, PaymentLink, service_tz, utc_now

SECRET_BYTES = 32
# 128 bits of HMAC-SHA256 (RFC 2104 allows truncation to half the hash): the
# token stays short enough that the SMS holding it is not split in two.
TOKEN_MAC_BYTES = 16
# A provider keeps notifying for about a day: a superseded link's lost payment is still looked for that long.
PROVIDER_RETRY_WINDOW = timedelta(hours=48)

_SECRET_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
logger = logging.getLogger(__name__)
_MAX_TOKEN_LENGTH = 200

LinkProblemKind = Literal["unknown", "tampered", "expired", "used"]

# Read by relatives abroad on a phone as often as at home: nothing here sends anyone to a hall
# (issue 13); the pay page offers a fresh link to the phone on file, and 95598 as dialled from abroad.
_PROBLEM_MESSAGES: dict[LinkProblemKind, str] = {
    "unknown": "没有找到这个付款链接，请核对一下是不是完整复制了短信里的链接。",
    "tampered": "这个付款链接不完整或者被改动过，为了您的资金安全，请不要用它付款。",
    "expired": "这个付款链接已经过期了，钱没有扣。可以在下面重新获取一个。",
    "used": "这笔电费已经交清了，不需要再付款。谢谢您！",
}
_REPLACED_MESSAGE = "账单有了变化，这个付款链接已经停用了，钱没有扣。请用最新收到的付款链接，或者在下面重新获取一个。"


# --- Errors the customer is told about ---------------------------------------------


class PaymentError(Exception):
    """A refusal meant for the customer: ``message`` is polite Chinese for the page or the voice."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnknownAccount(PaymentError):
    def __init__(self, account_number: str) -> None:
        super().__init__(f"没有找到户号{account_number}，请您核对一下电费单上的十位户号。")
        self.account_number = account_number


class NothingToPay(PaymentError):
    def __init__(self, account_number: str) -> None:
        super().__init__(f"户号{account_number}目前没有要交的电费，不需要付款。")
        self.account_number = account_number


class LinkProblem(PaymentError):
    """Why a link cannot be shown or paid; ``kind`` is for the code, ``message`` for the customer."""

    def __init__(self, kind: LinkProblemKind, message: str | None = None) -> None:
        super().__init__(message or _PROBLEM_MESSAGES[kind])
        self.kind = kind


# --- Secrets ----------------------------------------------------------------------


def load_or_create_secret(data_dir: Path, name: str) -> bytes:
    """The 32-byte secret ``data_dir/secrets/<name>.key``, made on first use, readable only by us.

    It lives in the data folder (never in the repository) so every installation
    has its own. The file is written whole under a temporary name and then
    linked into place, so two processes starting together agree on one key and
    no one ever reads half a key. Losing it invalidates every link already sent.
    """
    if not _SECRET_NAME.fullmatch(name):
        raise ValueError(f"secret name must be lowercase letters, digits, '-' or '_': {name!r}")
    folder = data_dir / "secrets"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = folder / f"{name}.key"
    if not path.exists():
        descriptor, temporary = tempfile.mkstemp(dir=folder, prefix=f".{name}.")  # mode 0600
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(secrets.token_bytes(SECRET_BYTES))
            try:
                os.link(temporary, path)
            except FileExistsError:
                pass  # another process made it first: use theirs
        finally:
            os.unlink(temporary)
    key = path.read_bytes()
    if len(key) != SECRET_BYTES:
        raise ValueError(f"{path} holds {len(key)} bytes, expected {SECRET_BYTES}: restore it from backup, "
                         "or delete it to make a new one (links already sent will stop working)")
    return key


# --- Link tokens: <link_id>.<expiry unix seconds>.<base64url HMAC-SHA256> -----------


@dataclass(frozen=True, slots=True)
class LinkToken:
    link_id: str
    expires_at: datetime


def _token_mac(key: bytes, payload: str) -> str:
    digest = hmac.new(key, payload.encode("utf-8"), hashlib.sha256).digest()[:TOKEN_MAC_BYTES]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def sign_token(key: bytes, link_id: str, expires_at: datetime) -> str:
    payload = f"{link_id}.{int(expires_at.timestamp())}"
    return f"{payload}.{_token_mac(key, payload)}"


def verify_token(key: bytes, token: str) -> LinkToken:
    """The link a token names, if we signed it; expiry is the caller's to judge.

    The MAC is compared as text, not decoded: base64 decoding ignores the
    spare bits of the last character, so a changed last character could
    otherwise still pass.
    """
    parts = token.split(".")
    if len(token) > _MAX_TOKEN_LENGTH or len(parts) != 3 or not all(parts):
        raise LinkProblem("unknown")
    link_id, expiry, mac = parts
    expected = _token_mac(key, f"{link_id}.{expiry}")
    if not hmac.compare_digest(mac.encode("utf-8"), expected.encode("ascii")):
        raise LinkProblem("tampered")
    return LinkToken(link_id, datetime.fromtimestamp(int(expiry), tz=timezone.utc))


# --- What the service hands out ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class IssuedLink:
    link_id: str
    token: str
    url: str
    short_text: str  # the SMS to the account's own phone
    family_text: str  # the SMS or forwarded text a relative gets: whose bill it is, nobody greeted by name
    amount_fen: int
    bill_months: tuple[str, ...]  # as said to the customer: ("10月",)
    expires_at: datetime
    qr_svg: str  # standalone SVG of ``url``
    reused: bool  # the same unpaid bills already had a link: this is a fresh token for it


@dataclass(frozen=True, slots=True)
class LinkView:
    """What the payment page shows: enough to recognise the bill, not to expose the holder."""

    account_number: str
    holder: str  # masked: 张*华
    amount_fen: int
    amount_yuan: str  # "128.50"
    bill_months: tuple[str, ...]
    status: str  # open or paying (other states are refused as LinkProblem)
    expires_at: datetime  # of this token


@dataclass(frozen=True, slots=True)
class NotificationResult:
    """How a provider's word about a payment was taken.

    ``accepted`` tells the provider to stop retrying (the provider's adapter
    turns it into the answer it expects); a refused one will be sent again.
    """

    accepted: bool
    duplicate: bool
    reason: str
    link_id: str | None = None
    refund_needed: bool = False

    @classmethod
    def taken(cls, reason: str, link_id: str | None, duplicate: bool = False,
              refund_needed: bool = False) -> NotificationResult:
        return cls(True, duplicate, reason, link_id, refund_needed)

    @classmethod
    def refused(cls, reason: str, link_id: str | None = None) -> NotificationResult:
        return cls(False, False, reason, link_id)


@dataclass(frozen=True, slots=True)
class ReconcileReport:
    """What one reconciliation pass found; ``recorded`` lists the results of payments it recorded."""

    checked: int = 0
    recorded: list[NotificationResult] = field(default_factory=list)
    expired: int = 0
    unavailable: int = 0


@dataclass(frozen=True, slots=True)
class RefundNeeded:
    """A payment that arrived but must go back (shown to staff)."""

    payment_id: int
    account_number: str
    link_id: str
    provider: str
    provider_transaction_id: str
    amount_fen: int
    paid_at: datetime
    reason: str


# --- The service -------------------------------------------------------------------


def _lifetime_text(ttl: timedelta) -> str:
    minutes = int(ttl.total_seconds() // 60)
    return f"{minutes // 60}小时" if minutes % 60 == 0 else f"{minutes}分钟"


def qr_svg(url: str) -> str:
    """A QR code big enough to scan off a kiosk screen, black on white whatever the page colours."""
    buffer = io.BytesIO()
    segno.make_qr(url, error="m").save(buffer, kind="svg", scale=10, border=4, dark="#000", light="#fff",
                                       xmldecl=False, title="付款二维码", encoding="utf-8")
    return buffer.getvalue().decode("utf-8")


def _lock_account(db: Session, account_number: str) -> bool:
    """Take the account's write lock first thing in the transaction; return whether it exists.

    A no-op write: a row lock on PostgreSQL, the database write lock on SQLite.
    Without it two kiosks issuing at once could both see "no link yet" and
    create two links for the same bills, which could then both be paid.
    """
    result = db.exec(update(Account).where(col(Account.number) == account_number).values(region=Account.region))
    return result.rowcount == 1


class PaymentService:
    """Payment links over the database and one provider.

    Re-issuing: an account has at most one live link per set of unpaid bills.
    Asking again for the same bills returns a new token for the same link (same
    link id, hence the same provider order) and gives the link a fresh
    lifetime, so two QR codes can never become two payments. When the unpaid
    bills have changed (a new month came out), the old link is cancelled, its
    provider order closed, and a new one issued for the new total.
    """

    def __init__(self, engine: Engine, link_key: bytes, provider: PaymentProvider | None, base_url: str = "",
                 ttl: timedelta = timedelta(hours=24), now: Callable[[], datetime] = utc_now) -> None:
        if len(link_key) < SECRET_BYTES:
            raise ValueError(f"link key must be at least {SECRET_BYTES} bytes")
        self.engine = engine
        self.provider = provider
        self.base_url = base_url.rstrip("/")
        self.ttl = ttl
        self._key = link_key
        self._now = now

    @property
    def _provider(self) -> PaymentProvider:
        """The provider, where money is taken; a links-only service (the terminal) has none."""
        if self.provider is None:
            raise RuntimeError("no payment provider here: only the service, with a provider configured, takes money")
        return self.provider

    # -- issuing

    def create_link(self, account_number: str, channel: str = "kiosk", session_id: str | None = None) -> IssuedLink:
        """A link to pay everything the account owes now; raises UnknownAccount or NothingToPay."""
        now = self._now()
        expires_at = (now + self.ttl).replace(microsecond=0)  # the token carries whole seconds
        with session(self.engine) as db:
            if not _lock_account(db, account_number):
                raise UnknownAccount(account_number)
            account = db.get(Account, account_number)
            assert account is not None
            bills = list(db.exec(select(Bill).where(col(Bill.account_number) == account_number,
                                                    col(Bill.paid_at).is_(None)).order_by(col(Bill.month))))
            amount_fen = sum(bill.amount_fen for bill in bills)
            if amount_fen <= 0:
                raise NothingToPay(account_number)
            bill_ids = [bill.id for bill in bills if bill.id is not None]
            superseded: list[str] = []
            link = self._live_link_for(db, account_number, bill_ids, amount_fen, superseded)
            reused = link is not None
            if link is None:
                link = PaymentLink(id=secrets.token_hex(12), account_number=account_number, bill_ids=bill_ids,
                                   amount_fen=amount_fen, channel=channel, session_id=session_id,
                                   created_at=now, expires_at=expires_at)
            link.expires_at = expires_at
            db.add(link)
            db.commit()
            holder = account.holder
        self._close_orders(superseded)
        token = sign_token(self._key, link.id, expires_at)
        url = f"{self.base_url}/pay/{token}"
        months = self._month_labels([bill.month for bill in bills], now)
        bill = f"户号{account_number}电费{yuan(amount_fen)}元，点击付款 {url} ，{_lifetime_text(self.ttl)}内有效。"
        short_text = f"【供电服务】{mask_name(holder)}您好，{bill}"
        family_text = f"【供电服务】您好，这是您家人{mask_name(holder)}的{bill}"
        return IssuedLink(link.id, token, url, short_text, family_text, amount_fen, months, expires_at, qr_svg(url),
                          reused)

    def _live_link_for(self, db: Session, account_number: str, bill_ids: list[int], amount_fen: int,
                       superseded: list[str]) -> PaymentLink | None:
        """The unpaid link for exactly these bills, if any; links for another bill set are cancelled.

        A cancelled link whose customer already went to the provider has an
        open order there: its id goes into ``superseded`` so the caller closes
        that order once this transaction is committed.
        """
        found = None
        for link in db.exec(select(PaymentLink).where(col(PaymentLink.account_number) == account_number,
                                                      col(PaymentLink.status).in_(("open", "paying")))):
            if link.bill_ids == bill_ids and link.amount_fen == amount_fen and found is None:
                found = link
            else:
                if link.status == "paying":
                    superseded.append(link.id)
                link.status = "cancelled"
                db.add(link)
        return found

    def _close_orders(self, link_ids: list[str]) -> None:
        """Close provider orders of links that may no longer be paid; a failure is left to reconciliation.

        Should a customer still manage to pay one (the close raced the
        payment, or the provider could not be reached), the payment is
        recorded as refund-needed, never applied twice.
        """
        for link_id in link_ids:
            if self.provider is None:  # issuing links only (the terminal): the service's reconciliation closes it
                logger.warning("no provider here to close an order; reconciliation will", extra={"link_id": link_id})
                continue
            try:
                self.provider.close(link_id)
            except ProviderUnavailable:
                logger.warning("provider order not closed; reconciliation will retry", extra={"link_id": link_id})

    # -- the payment page

    def open(self, token: str) -> LinkView:
        """What the page shows for a token; raises LinkProblem when it cannot be paid."""
        expires_at, link, account, bills = self._payable(token)
        return LinkView(
            account_number=account.number,
            holder=mask_name(account.holder),
            amount_fen=link.amount_fen,
            amount_yuan=yuan(link.amount_fen),
            bill_months=self._month_labels([bill.month for bill in bills], self._now()),
            status=link.status,
            expires_at=expires_at,
        )

    def link_id_of(self, token: str) -> str:
        """The link a token we signed names (expired or not); raises LinkProblem otherwise (the pay pages)."""
        return verify_token(self._key, token).link_id

    def start(self, token: str, client_ip: str = "") -> Checkout:
        """Where the customer pays this link at the provider; a double click gets the same order, never a second."""
        _, link, account, bills = self._payable(token)
        months = "、".join(self._month_labels([bill.month for bill in bills], self._now()))
        checkout = self._provider.create_order(OrderRequest(
            link_id=link.id, amount_fen=link.amount_fen, subject=f"电费 户号{account.number} {months}",
            expires_at=link.expires_at if link.expires_at.tzinfo else link.expires_at.replace(tzinfo=timezone.utc),
            return_url=f"{self.base_url}/pay/{token}/done", client_ip=client_ip))
        with session(self.engine) as db:
            db.exec(update(PaymentLink).where(col(PaymentLink.id) == link.id, col(PaymentLink.status) == "open")
                    .values(status="paying", paying_at=self._now(), provider=self._provider.name))
            db.commit()
        return checkout

    def _payable(self, token: str) -> tuple[datetime, PaymentLink, Account, list[Bill]]:
        """The token's expiry, its link, account and bills, or the LinkProblem that stops payment.

        "Already paid" wins over "expired": someone who paid must not be told to fetch a new link.
        """
        parsed = verify_token(self._key, token)
        with session(self.engine) as db:
            link = db.get(PaymentLink, parsed.link_id)
            if link is None:
                raise LinkProblem("unknown")
            account = db.get(Account, link.account_number)
            assert account is not None
            bills = list(db.exec(select(Bill).where(col(Bill.id).in_(link.bill_ids)).order_by(col(Bill.month))))
        settled = [bill for bill in bills if bill.paid_at is not None]
        if link.status == "paid" or (bills and len(settled) == len(bills)):
            raise LinkProblem("used")
        if link.status == "cancelled" or settled:
            raise LinkProblem("expired", _REPLACED_MESSAGE)
        now = self._now()
        if now >= parsed.expires_at or now >= link.expires_at:
            raise LinkProblem("expired")
        return parsed.expires_at, link, account, bills

    # -- the provider's confirmation

    def handle_notification(self, notification: RawNotification | Mapping[str, str]) -> NotificationResult:
        """Record a provider's payment notification exactly once (a form may be passed for form providers)."""
        raw = notification if isinstance(notification, RawNotification) else RawNotification.form(notification)
        try:
            trade = self._provider.parse_notification(raw)
        except InvalidNotification as problem:
            logger.warning("payment notification refused", extra={"provider": self._provider.name,
                                                                   "why": str(problem)})
            return NotificationResult.refused("bad signature")
        return self.record(trade)

    def record(self, trade: ProviderTrade) -> NotificationResult:
        """Take the provider's word about a trade (from a notification or a query), idempotently.

        The duplicate check is the ledger's unique provider_transaction_id, not
        a read beforehand: two deliveries handled at the same moment both get
        past any read, and only the constraint decides which one records the
        money. Money that arrives for a link that is paid, superseded, or whose
        bills were paid otherwise is kept in the ledger as refund_needed, with
        the reason, for staff to return; it never pays a bill a second time.
        """
        link_id = trade.link_id
        if trade.state != "paid":
            # Genuine, but not money taken (waiting, closed): nothing to record, stop the retries.
            return NotificationResult.taken(f"trade status {trade.provider_status}: nothing to record", link_id)
        if not trade.transaction_id:
            return NotificationResult.refused("missing transaction id", link_id)
        with session(self.engine) as db:
            link = db.get(PaymentLink, link_id)
            if link is None:
                return NotificationResult.refused("unknown out_trade_no", link_id)
            if trade.amount_fen != link.amount_fen:
                return NotificationResult.refused(
                    f"amount {trade.amount_fen} fen does not match the link's {link.amount_fen}", link_id)
            # Serialise with issuing and with other payments of this account, then read afresh.
            _lock_account(db, link.account_number)
            db.refresh(link)
            bills = list(db.exec(select(Bill).where(col(Bill.id).in_(link.bill_ids))))
            refund_reason = _refund_reason(link, bills)
            paid_at = trade.paid_at or self._now()
            try:
                db.add(Payment(link_id=link.id, provider=self._provider.name,
                               provider_transaction_id=trade.transaction_id, amount_fen=trade.amount_fen,
                               paid_at=paid_at, notification=trade.record,
                               status="refund_needed" if refund_reason else "recorded",
                               refund_reason=refund_reason))
                db.flush()
                if not refund_reason:
                    db.exec(update(PaymentLink).where(col(PaymentLink.id) == link.id)
                            .values(status="paid", paid_at=paid_at))
                    db.exec(update(Bill).where(col(Bill.id).in_(link.bill_ids)).values(paid_at=paid_at))
                db.commit()
            except IntegrityError:
                db.rollback()
                if db.exec(select(Payment.id).where(
                        col(Payment.provider_transaction_id) == trade.transaction_id)).first():
                    return NotificationResult.taken("already recorded", link_id, duplicate=True)
                raise
        if refund_reason:
            logger.warning("payment needs a refund", extra={"link_id": link_id, "reason": refund_reason})
            return NotificationResult.taken(f"refund needed: {refund_reason}", link_id, refund_needed=True)
        return NotificationResult.taken("paid", link_id)

    # -- reconciliation

    def reconcile(self, stuck_for: timedelta = timedelta(minutes=5)) -> ReconcileReport:
        """Ask the provider about links whose notification has not come, and record what it says.

        Looked at: links "paying" for longer than ``stuck_for`` (a lost or
        late notification, a crash between payment and notification), links
        cancelled or expired after their customer went to the provider (within
        the provider's retry window: money may have been taken just before),
        and links past their expiry, whose orders are then closed. Recording
        goes through ``record``, so a notification arriving as well changes
        nothing.
        """
        now = self._now()
        with session(self.engine) as db:
            paying_before = now - stuck_for
            candidates = list(db.exec(select(PaymentLink).where(
                col(PaymentLink.paying_at).is_not(None),
                ((col(PaymentLink.status) == "paying") & (col(PaymentLink.paying_at) <= paying_before))
                | (col(PaymentLink.status).in_(("cancelled", "expired"))
                   & (col(PaymentLink.paying_at) >= now - PROVIDER_RETRY_WINDOW)
                   & ~col(PaymentLink.id).in_(select(Payment.link_id))))))
            expired = list(db.exec(select(PaymentLink).where(col(PaymentLink.status).in_(("open", "paying")),
                                                             col(PaymentLink.expires_at) <= now)))
        recorded: list[NotificationResult] = []
        unavailable = 0
        for link in {link.id: link for link in candidates + expired}.values():
            try:
                trade = self._provider.query(link.id) if link.paying_at is not None else None
            except ProviderUnavailable:
                unavailable += 1
                continue
            if trade is not None and trade.state == "paid":
                recorded.append(self.record(trade))
        for link in expired:
            self._expire(link)
        return ReconcileReport(checked=len(candidates), recorded=[result for result in recorded
                                                                  if result.accepted and not result.duplicate],
                               expired=len(expired), unavailable=unavailable)

    def _expire(self, link: PaymentLink) -> None:
        """An expired link stops being payable: its status, then its provider order."""
        with session(self.engine) as db:
            changed = db.exec(update(PaymentLink).where(col(PaymentLink.id) == link.id,
                                                        col(PaymentLink.status).in_(("open", "paying")))
                              .values(status="expired")).rowcount == 1
            db.commit()
        if changed and link.paying_at is not None:
            self._close_orders([link.id])

    def refunds_needed(self) -> list[RefundNeeded]:
        """Payments that must go back, newest first (the staff page)."""
        with session(self.engine) as db:
            rows = db.exec(select(Payment, PaymentLink).join(PaymentLink, col(Payment.link_id) == col(PaymentLink.id))
                           .where(col(Payment.status) == "refund_needed").order_by(col(Payment.paid_at).desc()))
            return [RefundNeeded(payment.id or 0, link.account_number, link.id, payment.provider,
                                 payment.provider_transaction_id, payment.amount_fen, payment.paid_at,
                                 payment.refund_reason) for payment, link in rows]

    @staticmethod
    def _month_labels(months: list[str], now: datetime) -> tuple[str, ...]:
        today = now.astimezone(service_tz()).date()
        return tuple(month_label(month, today) for month in months)


def _refund_reason(link: PaymentLink, bills: list[Bill]) -> str:
    """Why money for this link cannot pay its bills (empty: it can). Written for staff, in Chinese."""
    if link.status == "paid":
        return "这个付款链接已经由另一笔交易付过，重复付款"
    if link.status == "cancelled":
        return "付款链接已被新的链接取代（账单有变化），旧订单仍被支付"
    if link.status == "expired":
        return "付款链接已过期，订单仍被支付"
    if any(bill.paid_at is not None for bill in bills):
        return "账单已经通过其他付款交清，重复付款"
    return ""
