"""The phone line's HTTP side, for the PBX only: register a call before its AudioSocket connects, and
read its outcome after the socket closes.

Both need the PBX's token (``XIAODIAN_PBX_TOKEN``, else the one generated in the data folder; see
``xiaodian phone token``), sent as the ``X-PBX-Token`` header or, for ``${CURL()}`` post data, a
``token`` field. Without it nobody can claim a caller number: the number on file is what verifies
a caller, so an open registration would let anyone speak as any customer.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import PlainTextResponse, Response

from assistant.phone.calls import canonical_uuid, load_outcome, outcome_json, outcome_text, register_call
from assistant.phone.line import token_matches
from knowledge_base.db import session

router = APIRouter(prefix="/api/phone", tags=["电话"])

MAX_BODY_BYTES = 4096  # a UUID, a number and a few sentences of first words
_NO_TOKEN = "没有提供正确的电话交换机令牌。"
_BAD_UUID = "通话编号不是有效的UUID。"


async def _fields(request: Request) -> dict[str, str]:
    """The form (``${CURL(url,uuid=...&caller=...)}`` posts urlencoded data) or JSON body, bounded."""
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise HTTPException(413, "请求内容太长。")
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            data = json.loads(body or b"{}")
        except json.JSONDecodeError:
            raise HTTPException(422, "请求内容不是有效的JSON。") from None
        if not isinstance(data, dict):
            raise HTTPException(422, "请求内容不是有效的JSON。")
        return {str(key): str(value) for key, value in data.items()}
    return {key: values[-1] for key, values in parse_qs(body.decode("utf-8", "replace")).items()}


def _require_pbx(request: Request, fields: dict[str, str] | None = None) -> None:
    offered = request.headers.get("x-pbx-token") or (fields or {}).get("token")
    if not token_matches(request.app.state.settings, offered):
        raise HTTPException(403, _NO_TOKEN)


@router.post("/calls")
async def register(request: Request) -> dict[str, Any]:
    """Register a call (``uuid``, ``caller``): the caller's number as the PBX vouches for it."""
    fields = await _fields(request)
    _require_pbx(request, fields)
    try:
        call_uuid = canonical_uuid(fields.get("uuid", ""))
    except ValueError:
        raise HTTPException(422, _BAD_UUID) from None

    def save() -> None:
        with session(request.app.state.engine) as db:
            register_call(db, call_uuid, fields.get("caller", ""))
            db.commit()

    await run_in_threadpool(save)
    return {"uuid": call_uuid, "registered": True}


@router.get("/calls/{call_uuid}", response_model=None)
async def outcome(call_uuid: str, request: Request, format: str = "json") -> Response | dict[str, Any]:
    """What the dialplan does next: ``{"next": "transfer", "queue", "ticket", "priority"}`` or
    ``{"next": "hangup"}``; ``?format=text`` gives ``transfer,<queue>,<ticket>,<priority>`` or ``hangup``
    for ``${CUT()}`` (priority 0 is an emergency)."""
    _require_pbx(request)
    return await _outcome(call_uuid, request, format)


@router.post("/calls/{call_uuid}", response_model=None)
async def outcome_by_post(call_uuid: str, request: Request) -> Response | dict[str, Any]:
    """The same, for a dialplan whose ``${CURL()}`` cannot set headers: ``token`` (and ``format``) posted.
    (A token in the query string would end up in access logs.)"""
    fields = await _fields(request)
    _require_pbx(request, fields)
    return await _outcome(call_uuid, request, fields.get("format", "json"))


async def _outcome(call_uuid: str, request: Request, format: str) -> Response | dict[str, Any]:
    try:
        key = canonical_uuid(call_uuid)
    except ValueError:
        raise HTTPException(422, _BAD_UUID) from None

    found = await run_in_threadpool(load_outcome, request.app.state.engine, key)
    if found is None:
        raise HTTPException(404, "没有这个通话。")
    call, priority = found
    if format == "text":
        return PlainTextResponse(outcome_text(call, priority))
    return outcome_json(call, priority)


async def start_line(app: Any) -> Any:
    """The AudioSocket gateway inside the web service, when ``XIAODIAN_AUDIOSOCKET_PORT`` is set (0 = off).

    Its turns and recognitions share the service's own bounds (the same pipeline as the microphone
    socket); several workers share the port (SO_REUSEPORT), and a call's state is in the database."""
    settings = app.state.settings
    if not settings.audiosocket_port:
        return None
    from assistant.phone.line import build_line
    from server.routes.customer import _pipeline

    line = build_line(settings, app.state.services, app.state.speaker, lambda: _pipeline(app.state))
    await run_in_threadpool(line.warm)  # the greeting starts within a second of the first call
    await line.start(settings.audiosocket_host, settings.audiosocket_port)
    return line
