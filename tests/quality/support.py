"""What the quality tests share: customers talking to a real server, a logged-in reviewer."""

from __future__ import annotations

from typing import Any

import httpx

from assistant.accounts import create_user
from tests.server_fixtures import ACCOUNTS, LiveServer, login

REVIEWER = ("reviewer1", "review-password-1")


def converse(server: LiveServer, channel: str, lines: list[str]) -> list[dict[str, Any]]:
    """One conversation through the customer API (as the kiosk page, the browser or the phone line send it)."""
    replies: list[dict[str, Any]] = []
    session_id = None
    with httpx.Client(base_url=server.url, timeout=20) as customer:
        for line in lines:
            response = customer.post("/api/converse", json={"text": line, "session_id": session_id, "channel": channel})
            assert response.status_code == 200, response.text
            replies.append(response.json())
            session_id = replies[-1]["session_id"]
    return replies


def reviewer_client(server: LiveServer) -> httpx.Client:
    create_user(server.app.state.engine, *REVIEWER[:1], "reviewer", REVIEWER[1])
    http = httpx.Client(base_url=server.url, timeout=30)
    assert login(http, *REVIEWER).status_code == 303
    return http


def admin_client(server: LiveServer) -> httpx.Client:
    http = httpx.Client(base_url=server.url, timeout=30)
    assert login(http, "admin1", ACCOUNTS["admin1"][1]).status_code == 303
    return http


def csrf(http: httpx.Client) -> str:
    return http.headers["X-CSRF-Token"]
