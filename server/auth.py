"""Logging in and out of the web pages, changing one's password, and the login back-off.

The accounts themselves (users, roles, password hashing) live in
``assistant.accounts``; a first admin with a generated password is sent to
/account/password before anything else. A login creates a server-side
session row keyed by the hash of a random cookie token, so logging out,
disabling a user or changing a password takes effect at once, and the
session expires after ``settings.session_hours``.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel
from sqlalchemy import delete, func
from sqlmodel import Session, col, select

from assistant.accounts import (
    MIN_PASSWORD_LENGTH,
    ROLE_LABELS,
    AccountError,
    hash_password,
    needs_rehash,
    password_matches,
    set_password,
)
from knowledge_base.settings import Settings
from knowledge_base.db import session
from knowledge_base.models import LoginAttempt, LoginSession, User, utc_now
from server.deps import DbSession, SettingsDep, as_utc, client_address
from server.login import (
    CSRF_FIELD,
    CSRF_HEADER,
    PASSWORD_PAGE,
    SESSION_COOKIE,
    CsrfFailed,
    Login,
    SessionLogin,
    optional_login,
    token_digest,
    tokens_match,
)
from server.pages import render

LOGIN_CSRF_COOKIE = "xiaodian_login_csrf"


# --- Login back-off -------------------------------------------------------------------


def _wait_text(seconds: int) -> str:
    return f"{seconds} 秒" if seconds < 60 else f"{math.ceil(seconds / 60)} 分钟"


def _pair_wait(db: Session, name: str, client_ip: str, now: datetime, settings: Settings) -> float:
    """Seconds this name must wait from this address: doubling with each failure past the free ones.

    Counted per name *and* address, since the last success of that pair: a guesser
    elsewhere slows only themself, never the real user at their own desk.
    """
    since = now - timedelta(seconds=settings.login_backoff_memory_s)
    last_success = db.exec(
        select(func.max(LoginAttempt.at)).where(LoginAttempt.name == name, LoginAttempt.client_ip == client_ip,
                                                LoginAttempt.success == True)  # noqa: E712
    ).one()
    if last_success is not None and as_utc(last_success) > since:
        since = as_utc(last_success)
    failures, last_failure = db.exec(
        select(func.count(), func.max(LoginAttempt.at))
        .where(LoginAttempt.name == name, LoginAttempt.client_ip == client_ip,
               LoginAttempt.success == False, LoginAttempt.at > since)  # noqa: E712
    ).one()
    if failures <= settings.login_free_failures or last_failure is None:
        return 0.0
    delay = min(settings.login_backoff_s * 2 ** (failures - settings.login_free_failures - 1),
                settings.login_max_backoff_s)
    return (as_utc(last_failure) + timedelta(seconds=delay) - now).total_seconds()


def _address_wait(db: Session, client_ip: str, now: datetime, settings: Settings) -> float:
    """Seconds until this address is again under its bound of failures (any names) in the window.

    Not cleared by a success: one right password must not buy a guesser more tries on other names.
    """
    window = timedelta(minutes=settings.login_window_minutes)
    failures = db.exec(
        select(LoginAttempt.at)
        .where(LoginAttempt.client_ip == client_ip, LoginAttempt.success == False,  # noqa: E712
               LoginAttempt.at > now - window)
        .order_by(col(LoginAttempt.at).desc()).limit(settings.login_max_failures_per_ip)
    ).all()
    if len(failures) < settings.login_max_failures_per_ip:
        return 0.0
    # The block lifts when the oldest of the newest `limit` failures leaves the window.
    return (as_utc(failures[-1]) + window - now).total_seconds()


def login_wait(db: Session, name: str, client_ip: str, settings: Settings) -> int:
    """Whole seconds to wait before this name may try a password from this address; 0: try now."""
    now = utc_now()
    wait = max(_pair_wait(db, name.casefold(), client_ip, now, settings),
               _address_wait(db, client_ip, now, settings))
    return math.ceil(wait) if wait > 0 else 0


def _record_attempt(db: Session, name: str, client_ip: str, success: bool) -> None:
    db.add(LoginAttempt(name=name.casefold()[:64], client_ip=client_ip[:64], success=success))


# --- Sessions -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LoginResult:
    user: User | None  # set when the password was right and the account is active
    message: str = ""
    status_code: int = 200
    retry_after: int = 0  # seconds, with 429


def authenticate(db: Session, name: str, password: str, client_ip: str, settings: Settings) -> LoginResult:
    name = name.strip()
    wait = login_wait(db, name, client_ip, settings)
    if wait:
        return LoginResult(None, f"密码错误次数太多，请 {_wait_text(wait)}后再试。"
                                 "如果忘记了密码，请联系管理员。", 429, wait)
    user = db.exec(select(User).where(User.name == name)).first()
    valid = password_matches(user, password)
    _record_attempt(db, name, client_ip, valid)
    db.commit()
    if not valid or user is None:
        return LoginResult(None, "用户名或密码不对，请再试一次。", 401)
    if user.disabled:
        return LoginResult(None, "这个账号已停用，请联系管理员。", 403)
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
        db.commit()
    return LoginResult(user)


def start_session(db: Session, user: User, client_ip: str, settings: Settings) -> str:
    """Create a session row and return the cookie token (only its hash is stored)."""
    assert user.id is not None
    now = utc_now()
    # Expired sessions are swept here, the one place that adds sessions.
    db.exec(delete(LoginSession).where(col(LoginSession.expires_at) <= now))
    token = secrets.token_urlsafe(32)
    db.add(LoginSession(id=token_digest(token), user_id=user.id, csrf_token=secrets.token_urlsafe(32),
                        client_ip=client_ip[:64], created_at=now,
                        expires_at=now + timedelta(hours=settings.session_hours)))
    db.commit()
    return token


def home_of(role: str) -> str:
    return {"admin": "/admin", "reviewer": "/admin/quality"}.get(role, "/staff")


def _safe_next(target: str | None) -> str | None:
    """Only a path on this site: never an open redirect to another host."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    parts = urlsplit(target)
    return None if parts.scheme or parts.netloc else target


