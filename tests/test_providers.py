"""The Alipay and WeChat Pay adapters against their published protocols, with keys made in the test.

No network: requests are checked the way the provider checks them (its
signature rules, with the merchant's public key), notifications are built and
signed the way the provider documents them (with the provider's key made
here), and query/close go to a local FAKE gateway that answers in the
provider's signed format. Anything tampered with is refused.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.engine import Engine
from sqlmodel import select

from assistant.payments import PaymentService
from assistant.providers import ConfigurationError, build_provider
from assistant.providers.alipay import AlipayProvider
from assistant.providers.alipay_protocol import string_to_sign
from assistant.providers.base import InvalidNotification, OrderRequest, ProviderUnavailable, RawNotification
from assistant.providers.wechatpay import WeChatPayProvider
from knowledge_base.settings import Settings
from knowledge_base.db import session
from knowledge_base.models import Bill, Payment
from tests.provider_keys import KeyPair, key_pair
from tests.server_fixtures import serving

ACCOUNT = "3201000001"  # 128.50 元 unpaid
APP_ID = "2021004100000001"
NOTIFY_URL = "https://pay.example.cn/pay/notify"
MCHID, WX_APPID, APIV3_KEY, PUB_KEY_ID = "1900000109", "wxd678efh567hg6787", "a" * 16 + "B" * 16, "PUB_KEY_ID_0114"
H5_URL = "https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb?prepay_id=wx1"
EXPIRES = datetime(2026, 11, 30, 2, 0, tzinfo=timezone.utc)  # 10:00 in Beijing


def rsa2_sign(keys: KeyPair, text: str) -> str:
    return base64.b64encode(keys.private.sign(text.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())).decode()


def rsa2_valid(keys: KeyPair, text: str, signature: str) -> bool:
    try:
        keys.private.public_key().verify(base64.b64decode(signature), text.encode("utf-8"), padding.PKCS1v15(),
                                         hashes.SHA256())
        return True
    except Exception:  # noqa: BLE001 (InvalidSignature and malformed input alike)
        return False


def order(link_id: str = "a1" * 12, amount_fen: int = 12850) -> OrderRequest:
    return OrderRequest(link_id=link_id, amount_fen=amount_fen, subject="电费 户号3201000001 10月",
                        expires_at=EXPIRES, return_url="https://pay.example.cn/pay/tok/done", client_ip="10.0.0.7")


# --- a FAKE gateway: answers each request with what ``answer`` returns ---------------------------


class Gateway:
    def __init__(self, answer: Callable[[str, str, dict[str, str], bytes], tuple[int, dict[str, str], bytes]]) -> None:
        self.answer = answer
        self.requests: list[tuple[str, str]] = []
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                gateway.requests.append((self.command, self.path))
                status, headers, payload = gateway.answer(self.command, self.path, dict(self.headers), body)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _handle  # noqa: N815 (http.server's names)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def gateway_factory() -> Iterator[Callable[..., Gateway]]:
    started: list[Gateway] = []

    def start(answer: Any) -> Gateway:
        started.append(Gateway(answer))
        return started[-1]

    yield start
    for gateway in started:
        gateway.stop()


# --- Alipay --------------------------------------------------------------------------------------


def alipay(gateway: str = "https://openapi.alipay.com/gateway.do") -> AlipayProvider:
    return AlipayProvider(APP_ID, key_pair("merchant").private_pem, key_pair("alipay").public_pem,
                          notify_url=NOTIFY_URL, gateway=gateway)


def alipay_notification(link_id: str, amount: str = "128.50", **changes: str) -> dict[str, str]:
    """An asynchronous notification as Alipay's documentation lists it, signed with Alipay's key."""
    form = {
        "notify_time": "2026-11-29 10:05:00", "notify_type": "trade_status_sync", "notify_id": secrets.token_hex(16),
        "app_id": APP_ID, "charset": "utf-8", "version": "1.0", "sign_type": "RSA2",
        "trade_no": "2026112922001400001000000001", "out_trade_no": link_id, "buyer_id": "2088102122524333",
        "trade_status": "TRADE_SUCCESS", "total_amount": amount, "receipt_amount": amount,
        "subject": "电费 户号3201000001 10月", "gmt_create": "2026-11-29 10:04:00", "gmt_payment": "2026-11-29 10:04:30",
        **changes,
    }
    form["sign"] = rsa2_sign(key_pair("alipay"), string_to_sign(form))
    return form


def test_alipay_wap_pay_request_is_signed_as_alipay_checks_it() -> None:
    url = alipay().create_order(order()).url
    assert url.startswith("https://openapi.alipay.com/gateway.do?")
    params = dict(parse_qsl(urlsplit(url).query))
    assert (params["method"], params["app_id"], params["sign_type"], params["charset"]) == (
        "alipay.trade.wap.pay", APP_ID, "RSA2", "utf-8")
    assert params["notify_url"] == NOTIFY_URL and params["return_url"] == "https://pay.example.cn/pay/tok/done"
    business = json.loads(params["biz_content"])
    assert business == {"out_trade_no": "a1" * 12, "total_amount": "128.50", "subject": "电费 户号3201000001 10月",
                        "product_code": "QUICK_WAP_WAY", "time_expire": "2026-11-30 10:00:00"}
    # Alipay checks a request over every parameter but sign, sorted, with the app's public key.
    unsigned = "&".join(f"{key}={params[key]}" for key in sorted(params) if key != "sign")
    assert rsa2_valid(key_pair("merchant"), unsigned, params["sign"])
    assert not rsa2_valid(key_pair("merchant"), unsigned.replace("128.50", "1.00"), params["sign"])


def test_alipay_notification_is_verified_and_read() -> None:
    trade = alipay().parse_notification(RawNotification.form(alipay_notification("a1" * 12)))
    assert (trade.link_id, trade.state, trade.amount_fen, trade.transaction_id) == (
        "a1" * 12, "paid", 12850, "2026112922001400001000000001")
    assert trade.paid_at == datetime(2026, 11, 29, 2, 4, 30, tzinfo=timezone.utc)
    assert alipay().acknowledge(True).body == "success" and alipay().acknowledge(False).body == "fail"


def _resigned(form: dict[str, str], keys: KeyPair) -> dict[str, str]:
    return {**form, "sign": rsa2_sign(keys, string_to_sign(form))}


@pytest.mark.parametrize("tamper", [
    lambda form: {**form, "total_amount": "0.01"},  # changed after Alipay signed it
    lambda form: {**form, "trade_status": "TRADE_SUCCESS", "out_trade_no": "b2" * 12},
    lambda form: _resigned(form, key_pair("merchant")),  # signed with a key that is not Alipay's
    lambda form: _resigned({**form, "app_id": "2021009999999999"}, key_pair("alipay")),  # another merchant's
    lambda form: {**form, "sign_type": "RSA"},
    lambda form: {key: value for key, value in form.items() if key != "sign"},
    lambda form: {**form, "sign": "bm90IGEgc2lnbmF0dXJl"},
])
def test_alipay_refuses_a_tampered_notification(tamper: Callable[[dict[str, str]], dict[str, str]]) -> None:
    with pytest.raises(InvalidNotification):
        alipay().parse_notification(RawNotification.form(tamper(alipay_notification("a1" * 12))))


def test_alipay_notification_pays_the_bill(engine: Engine) -> None:
    payments = PaymentService(engine, b"L" * 32, alipay(), base_url="https://pay.example.cn")
    issued = payments.create_link(ACCOUNT)
    assert payments.handle_notification(alipay_notification(issued.link_id)).reason == "paid"
    forged = {**alipay_notification(issued.link_id), "trade_no": "2026112922001400001000000002"}
    assert not payments.handle_notification(forged).accepted
    with session(engine) as db:
        assert [p.amount_fen for p in db.exec(select(Payment))] == [12850]
        assert db.exec(select(Bill).where(Bill.account_number == ACCOUNT, Bill.month == "2026-10")).one().paid_at


def _alipay_answer(method: str, inner: dict[str, str], keys: KeyPair) -> bytes:
    """Alipay's synchronous answer: {"<method>_response": {...}, "sign": RSA2 over that object's exact text}."""
    text = json.dumps(inner, ensure_ascii=False, separators=(",", ":"))
    name = method.replace(".", "_") + "_response"
    return f'{{"{name}":{text},"sign":"{rsa2_sign(keys, text)}"}}'.encode("utf-8")


def test_alipay_query_and_close_speak_the_gateway_protocol(gateway_factory: Callable[..., Gateway]) -> None:
    asked: list[dict[str, str]] = []

    def answer(command: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        params = dict(parse_qsl(urlsplit(path).query))
        asked.append(params)
        unsigned = "&".join(f"{key}={params[key]}" for key in sorted(params) if key != "sign")
        if not rsa2_valid(key_pair("merchant"), unsigned, params.get("sign", "")):
            inner = {"code": "40002", "msg": "Invalid Arguments", "sub_code": "isv.invalid-signature"}
        elif params["method"] == "alipay.trade.query":
            inner = {"code": "10000", "msg": "Success", "out_trade_no": json.loads(params["biz_content"])["out_trade_no"],
                     "trade_no": "2026112922001400001000000009", "trade_status": "TRADE_SUCCESS",
                     "total_amount": "128.50", "send_pay_date": "2026-11-29 10:04:30"}
        else:
            inner = {"code": "40004", "msg": "Business Failed", "sub_code": "ACQ.TRADE_STATUS_ERROR"}
        return 200, {"Content-Type": "application/json;charset=utf-8"}, _alipay_answer(params["method"], inner,
                                                                                        key_pair("alipay"))

    gateway = gateway_factory(answer)
    provider = alipay(gateway.url)
    trade = provider.query("a1" * 12)
    assert trade is not None and (trade.state, trade.amount_fen, trade.transaction_id) == (
        "paid", 12850, "2026112922001400001000000009")
    provider.close("a1" * 12)  # already paid: Alipay refuses to close, which is not an error for us
    assert [params["method"] for params in asked] == ["alipay.trade.query", "alipay.trade.close"]


def test_alipay_precreate_gives_a_code_to_scan(gateway_factory: Callable[..., Gateway]) -> None:
    def answer(command: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        params = dict(parse_qsl(urlsplit(path).query))
        unsigned = "&".join(f"{key}={params[key]}" for key in sorted(params) if key != "sign")
        assert rsa2_valid(key_pair("merchant"), unsigned, params["sign"]) and params["notify_url"] == NOTIFY_URL
        assert json.loads(params["biz_content"])["time_expire"] == "2026-11-30 10:00:00"
        inner = {"code": "10000", "msg": "Success", "out_trade_no": "a1" * 12,
                 "qr_code": "https://qr.alipay.com/bax08431bcfp4kqwd1yu5532"}
        return 200, {"Content-Type": "application/json"}, _alipay_answer(params["method"], inner, key_pair("alipay"))

    provider = AlipayProvider(APP_ID, key_pair("merchant").private_pem, key_pair("alipay").public_pem,
                              notify_url=NOTIFY_URL, gateway=gateway_factory(answer).url, mode="precreate")
    assert provider.create_order(order()).scan_code == "https://qr.alipay.com/bax08431bcfp4kqwd1yu5532"


def test_alipay_query_answer_not_signed_by_alipay_is_not_believed(gateway_factory: Callable[..., Gateway]) -> None:
    def answer(command: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        inner = {"code": "10000", "msg": "Success", "out_trade_no": "a1" * 12, "trade_no": "1",
                 "trade_status": "TRADE_SUCCESS", "total_amount": "128.50"}
        return 200, {"Content-Type": "application/json"}, _alipay_answer("alipay.trade.query", inner,
                                                                         key_pair("merchant"))

    with pytest.raises(ProviderUnavailable):
        alipay(gateway_factory(answer).url).query("a1" * 12)


# --- WeChat Pay v3 -----------------------------------------------------------------------------------


def wechatpay(gateway: str = "https://api.mch.weixin.qq.com", mode: str = "native") -> WeChatPayProvider:
    return WeChatPayProvider(MCHID, WX_APPID, key_pair("merchant").private_pem, "5157F09EFDC096DE15EBE81A47057A72",
                             APIV3_KEY, key_pair("wechatpay").public_pem, PUB_KEY_ID, notify_url=NOTIFY_URL,
                             gateway=gateway, mode=mode)  # type: ignore[arg-type]


def wechat_transaction(link_id: str, total: int = 12850, **changes: Any) -> dict[str, Any]:
    return {"mchid": MCHID, "appid": WX_APPID, "out_trade_no": link_id,
            "transaction_id": "4200000000202611290000000001", "trade_type": "MWEB", "trade_state": "SUCCESS",
            "trade_state_desc": "支付成功", "bank_type": "OTHERS", "success_time": "2026-11-29T10:04:30+08:00",
            "payer": {"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},
            "amount": {"total": total, "payer_total": total, "currency": "CNY", "payer_currency": "CNY"}, **changes}


def wechat_signed_headers(body: str, keys: KeyPair, serial: str = PUB_KEY_ID) -> dict[str, str]:
    timestamp, nonce = str(int(datetime.now(timezone.utc).timestamp())), secrets.token_hex(16)
    return {"Wechatpay-Timestamp": timestamp, "Wechatpay-Nonce": nonce, "Wechatpay-Serial": serial,
            "Wechatpay-Signature": rsa2_sign(keys, f"{timestamp}\n{nonce}\n{body}\n"),
            "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048", "Content-Type": "application/json"}


def wechat_notification(transaction: dict[str, Any], apiv3_key: str = APIV3_KEY,
                        keys: KeyPair | None = None) -> tuple[dict[str, str], str]:
    """A payment notification as WeChat Pay v3 documents it: the transaction AES-256-GCM encrypted, headers signed."""
    nonce = secrets.token_hex(6)  # 12 characters, as WeChat Pay's nonces are
    ciphertext = AESGCM(apiv3_key.encode()).encrypt(nonce.encode(), json.dumps(transaction).encode(), b"transaction")
    body = json.dumps({
        "id": "EV-2018022511223320873", "create_time": "2026-11-29T10:04:31+08:00",
        "resource_type": "encrypt-resource", "event_type": "TRANSACTION.SUCCESS", "summary": "支付成功",
        "resource": {"original_type": "transaction", "algorithm": "AEAD_AES_256_GCM", "associated_data": "transaction",
                     "nonce": nonce, "ciphertext": base64.b64encode(ciphertext).decode()},
    }, ensure_ascii=False)
    return wechat_signed_headers(body, keys or key_pair("wechatpay")), body


def test_wechatpay_notification_is_verified_decrypted_and_read() -> None:
    headers, body = wechat_notification(wechat_transaction("a1" * 12))
    trade = wechatpay().parse_notification(RawNotification(headers, body.encode()))
    assert (trade.link_id, trade.state, trade.amount_fen, trade.transaction_id) == (
        "a1" * 12, "paid", 12850, "4200000000202611290000000001")
    assert trade.paid_at == datetime(2026, 11, 29, 2, 4, 30, tzinfo=timezone.utc)
    assert wechatpay().acknowledge(True).status_code in (200, 204)
    refused = wechatpay().acknowledge(False)
    assert refused.status_code >= 400 and json.loads(refused.body)["code"] == "FAIL"


def _tampered_body(headers: dict[str, str], body: str) -> tuple[dict[str, str], str]:
    return headers, body.replace("TRANSACTION.SUCCESS", "TRANSACTION.SUCCESS ")


@pytest.mark.parametrize("make", [
    lambda: _tampered_body(*wechat_notification(wechat_transaction("a1" * 12))),
    lambda: wechat_notification(wechat_transaction("a1" * 12), keys=key_pair("merchant")),  # not WeChat Pay's key
    lambda: wechat_notification(wechat_transaction("a1" * 12), apiv3_key="c" * 32),  # not our APIv3 key
    lambda: wechat_notification(wechat_transaction("a1" * 12, mchid="1900000999")),  # another merchant's
    lambda: (lambda h, b: ({**h, "Wechatpay-Serial": "7132D72A03E93CDDF8C03BBD1F37EEDF"}, b))(
        *wechat_notification(wechat_transaction("a1" * 12))),  # unknown serial: refused without fetching anything
])
def test_wechatpay_refuses_a_tampered_notification(make: Callable[[], tuple[dict[str, str], str]]) -> None:
    headers, body = make()
    with pytest.raises(InvalidNotification):
        wechatpay().parse_notification(RawNotification(headers, body.encode()))


def _wechat_answer(keys: KeyPair, status: int, payload: dict[str, Any] | None) -> tuple[int, dict[str, str], bytes]:
    body = json.dumps(payload) if payload is not None else ""
    return status, wechat_signed_headers(body, keys), body.encode()


def test_wechatpay_native_and_h5_orders_query_and_close_speak_the_api(gateway_factory: Callable[..., Gateway]) -> None:
    seen: list[tuple[str, str, dict[str, Any]]] = []

    def answer(command: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        # WeChat Pay checks the merchant's signature in Authorization: WECHATPAY2-SHA256-RSA2048 mchid=...,signature=...
        auth = dict(part.split("=", 1) for part in headers["Authorization"].split(" ", 1)[1].split(","))
        message = f"{command}\n{path}\n{auth['timestamp'].strip(chr(34))}\n{auth['nonce_str'].strip(chr(34))}\n" \
                  f"{body.decode()}\n"
        assert rsa2_valid(key_pair("merchant"), message, auth["signature"].strip('"'))
        seen.append((command, path, json.loads(body) if body else {}))
        if path == "/v3/pay/transactions/h5":
            return _wechat_answer(key_pair("wechatpay"), 200, {"h5_url": H5_URL})
        if path == "/v3/pay/transactions/native":
            return _wechat_answer(key_pair("wechatpay"), 200, {"code_url": "weixin://wxpay/bizpayurl?pr=aIQrOYOzz"})
        if path.startswith("/v3/pay/transactions/out-trade-no/") and command == "GET":
            return _wechat_answer(key_pair("wechatpay"), 200, wechat_transaction("a1" * 12))
        return _wechat_answer(key_pair("wechatpay"), 204, None)

    gateway = gateway_factory(answer)
    assert wechatpay(gateway.url).create_order(order()).scan_code == "weixin://wxpay/bizpayurl?pr=aIQrOYOzz"
    native = seen.pop(0)
    assert native[1] == "/v3/pay/transactions/native" and native[2]["scene_info"] == {"payer_client_ip": "10.0.0.7"}
    provider = wechatpay(gateway.url, mode="h5")
    url = provider.create_order(order()).url
    assert url.startswith(f"{H5_URL}&redirect_url=https%3A")
    trade = provider.query("a1" * 12)
    assert trade is not None and (trade.state, trade.amount_fen) == ("paid", 12850)
    provider.close("a1" * 12)
    created = seen[0][2]
    assert created["amount"] == {"total": 12850, "currency": "CNY"} and created["out_trade_no"] == "a1" * 12
    assert created["notify_url"] == NOTIFY_URL and created["time_expire"] == "2026-11-30T02:00:00+00:00"
    assert created["scene_info"] == {"payer_client_ip": "10.0.0.7", "h5_info": {"type": "Wap"}}
    assert [(command, path.split("?")[0]) for command, path, _ in seen[1:]] == [
        ("GET", "/v3/pay/transactions/out-trade-no/" + "a1" * 12),
        ("POST", "/v3/pay/transactions/out-trade-no/" + "a1" * 12 + "/close")]


def wechat_settings(tmp_path: Path, **changes: Any) -> Settings:
    files = {"merchant.pem": key_pair("merchant").private_pem, "apiv3.key": APIV3_KEY,
             "wechatpay_pub.pem": key_pair("wechatpay").public_pem}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    values: dict[str, Any] = {
        "data_dir": tmp_path / "data", "speech_enabled": False, "demo": False, "payment_provider": "wechatpay",
        "public_url": "https://pay.example.cn", "wechatpay_mchid": MCHID, "wechatpay_appid": WX_APPID,
        "wechatpay_private_key_path": tmp_path / "merchant.pem",
        "wechatpay_merchant_serial_no": "5157F09EFDC096DE15EBE81A47057A72",
        "wechatpay_apiv3_key_path": tmp_path / "apiv3.key",
        "wechatpay_public_key_path": tmp_path / "wechatpay_pub.pem", "wechatpay_public_key_id": PUB_KEY_ID}
    return Settings(**{**values, **changes})


def test_wechatpay_notification_over_http_pays_once(tmp_path: Path) -> None:
    with serving(wechat_settings(tmp_path)) as live, httpx.Client(base_url=live.url, timeout=10) as http:
        issued = live.app.state.services.payments.create_link(ACCOUNT)
        headers, body = wechat_notification(wechat_transaction(issued.link_id))
        tampered = wechat_notification(wechat_transaction(issued.link_id, amount={"total": 1, "currency": "CNY"}))
        forged = http.post("/pay/notify", headers=tampered[0], content=_tampered_body(*tampered)[1])
        assert forged.status_code >= 400 and forged.json()["code"] == "FAIL"  # WeChat Pay will retry; we refused
        for _ in range(2):  # delivered twice, as WeChat Pay retries
            assert http.post("/pay/notify", headers=headers, content=body).status_code in (200, 204)
        with session(live.app.state.engine) as db:
            assert [p.amount_fen for p in db.exec(select(Payment))] == [12850]
        assert "交清" in http.get(urlsplit(issued.url).path).text


def test_wechatpay_native_pay_page_shows_the_code_to_scan(tmp_path: Path,
                                                         gateway_factory: Callable[..., Gateway]) -> None:
    def answer(command: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        return _wechat_answer(key_pair("wechatpay"), 200, {"code_url": "weixin://wxpay/bizpayurl?pr=aIQrOYOzz"})

    settings = wechat_settings(tmp_path, wechatpay_gateway=gateway_factory(answer).url)
    with serving(settings) as live, httpx.Client(base_url=live.url, timeout=10) as http:
        issued = live.app.state.services.payments.create_link(ACCOUNT)
        page = http.post(urlsplit(issued.url).path)
        assert page.status_code == 200 and "请用微信扫一扫" in page.text and "<svg" in page.text
        assert f"/pay/{issued.token}/done" in page.text


def test_real_provider_without_its_keys_refuses_to_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as refused:
        build_provider(Settings(data_dir=tmp_path, demo=False, payment_provider="alipay"), engine=None)  # type: ignore[arg-type]
    assert "XIAODIAN_ALIPAY_PRIVATE_KEY_PATH" in refused.value.message
    with pytest.raises(ConfigurationError) as unreadable:
        build_provider(wechat_settings(tmp_path, wechatpay_apiv3_key_path=tmp_path / "missing.key"),
                       engine=None)  # type: ignore[arg-type]
    assert "missing.key" in unreadable.value.message
