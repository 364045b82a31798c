"""Payment links against a real seeded SQLite file (and PostgreSQL where marked) and the sandbox (fake) provider."""

from __future__ import annotations

import re
import stat
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, parse_qsl, urlsplit

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import func, select

from assistant.payments import (
    LinkProblem,
    NothingToPay,
    PaymentService,
    UnknownAccount,
    load_or_create_secret,
    sign_token,
)
from assistant.providers.base import Checkout
from assistant.providers.sandbox import DeliveryFailed, OrderClosed, SandboxPaymentProvider
from knowledge_base.db import session
from knowledge_base.models import SERVICE_TZ, Bill, Payment, PaymentLink, SandboxOrder
from tests.conftest import TODAY
from tests.postgres import fresh_database, postgres_url  # noqa: F401  (fixture)

ACCOUNT = "3201000001"  # last month's 128.50 元 unpaid
LINK_KEY = b"L" * 32
CHINESE = re.compile(r"[\u4e00-\u9fff]")


class Clock:
    """The service's idea of now, moved by the test."""

    def __init__(self) -> None:
        self.moment = datetime(TODAY.year, TODAY.month, TODAY.day, 10, 0, tzinfo=SERVICE_TZ).astimezone(timezone.utc)

    def __call__(self) -> datetime:
        return self.moment


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """SQLite by default; tests marked with ``ON_BOTH_DATABASES`` also run on a throwaway PostgreSQL."""
    if getattr(request, "param", "sqlite") == "postgresql":
        return fresh_database(request.getfixturevalue("postgres_url"), "payments")
    return f"sqlite:///{tmp_path / 'xiaodian.db'}"


# The ledger's locking and refund rules must hold where several workers share one database.
ON_BOTH_DATABASES = pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def provider(engine: Engine, clock: Clock) -> SandboxPaymentProvider:
    return SandboxPaymentProvider(engine, key=b"S" * 32, base_url="https://kiosk.test", now=clock)


@pytest.fixture
def service(engine: Engine, provider: SandboxPaymentProvider, clock: Clock) -> PaymentService:
    return PaymentService(engine, LINK_KEY, provider, base_url="https://pay.test", now=clock)


def order_id_of(checkout: Checkout) -> str:
    return urlsplit(checkout.url).path.rsplit("/", 1)[1]


def paid_notification(service: PaymentService, provider: SandboxPaymentProvider, account: str = ACCOUNT) -> dict[str, str]:
    token = service.create_link(account).token
    return provider.complete(order_id_of(service.start(token)))


def sandbox_order_count(engine: Engine) -> int:
    with session(engine) as db:
        return db.exec(select(func.count()).select_from(SandboxOrder)).one()


def payment_count(engine: Engine) -> int:
    with session(engine) as db:
        return db.exec(select(func.count()).select_from(Payment)).one()


def bills_of(engine: Engine, account: str) -> list[Bill]:
    with session(engine) as db:
        return list(db.exec(select(Bill).where(Bill.account_number == account).order_by(Bill.month)))


def link_row(engine: Engine, link_id: str) -> PaymentLink:
    with session(engine) as db:
        link = db.get(PaymentLink, link_id)
        assert link is not None
        return link


def change_one_char(text: str) -> str:
    middle = len(text) // 2
    return text[:middle] + ("B" if text[middle] != "B" else "C") + text[middle + 1:]


# --- issuing ------------------------------------------------------------------------


def test_link_amount_months_and_sms(service: PaymentService, clock: Clock) -> None:
    issued = service.create_link(ACCOUNT)
    assert issued.amount_fen == 12850
    assert issued.bill_months == ("10月",)
    assert issued.expires_at == clock.moment + timedelta(hours=24)
    assert issued.url == f"https://pay.test/pay/{issued.token}"
    link_id, expiry, mac = issued.token.split(".")
    assert link_id == issued.link_id and int(expiry) == int(issued.expires_at.timestamp())
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", mac)
    assert issued.short_text.startswith("【供电服务】张*华")
    for part in ("3201000001", "128.50元", issued.url, "24小时内有效"):
        assert part in issued.short_text
    assert "张建华" not in issued.short_text


