"""What the pay pages say after the money, or when a link cannot be paid (issue 13).

Who reads them: very often a relative abroad, on a phone, who was sent the link. So:

- A paid link, opened again (or the return from the provider), shows the receipt calmly:
  "这笔电费已经交清了", the amount, the account and holder masked, the time and the transaction number.
- An expired or replaced link offers a fresh one, sent by SMS to the phone on file (never to a number
  typed on the page, and the number is shown only masked), or the holder calls 95598; nobody is sent to
  a hall. The SMS sent are bounded per address and per account (``PayLinkRequest``, one row per SMS
  sent): an SMS costs money and reaches a real person.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from sqlmodel import Session, col, delete, func, select

from assistant.answers import mask_name
from assistant.formatting import yuan
from assistant.payments import LinkProblem, NothingToPay, PaymentService, UnknownAccount
from assistant.sms import SmsSender, mask_phone
from knowledge_base.db import session
from knowledge_base.models import Account, Payment, PaymentLink, PayLinkRequest, service_tz, utc_now

# 95598 as dialled from abroad (the pages are read by relatives overseas as often as at home).
HOTLINE_ABROAD = "+86-95598"
HOTLINE_TEXT = f"户主本人拨打95598（在国外请拨 {HOTLINE_ABROAD}）"
# Both bounds count SMS actually sent (a refused ask writes nothing, so it neither grows the table nor
# uses up the holder's day for a relative asking from elsewhere).
FRESH_PER_CLIENT_HOUR = 5  # SMS sent at one address's asking in an hour
FRESH_PER_ACCOUNT_DAY = 3  # SMS sent for one account in a day: at most this many reach the holder
PROVIDER_NAMES = {"alipay": "支付宝", "wechatpay": "微信支付", "sandbox": "沙箱支付（演示，没有真的扣钱）"}


def mask_account(number: str) -> str:
    """3201000001 → 3201****01: the holder recognises it, a stranger cannot use it."""
    return number[:4] + "*" * max(0, len(number) - 6) + number[-2:] if len(number) > 6 else number


@dataclass(frozen=True, slots=True)
class Receipt:
    amount_yuan: str
    account: str  # masked
    holder: str  # masked
    months: tuple[str, ...]
    paid_at: str  # wall-clock time in the service's zone: 2026年11月30日 14:05
    zone: str  # that zone, said: 北京时间 (a relative abroad reads it in another)
    transaction_id: str
    provider: str  # in Chinese


def receipt(payments: PaymentService, token: str) -> Receipt | None:
    """The receipt of the link a signed token names, once its payment is recorded; None before."""
    try:
        link_id = payments.link_id_of(token)
    except LinkProblem:
        return None
    with session(payments.engine) as db:
        found = db.exec(select(Payment, PaymentLink, Account)
                        .join(PaymentLink, col(Payment.link_id) == col(PaymentLink.id))
                        .join(Account, col(Account.number) == col(PaymentLink.account_number))
                        .where(col(Payment.link_id) == link_id, col(Payment.status) == "recorded")).first()
    if found is None:
        return None
    payment, link, account = found
    paid_at = payment.paid_at if payment.paid_at.tzinfo else payment.paid_at.replace(tzinfo=timezone.utc)
    local = paid_at.astimezone(service_tz())
    months = payments._month_labels(_bill_months(payments, link), utc_now())  # noqa: SLF001 - one labelling rule
    return Receipt(yuan(payment.amount_fen), mask_account(account.number), mask_name(account.holder), months,
                   f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}", _zone_label(), payment.provider_transaction_id,
                   PROVIDER_NAMES.get(payment.provider, payment.provider))


def _zone_label() -> str:
    name = service_tz().key
    return "北京时间" if name in ("Asia/Shanghai", "Asia/Chongqing", "PRC") else name


def _bill_months(payments: PaymentService, link: PaymentLink) -> list[str]:
    from knowledge_base.models import Bill

    with session(payments.engine) as db:
        return list(db.exec(select(Bill.month).where(col(Bill.id).in_(link.bill_ids)).order_by(col(Bill.month))))


FreshOutcome = Literal["sent", "paid", "no_sms", "too_many", "unknown"]


@dataclass(frozen=True, slots=True)
class FreshLink:
    outcome: FreshOutcome
    message: str  # polite Chinese for the page


_TOO_MANY = FreshLink("too_many",
                      f"已经重新获取过几次了，请先看看户主手机上的短信。还不行的话，请{HOTLINE_TEXT}。")


def _over_limits(db: Session, client: str, account: str, now: datetime, before_id: int | None = None) -> bool:
    """Whether the SMS already sent (one ``PayLinkRequest`` row each) reach either bound; with ``before_id``,
    only those whose place was held before that one."""
    def count(*where: Any) -> int:
        earlier = (col(PayLinkRequest.id) < before_id,) if before_id is not None else ()
        return db.exec(select(func.count()).select_from(PayLinkRequest).where(*where, *earlier)).one()

    return (count(col(PayLinkRequest.client) == client, col(PayLinkRequest.at) >= now - timedelta(hours=1))
            >= FRESH_PER_CLIENT_HOUR
            or count(col(PayLinkRequest.account_number) == account, col(PayLinkRequest.at) >= now - timedelta(days=1))
            >= FRESH_PER_ACCOUNT_DAY)


def _give_back(payments: PaymentService, place_id: int | None) -> None:
    """No SMS went out for this place: it must not count (nor stay in the table)."""
    with session(payments.engine) as db:
        db.exec(delete(PayLinkRequest).where(col(PayLinkRequest.id) == place_id))  # type: ignore[call-overload]
        db.commit()


def request_fresh_link(payments: PaymentService, sender: SmsSender | None, token: str, client: str,
                       now: datetime | None = None) -> FreshLink:
    """A new link for the account of an expired or replaced one, by SMS to the phone on file."""
    now = now or utc_now()
    try:
        link_id = payments.link_id_of(token)  # only a link we signed: a made-up token names no account
    except LinkProblem:
        return FreshLink("unknown", f"这个链接不完整，没法重新获取。请{HOTLINE_TEXT}。")
    with session(payments.engine) as db:
        link = db.get(PaymentLink, link_id)
        if link is None:
            return FreshLink("unknown", f"没有找到这笔电费。请{HOTLINE_TEXT}。")
        account = link.account_number
        if _over_limits(db, client, account, now):  # refused: read only, nothing written
            return _TOO_MANY
        if sender is None:
            return FreshLink("no_sms", f"现在没法发短信。请{HOTLINE_TEXT}，重新获取付款链接。")
        # Hold a place before sending (so parallel asks cannot all pass the count), then look again at the
        # places held before ours: the first ones win. A place that sends nothing is given back.
        place = PayLinkRequest(client=client, account_number=account, at=now)
        db.add(place)
        db.commit()
        place_id = place.id
        if _over_limits(db, client, account, now, before_id=place_id):
            db.delete(place)
            db.commit()
            return _TOO_MANY
    try:
        issued = payments.create_link(account, channel="sms")
    except (NothingToPay, UnknownAccount) as problem:
        _give_back(payments, place_id)
        if isinstance(problem, NothingToPay):
            return FreshLink("paid", "这笔电费已经交清了，不需要再付款。谢谢您！")
        return FreshLink("unknown", f"没有找到这个户号。请{HOTLINE_TEXT}。")
    with session(payments.engine) as db:
        phone = db.get(Account, account).phone  # type: ignore[union-attr]
        sender.send(db, phone, issued.short_text, "payment_link", account)
        db.commit()
    return FreshLink("sent", f"新的付款链接已经用短信发到户主登记的手机（{mask_phone(phone)}）上了，"
                             f"{yuan(issued.amount_fen)}元，24小时内有效。请户主转发给您。")
