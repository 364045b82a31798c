"""The daily run and the outbox drain inside the service (APScheduler), one worker at a time.

Every worker of every machine starts this scheduler; before each job a worker takes a lease
in the database (table ``reminderlock``: a row per job, its holder and until when). Only the
holder works; a worker that dies lets its lease run out and another takes over. The run itself
is safe to repeat or race (see ``run.py``), so the lease is about not doing the work N times,
and about the per-channel send rates holding for the whole service, not per worker.
"""

from __future__ import annotations

import logging
import os
import uuid
from datetime import datetime, timedelta
from typing import Callable

from sqlalchemy import or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from assistant.reminders.outbox import ReminderOutbox
from assistant.reminders.run import run_reminders
from knowledge_base.models import ReminderLock, service_tz, utc_now

logger = logging.getLogger("xiaodian.reminders")
_LOCK = ReminderLock.__table__  # type: ignore[attr-defined]


class LeaseLock:
    """A named lease in the database: works the same on SQLite and PostgreSQL, across machines."""

    def __init__(self, engine: Engine, name: str, holder: str | None = None) -> None:
        self.engine = engine
        self.name = name
        self.holder = holder or f"{os.uname().nodename}:{os.getpid()}:{uuid.uuid4().hex[:6]}"

    def acquire(self, now: datetime, ttl: timedelta) -> bool:
        module = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        with self.engine.begin() as connection:
            connection.execute(module.insert(_LOCK).values(name=self.name, holder="", until=now)
                               .on_conflict_do_nothing())
            taken = connection.execute(
                update(_LOCK).where(_LOCK.c.name == self.name,
                                    or_(_LOCK.c.until <= now, _LOCK.c.holder == self.holder))
                .values(holder=self.holder, until=now + ttl)).rowcount
        return taken == 1

    def release(self, now: datetime) -> None:
        with self.engine.begin() as connection:
            connection.execute(update(_LOCK).where(_LOCK.c.name == self.name, _LOCK.c.holder == self.holder)
                               .values(until=now))


class ReminderJobs:
    """The two jobs, each under its lease; callable directly (tests) or by the scheduler."""

    def __init__(self, engine: Engine, outbox: ReminderOutbox, budgets: dict[str, int], batch_accounts: int,
                 clock: Callable[[], datetime] = utc_now) -> None:
        self.engine = engine
        self.outbox = outbox
        self.budgets = budgets
        self.batch_accounts = batch_accounts
        self.clock = clock
        holder = f"{os.uname().nodename}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.run_lock = LeaseLock(engine, "daily-run", holder)
        self.drain_lock = LeaseLock(engine, "drain", holder)

    def daily_run(self) -> bool:
        if not self.run_lock.acquire(self.clock(), timedelta(minutes=30)):
            return False
        try:
            summary = run_reminders(self.engine, self.clock().astimezone(service_tz()),
                                    batch_accounts=self.batch_accounts)
            logger.info("reminders run %s: queued %d of %d due (%.1f s)", summary.date, summary.queued,
                        summary.due, summary.seconds)
        except Exception:  # logged, and tried again at the next scheduled time (the run is idempotent)
            logger.exception("reminders run failed")
        finally:
            self.run_lock.release(self.clock())
        return True

    def drain(self) -> bool:
        # Held past one round (not released): the same worker keeps draining, so the rate is the service's.
        if not self.drain_lock.acquire(self.clock(), timedelta(minutes=1)):
            return False
        try:
            self.outbox.send_due(self.clock(), self.budgets)
        except Exception:  # the next round tries again; a message's own failures are in its row
            logger.exception("reminders drain failed")
        return True


class ReminderScheduler:
    def __init__(self, jobs: ReminderJobs, cron: str, drain_interval_s: float) -> None:
        from apscheduler.schedulers.background import BackgroundScheduler
        from apscheduler.triggers.cron import CronTrigger

        self.jobs = jobs
        self._scheduler = BackgroundScheduler(timezone=service_tz())
        self._scheduler.add_job(jobs.daily_run, CronTrigger.from_crontab(cron, timezone=service_tz()),
                                id="reminders-run", max_instances=1, coalesce=True, misfire_grace_time=3600)
        self._scheduler.add_job(jobs.drain, "interval", seconds=drain_interval_s, id="reminders-drain",
                                max_instances=1, coalesce=True)

    def start(self) -> None:
        self._scheduler.start()

    def stop(self) -> None:
        self._scheduler.shutdown(wait=False)
