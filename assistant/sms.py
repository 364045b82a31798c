"""Sending SMS: one small interface, and the FAKE gateway that stands in for it in demo mode.

Every message goes to the ``SmsMessage`` outbox in the caller's transaction, so a code or
a notice is recorded together with the change it belongs to. A real gateway would send from
the outbox; none is configured in this product yet, so outside demo mode there is no sender
and 小电 uses the fallback check (surname and last four digits) or staff instead.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Protocol

from sqlmodel import Session

from knowledge_base.settings import Settings
from knowledge_base.models import SmsMessage, utc_now

logger = logging.getLogger(__name__)


def mask_phone(phone: str) -> str:
    """13812341234 → 138****1234: enough to tell numbers apart in a log, not to call one."""
    if len(phone) < 8:
        return "*" * len(phone)
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]


# Mainland mobile numbers as people say and recognisers write them: ASCII, full-width or Chinese
# digits, in groups with a space, dash, dot or comma between, maybe after the country code (+86,
# 86, 0086, also full-width); not inside a longer run of digits (a 户号 or an amount stays as it is).
_DIGIT = "[0-9０-９零〇一幺二两三四五六七八九]"
_SEPARATOR = "[ \\t\\-－—–，,、]"
_GAP = _SEPARATOR + "?"
_COUNTRY_CODE = f"(?:(?:[+＋]|00|００)?[8８][6６](?:[.．]|{_GAP}))?"
_START = "[1１一幺]"
_SECOND = "[3-9３-９三四五六七八九]"
# Dots only in the 3-4-4 grouping (139.1234.5678): an IPv4 address (139.224.100.20) is no phone number.
_DOTTED = f"{_START}{_SECOND}{_DIGIT}[.．]{_DIGIT}{{4}}[.．]{_DIGIT}{{4}}"
_MOBILE = re.compile(f"(?<!{_DIGIT})(?<!{_DIGIT}{_SEPARATOR})(?P<code>{_COUNTRY_CODE})"
                     f"(?P<mobile>{_DOTTED}|{_START}{_GAP}{_SECOND}(?:{_GAP}{_DIGIT}){{9}})"
                     f"(?!{_GAP}{_DIGIT})")
_ONE_DIGIT = re.compile(_DIGIT)


def _mask_said_phone(said: str) -> str:
    """The middle four digits starred, the groups and their gaps kept: 139 1234 5678 → 139 **** 5678."""
    positions = [found.start() for found in _ONE_DIGIT.finditer(said)]
    hidden = set(positions[3:-4])
    return "".join("*" if index in hidden else char for index, char in enumerate(said))


def mask_phones_in(text: str) -> str:
    """13812345678 → 138****5678 wherever a mobile number appears in ``text``."""
    return _MOBILE.sub(lambda found: found.group("code") + _mask_said_phone(found.group("mobile")), text)


def mask_phones_deep(value: Any) -> Any:
    """``mask_phones_in`` through the strings of a JSON-like value (slots, transcripts)."""
    if isinstance(value, str):
        return mask_phones_in(value)
    if isinstance(value, dict):
        return {key: mask_phones_deep(item) for key, item in value.items()}
    if isinstance(value, list):
        return [mask_phones_deep(item) for item in value]
    return value


class SmsSender(Protocol):
    gateway: str

    def send(self, db: Session, phone: str, text: str, kind: str, account: str | None = None) -> SmsMessage:
        """Queue (or send) one message inside the caller's transaction."""


class FakeSmsGateway:
    """FAKE SMS gateway for demo mode: the message is "sent" into the outbox and the log.

    It exists only in demo mode (there is no real phone to receive anything), which is also
    why it may log the message itself, code included: the demo's operator reads it there.
    """

    gateway = "fake"

    def __init__(self, settings: Settings) -> None:
        if not settings.demo:
            raise RuntimeError("The FAKE SMS gateway exists only in demo mode (XIAODIAN_DEMO=true).")

    def send(self, db: Session, phone: str, text: str, kind: str, account: str | None = None) -> SmsMessage:
        now = utc_now()
        message = SmsMessage(phone=phone, text=text, kind=kind, account_number=account, created_at=now,
                             sent_at=now, status="sent", gateway=self.gateway)
        db.add(message)
        logger.info("FAKE SMS (demo) %s to %s: %s", kind, mask_phone(phone), text)
        return message


def sms_sender(settings: Settings) -> SmsSender | None:
    """The sender for these settings: the FAKE gateway in demo mode, else none is configured."""
    return FakeSmsGateway(settings) if settings.demo else None
