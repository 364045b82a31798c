"""``xiaodian reminders run|send`` (for cron; the service does the same by itself) and
``xiaodian demo accounts`` (generated demo accounts at scale)."""

from __future__ import annotations

import json
import time
from datetime import date, datetime
from typing import Optional

import typer

from knowledge_base.settings import get_settings

reminders_app = typer.Typer(help="每日缴费提醒：排队（run）和发送（send）", no_args_is_help=True)
demo_app = typer.Typer(help="演示数据", no_args_is_help=True)


def _prepared_engine():  # type: ignore[no-untyped-def]
    """The database, migrated, with the reminder rules seeded (a fresh database works at once)."""
    from knowledge_base.db import make_engine
    from knowledge_base.seed import seed_database

    engine = make_engine(get_settings().resolved_database_url)
    seed_database(engine, include_demo=False)
    return engine


def _run_moment(day: Optional[str]) -> datetime:
    from knowledge_base.models import service_tz

    now = datetime.now(service_tz())
    if not day:
        return now
    try:
        wanted = date.fromisoformat(day)
    except ValueError:
        typer.echo(f"日期“{day}”看不懂，请写成 2026-12-01 这样。", err=True)
        raise typer.Exit(code=2)
    return datetime.combine(wanted, now.timetz())


@reminders_app.command("run")
def reminders_run(
    day: Optional[str] = typer.Option(None, "--date", help="按这一天排提醒（YYYY-MM-DD，默认今天，服务所在时区）"),
    dry_run: bool = typer.Option(False, "--dry-run", help="只统计，不排队"),
    as_json: bool = typer.Option(False, "--json", help="输出一个 JSON 汇总对象"),
) -> None:
    """Queue today's due reminders; running it again the same day queues nothing new."""
    from assistant.reminders.run import run_reminders

    settings = get_settings()
    summary = run_reminders(_prepared_engine(), _run_moment(day), dry_run=dry_run,
                            batch_accounts=settings.reminder_batch_accounts)
    if as_json:
        typer.echo(json.dumps(summary.as_json(), ensure_ascii=False))
        return
    what = "可以排队" if dry_run else "新排队"
    typer.echo(f"{summary.date}：订阅户 {summary.accounts}，到期提醒 {summary.due}，{what} {summary.queued}，"
               f"安静时段跳过 {summary.skipped_quiet}，已退订 {summary.skipped_opt_out}，"
               f"早已排过 {summary.already_sent}，用时 {summary.seconds} 秒。")


@reminders_app.command("send")
def reminders_send(
    max_messages: int = typer.Option(0, "--max-messages", help="最多处理这么多条就停（0：发到没有可发的为止）"),
    as_json: bool = typer.Option(False, "--json", help="输出一个 JSON 汇总对象"),
) -> None:
    """Deliver what is due in the outbox, at each channel's rate, until nothing more may go now."""
    from assistant.reminders.outbox import DrainReport
    from assistant.reminders.wiring import build_outbox, channel_budgets
    from knowledge_base.models import utc_now

    settings = get_settings()
    outbox = build_outbox(settings, _prepared_engine())
    interval = settings.reminder_drain_interval_s
    budgets = channel_budgets(settings, interval)
    total = DrainReport()
    while True:
        round_started = time.monotonic()
        report = outbox.send_due(utc_now(), budgets)
        for name in ("sent", "retried", "fell_back", "failed", "cancelled"):
            setattr(total, name, getattr(total, name) + getattr(report, name))
        if report.taken == 0 or (max_messages and total.taken >= max_messages):
            break
        time.sleep(max(0.0, interval - (time.monotonic() - round_started)))  # the rate limit
    figures = {"sent": total.sent, "retried": total.retried, "fell_back": total.fell_back, "failed": total.failed,
               "cancelled": total.cancelled}
    if as_json:
        typer.echo(json.dumps(figures))
        return
    typer.echo(f"已发送 {total.sent}，稍后重试 {total.retried}，改用下一个渠道 {total.fell_back}，"
               f"失败 {total.failed}，因退订取消 {total.cancelled}。")


@demo_app.command("accounts")
def demo_accounts(
    count: int = typer.Option(..., "--count", min=1, max=5_000_000, help="生成多少个演示户号"),
    seed: int = typer.Option(1, "--seed", help="随机种子：同一个种子生成同样的户号"),
) -> None:
    """Generate DEMO accounts with bills, balances and reminder subscriptions (demo mode only)."""
    from assistant.reminders.demo_accounts import FIRST_NUMBER, generate_demo_accounts

    if not get_settings().demo:
        typer.echo("演示户号只能在演示模式下生成（XIAODIAN_DEMO=true），以免混进真实客户的数据。", err=True)
        raise typer.Exit(code=2)
    started = time.perf_counter()
    report = generate_demo_accounts(_prepared_engine(), count, seed)
    typer.echo(f"新增演示户号 {report.accounts}（{FIRST_NUMBER} 起），账单 {report.bills}，"
               f"提醒订阅 {report.subscriptions}，用时 {time.perf_counter() - started:.1f} 秒。")
