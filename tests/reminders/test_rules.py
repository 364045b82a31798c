"""The daily run on the seeded demo accounts with a frozen clock: who is due for what, when.

Demo data (tests.conftest.TODAY = 2026-11-22): 3201000001, 3201000003 and 1101000004 owe October's
bill, due 11-27; 3201000002 is prepaid (86.50 元); 3201000003 has 20.00 元 left, a 167.77 元
monthly bill, and a planned outage in its area tomorrow (11-23).
"""

from __future__ import annotations


from sqlalchemy import update

from assistant.reminders.rules import in_quiet_hours
from assistant.reminders.run import run_reminders
from knowledge_base.db import session
from knowledge_base.models import Bill, ReminderRule
from tests.reminders.helpers import DEMO_ACCOUNTS, at, count_messages, queued, subscribe


def _subscribe_all(engine) -> None:  # type: ignore[no-untyped-def]
    for number in DEMO_ACCOUNTS:
        subscribe(engine, number)


def test_bill_issued_low_balance_and_outage_tomorrow(engine) -> None:  # type: ignore[no-untyped-def]
    _subscribe_all(engine)
    summary = run_reminders(engine, at(22, 10))
    assert queued(engine) == [
        ("1101000004", "bill_issued", "2026-10"),
        ("3201000001", "bill_issued", "2026-10"),
        ("3201000003", "bill_issued", "2026-10"),
        ("3201000003", "low_balance", "2026-W47"),
        ("3201000003", "outage_tomorrow", f"outage-{_outage_id(engine)}"),
    ]
    assert (summary.accounts, summary.due, summary.queued, summary.already_sent) == (4, 5, 5, 0)


def _outage_id(engine) -> int:  # type: ignore[no-untyped-def]
    from sqlmodel import select

    from knowledge_base.models import PlannedOutage
    with session(engine) as db:
        return db.exec(select(PlannedOutage.id)).one()


def test_due_soon_then_overdue_each_once_per_bill(engine) -> None:  # type: ignore[no-untyped-def]
    subscribe(engine, "3201000001")
    run_reminders(engine, at(25, 10))  # due 11-27, within 3 days
    assert queued(engine) == [("3201000001", "due_soon", "2026-10")]
    run_reminders(engine, at(26, 10))  # still due soon: the same bill is not reminded twice
    assert count_messages(engine) == 1
    run_reminders(engine, at(28, 10))  # a day past due
    assert queued(engine) == [("3201000001", "due_soon", "2026-10"), ("3201000001", "overdue", "2026-10")]


def test_a_second_run_the_same_day_queues_nothing(engine) -> None:  # type: ignore[no-untyped-def]
    _subscribe_all(engine)
    first = run_reminders(engine, at(22, 10))
    second = run_reminders(engine, at(22, 11))
    assert first.queued == 5
    assert (second.due, second.queued, second.already_sent) == (5, 0, 5)
    assert count_messages(engine) == 5


def test_quiet_hours_at_queue_time(engine) -> None:  # type: ignore[no-untyped-def]
    subscribe(engine, "3201000001")  # default quiet hours 21:00–08:00
    late = run_reminders(engine, at(22, 21, 30))
    assert (late.due, late.queued, late.skipped_quiet) == (1, 0, 1)
    early = run_reminders(engine, at(23, 7, 59))
    assert early.skipped_quiet == 1 and count_messages(engine) == 0
    morning = run_reminders(engine, at(23, 8, 0))  # the first run after the quiet hours queues it
    assert morning.queued == 1
    # A customer's own quiet hours (a nap after lunch) hold too.
    subscribe(engine, "1101000004", quiet_start_minute=12 * 60, quiet_end_minute=14 * 60)
    assert run_reminders(engine, at(23, 13)).skipped_quiet == 1


def test_opted_out_customers_are_counted_and_never_queued(engine) -> None:  # type: ignore[no-untyped-def]
    _subscribe_all(engine)
    subscribe(engine, "3201000003", active=False)
    summary = run_reminders(engine, at(22, 10))
    assert summary.skipped_opt_out == 3
    assert all(number != "3201000003" for number, _, _ in queued(engine))


def test_payment_received_is_thanked_once(engine) -> None:  # type: ignore[no-untyped-def]
    subscribe(engine, "3201000001")
    with session(engine) as db:
        db.exec(update(Bill).where(Bill.account_number == "3201000001", Bill.month == "2026-10")  # type: ignore[call-overload]
                .values(paid_at=at(22, 9)))
        db.commit()
    run_reminders(engine, at(22, 10))
    run_reminders(engine, at(23, 10))
    assert queued(engine) == [("3201000001", "payment_thanks", "2026-10")]  # paid: no bill notice, one thank-you


def test_rules_are_data_a_disabled_rule_queues_nothing(engine) -> None:  # type: ignore[no-untyped-def]
    _subscribe_all(engine)
    with session(engine) as db:
        rule = db.get(ReminderRule, "bill_issued")
        rule.enabled = False
        low = db.get(ReminderRule, "low_balance")
        low.threshold_fen, low.days = 10000, 0  # below 100 元, whatever the usage
        db.add(rule), db.add(low)
        db.commit()
    run_reminders(engine, at(22, 10))
    rules = sorted({(number, rule) for number, rule, _ in queued(engine)})
    assert rules == [("3201000002", "low_balance"), ("3201000003", "low_balance"),
                     ("3201000003", "outage_tomorrow")]


def test_quiet_hours_wrap_midnight() -> None:
    assert in_quiet_hours(21 * 60, 8 * 60, 21 * 60 + 1)
    assert in_quiet_hours(21 * 60, 8 * 60, 7 * 60 + 59)
    assert not in_quiet_hours(21 * 60, 8 * 60, 8 * 60)
    assert not in_quiet_hours(21 * 60, 8 * 60, 20 * 60 + 59)
    assert in_quiet_hours(12 * 60, 14 * 60, 13 * 60) and not in_quiet_hours(12 * 60, 14 * 60, 14 * 60)
    assert not in_quiet_hours(0, 0, 3 * 60)  # none


def test_dry_run_changes_nothing(engine) -> None:  # type: ignore[no-untyped-def]
    _subscribe_all(engine)
    summary = run_reminders(engine, at(22, 10), dry_run=True)
    assert (summary.due, summary.queued) == (5, 5)
    assert count_messages(engine) == 0
