"""WeChat Pay API v3 (微信支付) through wechatpayv3: H5 orders, signed and encrypted notifications.

- Paying, mode "native" (``POST /v3/pay/transactions/native``, open to every
  merchant): a ``code_url`` that 小电 shows as a QR code for WeChat to scan
  (or long-press inside WeChat). Mode "h5" (``/v3/pay/transactions/h5``, a
  product WeChat Pay must enable): an ``h5_url`` the phone's browser (not
  WeChat's own) is sent to. ``time_expire`` is the link's expiry, so WeChat
  Pay refuses payment after it.
- Confirmation: WeChat Pay POSTs JSON to ``notify_url`` (from settings) with
  the headers Wechatpay-Signature / -Timestamp / -Nonce / -Serial: an
  RSA-SHA256 signature over "timestamp\\nnonce\\nbody\\n" by WeChat Pay's key.
  The payment itself is in ``resource``, encrypted with AES-256-GCM under the
  merchant's APIv3 key. It retries until answered 200/204.
- Reconciliation and superseded links: query by out_trade_no and close.

The SDK is used in "WeChat Pay public key" mode (public key + its id, both
from the merchant platform): in the older platform-certificate mode its
constructor downloads certificates from WeChat Pay, and an unknown serial in a
notification would make it fetch them again. So notifications whose serial is
not our public key id are refused before the SDK sees them, and nothing here
touches the network except create, query and close.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from typing import Any, Literal
from urllib.parse import quote

from wechatpayv3 import WeChatPay, WeChatPayType

from assistant.providers.base import (
    Acknowledgement,
    Checkout,
    InvalidNotification,
    OrderRequest,
    ProviderTrade,
    ProviderUnavailable,
    RawNotification,
    TradeState,
)

PRODUCTION_GATEWAY = "https://api.mch.weixin.qq.com"
TRADE_STATES: dict[str, TradeState] = {
    "SUCCESS": "paid",
    "NOTPAY": "waiting",
    "USERPAYING": "waiting",
    "CLOSED": "closed",
    "REVOKED": "closed",
    "PAYERROR": "closed",
    "REFUND": "paid",  # paid, then (partly) refunded: the money did arrive once
}
logger = logging.getLogger(__name__)


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds")


def _parse_rfc3339(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text).astimezone(timezone.utc)
    except ValueError:
        return None


def trade_from_transaction(transaction: dict[str, Any]) -> ProviderTrade:
    """A decrypted notification resource or a query answer (the same "transaction" object) as a ProviderTrade."""
    status = str(transaction.get("trade_state", ""))
    amount = transaction.get("amount") or {}
    total = amount.get("total")
    return ProviderTrade(
        link_id=str(transaction.get("out_trade_no", "")),
        state=TRADE_STATES.get(status, "waiting"),
        provider_status=status or "missing",
        transaction_id=str(transaction.get("transaction_id", "")),
        # Fen as an integer, in CNY; anything else cannot be compared with the bill.
        amount_fen=total if isinstance(total, int) and amount.get("currency", "CNY") == "CNY" else None,
        paid_at=_parse_rfc3339(transaction.get("success_time")),
        record=transaction,
    )


class WeChatPayProvider:
    name = "wechatpay"

    def __init__(self, mchid: str, appid: str, merchant_private_key_pem: str, merchant_serial_no: str,
                 apiv3_key: str, wechatpay_public_key_pem: str, wechatpay_public_key_id: str, notify_url: str,
                 gateway: str = PRODUCTION_GATEWAY, mode: Literal["native", "h5"] = "native",
                 timeout_s: float = 10.0) -> None:
        self.mchid = mchid
        self.appid = appid
        self.notify_url = notify_url
        self.public_key_id = wechatpay_public_key_id
        self.pay_type = WeChatPayType.H5 if mode == "h5" else WeChatPayType.NATIVE
        self._sdk = WeChatPay(wechatpay_type=self.pay_type, mchid=mchid, private_key=merchant_private_key_pem,
                              cert_serial_no=merchant_serial_no, appid=appid, apiv3_key=apiv3_key,
                              notify_url=notify_url, public_key=wechatpay_public_key_pem,
                              public_key_id=wechatpay_public_key_id, timeout=(timeout_s, timeout_s),
                              logger=None)
        # The SDK has no gateway option; a test or a proxying deployment sets it here.
        self._sdk._core._gate_way = gateway.rstrip("/")

    def create_order(self, order: OrderRequest) -> Checkout:
        h5 = self.pay_type == WeChatPayType.H5
        scene = {"payer_client_ip": order.client_ip or "127.0.0.1", **({"h5_info": {"type": "Wap"}} if h5 else {})}
        code, message = self._request(
            "create", self._sdk.pay, description=order.subject[:127], out_trade_no=order.link_id,
            amount={"total": order.amount_fen, "currency": "CNY"}, time_expire=_rfc3339(order.expires_at),
            scene_info=scene, notify_url=self.notify_url, pay_type=self.pay_type)
        if code != 200:
            raise ProviderUnavailable(f"wechatpay create order: HTTP {code}")
        answer = json.loads(message)
        if not h5:
            if not answer.get("code_url"):
                raise ProviderUnavailable("wechatpay create order: no code_url")
            return Checkout(scan_code=answer["code_url"])
        if not answer.get("h5_url"):
            raise ProviderUnavailable("wechatpay create order: no h5_url")
        separator = "&" if "?" in answer["h5_url"] else "?"
        # WeChat Pay's documented way back to the merchant's page after paying.
        return Checkout(url=f"{answer['h5_url']}{separator}redirect_url={quote(order.return_url, safe='')}")

    def parse_notification(self, notification: RawNotification) -> ProviderTrade:
        headers = {key.lower(): value for key, value in notification.headers.items()}
        if headers.get("wechatpay-serial") != self.public_key_id:
            raise InvalidNotification("not signed with our WeChat Pay public key")
        try:
            data = self._sdk.callback(headers, notification.body)
        except Exception as error:  # noqa: BLE001 (the SDK raises bare Exception for bad algorithms and serials)
            raise InvalidNotification(f"unverifiable: {error}") from error
        if not data or not isinstance(data.get("resource"), dict):
            raise InvalidNotification("bad signature or undecryptable resource")
        transaction = data["resource"]
        if transaction.get("mchid") != self.mchid or transaction.get("appid") != self.appid:
            raise InvalidNotification("for another merchant")
        return trade_from_transaction(transaction)

    def acknowledge(self, accepted: bool) -> Acknowledgement:
        if accepted:
            return Acknowledgement(204, "")
        return Acknowledgement(500, json.dumps({"code": "FAIL", "message": "失败"}, ensure_ascii=False),
                               "application/json")

    def query(self, link_id: str) -> ProviderTrade | None:
        code, message = self._request("query", self._sdk.query, out_trade_no=link_id)
        if code == 404:
            return None
        if code != 200:
            raise ProviderUnavailable(f"wechatpay query: HTTP {code}")
        return trade_from_transaction(json.loads(message))

    def close(self, link_id: str) -> None:
        code, _ = self._request("close", self._sdk.close, out_trade_no=link_id)
        if code not in (200, 204):
            logger.info("wechatpay order not closed", extra={"link_id": link_id, "status": code})

    @staticmethod
    def _request(what: str, call: Any, **arguments: Any) -> tuple[int, Any]:
        try:
            return call(**arguments)
        except Exception as error:  # noqa: BLE001 (requests' errors and the SDK's bare Exception alike)
            raise ProviderUnavailable(f"wechatpay {what}: {error}") from error
