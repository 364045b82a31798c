"""The admin intent editor: checks, conflicts, versions, audit, YAML, live reload of the matcher."""

from __future__ import annotations

from contextlib import closing
from typing import Any

import httpx
import yaml
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import col, select

from knowledge_base.db import session
from knowledge_base.intent_schema import IntentItem
from knowledge_base.models import AuditLog, Intent
from knowledge_base.seed import seed_database
from tests.server_fixtures import (  # noqa: F401  (pytest finds the fixtures by name)
    admin_client,
    app,
    client,
    csrf_from_page,
    live_login,
    live_server,
    server_settings,
)

NEW_INTENT: dict[str, Any] = {
    "id": "heating_subsidy",
    "title": "取暖补贴",
    "description": "冬季电取暖的补贴怎么领",
    "examples": ["冬天电取暖有补贴吗", "电暖气补贴怎么领", "煤改电的补贴什么时候发"],
    "keywords": ["取暖补贴", "煤改电"],
    "answer_display": "冬季电取暖补贴按街道通知发放，请带身份证到{hall_name}办理。",
    "answer_account_display": None,
    "action": "",
    "needs_account": False,
}
NEW_HALL_ANSWER = "营业厅每天早上八点半开门，下午五点关门，节假日照常营业。"


def _messages(response: httpx.Response) -> str:
    return " ".join(item["msg"] for item in response.json()["detail"])


def _intent(app: FastAPI, intent_id: str) -> Intent:
    with session(app.state.engine) as db:
        row = db.get(Intent, intent_id)
    assert row is not None
    return row


def _audit(app: FastAPI, intent_id: str) -> list[AuditLog]:
    with session(app.state.engine) as db:
        return list(db.exec(select(AuditLog).where(AuditLog.entity_id == intent_id).order_by(col(AuditLog.id))))


def _edit_body(client: TestClient, intent_id: str, **changes: Any) -> dict[str, Any]:
    current = client.get(f"/api/admin/intents/{intent_id}").json()
    keys = ["title", "description", "examples", "keywords", "answer_display", "answer_spoken",
            "answer_account_display", "answer_account_spoken", "action", "needs_account", "version"]
    return {**{key: current[key] for key in keys}, **changes}


def test_list_and_search(admin_client: TestClient) -> None:
    everything = admin_client.get("/api/admin/intents").json()
    assert len(everything) >= 35 and {"pay_bill", "hall_info"} <= {i["id"] for i in everything}
    by_title = {i["id"] for i in admin_client.get("/api/admin/intents", params={"q": "营业厅"}).json()}
    assert "hall_info" in by_title
    by_example = {i["id"] for i in admin_client.get("/api/admin/intents", params={"q": "几点下班"}).json()}
    assert by_example == {"hall_info"}
    by_id = [i["id"] for i in admin_client.get("/api/admin/intents", params={"q": "pay_b"}).json()]
    assert by_id == ["pay_bill"]
    page = admin_client.get("/admin", params={"q": "营业厅"})
    assert page.status_code == 200 and "hall_info" in page.text and "pay_bill" not in page.text


def test_pages_render(admin_client: TestClient) -> None:
    for path, text in [("/admin", "问答意图"), ("/admin/intents/hall_info", "编辑意图"),
                       ("/admin/intents/new", "新建意图"), ("/admin/audit", "修改记录")]:
        page = admin_client.get(path)
        assert page.status_code == 200 and text in page.text, path
        assert csrf_from_page(page.text) == admin_client.headers["X-CSRF-Token"]
        assert 'href="/static/css/site.css"' in page.text and "http" not in page.text.split("<body")[0]
    missing = admin_client.get("/admin/intents/no_such_intent")
    assert missing.status_code == 404 and "没有意图" in missing.text
    assert admin_client.get("/static/js/admin.js").status_code == 200


