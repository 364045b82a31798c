"""Alipay (支付宝) through python-alipay-sdk: RSA2-signed requests, verified asynchronous notifications.

- Paying, mode "wap" (``alipay.trade.wap.pay``): the customer's phone opens our
  /pay page (from the kiosk's QR or the SMS) and presses 去付款; we send the
  browser to Alipay's gateway with a signed request, so issuing an order
  needs no server-to-server call. Mode "precreate" (``alipay.trade.precreate``)
  asks the gateway for a ``qr_code`` that 小电 shows for the Alipay app to
  scan. Either way ``time_expire`` is the link's expiry: Alipay refuses
  payment after it.
- Confirmation: Alipay POSTs a form to ``notify_url`` (taken from settings)
  and retries for about 25 hours until it gets the text ``success``. The form
  is checked with Alipay's public key (RSA2 over the sorted fields without
  sign and sign_type) and must name our app_id.
- Reconciliation and superseded links: ``alipay.trade.query`` and
  ``alipay.trade.close`` over the gateway, whose answers the SDK verifies
  with Alipay's public key.

The SDK (pycryptodomex underneath) only reads keys when constructed; it goes
to the network only for query and close.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Literal
from urllib.error import URLError

from alipay import AliPay
from alipay.exceptions import AliPayException, AliPayValidationError

from assistant.formatting import yuan
from assistant.providers.alipay_protocol import beijing_time, trade_from_fields
from assistant.providers.base import (
    Acknowledgement,
    Checkout,
    InvalidNotification,
    OrderRequest,
    ProviderTrade,
    ProviderUnavailable,
    RawNotification,
)
from knowledge_base.models import utc_now

PRODUCTION_GATEWAY = "https://openapi.alipay.com/gateway.do"
SUCCESS_CODE = "10000"
# Business answers that mean "no such order yet": the customer never reached Alipay's cashier.
NO_SUCH_TRADE = "ACQ.TRADE_NOT_EXIST"
logger = logging.getLogger(__name__)


class _GatewayAliPay(AliPay):
    """The SDK's client with the gateway chosen by settings (the SDK only knows production and its sandbox)."""

    def __init__(self, gateway: str, **options: Any) -> None:
        super().__init__(**options)
        self._gateway = gateway


class AlipayProvider:
    name = "alipay"

    def __init__(self, app_id: str, app_private_key_pem: str, alipay_public_key_pem: str, notify_url: str,
                 gateway: str = PRODUCTION_GATEWAY, mode: Literal["wap", "precreate"] = "wap",
                 timeout_s: float = 10.0) -> None:
        from alipay.utils import AliPayConfig

        self.app_id = app_id
        self.notify_url = notify_url
        self.gateway = gateway
        self.mode = mode
        self._sdk = _GatewayAliPay(gateway, appid=app_id, app_notify_url=notify_url,
                                   app_private_key_string=app_private_key_pem,
                                   alipay_public_key_string=alipay_public_key_pem, sign_type="RSA2",
                                   config=AliPayConfig(timeout=timeout_s))

    def create_order(self, order: OrderRequest) -> Checkout:
        business = {"out_trade_no": order.link_id, "total_amount": yuan(order.amount_fen), "subject": order.subject,
                    "time_expire": beijing_time(order.expires_at)}
        if self.mode == "precreate":
            answer = self._call("alipay.trade.precreate", business)
            if answer.get("code") != SUCCESS_CODE or not answer.get("qr_code"):
                raise ProviderUnavailable(f"alipay.trade.precreate: {answer.get('code')} {answer.get('sub_code')}")
            return Checkout(scan_code=str(answer["qr_code"]))
        query = self._sdk.client_api(
            "alipay.trade.wap.pay", {**business, "product_code": "QUICK_WAP_WAY"},
            return_url=order.return_url, notify_url=self.notify_url,
            # The SDK stamps the machine's local time; Alipay expects Beijing time.
            timestamp=beijing_time(utc_now()))
        return Checkout(url=f"{self.gateway}?{query}")

    def parse_notification(self, notification: RawNotification) -> ProviderTrade:
        form = notification.form_fields()
        signature = form.pop("sign", "")
        if not signature or form.get("sign_type") != "RSA2" or form.get("app_id") != self.app_id:
            raise InvalidNotification("not signed RSA2 for this app")
        unsigned = {key: value for key, value in form.items() if value != ""}
        try:
            genuine = self._sdk.verify(unsigned, signature)  # the SDK drops sign_type itself
        except (AliPayException, ValueError) as error:
            raise InvalidNotification(f"unverifiable: {error}") from error
        if not genuine:
            raise InvalidNotification("bad signature")
        return trade_from_fields({**form, "sign": signature})

    def acknowledge(self, accepted: bool) -> Acknowledgement:
        return Acknowledgement(200, "success" if accepted else "fail")

    def query(self, link_id: str) -> ProviderTrade | None:
        answer = self._call("alipay.trade.query", {"out_trade_no": link_id})
        if answer.get("code") != SUCCESS_CODE:
            if answer.get("sub_code") == NO_SUCH_TRADE:
                return None
            raise ProviderUnavailable(f"alipay.trade.query: {answer.get('code')} {answer.get('sub_code')}")
        return trade_from_fields(answer)

    def close(self, link_id: str) -> None:
        answer = self._call("alipay.trade.close", {"out_trade_no": link_id})
        if answer.get("code") != SUCCESS_CODE:
            # Not found (never scanned) or not closable (already paid: its notification records it).
            logger.info("alipay order not closed", extra={"link_id": link_id, "sub_code": answer.get("sub_code")})

    def _call(self, method: str, biz_content: Mapping[str, str]) -> dict[str, Any]:
        try:
            return self._sdk.server_api(method, dict(biz_content), timestamp=beijing_time(utc_now()))
        except AliPayValidationError as error:
            raise ProviderUnavailable(f"{method}: answer not signed by Alipay") from error
        except AliPayException as error:
            raise ProviderUnavailable(f"{method}: {error}") from error
        except (URLError, OSError, ValueError) as error:
            raise ProviderUnavailable(f"{method}: {error}") from error
