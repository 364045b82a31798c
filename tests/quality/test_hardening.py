"""What the quality pages hand out stays harmless: no holder's full name in the daily report, CSV cells that
Excel shows instead of running, and one report print at a time (a busy print is refused politely, a
printed day is served again without printing). Red-team findings 6, 8 and 10."""

from __future__ import annotations

import csv
import io
from contextlib import closing
from pathlib import Path

import httpx
import pytest

import server.routes.quality as quality_routes
from assistant.dialogue import Channel
from assistant.quality.privacy import spreadsheet_safe
from tests.quality.support import admin_client, reviewer_client
from tests.server_fixtures import LiveServer, live_server, server_settings  # noqa: F401


@pytest.mark.parametrize("typed", ["=1+2", "+86 139", "-2+3", "@SUM(A1)", "\tx", "\rx"])
def test_a_cell_that_starts_like_a_formula_is_shown_not_run(typed: str) -> None:
    assert spreadsheet_safe(typed) == "'" + typed
    assert spreadsheet_safe("电卡丢了 = 补卡") == "电卡丢了 = 补卡" and spreadsheet_safe(-3) == -3


def test_every_export_and_the_report_keep_names_and_formulas_harmless(live_server: LiveServer) -> None:  # noqa: F811
    services = live_server.app.state.services
    session_id = services.conversations.present_card(None, Channel.KIOSK, "3201000001", "127.0.0.1")  # where the customer stands
    with httpx.Client(base_url=live_server.url, timeout=30) as customer:
        for _ in range(2):
            customer.post("/api/converse", json={"text": "张建华阿巴阿巴", "session_id": session_id})
    with closing(reviewer_client(live_server)) as reviewer:
        reviewer.post("/api/admin/quality/rectifications", json={
            "title": "@SUM(1+1)", "category": "knowledge", "owner": "+王工", "deadline": "2026-12-31"})
        report = reviewer.get("/admin/quality/report").text
    assert "张*华阿巴阿巴" in report and "张建华" not in report
    with closing(admin_client(live_server)) as admin:
        for table in quality_routes.CSV_TABLES:
            exported = admin.get(f"/api/admin/quality/export/{table}.csv", params={"days": 1}).text
            cells = [cell for row in list(csv.reader(io.StringIO(exported.lstrip("\ufeff"))))[1:] for cell in row]
            assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in cells), (table, exported)
            assert session_id not in exported and "张建华" not in exported, table


def test_the_report_pdf_prints_once_and_politely_refuses_while_busy(live_server: LiveServer,  # noqa: F811
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    printed: list[str] = []

    def fake_print(html: str, out: Path, chromium: str | None = None) -> Path:  # Chromium's cost is not the point
        printed.append(html)
        out.write_bytes(b"%PDF-1.4 stub")
        return out

    monkeypatch.setattr(quality_routes, "print_pdf", fake_print)
    with closing(reviewer_client(live_server)) as reviewer:
        assert quality_routes._PRINTING.acquire(blocking=False)  # another reviewer's print is running
        try:
            busy = reviewer.get("/admin/quality/report.pdf")
        finally:
            quality_routes._PRINTING.release()
        assert busy.status_code == 503 and "请过半分钟再点一次" in busy.text
        assert busy.headers.get("Retry-After") == "30"
        first, again = (reviewer.get("/admin/quality/report.pdf") for _ in range(2))
    assert first.status_code == again.status_code == 200 and again.content == first.content
    assert len(printed) == 1, "the day's PDF is printed once and kept a few minutes"