def test_create_intent_is_live_and_audited(admin_client: TestClient, app: FastAPI) -> None:
    created = admin_client.post("/api/admin/intents", json=NEW_INTENT)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["origin"] == "admin" and body["version"] == 1 and body["action"] == "heating_subsidy"
    reply = app.state.knowledge.ask("煤改电的补贴什么时候发")
    assert reply.match.intent == "heating_subsidy"
    assert reply.answer is not None and reply.answer.display.startswith("冬季电取暖补贴按街道通知发放")
    [entry] = _audit(app, "heating_subsidy")
    assert entry.actor == "admin1" and entry.action == "create" and entry.before is None
    assert entry.after is not None and entry.after["title"] == "取暖补贴"
    again = admin_client.post("/api/admin/intents", json=NEW_INTENT)
    assert again.status_code == 422 and "已经有了" in _messages(again)


def test_validation_messages_are_chinese(admin_client: TestClient) -> None:
    bad = {**NEW_INTENT, "id": "Bad-ID", "title": " ", "examples": ["交个什么", "", "交个什么！"],
           "answer_display": "您的余额是{balance}元", "answer_account_display": "户号{acount}", "action": "X"}
    response = admin_client.post("/api/admin/intents", json=bad)
    assert response.status_code == 422
    by_field: dict[str, list[str]] = {}
    for item in response.json()["detail"]:
        by_field.setdefault(item["loc"][-1], []).append(item["msg"])
    assert "小写英文字母开头" in by_field["id"][0]
    assert by_field["title"] == ["请填写标题。"]
    assert "至少要 3 个不同的例句（现在 1 个）" in by_field["examples"][0]
    assert "知道户号时的回答" in by_field["answer_display"][0]  # {balance} needs the account
    assert "{acount} 不认识" in by_field["answer_account_display"][0]
    assert "小写字母开头" in by_field["action"][0]
    broken = admin_client.post("/api/admin/intents", json={**NEW_INTENT, "answer_display": "营业时间{hall_hours"})
    assert "花括号" in _messages(broken)
    wrong_type = admin_client.post("/api/admin/intents", json={**NEW_INTENT, "examples": "不是列表"})
    assert wrong_type.status_code == 422 and wrong_type.json()["detail"][0]["msg"] == "应该是一个列表"


def test_an_example_of_another_intent_is_refused(admin_client: TestClient) -> None:
    # 交 电费！ is pay_bill's 交电费 once normalised (spaces and punctuation go).
    response = admin_client.post("/api/admin/intents", json={**NEW_INTENT, "examples": [
        *NEW_INTENT["examples"], "交 电费！"]})
    assert response.status_code == 422
    [problem] = response.json()["detail"]
    assert problem["conflict"] == {"example": "交 电费！", "intent_id": "pay_bill", "title": "交电费"}
    assert "已经属于意图 pay_bill（交电费）" in problem["msg"]


def test_edit_reloads_the_matcher_without_restart(admin_client: TestClient, app: FastAPI) -> None:
    assert NEW_HALL_ANSWER not in app.state.knowledge.ask("营业厅几点开门").answer.display
    saved = admin_client.put("/api/admin/intents/hall_info",
                             json=_edit_body(admin_client, "hall_info", answer_display=NEW_HALL_ANSWER))
    assert saved.status_code == 200, saved.text
    assert saved.json()["version"] == 2 and saved.json()["origin"] == "admin"
    reply = app.state.knowledge.ask("营业厅几点开门")
    assert reply.match.intent == "hall_info" and reply.answer is not None
    assert reply.answer.display == NEW_HALL_ANSWER
    row = _intent(app, "hall_info")
    assert row.origin == "admin" and row.version == 2
    [entry] = _audit(app, "hall_info")
    assert entry.action == "update" and entry.actor == "admin1"
    assert entry.before is not None and entry.after is not None
    assert entry.before["answer_display"].startswith("{hall_name}") and entry.after["answer_display"] == NEW_HALL_ANSWER
    # Seeding again (every start does) keeps the admin's text.
    seed_database(app.state.engine)
    assert _intent(app, "hall_info").answer_display == NEW_HALL_ANSWER
    audit_page = admin_client.get("/admin/audit", params={"entity_id": "hall_info"})
    assert NEW_HALL_ANSWER in audit_page.text and "admin1" in audit_page.text


