"""What the admin page shows and changes: the day's run, the outbox, the rules, and the measure that
matters: of the reminders about money sent each day, how many were followed by payment within 3 days."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from assistant.reminders.rules import FIGURES, MONEY_RULES
from assistant.reminders.texts import SMS_MAX_CHARS, MessageFacts, render, template_problems
from knowledge_base.models import AuditLog, Bill, ReminderMessage, ReminderRule, ReminderRun, ReminderRunChunk, service_tz, utc_now

_M = ReminderMessage.__table__.c  # type: ignore[attr-defined]
_B = Bill.__table__.c  # type: ignore[attr-defined]
PAID_WITHIN_DAYS = 3


@dataclass
class DayReport:
    day: date
    run: ReminderRun | None
    totals: dict[str, int]
    by_rule_channel: list[tuple[str, str, dict[str, int]]]  # rule, channel, status → count
    failed: int
    retrying: int


def day_report(engine: Engine, day: date) -> DayReport:
    with Session(engine) as db:
        run = db.exec(select(ReminderRun).where(col(ReminderRun.run_date) == day)  # type: ignore[call-overload]
                      .order_by(col(ReminderRun.id).desc()).limit(1)).scalars().first()
        totals: dict[str, int] = {}
        if run is not None:
            names = ("due", "queued", "skipped_quiet", "skipped_opt_out", "already_sent")
            row = db.exec(select(*(func.coalesce(func.sum(getattr(ReminderRunChunk, name)), 0) for name in names))  # type: ignore[call-overload]
                          .where(col(ReminderRunChunk.run_id) == run.id)).one()
            totals = dict(zip(names, (int(value) for value in row)))
            totals["chunks"], totals["chunks_done"] = run.chunks, db.exec(select(func.count()).where(  # type: ignore[call-overload]
                col(ReminderRunChunk.run_id) == run.id, col(ReminderRunChunk.status) == "done")).one()[0]
        grouped: dict[tuple[str, str], dict[str, int]] = {}
        for rule_id, channel, status, count in db.exec(select(_M.rule_id, _M.channel, _M.status, func.count())  # type: ignore[call-overload]
                                                       .where(_M.run_date == day)
                                                       .group_by(_M.rule_id, _M.channel, _M.status)).all():
            grouped.setdefault((rule_id, channel), {})[status] = count
        failed = sum(counts.get("failed", 0) for counts in grouped.values())
        retrying = db.exec(select(func.count()).where(_M.run_date == day, _M.status == "queued",  # type: ignore[call-overload]
                                                      _M.last_error != "")).one()[0]
    return DayReport(day, run, totals, [(rule, channel, counts) for (rule, channel), counts in sorted(grouped.items())],
                     failed, retrying)


def search_outbox(engine: Engine, account: str = "", status: str = "", rule: str = "", limit: int = 100) -> list[ReminderMessage]:
    statement = select(ReminderMessage).order_by(col(ReminderMessage.id).desc()).limit(limit)
    if account:
        statement = statement.where(col(ReminderMessage.account_number) == account)
    if status:
        statement = statement.where(col(ReminderMessage.status) == status)
    if rule:
        statement = statement.where(col(ReminderMessage.rule_id) == rule)
    with Session(engine) as db:
        return list(db.exec(statement).scalars())  # type: ignore[call-overload]


@dataclass
class ChartDay:
    day: date
    sent: int
    paid: int


def paid_after_reminders(engine: Engine, today: date, days: int = 14) -> list[ChartDay]:
    """Per day: money reminders sent, and how many of their bills were paid within 3 days after sending."""
    first = today - timedelta(days=days - 1)
    with engine.connect() as connection:
        sent = dict(connection.execute(
            select(_M.run_date, func.count()).where(_M.run_date >= first, _M.status == "sent",
                                                    _M.rule_id.in_(sorted(MONEY_RULES)))
            .group_by(_M.run_date)).all())
        paid: dict[date, int] = {}
        for offset in range(days):  # per day, so "within 3 days" is a bound, not date arithmetic in SQL
            day = first + timedelta(days=offset)
            if not sent.get(day):
                continue
            until = datetime.combine(day + timedelta(days=PAID_WITHIN_DAYS + 1), time(), tzinfo=service_tz())
            paid[day] = connection.execute(
                select(func.count(func.distinct(_M.id))).select_from(
                    ReminderMessage.__table__.join(Bill.__table__, and_(  # type: ignore[attr-defined]
                        _B.account_number == _M.account_number, _B.month == _M.period)))
                .where(_M.run_date == day, _M.status == "sent", _M.rule_id.in_(sorted(MONEY_RULES)),
                       _B.paid_at >= _M.sent_at, _B.paid_at < until)).scalar_one()
    return [ChartDay(first + timedelta(days=offset), int(sent.get(first + timedelta(days=offset), 0)),
                     int(paid.get(first + timedelta(days=offset), 0))) for offset in range(days)]


def chart_svg(days: list[ChartDay]) -> str:
    """Grouped bars drawn on the server (no script): sent, and paid within 3 days, each labelled with its number."""
    width, height, top, bottom, left = 760, 280, 30, 50, 40
    peak = max([day.sent for day in days] + [1])
    slot = (width - left - 10) / max(len(days), 1)
    bar = slot * 0.36
    scale = (height - top - bottom) / peak
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
             f'aria-labelledby="chart-title" class="chart"><title id="chart-title">每天发出的欠费类提醒，'
             f'以及其中{PAID_WITHIN_DAYS}天内交了费的</title>',
             f'<line x1="{left}" y1="{height - bottom}" x2="{width - 5}" y2="{height - bottom}" stroke="#333"/>']
    for index, day in enumerate(days):
        x = left + index * slot + slot * 0.12
        for shift, value, colour, pattern in ((0, day.sent, "#1f4e79", ""), (bar, day.paid, "#2e7d32", "4 2")):
            bar_height = value * scale
            y = height - bottom - bar_height
            dash = f' stroke="#000" stroke-dasharray="{pattern}"' if pattern else ""
            parts.append(f'<rect x="{x + shift:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{bar_height:.1f}" '
                         f'fill="{colour}"{dash}/>')
            if value:
                parts.append(f'<text x="{x + shift + bar / 2:.1f}" y="{y - 4:.1f}" font-size="11" '
                             f'text-anchor="middle">{value}</text>')
        parts.append(f'<text x="{x + bar:.1f}" y="{height - bottom + 18}" font-size="12" text-anchor="middle">'
                     f'{day.day.month}/{day.day.day}</text>')
    parts.append(f'<rect x="{left}" y="{height - 22}" width="14" height="14" fill="#1f4e79"/>'
                 f'<text x="{left + 20}" y="{height - 10}" font-size="13">发出的提醒（实心）</text>'
                 f'<rect x="{left + 190}" y="{height - 22}" width="14" height="14" fill="#2e7d32" stroke="#000" '
                 f'stroke-dasharray="4 2"/><text x="{left + 210}" y="{height - 10}" font-size="13">'
                 f'{PAID_WITHIN_DAYS}天内交了费（虚线框）</text>')
    parts.append("</svg>")
    return "".join(parts)


# --- editing the rules ---------------------------------------------------------------

TEXT_FIELDS = ("sms_text", "spoken_text", "family_text", "kiosk_text")


@dataclass
class RuleEdit:
    enabled: bool
    days: int
    threshold_fen: int
    title: str
    texts: dict[str, str] = field(default_factory=dict)


def _sample(rule_id: str) -> MessageFacts:
    from assistant.reminders.texts import Outage
    start = datetime(2026, 12, 2, 8, 30, tzinfo=service_tz())
    return MessageFacts(rule_id, "张建华", "3201000001", date(2026, 12, 1), "2026-11", 12850, date(2026, 12, 5),
                        15, 9000, "扬州市江都区", Outage("扬州市江都区", start, start.replace(hour=16, minute=0), "线路检修"),
                        "https://pay.example.cn/r/1abcdefgh" if rule_id in MONEY_RULES else "")


def rule_problems(rule_id: str, edit: RuleEdit) -> list[str]:
    """What is wrong with an admin's edit, in Chinese (empty: it may be saved)."""
    problems = []
    if not edit.title.strip():
        problems.append("请填写规则名称。")
    if not 0 <= edit.days <= 366:
        problems.append("天数要在0到366之间。")
    if not 0 <= edit.threshold_fen <= 10_000_000:
        problems.append("金额门槛要在0到100000元之间。")
    for name in TEXT_FIELDS:
        text = edit.texts.get(name, "")
        if name != "kiosk_text" and not text.strip():
            problems.append(f"{TEXT_LABELS[name]}不能是空的。")
        problems += [f"{TEXT_LABELS[name]}：{problem}" for problem in template_problems(text)]
        if len(text) > 500:
            problems.append(f"{TEXT_LABELS[name]}太长了（最多500字）。")
    if not problems:
        sms = render(edit.texts["sms_text"], _sample(rule_id))
        if len(sms) > SMS_MAX_CHARS and rule_id not in MONEY_RULES:
            problems.append(f"短信按示例有{len(sms)}个字，超过{SMS_MAX_CHARS}个字，请缩短。")
    return problems


