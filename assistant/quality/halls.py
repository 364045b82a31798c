"""Which service hall a conversation takes place at (issue 15: the quality figures per hall).

Only a registered kiosk device says so, through a request it signed: its screen updates (screen key)
and its card reads (per-read signature). The device's hall is the one an admin registered for it
(``KioskDevice.hall``); nothing a page or a customer sends names a hall, so per-hall figures cannot be
forged. The device loop asks ``/ws/converse`` for its first answer before it can show that answer's
session on its screen, so a conversation's first turns may be logged before the device binds it: the
bind gives those turns their hall too, and moves what the quality rollup had already counted of them,
all in one transaction with the rollup's cursor held (``rollup.lock_cursor``), so no turn is counted
twice or under the wrong hall.

A conversation keeps the first hall it is bound to; a phone call never gets one.
"""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import update
from sqlalchemy.engine import Engine

from assistant.dialogue import Channel
from assistant.quality import rollup
from assistant.sessions import SessionConflict, SessionStore
from knowledge_base.db import session
from knowledge_base.models import KioskDevice, TurnLog

ATTEMPTS = 3
_turn_table = TurnLog.__table__  # type: ignore[attr-defined]


def device_hall(engine: Engine, device: str) -> str:
    """The hall registered for this (enabled) kiosk device; "" when none is."""
    with session(engine) as db:
        row = db.get(KioskDevice, device)
        return row.hall[:64] if row is not None and not row.disabled else ""


def bind_hall(engine: Engine, session_id: str, hall: str) -> bool:
    """The conversation ``session_id`` takes place at ``hall`` (the caller has checked the device's
    signature). Its later turns are logged with the hall, its earlier ones get it now. Returns whether
    the conversation is at ``hall`` afterwards."""
    if not session_id or not hall:
        return False
    store = SessionStore(engine)
    for _ in range(ATTEMPTS):
        with engine.connect() as connection:
            stored = store.load(connection, session_id)
            if stored is None or stored.state.channel == Channel.PHONE or stored.state.hall:
                connection.rollback()
                return stored is not None and stored.state.hall == hall
            counted = rollup.lock_cursor(connection)  # first: held until the commit below
            # The device is a kiosk: a conversation its loop started over the WebSocket counts as one.
            state = replace(stored.state, hall=hall, channel=Channel.KIOSK)
            try:
                store.save(connection, stored, state)
            except SessionConflict:  # a turn was saved meanwhile: bind its state instead
                connection.rollback()
                continue
            rollup.move_to_hall(connection, session_id, hall, counted)
            connection.execute(update(_turn_table).where(_turn_table.c.session_id == session_id,
                                                         _turn_table.c.hall == "")
                               .values(hall=hall, channel=Channel.KIOSK.value))
            connection.commit()
            return True
    return False
