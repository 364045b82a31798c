"""Settings in one place, from ``XIAODIAN_*`` environment variables."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_TIMEZONE = "Asia/Shanghai"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="XIAODIAN_", extra="ignore")

    data_dir: Path = Path("var")
    # Empty means SQLite in the data folder; set e.g. postgresql+psycopg://... for PostgreSQL.
    database_url: str = ""
    region: str = "jiangsu"
    # The service's time zone (IANA name): 今天, 后天, 这个月 and the times customers hear are
    # reckoned in it, whatever zone the machine runs in. The database keeps every moment in UTC.
    timezone: str = DEFAULT_TIMEZONE
    # Where customers' phones reach this service: payment links and QR codes point here.
    public_url: str = "http://127.0.0.1:8000"
    payment_link_hours: int = 24

    # Demo mode (`make run`): demo data, a visible 演示 banner on every page, and the only
    # mode in which the FAKE sandbox payment provider and the FAKE SMS gateway exist.
    demo: bool = False
    # Who takes the money. "sandbox" is refused unless demo is on.
    payment_provider: Literal["sandbox", "alipay", "wechatpay"] = "sandbox"
    # Links left "paying" this long without a notification are asked about at the provider
    # (a lost notification, a crash); the server does it every reconcile_interval_s.
    reconcile_after_minutes: float = 5.0
    reconcile_interval_s: float = 60.0
    # Alipay (open platform app): the app's RSA2 private key, Alipay's public key (both PEM files
    # in the data folder's keeping, never in the repository), and the gateway (its sandbox for trials).
    alipay_app_id: str = ""
    alipay_private_key_path: Path | None = None
    alipay_public_key_path: Path | None = None
    alipay_gateway: str = "https://openapi.alipay.com/gateway.do"
    # "wap": the phone's browser goes to Alipay's cashier; "precreate": a QR code for the Alipay app.
    alipay_mode: Literal["wap", "precreate"] = "wap"
    # WeChat Pay API v3: merchant id, the app id bound to it, the merchant API certificate's private
    # key and serial number, the APIv3 key (a file: it decrypts notifications), and WeChat Pay's
    # public key and its id (PUB_KEY_ID_...), which sign notifications and answers.
    wechatpay_mchid: str = ""
    wechatpay_appid: str = ""
    wechatpay_private_key_path: Path | None = None
    wechatpay_merchant_serial_no: str = ""
    wechatpay_apiv3_key_path: Path | None = None
    wechatpay_public_key_path: Path | None = None
    wechatpay_public_key_id: str = ""
    wechatpay_gateway: str = "https://api.mch.weixin.qq.com"
    # "native": a QR code for WeChat (every merchant has it); "h5": the phone's browser goes to
    # WeChat Pay (a product WeChat Pay must enable; it does not work inside WeChat's own browser).
    wechatpay_mode: Literal["native", "h5"] = "native"

    # Identity: how many distinct 户号 one conversation, and one client address per hour,
    # may look up before 小电 politely stops and offers staff (bounds enumeration).
    max_accounts_per_conversation: int = 3
    max_accounts_per_client_hour: int = 20
    # One-time codes sent to the phone on file.
    verification_code_minutes: int = 10
    max_verification_failures: int = 3

    # Abuse bounds.
    max_concurrent_recognitions: int = 0  # 0 means one per core
    recognition_queue: int = 4  # waiting recognitions beyond the running ones; more get "请稍等"
    max_websockets: int = 64
    # One address may not hold every microphone socket (a hall behind one NAT address has a few
    # kiosks: raise it there, or put the kiosks behind a trusted proxy).
    max_websockets_per_client: int = 8
    # A microphone socket that sends nothing for this long is closed (the page reconnects when tapped).
    websocket_idle_s: float = 60.0
    max_handoffs_per_client_hour: int = 5
    # Reverse proxies whose X-Forwarded-For is believed (comma-separated addresses); empty: none.
    trusted_proxies: str = ""

    # Quality-review retention: turn-log rows older than this are purged.
    turn_log_days: int = 180

    # Load the recogniser at start-up (the service reports ready once it is loaded).
    speech_enabled: bool = True
    # Speech recognition: "auto" uses a registered Mandarin Vosk model when
    # there is one, else Whisper (which installs from PyPI and always works).
    asr_engine: Literal["auto", "whisper", "vosk"] = "auto"
    whisper_beam_size: int = 1
    # Optional Whisper prompt (a short natural sentence). Empty by default: on
    # the shared audio set it did not raise intent accuracy (see README).
    whisper_prompt: str = ""
    asr_threads: int = 2
    vosk_grammar: bool = False  # restrict Vosk to the knowledge base's words
    # End-pointing: elderly speakers pause mid-sentence.
    end_silence_s: float = 1.2
    max_utterance_s: float = 15.0
    # Voice
    # Which voice speaks (assistant/speech/voices.py): auto = the natural voice when the `voice`
    # extra is installed, else espeak-ng; natural; espeak; or an operator's "module:factory".
    voice: str = "auto"
    voice_rate: int = 130
    voice_volume: float = 1.0
    # Admin and staff accounts. A login lasts one shift, then asks again.
    session_hours: float = 8.0
    # Password guessing slows down, it never locks the real user out: failures of one name
    # from one address beyond the free ones make that pair wait, doubling each time up to the
    # cap (remembered for a day, cleared by a success); an address (several staff may share
    # one) is refused for a while after this many failures on any names within the window.
    login_free_failures: int = 4
    login_backoff_s: float = 2.0
    login_max_backoff_s: float = 900.0
    login_backoff_memory_s: float = 86400.0
    login_max_failures_per_ip: int = 20
    login_window_minutes: int = 10
    # Cookies are marked Secure when public_url is https (or when this is set).
    cookie_secure: bool = False
    # How often the staff console's event stream looks for queue changes.
    staff_poll_s: float = 1.0
    # On shutdown, requests in flight get this long to finish (open event streams are then cut).
    shutdown_grace_s: float = 10.0

    # --- the phone line (issue 12): Asterisk's AudioSocket ---
    # The gateway's TCP port (0 = off); `xiaodian serve` starts it when set, `xiaodian phone` alone.
    audiosocket_port: int = 0
    audiosocket_host: str = "127.0.0.1"  # the PBX's side of the network only: the protocol has no auth
    max_phone_calls: int = 8  # calls beyond this are told to call back later and hung up
    # What the PBX sends to register a caller's number. Empty: one is generated on first run into the
    # data folder (data_dir/secrets/pbx-token.key, shown by `xiaodian phone token`); never a default.
    pbx_token: str = ""
    phone_queue: str = "xiaodian-staff"  # the Asterisk queue the dialplan dials on a transfer
    phone_silence_s: float = 8.0  # quiet this long: "您还在吗？"; the third time, goodbye

    # --- the kiosk page (issue 13): idle reset ---
    # After this long without a touch or a word the page asks "还在吗？" and counts down
    # kiosk_idle_warning_s; then it starts over (a fresh conversation, no account, no QR code).
    kiosk_idle_s: float = 60.0
    kiosk_idle_warning_s: float = 20.0

    # --- daily reminders (issue 14) ---
    # The service runs the daily job on this cron schedule (service time zone; idempotent, so hourly
    # runs only pick up what became due since) and drains the outbox every drain interval; one
    # worker at a time across machines (a lease in the database). Off: cron `xiaodian reminders run`.
    reminders_in_service: bool = True
    reminder_cron: str = "5 8-20 * * *"
    reminder_drain_interval_s: float = 5.0
    reminder_batch_accounts: int = 20000  # accounts per chunk (one transaction) of the daily run
    # Per-channel sending rates (messages a minute) and retries with doubling back-off.
    reminder_sms_per_minute: int = 600
    reminder_calls_per_minute: int = 6
    reminder_max_attempts: int = 4
    reminder_retry_base_s: float = 60.0
    # A real SMS gateway (HTTP POST of JSON, see assistant/reminders/senders.py): its URL and a file
    # holding its bearer token. Unset: no SMS (the FAKE gateway stands in only in demo mode).
    sms_gateway_url: str = ""
    sms_gateway_token_path: Path | None = None
    # Outbound reminder calls through Asterisk call files. Empty channel: no calls (the next channel
    # in the customer's preferences is used). {number} is the customer's phone.
    reminder_call_channel: str = ""  # e.g. PJSIP/{number}@carrier
    asterisk_spool_dir: Path = Path("/var/spool/asterisk/outgoing")
    reminder_call_context: str = "xiaodian-reminder"
    reminder_call_caller_id: str = "95598"
    reminder_call_max_retries: int = 2
    reminder_call_retry_s: int = 600
    reminder_call_wait_s: int = 45

    # --- recordings (issue 15): the customer's spoken words, kept for quality review ---
    # Days a spoken turn's audio is kept (also gone with its turn-log row); 0 keeps none, and then
    # the phone greeting and the kiosk page do not say that conversations are recorded.
    recordings_days: int = 30

    # --- latency (issue 11): how soon the answer starts ---
    # Below 30, Whisper's encoder hears the utterance plus a second of silence, at least this many
    # seconds, instead of its full 30 s window: far faster (the encoder's attention is quadratic) but
    # Whisper hears worse on a window it was not trained on (first 40 shared clips, 8 kHz: 0.850 at
    # 25 and 20, vs 0.875), so the full window stays the default; an operator short of CPU may trade.
    whisper_window_s: float = 30.0

    # --- ears (issue 11): noise suppression before Whisper ---
    # auto: an utterance whose estimated signal-to-noise ratio is low (a noisy hall) is cleaned by
    # WebRTC's noise suppressor before Whisper hears it; clean speech is never touched. off: never.
    denoise: Literal["auto", "off"] = "auto"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"XIAODIAN_TIMEZONE={name!r} is not an IANA time zone name (e.g. Asia/Shanghai)") from None
        return name

    @property
    def secure_cookies(self) -> bool:
        return self.cookie_secure or self.public_url.lower().startswith("https://")

    @property
    def recognition_slots(self) -> int:
        return self.max_concurrent_recognitions or (os.cpu_count() or 1)

    @property
    def trusted_proxy_set(self) -> frozenset[str]:
        return frozenset(part.strip() for part in self.trusted_proxies.split(",") if part.strip())

    @property
    def speech_cache_dir(self) -> Path:
        return self.data_dir / "speech-cache"

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'xiaodian.db').resolve()}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
