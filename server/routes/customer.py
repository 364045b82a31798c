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
from collections.abc import Callable
from typing import Any

import anyio
from anyio.abc import ObjectReceiveStream, ObjectSendStream
from fastapi import APIRouter, File, Form, HTTPException, Query, Request, UploadFile, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from assistant.admission import ClientDeparted, RecognitionBusy, RecognitionGate
from assistant.conversation import ConversationReply
from assistant.formatting import yuan
from assistant.dialogue import Channel
from assistant.kiosk_devices import CardRead, CardVerifier
from assistant.speech.audio import Audio, AudioError, from_pcm, read_wav
from assistant.speech.recognizer import Transcript
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


class SignedCardRead(BaseModel):
    """A card read signed by a registered kiosk device (see assistant/kiosk_devices.py)."""

    device: str = Field(max_length=64)
    account: str = Field(pattern=r"^[0-9]{10}$", description="卡上的户号")
    issued_at: int = Field(description="读卡时间（Unix 秒）")
    nonce: str = Field(min_length=8, max_length=64)
    signature: str = Field(max_length=128, description="Ed25519 签名（base64）")


class ConverseRequest(BaseModel):
    text: str = Field(max_length=MAX_TEXT_CHARS, description="客户说的话")
    session_id: str | None = Field(default=None, max_length=64)
    channel: Channel = Channel.WEB
    account: str | None = Field(default=None, pattern=r"^[0-9]{10}$",
                                description="不再使用：没有签名的户号一律忽略，读卡请用 card")
    card: SignedCardRead | None = Field(default=None, description="营业厅终端签名的读卡；签名有效才算核实身份")


class Problem(BaseModel):
    detail: str = Field(description="给客户看的中文说明")


_AUDIO_PROBLEMS: dict[int | str, dict[str, Any]] = {
    413: {"model": Problem, "description": "录音太大"},
    422: {"description": "不是能用的录音，或者没有听到说话"},
    503: {"model": Problem, "description": "语音识别还没有准备好，或者正忙（请按 Retry-After 稍后再试）"},
}

# What a customer hears when speech is beyond its bounds (elderly listeners: calm, one step).
SPEECH_BUSY_TEXT = "请稍等，现在说话的人比较多。请您过一会儿再说一遍，或者先打字提问。"
SOCKETS_FULL_TEXT = "现在使用的人比较多，请稍后再试。您也可以先打字提问。"
# A WebSocket close reason is at most 123 bytes: a few Chinese words.
SOCKETS_FULL_REASON = "请稍后再试"
TRY_AGAIN_LATER = 1013  # WebSocket close code: the server is overloaded, come back later
# Nginx's "client closed request": nobody is left to read it, but the access log says what happened.
CLIENT_CLOSED_REQUEST = 499


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
    client = client_address(request)
    session_id = body.session_id
    # The bare `account` field proves nothing (anyone can send any 户号): only a signed card read counts.
    if body.card is not None:
        card = CardRead(**body.card.model_dump())
        if await run_in_threadpool(_card_verifier(state).verify, card):
            session_id = await run_in_threadpool(state.services.conversations.present_card, session_id,
                                                 body.channel, card.account, client)
        else:
            logger.warning("card read refused: device=%r", body.card.device)
    reply = await run_turn(state, session_id, body.text, body.channel, client=client)
    return reply_json(state, reply, body.channel, started)


def _card_verifier(state: Any) -> CardVerifier:
    """One per app: it remembers the nonces of recent card reads."""
    verifier = getattr(state, "card_verifier", None)
    if verifier is None:
        verifier = state.card_verifier = CardVerifier(state.engine)
    return verifier


