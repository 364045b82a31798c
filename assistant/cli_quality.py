"""``xiaodian quality report|refresh|sample``: the daily quality report as PDF or HTML, by hand or from cron."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Optional

import typer

from knowledge_base.settings import get_settings

quality_app = typer.Typer(help="服务质检：日报、统计、每日抽检", no_args_is_help=True)


def _engine(counted: list[int] | None = None):  # type: ignore[no-untyped-def]
    """The database, migrated, with the quality figures brought up to date (and retention applied);
    ``counted`` receives how many turns were new."""
    from assistant.quality.rollup import bring_up_to_date
    from knowledge_base.db import make_engine, migrate
    from knowledge_base.models import service_today

    settings = get_settings()
    engine = make_engine(settings.resolved_database_url)
    migrate(engine)
    new = bring_up_to_date(engine, settings.turn_log_days, service_today())
    if counted is not None:
        counted.append(new)
    return engine


def _day(value: Optional[str]) -> date:
    from knowledge_base.models import service_today

    if not value:
        return service_today()
    try:
        return date.fromisoformat(value)
    except ValueError:
        typer.echo("日期要写成 2026-11-30 这样。", err=True)
        raise typer.Exit(code=2) from None


@quality_app.command("refresh")
def refresh() -> None:
    """Count the turns logged since the last time into the quality figures (the pages do it too)."""
    counted: list[int] = []
    _engine(counted)
    typer.echo(f"新统计了 {counted[0]} 轮对话。")


@quality_app.command("report")
def report(
    day: Optional[str] = typer.Option(None, "--date", help="哪一天（默认今天），如 2026-11-30"),
    out: Path = typer.Option(..., "--out", help="写到这个文件：.pdf 用 Chromium 打印，.html 写网页"),
) -> None:
    """The daily report: figures, charts, top unanswered groups, the sample's findings, open rectifications."""
    from assistant.quality.report import ReportUnavailable, build_report, print_pdf
    from assistant.quality.unanswered import suggester
    from assistant.services import build_knowledge

    engine = _engine()
    chosen = _day(day)
    page = build_report(engine, chosen, suggester(build_knowledge(get_settings(), engine)))
    if out.suffix.lower() == ".html":
        out.write_text(page.html, encoding="utf-8")
    else:
        try:
            print_pdf(page.html, out)
        except ReportUnavailable as error:
            typer.echo(str(error), err=True)
            raise typer.Exit(code=1) from None
    typer.echo(f"{chosen.isoformat()} 的质检日报已写到 {out}")


@quality_app.command("sample")
def sample(day: Optional[str] = typer.Option(None, "--date", help="哪一天（默认今天）")) -> None:
    """Draw the day's review sample (stratified plus targeted picks); drawing again changes nothing."""
    from assistant.quality.sampling import PICK_LABELS, draw_sample

    engine = _engine()
    rows = draw_sample(engine, _day(day))
    for row in rows:
        typer.echo(f"{row.id}\t{row.channel}\t{PICK_LABELS.get(row.picked_for, row.picked_for)}\t{row.session_id}")
    typer.echo(f"共 {len(rows)} 个对话。")