# --- Routes ---------------------------------------------------------------------------

router = APIRouter(tags=["登录"])


def _login_page(request: Request, next_target: str | None, message: str = "", status_code: int = 200,
                name: str = "") -> Response:
    """The login form with a fresh login-CSRF token, also set as a cookie (double submit)."""
    token = secrets.token_urlsafe(24)
    response = render(request, "login.html", {"csrf_token": token, "next": next_target or "",
                                              "message": message, "name": name},
                      status_code=status_code)
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", path="/login",
                        secure=request.app.state.settings.secure_cookies)
    return response


@router.get("/login", include_in_schema=False)
def login_form(request: Request, login: Annotated[Login | None, Depends(optional_login)],
               next: str | None = None) -> Response:
    if login is not None:
        return RedirectResponse(_safe_next(next) or home_of(login.role), status_code=303)
    return _login_page(request, _safe_next(next))


@router.post("/login", include_in_schema=False)
def login_submit(
    request: Request,
    db: DbSession,
    settings: SettingsDep,
    name: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=256)] = "",
    csrf_token: Annotated[str, Form(alias=CSRF_FIELD, max_length=128)] = "",
    next: Annotated[str, Form(max_length=512)] = "",
) -> Response:
    """Log in. The form's token must match its cookie, so another site cannot log a browser in."""
    next_target = _safe_next(next)
    cookie_token = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not cookie_token or not tokens_match(csrf_token, cookie_token):
        return _login_page(request, next_target, "页面已过期，请再输入一次。", 403, name)
    if not name.strip() or not password:
        return _login_page(request, next_target, "请输入用户名和密码。", 422, name)
    client_ip = client_address(request)
    result = authenticate(db, name, password, client_ip, settings)
    if result.user is None:
        response = _login_page(request, next_target, result.message, result.status_code, name)
        if result.retry_after:
            response.headers["Retry-After"] = str(result.retry_after)
        return response
    token = start_session(db, result.user, client_ip, settings)
    target = PASSWORD_PAGE if result.user.must_change_password else next_target or home_of(result.user.role)
    response = RedirectResponse(target, status_code=303)
    _set_session_cookie(response, token, settings)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


