"""Conversation state stored in the database: the codec round trip and the compare-and-set guard."""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from assistant.dialogue import Channel, Pending, Reply, SessionState, Turn, Verified
from assistant.session_codec import decode_state, encode_state
from assistant.sessions import SessionConflict, SessionStore, StoredSession
from assistant.voice_settings import VoiceSettings
from knowledge_base.db import make_engine, migrate

STARTED = datetime(2026, 11, 30, 8, 15, 0, 123456, tzinfo=timezone.utc)


def _every_field_set() -> SessionState:
    """A state in which no field has its default, so a field the codec forgets shows."""
    slow = VoiceSettings(rate=105, volume=0.8, sentence_pause_ms=600)
    return SessionState(
        id="abc123", channel=Channel.PHONE, started_at=STARTED, account="3201000003",
        pending=Pending("confirm_action", "pay_bill", ("13800000001", "二"), reminded=True),
        account_tries=1, misses=2,
        last_reply=Reply("您要交167.77元，对吗？", "您要交一百六十七点七七元，对吗", "pay_bill", "confirm", slow,
                         ("pay_bill", "query_bill"), end=True),
        voice=slow,
        transcript=(Turn("customer", "我要交电费", "pay_bill", 0.91), Turn("assistant", "请说户号。")),
        topic="pay_bill", handed_off=True, ended=True, client="203.0.113.9", verified=Verified.CARD,
        accounts=("3201000003", "3201000001"), retry_at=STARTED + timedelta(seconds=15),
        hall="江都营业厅",
    )


def test_every_field_survives_the_round_trip() -> None:
    state = _every_field_set()
    defaults = SessionState(id="x", channel=Channel.KIOSK, started_at=STARTED)
    unset = [f.name for f in fields(SessionState) if f.name != "started_at" and getattr(state, f.name) == getattr(defaults, f.name)]
    assert unset == []  # the fixture itself must exercise every field
    assert decode_state(encode_state(state)) == state


def test_a_fresh_state_survives_the_round_trip() -> None:
    state = SessionState(id="fresh", channel=Channel.WEB, started_at=STARTED)
    assert decode_state(encode_state(state)) == state


@pytest.fixture
def store(tmp_path: Path) -> SessionStore:
    engine = make_engine(f"sqlite:///{tmp_path / 'sessions.db'}")
    migrate(engine)
    return SessionStore(engine)


def test_two_workers_saving_one_session_only_the_first_wins(store: SessionStore) -> None:
    state = SessionState(id="shared", channel=Channel.WEB, started_at=STARTED)
    store.save_now(StoredSession(state, 0), state)
    with store.engine.connect() as connection:
        worker_a, worker_b = store.load(connection, "shared"), store.load(connection, "shared")
    assert worker_a is not None and worker_b is not None
    store.save_now(worker_a, SessionState(id="shared", channel=Channel.WEB, started_at=STARTED, misses=1))
    with pytest.raises(SessionConflict):
        store.save_now(worker_b, SessionState(id="shared", channel=Channel.WEB, started_at=STARTED, misses=2))
    with store.engine.connect() as connection:
        saved = store.load(connection, "shared")
    assert saved is not None and saved.state.misses == 1 and saved.version == 2
