"""The daily report: `xiaodian quality report --date D --out f.pdf` prints it with Chromium; its pages are
read back (pypdf) and the same HTML and the dashboard are screenshotted by Chromium for a person to look at."""

from __future__ import annotations

import os
import subprocess
import sys
import unicodedata
from contextlib import closing
from pathlib import Path

import pytest
from pypdf import PdfReader

from knowledge_base.models import service_today
from tests.quality.support import converse, reviewer_client
from tests.server_fixtures import LiveServer, live_server, server_settings  # noqa: F401
from tests.browser_fixtures import ARTIFACTS, browser, log_in, require_chromium  # noqa: F401

pytestmark = pytest.mark.slow


def _talk(server: LiveServer) -> None:
    converse(server, "kiosk", ["我要交电费", "3201000001", "对", "再见", "满意"])
    converse(server, "phone", ["转人工"])
    converse(server, "web", ["家里着火了"])
    for line in ["电卡丢了怎么办", "购电卡找不到了能补吗", "电卡被孩子弄丢了", "树枝碰到电线了"]:
        converse(server, "web", [line])
    converse(server, "kiosk", ["电价是多少", "再见", "不满意"])


def test_the_daily_report_prints_to_pdf_and_renders_in_chromium(browser, live_server: LiveServer,  # noqa: F811
                                                                 tmp_path: Path) -> None:
    require_chromium()
    _talk(live_server)
    day = service_today().isoformat()
    with closing(reviewer_client(live_server)) as reviewer:
        reviewer.post("/api/admin/quality/rectifications", json={
            "title": "电卡丢了答不上", "category": "knowledge", "owner": "王工", "deadline": "2020-01-01",
            "utterances": ["电卡丢了怎么办"]})
        html = reviewer.get("/admin/quality/report", params={"day": day})
        assert html.status_code == 200 and "/admin/quality/report.css" in html.text
        served_pdf = reviewer.get("/admin/quality/report.pdf", params={"day": day}, timeout=120)
        assert served_pdf.status_code == 200 and served_pdf.content.startswith(b"%PDF")

    # The command line, on the same database (the server's data folder), as cron would run it.
    out = tmp_path / "report.pdf"
    settings = live_server.app.state.settings
    environment = {**os.environ, "XIAODIAN_DATA_DIR": str(settings.data_dir), "XIAODIAN_DEMO": "true"}
    done = subprocess.run([sys.executable, "-m", "assistant.cli", "quality", "report", "--date", day, "--out", str(out)],
                          env=environment, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "质检日报已写到" in done.stdout
    pages = PdfReader(str(out)).pages
    # Chromium's CJK font maps some characters to their compatibility forms (⽇ for 日): NFKC folds them back.
    text = unicodedata.normalize("NFKC", "".join(page.extract_text() for page in pages)).replace("\n", "")
    assert 2 <= len(pages) <= 6
    for expected in ("服务质检日报", day, "解决率", "转人工原因", "没答上的问题", "电卡丢了怎么办", "电卡丢了答不上",
                     "当天抽检"):
        assert expected in text, expected
    assert "13812345678" not in text

    html_out = tmp_path / "report.html"
    subprocess.run([sys.executable, "-m", "assistant.cli", "quality", "report", "--date", day, "--out",
                    str(html_out)], env=environment, check=True, capture_output=True, timeout=180)
    page = browser.new_page(viewport={"width": 900, "height": 1200}, locale="zh-CN")
    page.goto(html_out.as_uri())
    # What the PDF holds, as a picture for a person to look at.
    page.screenshot(path=str(ARTIFACTS / "quality-report.png"), full_page=True)
    label_size = page.evaluate("() => parseFloat(getComputedStyle(document.querySelector('svg text')).fontSize)")
    assert label_size >= 20  # chart labels readable at 20 px
    assert page.locator("svg[role=img]").count() >= 4
    assert page.locator("tr.overdue").count() == 1  # the overdue item stands out (bold, 已逾期)
    page.close()

    dashboard = log_in(browser, live_server, "admin1")
    dashboard.goto(live_server.url + "/admin/quality?days=7")
    assert dashboard.locator('[data-figure="conversations"]').inner_text() == "8"
    dashboard.screenshot(path=str(ARTIFACTS / "quality-dashboard.png"), full_page=True)
    dashboard.goto(live_server.url + "/admin/quality/groups")
    dashboard.screenshot(path=str(ARTIFACTS / "quality-groups.png"), full_page=True)
    # The fix in two clicks, in the browser: choose the intent, press the button.
    lost = dashboard.locator("section.group", has_text="电卡丢了怎么办")
    lost.locator("select[name=intent]").select_option("meter_issue")
    lost.locator("button[type=submit]").click()
    dashboard.wait_for_load_state("networkidle")
    assert "已把 3 句加到" in dashboard.locator("[role=status]").inner_text()
    assert converse(live_server, "kiosk", ["电卡被孩子弄丢了"])[0]["intent"] == "meter_issue"
