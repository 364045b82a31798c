"""Short payment links for reminder SMS: ``<public url>/r/<code>``, short enough for 70 characters.

The code is the outbox message's id (base 36) and an HMAC of it (8 characters), so nothing new
is stored and nobody can guess another customer's code. Opening it makes (or reuses) the
account's payment link for what is owed *then* and redirects there: a bill paid meanwhile is
not asked for again.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"
_MAC_CHARS = 8
LINK_DAYS = 14  # a reminder's link works this long after the reminder was queued


def _base36(number: int) -> str:
    text = ""
    while True:
        number, digit = divmod(number, 36)
        text = _DIGITS[digit] + text
        if number == 0:
            return text


def _mac(key: bytes, message_id: int) -> str:
    digest = hmac.new(key, f"xiaodian-reminder-link/1\n{message_id}".encode(), hashlib.sha256).digest()
    return base64.b32encode(digest).decode("ascii").lower()[:_MAC_CHARS]


def link_code(key: bytes, message_id: int) -> str:
    return _base36(message_id) + _mac(key, message_id)


def read_link_code(key: bytes, code: str) -> int | None:
    """The message id a code names, or None when it is not one of ours."""
    if not 1 + _MAC_CHARS <= len(code) <= 14 + _MAC_CHARS:
        return None
    head, mac = code[:-_MAC_CHARS], code[-_MAC_CHARS:]
    if any(char not in _DIGITS for char in head):
        return None
    message_id = int(head, 36)
    return message_id if hmac.compare_digest(mac, _mac(key, message_id)) else None


def link_url(base_url: str, key: bytes, message_id: int) -> str:
    return f"{base_url.rstrip('/')}/r/{link_code(key, message_id)}"
