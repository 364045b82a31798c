"""Kiosk devices and the card reads they sign.

A hall kiosk PC holds its own Ed25519 private key; the server keeps only the public half
(``KioskDevice``). When a customer puts their card in, the kiosk signs the read:

    xiaodian-card-read/1 \\n device id \\n 户号 \\n unix seconds \\n nonce

An API request's account counts as a card read only with a valid signature from an
enabled device, issued within ``CARD_WINDOW`` of now, with a nonce not seen before: a
captured read cannot be replayed, nor its 户号 swapped.
"""

from __future__ import annotations

import base64
import binascii
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat
from sqlalchemy.engine import Engine

from knowledge_base.db import session
from knowledge_base.models import KioskDevice

CARD_WINDOW_S = 60  # a read is good this long either side of the server's clock
_NONCES_KEPT = 100_000


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
    """Checks signed card reads; remembers recent nonces so a read counts once.

    The nonces live in this process: with several workers, run the kiosks' traffic through
    one worker (or shorten CARD_WINDOW_S), since a read replayed to another worker inside
    the window would count there once more.
    """

    def __init__(self, engine: Engine, clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.clock = clock
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

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
        with self._lock:
            if len(self._seen) > _NONCES_KEPT:  # only reads inside the window can still be replayed
                self._seen = {n: t for n, t in self._seen.items() if t > now - 2 * CARD_WINDOW_S}
            if nonce in self._seen:
                return False
            self._seen[nonce] = now
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
