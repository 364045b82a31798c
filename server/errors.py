"""Errors as people read them: in Chinese, as JSON for ``/api/...`` and as a page elsewhere."""

from __future__ import annotations

import http
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from server.login import PASSWORD_PAGE, CsrfFailed, Forbidden, NotLoggedIn, PasswordChangeRequired, optional_login
from server.pages import is_api, render
from server.security import SECURITY_HEADERS

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