def _set_session_cookie(response: Response, token: str, settings: Settings) -> None:
    response.set_cookie(SESSION_COOKIE, token, max_age=int(settings.session_hours * 3600), httponly=True,
                        samesite="lax", secure=settings.secure_cookies, path="/")


def _password_page(request: Request, login: Login, message: str = "", status_code: int = 200) -> Response:
    return render(request, "password.html", {"message": message, "min_length": MIN_PASSWORD_LENGTH},
                  login=login, status_code=status_code)


@router.get(PASSWORD_PAGE, include_in_schema=False)
def password_form(request: Request, login: SessionLogin) -> Response:
    return _password_page(request, login)


@router.post(PASSWORD_PAGE, include_in_schema=False)
def password_submit(
    request: Request,
    login: SessionLogin,
    db: DbSession,
    settings: SettingsDep,
    current_password: Annotated[str, Form(max_length=256)] = "",
    new_password: Annotated[str, Form(max_length=256)] = "",
    new_password_again: Annotated[str, Form(max_length=256)] = "",
    csrf_token: Annotated[str, Form(alias=CSRF_FIELD, max_length=128)] = "",
) -> Response:
    """Change one's own password (the first admin must, before anything else); other sessions end."""
    if not tokens_match(csrf_token, login.csrf_token):
        raise CsrfFailed()
    user = db.get(User, login.user_id)
    assert user is not None  # the session's user exists: load_login checked it
    valid = password_matches(user, current_password)
    problem = ("原来的密码不对，请再输入一次。" if not valid
               else "两次输入的新密码不一样，请再输入一次。" if new_password != new_password_again
               else "新密码不能和原来的一样。" if new_password == current_password
               else None)
    if problem is None:
        try:
            set_password(request.app.state.engine, user.name, new_password, actor=user.name)
        except AccountError as error:
            problem = str(error)
    if problem is not None:
        return _password_page(request, login, problem, 422)
    # set_password ended every session of this user, this one too: this browser gets a fresh one.
    response = RedirectResponse(home_of(user.role), status_code=303)
    _set_session_cookie(response, start_session(db, user, client_address(request), settings), settings)
    return response


@router.post("/logout", include_in_schema=False)
async def logout(request: Request, login: Annotated[Login | None, Depends(optional_login)]) -> Response:
    """End the session. Needs the CSRF token too, so another site cannot log staff out mid-call."""
    response = RedirectResponse("/login", status_code=303)
    if login is None:
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response
    form = await request.form()
    sent = request.headers.get(CSRF_HEADER) or form.get(CSRF_FIELD)
    if not isinstance(sent, str) or not tokens_match(sent, login.csrf_token):
        raise CsrfFailed()
    with session(request.app.state.engine) as db:
        db.exec(delete(LoginSession).where(col(LoginSession.id) == login.session_id))
        db.commit()
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


class SessionInfo(BaseModel):
    name: str
    role: str
    role_label: str
    csrf_token: str
    expires_at: str


@router.get("/api/session", response_model=SessionInfo)
def session_info(login: SessionLogin) -> SessionInfo:
    """Who is logged in, until when, and the CSRF token scripts send in X-CSRF-Token."""
    return SessionInfo(name=login.name, role=login.role, role_label=ROLE_LABELS.get(login.role, login.role),
                       csrf_token=login.csrf_token, expires_at=login.expires_at.isoformat())