TEXT_LABELS = {"sms_text": "短信", "spoken_text": "电话里说的话", "family_text": "发给家人的短信",
               "kiosk_text": "营业厅自助机上的提示"}


def rule_previews(rule: ReminderRule) -> dict[str, str]:
    facts = _sample(rule.id)
    return {name: render(getattr(rule, name) or "", facts) for name in TEXT_FIELDS}


def save_rule(engine: Engine, rule_id: str, edit: RuleEdit, actor: str) -> ReminderRule:
    with Session(engine, expire_on_commit=False) as db:
        rule = db.get(ReminderRule, rule_id)
        if rule is None:
            raise KeyError(rule_id)
        before = _record(rule)
        rule.enabled, rule.days, rule.threshold_fen, rule.title = edit.enabled, edit.days, edit.threshold_fen, edit.title
        for name, text in edit.texts.items():
            setattr(rule, name, text)
        rule.origin, rule.version, rule.updated_at = "admin", rule.version + 1, utc_now()
        db.add(rule)
        db.add(AuditLog(actor=actor, entity="reminder_rule", entity_id=rule_id, action="update", before=before,
                        after=_record(rule)))
        db.commit()
        return rule


def _record(rule: ReminderRule) -> dict[str, Any]:
    return {"title": rule.title, "enabled": rule.enabled, "days": rule.days, "threshold_fen": rule.threshold_fen,
            **{name: getattr(rule, name) for name in TEXT_FIELDS}}


def figure_labels(rule_id: str) -> tuple[str, str]:
    return FIGURES.get(rule_id, ("", ""))
