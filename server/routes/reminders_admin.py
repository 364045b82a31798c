"""Daily reminders for admins (/admin/reminders: today's run, the outbox, the rules, the chart), a
customer's reminder preferences for staff (/staff/reminders/<户号>), and the short payment link of
reminder SMS (/r/<code>), which leads the customer to the payment page."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response

from assistant.formatting import yuan
from assistant.payments import NothingToPay, UnknownAccount, load_or_create_secret
from assistant.reminders import preferences, report
from assistant.reminders.links import LINK_DAYS, read_link_code
from assistant.reminders.rules import RULE_KINDS
from knowledge_base.models import (DEFAULT_QUIET_END_MINUTE, DEFAULT_QUIET_START_MINUTE, ReminderMessage, ReminderRule,
                                   service_tz, utc_now)
from knowledge_base.db import session
from server.login import AdminLogin, StaffLogin, csrf_protect
from server.pages import render

router = APIRouter(tags=["缴费提醒"])

RULE_LABELS = {"bill_issued": "出账通知", "due_soon": "快到期", "overdue": "欠费", "low_balance": "余额不足",
               "outage_tomorrow": "明天停电", "payment_thanks": "交费致谢"}
CHANNEL_LABELS = {"sms": "短信", "call": "电话", "family": "家人短信", "kiosk": "自助机提示"}
STATUS_LABELS = {"queued": "排队中", "sending": "发送中", "sent": "已发送", "failed": "失败", "cancelled": "已取消"}
_LABELS = {"rule_labels": RULE_LABELS, "channel_labels": CHANNEL_LABELS, "status_labels": STATUS_LABELS}


@router.get("/admin/reminders", include_in_schema=False)
async def reminders_page(request: Request, login: AdminLogin) -> Response:
    engine = request.app.state.engine
    today = datetime.now(service_tz()).date()
    day = await run_in_threadpool(report.day_report, engine, today)
    days = await run_in_threadpool(report.paid_after_reminders, engine, today)
    return render(request, "admin/reminders.html", {"report": day, "chart": report.chart_svg(days), "days": days,
                                                    "paid_within": report.PAID_WITHIN_DAYS, **_LABELS}, login=login)


@router.get("/admin/reminders/outbox", include_in_schema=False)
async def outbox_page(request: Request, login: AdminLogin, account: str = "", status: str = "",
                      rule: str = "") -> Response:
    account, status, rule = account.strip()[:10], status if status in STATUS_LABELS else "", \
        rule if rule in RULE_KINDS else ""
    problem = "户号是10位数字。" if account and not account.isdigit() else ""
    rows = [] if problem else await run_in_threadpool(report.search_outbox, request.app.state.engine, account,
                                                      status, rule)
    return render(request, "admin/reminders_outbox.html", {
        "rows": rows, "account": account, "status": status, "rule": rule, "problem": problem, "yuan": yuan,
        **_LABELS}, login=login)


def _rules(engine) -> list[ReminderRule]:  # type: ignore[no-untyped-def]
    from sqlmodel import select
    with session(engine) as db:
        return list(db.exec(select(ReminderRule).order_by(ReminderRule.id)))


@router.get("/admin/reminders/rules", include_in_schema=False)
async def rules_page(request: Request, login: AdminLogin, saved: str = "") -> Response:
    rules = await run_in_threadpool(_rules, request.app.state.engine)
    return render(request, "admin/reminders_rules.html", _rules_context(rules, saved=saved), login=login)


def _rules_context(rules: list[ReminderRule], saved: str = "", problems: dict[str, list[str]] | None = None,
                   edits: dict[str, ReminderRule] | None = None) -> dict:  # type: ignore[type-arg]
    shown = [(edits or {}).get(rule.id, rule) for rule in rules]
    return {"rules": shown, "previews": {rule.id: report.rule_previews(rule) for rule in shown},
            "figures": {rule.id: report.figure_labels(rule.id) for rule in shown}, "saved": saved,
            "problems": problems or {}, "text_labels": report.TEXT_LABELS, **_LABELS}


def _int(value: object, default: int = -1) -> int:
    try:
        return int(str(value).strip())
    except ValueError:
        return default


@router.post("/admin/reminders/rules/{rule_id}", include_in_schema=False, dependencies=[Depends(csrf_protect)])
async def save_rule(request: Request, rule_id: str, login: AdminLogin) -> Response:
    form = await request.form()
    rules = await run_in_threadpool(_rules, request.app.state.engine)
    current = next((rule for rule in rules if rule.id == rule_id), None)
    if current is None:
        return render(request, "error.html", {"status_code": 404, "message": "没有这条提醒规则。"}, login=login,
                      status_code=404)
    yuan_text = str(form.get("threshold_yuan", "0")).strip() or "0"
    try:
        threshold_fen = int(round(float(yuan_text) * 100))
    except ValueError:
        threshold_fen = -1
    edit = report.RuleEdit(enabled=form.get("enabled") == "on", days=_int(form.get("days", "")),
                           threshold_fen=threshold_fen, title=str(form.get("title", "")).strip()[:64],
                           texts={name: str(form.get(name, "")).strip() for name in report.TEXT_FIELDS})
    problems = report.rule_problems(rule_id, edit)
    if problems:  # nothing lost: the page comes back with what was typed and what to fix
        typed = current.model_copy(update={"enabled": edit.enabled, "days": edit.days, "title": edit.title,
                                           "threshold_fen": max(edit.threshold_fen, 0), **edit.texts})
        return render(request, "admin/reminders_rules.html",
                      _rules_context(rules, problems={rule_id: problems}, edits={rule_id: typed}), login=login,
                      status_code=422)
    await run_in_threadpool(report.save_rule, request.app.state.engine, rule_id, edit, login.name)
    return RedirectResponse(f"/admin/reminders/rules?saved={rule_id}#rule-{rule_id}", status_code=303)


# --- the short link in a reminder SMS --------------------------------------------------


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


@router.get("/r/{code}", include_in_schema=False)
async def reminder_link(request: Request, code: str) -> Response:
    """Make (or reuse) the account's payment link for what is owed now, and go there."""
    settings = request.app.state.settings
    message_id = read_link_code(load_or_create_secret(settings.data_dir, "payment-links"), code[:40])

    def find() -> ReminderMessage | None:
        with session(request.app.state.engine) as db:
            return db.get(ReminderMessage, message_id) if message_id is not None else None

    message = await run_in_threadpool(find)
    if message is None or utc_now() - _aware(message.created_at) > timedelta(days=LINK_DAYS):
        return render(request, "admin/reminders_link.html", {"text": "这个链接已经失效了。请拨打95598，或到营业厅交费。"},
                      status_code=404)
    try:
        issued = await run_in_threadpool(request.app.state.services.payments.create_link, message.account_number,
                                         "sms")
    except (NothingToPay, UnknownAccount):
        return render(request, "admin/reminders_link.html", {"text": "您的电费已经交清了，现在不用交。谢谢您！"})
    return RedirectResponse(issued.url, status_code=303)


