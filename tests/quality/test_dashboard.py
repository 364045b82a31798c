"""The dashboard's figures are the ones a person counts by hand from scripted conversations on
every channel (kiosk, phone, web) through the real customer API of a running server."""

from __future__ import annotations

from contextlib import closing

from tests.quality.support import converse, reviewer_client
from tests.server_fixtures import LiveServer, live_server, server_settings  # noqa: F401


def _talk(server: LiveServer) -> None:
    """Six conversations; what each must have been is checked, so the hand counts below hold."""
    paid = converse(server, "kiosk", ["我要交电费", "3201000001", "对", "再见", "满意"])
    assert [r["intent"] for r in paid] == ["pay_bill", "pay_bill", "pay_bill", "goodbye", "goodbye"]
    assert paid[2]["pay_url"]
    person = converse(server, "phone", ["转人工"])
    assert person[0]["handoff"]["reason"] == "asked"
    lost = converse(server, "web", ["电卡丢了怎么办", "购电卡找不到了能补吗"])
    assert [r["decision"] for r in lost] == ["none", "none"] and not any(r["handoff"] for r in lost)
    fire = converse(server, "web", ["家里着火了"])
    assert fire[0]["intent"] == "emergency" and fire[0]["handoff"]["reason"] == "emergency"
    tariff = converse(server, "kiosk", ["电价是多少", "再见", "不满意"])
    assert tariff[0]["intent"] == "tariff_info" and tariff[0]["decision"] == "accept"
    outage = converse(server, "phone", ["停电了怎么办", "不对"])
    assert outage[0]["intent"] == "report_outage" and outage[0]["decision"] == "accept"


def test_the_summary_matches_hand_counts(live_server: LiveServer) -> None:  # noqa: F811
    _talk(live_server)
    with closing(reviewer_client(live_server)) as reviewer:
        summary = reviewer.get("/api/admin/quality/summary", params={"days": 7})
        assert summary.status_code == 200, summary.text
        body = summary.json()
        # 5 + 1 + 2 + 1 + 3 + 2 turns in 6 conversations.
        assert body["turns"] == 14 and body["conversations"] == 6
        # Resolved (a request answered, no handoff): the payment, the tariff, the outage answer.
        assert body["resolved"] == 3 and body["resolution_rate"] == 0.5
        assert body["handoffs"] == {"asked": 1, "emergency": 1}
        assert body["emergencies"] == 1 and body["frauds"] == 0
        assert body["none_rate"] == round(2 / 14, 4)
        assert body["satisfaction"] == {"满意": 1, "一般": 0, "不满意": 1}
        latency = body["latency_ms"]
        assert 0 < latency["median"] <= latency["p90"]
        channels = {c["channel"]: c for c in body["by_channel"]}
        assert {c: (channels[c]["conversations"], channels[c]["turns"]) for c in channels} == {
            "kiosk": (2, 8), "phone": (2, 3), "web": (2, 3)}
        assert channels["phone"]["handoffs"] == {"asked": 1} and channels["web"]["handoffs"] == {"emergency": 1}
        assert channels["kiosk"]["resolution_rate"] == 1.0
        assert len(body["by_day"]) == 7 and body["by_day"][-1]["turns"] == 14
        only_phone = reviewer.get("/api/admin/quality/summary", params={"days": 30, "channel": "phone"}).json()
        assert only_phone["turns"] == 3 and only_phone["conversations"] == 2

        # More turns later are counted once each (the rollup reads only what is new).
        converse(live_server, "web", ["电价是多少"])
        again = reviewer.get("/api/admin/quality/summary", params={"days": 7}).json()
        assert again["turns"] == 15 and again["conversations"] == 7

        page = reviewer.get("/admin/quality", params={"days": 7})
        assert page.status_code == 200
        assert 'data-figure="turns">15<' in page.text and 'data-figure="conversations">7<' in page.text
        assert page.text.count("<svg") >= 4 and "转人工原因" in page.text and "客户要求" in page.text

        table = reviewer.get("/api/admin/quality/export/channels.csv", params={"days": 7})
        assert table.status_code == 200 and table.headers["content-type"].startswith("text/csv")
        lines = table.text.lstrip("\ufeff").splitlines()
        assert lines[0].startswith("渠道,对话,轮数")
        assert any(line.startswith("电话,2,3,") for line in lines)
        for name in ("days", "handoffs", "groups", "samples", "rectifications"):
            assert reviewer.get(f"/api/admin/quality/export/{name}.csv").status_code == 200
        assert reviewer.get("/api/admin/quality/export/users.csv").status_code == 404
