"""The hall kiosk as a device: its card reads and the screen that follows its device loop.

The device loop (``xiaodian kiosk run``) talks to ``/ws/converse`` like the page does; these routes
add what only a registered kiosk may do. See ``assistant/kiosk_screen.py`` for the screen key.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import APIRouter, Header, HTTPException, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from assistant.dialogue import Channel
from assistant.kiosk_devices import CardRead
from assistant.kiosk_screen import MAX_STATE_BYTES, read_screen, screen_key_valid, show, show_card, vetted_reply
from server.deps import client_address
from server.routes.customer import SignedCardRead, _card_verifier, bind_to_kiosk_hall, card_notices

router = APIRouter(tags=["kiosk device"])
logger = logging.getLogger(__name__)

_NOT_THIS_KIOSK = "这台自助机的屏幕密钥不对。请用 xiaodian kiosk page-url 生成的地址打开页面。"


class ScreenUpdate(BaseModel):
    device: str = Field(max_length=64)
    session_id: str = Field(default="", max_length=64)
    state: dict[str, Any] = Field(description="heard, status, reply (as /api/converse returns it), identified")


class CardPresented(BaseModel):
    session_id: str | None = Field(default=None, max_length=64)
    card: SignedCardRead


async def _check_key(request: Request, device: str, key: str | None) -> None:
    if not key or not await run_in_threadpool(screen_key_valid, request.app.state.engine, device, key):
        raise HTTPException(401, detail=_NOT_THIS_KIOSK)


@router.get("/api/kiosk/screen")
async def screen(request: Request, device: str = Query(max_length=64), after: int = Query(default=0, ge=0),
                 key: str | None = Header(default=None, alias="X-Kiosk-Screen-Key")) -> dict[str, Any]:
    """What the kiosk's screen shows now; only ``{"seq"}`` when nothing changed after ``after``."""
    await _check_key(request, device, key)
    current = await run_in_threadpool(read_screen, request.app.state.engine, device)
    return {"seq": current.seq} if current.seq <= after else current.as_json()


@router.post("/api/kiosk/screen")
async def update_screen(body: ScreenUpdate, request: Request,
                        key: str | None = Header(default=None, alias="X-Kiosk-Screen-Key")) -> dict[str, int]:
    """The device loop tells its screen what it heard and what 小电 answered."""
    await _check_key(request, body.device, key)
    if len(json.dumps(body.state, ensure_ascii=False)) > MAX_STATE_BYTES:
        raise HTTPException(413, detail="屏幕内容太大。")
    state = dict(body.state)
    if "reply" in state:
        state["reply"] = vetted_reply(state["reply"], request.app.state.services.payments,
                                      request.app.state.settings.public_url)
    seq = await run_in_threadpool(show, request.app.state.engine, body.device, body.session_id, state)
    if body.session_id:  # the signed device follows this conversation: it takes place at the device's hall
        await run_in_threadpool(bind_to_kiosk_hall, request.app.state.engine, body.session_id, body.device)
    return {"seq": seq}


@router.post("/api/kiosk/card")
async def card_presented(body: CardPresented, request: Request) -> dict[str, Any]:
    """A card read from the hall's reader, signed by the kiosk: the conversation is verified for that
    account and the kiosk's screen says "已识别：张*华". Refused (403) unless the signature, time and
    nonce are good (``assistant.kiosk_devices``)."""
    state = request.app.state
    card = CardRead(**body.card.model_dump())
    if not await run_in_threadpool(_card_verifier(state).verify, card):
        logger.warning("card read refused: device=%r", card.device)
        raise HTTPException(403, detail="读卡没有通过校验，请再刷一次卡，或者找工作人员。")
    session_id = await run_in_threadpool(state.services.conversations.present_card, body.session_id,
                                         Channel.KIOSK, card.account, client_address(request))
    await run_in_threadpool(bind_to_kiosk_hall, state.engine, session_id, card.device)
    notices = await run_in_threadpool(card_notices, state.engine, card.account)
    holder = await run_in_threadpool(show_card, state.engine, card.device, session_id, card.account, notices)
    return {"session_id": session_id, "holder": holder, "notices": notices}
