"""Rectification items (整改): a finding with a category, an owner, a deadline and a status, and
its effect checked against the metric it was meant to move: how often its utterances went
unanswered per 1000 turns, in the days before the item was opened and since."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from assistant.quality.rollup import service_day
from assistant.quality.unanswered import unanswered_count
from knowledge_base.db import session
from knowledge_base.models import QualityDay, Rectification, utc_now

CATEGORIES = {"knowledge": "知识库", "recognition": "语音识别", "dialogue": "对话流程", "service": "服务态度",
              "compliance": "合规"}
STATUSES = {"open": "待处理", "doing": "处理中", "done": "已完成", "verified": "已见效"}
BASELINE_DAYS = 7


class RectificationError(ValueError):
    """An item that cannot be saved; the message is for the reviewer."""


@dataclass(frozen=True)
class Effect:
    before_per_1000: float | None  # unanswered per 1000 turns in the baseline days
    after_per_1000: float | None  # since the item was opened
    improved: bool | None


@dataclass(frozen=True)
class ItemView:
    item: Rectification
    overdue: bool
    effect: Effect


def _turns(engine: Engine, first: date, last: date) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.coalesce(func.sum(QualityDay.turns), 0))
                                      .where(QualityDay.day >= first, QualityDay.day <= last)).scalar_one())


def effect_of(engine: Engine, item: Rectification, today: date) -> Effect:
    opened = service_day(item.created_at)
    before_first, before_last = opened - timedelta(days=BASELINE_DAYS), opened - timedelta(days=1)

    def rate(first: date, last: date) -> float | None:
        turns = _turns(engine, first, last)
        return round(1000 * unanswered_count(engine, item.utterances, first, last) / turns, 2) if turns else None

    before, after = rate(before_first, before_last), rate(opened, today)
    improved = None if before is None or after is None else after < before
    return Effect(before, after, improved)


def _check(category: str, owner: str, title: str, status: str) -> None:
    if category not in CATEGORIES:
        raise RectificationError("请选一个问题类别。")
    if status not in STATUSES:
        raise RectificationError("状态不对。")
    if not owner.strip() or not title.strip():
        raise RectificationError("请填写问题和负责人。")


def create_item(engine: Engine, title: str, category: str, owner: str, deadline: date, source: str = "",
                utterances: list[str] | None = None, note: str = "") -> Rectification:
    _check(category, owner, title, "open")
    item = Rectification(title=title.strip()[:200], category=category, owner=owner.strip()[:64], deadline=deadline,
                         source=source[:100], utterances=list(utterances or [])[:200], note=note[:2000])
    with session(engine) as db:
        db.add(item)
        db.commit()
        db.refresh(item)
    return item


def update_item(engine: Engine, item_id: int, status: str, owner: str | None = None, deadline: date | None = None,
                note: str | None = None) -> Rectification:
    with session(engine) as db:
        item = db.get(Rectification, item_id)
        if item is None:
            raise RectificationError("没有这一条整改。")
        _check(item.category, owner or item.owner, item.title, status)
        item.status = status
        item.owner = (owner or item.owner).strip()[:64]
        item.deadline = deadline or item.deadline
        item.note = item.note if note is None else note[:2000]
        item.updated_at = utc_now()
        db.add(item)
        db.commit()
        db.refresh(item)
        return item


def list_items(engine: Engine, today: date, open_only: bool = False) -> list[ItemView]:
    """Overdue first, then by deadline."""
    with session(engine) as db:
        statement = select(Rectification)
        if open_only:
            statement = statement.where(col(Rectification.status).in_(("open", "doing")))
        items = list(db.exec(statement))
    views = [ItemView(i, i.status in ("open", "doing") and i.deadline < today, effect_of(engine, i, today))
             for i in items]
    views.sort(key=lambda v: (not v.overdue, v.item.deadline, v.item.id or 0))
    return views
