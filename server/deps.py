"""What every route needs: the database, the knowledge, who is calling, page rendering.

Routes never reach for globals: the engine, the knowledge and the settings
live on ``app.state`` (set up by ``server.app.create_app``) and come in
through the dependencies here, so a test can build as many apps as it likes.

Who is calling is decided here too. A page answers an anonymous visitor with
a redirect to /login and an API with 401; the wrong role gets 403 either way
(``/api/...`` paths get JSON, the rest an HTML page).
"""

from __future__ import annotations

import hashlib
import hmac
import http
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from starlette.exceptions import HTTPException as StarletteHTTPException

from assistant.knowledge import Knowledge
from assistant.settings import Settings
from knowledge_base.db import session
from knowledge_base.models import SERVICE_TZ, LoginSession, User, utc_now
from server.security import SECURITY_HEADERS

SESSION_COOKIE = "xiaodian_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PASSWORD_PAGE = "/account/password"

# --- Application state --------------------------------------------------------------


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_engine(request: Request) -> Engine:
    return request.app.state.engine


def get_knowledge(request: Request) -> Knowledge:
    return request.app.state.knowledge


def get_db(request: Request) -> Iterator[Session]:
    """One database session per request, closed when the response is done."""
    with session(request.app.state.engine) as db:
        yield db


SettingsDep = Annotated[Settings, Depends(get_settings)]
EngineDep = Annotated[Engine, Depends(get_engine)]
KnowledgeDep = Annotated[Knowledge, Depends(get_knowledge)]
DbSession = Annotated[Session, Depends(get_db)]


def client_address(request: Request | Any) -> str:
    """The caller's address: the socket's peer, or X-Forwarded-For's last hop added by a trusted proxy.

    Anyone can send X-Forwarded-For; it is believed only when the peer is one of
    ``settings.trusted_proxies``, and then the right-most address the proxy saw is
    taken (left-most entries are whatever the client wrote).
    """
    peer = request.client.host if request.client else "unknown"
    trusted = request.app.state.settings.trusted_proxy_set
    if peer not in trusted:
        return peer
    forwarded = [part.strip() for part in request.headers.get("x-forwarded-for", "").split(",") if part.strip()]
    while forwarded and forwarded[-1] in trusted:
        forwarded.pop()
    return forwarded[-1][:64] if forwarded else peer