# --- a customer's reminder preferences, edited by staff or admins ---------------------------


def _preferences_view(engine, account: str):  # type: ignore[no-untyped-def]
    from knowledge_base.models import Account, ReminderSubscription
    with session(engine) as db:
        holder = db.get(Account, account)
        return holder, preferences.current(db.get(ReminderSubscription, account)), \
            db.get(ReminderSubscription, account)


def _preferences_page(request: Request, login, account: str, prefs, row, holder, problems=(), saved=False,  # type: ignore[no-untyped-def]
                      status_code: int = 200) -> Response:
    from assistant.answers import mask_name
    return render(request, "admin/reminders_customer.html", {
        "account": account, "holder": mask_name(holder.holder) if holder else "", "prefs": prefs, "row": row,
        "family_phone": preferences.family_phone_shown(prefs.family_phone, row.family_phone if row else ""),
        "problems": list(problems), "saved": saved, "clock": preferences.clock_text,
        **_LABELS}, login=login, status_code=status_code)


@router.get("/staff/reminders", include_in_schema=False)
async def customer_lookup(request: Request, login: StaffLogin, account: str = "") -> Response:
    account = account.strip()
    if account:
        if re.fullmatch(r"[0-9]{10}", account):
            return RedirectResponse(f"/staff/reminders/{account}", status_code=303)
        return render(request, "admin/reminders_customer.html", {"account": "", "problems": ["户号是10位数字。"],
                                                                 **_LABELS}, login=login, status_code=422)
    return render(request, "admin/reminders_customer.html", {"account": "", "problems": [], **_LABELS}, login=login)


@router.get("/staff/reminders/{account}", include_in_schema=False)
async def customer_preferences(request: Request, account: str, login: StaffLogin, saved: str = "") -> Response:
    holder, prefs, row = await run_in_threadpool(_preferences_view, request.app.state.engine, account[:10])
    if holder is None:
        return render(request, "error.html", {"status_code": 404, "message": "没有这个户号。"}, login=login,
                      status_code=404)
    return _preferences_page(request, login, account, prefs, row, holder, saved=bool(saved))


@router.post("/staff/reminders/{account}", include_in_schema=False, dependencies=[Depends(csrf_protect)])
async def save_customer_preferences(request: Request, account: str, login: StaffLogin) -> Response:
    form = await request.form()
    holder, _, row = await run_in_threadpool(_preferences_view, request.app.state.engine, account[:10])
    if holder is None:
        return render(request, "error.html", {"status_code": 404, "message": "没有这个户号。"}, login=login,
                      status_code=404)
    wanted = [str(form.get(f"rank_{channel}", "")).strip() for channel in CHANNEL_LABELS]
    ranked = sorted((int(rank), channel) for rank, channel in zip(wanted, CHANNEL_LABELS) if rank.isdigit()
                    and form.get(f"use_{channel}") == "on")
    times = {name: preferences.parse_clock(str(form.get(name, ""))) for name in ("preferred", "quiet_start", "quiet_end")}
    typed = preferences.Preferences(
        active=form.get("active") == "on", channels=tuple(channel for _, channel in ranked),
        preferred_minute=times["preferred"] if times["preferred"] is not None else 9 * 60,
        quiet_start_minute=times["quiet_start"] if times["quiet_start"] is not None else DEFAULT_QUIET_START_MINUTE,
        quiet_end_minute=times["quiet_end"] if times["quiet_end"] is not None else DEFAULT_QUIET_END_MINUTE,
        family_phone=preferences.family_phone_meant(str(form.get("family_phone", ""))[:20],
                                                    row.family_phone if row else ""))
    problems = [f"时间“{form.get(name, '')}”看不懂，请写成 08:30 这样。" for name, value in times.items() if value is None]
    problems += preferences.problems(typed)
    if problems:
        return _preferences_page(request, login, account, typed, row, holder, problems, status_code=422)

    def store() -> None:
        with session(request.app.state.engine) as db:
            preferences.save(db, account, typed, utc_now(), login.name, "staff")
            db.commit()

    await run_in_threadpool(store)
    return RedirectResponse(f"/staff/reminders/{account}?saved=1", status_code=303)
