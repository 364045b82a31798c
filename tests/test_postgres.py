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
    state = service.start("kiosk", "3201000001")
    assert "128.50元" in service.handle(state.id, "上个月电费多少").text
    service.handle(state.id, "今天天气怎么样")
    handed = service.handle(state.id, "给我放首歌")
    assert handed.handoff is not None
    with session(engine) as db:
        assert len(db.exec(select(Intent)).all()) >= 35
        assert db.exec(select(HandoffTicket)).one().transcript[0]["text"] == "上个月电费多少"
        assert len(db.exec(select(TurnLog)).all()) == 3
    engine.dispose()
