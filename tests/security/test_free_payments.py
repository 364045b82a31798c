"""Finding 2: free payments. The FAKE sandbox must not exist outside demo mode, and its
notification must go where the settings say, not where a request's Host header points.
Attacks go over real HTTP against a running server; start-up is a real process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from sqlmodel import select

from knowledge_base.settings import Settings
from knowledge_base.db import session
from knowledge_base.models import Bill, Payment
from tests.provider_keys import key_pair
from tests.server_fixtures import (  # noqa: F401  (pytest finds the fixtures by name)
    LiveServer,
    free_port,
    live_login,
    live_server,
    server_settings,
    serving,
)

REPO = Path(__file__).resolve().parents[2]
ACCOUNT = "3201000001"  # 128.50 元 unpaid


def xiaodian(*args: str) -> list[str]:
    return [sys.executable, "-m", "assistant.cli", *args]


def production_env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "XIAODIAN_DATA_DIR": str(tmp_path / "data"), "XIAODIAN_DEMO": "false",
            "XIAODIAN_PAYMENT_PROVIDER": "sandbox", "XIAODIAN_SPEECH_ENABLED": "false"}


def october_paid(live: LiveServer) -> bool:
    with session(live.app.state.engine) as db:
        return db.exec(select(Bill).where(Bill.account_number == ACCOUNT, Bill.month == "2026-10")).one().paid_at \
            is not None


def test_production_start_with_the_sandbox_refuses(tmp_path: Path) -> None:
    port = free_port()
    server = subprocess.Popen(xiaodian("serve", "--port", str(port)), cwd=REPO, env=production_env(tmp_path),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _, errors = server.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        server.kill()
        server.communicate()
        pytest.fail("the service started with the FAKE sandbox outside demo mode")
    assert server.returncode != 0
    assert "XIAODIAN_DEMO" in errors and "sandbox" in errors and "Traceback" not in errors
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
    reconcile = subprocess.run(xiaodian("payments", "reconcile"), cwd=REPO, env=production_env(tmp_path),
                               capture_output=True, text=True, timeout=120)
    assert reconcile.returncode != 0 and "XIAODIAN_DEMO" in reconcile.stderr
    # The terminal conversation takes no money: it still issues the link (a row and a signed token),
    # which only a service with a real provider can be paid through.
    chat = subprocess.run(xiaodian("chat", "--json"), cwd=REPO, env=production_env(tmp_path),
                          input="我要交电费\n3201000001\n对\n", capture_output=True, text=True, timeout=120)
    assert chat.returncode == 0, chat.stderr
    assert "/pay/" in chat.stdout and "sandbox" not in chat.stdout


@pytest.fixture
def production(tmp_path: Path) -> Iterator[LiveServer]:
    """A production-mode server taking money through Alipay (keys made here; nothing reaches Alipay)."""
    (tmp_path / "app_private.pem").write_text(key_pair("merchant").private_pem)
    (tmp_path / "alipay_public.pem").write_text(key_pair("alipay").public_pem)
    settings = Settings(data_dir=tmp_path / "data", speech_enabled=False, demo=False, payment_provider="alipay",
                        public_url="https://pay.example.cn", alipay_app_id="2021004100000001",
                        alipay_private_key_path=tmp_path / "app_private.pem",
                        alipay_public_key_path=tmp_path / "alipay_public.pem")
    with serving(settings) as live:
        yield live


def test_no_sandbox_cashier_outside_demo(production: LiveServer) -> None:
    issued = production.app.state.services.payments.create_link(ACCOUNT)
    with httpx.Client(base_url=production.url, timeout=10) as http:
        cashier = http.post(urlsplit(issued.url).path)
        assert cashier.status_code == 303
        location = cashier.headers["location"]
        assert location.startswith("https://openapi.alipay.com/gateway.do?")
        order_id = urlsplit(location).path.rsplit("/", 1)[1] if "/sandbox-pay/" in location else "0" * 24
        assert http.get(f"/sandbox-pay/{order_id}").status_code == 404
        assert http.post(f"/sandbox-pay/{order_id}", data={"return_to": "/"}).status_code == 404
        assert "演示" not in http.get("/").text
    assert not october_paid(production)


class Eavesdropper(BaseHTTPRequestHandler):
    """Another service on the machine that would like to receive the provider's signed notifications."""

    received: list[bytes] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        self.received.append(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        self.send_response(200)
        self.send_header("Content-Length", "7")
        self.end_headers()
        self.wfile.write(b"success")

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


def test_crafted_host_header_cannot_redirect_the_notification(tmp_path: Path) -> None:
    Eavesdropper.received = []
    listener = ThreadingHTTPServer(("127.0.0.1", 0), Eavesdropper)
    threading.Thread(target=listener.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    port = free_port()
    settings = Settings(data_dir=tmp_path / "data", speech_enabled=False, demo=True,
                        public_url=f"http://127.0.0.1:{port}")
    try:
        with serving(settings, port) as live, httpx.Client(base_url=live.url, timeout=10) as http:
            issued = live.app.state.services.payments.create_link(ACCOUNT)
            cashier = urlsplit(http.post(urlsplit(issued.url).path).headers["location"])
            confirm = http.post(cashier.path, data={"return_to": "/"},
                                headers={"Host": f"127.0.0.1:{listener.server_address[1]}"})
            assert confirm.status_code == 303
            deadline = time.monotonic() + 30
            while not october_paid(live) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert october_paid(live), "the notification did not reach the configured address"
            with session(live.app.state.engine) as db:
                assert len(db.exec(select(Payment)).all()) == 1
    finally:
        listener.shutdown()
        listener.server_close()
    assert Eavesdropper.received == []


def test_demo_banner_on_every_page(live_server: LiveServer) -> None:
    issued = live_server.app.state.services.payments.create_link(ACCOUNT)
    anonymous = httpx.Client(base_url=live_server.url, timeout=10)
    staff, admin = live_login(live_server, "staff1"), live_login(live_server, "admin1")
    cashier = anonymous.post(urlsplit(issued.url).path).headers["location"]
    pages = [(anonymous, "/"), (anonymous, urlsplit(issued.url).path), (anonymous, "/login"),
             (anonymous, f"{urlsplit(cashier).path}?{urlsplit(cashier).query}"), (staff, "/staff"),
             (staff, "/staff/refunds"), (admin, "/admin")]
    for client, path in pages:
        page = client.get(path)
        assert page.status_code == 200, path
        assert '<p class="demo-banner" role="note">演示模式' in page.text, path
