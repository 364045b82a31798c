"""Fixtures for the server tests: an app on a temporary data folder, logged-in clients, a live server.

Import the fixtures a test module uses from here (pytest finds them by name):

    from tests.server_fixtures import admin_client, app, client, server_settings  # noqa: F401

- ``app``: ``create_app`` on a fresh SQLite file; ``client`` runs its start-up
  (TestClient as a context manager) and is anonymous.
- ``admin_client``, ``staff_client``, ``staff_client2``: TestClients of the same
  app, logged in (as "admin1", "staff1", "staff2"), with the session's CSRF
  token already in their default headers. ``ACCOUNTS`` has the passwords.
- ``live_server``: the same kind of app served by uvicorn on 127.0.0.1 and a
  free port, for real HTTP with httpx (``live_login`` gives a logged-in client).
"""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from assistant.accounts import create_user
from knowledge_base.settings import Settings
from knowledge_base.db import session
from knowledge_base.models import HandoffTicket, utc_now
from server.app import create_app

ACCOUNTS = {
    "admin1": ("admin", "admin-password-1"),
    "staff1": ("staff", "staff-password-1"),
    "staff2": ("staff", "staff-password-2"),
}
_CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


@pytest.fixture
def server_settings(tmp_path: Path) -> Settings:
    # A quick poll keeps the event-stream tests short.
    # The admin and staff tests need no recogniser; the speech routes' tests load it themselves.
    # Demo mode: the only mode in which the FAKE sandbox provider (the tests' default) may run.
    return Settings(data_dir=tmp_path / "data", staff_poll_s=0.2, speech_enabled=False, demo=True)


@pytest.fixture
def app(server_settings: Settings) -> FastAPI:
    return create_app(server_settings)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """Anonymous; entering it runs the app's start-up once (the other clients share it)."""
    with TestClient(app) as started:
        for name, (role, password) in ACCOUNTS.items():
            create_user(app.state.engine, name, role, password)
        yield started


def login(client: TestClient | httpx.Client, name: str, password: str) -> httpx.Response:
    """Log in through the real form; on success the client sends the CSRF token from then on."""
    form_page = client.get("/login")
    token = client.cookies.get("xiaodian_login_csrf")
    response = client.post("/login", data={"name": name, "password": password, "csrf_token": token or ""},
                           follow_redirects=False)
    if response.status_code == 303:
        client.headers["X-CSRF-Token"] = client.get("/api/session").json()["csrf_token"]
    assert form_page.status_code in (200, 303)
    return response


def _logged_in(app: FastAPI, name: str) -> TestClient:
    other = TestClient(app)
    response = login(other, name, ACCOUNTS[name][1])
    assert response.status_code == 303, response.text
    return other


@pytest.fixture
def admin_client(app: FastAPI, client: TestClient) -> TestClient:
    return _logged_in(app, "admin1")


@pytest.fixture
def staff_client(app: FastAPI, client: TestClient) -> TestClient:
    return _logged_in(app, "staff1")


@pytest.fixture
def staff_client2(app: FastAPI, client: TestClient) -> TestClient:
    return _logged_in(app, "staff2")


def csrf_from_page(html: str) -> str:
    match = _CSRF_META.search(html)
    assert match, "page has no CSRF meta tag"
    return match.group(1)


def add_ticket(app: FastAPI, *, reason: str = "asked", priority: int = 2, waited_s: float = 0,
               summary: str = "客户想交电费，户号没说清楚", account: str | None = "3201000001") -> int:
    """A handoff ticket as the conversation writes it (the customer side is not needed here)."""
    with session(app.state.engine) as db:
        ticket = HandoffTicket(
            session_id=f"test-{time.monotonic_ns()}", reason=reason, priority=priority, account_number=account,
            channel="kiosk", summary=summary, created_at=utc_now() - timedelta(seconds=waited_s),
            transcript=[
                {"speaker": "customer", "text": "我要交电费", "intent": "pay_bill", "confidence": 0.91},
                {"speaker": "assistant", "text": "请您告诉我户号。", "intent": "pay_bill", "confidence": None},
                {"speaker": "customer", "text": "转人工", "intent": "human_agent", "confidence": 0.88},
            ],
        )
        db.add(ticket)
        db.commit()
        assert ticket.id is not None
        return ticket.id


# --- A real server ----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_ready(url: str, process: subprocess.Popen[Any], output: Callable[[], str],
                     timeout_s: float = 120.0) -> None:
    """Until ``url``/readyz says 200; the process's output explains an exit or a timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        assert process.poll() is None, f"server exited:\n{output()[-3000:]}"
        assert time.monotonic() < deadline, f"server not ready:\n{output()[-3000:]}"
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)


def stop_process(process: subprocess.Popen[Any], timeout_s: float = 30.0) -> None:
    """Ctrl+C as an operator would, then kill if it does not stop in time."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class LiveServer:
    app: FastAPI
    url: str


@contextmanager
def serving(settings: Settings, port: int | None = None) -> Iterator[LiveServer]:
    """``create_app(settings)`` served by uvicorn in a thread on 127.0.0.1 (a free port unless given)."""
    app = create_app(settings)
    port = port or free_port()
    # proxy_headers off as `xiaodian serve` runs it: only the app decides whom X-Forwarded-For is believed from.
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           timeout_graceful_shutdown=2, proxy_headers=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    for name, (role, password) in ACCOUNTS.items():
        create_user(app.state.engine, name, role, password)
    try:
        yield LiveServer(app, f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def live_server(server_settings: Settings) -> Iterator[LiveServer]:
    """uvicorn in a thread of this process: tests can also reach ``app.state`` directly."""
    with serving(server_settings) as live:
        yield live


def live_login(server: LiveServer, name: str, **options: Any) -> httpx.Client:
    http = httpx.Client(base_url=server.url, **{"timeout": 10, **options})
    response = login(http, name, ACCOUNTS[name][1])
    assert response.status_code == 303, response.text
    return http
