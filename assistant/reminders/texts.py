"""What a reminder says: the SMS (at most 70 characters, link included), the call, the family's
SMS and the hall's kiosk notice, from the rule's templates and the facts of one message. Pure."""

from __future__ import annotations

import string
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from assistant import formatting
from assistant.answers import mask_name
from assistant.reminders.rules import DAYS_PER_BILL, MONEY_RULES

SMS_MAX_CHARS = 70  # one SMS segment of Chinese text (UCS-2)
FIELDS = ("holder", "account", "month", "amount", "due", "cutoff", "balance", "days_left", "outage_day",
          "outage_time", "area", "reason", "link")
# When a rule's own SMS is too long with the link, a short form that still says what matters is sent.
_SHORT_SMS = {"overdue": "【供电】{holder}电费{amount}元已逾期，{cutoff}起可能停电：{link}"}
_SHORT_FAMILY_SMS = {"overdue": "【供电】您家老人{holder}电费{amount}元已逾期：{link}"}
_SHORT_SMS_DEFAULT = "【供电】{holder}电费{amount}元，{due}到期：{link}"
_SHORT_FAMILY_SMS_DEFAULT = "【供电】您家老人{holder}电费{amount}元待交：{link}"


@dataclass(frozen=True, slots=True)
class Outage:
    area: str
    starts_at: datetime  # in the service zone
    ends_at: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class MessageFacts:
    rule_id: str
    holder: str  # the full name: masked here, never sent whole
    account: str
    today: date
    period: str = ""  # bill month for bill rules
    amount_fen: int = 0  # the bill, or the balance for low_balance
    due_date: date | None = None
    rule_days: int = 0
    latest_bill_fen: int = 0  # for the days a balance lasts
    area: str = ""
    outage: Outage | None = None
    link: str = ""


def _day(day: date | None) -> str:
    return f"{day.month}月{day.day}日" if day else ""


def fields(facts: MessageFacts) -> dict[str, str]:
    """Every template field, as a person says it (amounts in 元 with two decimals, dates as 12月5日)."""
    month = formatting.month_label(facts.period, facts.today) if facts.rule_id in MONEY_RULES or \
        facts.rule_id == "payment_thanks" else ""
    days_left = ""
    if facts.latest_bill_fen > 0:
        days_left = str(max(1, facts.amount_fen * DAYS_PER_BILL // facts.latest_bill_fen))
    cutoff = _day(facts.due_date + timedelta(days=facts.rule_days)) if facts.due_date else ""
    outage_day = outage_time = reason = ""
    if facts.outage is not None:
        outage_day = formatting.day_label(facts.outage.starts_at.date(), facts.today)
        outage_time = f"{formatting.clock(facts.outage.starts_at)}到{formatting.clock(facts.outage.ends_at)}"
        reason = facts.outage.reason
    return {
        "holder": mask_name(facts.holder), "account": facts.account, "month": month,
        "amount": formatting.yuan(facts.amount_fen), "due": _day(facts.due_date), "cutoff": cutoff,
        "balance": formatting.yuan(facts.amount_fen), "days_left": days_left or "几",
        "outage_day": outage_day, "outage_time": outage_time,
        "area": facts.outage.area if facts.outage else facts.area, "reason": reason, "link": facts.link,
    }


def template_problems(template: str) -> list[str]:
    """Unknown or malformed {fields} in an admin's template, in Chinese (empty: fine)."""
    try:
        parsed = [(name, spec, conversion) for _, name, spec, conversion in string.Formatter().parse(template)
                  if name is not None]
    except ValueError:
        return ["花括号没有配对，请检查 { 和 }。"]
    problems = [f"不认识的字段 {{{name}}}" for name, _, _ in parsed if name not in FIELDS]
    if any(spec or conversion for _, spec, conversion in parsed):
        problems.append("字段里不能有格式说明（如 {amount:…}），只写 {amount}。")
    return problems


def render(template: str, facts: MessageFacts) -> str:
    values = fields(facts)
    return "".join(literal + (values.get(name, "") if name is not None else "")
                   for literal, name, _spec, _conv in string.Formatter().parse(template))


def sms_text(template: str, facts: MessageFacts, family: bool = False) -> str:
    """The rule's SMS; when it runs past 70 characters, the rule's short form; the link is never cut."""
    text = render(template, facts)
    if len(text) <= SMS_MAX_CHARS:
        return text
    if facts.link:
        forms, default = (_SHORT_FAMILY_SMS, _SHORT_FAMILY_SMS_DEFAULT) if family else (_SHORT_SMS, _SHORT_SMS_DEFAULT)
        short = render(forms.get(facts.rule_id, default), facts)
        if len(short) <= SMS_MAX_CHARS:
            return short
        return f"【供电】电费{formatting.yuan(facts.amount_fen)}元待交：{facts.link}"
    return text[:SMS_MAX_CHARS - 1] + "…"
