"""A customer's reminder preferences: channels in order, the time of day, quiet hours, a family
member's phone, and consent (when and through which channel it was given). Edited by staff and
admins (/staff/reminders/<户号>) and, for the parts a customer says, by voice."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

from assistant.reminders.outbox import CHANNELS
from assistant.sms import mask_phone
from knowledge_base.models import (DEFAULT_QUIET_END_MINUTE, DEFAULT_QUIET_START_MINUTE, DEFAULT_REMIND_MINUTE, Account,
                                   AuditLog, ReminderSubscription)

_CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_MOBILE = re.compile(r"^1[3-9]\d{9}$")


@dataclass(frozen=True, slots=True)
class Preferences:
    active: bool
    channels: tuple[str, ...]  # in order of preference, at least one
    preferred_minute: int
    quiet_start_minute: int
    quiet_end_minute: int
    family_phone: str = ""


def clock_text(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def parse_clock(text: str) -> int | None:
    found = _CLOCK.match(text.strip())
    return int(found.group(1)) * 60 + int(found.group(2)) if found else None


def current(subscription: ReminderSubscription | None) -> Preferences:
    if subscription is None:
        return Preferences(False, ("sms",), DEFAULT_REMIND_MINUTE, DEFAULT_QUIET_START_MINUTE, DEFAULT_QUIET_END_MINUTE)
    from assistant.reminders.outbox import channel_order
    return Preferences(subscription.active, tuple(channel_order(subscription)) or ("sms",),
                       subscription.preferred_minute, subscription.quiet_start_minute,
                       subscription.quiet_end_minute, subscription.family_phone)


def problems(preferences: Preferences) -> list[str]:
    """What is wrong, in Chinese (empty: it may be saved)."""
    from assistant.reminders.rules import in_quiet_hours

    found = []
    if not preferences.channels or any(channel not in CHANNELS for channel in preferences.channels):
        found.append("请至少选一种提醒方式。")
    if "family" in preferences.channels and not _MOBILE.match(preferences.family_phone):
        found.append("选了“家人短信”，请填写家人的11位手机号。")
    if preferences.family_phone and not _MOBILE.match(preferences.family_phone):
        found.append("家人的手机号应该是11位数字，1开头。")
    if in_quiet_hours(preferences.quiet_start_minute, preferences.quiet_end_minute, preferences.preferred_minute):
        found.append("提醒时间落在免打扰时段里了，请换一个时间。")
    return found


def family_phone_meant(typed: str, on_file: str) -> str:
    """The family phone a staff form means. The form shows the number on file masked (any staff member
    may open it), so that masked text sent back unchanged means "keep the number on file"."""
    typed = typed.strip()
    return on_file if on_file and typed == mask_phone(on_file) else typed


def family_phone_shown(phone: str, on_file: str) -> str:
    """What the staff form shows: the number on file only masked; a number just typed as typed."""
    return mask_phone(on_file) if on_file and phone == on_file else phone


def save(db: Session, account_number: str, preferences: Preferences, now: datetime, actor: str,
         consent_channel: str) -> ReminderSubscription:
    """Store the preferences in the caller's transaction, with consent (time and channel) when switched on,
    and an audit entry. Raises KeyError for an unknown 户号."""
    if db.get(Account, account_number) is None:
        raise KeyError(account_number)
    row = db.get(ReminderSubscription, account_number)
    before = _record(row) if row is not None else None
    if row is None:
        row = ReminderSubscription(account_number=account_number, created_at=now)
    if preferences.active and (not row.active or row.consent_at is None or before is None):
        row.consent_at, row.consent_channel = now, consent_channel
    row.active = preferences.active
    row.channel, row.channels = preferences.channels[0], ",".join(preferences.channels)
    row.preferred_minute = preferences.preferred_minute
    row.quiet_start_minute, row.quiet_end_minute = preferences.quiet_start_minute, preferences.quiet_end_minute
    row.family_phone, row.updated_at, row.updated_by = preferences.family_phone, now, actor[:64]
    db.add(row)
    db.add(AuditLog(actor=actor, entity="reminder_subscription", entity_id=account_number,
                    action="update" if before else "create", before=before, after=_record(row)))
    return row


def _record(row: ReminderSubscription) -> dict[str, Any]:
    return {"active": row.active, "channels": row.channels or row.channel, "preferred": clock_text(row.preferred_minute),
            "quiet": f"{clock_text(row.quiet_start_minute)}-{clock_text(row.quiet_end_minute)}",
            "family_phone": mask_phone(row.family_phone) if row.family_phone else ""}
