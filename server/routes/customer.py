"""Customer-facing routes: kiosk page, conversation API (text, audio, WebSocket), speech, payment pages."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import anyio
from fastapi import APIRouter, File, Form, HTTPException, Query, Request, UploadFile, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from assistant.conversation import ConversationReply
from assistant.formatting import yuan
from assistant.dialogue import Channel
from assistant.speech.audio import Audio, AudioError, from_pcm, read_wav
from assistant.speech.recognizer import NoSpeechError
from assistant.speech.vad import EndpointConfig, Endpointer
from assistant.speech.voice import VoiceSettings
from server.deps import client_address

KIOSK_DIR = Path(__file__).resolve().parent.parent.parent / "kiosk"
templates = Jinja2Templates(directory=str(KIOSK_DIR / "templates"))
router = APIRouter()
logger = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = 5 * 1024 * 1024  # about 2.5 minutes of 16 kHz speech: far more than a question
MAX_TEXT_CHARS = 2000
_SPEECH_IDS_KEPT = 5000


class ConverseRequest(BaseModel):
    text: str = Field(max_length=MAX_TEXT_CHARS, description="客户说的话")
    session_id: str | None = Field(default=None, max_length=64)
    channel: Channel = Channel.WEB
    account: str | None = Field(default=None, pattern=r"^[0-9]{10}$", description="已知户号（读卡）")


class Problem(BaseModel):
    detail: str = Field(description="给客户看的中文说明")


_AUDIO_PROBLEMS: dict[int | str, dict[str, Any]] = {
    413: {"model": Problem, "description": "录音太大"},
    422: {"description": "不是能用的录音，或者没有听到说话"},
    503: {"model": Problem, "description": "语音识别还没有准备好"},
}


class SpeechRegistry:
    """Which spoken texts a speech id stands for; audio is made only when asked for."""

    def __init__(self) -> None:
        self._texts: OrderedDict[str, tuple[str, int, float, int]] = OrderedDict()
        self._lock = threading.Lock()

    def register(self, spoken: str, voice: VoiceSettings, rate: int) -> str:
        key = hashlib.sha256(json.dumps([spoken, voice.rate, voice.volume, rate], ensure_ascii=False).encode()).hexdigest()[:32]
        with self._lock:
            self._texts[key] = (spoken, voice.rate, voice.volume, rate)
            self._texts.move_to_end(key)
            while len(self._texts) > _SPEECH_IDS_KEPT:
                self._texts.popitem(last=False)
        return key

    def get(self, key: str) -> tuple[str, int, float, int] | None:
        with self._lock:
            return self._texts.get(key)


def _state(request_or_socket: Any) -> Any:
    return request_or_socket.app.state


# Conversation turns run in worker threads, but only this many at once (the rest wait their
# turn in the event loop, first come first served). A turn is mostly Python holding the GIL;
# with one thread per waiting request (up to 40) every database call's GIL release became a
# thread switch, and the server spent 2.5-3.5 ms of CPU per turn at 10 clients instead of
# 1.8-2 ms (bench/server.py). SQLite's work is in-process, so one thread is best there;
# PostgreSQL's is mostly waiting on the network, which a second thread overlaps. Both stay
# below the connection pool's size (5), so PostgreSQL connections are not opened and closed
# per turn under load.
TURN_THREADS = {"sqlite": 1}
TURN_THREADS_DEFAULT = 2


def _turn_limiter(state: Any) -> anyio.CapacityLimiter:
    loop = asyncio.get_running_loop()
    held = getattr(state, "turn_limiter", None)
    if held is None or held[0] is not loop:  # one per app and event loop (tests run several)
        threads = TURN_THREADS.get(state.engine.dialect.name, TURN_THREADS_DEFAULT)
        held = state.turn_limiter = (loop, anyio.CapacityLimiter(threads))
    return held[1]


async def run_turn(state: Any, session_id: str | None, text: str, channel: Channel, account: str | None = None,
                   asr_confidence: float | None = None, client: str = "") -> ConversationReply:
    """One conversation turn in a worker thread, at most ``TURN_THREADS`` at a time."""
    return await anyio.to_thread.run_sync(state.services.conversations.handle, session_id, text, channel, account,
                                          asr_confidence, client, limiter=_turn_limiter(state))


def reply_json(app_state: Any, reply: ConversationReply, channel: Channel, started: float) -> dict[str, Any]:
    """The conversation reply plus where to fetch its spoken form (8 kHz for the phone line); counted in /metrics."""
    app_state.metrics.turn(channel.value, reply.intent, time.perf_counter() - started,
                           reply.handoff.reason if reply.handoff else None)
    body = reply.as_json()
    rate = 8000 if channel == Channel.PHONE else 16000
    speech_id = app_state.speech.register(reply.spoken, VoiceSettings(rate=reply.voice_rate, volume=reply.voice_volume), rate)
    body["speech_url"] = f"/api/speech/{speech_id}.wav"
    return body


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def kiosk_page(request: Request) -> HTMLResponse:
    return templates.TemplateResponse(request, "kiosk.html", {})


@router.post("/api/converse", tags=["customer"])
async def converse(body: ConverseRequest, request: Request) -> dict[str, Any]:
    """One customer turn as text; the reply says what to show and say."""
    # Async, with only the turn itself in a worker thread: as a plain `def`, FastAPI also
    # validated the returned dict in a second trip through the thread pool.
    started = time.perf_counter()
    state = _state(request)
    reply = await run_turn(state, body.session_id, body.text, body.channel, body.account,
                           client=client_address(request))
    return reply_json(state, reply, body.channel, started)


async def _read_limited(upload: UploadFile) -> bytes:
    data = await upload.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise HTTPException(413, detail="录音太长了，请说短一点，一次问一个问题。")
    return data


def _recognizer(state: Any) -> Any:
    recognizer = getattr(state, "recognizer", None)
    if recognizer is None:
        raise HTTPException(503, detail="语音识别还没有准备好，请先打字提问，或者稍后再试。")
    return recognizer


@router.post("/api/converse/audio", tags=["customer"], responses=_AUDIO_PROBLEMS)
async def converse_audio(request: Request, audio: UploadFile = File(..., description="WAV 录音"),
                         session_id: str | None = Form(default=None, max_length=64),
                         channel: Channel = Form(default=Channel.WEB)) -> dict[str, Any]:
    """One customer turn as a WAV recording: transcript, reply and the spoken answer's URL."""
    started = time.perf_counter()
    state = _state(request)
    data = await _read_limited(audio)
    recognizer = _recognizer(state)
    try:
        transcript = await run_in_threadpool(lambda: recognizer.transcribe(read_wav(data)))
    except NoSpeechError as error:
        raise HTTPException(422, detail=str(error)) from None
    except AudioError as error:
        raise HTTPException(422, detail=str(error)) from None
    state.metrics.timing("xiaodian_asr_seconds", transcript.seconds_decode)
    reply = await run_turn(state, session_id, transcript.text, channel, None, transcript.confidence,
                           client_address(request))
    return {"transcript": transcript.text, "asr_confidence": transcript.confidence,
            "seconds_decode": transcript.seconds_decode, "reply": reply_json(state, reply, channel, started)}


