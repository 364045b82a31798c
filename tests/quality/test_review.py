"""A reviewer samples the day (stratified plus targeted), reads a conversation with phones and names
masked, marks turns with reasons, rates the experience, and cannot touch intents or users."""

from __future__ import annotations

import re
from contextlib import closing

from assistant.quality.privacy import conversation_ref
from assistant.quality.rollup import refresh
from assistant.quality.sampling import SampleSize, draw_sample
from knowledge_base.models import service_today
from tests.quality.support import converse, csrf, reviewer_client
from tests.server_fixtures import LiveServer, live_server, server_settings  # noqa: F401


def test_the_reviewer_role_sees_quality_but_cannot_edit(live_server: LiveServer) -> None:  # noqa: F811
    with closing(reviewer_client(live_server)) as reviewer:
        home = reviewer.get("/", follow_redirects=False)
        assert home.status_code == 200  # the kiosk page stays public
        assert reviewer.get("/admin/quality").status_code == 200
        page = reviewer.get("/admin/quality").text
        assert "服务质检" in page
        # Named for what they are, and offered only what they may open.
        assert "（质检员）" in page and "（客服）" not in page
        assert 'href="/staff"' not in page and 'href="/staff/refunds"' not in page
        for path in ("/admin", "/admin/intents/pay_bill", "/admin/audit", "/staff", "/api/admin/intents"):
            assert reviewer.get(path).status_code == 403, path
        body = {"title": "x", "examples": ["a", "b", "c"], "answer_display": "好", "action": "answer", "version": 1}
        assert reviewer.put("/api/admin/intents/pay_bill", json=body).status_code == 403
        assert reviewer.post("/api/admin/quality/groups/add-examples",
                             json={"intent": "pay_bill", "examples": ["交电费"]}).status_code == 403
        assert reviewer.get("/admin/quality/groups/new-intent", params={"key": "x"}).status_code == 403
        # A quality page without its CSRF token is refused.
        assert reviewer.post("/api/admin/quality/samples/draw", headers={"X-CSRF-Token": ""}).status_code == 403
    with closing(_staff(live_server)) as staff:
        assert staff.get("/admin/quality").status_code == 403
        assert staff.get("/api/admin/quality/summary").status_code == 403


def _staff(server: LiveServer):  # type: ignore[no-untyped-def]
    from tests.server_fixtures import live_login

    return live_login(server, "staff1")


def test_the_daily_sample_marks_and_ratings(live_server: LiveServer) -> None:  # noqa: F811
    person = converse(live_server, "phone", ["转人工"])
    unhappy = converse(live_server, "kiosk", ["电价是多少", "再见", "不满意"])
    personal = converse(live_server, "web", ["我要交电费", "3201000001", "我叫张建华，电话13812345678"])
    for _ in range(3):
        converse(live_server, "kiosk", ["营业厅在哪"])
    cross_border = converse(live_server, "web", ["我在国外怎么给我妈交电费"])
    assert cross_border[0]["intent"] == "cross_border_payment"
    engine = live_server.app.state.engine
    refresh(engine)
    # A small sample, so the targeted picks show: 2 by strata (largest first), then up to 2 per target.
    draw_sample(engine, service_today(), SampleSize(stratified=2, per_target=2))
    with closing(reviewer_client(live_server)) as reviewer:
        drawn = reviewer.post("/api/admin/quality/samples/draw")
        assert drawn.status_code == 200
        # Reviewers get a digest of each conversation, never its session id (which would continue it).
        assert all("session_id" not in row for row in drawn.json())
        picks = {row["conversation"]: row["picked_for"] for row in drawn.json()}
        first = {name: conversation_ref(replies[0]["session_id"]) for name, replies in
                 [("unhappy", unhappy), ("personal", personal), ("cross_border", cross_border), ("person", person)]}
        assert picks[first["unhappy"]] == "dissatisfied" and picks[first["person"]] == "handoff"
        assert picks[first["personal"]] == "high_frequency"  # paying is a high-frequency business
        assert picks[first["cross_border"]] == "stratum" and list(picks.values()).count("stratum") == 2
        again = reviewer.post("/api/admin/quality/samples/draw").json()
        assert [row["id"] for row in again] == [row["id"] for row in drawn.json()]  # drawn once a day

        sample_id = next(row["id"] for row in drawn.json() if row["conversation"] == first["personal"])
        page = reviewer.get(f"/admin/quality/samples/{sample_id}")
        assert page.status_code == 200
        assert "张*华" in page.text and "138****5678" in page.text
        assert "张建华" not in page.text and "13812345678" not in page.text
        turn_ids = [int(t) for t in re.findall(r'name="turn_id" value="(\d+)"', page.text)]
        assert len(turn_ids) == 3

        token = csrf(reviewer)
        missing_reason = reviewer.post(f"/admin/quality/samples/{sample_id}/marks", follow_redirects=True,
                                       data={"csrf_token": token, "turn_id": turn_ids[0], "verdict": "wrong"})
        assert "请选一个错误原因" in missing_reason.text
        reviewer.post(f"/admin/quality/samples/{sample_id}/marks",
                      data={"csrf_token": token, "turn_id": turn_ids[0], "verdict": "right"})
        reviewer.post(f"/admin/quality/samples/{sample_id}/marks",
                      data={"csrf_token": token, "turn_id": turn_ids[2], "verdict": "wrong", "reason": "not_answered"})
        rated = reviewer.post(f"/admin/quality/samples/{sample_id}/rating", follow_redirects=True, data={
            "csrf_token": token, "attitude": "5", "clarity": "4", "need_discovered": "2", "comment": "没接住客户报的名字"})
        assert "评分已保存" in rated.text
        assert "✘ 错：没有回答客户的问题" in rated.text and "✔ 对" in rated.text
        wrong_turn = reviewer.post(f"/api/admin/quality/samples/{sample_id}/marks",
                                   json={"turn_id": 999999, "correct": True})
        assert wrong_turn.status_code == 422
        bad_rating = reviewer.post(f"/api/admin/quality/samples/{sample_id}/rating",
                                   json={"attitude": 9, "clarity": 4, "need_discovered": 2})
        assert bad_rating.status_code == 422

        day = reviewer.get("/admin/quality/samples")
        assert "已检 1 个" in day.text and "有问题 1 句" in day.text
        report = reviewer.get("/admin/quality/report")
        assert report.status_code == 200 and "没有回答客户的问题" in report.text and "发现客户需求" in report.text
