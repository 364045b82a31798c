"""Fill an intent's answer template with the customer's facts. Pure.

The caller gathers the facts (account, bills, outages, tariff, hall) and
the slots; this module only decides which template applies and what each
``{field}`` says, so it runs the same for every channel and in tests.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

from assistant import formatting
from intents.slots import Slots
from knowledge_base.answer_templates import TemplateParts, parse_template
from knowledge_base.queries import AccountFacts, BillFacts, HallFacts, IntentAnswers, OutageFacts
from knowledge_base.tariff import TariffTable, estimate

ASK_FOR_KWH = "您想算多少度电的电费？比如说三百度，我帮您算。"
# A filled answer longer than this is not given: it bounds the reply and its turn-log row.
MAX_ANSWER_CHARS = 2000
ANSWER_TOO_LONG = "(answer too long)"  # reported in Answer.missing


@dataclass(frozen=True, slots=True)
class CustomerFacts:
    """What is known about the customer for this turn (all optional)."""

    account: AccountFacts | None = None
    bills: tuple[BillFacts, ...] = ()  # newest first
    outages: tuple[OutageFacts, ...] = ()  # planned outages in the account's area, soonest first


@dataclass(frozen=True, slots=True)
class Answer:
    display: str  # shown on screen
    spoken: str  # read aloud
    personal: bool  # used the account's data
    missing: tuple[str, ...] = ()  # template fields that had no value


def _bill_for(bills: tuple[BillFacts, ...], month: str | None) -> BillFacts | None:
    if month is None:
        return bills[0] if bills else None
    return next((b for b in bills if b.month == month), None)


def _outage_summary(facts: CustomerFacts, day: str | None, today: date) -> str:
    account = facts.account
    assert account is not None
    if day is not None:
        asked = date.fromisoformat(day)
        outages = [o for o in facts.outages if o.starts_at.date() <= asked <= o.ends_at.date()]
        when = formatting.day_label(asked, today)
    else:
        outages = list(facts.outages)
        when = "最近七天"
    if not outages:
        return f"您所在的{account.area}{when}没有计划停电。"
    sentences = [
        f"{formatting.day_label(o.starts_at.date(), today)}{formatting.clock(o.starts_at)}"
        f"到{formatting.clock(o.ends_at)}，{o.area}计划停电，原因是{o.reason}。"
        for o in outages[:2]
    ]
    return "".join(sentences) + "请您提前做好准备。"


def template_fields(facts: CustomerFacts, tariff: TariffTable | None, hall: HallFacts | None,
                    slots: Slots, today: date) -> dict[str, str]:
    """Every field that has a value for this customer and turn."""
    fields: dict[str, str] = {}
    if tariff is not None:
        fields["tariff_summary"] = formatting.tariff_summary(tariff)
        fields["estimate"] = (
            formatting.estimate_text(estimate(tariff, slots.kwh)) if slots.kwh is not None else ASK_FOR_KWH
        )
    if hall is not None:
        fields.update(hall_name=hall.name, hall_address=hall.address, hall_hours=hall.hours, hall_phone=hall.phone)
    account = facts.account
    if account is None:
        return fields
    unpaid = sum(b.amount_fen for b in facts.bills if not b.paid)
    fields.update(
        account=account.number,
        holder=mask_name(account.holder),
        balance=formatting.yuan(account.balance_fen),
        arrears=formatting.yuan(unpaid),
        area=account.area,
        outage_summary=_outage_summary(facts, slots.day, today),
    )
    bill = _bill_for(facts.bills, slots.month)
    if bill is not None:
        fields.update(
            bill_month=formatting.month_label(bill.month, today),
            bill_amount=formatting.yuan(bill.amount_fen),
            bill_kwh=str(bill.kwh),
            bill_due=f"{bill.due_date.month}月{bill.due_date.day}日",
            bill_status="已经交了" if bill.paid else "还没交",
        )
    return fields


def mask_name(name: str) -> str:
    """张建华 → 张*华, 李明 → 李*: enough for the customer to recognise, not to expose."""
    if len(name) <= 1:
        return name
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def _fields_in(parts: TemplateParts) -> set[str]:
    return {name for _, name in parts.pieces if name is not None}


def render(template: str, fields: dict[str, str]) -> tuple[str, tuple[str, ...]]:
    """Fill a template; report what it needs that cannot be filled (then the caller says it cannot answer).

    Filled by plain concatenation, never ``str.format``: a bad row already in the database
    (written before templates were checked) comes back as "missing", not as a 500 or a huge reply.
    """
    try:
        parts = parse_template(template)
    except ValueError:
        return template, ("{",)
    missing = tuple(sorted(_fields_in(parts) - fields.keys())) + parts.not_plain
    if missing:
        return template, missing
    text = "".join(literal + (fields[name] if name is not None else "") for literal, name in parts.pieces)
    if len(text) > MAX_ANSWER_CHARS:
        return template, (ANSWER_TOO_LONG,)
    return text, ()


def compose(intent: IntentAnswers, facts: CustomerFacts, tariff: TariffTable | None,
            hall: HallFacts | None, slots: Slots, today: date) -> Answer:
    """The answer for this intent and customer: personal when the account is known."""
    fields = template_fields(facts, tariff, hall, slots, today)
    if facts.account is not None and intent.account_display:
        display, missing = render(intent.account_display, fields)
        if not missing:
            return Answer(display, _spoken(intent.account_spoken, display, fields), personal=True)
        if slots.month is not None and any(name.startswith("bill_") for name in missing):
            if slots.month == f"{today.year:04d}-{today.month:02d}" and facts.bills:
                # This month's bill comes out next month: say so, then read the latest one.
                latest = compose(intent, facts, tariff, hall, replace(slots, month=None), today)
                note = "这个月的电费还没出账。"
                return Answer(note + latest.display, note + latest.spoken, personal=True)
            text = f"抱歉，没有查到您{formatting.month_label(slots.month, today)}的电费账单。"
            return Answer(text, text, personal=True, missing=missing)
    display, missing = render(intent.display, fields)
    if missing:
        # An admin's template names a field this turn cannot fill: say so plainly, never show braces.
        text = "抱歉，这个问题我现在查不到，请您稍后再问，或者说转人工。"
        return Answer(text, text, personal=False, missing=missing)
    return Answer(display, _spoken(intent.spoken, display, fields), personal=False)


def _spoken(template: str | None, display: str, fields: dict[str, str]) -> str:
    """The spoken form, or the display text when there is none or it cannot be filled (never a raw template)."""
    if not template:
        return display
    spoken, missing = render(template, fields)
    return display if missing else spoken

