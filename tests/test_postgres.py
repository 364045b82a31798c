"""The same knowledge base and conversation code on PostgreSQL."""

from datetime import datetime

from sqlmodel import select

from assistant.conversation import ConversationService
from assistant.knowledge import Knowledge
from knowledge_base.db import make_engine, session
from knowledge_base.models import SERVICE_TZ, HandoffTicket, Intent, TurnLog
from knowledge_base.seed import seed_database
from tests.conftest import TODAY
from tests.postgres import fresh_database, postgres_url  # noqa: F401  (fixture)


def test_seed_and_converse_on_postgres(postgres_url: str) -> None:  # noqa: F811
    engine = make_engine(fresh_database(postgres_url, "conversation"))
    assert seed_database(engine, today=TODAY).changed
    assert not seed_database(engine, today=TODAY).changed  # idempotent here too
    knowledge = Knowledge(engine)
    service = ConversationService(knowledge, None, clock=lambda: datetime(2026, 11, 22, 10, tzinfo=SERVICE_TZ))
    state = service.start("phone", caller_phone="13800000001")  # issue 8: a verified caller hears the bill
    assert "128.50元" in service.handle(state.id, "上个月电费多少").text
    service.handle(state.id, "嘎嘎嘎嘎")  # not understood twice (small talk is not a miss since issue 10)
    handed = service.handle(state.id, "哗啦哗啦的那个东西")
    assert handed.handoff is not None
    with session(engine) as db:
        assert len(db.exec(select(Intent)).all()) >= 35
        assert db.exec(select(HandoffTicket)).one().transcript[0]["text"] == "上个月电费多少"
        assert len(db.exec(select(TurnLog)).all()) == 3
    engine.dispose()


def test_service_on_postgres(postgres_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    """The HTTP service itself on PostgreSQL: a conversation, a handoff, an admin edit reaching the kiosk."""
    from fastapi.testclient import TestClient

    from knowledge_base.settings import Settings
    from server.app import create_app
    from tests.server_fixtures import ACCOUNTS, create_user, login

    settings = Settings(data_dir=tmp_path / "data", speech_enabled=False, demo=True,
                        database_url=fresh_database(postgres_url, "service"))
    app = create_app(settings)
    with TestClient(app) as kiosk:
        assert kiosk.get("/readyz").json()["ready"]
        create_user(app.state.engine, "admin1", "admin", ACCOUNTS["admin1"][1])
        reply = kiosk.post("/api/converse", json={"text": "户号3201000001，上个月电费多少"}).json()
        assert "128.50元" in reply["text"]
        handed = kiosk.post("/api/converse", json={"text": "转人工", "session_id": reply["session_id"]}).json()
        assert handed["handoff"]["reason"] == "asked"
        admin = TestClient(app)
        assert login(admin, "admin1", ACCOUNTS["admin1"][1]).status_code == 303
        current = admin.get("/api/admin/intents/hall_info").json()
        current["answer_display"] = "营业厅搬到文昌路1号了。"
        saved = admin.put("/api/admin/intents/hall_info", json=current)
        assert saved.status_code == 200, saved.text
        assert "文昌路1号" in kiosk.post("/api/converse", json={"text": "营业厅几点开门"}).json()["text"]
