"""Handoff tickets: one open ticket per conversation, and a bound on how many one address may open.

Tried as an attacker would, anonymous clients opened 458 tickets in 30 s and buried the
staff queue, and one kiosk conversation opened a second ticket when a customer who had
already been handed over said 转人工 again. So:

- A conversation with an open (waiting or claimed) ticket updates that ticket: the latest
  transcript and summary, and a raised priority when the new reason is more urgent (an
  emergency). The customer is told they are already in the queue.
- A client address (``HandoffTicket.client``) may open ``max_per_client_hour`` tickets an
  hour; beyond that 小电 politely points to 95598 and the counter instead.
- An emergency is never refused. Beyond the limit, the address's open emergency ticket
  (if any) collects the new report, so a flood still makes one urgent card, not hundreds.

Staff see where the call came from (``HandoffTicket.origin``): the hall and kiosk whose screen
follows the conversation (``KioskScreen``, ``KioskDevice``), or the caller's masked number,
which the phone line keeps as the client ("tel:138****5678").
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlmodel import Session, col, func, select

from assistant.dialogue import Channel, HandoffReason, OpenHandoff, SessionState
from knowledge_base.models import HandoffTicket, KioskDevice, KioskScreen

OPEN_STATUSES = ("waiting", "claimed")
ALREADY_QUEUED_TEXT = "您已经在排队了，工作人员会按顺序接待您。请您稍等，不要走开。"
PHONE_CLIENT_PREFIX = "tel:"  # the phone line's client: "tel:" and the masked caller number
REFUSED_TEXT = "现在转人工的客户比较多，这里暂时不能再为您排队了。您可以拨打95598，或者到营业厅柜台办理。"
# One merged ticket keeps at most this many turns, so a flood of reports cannot grow it without end.
MAX_MERGED_TURNS = 200


class TicketOutcome(StrEnum):
    OPENED = "opened"  # a new ticket
    UPDATED = "updated"  # this conversation's open ticket, refreshed
    MERGED = "merged"  # an emergency beyond the limit, added to the address's open emergency ticket
    REFUSED = "refused"  # beyond the limit, not an emergency: no ticket


@dataclass(frozen=True, slots=True)
class HandoffResult:
    outcome: TicketOutcome
    ticket: HandoffTicket | None
    # What the customer is told instead of the policy's handoff reply, when that is different.
    say_instead: str | None = None


class HandoffDesk:
    """Opens, updates or refuses handoff tickets inside the turn's transaction."""

    def __init__(self, max_per_client_hour: int = 5) -> None:
        self.max_per_client_hour = max_per_client_hour

    def hand_off(self, db: Session, state: SessionState, effect: OpenHandoff, now: datetime) -> HandoffResult:
        transcript = [turn.as_json() for turn in state.transcript]  # ends with the handoff reply
        own = _open_ticket(db, HandoffTicket.session_id == state.id)
        if own is not None:
            own.origin = own.origin or origin_of(db, state)  # a kiosk's screen may follow it only by now
            if effect.reason == HandoffReason.EMERGENCY:  # the safety advice stands, and staff are told
                return HandoffResult(TicketOutcome.UPDATED, _refresh(db, own, effect, transcript))
            transcript = _said_instead(transcript, ALREADY_QUEUED_TEXT)
            return HandoffResult(TicketOutcome.UPDATED, _refresh(db, own, effect, transcript), ALREADY_QUEUED_TEXT)
        if self._within_limit(db, state.client, now):
            return HandoffResult(TicketOutcome.OPENED, _new_ticket(db, state, effect, transcript))
        if effect.reason != HandoffReason.EMERGENCY:
            return HandoffResult(TicketOutcome.REFUSED, None, REFUSED_TEXT)
        urgent = _open_ticket(db, HandoffTicket.client == state.client,
                              HandoffTicket.reason == HandoffReason.EMERGENCY.value)
        if urgent is None:  # never refused: the first one beyond the limit still opens
            return HandoffResult(TicketOutcome.OPENED, _new_ticket(db, state, effect, transcript))
        merged = [*urgent.transcript, {"speaker": "system", "text": "同一地址又有客户报告了紧急情况："}, *transcript]
        return HandoffResult(TicketOutcome.MERGED, _refresh(db, urgent, effect, merged[-MAX_MERGED_TURNS:]))

    def _within_limit(self, db: Session, client: str, now: datetime) -> bool:
        if not client:  # local use (the CLI): nobody to bound
            return True
        opened = db.exec(select(func.count()).select_from(HandoffTicket).where(
            HandoffTicket.client == client, col(HandoffTicket.created_at) >= now - timedelta(hours=1))).one()
        return opened < self.max_per_client_hour


