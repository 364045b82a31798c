"""The hall kiosk's screen, following the conversation its device loop is having.

The device loop (``kiosk/device.py``: microphone, speaker, card reader) talks to the service; the
kiosk page in Chromium on the same PC shows what is heard and said. Both are the one device, so
both hold the same credential, the **screen key**: the device's Ed25519 signature over

    xiaodian-kiosk-screen/1 \\n device id

Ed25519 signatures are deterministic, so the key is the same every time it is made from the private
key (``xiaodian kiosk page-url`` prints the page's address with it), and the server checks it with
the public key it already keeps (``KioskDevice``): no new secret to store or copy. It proves "this is
kiosk X" to read and write that kiosk's screen; it cannot sign card reads (those carry their own
signature, time and nonce). Re-registering the device changes it.

The screen's state is one row per device (``KioskScreen``), so any worker serves the page and the loop.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from assistant.kiosk_devices import CardVerifier
from knowledge_base.db import session
from knowledge_base.models import KioskScreen, utc_now

SCREEN_KEY_CONTEXT = "xiaodian-kiosk-screen/1"
# What a screen update may carry: a reply as the API returns it plus what the loop heard (bounded:
# the row is read by a page every second).
MAX_STATE_BYTES = 64 * 1024


def _message(device: str) -> bytes:
    return f"{SCREEN_KEY_CONTEXT}\n{device}".encode()


def screen_key(key: Ed25519PrivateKey, device: str) -> str:
    """The device's screen key (URL-safe base64, no padding)."""
    return base64.urlsafe_b64encode(key.sign(_message(device))).rstrip(b"=").decode()


def screen_key_valid(engine: Engine, device: str, presented: str) -> bool:
    """Whether ``presented`` is this enabled device's screen key."""
    if not device or len(device) > 64 or not presented or len(presented) > 128:
        return False
    public = CardVerifier(engine)._public_key(device)  # noqa: SLF001 - the one place devices' keys are read
    if public is None:
        return False
    try:
        public.verify(base64.urlsafe_b64decode(presented + "=" * (-len(presented) % 4)), _message(device))
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


@dataclass(frozen=True, slots=True)
class ScreenState:
    seq: int
    session_id: str
    state: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "session_id": self.session_id, **self.state}


def read_screen(engine: Engine, device: str) -> ScreenState:
    with session(engine) as db:
        row = db.get(KioskScreen, device)
        if row is None:
            return ScreenState(0, "", {})
        return ScreenState(row.seq, row.session_id, dict(row.state))


def show(engine: Engine, device: str, session_id: str, state: dict[str, Any]) -> int:
    """Replace what the device's screen shows; returns the new sequence number.

    ``state``'s keys replace the stored ones (a card read stays shown under the next reply), and a
    new session clears them all: the next customer never sees the previous one's name.
    """
    for _ in range(3):
        current = read_screen(engine, device)
        merged = dict(state) if session_id != current.session_id else {**current.state, **state}
        with session(engine) as db:
            if current.seq == 0 and db.get(KioskScreen, device) is None:
                db.add(KioskScreen(device=device, seq=1, session_id=session_id, state=merged, updated_at=utc_now()))
                try:
                    db.commit()
                except IntegrityError:  # another worker made the row first: go again
                    db.rollback()
                    continue
                return 1
            # Compare-and-set on seq: two writers at once (the loop and a card read) never lose one.
            changed = db.exec(update(KioskScreen).where(col(KioskScreen.device) == device,
                                                        col(KioskScreen.seq) == current.seq)
                              .values(seq=current.seq + 1, session_id=session_id, state=merged,
                                      updated_at=utc_now())).rowcount
            db.commit()
            if changed == 1:
                return current.seq + 1
    raise RuntimeError(f"kiosk screen {device}: too many writers at once")


def show_card(engine: Engine, device: str, session_id: str, account: str, notices: list[str] | None = None) -> str:
    """A verified card read on the device's screen: "已识别：张*华" (the holder's name masked), and the
    reminders that waited for this card."""
    from assistant.answers import mask_name
    from knowledge_base.models import Account

    with session(engine) as db:
        row = db.get(Account, account)
        holder = mask_name(row.holder) if row is not None else ""
    identified = f"已识别：{holder}" if holder else "已识别"
    show(engine, device, session_id, {"identified": "".join([identified, *(f"。提醒：{n}" for n in notices or [])])})
    return holder


def vetted_reply(reply: Any, payments: Any, public_url: str) -> dict[str, Any] | None:
    """A reply the device loop relays, made safe to render: the one HTML field (the QR code's SVG) is
    made here, and only for a payment link this service signed; any other link is dropped. So even a
    leaked screen key cannot put someone else's payment code on the kiosk."""
    from assistant.payments import LinkProblem, qr_svg

    if not isinstance(reply, dict):
        return None
    vetted = {**reply, "pay_qr_svg": None}
    pay_url = reply.get("pay_url")
    prefix = f"{public_url.rstrip('/')}/pay/"
    vetted["pay_url"] = None
    if isinstance(pay_url, str) and pay_url.startswith(prefix):
        try:
            payments.link_id_of(pay_url[len(prefix):])
        except LinkProblem:
            return vetted
        vetted["pay_url"], vetted["pay_qr_svg"] = pay_url, qr_svg(pay_url)
    return vetted
