"""Accounts of admins and staff: passwords, login and logout, login back-off, the audit trail.

Passwords are hashed with argon2id and never stored or logged in clear
(the one exception is the generated first-admin password, printed once to
the console so the operator can log in, and which must be replaced at the
first login: /account/password). A login creates a server-side
session row keyed by the hash of a random cookie token, so logging out,
disabling a user or changing a password takes effect at once, and the
session expires after ``settings.session_hours``.
"""

from __future__ import annotations

import math
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlsplit

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel
from sqlalchemy import delete, func
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from assistant.settings import Settings
from knowledge_base.db import session
from knowledge_base.models import AuditLog, LoginAttempt, LoginSession, User, utc_now
from server.deps import (
    CSRF_FIELD,
    CSRF_HEADER,
    PASSWORD_PAGE,
    SESSION_COOKIE,
    CsrfFailed,
    DbSession,
    Login,
    SessionLogin,
    SettingsDep,
    as_utc,
    client_address,
    optional_login,
    render,
    token_digest,
    tokens_match,
)

ROLES = ("admin", "staff")
ROLE_LABELS = {"admin": "管理员", "staff": "客服"}
FIRST_ADMIN_NAME = "admin"
MIN_PASSWORD_LENGTH = 10
LOGIN_CSRF_COOKIE = "xiaodian_login_csrf"
# No 0/O, 1/l/I: the generated password is read off a console and typed by hand.
_PASSWORD_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"
_NAME_PATTERN = re.compile(r"^[^\s\x00-\x1f]{1,32}$")

_hasher = PasswordHasher()
# Checked against when the name is unknown, so a wrong name takes as long as a wrong password.
_UNKNOWN_USER_HASH = _hasher.hash(secrets.token_urlsafe(16))


class AccountError(ValueError):
    """A request about accounts that cannot be done; the message is for the operator."""


# --- Passwords and users --------------------------------------------------------------


def generate_password(length: int = 16) -> str:
    """A strong random password (about 93 bits) that is easy to copy by hand."""
    return "".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(length))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _check_new_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"密码至少要 {MIN_PASSWORD_LENGTH} 位。")


def user_record(user: User) -> dict[str, Any]:
    """What the audit trail keeps of a user: never the password hash."""
    return {"name": user.name, "role": user.role, "disabled": user.disabled}


def record_audit(db: Session, actor: str, entity: str, entity_id: str, action: str,
                 before: dict[str, Any] | None, after: dict[str, Any] | None) -> None:
    """Add one audit row to the caller's transaction, so the change and its record commit together."""
    db.add(AuditLog(actor=actor, entity=entity, entity_id=entity_id, action=action, before=before, after=after))


def create_user(engine: Engine, name: str, role: str, password: str, actor: str = "system",
                must_change_password: bool = False) -> User:
    name = name.strip()
    if not _NAME_PATTERN.match(name):
        raise AccountError("用户名要 1 到 32 个字，不能有空格。")
    if role not in ROLES:
        raise AccountError("角色只能是 admin（管理员）或 staff（客服）。")
    _check_new_password(password)
    user = User(name=name, role=role, password_hash=hash_password(password),
                must_change_password=must_change_password)
    with session(engine) as db:
        db.add(user)
        try:
            db.flush()
        except IntegrityError:
            raise AccountError(f"用户 {name} 已经存在。") from None
        record_audit(db, actor, "user", name, "create", None, user_record(user))
        db.commit()
    return user


def set_password(engine: Engine, name: str, password: str, actor: str = "system") -> None:
    """Change a password and end the user's sessions (a leaked password stops working everywhere).

    A password set here is one a person chose (or handed over in person), so a first
    admin's duty to replace the generated one is done.
    """
    _check_new_password(password)
    with session(engine) as db:
        user = db.exec(select(User).where(User.name == name)).first()
        if user is None:
            raise AccountError(f"没有用户 {name}。")
        user.password_hash = hash_password(password)
        user.must_change_password = False
        db.exec(delete(LoginSession).where(col(LoginSession.user_id) == user.id))
        record_audit(db, actor, "user", name, "password", None, None)
        db.commit()


def list_users(engine: Engine) -> list[User]:
    with session(engine) as db:
        return list(db.exec(select(User).order_by(User.name)))


def ensure_first_admin(engine: Engine) -> str | None:
    """Create user "admin" with a random password when there is no admin; return the password.

    Returns None when an admin already exists (or another process made one
    at the same moment), so the password is printed on first start only.
    The password was shown on a console, so it must be replaced at first login.
    """
    with session(engine) as db:
        if db.exec(select(User.id).where(User.role == "admin")).first() is not None:
            return None
    password = generate_password()
    try:
        create_user(engine, FIRST_ADMIN_NAME, "admin", password, must_change_password=True)
    except AccountError:
        return None
    return password


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
    try:
        valid = _hasher.verify(user.password_hash if user else _UNKNOWN_USER_HASH, password)
    except (VerificationError, InvalidHashError):
        valid = False
    valid = valid and user is not None
    _record_attempt(db, name, client_ip, valid)
    db.commit()
    if not valid or user is None:
        return LoginResult(None, "用户名或密码不对，请再试一次。", 401)
    if user.disabled:
        return LoginResult(None, "这个账号已停用，请联系管理员。", 403)
    if _hasher.check_needs_rehash(user.password_hash):
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
    return "/admin" if role == "admin" else "/staff"


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
    try:
        valid = _hasher.verify(user.password_hash, current_password)
    except (VerificationError, InvalidHashError):
        valid = False
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
