"""Accounts, login and the guards in front of the admin and staff areas (real SQLite, real HTTP)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import select

from knowledge_base.settings import Settings
from knowledge_base.db import session
from knowledge_base.models import AuditLog, LoginAttempt, LoginSession, User, utc_now
from server.app import create_app
from tests.server_fixtures import (  # noqa: F401  (pytest finds the fixtures by name)
    ACCOUNTS,
    admin_client,
    app,
    client,
    csrf_from_page,
    free_port,
    live_login,
    live_server,
    login,
    server_settings,
    staff_client,
)

XIAODIAN = Path(sys.executable).with_name("xiaodian")
# Demo mode: the default payment provider is the FAKE sandbox, which runs only there.
DEMO_ENV = {"XIAODIAN_DEMO": "true"}
PASSWORD_LINE = re.compile(r"密码 password = (\S+)")


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    body = ready.json()
    assert body["ready"] is True and all(body["checks"].values()) and body["intents"] > 30


@pytest.mark.parametrize("path", ["/admin", "/admin/intents/hall_info", "/admin/audit", "/staff"])
def test_anonymous_pages_redirect_to_login(client: TestClient, path: str) -> None:
    response = client.get(path, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=")
    page = client.get(path)  # following the redirect lands on the Chinese login form
    assert page.status_code == 200 and "工作人员登录" in page.text


@pytest.mark.parametrize("method, path", [
    ("GET", "/api/admin/intents"), ("POST", "/api/admin/intents"), ("GET", "/api/staff/tickets"),
    ("POST", "/api/staff/tickets/1/claim"), ("GET", "/api/staff/events"), ("GET", "/api/session"),
])
def test_anonymous_apis_get_401(client: TestClient, method: str, path: str) -> None:
    response = client.request(method, path, json={})
    assert response.status_code == 401
    assert "登录" in response.json()["detail"]


def test_wrong_role_is_refused(staff_client: TestClient, admin_client: TestClient) -> None:
    page = staff_client.get("/admin")
    assert page.status_code == 403 and "只有管理员" in page.text
    api = staff_client.get("/api/admin/intents")
    assert api.status_code == 403 and "只有管理员" in api.json()["detail"]
    assert staff_client.post("/api/admin/try", json={"text": "交电费"}).status_code == 403
    # Admins supervise the queue, so the staff console is open to them.
    assert admin_client.get("/staff").status_code == 200
    assert admin_client.get("/api/staff/tickets").status_code == 200


def test_state_changes_need_the_csrf_token(admin_client: TestClient) -> None:
    token = admin_client.headers.pop("X-CSRF-Token")
    missing = admin_client.post("/api/admin/try", json={"text": "交电费"})
    assert missing.status_code == 403 and "安全校验" in missing.json()["detail"]
    wrong = admin_client.post("/api/admin/try", json={"text": "交电费"}, headers={"X-CSRF-Token": "x" * 43})
    assert wrong.status_code == 403
    odd = admin_client.post("/api/admin/try", json={"text": "交电费"}, headers={"X-CSRF-Token": "é".encode("latin-1")})
    assert odd.status_code == 403
    assert admin_client.post("/api/admin/try", json={"text": "交电费"},
                             headers={"X-CSRF-Token": token}).status_code == 200
    # Reading needs no token; the page carries it for scripts.
    page = admin_client.get("/admin")
    assert page.status_code == 200 and csrf_from_page(page.text) == token


def test_logout_needs_the_token_and_ends_the_session(staff_client: TestClient) -> None:
    token = staff_client.headers.pop("X-CSRF-Token")
    assert staff_client.post("/logout", follow_redirects=False).status_code == 403
    assert staff_client.get("/api/staff/tickets").status_code == 200
    out = staff_client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert staff_client.get("/api/staff/tickets").status_code == 401


def test_login_form_needs_its_own_token(client: TestClient) -> None:
    response = client.post("/login", data={"name": "admin1", "password": ACCOUNTS["admin1"][1]},
                           follow_redirects=False)
    assert response.status_code == 403 and "页面已过期" in response.text


def test_login_sets_a_safe_cookie_and_goes_home(client: TestClient, app) -> None:  # type: ignore[no-untyped-def]
    response = login(client, "staff1", ACCOUNTS["staff1"][1])
    assert response.status_code == 303 and response.headers["location"] == "/staff"
    cookie = response.headers["set-cookie"]
    assert "xiaodian_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    token = client.cookies.get("xiaodian_session")
    with session(app.state.engine) as db:
        stored = [row.id for row in db.exec(select(LoginSession))]
    assert token not in stored and len(stored) == 1  # only the hash is kept


def test_login_never_redirects_off_site(client: TestClient) -> None:
    client.get("/login")
    token = client.cookies.get("xiaodian_login_csrf")
    response = client.post("/login", data={"name": "admin1", "password": ACCOUNTS["admin1"][1],
                                           "csrf_token": token, "next": "//evil.example/x"},
                           follow_redirects=False)
    assert response.headers["location"] == "/admin"


def test_wrong_password_is_401_with_a_chinese_message(client: TestClient) -> None:
    response = login(client, "admin1", "not-the-password")
    assert response.status_code == 401 and "用户名或密码不对" in response.text
    unknown = login(client, "nobody", "whatever-password")
    assert unknown.status_code == 401 and "用户名或密码不对" in unknown.text


def test_login_backs_off_per_name_and_address(client: TestClient, app) -> None:  # type: ignore[no-untyped-def]
    # Issue 8: failures slow the name down from this address (a short, doubling wait), no 10-minute lock.
    for _ in range(5):
        assert login(client, "staff1", "wrong-password").status_code == 401
    blocked = login(client, "staff1", ACCOUNTS["staff1"][1])  # even the right password waits now
    assert blocked.status_code == 429
    assert "2 秒后再试" in blocked.text and blocked.headers["retry-after"] == "2"
    assert login(client, "staff2", ACCOUNTS["staff2"][1]).status_code == 303  # other names are not slowed
    # The wait passes (the failures are made older instead of sleeping): the right password works.
    with session(app.state.engine) as db:
        db.exec(update(LoginAttempt).values(at=utc_now() - timedelta(seconds=3)))
        db.commit()
    fresh = TestClient(app)
    assert login(fresh, "staff1", ACCOUNTS["staff1"][1]).status_code == 303


def test_a_good_login_clears_the_names_count(client: TestClient) -> None:
    for _ in range(4):
        login(client, "staff1", "wrong-password")
    assert login(client, "staff1", ACCOUNTS["staff1"][1]).status_code == 303
    client.post("/logout", data={"csrf_token": client.headers["X-CSRF-Token"]})
    for _ in range(4):
        assert login(client, "staff1", "wrong-password").status_code == 401


def test_login_rate_limited_per_client_address(app, client: TestClient) -> None:  # type: ignore[no-untyped-def]
    app.state.settings.login_max_failures_per_ip = 6
    for index in range(6):
        assert login(client, f"guess{index}", "wrong-password").status_code == 401
    assert login(client, "admin1", ACCOUNTS["admin1"][1]).status_code == 429


def test_sessions_expire(staff_client: TestClient, app) -> None:  # type: ignore[no-untyped-def]
    assert staff_client.get("/api/staff/tickets").status_code == 200
    with session(app.state.engine) as db:
        db.exec(update(LoginSession).values(expires_at=utc_now() - timedelta(seconds=1)))
        db.commit()
    assert staff_client.get("/api/staff/tickets").status_code == 401
    page = staff_client.get("/staff", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/login?next=%2Fstaff"


def test_session_lasts_the_configured_hours(staff_client: TestClient, app) -> None:  # type: ignore[no-untyped-def]
    info = staff_client.get("/api/session").json()
    assert info["name"] == "staff1" and info["role"] == "staff" and info["role_label"] == "客服"
    with session(app.state.engine) as db:
        row = db.exec(select(LoginSession)).one()
    assert abs((row.expires_at - row.created_at) - timedelta(hours=8)) < timedelta(seconds=1)


def test_disabled_users_are_logged_out(staff_client: TestClient, app, client: TestClient) -> None:  # type: ignore[no-untyped-def]
    with session(app.state.engine) as db:
        db.exec(update(User).where(User.name == "staff1").values(disabled=True))
        db.commit()
    assert staff_client.get("/api/staff/tickets").status_code == 401
    again = login(TestClient(app), "staff1", ACCOUNTS["staff1"][1])
    assert again.status_code == 403 and "已停用" in again.text


def test_passwords_are_stored_as_argon2(client: TestClient, app) -> None:  # type: ignore[no-untyped-def]
    with session(app.state.engine) as db:
        users = {u.name: u for u in db.exec(select(User))}
        audit = db.exec(select(AuditLog).where(AuditLog.entity == "user")).all()
    assert set(users) == {"admin", *ACCOUNTS}
    for name, (_role, password) in ACCOUNTS.items():
        assert users[name].password_hash.startswith("$argon2id$") and password not in users[name].password_hash
    assert all("password" not in str(row.after) and "hash" not in str(row.after) for row in audit)


def test_first_admin_password_is_printed_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = Settings(data_dir=tmp_path / "data", demo=True)
    with TestClient(create_app(settings)):
        pass
    first = capsys.readouterr().out
    passwords = PASSWORD_LINE.findall(first)
    assert len(passwords) == 1 and "首位管理员已创建" in first and "First admin created" in first
    with TestClient(create_app(settings)) as again:  # a restart: the admin exists, nothing printed
        assert "password" not in capsys.readouterr().out
        assert login(again, "admin", passwords[0]).status_code == 303
    database = (tmp_path / "data" / "xiaodian.db").read_bytes()
    assert passwords[0].encode() not in database


def _run_cli(args: list[str], env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(XIAODIAN), *args], input=stdin, env=env, capture_output=True, text=True,
                          timeout=120, check=False)


def test_users_add_command(tmp_path: Path) -> None:
    env = {**os.environ, **DEMO_ENV, "XIAODIAN_DATA_DIR": str(tmp_path / "data")}
    generated = _run_cli(["users", "add", "张三", "--role", "staff", "--generate"], env)
    assert generated.returncode == 0, generated.stderr
    password = re.search(r"密码：(\S+)（", generated.stdout)
    assert password and "已添加客服 张三" in generated.stdout
    typed = _run_cli(["users", "add", "lisi", "--role", "admin"], env, "typed-password-1\ntyped-password-1\n")
    assert typed.returncode == 0, typed.stderr
    duplicate = _run_cli(["users", "add", "张三", "--role", "staff", "--generate"], env)
    assert duplicate.returncode == 2 and "已经存在" in duplicate.stderr
    bad_role = _run_cli(["users", "add", "王五", "--role", "boss", "--generate"], env)
    assert bad_role.returncode == 2 and "admin" in bad_role.stderr
    short = _run_cli(["users", "add", "赵六", "--role", "staff"], env, "short\nshort\n")
    assert short.returncode == 2 and "至少要 10 位" in short.stderr
    listed = _run_cli(["users", "list"], env)
    assert "张三\t客服\t正常" in listed.stdout and "lisi\t管理员\t正常" in listed.stdout

    with TestClient(create_app(Settings(data_dir=tmp_path / "data", demo=True))) as http:
        assert login(http, "张三", password.group(1)).status_code == 303
        assert login(TestClient(http.app), "lisi", "typed-password-1").status_code == 303
    changed = _run_cli(["users", "passwd", "lisi"], env, "another-password\nanother-password\n")
    assert changed.returncode == 0, changed.stderr
    with TestClient(create_app(Settings(data_dir=tmp_path / "data", demo=True))) as http:
        assert login(http, "lisi", "typed-password-1").status_code == 401
        assert login(http, "lisi", "another-password").status_code == 303


def _start_serve(env: dict[str, str], port: int) -> tuple[subprocess.Popen[str], str]:
    """Start `xiaodian serve`, wait until /readyz says ready, return the process and its output so far."""
    process = subprocess.Popen([str(XIAODIAN), "serve", "--port", str(port)], env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return process, ""
        except httpx.TransportError:
            pass
        assert process.poll() is None, process.stdout.read() if process.stdout else ""
        time.sleep(0.2)
    process.kill()
    raise AssertionError("xiaodian serve did not become ready")


def _stop(process: subprocess.Popen[str]) -> str:
    process.terminate()
    output, _ = process.communicate(timeout=30)
    # uvicorn shuts down gracefully, then re-raises SIGTERM so the exit status tells how it ended.
    assert "Application shutdown complete" in output and process.returncode in (0, -15), output
    return output


def test_serve_command_prints_first_admin_once(tmp_path: Path) -> None:
    env = {**os.environ, **DEMO_ENV, "XIAODIAN_DATA_DIR": str(tmp_path / "data"), "PYTHONUNBUFFERED": "1"}
    port = free_port()
    process, _ = _start_serve(env, port)
    output = _stop(process)
    passwords = PASSWORD_LINE.findall(output)
    assert len(passwords) == 1, output
    process, _ = _start_serve(env, port)
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
        logged_in = login(http, "admin", passwords[0])
        assert logged_in.status_code == 303 and logged_in.headers["location"] == "/account/password"
        assert http.get("/admin").headers["location"] == "/account/password"  # issue 8: a new password first
    assert "password" not in _stop(process)


def test_live_server_login_and_guards(live_server) -> None:  # type: ignore[no-untyped-def]
    with httpx.Client(base_url=live_server.url) as anonymous:
        assert anonymous.get("/api/admin/intents").status_code == 401
        assert anonymous.get("/admin").headers["location"] == "/login?next=%2Fadmin"
    with closing(live_login(live_server, "staff1")) as staff:
        assert staff.get("/api/admin/intents").status_code == 403
        assert staff.get("/api/staff/tickets").status_code == 200