def test_qr_is_a_scannable_size_svg(service: PaymentService) -> None:
    root = ET.fromstring(service.create_link(ACCOUNT).qr_svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert int(root.get("width", "0")) >= 300


def test_nothing_to_pay_and_unknown_account(service: PaymentService) -> None:
    with pytest.raises(NothingToPay) as nothing:
        service.create_link("3201000002")
    assert CHINESE.search(nothing.value.message) and "3201000002" in nothing.value.message
    with pytest.raises(UnknownAccount) as unknown:
        service.create_link("9999999999")
    assert CHINESE.search(unknown.value.message)


def test_reissue_returns_the_same_link_with_a_fresh_lifetime(service: PaymentService, clock: Clock,
                                                             engine: Engine) -> None:
    first = service.create_link(ACCOUNT)
    clock.moment += timedelta(hours=1)
    second = service.create_link(ACCOUNT, channel="phone")
    assert second.link_id == first.link_id and second.reused and not first.reused
    assert second.token != first.token and second.expires_at == first.expires_at + timedelta(hours=1)
    assert service.open(first.token).amount_fen == service.open(second.token).amount_fen == 12850
    with session(engine) as db:
        assert db.exec(select(func.count()).select_from(PaymentLink)).one() == 1


def test_concurrent_issue_makes_one_link(service: PaymentService, engine: Engine) -> None:
    barrier = threading.Barrier(4)
    link_ids: list[str] = []

    def issue() -> None:
        barrier.wait()
        link_ids.append(service.create_link(ACCOUNT).link_id)

    run_together(issue, 4)
    assert len(link_ids) == 4 and len(set(link_ids)) == 1


def test_a_new_bill_replaces_the_old_link(service: PaymentService, engine: Engine) -> None:
    old = service.create_link(ACCOUNT)
    with session(engine) as db:
        db.add(Bill(account_number=ACCOUNT, month="2026-11", kwh=100, amount_fen=5283,
                    due_date=TODAY + timedelta(days=35)))
        db.commit()
    new = service.create_link(ACCOUNT)
    assert new.link_id != old.link_id
    assert new.amount_fen == 12850 + 5283 and new.bill_months == ("10月", "11月")
    with pytest.raises(LinkProblem) as problem:
        service.open(old.token)
    assert problem.value.kind == "expired" and "最新" in problem.value.message
    assert link_row(engine, old.link_id).status == "cancelled"


# --- opening and refusing -------------------------------------------------------------


def test_open_shows_the_masked_bill(service: PaymentService) -> None:
    issued = service.create_link(ACCOUNT)
    view = service.open(issued.token)
    assert (view.holder, view.account_number, view.amount_fen, view.amount_yuan) == ("张*华", ACCOUNT, 12850, "128.50")
    assert view.bill_months == ("10月",) and view.status == "open" and view.expires_at == issued.expires_at


@pytest.mark.parametrize("part", [0, 1, 2])
def test_tampered_token_is_refused(service: PaymentService, part: int) -> None:
    parts = service.create_link(ACCOUNT).token.split(".")
    parts[part] = change_one_char(parts[part])
    with pytest.raises(LinkProblem) as problem:
        service.open(".".join(parts))
    assert problem.value.kind == "tampered" and CHINESE.search(problem.value.message)


def test_last_character_of_the_mac_matters(service: PaymentService) -> None:
    token = service.create_link(ACCOUNT).token
    for replacement in "ABCDEFGH":
        if token[-1] != replacement:
            with pytest.raises(LinkProblem, match="改动"):
                service.open(token[:-1] + replacement)


def test_token_signed_with_another_key_is_tampered(engine: Engine, service: PaymentService,
                                                   provider: SandboxPaymentProvider) -> None:
    other = PaymentService(engine, b"X" * 32, provider)
    with pytest.raises(LinkProblem) as problem:
        service.open(other.create_link(ACCOUNT).token)
    assert problem.value.kind == "tampered"


def test_expired_token_is_refused(service: PaymentService, clock: Clock) -> None:
    token = service.create_link(ACCOUNT).token
    clock.moment += timedelta(hours=24)
    for attempt in (service.open, service.start):
        with pytest.raises(LinkProblem) as problem:
            attempt(token)
        assert problem.value.kind == "expired" and "过期" in problem.value.message


@pytest.mark.parametrize("token", ["", "nonsense", "a.b", "a.b.c.d"])
def test_malformed_token_is_unknown(service: PaymentService, token: str) -> None:
    with pytest.raises(LinkProblem) as problem:
        service.open(token)
    assert problem.value.kind == "unknown" and CHINESE.search(problem.value.message)


def test_well_signed_token_for_a_missing_link_is_unknown(service: PaymentService, clock: Clock) -> None:
    token = sign_token(LINK_KEY, "0" * 24, clock.moment + timedelta(hours=1))
    with pytest.raises(LinkProblem) as problem:
        service.open(token)
    assert problem.value.kind == "unknown"


# --- starting ---------------------------------------------------------------------------


def test_double_start_gives_one_order(service: PaymentService, provider: SandboxPaymentProvider,
                                      engine: Engine) -> None:
    issued = service.create_link(ACCOUNT)
    first, second = service.start(issued.token), service.start(issued.token)
    assert first == second and first.url.startswith("https://kiosk.test/sandbox-pay/")
    assert sandbox_order_count(engine) == 1
    order = provider.order(order_id_of(first))
    assert order is not None and order.link_id == issued.link_id and order.amount_fen == 12850
    assert link_row(engine, issued.link_id).status == "paying"


def test_concurrent_start_gives_one_order(service: PaymentService, engine: Engine) -> None:
    token = service.create_link(ACCOUNT).token
    barrier = threading.Barrier(4)
    redirects: list[Checkout] = []

    def click() -> None:
        barrier.wait()
        redirects.append(service.start(token))

    run_together(click, 4)
    assert len(set(redirects)) == 1 and sandbox_order_count(engine) == 1


# --- the provider's notification ------------------------------------------------------------


def test_sandbox_notification_is_alipay_shaped(service: PaymentService, provider: SandboxPaymentProvider) -> None:
    issued = service.create_link(ACCOUNT)
    form = provider.complete(order_id_of(service.start(issued.token)))
    assert form["out_trade_no"] == issued.link_id
    assert form["total_amount"] == "128.50" and form["trade_status"] == "TRADE_SUCCESS"
    assert re.fullmatch(r"\d{28}", form["trade_no"]) and form["notify_id"] and form["notify_time"]
    assert form["sign_type"] == "HMAC-SHA256" and provider.verify(form)
    for key in ("total_amount", "out_trade_no", "trade_no", "notify_time"):
        assert not provider.verify({**form, key: form[key] + "0"})


def test_full_flow_pays_the_bill(service: PaymentService, provider: SandboxPaymentProvider, engine: Engine,
                                 knowledge, clock: Clock) -> None:  # type: ignore[no-untyped-def]
    assert bills_of(engine, ACCOUNT)[-1].paid_at is None
    issued = service.create_link(ACCOUNT)
    form = provider.complete(order_id_of(service.start(issued.token)))
    clock.moment += timedelta(minutes=5)  # the notification arrives a little later

    result = service.handle_notification(form)

    assert (result.accepted, result.duplicate, result.link_id) == (True, False,
                                                                                    issued.link_id)
    paid_at = clock.moment - timedelta(minutes=5)  # the provider's gmt_payment, not the arrival time
    last_month = bills_of(engine, ACCOUNT)[-1]
    assert last_month.month == "2026-10" and last_month.paid_at == paid_at
    link = link_row(engine, issued.link_id)
    assert link.status == "paid" and link.paid_at == paid_at
    with session(engine) as db:
        payments = list(db.exec(select(Payment)))
    assert len(payments) == 1
    assert (payments[0].link_id, payments[0].provider, payments[0].amount_fen) == (issued.link_id, "sandbox", 12850)
    assert payments[0].provider_transaction_id == form["trade_no"]

    reply = knowledge.ask("我还欠多少电费", ACCOUNT, today=TODAY)
    assert reply.answer is not None and "欠费0.00元" in reply.answer.display

    assert all(bill.paid_at is not None for bill in bills_of(engine, ACCOUNT))
    for attempt in (service.open, service.start):
        with pytest.raises(LinkProblem) as problem:
            attempt(issued.token)
        assert problem.value.kind == "used" and "交清" in problem.value.message
    with pytest.raises(NothingToPay):
        service.create_link(ACCOUNT)


def test_replayed_notification_is_acknowledged_and_changes_nothing(
        service: PaymentService, provider: SandboxPaymentProvider, engine: Engine, clock: Clock) -> None:
    form = paid_notification(service, provider)
    assert service.handle_notification(form).reason == "paid"
    before = ([b.paid_at for b in bills_of(engine, ACCOUNT)], link_row(engine, form["out_trade_no"]).paid_at)
    clock.moment += timedelta(hours=3)

    replay = service.handle_notification(form)

    assert (replay.accepted, replay.duplicate) == (True, True)
    assert payment_count(engine) == 1
    assert ([b.paid_at for b in bills_of(engine, ACCOUNT)], link_row(engine, form["out_trade_no"]).paid_at) == before


def test_forged_notification_is_refused(service: PaymentService, provider: SandboxPaymentProvider,
                                        engine: Engine) -> None:
    form = paid_notification(service, provider)
    forgeries = [
        {**form, "total_amount": "0.01"},  # changed after signing
        {**form, "sign": SandboxPaymentProvider(engine, key=b"F" * 32).sign(form)},  # signed with another key
        {key: value for key, value in form.items() if key != "sign"},
        {**form, "app_id": "2099000000000000"},
    ]
    for forged in forgeries:
        result = service.handle_notification(forged)
        assert not result.accepted
    assert payment_count(engine) == 0
    assert bills_of(engine, ACCOUNT)[-1].paid_at is None
    assert link_row(engine, form["out_trade_no"]).status == "paying"


def test_wrong_amount_is_refused_even_when_signed(service: PaymentService, provider: SandboxPaymentProvider,
                                                  engine: Engine) -> None:
    form = paid_notification(service, provider)
    for amount in ("128.49", "1.28", "128.5O", "-128.50", "128.500"):
        wrong = {**form, "total_amount": amount}
        wrong["sign"] = provider.sign(wrong)
        result = service.handle_notification(wrong)
        assert not result.accepted, amount
    assert payment_count(engine) == 0 and bills_of(engine, ACCOUNT)[-1].paid_at is None


def test_amount_written_without_cents_is_the_same_amount(service: PaymentService, provider: SandboxPaymentProvider,
                                                         engine: Engine) -> None:
    with session(engine) as db:  # a 100.00 元 bill for an account that owes nothing
        db.add(Bill(account_number="3201000002", month="2026-11", kwh=190, amount_fen=10000,
                    due_date=TODAY + timedelta(days=35)))
        db.commit()
    form = paid_notification(service, provider, "3201000002")
    form["total_amount"] = "100"
    form["sign"] = provider.sign(form)
    assert service.handle_notification(form).reason == "paid"


def test_unknown_link_is_refused(service: PaymentService, provider: SandboxPaymentProvider, engine: Engine) -> None:
    form = paid_notification(service, provider)
    stranger = {**form, "out_trade_no": "f" * 24}
    stranger["sign"] = provider.sign(stranger)
    assert not service.handle_notification(stranger).accepted
    assert payment_count(engine) == 0


def test_unpaid_trade_status_is_acknowledged_without_paying(service: PaymentService,
                                                            provider: SandboxPaymentProvider, engine: Engine) -> None:
    form = paid_notification(service, provider)
    waiting = {**form, "trade_status": "WAIT_BUYER_PAY"}
    waiting["sign"] = provider.sign(waiting)
    result = service.handle_notification(waiting)
    assert (result.accepted, result.duplicate) == (True, False)
    assert payment_count(engine) == 0 and bills_of(engine, ACCOUNT)[-1].paid_at is None


@ON_BOTH_DATABASES
def test_concurrent_duplicates_record_one_payment(service: PaymentService, provider: SandboxPaymentProvider,
                                                  engine: Engine) -> None:
    for account in ("3201000001", "3201000003", "1101000004"):
        form = paid_notification(service, provider, account)
        barrier = threading.Barrier(2)
        results = []

        def deliver() -> None:
            barrier.wait()
            results.append(service.handle_notification(form))

        run_together(deliver, 2)
        assert sorted(r.duplicate for r in results) == [False, True]
        assert all(r.accepted for r in results)
    assert payment_count(engine) == 3


def test_second_transaction_for_a_paid_link_is_recorded_for_refund(
        service: PaymentService, provider: SandboxPaymentProvider, engine: Engine) -> None:
    form = paid_notification(service, provider)
    service.handle_notification(form)
    again = {**form, "trade_no": str(int(form["trade_no"]) + 1)}
    again["sign"] = provider.sign(again)
    result = service.handle_notification(again)
    assert result.accepted and not result.duplicate and result.refund_needed
    assert payment_count(engine) == 2  # the money did arrive: the ledger must show it
    with session(engine) as db:  # ... as money to return, not as a second payment of the bill
        assert [p.status for p in db.exec(select(Payment).order_by(Payment.id))] == ["recorded", "refund_needed"]


# --- superseded links, paying twice, reconciliation --------------------------------------


def add_november_bill(engine: Engine, amount_fen: int = 4946) -> None:
    with session(engine) as db:
        db.add(Bill(account_number=ACCOUNT, month="2026-11", kwh=93, amount_fen=amount_fen,
                    due_date=TODAY + timedelta(days=35)))
        db.commit()


def test_cashier_returns_to_the_configured_address(service: PaymentService) -> None:
    token = service.create_link(ACCOUNT).token
    query = parse_qs(urlsplit(service.start(token).url).query)
    assert query["return"] == [f"https://pay.test/pay/{token}/done"]


def test_orders_outlive_the_provider_object(service: PaymentService, engine: Engine, clock: Clock) -> None:
    redirect = service.start(service.create_link(ACCOUNT).token)
    restarted = SandboxPaymentProvider(engine, key=b"S" * 32, base_url="https://kiosk.test", now=clock)
    order = restarted.order(order_id_of(redirect))
    assert order is not None and order.amount_fen == 12850 and order.status == "WAIT_BUYER_PAY"


def test_a_new_bill_closes_the_old_order(service: PaymentService, provider: SandboxPaymentProvider,
                                         engine: Engine) -> None:
    old_order = order_id_of(service.start(service.create_link(ACCOUNT).token))
    add_november_bill(engine)
    service.create_link(ACCOUNT)
    with pytest.raises(OrderClosed):
        provider.complete(old_order)
    order = provider.order(old_order)
    assert order is not None and order.status == "TRADE_CLOSED" and order.notification is None


@ON_BOTH_DATABASES
def test_paying_both_orders_of_overlapping_links_records_one_and_one_refund(
        service: PaymentService, provider: SandboxPaymentProvider, engine: Engine) -> None:
    old = service.create_link(ACCOUNT)
    old_form = provider.complete(order_id_of(service.start(old.token)))  # paid; notification still on its way
    add_november_bill(engine)
    new = service.create_link(ACCOUNT)
    new_form = provider.complete(order_id_of(service.start(new.token)))

    assert service.handle_notification(new_form).reason == "paid"
    late = service.handle_notification(old_form)

    assert late.accepted and late.refund_needed  # acknowledged, so the provider stops retrying
    with session(engine) as db:
        payments = {p.link_id: p for p in db.exec(select(Payment))}
    assert payments[new.link_id].status == "recorded" and payments[new.link_id].amount_fen == 12850 + 4946
    assert payments[old.link_id].status == "refund_needed" and "取代" in payments[old.link_id].refund_reason
    assert [bill.paid_at is not None for bill in bills_of(engine, ACCOUNT)][-2:] == [True, True]
    [refund] = service.refunds_needed()
    assert (refund.link_id, refund.account_number, refund.amount_fen, refund.provider_transaction_id) == (
        old.link_id, ACCOUNT, 12850, old_form["trade_no"])


@ON_BOTH_DATABASES
def test_reconcile_records_a_payment_whose_notification_was_lost(
        service: PaymentService, provider: SandboxPaymentProvider, engine: Engine, clock: Clock) -> None:
    issued = service.create_link(ACCOUNT)
    form = provider.complete(order_id_of(service.start(issued.token)))  # never delivered
    clock.moment += timedelta(minutes=2)
    assert service.reconcile(stuck_for=timedelta(minutes=5)).recorded == []  # too early to ask
    clock.moment += timedelta(minutes=4)

    report = service.reconcile(stuck_for=timedelta(minutes=5))

    assert [result.reason for result in report.recorded] == ["paid"]
    assert link_row(engine, issued.link_id).status == "paid"
    with session(engine) as db:
        payment = db.exec(select(Payment)).one()
    assert payment.provider_transaction_id == form["trade_no"] and payment.amount_fen == 12850
    assert service.reconcile(stuck_for=timedelta(minutes=5)).recorded == []
    assert service.handle_notification(form).duplicate  # the late notification changes nothing
    assert payment_count(engine) == 1


def test_reconcile_expires_links_and_closes_their_orders(
        service: PaymentService, provider: SandboxPaymentProvider, engine: Engine, clock: Clock) -> None:
    issued = service.create_link(ACCOUNT)
    order_id = order_id_of(service.start(issued.token))
    clock.moment += timedelta(hours=25)
    report = service.reconcile()
    assert report.expired == 1 and report.recorded == []
    assert link_row(engine, issued.link_id).status == "expired"
    with pytest.raises(OrderClosed):
        provider.complete(order_id)


# --- delivery over real HTTP ------------------------------------------------------------


class FlakyMerchant(BaseHTTPRequestHandler):
    """Answers "fail" to the first notification and "success" after, like a merchant that was restarting."""

    received: list[dict[str, str]] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"])).decode("utf-8")
        self.received.append(dict(parse_qsl(body)))
        answer = b"fail" if len(self.received) == 1 else b"success"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (http.server's name)
        pass


@pytest.fixture
def merchant_url():  # type: ignore[no-untyped-def]
    FlakyMerchant.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FlakyMerchant)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/pay/notify"
    server.shutdown()
    server.server_close()
    thread.join()


def test_deliver_retries_until_success(service: PaymentService, provider: SandboxPaymentProvider,
                                       merchant_url: str) -> None:
    form = paid_notification(service, provider)
    waits: list[float] = []
    assert provider.deliver(form, merchant_url, sleep=waits.append) == 2
    assert waits == [0, 15]
    assert FlakyMerchant.received == [form, form]
    assert provider.verify(FlakyMerchant.received[-1])


def test_deliver_gives_up_when_never_acknowledged(provider: SandboxPaymentProvider) -> None:
    with pytest.raises(DeliveryFailed) as failed:
        provider.deliver({"a": "b"}, "http://127.0.0.1:9/pay/notify", attempts=(0, 0), sleep=lambda s: None)
    assert failed.value.attempts == 2


# --- secrets ----------------------------------------------------------------------------


def test_secret_is_created_private_and_reused(tmp_path: Path) -> None:
    key = load_or_create_secret(tmp_path, "payment-links")
    path = tmp_path / "secrets" / "payment-links.key"
    assert len(key) == 32 and path.read_bytes() == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert load_or_create_secret(tmp_path, "payment-links") == key
    assert load_or_create_secret(tmp_path, "sandbox") != key
    assert sorted(p.name for p in path.parent.iterdir()) == ["payment-links.key", "sandbox.key"]
    with pytest.raises(ValueError):
        load_or_create_secret(tmp_path, "../escape")


def run_together(work: Callable[[], None], count: int) -> None:
    """Run ``work`` in ``count`` threads and re-raise the first failure."""
    errors: list[BaseException] = []

    def guarded() -> None:
        try:
            work()
        except BaseException as error:  # noqa: BLE001 (reported to the test below)
            errors.append(error)

    threads = [threading.Thread(target=guarded) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    if errors:
        raise errors[0]
