"""Who is calling: the login session of a request, the roles, and the CSRF check.

A page answers an anonymous visitor with a redirect to /login and an API with
401; the wrong role gets 403 either way (``server.errors`` turns these
exceptions into answers: ``/api/...`` paths get JSON, the rest an HTML page).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.engine import Engine
from sqlmodel import select

from knowledge_base.db import session
from knowledge_base.models import LoginSession, User, utc_now
from server.deps import as_utc

SESSION_COOKIE = "xiaodian_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PASSWORD_PAGE = "/account/password"


@dataclass(frozen=True, slots=True)
class Login:
    """The logged-in user of this request (a plain value: no database object escapes)."""

    user_id: int
    name: str
    role: str
    session_id: str
    csrf_token: str
    expires_at: datetime
    must_change_password: bool = False  # set for the first admin until a password of their own is chosen


class NotLoggedIn(Exception):
    """No valid session: pages redirect to /login, APIs answer 401."""


class PasswordChangeRequired(Exception):
    """Logged in with a generated password: nothing else is open until a new one is set."""


class Forbidden(Exception):
    """Logged in, but not allowed: 403 with a message the user can act on."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def tokens_match(sent: str, expected: str) -> bool:
    """Constant-time comparison that also copes with non-ASCII input (str compare_digest raises on it)."""
    return bool(sent) and hmac.compare_digest(sent.encode("utf-8"), expected.encode("utf-8"))


def token_digest(token: str) -> str:
    """Sessions are stored by the hash of their cookie token, so a copy of the database logs nobody in."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def load_login(engine: Engine, token: str) -> Login | None:
    """The session of a cookie token, if it exists, has not expired and its user is active."""
    # A short session of its own: the staff event stream keeps this dependency
    # for minutes and must not hold a database transaction open that long.
    with session(engine) as db:
        row = db.exec(
            select(LoginSession, User)
            .join(User, User.id == LoginSession.user_id)
            .where(LoginSession.id == token_digest(token))
        ).first()
    if row is None:
        return None
    login_session, user = row
    if user.disabled or as_utc(login_session.expires_at) <= utc_now():
        return None
    assert user.id is not None
    return Login(user.id, user.name, user.role, login_session.id, login_session.csrf_token,
                 as_utc(login_session.expires_at), user.must_change_password)


def optional_login(request: Request) -> Login | None:
    token = request.cookies.get(SESSION_COOKIE)
    return load_login(request.app.state.engine, token) if token else None


def require_session(login: Annotated[Login | None, Depends(optional_login)]) -> Login:
    """Logged in, even if the password must still be changed (for that page and /api/session)."""
    if login is None:
        raise NotLoggedIn()
    return login


def require_login(login: Annotated[Login, Depends(require_session)]) -> Login:
    if login.must_change_password:
        raise PasswordChangeRequired()
    return login


def require_admin(login: Annotated[Login, Depends(require_login)]) -> Login:
    if login.role != "admin":
        raise Forbidden("这里只有管理员能用。如需修改问答内容，请联系管理员。")
    return login


def require_staff(login: Annotated[Login, Depends(require_login)]) -> Login:
    """Staff console: staff, and admins too (they stand in for staff and supervise the queue)."""
    if login.role not in ("staff", "admin"):
        raise Forbidden("这里只有客服人员能用。")
    return login


AnyLogin = Annotated[Login, Depends(require_login)]
SessionLogin = Annotated[Login, Depends(require_session)]
AdminLogin = Annotated[Login, Depends(require_admin)]
StaffLogin = Annotated[Login, Depends(require_staff)]


class CsrfFailed(Exception):
    """A state-changing request without the session's token: maybe forged by another site."""


async def csrf_protect(request: Request, login: AnyLogin) -> None:
    """Refuse POST/PUT/PATCH/DELETE unless they carry this session's CSRF token.

    fetch() sends it in the X-CSRF-Token header; a plain HTML form in the
    hidden ``csrf_token`` field.
    """
    if request.method in SAFE_METHODS:
        return
    sent = request.headers.get(CSRF_HEADER)
    if not sent and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        value = (await request.form()).get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not sent or not tokens_match(sent, login.csrf_token):
        raise CsrfFailed()

