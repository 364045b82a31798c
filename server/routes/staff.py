"""Staff console: the live queue of handed-off conversations; claim, note, close.

The queue is emergencies first (priority ascending), then whoever has
waited longest, read a page at a time (``?limit=&offset=``, at most
``MAX_PAGE``) with the counts of the whole queue. The page keeps itself
current through Server-Sent Events: a "queue" event with the first page,
then, every ``settings.staff_poll_s`` seconds that something changed, a
"changes" event with only the tickets added or changed on that page (by
version) and the ids that left it, so tickets created by any request or
process show up within about a second. (The stream used to resend the whole
queue on every change: with a flooded queue, 31 MB each time.)

A ticket reads in words (issue 13): intents by their Chinese titles, and where the call came
from (``origin``: the hall and kiosk, or "电话 138****5678").

Claiming is a compare-and-set on the ticket's status, so of two staff who
press 接手 at the same moment exactly one gets it and the other is told who
did (409). Pages live under /staff, the API under /api/staff; staff and
admins may use them (admins supervise the queue and stand in for staff).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from fastapi.sse import EventSourceResponse, ServerSentEvent
from pydantic import BaseModel, Field
from sqlalchemy import case, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from assistant.accounts import record_audit
from assistant.handoffs import kiosk_origins, phone_origin
from knowledge_base.db import session
from knowledge_base.models import HandoffTicket, Intent, service_tz, utc_now
from server.deps import DbSession, EngineDep, SettingsDep, as_utc
from server.login import SESSION_COOKIE, Login, StaffLogin, csrf_protect, load_login, require_staff
from server.pages import render

STATUS_LABELS = {"waiting": "等待接手", "claimed": "处理中", "closed": "已结束"}
REASON_LABELS = {"asked": "客户要求转人工", "misses": "连续没听懂", "emergency": "紧急情况",
                 "complaint": "投诉", "fraud": "疑似诈骗", "account": "查不到户号",
                 "verify": "身份核实没通过", "limit": "查的户号太多"}
PRIORITY_LABELS = {0: "紧急", 1: "优先", 2: "普通"}
CHANNEL_LABELS = {"kiosk": "营业厅自助机", "phone": "电话", "web": "网页", "cli": "命令行"}
SPEAKER_LABELS = {"customer": "客户", "user": "客户", "caller": "客户",
                  "assistant": "小电", "bot": "小电", "system": "小电", "staff": "客服"}
# What the matcher says when nothing matched, in words (every real intent has its title in the Intent table).
NO_INTENT_TITLES = {"none": "没听懂", "out_of_scope": "不在服务范围"}
# A note is appended under a read version; this many tries survive notes added at the same moment.
NOTE_RETRIES = 5


class TurnView(BaseModel):
    speaker: str
    text: str
    intent: str | None = None
    intent_title: str | None = Field(default=None, description="意图的中文标题，给客服看")
    confidence: float | None = None
    at: str | None = None


class TicketView(BaseModel):
    id: int
    status: str
    status_label: str
    reason: str
    reason_label: str
    priority: int
    priority_label: str
    account_number: str | None
    channel: str
    channel_label: str
    origin: str = Field(description="从哪里来：营业厅和自助机，或来电号码（已遮住中间四位）；不知道时为空")
    summary: str
    transcript: list[TurnView]
    claimed_by: str | None
    note: str
    created_at: datetime
    claimed_at: datetime | None
    closed_at: datetime | None
    version: int


# The queue is read a page at a time; the console shows the first page (emergencies come first).
PAGE = 50
MAX_PAGE = 200


class QueueCounts(BaseModel):
    total: int = Field(description="排队和处理中的工单总数")
    waiting: int = Field(description="等待接手的")
    urgent: int = Field(description="等待接手的紧急工单")


class QueueSnapshot(QueueCounts):
    tickets: list[TicketView]
    next_offset: int | None = Field(description="下一页从这里开始；没有下一页时为空")
    # Wait times are counted in the browser from created_at; this corrects its clock.
    server_time: datetime


class QueueChanges(QueueCounts):
    """What changed on the first page since the last event: sorted by the browser like the queue."""

    tickets: list[TicketView] = Field(description="新来的或有变化的工单")
    removed: list[int] = Field(description="离开第一页的工单（结束了，或被更紧急的挤下去了）")
    server_time: datetime


class NoteBody(BaseModel):
    text: str = Field(max_length=2000)


def _confidence(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def intent_titles(db: Session) -> dict[str, str]:
    """Intent id → its Chinese title, for staff, who should never have to read ids like query_bill."""
    return {**NO_INTENT_TITLES, **dict(db.exec(select(Intent.id, Intent.title)).all())}


def transcript_turns(transcript: list[Any], titles: dict[str, str] | None = None) -> list[TurnView]:
    """The ticket's transcript as lines to read.

    The conversation writes one dict per turn: ``role`` (customer or
    assistant) and ``text``, or the customer's ``text`` with 小电's ``reply``;
    ``intent``, ``confidence`` and ``at`` when known. Anything else is shown
    as text rather than hidden.
    """
    turns = []
    for item in transcript:
        if not isinstance(item, dict):
            turns.append(TurnView(speaker="", text=str(item)))
            continue
        role = item.get("role") or item.get("speaker") or "customer"
        at = str(item["at"]) if item.get("at") else None
        intent = item.get("intent")
        turns.append(TurnView(speaker=SPEAKER_LABELS.get(str(role), str(role)), text=str(item.get("text") or ""),
                              intent=str(intent) if intent else None,
                              intent_title=(titles or {}).get(str(intent), str(intent)) if intent else None,
                              confidence=_confidence(item.get("confidence")), at=at))
        if item.get("reply"):
            turns.append(TurnView(speaker="小电", text=str(item["reply"]), at=at))
    return turns


def ticket_view(row: HandoffTicket, titles: dict[str, str] | None = None, kiosk: str = "") -> TicketView:
    """``kiosk``: where the kiosk ticket's conversation is now, when the ticket did not know yet."""
    assert row.id is not None
    return TicketView(
        id=row.id, status=row.status, status_label=STATUS_LABELS.get(row.status, row.status),
        reason=row.reason, reason_label=REASON_LABELS.get(row.reason, row.reason),
        priority=row.priority, priority_label=PRIORITY_LABELS.get(row.priority, str(row.priority)),
        account_number=row.account_number, channel=row.channel,
        channel_label=CHANNEL_LABELS.get(row.channel, row.channel), summary=row.summary,
        origin=row.origin or phone_origin(row.client) or kiosk,
        transcript=transcript_turns(row.transcript, titles), claimed_by=row.claimed_by, note=row.note,
        created_at=as_utc(row.created_at),
        claimed_at=as_utc(row.claimed_at) if row.claimed_at else None,
        closed_at=as_utc(row.closed_at) if row.closed_at else None,
        version=row.version,
    )


