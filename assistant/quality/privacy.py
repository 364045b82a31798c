"""What reviewers see: phone numbers as 138****5678 and account holders' names as 张*华."""

from __future__ import annotations

import hashlib

from sqlalchemy.engine import Engine
from sqlmodel import select

from assistant.answers import mask_name
from assistant.sms import mask_phones_in
from knowledge_base.db import session
from knowledge_base.models import Account


def holder_names(engine: Engine, accounts: set[str]) -> dict[str, str]:
    if not accounts:
        return {}
    with session(engine) as db:
        return {number: holder for number, holder in db.exec(
            select(Account.number, Account.holder).where(Account.number.in_(accounts)))}  # type: ignore[attr-defined]


def masked(text: str, names: list[str] = ()) -> str:  # type: ignore[assignment]
    """Phones masked wherever they are; each known holder's full name replaced by its masked form."""
    text = mask_phones_in(text)
    for name in names:
        if len(name) >= 2:
            text = text.replace(name, mask_name(name))
    return text


def conversation_ref(session_id: str) -> str:
    """What reviewers see of a conversation's session id. The session id is the bearer credential of a
    (possibly verified) live conversation, so reviewers get a one-way digest of it: the same for every
    export of the day, useless as a session id (finding 1 of the red-team report)."""
    return hashlib.sha256(session_id.encode()).hexdigest()[:12]


# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(cell: object) -> object:
    """A CSV cell as Excel will show it, never run it: text starting like a formula gets a leading '."""
    if isinstance(cell, str) and cell.startswith(_FORMULA_STARTS):
        return "'" + cell
    return cell
