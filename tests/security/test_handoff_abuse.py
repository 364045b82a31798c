"""Finding 5 (availability, staff side), over real HTTP: handoff tickets cannot be flooded or
duplicated, the staff stream sends changes rather than the whole queue, and the queue API pages."""

from __future__ import annotations

import json
import time
from contextlib import closing
from pathlib import Path

import httpx
import pytest
from sqlmodel import select

from knowledge_base.settings import Settings
from knowledge_base.db import session
from knowledge_base.models import HandoffTicket
from tests.server_fixtures import (  # noqa: F401  (pytest finds the fixtures by name)
    LiveServer,
    add_ticket,
    live_login,
    live_server,
)
from tests.test_server_staff import _events, _next_event

HANDOFFS_PER_HOUR = 3


@pytest.fixture
def server_settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", staff_poll_s=0.2, speech_enabled=False, demo=True,
                    max_handoffs_per_client_hour=HANDOFFS_PER_HOUR)


def _tickets(server: LiveServer) -> list[HandoffTicket]:
    with session(server.app.state.engine) as db:
        return list(db.exec(select(HandoffTicket)).all())


def _say(http: httpx.Client, text: str, session_id: str | None = None) -> dict:  # type: ignore[type-arg]
    response = http.post("/api/converse", json={"text": text, "session_id": session_id})
    assert response.status_code == 200, response.text
    return response.json()


def test_one_conversation_makes_one_ticket(live_server: LiveServer) -> None:
    with httpx.Client(base_url=live_server.url, timeout=30) as http:
        first = _say(http, "阿巴阿巴")
        handed = _say(http, "阿巴阿巴", first["session_id"])  # a second miss hands over
        assert handed["handoff"] is not None
        again = _say(http, "转人工", first["session_id"])
        assert "已经在排队" in again["text"]
    tickets = _tickets(live_server)
    assert len(tickets) == 1, [(t.id, t.reason) for t in tickets]
    assert again["handoff"]["ticket_id"] == tickets[0].id
    assert any(turn.get("text") == "转人工" for turn in tickets[0].transcript), "staff see the latest words"


def test_an_emergency_in_the_same_conversation_raises_the_open_ticket(live_server: LiveServer) -> None:
    with httpx.Client(base_url=live_server.url, timeout=30) as http:
        asked = _say(http, "转人工")
        emergency = _say(http, "家里电线冒火花着火了", asked["session_id"])
    assert "注意安全" in emergency["text"]
    tickets = _tickets(live_server)
    assert len(tickets) == 1 and tickets[0].priority == 0 and tickets[0].reason == "emergency"


def test_anonymous_ticket_flood_from_one_address_is_bounded(live_server: LiveServer) -> None:
    with httpx.Client(base_url=live_server.url, timeout=30) as http:
        replies = [_say(http, "转人工") for _ in range(10)]
        emergencies = [_say(http, "家里电线冒火花着火了") for _ in range(3)]
    tickets = _tickets(live_server)
    assert len([t for t in tickets if t.reason != "emergency"]) == HANDOFFS_PER_HOUR
    refused = replies[-1]
    assert refused["handoff"] is None and "95598" in refused["text"] and "营业厅" in refused["text"]
    # An emergency is never refused: it always reaches staff, at the top of the queue. Beyond the
    # limit, further reports from the same address are added to that open emergency ticket.
    for emergency in emergencies:
        assert "注意安全" in emergency["text"] and emergency["handoff"]["priority"] == 0
    urgent = [t for t in tickets if t.reason == "emergency"]
    assert len(urgent) == 1 and urgent[0].status == "waiting" and urgent[0].priority == 0
    assert {e["handoff"]["ticket_id"] for e in emergencies} == {urgent[0].id}
    assert sum(turn["text"] == "家里电线冒火花着火了" for turn in urgent[0].transcript) == 3


def test_the_staff_stream_sends_changes_not_the_whole_queue(live_server: LiveServer) -> None:
    for number in range(5):
        add_ticket(live_server.app, summary=f"早先的客户{number}")
    with closing(live_login(live_server, "staff1", timeout=httpx.Timeout(10, read=10))) as staff:
        with staff.stream("GET", "/api/staff/events") as response:
            stream = _events(response)
            event, snapshot = _next_event(stream, time.monotonic() + 5)
            assert event == "queue" and len(snapshot["tickets"]) == 5 and snapshot["total"] == 5
            new = add_ticket(live_server.app, summary="新来的客户")
            event, change = _next_event(stream, time.monotonic() + 5)
            assert event == "changes", "after one new ticket only the change is sent"
            assert [t["id"] for t in change["tickets"]] == [new] and change["removed"] == []
            assert change["total"] == 6 and "早先的客户" not in json.dumps(change, ensure_ascii=False)
            with closing(live_login(live_server, "staff2")) as other:
                assert other.post(f"/api/staff/tickets/{new}/claim").status_code == 200
                event, change = _next_event(stream, time.monotonic() + 5)
                assert event == "changes" and [t["claimed_by"] for t in change["tickets"]] == ["staff2"]
                assert other.post(f"/api/staff/tickets/{new}/close", json={"text": "办好了"}).status_code == 200
                event, change = _next_event(stream, time.monotonic() + 5)
                assert event == "changes" and change["tickets"] == [] and change["removed"] == [new]
                assert change["total"] == 5


def test_the_queue_api_pages_with_emergencies_first(live_server: LiveServer) -> None:
    ordinary = [add_ticket(live_server.app, waited_s=100 - number) for number in range(6)]
    emergency = add_ticket(live_server.app, reason="emergency", priority=0)
    with closing(live_login(live_server, "staff1")) as staff:
        first = staff.get("/api/staff/tickets", params={"limit": 3}).json()
        assert [t["id"] for t in first["tickets"]] == [emergency, *ordinary[:2]]
        assert first["total"] == 7 and first["next_offset"] == 3
        second = staff.get("/api/staff/tickets", params={"limit": 3, "offset": 3}).json()
        assert [t["id"] for t in second["tickets"]] == ordinary[2:5]
        last = staff.get("/api/staff/tickets", params={"limit": 3, "offset": 6}).json()
        assert [t["id"] for t in last["tickets"]] == ordinary[5:] and last["next_offset"] is None
        assert staff.get("/api/staff/tickets", params={"limit": 100_000}).status_code == 422
        assert len(staff.get("/api/staff/tickets").json()["tickets"]) == 7  # a sane default page
