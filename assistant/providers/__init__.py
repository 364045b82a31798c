"""Payment provider adapters and the one place that picks one from the settings.

``build_provider`` is the guard that keeps the FAKE sandbox out of production:
with ``XIAODIAN_DEMO`` off it refuses ``XIAODIAN_PAYMENT_PROVIDER=sandbox``,
and it refuses a real provider whose keys are not configured, so a service
never starts half able to take money.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import Engine

from assistant.providers.base import PaymentProvider
from knowledge_base.settings import Settings

NOTIFY_PATH = "/pay/notify"


class ConfigurationError(SystemExit):
    """The payment settings cannot be used; the message says what to set.

    A SystemExit so that every entry point (uvicorn's app factory, each
    ``xiaodian`` command) stops with the message alone instead of a traceback.
    """

    def __init__(self, message: str) -> None:
        super().__init__(f"小电无法启动 / cannot start: {message}")
        self.message = message


SANDBOX_OUTSIDE_DEMO = (
    "XIAODIAN_PAYMENT_PROVIDER=sandbox is a FAKE provider that moves no money and exists only in demo "
    "mode. Set XIAODIAN_PAYMENT_PROVIDER=alipay or wechatpay with their keys (see README, 付款), or run "
    "the demo with XIAODIAN_DEMO=true (make run).")


def check_payment_settings(settings: Settings) -> None:
    """Raise ConfigurationError unless the chosen provider may run with these settings (no file I/O)."""
    if settings.payment_provider == "sandbox" and not settings.demo:
        raise ConfigurationError(SANDBOX_OUTSIDE_DEMO)
    required = {
        "alipay": {"XIAODIAN_ALIPAY_APP_ID": settings.alipay_app_id,
                   "XIAODIAN_ALIPAY_PRIVATE_KEY_PATH": settings.alipay_private_key_path,
                   "XIAODIAN_ALIPAY_PUBLIC_KEY_PATH": settings.alipay_public_key_path},
        "wechatpay": {"XIAODIAN_WECHATPAY_MCHID": settings.wechatpay_mchid,
                      "XIAODIAN_WECHATPAY_APPID": settings.wechatpay_appid,
                      "XIAODIAN_WECHATPAY_PRIVATE_KEY_PATH": settings.wechatpay_private_key_path,
                      "XIAODIAN_WECHATPAY_MERCHANT_SERIAL_NO": settings.wechatpay_merchant_serial_no,
                      "XIAODIAN_WECHATPAY_APIV3_KEY_PATH": settings.wechatpay_apiv3_key_path,
                      "XIAODIAN_WECHATPAY_PUBLIC_KEY_PATH": settings.wechatpay_public_key_path,
                      "XIAODIAN_WECHATPAY_PUBLIC_KEY_ID": settings.wechatpay_public_key_id},
    }.get(settings.payment_provider, {})
    missing = [name for name, value in required.items() if not value]
    if missing:
        raise ConfigurationError(f"XIAODIAN_PAYMENT_PROVIDER={settings.payment_provider} needs "
                                 + ", ".join(missing))


def _read(path: Path | None, what: str) -> str:
    assert path is not None  # checked by check_payment_settings
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as error:
        raise ConfigurationError(f"cannot read {what} at {path}: {error.strerror}") from error


def build_provider(settings: Settings, engine: Engine) -> PaymentProvider:
    """The configured provider; its notify URL is ``public_url`` + /pay/notify, never a request's Host."""
    check_payment_settings(settings)
    public_url = settings.public_url.rstrip("/")
    if settings.payment_provider == "alipay":
        from assistant.providers.alipay import AlipayProvider

        return AlipayProvider(settings.alipay_app_id, _read(settings.alipay_private_key_path, "the Alipay app key"),
                              _read(settings.alipay_public_key_path, "Alipay's public key"),
                              notify_url=public_url + NOTIFY_PATH, gateway=settings.alipay_gateway,
                              mode=settings.alipay_mode)
    if settings.payment_provider == "wechatpay":
        from assistant.providers.wechatpay import WeChatPayProvider

        return WeChatPayProvider(
            settings.wechatpay_mchid, settings.wechatpay_appid,
            _read(settings.wechatpay_private_key_path, "the WeChat Pay merchant key"),
            settings.wechatpay_merchant_serial_no,
            _read(settings.wechatpay_apiv3_key_path, "the WeChat Pay APIv3 key"),
            _read(settings.wechatpay_public_key_path, "WeChat Pay's public key"),
            settings.wechatpay_public_key_id, notify_url=public_url + NOTIFY_PATH,
            gateway=settings.wechatpay_gateway, mode=settings.wechatpay_mode)
    from assistant.payments import load_or_create_secret
    from assistant.providers.sandbox import SandboxPaymentProvider

    return SandboxPaymentProvider(engine, load_or_create_secret(settings.data_dir, "sandbox-provider"),
                                  base_url=public_url)