def test_a_stale_version_gets_409(admin_client: TestClient, app: FastAPI) -> None:
    first = _edit_body(admin_client, "hall_info", answer_display=NEW_HALL_ANSWER)
    second = _edit_body(admin_client, "hall_info", answer_display="另一个人写的回答。")
    assert admin_client.put("/api/admin/intents/hall_info", json=first).status_code == 200
    stale = admin_client.put("/api/admin/intents/hall_info", json=second)
    assert stale.status_code == 409
    assert stale.json()["detail"] == "这个意图刚被别人改过，请刷新后再改。"
    assert _intent(app, "hall_info").answer_display == NEW_HALL_ANSWER
    assert admin_client.post("/api/admin/intents/hall_info/disable", json={"version": 1}).status_code == 409


def test_disable_and_enable(admin_client: TestClient, app: FastAPI) -> None:
    assert app.state.knowledge.ask("电动汽车充电桩怎么装").match.intent == "ev_charging"
    disabled = admin_client.post("/api/admin/intents/ev_charging/disable", json={"version": 1})
    assert disabled.status_code == 200 and disabled.json()["enabled"] is False
    assert app.state.knowledge.ask("电动汽车充电桩怎么装").match.intent != "ev_charging"
    enabled = admin_client.post("/api/admin/intents/ev_charging/enable", json={"version": 2})
    assert enabled.status_code == 200 and enabled.json()["enabled"] is True
    assert app.state.knowledge.ask("电动汽车充电桩怎么装").match.intent == "ev_charging"
    assert [e.action for e in _audit(app, "ev_charging")] == ["disable", "enable"]
    essential = admin_client.post("/api/admin/intents/human_agent/disable", json={"version": 1})
    assert essential.status_code == 422 and "不能停用" in _messages(essential)


def test_try_a_phrase_ranks_candidates(admin_client: TestClient) -> None:
    result = admin_client.post("/api/admin/try", json={"text": "嗯，营业厅几点开门啊"}).json()
    assert result["intent"] == "hall_info" and result["decision"] in ("accept", "confirm")
    assert result["normalized"] == "营业厅几点开门"
    scores = [c["score"] for c in result["candidates"]]
    assert scores == sorted(scores, reverse=True) and result["candidates"][0]["title"] == "营业厅信息"
    assert "营业厅" in result["answer"]
    nonsense = admin_client.post("/api/admin/try", json={"text": "今天天气怎么样"}).json()
    assert nonsense["decision"] in ("none", "confirm")


def test_export_is_the_seed_schema_and_imports_unchanged(admin_client: TestClient, app: FastAPI) -> None:
    exported = admin_client.get("/api/admin/export/intents.yaml")
    assert exported.status_code == 200 and "attachment" in exported.headers["content-disposition"]
    data = yaml.safe_load(exported.text)
    seeds = [IntentItem.model_validate(item) for item in data["intents"]]  # the seed file's own schema
    assert len(seeds) == len(admin_client.get("/api/admin/intents").json())
    result = admin_client.post("/api/admin/import/intents",
                               files={"file": ("intents.yaml", exported.content, "application/yaml")})
    assert result.status_code == 200, result.text
    assert result.json() == {"created": [], "updated": [], "unchanged": len(seeds)}
    assert _audit(app, "hall_info") == []