def as_utc(moment: datetime) -> datetime:
    """SQLite hands datetimes back without their zone; every stored moment is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


# --- Who is calling -----------------------------------------------------------------


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


# --- Pages --------------------------------------------------------------------------


templates = Jinja2Templates(directory=Path(__file__).parent / "templates")


def _china_time(moment: datetime | None) -> str:
    """Pages show times as people in the hall read clocks: China Standard Time."""
    return as_utc(moment).astimezone(SERVICE_TZ).strftime("%Y-%m-%d %H:%M") if moment else ""


def _plain(value: Any) -> str:
    """A stored value as a person reads it: lists one per 、, nothing as （空）."""
    if value is None or value == "" or value == []:
        return "（空）"
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, list):
        return "、".join(str(item) for item in value)
    return str(value)


templates.env.filters["china_time"] = _china_time
templates.env.filters["plain"] = _plain


def render(request: Request, name: str, context: dict[str, Any] | None = None, *,
           login: Login | None = None, status_code: int = 200) -> HTMLResponse:
    """Render a page of the shared layout; ``login`` fills the top bar and the CSRF meta tag."""
    return templates.TemplateResponse(request, name, {"login": login, **(context or {})},
                                      status_code=status_code)


def is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


# --- Errors, in Chinese --------------------------------------------------------------

_STATUS_MESSAGES = {
    400: "请求的内容不对。",
    401: "请先登录。",
    403: "没有权限做这件事。",
    404: "找不到这个页面或记录。",
    405: "不支持这样操作。",
    409: "数据刚被别人改过，请刷新后再试。",
    413: "上传的内容太大了。",
    415: "不支持这种文件格式。",
    422: "提交的内容有问题，请检查后再试。",
    429: "操作太频繁，请稍后再试。",
    500: "系统出了点问题，请稍后再试。",
}

# pydantic error types → what a person can fix.
_VALIDATION_MESSAGES = {
    "missing": "必须填写",
    "string_type": "应该是文字",
    "string_too_short": "太短了",
    "string_too_long": "太长了",
    "string_pattern_mismatch": "格式不对",
    "int_type": "应该是整数",
    "int_parsing": "应该是整数",
    "float_type": "应该是数字",
    "float_parsing": "应该是数字",
    "bool_type": "应该是 true 或 false",
    "bool_parsing": "应该是 true 或 false",
    "list_type": "应该是一个列表",
    "dict_type": "应该是一组字段",
    "model_type": "应该是一组字段",
    "too_short": "数量不够",
    "too_long": "数量太多",
    "extra_forbidden": "不认识这个字段",
    "json_invalid": "JSON 格式不对",
    "value_error": "内容不对",
}


def _chinese_message(error: dict[str, Any]) -> str:
    kind, limits = error.get("type", ""), error.get("ctx") or {}
    if kind == "too_short" and "min_length" in limits:
        return f"至少要 {limits['min_length']} 个"
    if kind == "too_long" and "max_length" in limits:
        return f"最多 {limits['max_length']} 个"
    if kind == "string_too_long" and "max_length" in limits:
        return f"最多 {limits['max_length']} 个字"
    return _VALIDATION_MESSAGES.get(kind, "格式不对")


def chinese_validation_errors(errors: list[Any]) -> list[dict[str, Any]]:
    """pydantic's errors with the message in Chinese, keeping FastAPI's {loc, msg, type} shape."""
    return [{"loc": list(error.get("loc", ())), "msg": _chinese_message(error),
             "type": error.get("type", "value_error")} for error in errors]


def _status_message(status_code: int, detail: Any) -> Any:
    """Keep a detail our code wrote; replace Starlette's English defaults ("Not Found")."""
    try:
        default = http.HTTPStatus(status_code).phrase
    except ValueError:
        default = None
    if detail is None or detail == default:
        return _STATUS_MESSAGES.get(status_code, "出了点问题，请稍后再试。")
    return detail


def _error_page(request: Request, status_code: int, message: str,
                headers: dict[str, str] | None = None) -> Response:
    if is_api(request):
        return JSONResponse({"detail": message}, status_code=status_code, headers=headers)
    response = render(request, "error.html", {"status_code": status_code, "message": message},
                      login=optional_login(request), status_code=status_code)
    response.headers.update(headers or {})
    return response


def install_error_handlers(app: FastAPI) -> None:
    """Anonymous → /login (pages) or 401; wrong role and bad CSRF → 403; every message in Chinese."""

    @app.exception_handler(NotLoggedIn)
    async def _not_logged_in(request: Request, _error: NotLoggedIn) -> Response:
        if is_api(request):
            return JSONResponse({"detail": "请先登录，或登录已过期，请重新登录。"}, status_code=401)
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)

    @app.exception_handler(PasswordChangeRequired)
    async def _password_change_required(request: Request, _error: PasswordChangeRequired) -> Response:
        if is_api(request):
            return JSONResponse({"detail": "请先修改初始密码，再使用其他功能。"}, status_code=403)
        return RedirectResponse(PASSWORD_PAGE, status_code=303)

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, error: Forbidden) -> Response:
        return _error_page(request, 403, error.message)

    @app.exception_handler(CsrfFailed)
    async def _csrf_failed(request: Request, _error: CsrfFailed) -> Response:
        return _error_page(request, 403, "安全校验没有通过，请刷新页面后再试。")

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, error: StarletteHTTPException) -> Response:
        message = _status_message(error.status_code, error.detail)
        if is_api(request) or not isinstance(message, str):
            return JSONResponse({"detail": message}, status_code=error.status_code, headers=error.headers)
        return _error_page(request, error.status_code, message, error.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(_request: Request, error: RequestValidationError) -> Response:
        return JSONResponse({"detail": chinese_validation_errors(list(error.errors()))}, status_code=422)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, _error: Exception) -> Response:
        # Starlette still logs the traceback; the user gets a calm sentence, never a stack.
        # This answer is sent from outside every middleware, so it adds the security headers itself.
        response = _error_page(request, 500, _STATUS_MESSAGES[500])
        response.headers.update(SECURITY_HEADERS)
        return response