_OPEN = col(HandoffTicket.status).in_(("waiting", "claimed"))
_QUEUE_ORDER = (col(HandoffTicket.priority), col(HandoffTicket.created_at), col(HandoffTicket.id))


def _counts(db: Session) -> QueueCounts:
    waiting = HandoffTicket.status == "waiting"
    total, waiting_count, urgent = db.exec(select(
        func.count(), func.coalesce(func.sum(case((waiting, 1), else_=0)), 0),
        func.coalesce(func.sum(case(((waiting) & (HandoffTicket.priority == 0), 1), else_=0)), 0),
    ).where(_OPEN)).one()
    return QueueCounts(total=total, waiting=waiting_count, urgent=urgent)


def _kiosks(db: Session, rows: Sequence[HandoffTicket]) -> dict[str, str]:
    """Where kiosk tickets opened by a device loop's first turn are: its screen follows the
    conversation only from the reply on, after the ticket was written."""
    return kiosk_origins(db, [row.session_id for row in rows if row.channel == "kiosk" and not row.origin])


def load_queue(engine: Engine, limit: int = PAGE, offset: int = 0) -> QueueSnapshot:
    """A page of the waiting and claimed tickets (emergencies first, then the longest wait), and the counts."""
    with session(engine) as db:
        counts = _counts(db)
        rows = db.exec(select(HandoffTicket).where(_OPEN).order_by(*_QUEUE_ORDER).offset(offset).limit(limit)).all()
        titles, kiosks = intent_titles(db), _kiosks(db, rows)
    following = offset + len(rows)
    return QueueSnapshot(**counts.model_dump(),
                         tickets=[ticket_view(row, titles, kiosks.get(row.session_id, "")) for row in rows],
                         next_offset=following if following < counts.total else None, server_time=utc_now())