@router.get("/api/speech/{speech_id}.wav", tags=["customer"], response_class=Response,
            responses={200: {"content": {"audio/wav": {}}}, 404: {"model": Problem, "description": "没有这段语音"}})
def speech(speech_id: str, request: Request) -> Response:
    """The spoken answer (made on first request, then served from the cache)."""
    state = _state(request)
    entry = state.speech.get(speech_id) if len(speech_id) == 32 and speech_id.isalnum() else None
    if entry is None:
        raise HTTPException(404, detail="没有这段语音。")
    spoken, rate, volume, sample_rate = entry
    started = time.perf_counter()
    audio = state.speaker.speak(spoken, VoiceSettings(rate=rate, volume=volume), rate=sample_rate)
    state.metrics.timing("xiaodian_tts_seconds", time.perf_counter() - started)
    return Response(audio.wav_bytes(), media_type="audio/wav")


@router.websocket("/ws/converse")
async def converse_socket(socket: WebSocket) -> None:
    """Browser microphone stream: binary frames of 16 kHz mono int16 PCM; JSON text frames for control.

    Sends {"type": "partial"} where the engine has partial text, {"type": "reply"} after each
    utterance (end-pointed after 1.2 s of silence, or on {"type": "stop"}), {"type": "error"} on bad audio.
    """
    await socket.accept()
    state = _state(socket)
    settings = state.settings
    session_id: str | None = None
    endpointer = Endpointer(16000, EndpointConfig(end_silence_s=settings.end_silence_s,
                                                  max_utterance_s=settings.max_utterance_s))

    async def answer(utterance: Audio | None) -> None:
        nonlocal session_id
        started = time.perf_counter()
        if utterance is None:
            await socket.send_json({"type": "error", "detail": "没有听到您说话，请再说一遍。"})
            return
        recognizer = getattr(state, "recognizer", None)
        if recognizer is None:
            await socket.send_json({"type": "error", "detail": "语音识别还没有准备好，请先打字提问。"})
            return
        try:
            transcript = await run_in_threadpool(recognizer.transcribe, utterance)
        except AudioError as error:
            await socket.send_json({"type": "error", "detail": str(error)})
            return
        reply = await run_turn(state, session_id, transcript.text, Channel.WEB, None, transcript.confidence,
                               client_address(socket))
        session_id = reply.session_id
        await socket.send_json({"type": "reply", "transcript": transcript.text,
                                "reply": reply_json(state, reply, Channel.WEB, started)})

    try:
        while True:
            message = await socket.receive()
            if message.get("type") == "websocket.disconnect":
                return
            if message.get("bytes") is not None:
                chunk = message["bytes"]
                if len(chunk) > 64_000:
                    await socket.send_json({"type": "error", "detail": "音频数据包太大。"})
                    continue
                utterance = endpointer.feed(from_pcm(chunk, 16000))
                if utterance is not None:
                    await answer(utterance)
                continue
            try:
                control = json.loads(message.get("text") or "{}")
            except json.JSONDecodeError:
                await socket.send_json({"type": "error", "detail": "看不懂这条消息。"})
                continue
            if control.get("type") == "start":
                session_id = control.get("session_id") or session_id
            elif control.get("type") == "stop":
                await answer(endpointer.flush())
    except WebSocketDisconnect:
        return


