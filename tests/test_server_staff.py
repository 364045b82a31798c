"""The staff console: queue order, claim race, notes, closing, the live event stream."""

from __future__ import annotations

import json
import re
import threading
import time
from contextlib import closing
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import delete
from sqlmodel import col, select

from knowledge_base.db import session
from knowledge_base.models import AuditLog, LoginSession
from tests.server_fixtures import (  # noqa: F401  (pytest finds the fixtures by name)
    add_ticket,
    admin_client,
    app,
    client,
    live_login,
    live_server,
    server_settings,
    staff_client,
    staff_client2,
)


def test_queue_puts_emergencies_first_then_the_longest_wait(staff_client: TestClient, app: FastAPI) -> None:
    newest = add_ticket(app, waited_s=10)
    oldest = add_ticket(app, waited_s=300)
    emergency = add_ticket(app, reason="emergency", priority=0, waited_s=5, summary="家里电线冒火花")
    complaint = add_ticket(app, reason="complaint", priority=1, waited_s=1)
    queue = staff_client.get("/api/staff/tickets").json()
    assert [t["id"] for t in queue["tickets"]] == [emergency, complaint, oldest, newest]
    first = queue["tickets"][0]
    assert first["priority_label"] == "紧急" and first["reason_label"] == "紧急情况"
    assert first["summary"] == "家里电线冒火花" and first["account_number"] == "3201000001"
    assert first["channel_label"] == "营业厅自助机" and first["status_label"] == "等待接手"
    # Staff read the intent's Chinese title (issue 13), the id stays for tools.
    assert first["transcript"][0] == {"speaker": "客户", "text": "我要交电费", "intent": "pay_bill",
                                      "intent_title": "交电费", "confidence": 0.91, "at": None}
    assert first["transcript"][1]["speaker"] == "小电"


def test_every_handoff_reason_reads_as_words_for_staff(staff_client: TestClient, app: FastAPI) -> None:
    from assistant.dialogue import HandoffReason

    for reason in HandoffReason:
        add_ticket(app, reason=reason.value)
    labels = {t["reason"]: t["reason_label"] for t in staff_client.get("/api/staff/tickets").json()["tickets"]}
    assert set(labels) == {reason.value for reason in HandoffReason}
    assert all(label != reason for reason, label in labels.items()), labels


def test_staff_page_shows_the_queue(staff_client: TestClient, app: FastAPI) -> None:
    add_ticket(app, summary="客户问停电什么时候来电")
    page = staff_client.get("/staff")
    assert page.status_code == 200 and "转人工队列" in page.text
    initial = re.search(r'<script id="initial-queue" type="application/json">(.*?)</script>', page.text, re.S)
    assert initial, "the page carries the queue for the script to render at once"
    assert json.loads(initial.group(1))["tickets"][0]["summary"] == "客户问停电什么时候来电"
    assert '<script src="/static/js/staff.js"></script>' in page.text


def test_claim_then_the_second_staff_is_told_who_has_it(staff_client: TestClient, staff_client2: TestClient,
                                                        app: FastAPI) -> None:
    ticket = add_ticket(app)
    claimed = staff_client.post(f"/api/staff/tickets/{ticket}/claim")
    assert claimed.status_code == 200
    assert claimed.json()["status"] == "claimed" and claimed.json()["claimed_by"] == "staff1"
    assert staff_client.post(f"/api/staff/tickets/{ticket}/claim").status_code == 200  # a double press is fine
    late = staff_client2.post(f"/api/staff/tickets/{ticket}/claim")
    assert late.status_code == 409 and late.json()["detail"] == "已被staff1接手。"
    assert staff_client.post("/api/staff/tickets/99999/claim").status_code == 404


def test_notes_and_closing(staff_client: TestClient, staff_client2: TestClient, app: FastAPI) -> None:
    ticket = add_ticket(app)
    early = staff_client.post(f"/api/staff/tickets/{ticket}/close", json={"text": "处理好了"})
    assert early.status_code == 409 and "先接手" in early.json()["detail"]
    staff_client.post(f"/api/staff/tickets/{ticket}/claim")
    noted = staff_client2.post(f"/api/staff/tickets/{ticket}/note", json={"text": "客户又打来一次"})
    assert noted.status_code == 200 and "staff2：客户又打来一次" in noted.json()["note"]
    not_mine = staff_client2.post(f"/api/staff/tickets/{ticket}/close", json={"text": "我来结束"})
    assert not_mine.status_code == 409 and "已被staff1接手" in not_mine.json()["detail"]
    empty = staff_client.post(f"/api/staff/tickets/{ticket}/close", json={"text": "  "})
    assert empty.status_code == 422 and empty.json()["detail"][0]["msg"] == "结束前请写一句处理结果。"
    closed = staff_client.post(f"/api/staff/tickets/{ticket}/close", json={"text": "已帮客户交费"})
    assert closed.status_code == 200
    body = closed.json()
    assert body["status"] == "closed" and body["closed_at"] is not None
    assert body["note"].splitlines()[0].endswith("staff2：客户又打来一次")
    assert body["note"].splitlines()[1].endswith("staff1（结束）：已帮客户交费")
    assert staff_client.get("/api/staff/tickets").json()["tickets"] == []
    again = staff_client.post(f"/api/staff/tickets/{ticket}/note", json={"text": "再补一句"})
    assert again.status_code == 409 and "已经结束" in again.json()["detail"]
    with session(app.state.engine) as db:
        actions = [row.action for row in db.exec(
            select(AuditLog).where(AuditLog.entity == "handoff_ticket").order_by(col(AuditLog.id)))]
    assert actions == ["claim", "note", "close"]


