"""Kiosk devices and the card reads they sign.

A hall kiosk PC holds its own Ed25519 private key; the server keeps only the public half
(``KioskDevice``). When a customer puts their card in, the kiosk signs the read:

    xiaodian-card-read/1 \\n device id \\n 户号 \\n unix seconds \\n nonce

An API request's account counts as a card read only with a valid signature from an
enabled device, issued within ``CARD_WINDOW`` of now, with a nonce not seen before: a
captured read cannot be replayed, nor its 户号 swapped. The nonces seen are kept in the
database (``CardReadNonce``), so a read replayed to another worker or machine is refused too.
"""

from __future__ import annotations

import base64
import binascii
import os
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat
from sqlalchemy import insert
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from knowledge_base.db import session
from knowledge_base.models import CardReadNonce, KioskDevice

CARD_WINDOW_S = 60  # a read is good this long either side of the server's clock
_NONCES = CardReadNonce.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class CardRead:
    device: str
    account: str
    issued_at: int  # unix seconds
    nonce: str
    signature: str  # base64 of the 64-byte Ed25519 signature

    @property
    def message(self) -> bytes:
        return f"xiaodian-card-read/1\n{self.device}\n{self.account}\n{self.issued_at}\n{self.nonce}".encode()


def sign_card_read(key: Ed25519PrivateKey, device: str, account: str, nonce: str, issued_at: int | None = None) -> CardRead:
    """What the kiosk PC does when a card is read (also used by the tests)."""
    issued = int(time.time()) if issued_at is None else issued_at
    unsigned = CardRead(device, account, issued, nonce, "")
    signature = base64.b64encode(key.sign(unsigned.message)).decode()
    return CardRead(device, account, issued, nonce, signature)


class CardVerifier:
    """Checks signed card reads; the database remembers their nonces, so a read counts once on any worker."""

    def __init__(self, engine: Engine, clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.clock = clock

    def verify(self, card: CardRead) -> bool:
        now = self.clock()
        if abs(now - card.issued_at) > CARD_WINDOW_S or not card.nonce or len(card.nonce) > 64:
            return False
        key = self._public_key(card.device)
        if key is None:
            return False
        try:
            key.verify(base64.b64decode(card.signature, validate=True), card.message)
        except (InvalidSignature, binascii.Error, ValueError):
            return False
        return self._first_use(f"{card.device}\n{card.nonce}", now)

    def _public_key(self, device: str) -> Ed25519PublicKey | None:
        with session(self.engine) as db:
            row = db.get(KioskDevice, device)
        if row is None or row.disabled:
            return None
        try:
            return Ed25519PublicKey.from_public_bytes(base64.b64decode(row.public_key))
        except (binascii.Error, ValueError):
            return None

    def _first_use(self, nonce: str, now: float) -> bool:
        """Record the nonce; False when any worker recorded it before (the primary key says so)."""
        try:
            with self.engine.begin() as connection:
                connection.execute(insert(_NONCES), dict(key=nonce, seen_at=datetime.fromtimestamp(now, timezone.utc)))
        except IntegrityError:
            return False
        return True


def add_device(engine: Engine, device: str, key_file: Path, hall: str = "") -> None:
    """Register a kiosk: a new key pair, the public half stored, the private half written 0600."""
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    with session(engine) as db:
        if db.get(KioskDevice, device) is not None:
            raise ValueError(f"kiosk device {device} already exists")
        key_file.parent.mkdir(parents=True, exist_ok=True)
        # Created 0600 from the start (never readable by others, not even briefly), and never over another file.
        descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as out:
            out.write(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
        db.add(KioskDevice(id=device, public_key=base64.b64encode(public).decode(), hall=hall))
        db.commit()
