"""Intents as stored: finding them, writing them only over the version a form was loaded with, the audit trail."""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException
from sqlalchemy import update
from sqlmodel import Session, col, select

from intents import normalize
from intents.ids import ESSENTIAL
from knowledge_base.intent_schema import FIELD_LABELS
from knowledge_base.models import AuditLog, Intent, utc_now
from server.admin.schemas import AuditChange, AuditEntry, IntentSummary, IntentView
from server.deps import as_utc

STALE_MESSAGE = "这个意图刚被别人改过，请刷新后再改。"
ACTION_LABELS = {"create": "新建", "update": "修改", "disable": "停用", "enable": "启用", "import": "导入",
                 "claim": "接手", "note": "备注", "close": "结束", "password": "改密码"}
ENTITY_LABELS = {"intent": "意图", "handoff_ticket": "转人工工单", "user": "账号"}


def intent_record(row: Intent) -> dict[str, Any]:
    """An intent as the audit trail keeps it (JSON-ready)."""
    return {
        "id": row.id, "title": row.title, "description": row.description,
        "examples": list(row.examples), "keywords": list(row.keywords),
        "answer_display": row.answer_display, "answer_spoken": row.answer_spoken,
        "answer_account_display": row.answer_account_display, "answer_account_spoken": row.answer_account_spoken,
        "action": row.action, "needs_account": row.needs_account, "enabled": row.enabled,
        "origin": row.origin, "version": row.version,
    }


def intent_view(row: Intent) -> IntentView:
    return IntentView(**intent_record(row), essential=row.id in ESSENTIAL,
                      updated_at=as_utc(row.updated_at))


def intent_summary(row: Intent) -> IntentSummary:
    return IntentSummary(id=row.id, title=row.title, enabled=row.enabled, origin=row.origin, version=row.version,
                         example_count=len(row.examples), updated_at=as_utc(row.updated_at))


def search_intents(db: Session, query: str) -> list[Intent]:
    """By id, title or example text (also after normalisation, so 繁体 and spaces still find it)."""
    rows = list(db.exec(select(Intent).order_by(Intent.id)))
    needle = query.strip().casefold()
    if not needle:
        return rows
    key = normalize(needle)
    return [
        row for row in rows
        if needle in row.id or needle in row.title.casefold()
        or any(needle in e.casefold() or (key and key in normalize(e)) for e in row.examples)
    ]


def get_intent_or_404(db: Session, intent_id: str) -> Intent:
    row = db.get(Intent, intent_id)
    if row is None:
        raise HTTPException(status_code=404, detail=f"没有意图 {intent_id}。")
    return row


def compare_and_set(db: Session, row: Intent, version: int, values: dict[str, Any]) -> None:
    """Write only if the row is still at ``version``: two admins never overwrite each other unseen."""
    result = db.exec(
        update(Intent)
        .where(col(Intent.id) == row.id, col(Intent.version) == version)
        .values(**values, origin="admin", version=Intent.version + 1, updated_at=utc_now())
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        db.rollback()
        raise HTTPException(status_code=409, detail=STALE_MESSAGE)
    db.refresh(row)


def _changes(before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[AuditChange]:
    before, after = before or {}, after or {}
    fields = [f for f in dict.fromkeys([*before, *after]) if f not in ("version", "id")]
    return [AuditChange(field=f, label=FIELD_LABELS.get(f, f), before=before.get(f), after=after.get(f))
            for f in fields if before.get(f) != after.get(f)]


def audit_entries(db: Session, entity_id: str | None, limit: int) -> list[AuditEntry]:
    statement = select(AuditLog).order_by(col(AuditLog.id).desc()).limit(limit)
    if entity_id:
        statement = statement.where(AuditLog.entity_id == entity_id)
    return [
        AuditEntry(id=row.id or 0, at=as_utc(row.at), actor=row.actor, entity=row.entity,
                   entity_id=row.entity_id, action=row.action, changes=_changes(row.before, row.after))
        for row in db.exec(statement)
    ]