def test_import_creates_updates_and_audits(admin_client: TestClient, app: FastAPI) -> None:
    data = yaml.safe_load(admin_client.get("/api/admin/export/intents.yaml").text)
    for item in data["intents"]:
        if item["id"] == "hall_info":
            item["answer"] = NEW_HALL_ANSWER
    new = {key: value for key, value in NEW_INTENT.items() if key not in ("answer_display", "answer_account_display")}
    data["intents"].append({**new, "action": "heating_subsidy", "answer": NEW_INTENT["answer_display"]})
    text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
    result = admin_client.post("/api/admin/import/intents", files={"file": ("x.yaml", text.encode(), "text/yaml")})
    assert result.status_code == 200, result.text
    assert result.json()["created"] == ["heating_subsidy"] and result.json()["updated"] == ["hall_info"]
    assert app.state.knowledge.ask("营业厅几点开门").answer.display == NEW_HALL_ANSWER
    assert app.state.knowledge.ask("电暖气补贴怎么领").match.intent == "heating_subsidy"
    assert [e.action for e in _audit(app, "hall_info")] == ["import"]
    assert _intent(app, "hall_info").origin == "admin"


def test_import_is_all_or_nothing(admin_client: TestClient, app: FastAPI) -> None:
    data = yaml.safe_load(admin_client.get("/api/admin/export/intents.yaml").text)
    data["intents"][0]["answer"] = "这条改动不应该生效。"
    data["intents"][1]["examples"] = ["只有一句"]
    data["intents"][2]["id"] = "Bad Id"
    data["intents"].append({**data["intents"][3]})  # the same id twice
    text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
    result = admin_client.post("/api/admin/import/intents", files={"file": ("x.yaml", text.encode(), "text/yaml")})
    assert result.status_code == 422
    messages = _messages(result)
    # The same checks, in the same words, as the admin's form.
    assert "第 2 个意图（" in messages and "至少要 3 个不同的例句" in messages
    assert "第 3 个意图（Bad Id）：编号要用小写英文字母开头" in messages and "意图 Bad Id" not in messages
    assert "出现了不止一次" in messages
    first_id = data["intents"][0]["id"]
    assert _intent(app, first_id).answer_display != "这条改动不应该生效。" and _audit(app, first_id) == []
    def upload(content: bytes) -> httpx.Response:
        return admin_client.post("/api/admin/import/intents", files={"file": ("x.yaml", content, "text/yaml")})

    garbage = upload(b"intents: [a: b: c")
    assert garbage.status_code == 422 and "YAML 格式不对" in _messages(garbage)
    wrong_shape = upload(b"- 1\n- 2\n")
    assert wrong_shape.status_code == 422 and "intents:" in _messages(wrong_shape)
    too_big = upload(b"#" * 1_000_001)
    assert too_big.status_code == 413 and "文件太大" in too_big.json()["detail"]


def test_import_refuses_an_example_two_intents_would_share(admin_client: TestClient) -> None:
    data = yaml.safe_load(admin_client.get("/api/admin/export/intents.yaml").text)
    hall = next(item for item in data["intents"] if item["id"] == "hall_info")
    hall["examples"].append("交电费")
    text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
    result = admin_client.post("/api/admin/import/intents", files={"file": ("x.yaml", text.encode(), "text/yaml")})
    assert result.status_code == 422 and "pay_bill" in _messages(result)


def test_audit_api_lists_recent_changes(admin_client: TestClient) -> None:
    admin_client.post("/api/admin/intents", json=NEW_INTENT)
    admin_client.post("/api/admin/intents/heating_subsidy/disable", json={"version": 1})
    entries = admin_client.get("/api/admin/audit", params={"entity_id": "heating_subsidy"}).json()
    assert [e["action"] for e in entries] == ["disable", "create"]
    assert entries[0]["changes"] == [{"field": "enabled", "label": "启用", "before": True, "after": False}]


def test_edit_over_real_http(live_server) -> None:  # type: ignore[no-untyped-def]
    with closing(live_login(live_server, "admin1")) as admin:
        current = admin.get("/api/admin/intents/hall_info").json()
        body = {key: current[key] for key in ("title", "description", "examples", "keywords", "answer_display",
                                              "action", "needs_account", "version")}
        saved = admin.put("/api/admin/intents/hall_info", json={**body, "answer_display": NEW_HALL_ANSWER})
        assert saved.status_code == 200, saved.text
    assert live_server.app.state.knowledge.ask("营业厅几点开门").answer.display == NEW_HALL_ANSWER