@dataclass(frozen=True, slots=True)
class QueueWatch:
    """What a stream last sent: the first page's ticket versions and the counts."""

    versions: dict[int, int]
    counts: QueueCounts


def queue_changes(engine: Engine, seen: QueueWatch) -> tuple[QueueChanges | None, QueueWatch]:
    """The first page's changes since ``seen`` (None when nothing changed), read cheaply: ids and
    versions first, whole tickets only for those that are new or changed."""
    with session(engine) as db:
        counts = _counts(db)
        versions = dict(db.exec(select(HandoffTicket.id, HandoffTicket.version).where(_OPEN)
                                .order_by(*_QUEUE_ORDER).limit(PAGE)).all())
        fresh = [ticket_id for ticket_id, version in versions.items() if seen.versions.get(ticket_id) != version]
        rows = db.exec(select(HandoffTicket).where(col(HandoffTicket.id).in_(fresh))).all() if fresh else []
        titles, kiosks = (intent_titles(db), _kiosks(db, rows)) if rows else ({}, {})
    removed = [ticket_id for ticket_id in seen.versions if ticket_id not in versions]
    watch = QueueWatch(versions, counts)
    if not fresh and not removed and counts == seen.counts:
        return None, watch
    return QueueChanges(**counts.model_dump(), removed=removed,
                        tickets=[ticket_view(row, titles, kiosks.get(row.session_id, "")) for row in rows],
                        server_time=utc_now()), watch


def _view(db: Session, row: HandoffTicket) -> TicketView:
    """One ticket as the console shows it (after a claim, note or close the page redraws it from this)."""
    return ticket_view(row, intent_titles(db), _kiosks(db, [row]).get(row.session_id, ""))


def _ticket_record(row: HandoffTicket) -> dict[str, Any]:
    return {"status": row.status, "claimed_by": row.claimed_by, "note": row.note}


def _get_ticket(db: Session, ticket_id: int) -> HandoffTicket:
    row = db.get(HandoffTicket, ticket_id)
    if row is None:
        raise HTTPException(status_code=404, detail=f"没有 {ticket_id} 号工单。")
    return row


def _note_line(login: Login, text: str, closing: bool = False) -> str:
    stamp = utc_now().astimezone(service_tz()).strftime("%m-%d %H:%M")
    return f"{stamp} {login.name}{'（结束）' if closing else ''}：{text}"


def _appended(note: str, line: str) -> str:
    return f"{note}\n{line}" if note else line


def _clean_note(text: str, required_message: str) -> str:
    text = text.strip()
    if not text:
        raise HTTPException(status_code=422, detail=[{"loc": ["body", "text"], "msg": required_message,
                                                      "type": "value_error"}])
    return text


# --- Routes ---------------------------------------------------------------------------

pages = APIRouter(prefix="/staff", include_in_schema=False)
api = APIRouter(prefix="/api/staff", tags=["客服"], dependencies=[Depends(require_staff), Depends(csrf_protect)])


@pages.get("")
def queue_page(request: Request, login: StaffLogin, engine: EngineDep) -> Response:
    return render(request, "staff/queue.html", {"queue": load_queue(engine).model_dump(mode="json")}, login=login)


@api.get("/tickets", response_model=QueueSnapshot)
def queue(engine: EngineDep, limit: int = Query(default=PAGE, ge=1, le=MAX_PAGE),
          offset: int = Query(default=0, ge=0)) -> QueueSnapshot:
    """A page of the queue, emergencies first; ``next_offset`` asks for the next page."""
    return load_queue(engine, limit, offset)


@api.get("/tickets/{ticket_id}", response_model=TicketView)
def get_ticket(ticket_id: int, db: DbSession) -> TicketView:
    return _view(db, _get_ticket(db, ticket_id))


