"""The server's reconciliation loop: ask the payment provider about links whose notification has not come.

A notification can be lost (the service was down longer than the provider
retries, a crash between the cashier and the notification); the provider's
order still says what happened. One pass right after start-up (so a restart
after a crash catches up at once), then one every ``reconcile_interval_s``.
Recording is idempotent by the provider's transaction id, so several workers
or a notification arriving at the same time change nothing.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool

logger = logging.getLogger("xiaodian.payments")


async def reconcile_periodically(app: FastAPI) -> None:
    settings = app.state.settings
    stuck_for = timedelta(minutes=settings.reconcile_after_minutes)
    while True:
        try:
            report = await run_in_threadpool(app.state.services.payments.reconcile, stuck_for)
            if report.recorded or report.expired or report.unavailable:
                logger.info("payments reconciled", extra={"recorded": len(report.recorded), "expired": report.expired,
                                                          "unavailable": report.unavailable})
        except Exception:  # the loop must outlive one bad pass (database or provider hiccup)
            logger.exception("payment reconciliation failed; trying again next time")
        await asyncio.sleep(settings.reconcile_interval_s)
