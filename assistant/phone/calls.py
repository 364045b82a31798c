"""The call registry: who is calling (as the PBX vouches), what to say first, and how the call ended.

The dialplan registers a call before it connects the AudioSocket (``register_call``, through
``POST /api/phone/calls`` with the PBX's token), the reminders job registers its outbound calls
with ``first_words``, the gateway reads the row when the socket brings that UUID, and writes the
outcome (transfer to a staff queue, or hang up) before it closes the socket, so the dialplan
finds it at once with ``GET /api/phone/calls/<uuid>``. A UUID nobody registered is an anonymous
caller: the gateway makes its row itself, with no caller number.
"""

from __future__ import annotations

import re
import uuid as uuid_module
from dataclasses import dataclass
from typing import Any

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from knowledge_base.db import session
from knowledge_base.models import HandoffTicket, PhoneCall, utc_now

# What a caller-ID "number" may hold: digits, an optional leading +. Anything else (a name, "anonymous",
# an empty CALLERID) is no number at all, and the caller is served as anonymous.
_CALLER = re.compile(r"\+?[0-9]{3,20}")
MAX_FIRST_WORDS = 500  # a reminder is two or three sentences; this bounds what one row can make us say


class CallOutcome:
    """What the dialplan does once the socket closes."""

    TRANSFER = "transfer"
    HANGUP = "hangup"


def canonical_uuid(text: str) -> str:
    """``text`` as lowercase hyphenated UUID text; ValueError when it is not a UUID."""
    return str(uuid_module.UUID(text.strip()))


def clean_caller(caller: str) -> str:
    """The caller number as the identity rules compare it: digits only (a leading +86 dropped), or ""."""
    caller = caller.strip().replace(" ", "").replace("-", "")
    if not _CALLER.fullmatch(caller):
        return ""
    if caller.startswith("+86"):
        caller = caller[3:]
    elif caller.startswith("0086"):
        caller = caller[4:]
    return caller.lstrip("+")


def register_call(db: Session, call_uuid: str, caller: str, first_words: str = "") -> PhoneCall:
    """Register (or re-register: the PBX may retry) a call before its socket connects.

    Runs in the caller's transaction: it adds and flushes the row, the caller commits. A call whose
    socket has already connected keeps what it started with (nobody may claim a number mid-call).
    Raises ValueError when ``call_uuid`` is not a UUID.
    """
    key = canonical_uuid(call_uuid)
    call = db.get(PhoneCall, key)
    if call is None:
        call = PhoneCall(uuid=key)
    elif call.connected_at is not None:
        return call
    call.caller = clean_caller(caller)
    call.first_words = first_words.strip()[:MAX_FIRST_WORDS]
    db.add(call)
    db.flush()
    return call


@dataclass(frozen=True, slots=True)
class CallStart:
    """What the gateway needs when a socket brings a UUID."""

    uuid: str
    caller: str  # "" for an anonymous caller
    first_words: str


def connect_call(engine: Engine, call_uuid: str) -> CallStart:
    """The call's registration, marked connected; a row made now when nobody registered it (anonymous).

    A registration vouches for one socket only: a UUID is no secret (CDRs, Asterisk's logs), so a
    second socket that brings the UUID of a call already connected or ended is served as an
    anonymous caller, with no caller number and no first words, and the row is left as it was.
    The claim is one conditional UPDATE, so two sockets racing for the same UUID cannot both win.
    """
    with session(engine) as db:
        claimed = db.execute(update(PhoneCall).where(
            col(PhoneCall.uuid) == call_uuid, col(PhoneCall.connected_at).is_(None),
            col(PhoneCall.ended_at).is_(None)).values(connected_at=utc_now()))
        if claimed.rowcount == 1:  # type: ignore[attr-defined]
            db.commit()
            call = db.get(PhoneCall, call_uuid)
            assert call is not None
            return CallStart(call.uuid, call.caller, call.first_words)
        if db.get(PhoneCall, call_uuid) is not None:
            return CallStart(call_uuid, "", "")  # a replayed UUID
        db.add(PhoneCall(uuid=call_uuid, connected_at=utc_now()))
        try:
            db.commit()
        except IntegrityError:  # another socket made the row just now: this one is anonymous anyway
            db.rollback()
        return CallStart(call_uuid, "", "")


def end_call(engine: Engine, call_uuid: str, next_step: str, reason: str, queue: str = "",
             ticket_id: int | None = None, session_id: str = "") -> None:
    """Write how the call ended. A transfer already written is never turned back into a hangup."""
    with session(engine) as db:
        call = db.get(PhoneCall, call_uuid) or PhoneCall(uuid=call_uuid)
        if call.next == CallOutcome.TRANSFER and next_step != CallOutcome.TRANSFER:
            return
        call.next, call.end_reason, call.queue, call.ticket_id = next_step, reason[:32], queue, ticket_id
        call.session_id = session_id or call.session_id
        call.ended_at = utc_now()
        db.add(call)
        db.commit()


def outcome_json(call: PhoneCall, priority: int | None = None) -> dict[str, Any]:
    """The dialplan's answer: ``{"next": "transfer", "queue": ..., "ticket": ..., "priority": ...}`` or
    ``{"next": "hangup"}``. ``priority`` is the ticket's (0 emergency, 1 complaint or fraud, 2 other), so
    the PBX's queue can put an emergency first too.

    A call still running (or never connected) reads as hangup: the dialplan only asks once the socket
    has closed, and when in doubt the safe thing is not to ring a queue."""
    if call.next == CallOutcome.TRANSFER:
        return {"next": CallOutcome.TRANSFER, "queue": call.queue, "ticket": call.ticket_id,
                "priority": 2 if priority is None else priority}
    return {"next": CallOutcome.HANGUP}


def outcome_text(call: PhoneCall, priority: int | None = None) -> str:
    """The same for a dialplan without JSON functions: ``transfer,<queue>,<ticket>,<priority>`` or
    ``hangup`` (read with ``${CUT(...)}``)."""
    answer = outcome_json(call, priority)
    if answer["next"] == CallOutcome.TRANSFER:
        return f"transfer,{answer['queue']},{answer['ticket'] or ''},{answer['priority']}"
    return "hangup"


def load_outcome(engine: Engine, call_uuid: str) -> tuple[PhoneCall, int | None] | None:
    """The call and, for a transfer, its ticket's priority (read now: an emergency raised while queued counts)."""
    with session(engine) as db:
        call = db.get(PhoneCall, call_uuid)
        if call is None:
            return None
        ticket = db.get(HandoffTicket, call.ticket_id) if call.ticket_id is not None else None
        return call, ticket.priority if ticket is not None else None
