"""The daily quality report: one HTML page (figures, charts, top unanswered groups, the sample's
findings, open rectification items), printed to PDF by Chromium.

The HTML is rendered here, below the server, so ``xiaodian quality report`` and the
dashboard's report page are the same page. PDF printing needs Playwright and Debian's
chromium (``apt-get install chromium``); nothing is downloaded.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Callable

from jinja2 import Environment, PackageLoader
from sqlalchemy.engine import Engine
from sqlmodel import select

from assistant.quality import charts
from assistant.quality.rectification import CATEGORIES, STATUSES, list_items
from assistant.quality.review import findings
from assistant.quality.sampling import PICK_LABELS
from assistant.quality.summary import CHANNEL_LABELS, HANDOFF_LABELS, Summary, summarize
from assistant.quality.unanswered import unanswered_groups
from knowledge_base.db import session
from knowledge_base.models import ReviewSample

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TREND_DAYS = 30

_environment = Environment(loader=PackageLoader("assistant.quality", "templates"), autoescape=True)


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


_environment.filters["percent"] = percent


class ReportUnavailable(RuntimeError):
    """The PDF cannot be printed here; the message says what to install."""


def summary_charts(summary: Summary) -> dict[str, str]:
    """The dashboard's and the report's charts of one summary (SVG text, safe to embed)."""
    days = [f.label for f in summary.by_day]
    total = summary.total
    return {
        "turns": charts.trend_chart(f"每天的对话轮数（{summary.days} 天）", days,
                                    [("轮数", [f.turns for f in summary.by_day])]),
        "rates": charts.trend_chart("解决率与转人工率", days, [
            ("解决率", [f.resolution_rate for f in summary.by_day]),
            ("转人工率", [f.handoff_rate for f in summary.by_day]),
            ("没听懂比例", [f.none_rate for f in summary.by_day]),
        ], percent=True),
        "handoffs": charts.bar_chart("转人工原因", [(HANDOFF_LABELS.get(r, r), n) for r, n in
                                                 sorted(total.handoffs.items(), key=lambda item: -item[1])], " 次"),
        "satisfaction": charts.bar_chart("满意度", list(total.satisfaction.items()), " 人"),
        "channels": charts.bar_chart("各渠道对话数", [(CHANNEL_LABELS.get(f.label, f.label), f.conversations)
                                                   for f in summary.by_channel], " 个"),
        "halls": charts.bar_chart("各营业厅对话数", [(f.label, f.conversations) for _, f in summary.by_hall], " 个"),
    }


@dataclass
class DailyReport:
    day: date
    html: str


def build_report(engine: Engine, day: date, suggest: Callable[[str], tuple[str, str] | None] | None = None,
                 stylesheet: str | None = None) -> DailyReport:
    """The report of ``day`` (the rollups must be fresh: ``rollup.refresh`` first).

    ``stylesheet``: a URL to link (the served page, whose CSP forbids inline styles); None embeds the CSS.
    """
    today = summarize(engine, 1, day)
    trend = summarize(engine, TREND_DAYS, day)
    groups = unanswered_groups(engine, 7, day, limit=10, suggest=suggest)
    with session(engine) as db:
        samples = list(db.exec(select(ReviewSample).where(ReviewSample.day == day).order_by(ReviewSample.id)))
    context: dict[str, Any] = {
        "day": day, "today": today, "trend": trend, "charts": summary_charts(trend),
        "channel_labels": CHANNEL_LABELS, "handoff_labels": HANDOFF_LABELS, "groups": groups,
        "findings": findings(engine, samples), "samples": samples, "pick_labels": PICK_LABELS,
        "items": list_items(engine, day, open_only=True), "categories": CATEGORIES, "statuses": STATUSES,
        "stylesheet": stylesheet, "css": css(),
    }
    return DailyReport(day, _environment.get_template("report.html").render(**context))


def css() -> str:
    return (Path(__file__).parent / "templates" / "report.css").read_text(encoding="utf-8")


def print_pdf(html: str, out: Path, chromium: str | None = None) -> Path:
    """Print the HTML to ``out`` with Chromium (A4, backgrounds)."""
    executable = chromium or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(executable).exists():
        raise ReportUnavailable("找不到 Chromium，打印不了 PDF：请安装 Debian 的 chromium（apt-get install chromium）。")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise ReportUnavailable("打印 PDF 需要 Playwright：pip install playwright（不用下载浏览器）。") from None
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(locale="zh-CN")
            page.set_content(html, wait_until="load")
            page.pdf(path=str(out), format="A4", print_background=True,
                     margin={"top": "14mm", "bottom": "14mm", "left": "12mm", "right": "12mm"})
        finally:
            browser.close()
    return out
