"""Finding 6: admin answer templates ran Python format specs.

``{hall_phone:电话}`` made every matching question a 500, and ``{hall_name:>30000000}``
a 60 MB reply and a 30 MB turn-log row per question. Only plain ``{field}`` is allowed,
checked on save and on import, and rendering itself never runs a format spec.
"""

from __future__ import annotations

from contextlib import closing
from typing import Any

import httpx
import pytest
import yaml
from sqlmodel import select

from assistant.answers import render
from knowledge_base.db import session
from knowledge_base.models import Intent, TurnLog
from tests.server_fixtures import LiveServer, live_login, live_server, server_settings  # noqa: F401

BAD_TEMPLATES = [
    "营业厅电话：{hall_phone:电话}",  # a format spec: ValueError on every question
    "营业厅：{hall_name:>30000000}",  # a format spec: a 30 MB answer
    "营业厅：{hall_name!r}",  # a conversion
    "营业厅：{hall_name.upper}",  # attribute access
    "营业厅：{hall_name[0]}",  # index access
]
POLITE_SORRY = "查不到"


def _new_intent(answer: str) -> dict[str, Any]:
    return {"id": "hall_phone_only", "title": "营业厅电话", "description": "",
            "examples": ["营业厅的电话号码是多少", "给营业厅打电话打哪个号", "营业厅座机号码"],
            "keywords": [], "answer_display": answer, "action": "hall_info", "needs_account": False}


def _messages(response: httpx.Response) -> str:
    return " ".join(item["msg"] for item in response.json()["detail"])


@pytest.mark.parametrize("template", BAD_TEMPLATES)
def test_a_format_spec_is_refused_on_save(live_server: LiveServer, template: str) -> None:
    with closing(live_login(live_server, "admin1")) as admin:
        created = admin.post("/api/admin/intents", json=_new_intent(template))
        assert created.status_code == 422, created.text
        assert "只能写成" in _messages(created)  # tells the admin the one allowed shape
        current = admin.get("/api/admin/intents/hall_info").json()
        body = {key: current[key] for key in ("title", "description", "examples", "keywords", "action",
                                              "needs_account", "version")}
        edited = admin.put("/api/admin/intents/hall_info", json={**body, "answer_display": template})
        assert edited.status_code == 422, edited.text
        assert admin.post("/api/converse", json={"text": "营业厅在哪"}).status_code == 200


def test_an_overlong_answer_is_refused(live_server: LiveServer) -> None:
    with closing(live_login(live_server, "admin1")) as admin:
        created = admin.post("/api/admin/intents", json=_new_intent("请到营业厅办理。" * 200))
        assert created.status_code == 422 and "最多" in _messages(created)


def test_a_format_spec_is_refused_on_import(live_server: LiveServer) -> None:
    with closing(live_login(live_server, "admin1")) as admin:
        data = yaml.safe_load(admin.get("/api/admin/export/intents.yaml").text)
        hall = next(item for item in data["intents"] if item["id"] == "hall_info")
        hall["answer"] = "营业厅电话：{hall_phone:电话}"
        text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
        result = admin.post("/api/admin/import/intents", files={"file": ("x.yaml", text.encode(), "text/yaml")})
        assert result.status_code == 422, result.text
        assert "hall_info" in _messages(result) and "只能写成" in _messages(result)
    with session(live_server.app.state.engine) as db:
        hall_row = db.get(Intent, "hall_info")
        assert hall_row is not None and "{hall_phone:电话}" not in hall_row.answer_display


@pytest.mark.parametrize("template", ["营业厅电话：{hall_phone:电话}", "营业厅：{hall_name:>30000000}",
                                      "营业厅：{hall_name.__class__}", "营业厅：{hall_name[0]}"])
def test_a_bad_template_already_stored_gets_a_polite_short_answer(live_server: LiveServer, template: str) -> None:
    """A row written before these checks (or straight into the database) must not take the service down."""
    engine = live_server.app.state.engine
    with session(engine) as db:
        hall_row = db.get(Intent, "hall_info")
        assert hall_row is not None
        hall_row.answer_display = template
        hall_row.answer_spoken = None
        db.add(hall_row)
        db.commit()
    live_server.app.state.knowledge.reload()
    with httpx.Client(base_url=live_server.url, timeout=30) as customer:
        reply = customer.post("/api/converse", json={"text": "营业厅在哪"})
    assert reply.status_code == 200, reply.text[:200]
    assert len(reply.content) < 10_000
    assert POLITE_SORRY in reply.json()["text"]
    with session(engine) as db:
        logged = db.exec(select(TurnLog).order_by(TurnLog.id.desc())).first()  # type: ignore[union-attr]
    assert logged is not None and len(logged.reply) < 1000


def test_render_never_runs_a_format_spec() -> None:
    fields = {"hall_name": "城东营业厅", "hall_phone": "025-12345678"}
    assert render("请到{hall_name}办理，电话{hall_phone}。", fields) == ("请到城东营业厅办理，电话025-12345678。", ())
    for template in BAD_TEMPLATES:
        text, missing = render(template, fields)
        assert missing, template
        assert len(text) < 1000