async def _recognize_while_connected(request: Request, gate: RecognitionGate,
                                     recognize: Callable[[Callable[[], bool]], Transcript]) -> Transcript:
    """Recognise through the gate; if the client leaves, its place in line is given up or its decode stopped."""
    departed = threading.Event()

    async def watch_for_departure(scope: anyio.CancelScope) -> None:
        # The body has been read, so the next message is the disconnect (if it ever comes).
        while (await request.receive())["type"] != "http.disconnect":
            pass
        departed.set()
        scope.cancel()

    with anyio.CancelScope() as scope:
        watcher = asyncio.create_task(watch_for_departure(scope))
        try:
            return await gate.run(recognize, departed)
        finally:
            watcher.cancel()
    raise ClientDeparted()  # the scope was cancelled: the client left while waiting


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
        transcript = await _recognize_while_connected(request, state.recognition_gate,
                                                      lambda stop: recognizer.transcribe(read_wav(data), stop))
    except RecognitionBusy as busy:
        raise HTTPException(503, detail=SPEECH_BUSY_TEXT, headers={"Retry-After": str(busy.retry_after_s)}) from None
    except ClientDeparted:
        return Response(status_code=CLIENT_CLOSED_REQUEST)  # type: ignore[return-value]
    except AudioError as error:  # also NoSpeechError
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
    utterance (end-pointed after 1.2 s of silence, or on {"type": "stop"}), {"type": "error"} on bad
    audio or a message it cannot read, and {"type": "busy", "retry_after": seconds} when speech is
    beyond its bounds. Beyond ``max_websockets`` open sockets a newcomer gets "busy" and close code
    1013 (try again later).
    """
    await socket.accept()
    state = _state(socket)
    with state.websocket_cap.slot() as admitted:
        if not admitted:
            await socket.send_json({"type": "busy", "detail": SOCKETS_FULL_TEXT})
            await socket.close(code=TRY_AGAIN_LATER, reason=SOCKETS_FULL_REASON)
            return
        await _MicrophoneSession(socket, state).run()


class _MicrophoneSession:
    """One open microphone socket: frames are read while earlier utterances are being answered.

    Reading never waits for recognition, so a client that leaves is noticed at once: its
    utterances still waiting for the recogniser are dropped, and none is started afterwards.
    """

    # Utterances of one socket waiting while another of its own is answered; more get "busy".
    PENDING_UTTERANCES = 1
    MAX_FRAME_BYTES = 64_000

    def __init__(self, socket: WebSocket, state: Any) -> None:
        self.socket = socket
        self.state = state
        self.session_id: str | None = None
        self.client = client_address(socket)
        self.departed = threading.Event()
        self.endpointer = Endpointer(16000, EndpointConfig(end_silence_s=state.settings.end_silence_s,
                                                           max_utterance_s=state.settings.max_utterance_s))
        self._sending = anyio.Lock()  # replies and read errors come from two tasks

    async def send(self, message: dict[str, Any]) -> None:
        async with self._sending:
            await self.socket.send_json(message)

    async def run(self) -> None:
        utterances, pending = anyio.create_memory_object_stream[Audio | None](self.PENDING_UTTERANCES)
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(self._answer_each, pending)
            try:
                await self._read_frames(utterances)
            finally:
                # The client left: a decode under way stops at its next check, and what was
                # still waiting for the recogniser is dropped.
                self.departed.set()
                tasks.cancel_scope.cancel()

    async def _read_frames(self, utterances: ObjectSendStream[Audio | None]) -> None:
        try:
            while True:
                message = await self.socket.receive()
                if message.get("type") == "websocket.disconnect":
                    return
                if message.get("bytes") is not None:
                    chunk = message["bytes"]
                    if len(chunk) > self.MAX_FRAME_BYTES:
                        await self.send({"type": "error", "detail": "音频数据包太大。"})
                        continue
                    utterance = self.endpointer.feed(from_pcm(chunk, 16000))
                    if utterance is not None:
                        await self._queue(utterances, utterance)
                    continue
                control = _control_message(message.get("text"))
                if control is None:
                    await self.send({"type": "error", "detail": "看不懂这条消息。"})
                elif control.get("type") == "start":
                    session_id = control.get("session_id")
                    self.session_id = session_id if isinstance(session_id, str) and session_id else self.session_id
                elif control.get("type") == "stop":
                    await self._queue(utterances, self.endpointer.flush())
        except WebSocketDisconnect:
            return

    async def _queue(self, utterances: ObjectSendStream[Audio | None], utterance: Audio | None) -> None:
        try:
            utterances.send_nowait(utterance)
        except anyio.WouldBlock:
            await self.send({"type": "busy", "detail": "请稍等，我还在回答您上一句话。",
                             "retry_after": self.state.recognition_gate.retry_after_s()})

    async def _answer_each(self, pending: ObjectReceiveStream[Audio | None]) -> None:
        async for utterance in pending:
            try:
                await self._answer(utterance)
            except WebSocketDisconnect:  # the client left while we answered
                return

    async def _answer(self, utterance: Audio | None) -> None:
        started = time.perf_counter()
        if utterance is None:
            await self.send({"type": "error", "detail": "没有听到您说话，请再说一遍。"})
            return
        recognizer = getattr(self.state, "recognizer", None)
        if recognizer is None:
            await self.send({"type": "error", "detail": "语音识别还没有准备好，请先打字提问。"})
            return
        try:
            transcript = await self.state.recognition_gate.run(lambda stop: recognizer.transcribe(utterance, stop),
                                                                 self.departed)
        except RecognitionBusy as busy:
            await self.send({"type": "busy", "detail": SPEECH_BUSY_TEXT, "retry_after": busy.retry_after_s})
            return
        except ClientDeparted:
            return
        except AudioError as error:
            await self.send({"type": "error", "detail": str(error)})
            return
        self.state.metrics.timing("xiaodian_asr_seconds", transcript.seconds_decode)
        reply = await run_turn(self.state, self.session_id, transcript.text, Channel.WEB, None,
                               transcript.confidence, self.client)
        self.session_id = reply.session_id
        await self.send({"type": "reply", "transcript": transcript.text,
                         "reply": reply_json(self.state, reply, Channel.WEB, started)})


def _control_message(text: str | None) -> dict[str, Any] | None:
    """A control frame as a JSON object, or None when it is not one ([1], null, "x", broken JSON)."""
    try:
        control = json.loads(text or "{}")
    except json.JSONDecodeError:
        return None
    return control if isinstance(control, dict) else None


# --- payment pages (the logic lives in assistant.payments) ---------------------------

# Far larger than any provider's notification; bounds what an anonymous POST can make us hold.
MAX_NOTIFICATION_BYTES = 64 * 1024
_PROVIDER_DOWN_MESSAGE = "支付平台暂时连不上，请您稍等几分钟再试，或者回到营业厅、拨打95598。"
_ORDER_CLOSED_MESSAGE = "这笔订单已经关闭，不能再付款了。请使用最新收到的付款链接。"
_NO_ORDER_MESSAGE = "没有找到这笔订单。"
_SCAN_APPS = {"wechatpay": "微信", "alipay": "支付宝"}
# The FAKE provider's cashier: mounted by server.app only when the sandbox is the provider (demo mode).
sandbox_router = APIRouter()


def _payments(request: Request) -> Any:
    return _state(request).services.payments


@router.post("/pay/notify", include_in_schema=False)
async def pay_notify(request: Request) -> Response:
    """(Declared before /pay/{token} so that "notify" is never taken for a token.)

    The provider's asynchronous, signed notification, answered the way that provider expects."""
    from assistant.providers.base import RawNotification

    body = await request.body()
    if len(body) > MAX_NOTIFICATION_BYTES:
        return PlainTextResponse("too large", status_code=413)
    payments = _payments(request)
    result = await run_in_threadpool(payments.handle_notification, RawNotification(dict(request.headers), body))
    ack = payments.provider.acknowledge(result.accepted)
    return Response(ack.body, status_code=ack.status_code, media_type=ack.media_type)


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
    """The big pay button: to the provider's page, or its code to scan (the same order however often pressed)."""
    from assistant.payments import LinkProblem, qr_svg
    from assistant.providers.base import ProviderUnavailable

    payments = _payments(request)
    try:
        checkout = payments.start(token, client_ip=client_address(request))
    except LinkProblem as problem:
        return templates.TemplateResponse(request, "pay_problem.html", {"message": problem.message}, status_code=410)
    except ProviderUnavailable:
        logger.warning("payment provider unreachable when starting a payment")
        return templates.TemplateResponse(request, "pay_problem.html", {"message": _PROVIDER_DOWN_MESSAGE},
                                          status_code=503)
    if checkout.url:
        return RedirectResponse(checkout.url, status_code=303)
    return templates.TemplateResponse(request, "pay_scan.html", {
        "qr": qr_svg(checkout.scan_code), "app": _SCAN_APPS.get(payments.provider.name, "手机"), "token": token})


