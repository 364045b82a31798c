"""From an unanswered group to a better answer in two clicks, and the fix seen working."""

from __future__ import annotations

import re
from contextlib import closing
from datetime import timedelta

from assistant.conversation import ConversationService
from knowledge_base.models import service_today, utc_now
from tests.quality.support import admin_client, converse, csrf, reviewer_client
from tests.server_fixtures import LiveServer, live_server, server_settings  # noqa: F401

LOST_CARD = ["电卡丢了怎么办", "购电卡找不到了能补吗", "电卡被孩子弄丢了"]
TREE = ["树枝碰到电线了", "树长高了缠住电线", "修剪电线旁边的树找谁", "我家树长到电线上了能修剪吗", "砍电线旁边的树要申请吗"]


def _group_with(groups: list[dict], text: str) -> dict:
    return next(g for g in groups if text in [m["text"] for m in g["members"]])


def test_adding_a_group_as_examples_changes_the_next_answer(live_server: LiveServer) -> None:  # noqa: F811
    for line in LOST_CARD:
        assert converse(live_server, "web", [line])[0]["decision"] == "none"
    with closing(admin_client(live_server)) as admin, closing(reviewer_client(live_server)) as reviewer:
        groups = admin.get("/api/admin/quality/groups", params={"days": 7}).json()
        lost = _group_with(groups, LOST_CARD[0])
        assert sorted(m["text"] for m in lost["members"]) == sorted(LOST_CARD)  # paraphrases together
        assert lost["count"] == 3 and lost["reasons"] == {"没听懂": 3} and lost["trend"][-1] == 3

        # A reviewer sees the group but may not change intents.
        page = reviewer.get("/admin/quality/groups")
        assert page.status_code == 200 and LOST_CARD[0] in page.text and "加为这个意图的例句" not in page.text
        refused = reviewer.post("/admin/quality/groups/add-examples",
                                data={"csrf_token": csrf(reviewer), "intent": "meter_issue", "examples": LOST_CARD})
        assert refused.status_code == 403

        # The admin's one click: the form is already filled with the group's texts and a suggested intent.
        page = admin.get("/admin/quality/groups").text
        assert all(f'value="{text}" checked' in page for text in LOST_CARD)
        saved = admin.post("/admin/quality/groups/add-examples",
                           data={"csrf_token": csrf(admin), "days": "7", "intent": "meter_issue",
                                 "examples": LOST_CARD}, follow_redirects=True)
        assert saved.status_code == 200 and "已把 3 句加到" in saved.text

        assert converse(live_server, "kiosk", ["电卡丢了怎么办"])[0]["intent"] == "meter_issue"
        # Answered now: the group does not grow.
        assert _group_with(admin.get("/api/admin/quality/groups").json(), LOST_CARD[0])["count"] == 3
        audit = admin.get("/api/admin/audit", params={"entity_id": "meter_issue"}).json()
        assert audit[0]["actor"] == "admin1" and audit[0]["action"] == "update"


def test_a_new_intent_from_a_group_opens_the_editor_prefilled(live_server: LiveServer) -> None:  # noqa: F811
    for line in TREE:
        assert converse(live_server, "web", [line])[0]["decision"] == "none"
    with closing(admin_client(live_server)) as admin:
        groups = admin.get("/api/admin/quality/groups", params={"days": 7}).json()
        tree = _group_with(groups, TREE[0])
        form = admin.get("/admin/quality/groups/new-intent", params={"key": tree["key"]})
        assert form.status_code == 200
        assert all(f'value="{m["text"]}" checked' in form.text for m in tree["members"])
        created = admin.post("/admin/quality/groups/new-intent", data={
            "csrf_token": csrf(admin), "id": "tree_trimming", "title": "树碰电线",
            "examples": TREE, "answer_display": "树枝碰到电线，请您不要自己去剪。我们会派人来修剪，请告诉我地址。"})
        assert created.status_code == 303 and created.headers["location"] == "/admin/intents/tree_trimming?saved=1"
        bad = admin.post("/admin/quality/groups/new-intent", data={
            "csrf_token": csrf(admin), "id": "tree_again", "title": "树", "examples": TREE[:1], "answer_display": "好"})
        assert bad.status_code == 422 and "没有保存" not in bad.text and "例句" in bad.text
    answer = converse(live_server, "phone", ["树枝碰到电线了"])[0]
    assert answer["intent"] == "tree_trimming" and "修剪" in answer["text"]


def test_a_rectification_item_shows_its_effect_and_stands_out_when_overdue(live_server: LiveServer) -> None:  # noqa: F811
    app = live_server.app
    # Yesterday (the conversation's own clock), the lost-card question went unanswered twice in four turns.
    yesterday = ConversationService(app.state.knowledge, clock=lambda: utc_now() - timedelta(days=1))
    for line in ["电卡丢了怎么办", "电价是多少", "电卡丢了怎么办", "电价是多少"]:
        yesterday.handle(None, line, "kiosk")
    with closing(reviewer_client(live_server)) as reviewer:
        token = csrf(reviewer)
        groups = reviewer.get("/api/admin/quality/groups", params={"days": 7}).json()
        lost = _group_with(groups, "电卡丢了怎么办")
        created = reviewer.post("/api/admin/quality/rectifications", json={
            "title": "电卡丢了答不上", "category": "knowledge", "owner": "王工", "source": f"group:{lost['key']}",
            "deadline": (service_today() + timedelta(days=7)).isoformat(), "utterances": [lost["leader"]]})
        assert created.status_code == 201, created.text
        late = reviewer.post("/admin/quality/rectifications", data={
            "csrf_token": token, "title": "电话渠道转人工太多", "category": "dialogue", "owner": "李工",
            "deadline": (service_today() - timedelta(days=1)).isoformat()})
        assert late.status_code == 303

        # Today the answer exists (an admin added examples) and the customer is answered.
        with closing(admin_client(live_server)) as admin:
            current = admin.get("/api/admin/intents/meter_issue").json()
            body = {k: current[k] for k in ("title", "description", "examples", "keywords", "action", "needs_account",
                                            "answer_display", "version")}
            body["examples"] = [*body["examples"], "电卡丢了怎么办"]
            assert admin.put("/api/admin/intents/meter_issue", json=body).status_code == 200
        for _ in range(2):
            converse(live_server, "kiosk", ["电卡丢了怎么办"])

        items = {i["title"]: i for i in reviewer.get("/api/admin/quality/rectifications").json()}
        effect = items["电卡丢了答不上"]["effect"]
        assert effect == {"before_per_1000": 500.0, "after_per_1000": 0.0, "improved": True}
        assert items["电话渠道转人工太多"]["overdue"] and not items["电卡丢了答不上"]["overdue"]
        page = reviewer.get("/admin/quality/rectifications").text
        assert page.index("已逾期") < page.index("电卡丢了答不上")  # overdue first, and marked in words
        late_id = items["电话渠道转人工太多"]["id"]
        done = reviewer.put(f"/api/admin/quality/rectifications/{late_id}", json={"status": "done"})
        assert done.status_code == 200 and done.json()["overdue"] is False
        assert reviewer.post("/api/admin/quality/rectifications", json={
            "title": "x", "category": "nonsense", "owner": "王工", "deadline": "2026-12-01"}).status_code == 422
        assert re.search(r"已完成", reviewer.get("/admin/quality/rectifications").text)