def _open_ticket(db: Session, *conditions: Any) -> HandoffTicket | None:
    return db.exec(select(HandoffTicket).where(col(HandoffTicket.status).in_(OPEN_STATUSES), *conditions)
                   .order_by(col(HandoffTicket.id).desc())).first()


def _new_ticket(db: Session, state: SessionState, effect: OpenHandoff, transcript: list[dict[str, Any]]) -> HandoffTicket:
    ticket = HandoffTicket(session_id=state.id, reason=effect.reason.value, priority=effect.priority,
                           client=state.client, account_number=state.account, channel=state.channel.value,
                           summary=effect.summary, transcript=transcript, origin=origin_of(db, state))
    db.add(ticket)
    db.flush()
    return ticket


def _refresh(db: Session, ticket: HandoffTicket, effect: OpenHandoff, transcript: list[dict[str, Any]]) -> HandoffTicket:
    """The latest words; the more urgent reason wins, and so does its summary (an emergency followed
    by 转人工 must still read as the emergency). A new version, so staff screens update."""
    if effect.priority < ticket.priority or effect.reason.value == ticket.reason:
        ticket.priority, ticket.reason, ticket.summary = effect.priority, effect.reason.value, effect.summary
    ticket.transcript = transcript
    ticket.version += 1
    db.add(ticket)
    db.flush()
    return ticket


def _said_instead(transcript: list[dict[str, Any]], text: str) -> list[dict[str, Any]]:
    """The transcript with 小电's last line replaced by what was actually said."""
    if transcript and transcript[-1].get("speaker") == "assistant":
        return [*transcript[:-1], {**transcript[-1], "text": text}]
    return transcript


def phone_origin(client: str) -> str:
    """"电话 138****5678" for the phone line's client; "" for anything else."""
    return f"电话 {client[len(PHONE_CLIENT_PREFIX):]}" if client.startswith(PHONE_CLIENT_PREFIX) else ""


def kiosk_origins(db: Session, session_ids: Collection[str]) -> dict[str, str]:
    """Session id → "江都营业厅 · 自助机 jd-01", for the registered kiosks whose screens follow these
    conversations. A kiosk page with no device loop (or card read) behind it is not among them."""
    if not session_ids:
        return {}
    rows = db.exec(select(KioskScreen.session_id, KioskScreen.device, KioskDevice.hall)
                   .join(KioskDevice, col(KioskDevice.id) == col(KioskScreen.device), isouter=True)
                   .where(col(KioskScreen.session_id).in_(list(session_ids)))).all()
    return {session_id: f"{hall} · 自助机 {device}" if hall else f"自助机 {device}"
            for session_id, device, hall in rows}


def origin_of(db: Session, state: SessionState) -> str:
    """Where the conversation is taking place, as staff say it: "江都营业厅 · 自助机 jd-01", "电话 138****5678"."""
    if state.client.startswith(PHONE_CLIENT_PREFIX):
        return phone_origin(state.client)
    if state.channel != Channel.KIOSK:
        return ""
    return kiosk_origins(db, [state.id]).get(state.id, "")
