"""The scale-out path on a real PostgreSQL: two runners at once split the day's chunks (SKIP LOCKED)
and queue every reminder once; two senders at once never send one reminder twice."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime
from pathlib import Path

from sqlalchemy import text

from assistant.reminders.demo_accounts import generate_demo_accounts
from assistant.reminders.outbox import ReminderOutbox
from assistant.reminders.run import RunSummary, run_reminders
from assistant.reminders.senders import FakeSmsSender, KioskNoticeSender
from knowledge_base.db import make_engine
from knowledge_base.models import SERVICE_TZ
from knowledge_base.seed import seed_database
from knowledge_base.settings import Settings
from tests.postgres import fresh_database, postgres_url  # noqa: F401  (fixture)

NOW = datetime(2026, 11, 30, 10, 0, tzinfo=SERVICE_TZ)
AFTERNOON = NOW.replace(hour=15)


def test_two_runners_and_two_senders_on_postgres(postgres_url: str, tmp_path: Path) -> None:  # noqa: F811
    url = fresh_database(postgres_url, "reminders")
    engine = make_engine(url)
    seed_database(engine, include_demo=False)
    generate_demo_accounts(engine, 1200, seed=11, today=NOW.date())
    reference = run_reminders(engine, NOW, dry_run=True, batch_accounts=100)
    assert reference.queued > 500

    start = threading.Barrier(2)
    results: list[RunSummary] = []

    def runner(name: str) -> None:
        own = make_engine(url)
        start.wait()
        results.append(run_reminders(own, NOW, batch_accounts=100, runner=name))
        own.dispose()

    threads = [threading.Thread(target=runner, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert len(results) == 2
    assert results[0].run_id == results[1].run_id  # both joined the one run of the day
    with engine.connect() as connection:
        chunks = connection.execute(text("SELECT runner, count(*) FROM reminderrunchunk GROUP BY runner")).all()
        queued = connection.execute(text("SELECT count(*), count(DISTINCT dedup_key) FROM remindermessage")).one()
    assert sum(done for _, done in chunks) == results[0].chunks_done_here + results[1].chunks_done_here
    assert all(result.chunks_done_here > 0 for result in results), chunks  # the work was shared
    assert queued == (reference.queued, reference.queued)
    assert sum(result.by_rule.get(rule, 0) for result in results for rule in result.by_rule) == reference.queued

    # Two senders drain at once: each message is claimed by one of them only.
    settings = Settings(demo=True, data_dir=tmp_path)
    senders = {"sms": FakeSmsSender(settings), "family": FakeSmsSender(settings), "kiosk": KioskNoticeSender(),
               "call": None}
    budgets = {"sms": 150, "family": 150, "call": 150, "kiosk": 150}

    def sender() -> None:
        own = make_engine(url)
        outbox = ReminderOutbox(own, senders, link_for=lambda message_id: f"https://p.cn/r/{message_id}")
        start.wait()
        outbox.drain(lambda: AFTERNOON, budgets)  # after everyone's preferred time
        own.dispose()

    start.reset()
    threads = [threading.Thread(target=sender) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    with engine.connect() as connection:
        statuses = dict(connection.execute(text("SELECT status, count(*) FROM remindermessage GROUP BY status")).all())
        texts = connection.execute(text("SELECT phone, text FROM smsmessage WHERE kind = 'reminder'")).all()
        sent_written = connection.execute(text(
            "SELECT count(*) FROM remindermessage WHERE status = 'sent' AND channel IN ('sms', 'family')")).scalar()
    assert statuses == {"sent": reference.queued}
    assert len(texts) == sent_written
    assert max(Counter(texts).values()) == 1  # no SMS twice
    engine.dispose()