def _return_target(provider: Any, value: str | None) -> str:
    """Only our own payment pages are valid return addresses (no open redirect): their path, or "/"."""
    path = value[len(provider.base_url):] if value and value.startswith(f"{provider.base_url}/") else value
    return path if path and path.startswith("/pay/") and "//" not in path else "/"


@sandbox_router.get("/sandbox-pay/{order_id}", response_class=HTMLResponse, include_in_schema=False)
def sandbox_cashier(order_id: str, request: Request,
                    return_to: str | None = Query(default=None, alias="return")) -> HTMLResponse:
    """FAKE provider cashier (stands in for Alipay/WeChat Pay, which cannot exist offline)."""
    provider = _state(request).services.provider
    order = provider.order(order_id)
    if order is None:
        return templates.TemplateResponse(request, "pay_problem.html", {"message": _NO_ORDER_MESSAGE}, status_code=404)
    if order.status == "TRADE_CLOSED":
        return templates.TemplateResponse(request, "pay_problem.html", {"message": _ORDER_CLOSED_MESSAGE},
                                          status_code=410)
    return templates.TemplateResponse(request, "sandbox_pay.html", {
        "order_id": order_id, "amount_yuan": yuan(order.amount_fen), "return_to": _return_target(provider, return_to)})


@sandbox_router.post("/sandbox-pay/{order_id}", include_in_schema=False)
def sandbox_confirm(order_id: str, request: Request, return_to: str = Form(default="/")) -> Response:
    """The fake provider takes the money, then notifies the merchant asynchronously, like a real one.

    The notification goes to the address in the settings (as a provider holds
    the merchant's registered notify_url), never to one built from this request."""
    from assistant.providers.sandbox import OrderClosed

    provider = _state(request).services.provider
    try:
        notification = provider.complete(order_id)
    except KeyError:
        return templates.TemplateResponse(request, "pay_problem.html", {"message": _NO_ORDER_MESSAGE}, status_code=404)
    except OrderClosed:
        return templates.TemplateResponse(request, "pay_problem.html", {"message": _ORDER_CLOSED_MESSAGE},
                                          status_code=410)
    threading.Thread(target=_deliver_quietly, args=(provider, notification), daemon=True).start()
    return RedirectResponse(_return_target(provider, return_to), status_code=303)


def _deliver_quietly(provider: Any, notification: dict[str, str]) -> None:
    from assistant.providers.sandbox import DeliveryFailed

    try:
        provider.deliver(notification, provider.notify_url)
    except DeliveryFailed:
        logger.warning("sandbox payment notification was never acknowledged; reconciliation will record it")


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
