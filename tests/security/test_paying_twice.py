"""Finding 3: paying twice. A superseded link's order cannot be paid; money that arrives for an
already-paid bill or a superseded link is kept as refund-needed and shown to staff; a crash
between the cashier and the notifications loses nothing (reconciliation asks the provider).
Attacks go over real HTTP against a running server; the crash is a real process killed with SIGKILL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from sqlmodel import select

from assistant.services import build_services
from knowledge_base.settings import Settings
from knowledge_base.db import session
from knowledge_base.models import Bill, Payment
from tests.conftest import TODAY
from tests.server_fixtures import LiveServer, free_port, live_login, serving

REPO = Path(__file__).resolve().parents[2]
ACCOUNT = "3201000001"  # October 128.50 元 unpaid


@pytest.fixture
def held_notifications(tmp_path: Path) -> Iterator[LiveServer]:
    """A demo server whose provider cannot reach it yet: notifications stay with the provider for now."""
    settings = Settings(data_dir=tmp_path / "data", speech_enabled=False, demo=True, staff_poll_s=0.2,
                        public_url=f"http://127.0.0.1:{free_port()}")
    with serving(settings) as live:
        yield live


def add_november_bill(live: LiveServer) -> None:
    with session(live.app.state.engine) as db:
        db.add(Bill(account_number=ACCOUNT, month="2026-11", kwh=93, amount_fen=4946,
                    due_date=TODAY + timedelta(days=35)))
        db.commit()


def open_cashier(http: httpx.Client, pay_url: str) -> str:
    """Press 去付款 on the pay page; the cashier's path."""
    response = http.post(urlsplit(pay_url).path)
    assert response.status_code == 303, response.text
    return urlsplit(response.headers["location"]).path


def test_paying_both_orders_records_one_payment_and_one_refund_for_staff(held_notifications: LiveServer) -> None:
    live = held_notifications
    payments, provider = live.app.state.services.payments, live.app.state.services.provider
    http = httpx.Client(base_url=live.url, timeout=10)
    old = payments.create_link(ACCOUNT)
    old_cashier = open_cashier(http, old.url)
    assert http.post(old_cashier, data={"return_to": "/"}).status_code == 303  # 128.50 taken
    add_november_bill(live)  # ... while that notification is still on its way
    new = payments.create_link(ACCOUNT)
    new_cashier = open_cashier(http, new.url)
    assert http.post(new_cashier, data={"return_to": "/"}).status_code == 303  # 178.96 taken

    # The provider now gets through: the newer notification first, then the older one.
    for cashier in (new_cashier, old_cashier):
        notification = provider.complete(cashier.rsplit("/", 1)[1])  # what the provider keeps sending
        assert http.post("/pay/notify", data=notification).text == "success"

    with session(live.app.state.engine) as db:
        ledger = {payment.link_id: payment for payment in db.exec(select(Payment))}
        bills = db.exec(select(Bill).where(Bill.account_number == ACCOUNT, Bill.month >= "2026-10")).all()
    assert (ledger[new.link_id].status, ledger[new.link_id].amount_fen) == ("recorded", 17796)
    assert (ledger[old.link_id].status, ledger[old.link_id].amount_fen) == ("refund_needed", 12850)
    assert ledger[old.link_id].refund_reason and all(bill.paid_at is not None for bill in bills)

    anonymous = http.get("/staff/refunds")  # not for customers
    assert anonymous.is_redirect and "/login" in anonymous.headers["location"]
    page = live_login(live, "staff1").get("/staff/refunds")
    assert page.status_code == 200
    for shown in (ACCOUNT, "128.50", ledger[old.link_id].provider_transaction_id, ledger[old.link_id].refund_reason):
        assert shown in page.text
    assert ledger[new.link_id].provider_transaction_id not in page.text


def test_superseded_link_order_cannot_be_paid(held_notifications: LiveServer) -> None:
    live = held_notifications
    payments = live.app.state.services.payments
    http = httpx.Client(base_url=live.url, timeout=10)
    old_cashier = open_cashier(http, payments.create_link(ACCOUNT).url)  # the customer's phone shows this page
    add_november_bill(live)
    payments.create_link(ACCOUNT)  # the kiosk issues a link for the new total

    assert http.get(old_cashier).status_code == 410
    refused = http.post(old_cashier, data={"return_to": "/"})
    assert refused.status_code == 410 and "关闭" in refused.text
    with session(live.app.state.engine) as db:
        assert db.exec(select(Payment)).all() == []


def test_kill_9_after_payments_then_reconcile_records_every_one(tmp_path: Path) -> None:
    data_dir, port = tmp_path / "data", free_port()
    env = {**os.environ, "XIAODIAN_DATA_DIR": str(data_dir), "XIAODIAN_DEMO": "true",
           "XIAODIAN_SPEECH_ENABLED": "false", "XIAODIAN_PAYMENT_PROVIDER": "sandbox"}
    # First life: the provider cannot reach the service (notify address unreachable), so every
    # confirmed payment's notification is still pending when the process dies.
    # (A name that never resolves: an unused port on this machine is refused by `serve` as not its own.)
    first_env = {**env, "XIAODIAN_PUBLIC_URL": f"http://provider-cannot-reach.invalid:{port}"}
    services = build_services(Settings(data_dir=data_dir, demo=True, speech_enabled=False))
    with session(services.engine) as db:  # a bill for the prepaid account too: four accounts owe money
        db.add(Bill(account_number="3201000002", month="2026-11", kwh=190, amount_fen=10000,
                    due_date=TODAY + timedelta(days=35)))
        db.commit()
    links = [services.payments.create_link(account) for account in ("3201000001", "3201000002", "3201000003",
                                                                    "1101000004")]
    server = start_server(first_env, port)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            for link in links:
                assert http.post(open_cashier(http, link.url), data={"return_to": "/"}).status_code == 303
    finally:
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=30)
    with session(services.engine) as db:
        assert db.exec(select(Payment)).all() == []  # nothing recorded: the notifications were lost

    server = start_server({**env, "XIAODIAN_PUBLIC_URL": f"http://127.0.0.1:{port}"}, port)
    try:
        reconcile = subprocess.run([sys.executable, "-m", "assistant.cli", "payments", "reconcile",
                                    "--older-than-minutes", "0"], cwd=REPO, env=env, capture_output=True,
                                   text=True, timeout=120)
        assert reconcile.returncode == 0, reconcile.stderr
        with session(services.engine) as db:
            recorded = {p.link_id: p for p in db.exec(select(Payment)) if p.status == "recorded"}
        assert sorted(recorded) == sorted(link.link_id for link in links)
        assert [recorded[link.link_id].amount_fen for link in links] == [link.amount_fen for link in links]
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            for link in links:  # the customer is not asked to pay again
                page = http.get(urlsplit(link.url).path)
                assert page.status_code == 410 and "交清" in page.text
                assert http.post(urlsplit(link.url).path).status_code == 410
    finally:
        server.terminate()
        server.wait(timeout=30)
    again = subprocess.run([sys.executable, "-m", "assistant.cli", "payments", "reconcile", "--older-than-minutes",
                            "0"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert "补记付款 0 笔" in again.stdout  # idempotent
    with session(services.engine) as db:
        assert len(db.exec(select(Payment)).all()) == len(links)


def start_server(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    server = subprocess.Popen([sys.executable, "-m", "assistant.cli", "serve", "--port", str(port)], cwd=REPO,
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert server.poll() is None, "server exited during start-up"
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    server.kill()
    pytest.fail("server did not become ready")