# --- payment pages (the logic lives in assistant.payments) ---------------------------


def _payments(request: Request) -> Any:
    return _state(request).services.payments


@router.post("/pay/notify", response_class=PlainTextResponse, include_in_schema=False)
async def pay_notify(request: Request) -> PlainTextResponse:
    """(Declared before /pay/{token} so that "notify" is never taken for a token.)

    The provider's asynchronous, signed notification; answered "success" once handled (or already)."""
    form = {key: str(value) for key, value in (await request.form()).items()}
    result = await run_in_threadpool(_payments(request).handle_notification, form)
    return PlainTextResponse(result.ack_text)


@router.get("/pay/{token}", response_class=HTMLResponse, include_in_schema=False)
def pay_page(token: str, request: Request) -> HTMLResponse:
    from assistant.payments import LinkProblem

    try:
        view = _payments(request).open(token)
    except LinkProblem as problem:
        return templates.TemplateResponse(request, "pay_problem.html", {"message": problem.message}, status_code=410
                                          if problem.kind in ("expired", "used") else 404)
    return templates.TemplateResponse(request, "pay.html", {"link": view, "token": token})


@router.post("/pay/{token}", include_in_schema=False)
def pay_start(token: str, request: Request) -> Response:
    """The big pay button: go to the provider (the same order however often it is pressed)."""
    from assistant.payments import LinkProblem

    try:
        redirect = _payments(request).start(token)
    except LinkProblem as problem:
        return templates.TemplateResponse(request, "pay_problem.html", {"message": problem.message}, status_code=410)
    # Like Alipay's return_url: where the provider sends the customer back to.
    return RedirectResponse(f"{redirect}?{urlencode({'return': f'/pay/{token}/done'})}", status_code=303)


def _return_path(value: str | None) -> str:
    """Only our own payment pages are valid return addresses (no open redirect)."""
    return value if value and value.startswith("/pay/") and "//" not in value else "/"


@router.get("/sandbox-pay/{order_id}", response_class=HTMLResponse, include_in_schema=False)
def sandbox_cashier(order_id: str, request: Request, return_to: str | None = Query(default=None, alias="return")) -> HTMLResponse:
    """FAKE provider cashier (stands in for Alipay/WeChat Pay, which cannot exist offline)."""
    order = _state(request).services.provider.order(order_id)
    if order is None:
        return templates.TemplateResponse(request, "pay_problem.html", {"message": "没有找到这笔订单。"}, status_code=404)
    return templates.TemplateResponse(request, "sandbox_pay.html", {
        "order_id": order_id, "amount_yuan": yuan(order.amount_fen), "return_to": _return_path(return_to)})


@router.post("/sandbox-pay/{order_id}", include_in_schema=False)
def sandbox_confirm(order_id: str, request: Request, return_to: str = Form(default="/")) -> Response:
    """The fake provider takes the money, then notifies the merchant asynchronously, like a real one."""
    provider = _state(request).services.provider
    if provider.order(order_id) is None:
        return templates.TemplateResponse(request, "pay_problem.html", {"message": "没有找到这笔订单。"}, status_code=404)
    notification = provider.complete(order_id)
    notify_url = f"{str(request.base_url).rstrip('/')}/pay/notify"
    threading.Thread(target=_deliver_quietly, args=(provider, notification, notify_url), daemon=True).start()
    return RedirectResponse(_return_path(return_to), status_code=303)


def _deliver_quietly(provider: Any, notification: dict[str, str], url: str) -> None:
    from assistant.sandbox_provider import DeliveryFailed

    try:
        provider.deliver(notification, url)
    except DeliveryFailed:
        logger.warning("sandbox payment notification was never acknowledged", extra={"url": url})


@router.get("/pay/{token}/done", response_class=HTMLResponse, include_in_schema=False)
def pay_done(token: str, request: Request) -> HTMLResponse:
    """Where the provider sends the customer back: waits for the notification, never trusts the redirect."""
    from assistant.payments import LinkProblem

    try:
        view = _payments(request).open(token)
    except LinkProblem as problem:
        if problem.kind == "used":  # paid: the notification has arrived
            return templates.TemplateResponse(request, "pay_done.html", {"paid": True})
        return templates.TemplateResponse(request, "pay_problem.html", {"message": problem.message}, status_code=404)
    return templates.TemplateResponse(request, "pay_done.html", {"paid": False, "link": view})
