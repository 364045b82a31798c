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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Literal, Protocol

import segno
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select, update

from assistant.answers import mask_name
from assistant.formatting import month_label, yuan
from knowledge_base.db import session
from knowledge_base.models import SERVICE_TZ, Account, Bill, Payment, PaymentLink, utc_now

SECRET_BYTES = 32
# 128 bits of HMAC-SHA256 (RFC 2104 allows truncation to half the hash): the
# token stays short enough that the SMS holding it is not split in two.
TOKEN_MAC_BYTES = 16
# Statuses of Alipay's notification that mean the money has been taken.
PAID_TRADE_STATUSES = frozenset({"TRADE_SUCCESS", "TRADE_FINISHED"})

_SECRET_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_YUAN = re.compile(r"(\d{1,9})(?:\.(\d{1,2}))?")
_MAX_TOKEN_LENGTH = 200

LinkProblemKind = Literal["unknown", "tampered", "expired", "used"]

_PROBLEM_MESSAGES: dict[LinkProblemKind, str] = {
    "unknown": "没有找到这个付款链接，请核对一下，或者回到营业厅、拨打95598重新获取。",
    "tampered": "这个付款链接不完整或者被改动过，为了您的资金安全，请不要用它付款。请回到营业厅或拨打95598重新获取。",
    "expired": "这个付款链接已经过期了，请回到营业厅或拨打95598重新获取。",
    "used": "这笔电费已经交清了，不需要再付款。谢谢您！",
}
_REPLACED_MESSAGE = "您的账单有了变化，这个付款链接已经停用了。请使用最新收到的付款链接，或者回到营业厅、拨打95598重新获取。"


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


# --- The provider ------------------------------------------------------------------


class PaymentProvider(Protocol):
    """A payment provider (Alipay, WeChat Pay, or the sandbox fake).

    Notifications reach ``PaymentService.handle_notification`` as a flat form
    with Alipay's field names (out_trade_no, trade_no, total_amount in yuan,
    trade_status, gmt_payment); an adapter for another provider translates to
    that shape after checking its own signature.
    """

    name: str

    def create_order(self, link_id: str, amount_fen: int, subject: str) -> str:
        """Open (or find) the order for ``link_id`` and return the cashier URL to send the customer to.

        Must be idempotent per ``link_id``, as real providers are per
        out_trade_no: asking twice returns the same order, never a second one.
        """
        ...

    def verify(self, form: Mapping[str, str]) -> bool:
        """Whether the notification really comes from this provider (its signature checks out)."""
        ...


# --- What the service hands out ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class IssuedLink:
    link_id: str
    token: str
    url: str
    short_text: str  # the SMS
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
    """How a provider notification was taken; ``ack_text`` is the body to answer the provider with."""

    accepted: bool
    ack_text: str  # "success" stops the provider retrying; "fail" makes it retry
    duplicate: bool
    reason: str
    link_id: str | None = None

    @classmethod
    def taken(cls, reason: str, link_id: str | None, duplicate: bool = False) -> NotificationResult:
        return cls(True, "success", duplicate, reason, link_id)

    @classmethod
    def refused(cls, reason: str, link_id: str | None = None) -> NotificationResult:
        return cls(False, "fail", False, reason, link_id)


@dataclass(frozen=True, slots=True)
class PaymentStatus:
    """For "I paid, where is my power?": the latest payment and what is still owed."""

    account_number: str
    last_paid_at: datetime | None
    last_amount_fen: int | None
    unpaid_fen: int
    unpaid_months: tuple[str, ...]  # YYYY-MM, oldest first

    @property
    def has_unpaid(self) -> bool:
        return bool(self.unpaid_months)


# --- The service -------------------------------------------------------------------


def parse_yuan(text: str) -> int | None:
    """'128.50' → 12850 exactly; None for anything that is not a plain yuan amount."""
    match = _YUAN.fullmatch(text)
    if match is None:
        return None
    return int((Decimal(text) * 100).to_integral_exact())


def _provider_time(text: str | None) -> datetime | None:
    """Alipay's 'YYYY-MM-DD HH:MM:SS' in Beijing time, as aware UTC."""
    if not text:
        return None
    try:
        return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=SERVICE_TZ).astimezone(timezone.utc)
    except ValueError:
        return None


