"""Who delivers a reminder, behind one interface: SMS (an HTTP gateway, or the FAKE one in demo
mode), an outbound call (an Asterisk call file), and the hall kiosk's notice.

A sender runs inside the transaction that marks the message sent, so what it records (the
SmsMessage row, the PhoneCall registration) commits with it or not at all. It raises
``DeliveryError``: ``permanent`` when trying again on this channel is pointless (no such number,
channel not configured), which moves the message to the customer's next channel.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import httpx
from sqlmodel import Session

from assistant.phone.calls import register_call
from assistant.sms import FakeSmsGateway, mask_phone
from knowledge_base.models import SmsMessage, utc_now
from knowledge_base.settings import Settings

logger = logging.getLogger(__name__)

_PHONE = re.compile(r"\+?[0-9]{3,20}")  # also keeps anything but digits out of a call file's Channel line


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One reminder to deliver now, its text made for the channel."""

    dedup_key: str
    account: str
    channel: str  # sms, family, call, kiosk
    phone: str  # who is reached ("" for the kiosk)
    text: str


@dataclass(frozen=True, slots=True)
class Delivered:
    recipient: str  # masked phone, call id, or "kiosk"
    reference: str = ""


class DeliveryError(Exception):
    def __init__(self, reason: str, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


class ReminderSender(Protocol):
    name: str

    def deliver(self, db: Session, outgoing: Outgoing) -> Delivered: ...


def _checked_phone(phone: str) -> str:
    if not _PHONE.fullmatch(phone or ""):
        raise DeliveryError("没有可用的电话号码", permanent=True)
    return phone


class FakeSmsSender:
    """Demo mode only (``FakeSmsGateway`` refuses otherwise): the SMS goes to the outbox table and the log."""

    name = "fake-sms"

    def __init__(self, settings: Settings) -> None:
        self._gateway = FakeSmsGateway(settings)

    def deliver(self, db: Session, outgoing: Outgoing) -> Delivered:
        phone = _checked_phone(outgoing.phone)
        message = self._gateway.send(db, phone, outgoing.text, "reminder", outgoing.account)
        db.flush()
        return Delivered(mask_phone(phone), f"sms:{message.id}")


class HttpSmsSender:
    """A real SMS gateway over HTTP: ``POST <url>`` with JSON ``{"to", "text", "ref"}`` and
    ``Authorization: Bearer <token>``. 2xx: sent. 429, 5xx or no answer: tried again later.
    Other 4xx: the gateway refuses this message; the next channel is tried. ``ref`` is the
    reminder's dedup key: a gateway that keeps it can drop a repeat after a crash mid-send."""

    name = "http-sms"

    def __init__(self, url: str, token: str, timeout_s: float = 10.0, client: httpx.Client | None = None) -> None:
        self.url = url
        self._headers = {"Authorization": f"Bearer {token}"}
        self._client = client or httpx.Client(timeout=timeout_s)

    def deliver(self, db: Session, outgoing: Outgoing) -> Delivered:
        phone = _checked_phone(outgoing.phone)
        try:
            response = self._client.post(self.url, headers=self._headers,
                                         json={"to": phone, "text": outgoing.text, "ref": outgoing.dedup_key})
        except httpx.HTTPError as error:
            raise DeliveryError(f"短信网关连不上：{type(error).__name__}") from None
        if response.status_code == 429 or response.status_code >= 500:
            raise DeliveryError(f"短信网关暂时不可用（HTTP {response.status_code}）")
        if response.status_code >= 400:
            raise DeliveryError(f"短信网关拒绝（HTTP {response.status_code}）", permanent=True)
        now = utc_now()
        db.add(SmsMessage(phone=phone, text=outgoing.text, kind="reminder", account_number=outgoing.account,
                          created_at=now, sent_at=now, status="sent", gateway="http"))
        return Delivered(mask_phone(phone), f"sms-gateway:{response.headers.get('x-message-id', '')}")


@dataclass(frozen=True, slots=True)
class CallFileSettings:
    spool_dir: Path
    channel: str  # e.g. PJSIP/{number}@carrier
    context: str = "xiaodian-reminder"
    caller_id: str = "95598"
    max_retries: int = 2
    retry_s: int = 600
    wait_s: int = 45

    @property
    def staging_dir(self) -> Path:
        # Beside the spool folder, so the final rename is atomic (same filesystem): Asterisk must never
        # read a half-written call file.
        return self.spool_dir.parent / "xiaodian-staging"


def call_file_text(settings: CallFileSettings, number: str, call_uuid: str) -> str:
    """An Asterisk call file: one ``Key: value`` per line. The answered call goes to the dialplan context
    (see README "Daily reminders"), which runs ``AudioSocket(${XIAODIAN_CALL_UUID},host:port)``."""
    number = _checked_phone(number)
    lines = [
        f"Channel: {settings.channel.format(number=number)}",
        f"CallerID: \"{settings.caller_id}\" <{settings.caller_id}>",
        f"MaxRetries: {settings.max_retries}",
        f"RetryTime: {settings.retry_s}",
        f"WaitTime: {settings.wait_s}",
        f"Context: {settings.context}",
        "Extension: s",
        "Priority: 1",
        f"Setvar: XIAODIAN_CALL_UUID={call_uuid}",
        "Archive: yes",
    ]
    return "\n".join(lines) + "\n"


class CallFileSender:
    """An outbound call: the call is registered with the reminder as its first words, then the call file
    is written to a staging folder and renamed into Asterisk's spool (Asterisk's documented rule)."""

    name = "call-file"

    def __init__(self, settings: CallFileSettings) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_/@.\-]*\{number\}[A-Za-z0-9_/@.\-]*", settings.channel):
            raise ValueError("XIAODIAN_REMINDER_CALL_CHANNEL must look like PJSIP/{number}@trunk")
        for name in ("context", "caller_id"):
            if not re.fullmatch(r"[A-Za-z0-9_\-]+", getattr(settings, name)):
                raise ValueError(f"reminder call {name} may hold only letters, digits, - and _")
        self.settings = settings

    def deliver(self, db: Session, outgoing: Outgoing) -> Delivered:
        number = _checked_phone(outgoing.phone)
        call_uuid = str(uuid.uuid4())
        register_call(db, call_uuid, number, first_words=outgoing.text)
        db.flush()
        self.write(call_uuid, number)
        return Delivered(f"call:{call_uuid}", call_uuid)

    def write(self, call_uuid: str, number: str) -> Path:
        staging, spool = self.settings.staging_dir, self.settings.spool_dir
        try:
            staging.mkdir(mode=0o770, parents=True, exist_ok=True)
            if os.stat(staging).st_dev != os.stat(spool).st_dev:
                raise DeliveryError("通话文件的暂存目录和 Asterisk 的 spool 目录不在同一个文件系统", permanent=True)
            handle, temporary = tempfile.mkstemp(prefix=".reminder-", suffix=".call", dir=staging)
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                file.write(call_file_text(self.settings, number, call_uuid))
                file.flush()
                os.fsync(file.fileno())
            os.chmod(temporary, 0o660)
            final = spool / f"xiaodian-{call_uuid}.call"
            os.rename(temporary, final)
        except OSError as error:
            raise DeliveryError(f"写不了通话文件：{error.strerror}") from None
        return final


class KioskNoticeSender:
    """The notice waits for the customer's card to be read in the hall (``kiosk_notices``)."""

    name = "kiosk"

    def deliver(self, db: Session, outgoing: Outgoing) -> Delivered:
        return Delivered("kiosk")


def build_senders(settings: Settings) -> dict[str, ReminderSender | None]:
    """Channel → sender for these settings; ``None``: the channel cannot be used here (next one is tried)."""
    sms: ReminderSender | None = None
    if settings.sms_gateway_url and settings.sms_gateway_token_path:
        sms = HttpSmsSender(settings.sms_gateway_url, settings.sms_gateway_token_path.read_text().strip())
    elif settings.demo:
        sms = FakeSmsSender(settings)
    call: ReminderSender | None = None
    if settings.reminder_call_channel:
        call = CallFileSender(CallFileSettings(
            settings.asterisk_spool_dir, settings.reminder_call_channel, settings.reminder_call_context,
            settings.reminder_call_caller_id, settings.reminder_call_max_retries, settings.reminder_call_retry_s,
            settings.reminder_call_wait_s))
    return {"sms": sms, "family": sms, "call": call, "kiosk": KioskNoticeSender()}