def test_admins_may_close_any_ticket(staff_client: TestClient, admin_client: TestClient, app: FastAPI) -> None:
    ticket = add_ticket(app)
    staff_client.post(f"/api/staff/tickets/{ticket}/claim")
    closed = admin_client.post(f"/api/staff/tickets/{ticket}/close", json={"text": "客服下班，管理员代为结束"})
    assert closed.status_code == 200 and closed.json()["status"] == "closed"


def test_two_staff_claiming_at_once_over_http(live_server) -> None:  # type: ignore[no-untyped-def]
    clients = [live_login(live_server, "staff1"), live_login(live_server, "staff2")]
    try:
        for _round in range(5):
            ticket = add_ticket(live_server.app)
            barrier = threading.Barrier(len(clients))
            results: list[httpx.Response] = []

            def claim(http: httpx.Client, ticket: int, barrier: threading.Barrier,
                      results: list[httpx.Response]) -> None:
                barrier.wait()  # both requests leave together
                results.append(http.post(f"/api/staff/tickets/{ticket}/claim"))

            threads = [threading.Thread(target=claim, args=(http, ticket, barrier, results)) for http in clients]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert sorted(r.status_code for r in results) == [200, 409]
            winner = next(r for r in results if r.status_code == 200).json()["claimed_by"]
            loser = next(r for r in results if r.status_code == 409).json()["detail"]
            assert loser == f"已被{winner}接手。"
    finally:
        for http in clients:
            http.close()


def _events(response: httpx.Response):  # type: ignore[no-untyped-def]
    """(event, data) pairs from a text/event-stream response."""
    event, data = "message", []
    for line in response.iter_lines():
        if line.startswith("event:"):
            event = line.removeprefix("event:").strip()
        elif line.startswith("data:"):
            data.append(line.removeprefix("data:").strip())
        elif not line and data:
            yield event, json.loads("\n".join(data))
            event, data = "message", []


def _next_event(stream: Any, deadline: float) -> tuple[str, Any]:
    event = next(stream)
    assert time.monotonic() < deadline, "event came too late"
    return event


def test_event_stream_delivers_a_new_ticket_within_seconds(live_server) -> None:  # type: ignore[no-untyped-def]
    with closing(live_login(live_server, "staff1", timeout=httpx.Timeout(10, read=10))) as staff:
        with staff.stream("GET", "/api/staff/events") as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            stream = _events(response)
            event, snapshot = _next_event(stream, time.monotonic() + 5)
            assert event == "queue" and snapshot["tickets"] == []
            # Created by another part of the same process, as the conversation does.
            ticket = add_ticket(live_server.app, reason="emergency", priority=0, summary="闻到焦糊味")
            started = time.monotonic()
            event, change = _next_event(stream, started + 5)  # only what changed (see tests/security)
            assert event == "changes" and [t["id"] for t in change["tickets"]] == [ticket]
            assert change["tickets"][0]["summary"] == "闻到焦糊味" and change["urgent"] == 1
            # A claim by someone else shows up too.
            with closing(live_login(live_server, "staff2")) as other:
                assert other.post(f"/api/staff/tickets/{ticket}/claim").status_code == 200
            event, change = _next_event(stream, time.monotonic() + 5)
            assert change["tickets"][0]["claimed_by"] == "staff2"


def test_event_stream_ends_when_the_session_does(live_server) -> None:  # type: ignore[no-untyped-def]
    with closing(live_login(live_server, "staff1", timeout=httpx.Timeout(10, read=10))) as staff:
        with staff.stream("GET", "/api/staff/events") as response:
            stream = _events(response)
            assert _next_event(stream, time.monotonic() + 5)[0] == "queue"
            with session(live_server.app.state.engine) as db:
                db.exec(delete(LoginSession))
                db.commit()
            event, data = _next_event(stream, time.monotonic() + 5)
            assert event == "logout" and "重新登录" in data["detail"]