def _lifetime_text(ttl: timedelta) -> str:
    minutes = int(ttl.total_seconds() // 60)
    return f"{minutes // 60}小时" if minutes % 60 == 0 else f"{minutes}分钟"


def _qr_svg(url: str) -> str:
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
    bills have changed (a new month came out), the old link is cancelled and a
    new one issued for the new total.
    """

    def __init__(self, engine: Engine, link_key: bytes, provider: PaymentProvider, base_url: str = "",
                 ttl: timedelta = timedelta(hours=24), now: Callable[[], datetime] = utc_now) -> None:
        if len(link_key) < SECRET_BYTES:
            raise ValueError(f"link key must be at least {SECRET_BYTES} bytes")
        self.engine = engine
        self.provider = provider
        self.base_url = base_url.rstrip("/")
        self.ttl = ttl
        self._key = link_key
        self._now = now

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
            link = self._live_link_for(db, account_number, bill_ids, amount_fen)
            reused = link is not None
            if link is None:
                link = PaymentLink(id=secrets.token_hex(12), account_number=account_number, bill_ids=bill_ids,
                                   amount_fen=amount_fen, channel=channel, session_id=session_id,
                                   created_at=now, expires_at=expires_at)
            link.expires_at = expires_at
            db.add(link)
            db.commit()
            holder = account.holder
        token = sign_token(self._key, link.id, expires_at)
        url = f"{self.base_url}/pay/{token}"
        months = self._month_labels([bill.month for bill in bills], now)
        short_text = (f"【供电服务】{mask_name(holder)}您好，户号{account_number}电费{yuan(amount_fen)}元，"
                      f"点击付款 {url} ，{_lifetime_text(self.ttl)}内有效。")
        return IssuedLink(link.id, token, url, short_text, amount_fen, months, expires_at, _qr_svg(url), reused)

    def _live_link_for(self, db: Session, account_number: str, bill_ids: list[int],
                       amount_fen: int) -> PaymentLink | None:
        """The unpaid link for exactly these bills, if any; links for another bill set are cancelled."""
        found = None
        for link in db.exec(select(PaymentLink).where(col(PaymentLink.account_number) == account_number,
                                                      col(PaymentLink.status).in_(("open", "paying")))):
            if link.bill_ids == bill_ids and link.amount_fen == amount_fen and found is None:
                found = link
            else:
                link.status = "cancelled"
                db.add(link)
        return found

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

    def start(self, token: str) -> str:
        """The provider's cashier URL for this link; a double click gets the same order, never a second."""
        _, link, account, bills = self._payable(token)
        months = "、".join(self._month_labels([bill.month for bill in bills], self._now()))
        redirect = self.provider.create_order(link.id, link.amount_fen, f"电费 户号{account.number} {months}")
        with session(self.engine) as db:
            db.exec(update(PaymentLink).where(col(PaymentLink.id) == link.id, col(PaymentLink.status) == "open")
                    .values(status="paying"))
            db.commit()
        return redirect

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

    def handle_notification(self, form: Mapping[str, str]) -> NotificationResult:
        """Record a provider's payment notification exactly once; answer with ``result.ack_text``.

        The duplicate check is the ledger's unique provider_transaction_id, not a
        read beforehand: two deliveries handled at the same moment both get past
        any read, and only the constraint decides which one records the money.
        """
        if not self.provider.verify(form):
            return NotificationResult.refused("bad signature")
        link_id = form.get("out_trade_no", "")
        status = form.get("trade_status", "")
        if status not in PAID_TRADE_STATUSES:
            # Genuine, but not money taken (waiting, closed): nothing to record, stop the retries.
            return NotificationResult.taken(f"trade status {status or 'missing'}: nothing to record", link_id)
        transaction_id = form.get("trade_no", "")
        if not transaction_id:
            return NotificationResult.refused("missing trade_no", link_id)
        amount_fen = parse_yuan(form.get("total_amount", ""))
        with session(self.engine) as db:
            link = db.get(PaymentLink, link_id)
            if link is None:
                return NotificationResult.refused("unknown out_trade_no", link_id)
            if amount_fen != link.amount_fen:
                return NotificationResult.refused(
                    f"amount {form.get('total_amount')!r} does not match the link's {yuan(link.amount_fen)}", link_id)
            paid_at = _provider_time(form.get("gmt_payment")) or self._now()
            try:
                db.add(Payment(link_id=link.id, provider=self.provider.name, provider_transaction_id=transaction_id,
                               amount_fen=amount_fen, paid_at=paid_at, notification=dict(form)))
                db.flush()
                link_settled = db.exec(
                    update(PaymentLink).where(col(PaymentLink.id) == link.id, col(PaymentLink.status) != "paid")
                    .values(status="paid", paid_at=paid_at)).rowcount == 1
                bills_settled = db.exec(
                    update(Bill).where(col(Bill.id).in_(link.bill_ids), col(Bill.paid_at).is_(None))
                    .values(paid_at=paid_at)).rowcount
                db.commit()
            except IntegrityError:
                db.rollback()
                if db.exec(select(Payment.id).where(col(Payment.provider_transaction_id) == transaction_id)).first():
                    return NotificationResult.taken("already recorded", link_id, duplicate=True)
                raise
        if not link_settled:
            # A second, distinct transaction for a paid link: the money is recorded, a refund is due.
            return NotificationResult.taken("link was already paid by another transaction: refund needed", link_id)
        if bills_settled < len(link.bill_ids):
            return NotificationResult.taken(
                f"paid; {len(link.bill_ids) - bills_settled} bill(s) had been paid elsewhere: refund needed", link_id)
        return NotificationResult.taken("paid", link_id)

    # -- for the dialogue

    def payment_status(self, account_number: str) -> PaymentStatus:
        """The account's latest payment through 小电 and whether anything is still owed."""
        with session(self.engine) as db:
            if db.get(Account, account_number) is None:
                raise UnknownAccount(account_number)
            latest = db.exec(
                select(Payment).join(PaymentLink, col(Payment.link_id) == col(PaymentLink.id))
                .where(col(PaymentLink.account_number) == account_number)
                .order_by(col(Payment.paid_at).desc(), col(Payment.id).desc())).first()
            unpaid = list(db.exec(select(Bill).where(col(Bill.account_number) == account_number,
                                                     col(Bill.paid_at).is_(None)).order_by(col(Bill.month))))
        return PaymentStatus(
            account_number=account_number,
            last_paid_at=latest.paid_at if latest else None,
            last_amount_fen=latest.amount_fen if latest else None,
            unpaid_fen=sum(bill.amount_fen for bill in unpaid),
            unpaid_months=tuple(bill.month for bill in unpaid),
        )

    @staticmethod
    def _month_labels(months: list[str], now: datetime) -> tuple[str, ...]:
        today = now.astimezone(SERVICE_TZ).date()
        return tuple(month_label(month, today) for month in months)