@api.post("/tickets/{ticket_id}/claim", response_model=TicketView)
def claim_ticket(ticket_id: int, login: StaffLogin, db: DbSession) -> TicketView:
    """Take a waiting ticket. Only one claim can succeed: the update requires status "waiting"."""
    result = db.exec(
        update(HandoffTicket)
        .where(col(HandoffTicket.id) == ticket_id, col(HandoffTicket.status) == "waiting")
        .values(status="claimed", claimed_by=login.name, claimed_at=utc_now(), version=HandoffTicket.version + 1)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        db.rollback()
        row = _get_ticket(db, ticket_id)
        if row.status == "claimed" and row.claimed_by == login.name:
            return _view(db, row)  # pressed twice: still yours
        if row.status == "claimed":
            raise HTTPException(status_code=409, detail=f"已被{row.claimed_by}接手。")
        raise HTTPException(status_code=409, detail="这个工单已经结束了。")
    row = _get_ticket(db, ticket_id)
    record_audit(db, login.name, "handoff_ticket", str(ticket_id), "claim",
                 {"status": "waiting", "claimed_by": None, "note": row.note}, _ticket_record(row))
    db.commit()
    return _view(db, row)


def _change_ticket(db: Session, ticket_id: int, login: Login, text: str, closing: bool) -> HandoffTicket:
    """Append a note (and close, when asked) under compare-and-set on the version."""
    for _ in range(NOTE_RETRIES):
        row = _get_ticket(db, ticket_id)
        if row.status == "closed":
            raise HTTPException(status_code=409, detail="这个工单已经结束了。")
        if closing and row.status != "claimed":
            raise HTTPException(status_code=409, detail="请先接手这个工单，再结束它。")
        if closing and row.claimed_by != login.name and login.role != "admin":
            raise HTTPException(status_code=409, detail=f"已被{row.claimed_by}接手，只有接手的人能结束。")
        before = _ticket_record(row)
        values: dict[str, Any] = {"note": _appended(row.note, _note_line(login, text, closing))}
        if closing:
            values.update(status="closed", closed_at=utc_now())
        result = db.exec(
            update(HandoffTicket)
            .where(col(HandoffTicket.id) == ticket_id, col(HandoffTicket.version) == row.version)
            .values(**values, version=HandoffTicket.version + 1)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:
            db.refresh(row)
            record_audit(db, login.name, "handoff_ticket", str(ticket_id), "close" if closing else "note",
                         before, _ticket_record(row))
            db.commit()
            return row
        db.rollback()
    raise HTTPException(status_code=409, detail="工单正在被别人修改，请稍后再试。")


@api.post("/tickets/{ticket_id}/note", response_model=TicketView)
def add_note(ticket_id: int, body: NoteBody, login: StaffLogin, db: DbSession) -> TicketView:
    text = _clean_note(body.text, "请写下备注内容。")
    return _view(db, _change_ticket(db, ticket_id, login, text, closing=False))


@api.post("/tickets/{ticket_id}/close", response_model=TicketView)
def close_ticket(ticket_id: int, body: NoteBody, login: StaffLogin, db: DbSession) -> TicketView:
    """Close with a note of how it ended (required: the next person to read it needs it)."""
    text = _clean_note(body.text, "结束前请写一句处理结果。")
    return _view(db, _change_ticket(db, ticket_id, login, text, closing=True))


@api.get("/events", response_class=EventSourceResponse)
async def queue_events(request: Request, engine: EngineDep, settings: SettingsDep) -> AsyncIterable[ServerSentEvent]:
    """The queue's first page now ("queue"), then only what changed ("changes"); "logout" when the session ends."""
    token = request.cookies.get(SESSION_COOKIE, "")
    seen: QueueWatch | None = None
    while True:
        if await run_in_threadpool(load_login, engine, token) is None:
            yield ServerSentEvent(event="logout", data={"detail": "登录已过期，请重新登录。"})
            return
        if seen is None:
            snapshot = await run_in_threadpool(load_queue, engine)
            seen = QueueWatch({ticket.id: ticket.version for ticket in snapshot.tickets},
                              QueueCounts(total=snapshot.total, waiting=snapshot.waiting, urgent=snapshot.urgent))
            yield ServerSentEvent(event="queue", data=snapshot, retry=2000)
        else:
            changes, seen = await run_in_threadpool(queue_changes, engine, seen)
            if changes is not None:
                yield ServerSentEvent(event="changes", data=changes, retry=2000)
        await asyncio.sleep(settings.staff_poll_s)


router = APIRouter()
router.include_router(pages)
router.include_router(api)
