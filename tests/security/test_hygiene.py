"""Finding 7: hygiene. Tokens and phone numbers out of the logs, private files, turn-log
retention, security headers, Secure cookies, X-Forwarded-For only from trusted proxies,
login back-off instead of a lock the real user cannot pass, and a first admin who must
choose a new password. Attacks go over real HTTP against a running server.
"""

from __future__ import annotations

import io
import logging
import os
import stat
import subprocess
from collections.abc import Iterator
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import re
from fastapi.testclient import TestClient
from sqlmodel import select
from uvicorn.logging import AccessFormatter

from knowledge_base.settings import Settings
from knowledge_base.db import session
from knowledge_base.models import TurnLog, User, utc_now
from server.app import create_app
from tests.server_fixtures import (  # noqa: F401  (pytest finds the fixtures by name)
    ACCOUNTS,
    LiveServer,
    free_port,
    live_login,
    live_server,
    login,
    server_settings,
)
from tests.test_server_auth import DEMO_ENV, PASSWORD_LINE, XIAODIAN, _start_serve, _stop

DEMO_ACCOUNT = "3201000001"  # has an unpaid bill


# --- Logs -------------------------------------------------------------------------------


@pytest.fixture
def access_log(live_server: LiveServer) -> Iterator[io.StringIO]:
    """uvicorn's access log of the live server, formatted as uvicorn writes it."""
    written = io.StringIO()
    handler = logging.StreamHandler(written)
    handler.setFormatter(AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s', use_colors=False))
    access = logging.getLogger("uvicorn.access")
    level = access.level
    access.setLevel(logging.INFO)  # the fixture's server logs warnings only
    access.addHandler(handler)
    yield written
    access.removeHandler(handler)
    access.setLevel(level)


def test_access_log_has_no_pay_token(live_server: LiveServer, access_log: io.StringIO) -> None:
    link = live_server.app.state.services.payments.create_link(DEMO_ACCOUNT)
    with httpx.Client(base_url=live_server.url, timeout=10) as customer:
        assert customer.get(f"/pay/{link.token}").status_code == 200
        customer.get(f"/pay/{link.token}/done")
    written = access_log.getvalue()
    assert "GET /pay/" in written, written  # the request is logged...
    assert link.token not in written and link.token[:12] not in written  # ...without its token
    assert "/pay/<redacted>" in written


def test_phone_numbers_and_pay_links_are_masked_in_other_log_lines(server_settings: Settings) -> None:
    written = io.StringIO()
    handler = logging.StreamHandler(written)
    logging.getLogger().addHandler(handler)  # where an operator's log handler sits
    try:
        with TestClient(create_app(server_settings)):  # start-up protects the handlers in place
            logging.getLogger("assistant.sms").warning("验证码短信已发往 %s：%s", "13812345678",
                                                       "http://x/pay/abcDEF123.456-xyz")
    finally:
        logging.getLogger().removeHandler(handler)
    line = written.getvalue()
    assert "138****5678" in line and "13812345678" not in line
    assert "abcDEF123" not in line and "/pay/<redacted>" in line


def test_a_pay_link_inside_a_query_string_is_redacted_too() -> None:
    """The sandbox cashier's address carries the customer's way back, /pay/<token>/done, URL-encoded."""
    from assistant.log_redaction import redact

    line = redact('"GET /sandbox-pay/0a1b?return=http%3A%2F%2F127.0.0.1%3A8000%2Fpay%2Fab12.1764.EoFoYA_L-ok%2Fdone HTTP/1.1"')
    assert "ab12" not in line and "EoFoYA" not in line and "0a1b" not in line


def test_short_link_codes_call_uuids_and_session_ids_are_redacted_from_log_lines() -> None:
    """Bearer secrets in paths: a reminder's /r/<code>, a phone call's UUID (replayable on the
    AudioSocket port), and the session id an older kiosk page put in its handoff poll."""
    from assistant.log_redaction import redact

    line = redact('"GET /r/1abcdefghj HTTP/1.1" "GET /api/phone/calls/9d3c-41e2-8f00 HTTP/1.1" '
                  '"GET /api/converse/SECRETSESSIONxyz/handoff HTTP/1.1" "GET /x?next=%2Fr%2F2bcdefghij HTTP/1.1"')
    for secret in ("1abcdefghj", "9d3c-41e2", "SECRETSESSIONxyz", "2bcdefghij"):
        assert secret not in line, line
    assert "/r/<redacted>" in line and "/api/converse/<redacted>/handoff" in line


@pytest.mark.parametrize("said", ["+86 139 1234 5678", "0086-139-1234-5678", "139.1234.5678", "139—1234—5678",
                                  "８６１３９１２３４５６７８"])
def test_phone_numbers_in_other_spellings_are_masked_in_log_lines(said: str) -> None:
    from assistant.log_redaction import redact

    line = redact(f"回拨 {said} 失败")
    assert not re.search("1234|１２３４", line), line
    assert re.search("5678|５６７８", line), line  # the last four stay, to tell numbers apart
    assert "139.224.100.20" in redact('139.224.100.20:5555 - "GET / HTTP/1.1"')  # a client address is no phone


def test_handoff_status_is_asked_with_the_session_id_in_the_body_not_the_url(live_server: LiveServer) -> None:
    with httpx.Client(base_url=live_server.url, timeout=10) as kiosk:
        asked = kiosk.post("/api/converse/handoff", json={"session_id": "no-such-conversation"})
        assert asked.status_code == 200 and asked.json() == {"status": None, "priority": None}
        assert kiosk.get("/api/converse/no-such-conversation/handoff").status_code in (404, 405)


# --- Files ------------------------------------------------------------------------------


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_database_and_data_folder_are_private(server_settings: Settings) -> None:
    data = server_settings.data_dir
    (data / "secrets").mkdir(parents=True, mode=0o755)
    (data / "speech-cache").mkdir(mode=0o755)
    os.chmod(data, 0o755)  # loose permissions left by an older version are tightened too
    database = data / "xiaodian.db"
    database.touch(mode=0o644)
    os.chmod(database, 0o644)
    with TestClient(create_app(server_settings)) as http:
        assert http.post("/api/converse", json={"text": "营业厅在哪"}).status_code == 200
        for folder in (data, data / "secrets", data / "speech-cache"):
            assert _mode(folder) == 0o700, folder
        files = [database, data / "xiaodian.db-wal", data / "xiaodian.db-shm"]
        for path in files:
            assert path.exists() and _mode(path) == 0o600, (path, oct(_mode(path)))


# --- Retention --------------------------------------------------------------------------


def _turn(days_old: int, text: str) -> TurnLog:
    return TurnLog(session_id="s", at=utc_now() - timedelta(days=days_old), channel="web", input_text=text)


def test_turns_purge_removes_old_rows_only(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {**os.environ, "XIAODIAN_DATA_DIR": str(data), "XIAODIAN_TURN_LOG_DAYS": "180"}
    subprocess.run([str(XIAODIAN), "db", "init"], env=env, check=True, capture_output=True, timeout=120)
    from knowledge_base.db import make_engine

    engine = make_engine(Settings(data_dir=data).resolved_database_url)
    with session(engine) as db:
        db.add_all([_turn(400, "我的电话是13812345678"), _turn(181, "去年的问题"), _turn(179, "半年内的问题"),
                    _turn(0, "今天的问题")])
        db.commit()
    purged = subprocess.run([str(XIAODIAN), "turns", "purge"], env=env, capture_output=True, text=True,
                            timeout=120)
    assert purged.returncode == 0, purged.stderr
    assert "2" in purged.stdout and "180" in purged.stdout, purged.stdout
    with session(engine) as db:
        left = sorted(row.input_text for row in db.exec(select(TurnLog)))
    assert left == ["今天的问题", "半年内的问题"]
    engine.dispose()


def test_the_server_purges_old_turns_when_it_starts(server_settings: Settings) -> None:
    first = create_app(server_settings)
    with TestClient(first):
        with session(first.state.engine) as db:
            db.add_all([_turn(365, "一年前"), _turn(1, "昨天")])
            db.commit()
    restarted = create_app(server_settings)
    with TestClient(restarted):
        with session(restarted.state.engine) as db:
            assert [row.input_text for row in db.exec(select(TurnLog))] == ["昨天"]


def test_the_server_forgets_account_look_ups_and_codes_after_a_day(server_settings: Settings) -> None:
    from knowledge_base.models import AccountLookup, VerificationCode

    first = create_app(server_settings)
    with TestClient(first):
        with session(first.state.engine) as db:
            now = utc_now()
            db.add_all([AccountLookup(client="10.0.0.9", session_id="s", account_number="3201000001",
                                      at=now - timedelta(days=2)),
                        AccountLookup(client="10.0.0.9", session_id="s", account_number="3201000002", at=now),
                        VerificationCode(session_id="s", account_number="3201000001", code_hash="x",
                                         created_at=now - timedelta(days=2), expires_at=now - timedelta(days=2)),
                        VerificationCode(session_id="s", account_number="3201000002", code_hash="y",
                                         expires_at=now + timedelta(minutes=5))])
            db.commit()
    restarted = create_app(server_settings)
    with TestClient(restarted):
        with session(restarted.state.engine) as db:
            assert [row.account_number for row in db.exec(select(AccountLookup))] == ["3201000002"]
            assert [row.account_number for row in db.exec(select(VerificationCode))] == ["3201000002"]


# --- Headers and cookies ----------------------------------------------------------------


def _check_headers(response: httpx.Response) -> None:
    headers = response.headers
    policy = headers.get("content-security-policy", "")
    assert "frame-ancestors 'none'" in policy, (response.url, policy)
    script_src = next((part for part in policy.split(";") if part.strip().startswith("script-src")), "")
    assert "'self'" in script_src and "unsafe-inline" not in script_src and "unsafe-eval" not in script_src
    assert headers.get("x-frame-options") == "DENY"
    assert headers.get("x-content-type-options") == "nosniff"
    assert headers.get("referrer-policy") == "no-referrer"


def test_security_headers_on_every_kind_of_response(live_server: LiveServer) -> None:
    link = live_server.app.state.services.payments.create_link(DEMO_ACCOUNT)
    with httpx.Client(base_url=live_server.url, timeout=10) as anonymous:
        for path in ("/", "/login", "/admin", "/staff", f"/pay/{link.token}", "/healthz", "/static/js/common.js",
                     "/no-such-page"):
            _check_headers(anonymous.get(path))
        _check_headers(anonymous.post("/api/converse", json={"text": "营业厅在哪"}))
    with closing(live_login(live_server, "admin1")) as admin:
        _check_headers(admin.get("/admin"))
        _check_headers(admin.get("/api/admin/intents"))


def test_cookies_are_secure_when_the_public_url_is_https(live_server: LiveServer) -> None:
    with httpx.Client(base_url=live_server.url, timeout=10) as http:
        assert "secure" not in http.get("/login").headers["set-cookie"].lower()  # plain http: not Secure
    live_server.app.state.settings.public_url = "https://xiaodian.example.cn"
    with httpx.Client(base_url=live_server.url, timeout=10) as http:
        form = http.get("/login")
        assert "; secure" in form.headers["set-cookie"].lower()
        token = form.cookies["xiaodian_login_csrf"]
        name, password = "admin1", ACCOUNTS["admin1"][1]
        logged_in = http.post("/login", data={"name": name, "password": password, "csrf_token": token},
                              headers={"Cookie": f"xiaodian_login_csrf={token}"}, follow_redirects=False)
        assert logged_in.status_code == 303, logged_in.text
        session_cookie = next(value for value in logged_in.headers.get_list("set-cookie")
                              if value.startswith("xiaodian_session="))
        assert "; secure" in session_cookie.lower() and "httponly" in session_cookie.lower()


# --- Login: forwarded addresses, back-off -----------------------------------------------


def _try_login(http: httpx.Client, name: str, password: str, forwarded_for: str | None = None) -> httpx.Response:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    form = http.get("/login", headers=headers)
    token = form.cookies.get("xiaodian_login_csrf") or http.cookies.get("xiaodian_login_csrf") or ""
    return http.post("/login", data={"name": name, "password": password, "csrf_token": token}, headers=headers,
                     follow_redirects=False)


def test_a_forged_forwarded_for_cannot_bypass_the_login_limit(live_server: LiveServer) -> None:
    limit = live_server.app.state.settings.login_max_failures_per_ip
    with httpx.Client(base_url=live_server.url, timeout=10) as attacker:
        statuses = [_try_login(attacker, f"guess{index}", "wrong-password", f"10.9.{index}.1").status_code
                    for index in range(limit + 3)]
    assert statuses[:limit] == [401] * limit and set(statuses[limit:]) == {429}, str(statuses)


def test_a_trusted_proxys_forwarded_for_is_honoured(live_server: LiveServer) -> None:
    live_server.app.state.settings.trusted_proxies = "127.0.0.1"
    limit = live_server.app.state.settings.login_max_failures_per_ip
    with httpx.Client(base_url=live_server.url, timeout=10) as via_proxy:
        for index in range(limit + 1):
            _try_login(via_proxy, f"guess{index}", "wrong-password", "203.0.113.66")
        assert _try_login(via_proxy, "guess", "wrong-password", "203.0.113.66").status_code == 429
    with httpx.Client(base_url=live_server.url, timeout=10) as colleague:  # another address behind the proxy
        assert _try_login(colleague, "staff1", ACCOUNTS["staff1"][1], "203.0.113.7").status_code == 303


def test_back_off_slows_a_guesser_but_lets_the_real_user_in(live_server: LiveServer) -> None:
    live_server.app.state.settings.trusted_proxies = "127.0.0.1"
    with httpx.Client(base_url=live_server.url, timeout=10) as attacker:
        statuses = [_try_login(attacker, "admin1", "wrong-password", "198.51.100.9").status_code for _ in range(12)]
        assert 429 in statuses, statuses  # the guesser is made to wait...
        waiting = _try_login(attacker, "admin1", ACCOUNTS["admin1"][1], "198.51.100.9")
        assert waiting.status_code == 429 and "后再试" in waiting.text and int(waiting.headers["retry-after"]) > 0
    with httpx.Client(base_url=live_server.url, timeout=10) as owner:  # ...the owner, at their own desk, is not
        assert _try_login(owner, "admin1", ACCOUNTS["admin1"][1], "192.0.2.20").status_code == 303


# --- First admin ------------------------------------------------------------------------


def test_first_admin_must_choose_a_new_password(capsys: pytest.CaptureFixture[str], live_server: LiveServer) -> None:
    printed = PASSWORD_LINE.findall(capsys.readouterr().out)
    assert len(printed) == 1
    with httpx.Client(base_url=live_server.url, timeout=10) as http:
        assert login(http, "admin", printed[0]).status_code == 303
        page = http.get("/admin", follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"] == "/account/password"
        api = http.get("/api/admin/intents")
        assert api.status_code == 403 and "修改初始密码" in api.json()["detail"]
        assert http.get("/staff", follow_redirects=False).status_code == 303
        form = http.get("/account/password")
        assert form.status_code == 200 and "新密码" in form.text
        csrf = http.headers["X-CSRF-Token"]
        same = http.post("/account/password", data={"csrf_token": csrf, "current_password": printed[0],
                                                     "new_password": printed[0], "new_password_again": printed[0]},
                         follow_redirects=False)
        assert same.status_code == 422 and "不能和原来的一样" in same.text
        changed = http.post("/account/password", data={"csrf_token": csrf, "current_password": printed[0],
                                                        "new_password": "a-brand-new-password",
                                                        "new_password_again": "a-brand-new-password"},
                            follow_redirects=False)
        assert changed.status_code == 303 and changed.headers["location"] == "/admin"
        assert http.get("/admin").status_code == 200
        assert http.get("/api/admin/intents").status_code == 200
    with httpx.Client(base_url=live_server.url, timeout=10) as fresh:
        assert login(fresh, "admin", printed[0]).status_code == 401
        assert login(fresh, "admin", "a-brand-new-password").status_code == 303


def test_users_passwd_clears_the_first_admin_flag(server_settings: Settings) -> None:
    env = {**os.environ, "XIAODIAN_DATA_DIR": str(server_settings.data_dir)}
    with TestClient(create_app(server_settings)) as http:
        with session(http.app.state.engine) as db:  # type: ignore[attr-defined]
            assert db.exec(select(User).where(User.name == "admin")).one().must_change_password
    changed = subprocess.run([str(XIAODIAN), "users", "passwd", "admin"], env=env, text=True, capture_output=True,
                             input="operator-chosen-1\noperator-chosen-1\n", timeout=120)
    assert changed.returncode == 0, changed.stderr
    with TestClient(create_app(server_settings)) as http:
        assert login(http, "admin", "operator-chosen-1").status_code == 303
        assert http.get("/admin", follow_redirects=False).status_code == 200


def test_xiaodian_serve_redacts_its_access_log_and_ignores_forged_forwarded_for(tmp_path: Path) -> None:
    """The production start: uvicorn's own log configuration and proxy handling, not the test fixture's."""
    env = {**os.environ, **DEMO_ENV, "XIAODIAN_DATA_DIR": str(tmp_path / "data"), "XIAODIAN_SPEECH_ENABLED": "false",
           "XIAODIAN_LOGIN_MAX_FAILURES_PER_IP": "3", "PYTHONUNBUFFERED": "1"}
    port = free_port()
    process, _ = _start_serve(env, port)
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as attacker:
        attacker.get("/pay/0123456789abcdef01234567.1796081567.SECRETpart-of-token")
        statuses = [_try_login(attacker, f"guess{index}", "wrong-password", f"10.8.{index}.1").status_code
                    for index in range(5)]
    output = _stop(process)
    assert "GET /pay/<redacted>" in output and "SECRETpart" not in output, output
    assert statuses == [401, 401, 401, 429, 429], statuses


def test_the_turn_log_keeps_no_full_phone_number(server_settings: Settings) -> None:
    """Quality review needs what was asked and answered, not the number the customer gave."""
    app = create_app(server_settings)
    with TestClient(app) as http:
        said = http.post("/api/converse", json={"text": "我的新手机号是13912345678"}).json()
        http.post("/api/converse", json={"text": "13912345678", "session_id": said["session_id"]})
        with session(app.state.engine) as db:
            rows = db.exec(select(TurnLog)).all()
    assert rows
    for row in rows:
        stored = " ".join([row.input_text, row.normalized, row.reply, str(row.slots)])
        assert "13912345678" not in stored and "139****5678" in row.input_text, stored


@pytest.mark.parametrize("said", ["我的新手机号是139 1234 5678", "新号码139-1234-5678", "手机一三九一二三四五六七八",
                                  "号码是幺三九，一二三四，五六七八"])
def test_a_phone_number_said_in_groups_or_chinese_digits_is_masked_in_the_turn_log(server_settings: Settings,
                                                                                    said: str) -> None:
    app = create_app(server_settings)
    with TestClient(app) as http:
        http.post("/api/converse", json={"text": said})
        with session(app.state.engine) as db:
            rows = db.exec(select(TurnLog)).all()
    assert len(rows) == 1
    stored = " ".join([rows[0].input_text, rows[0].normalized, rows[0].reply, str(rows[0].slots)])
    digits_only = re.sub(r"[^0-9一二三四五六七八九零幺]", "", stored)
    for spelled in ("12345678", "一二三四五六七八", "1234"):
        assert spelled not in digits_only, stored
    assert "5678" in rows[0].input_text or "五六七八" in rows[0].input_text  # the last four stay, to tell numbers apart
