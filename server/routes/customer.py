"""Customer-facing routes: kiosk page, conversation API (text, audio, WebSocket), speech, payment pages."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from datetime import datetime
from contextlib import aclosing
from typing import Any

import anyio
from anyio.abc import ObjectReceiveStream, ObjectSendStream
from fastapi import APIRouter, File, Form, HTTPException, Query, Request, UploadFile, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from assistant.admission import AudioPace
from assistant.conversation import ConversationReply
from assistant.formatting import yuan
from assistant.dialogue import Channel
from assistant.kiosk_devices import CardRead, CardVerifier
from assistant.spoken_answers import SpokenAnswer
from assistant.events import AudioChunk, Event, Failed, FailureKind, Partial, Replied, Transcribed
from assistant.pipeline import Heard, Listener, SpokenInput, Stage, TypedInput, VoicePipeline, understood_by
from assistant.recordings import RecordingKeeper, keeper_for
from assistant.speech.audio import AudioError, from_pcm, read_wav
from assistant.speech.vad import EndpointConfig
from server.deps import client_address
from server.pages import templates

router = APIRouter()
logger = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = 5 * 1024 * 1024  # about 2.5 minutes of 16 kHz speech: far more than a question
MAX_TEXT_CHARS = 2000


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

# What a customer hears when the sockets are beyond their bound (elderly listeners: calm, one step).
SOCKETS_FULL_TEXT = "现在使用的人比较多，请稍后再试。您也可以先打字提问。"
# A WebSocket close reason is at most 123 bytes: a few Chinese words.
SOCKETS_FULL_REASON = "请稍后再试"
TRY_AGAIN_LATER = 1013  # WebSocket close code: the server is overloaded, come back later
POLICY_VIOLATION = 1008  # WebSocket close code: the client broke the rules (audio far faster than speech)
# Nginx's "client closed request": nobody is left to read it, but the access log says what happened.
CLIENT_CLOSED_REQUEST = 499


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
                   asr_confidence: float | None = None, client: str = "",
                   recording: str | None = None) -> ConversationReply:
    """One conversation turn in a worker thread, at most ``TURN_THREADS`` at a time."""

    def turn() -> ConversationReply:
        reply = state.services.conversations.handle(session_id, text, channel, account, asr_confidence, client,
                                                    recording)
        # Stored here, off the event loop and before the reply goes out, so that the speech URL
        # works on any worker at once; ``reply_json`` then finds the id in this worker's memory.
        state.speech.register(spoken_answer(reply, channel))
        return reply

    return await anyio.to_thread.run_sync(turn, limiter=_turn_limiter(state))


def spoken_answer(reply: ConversationReply, channel: Channel) -> SpokenAnswer:
    """What the reply sounds like: 8 kHz for the phone line, 16 kHz elsewhere."""
    return SpokenAnswer(reply.spoken, reply.voice, 8000 if channel == Channel.PHONE else 16000)


def reply_json(app_state: Any, reply: ConversationReply, channel: Channel, started: float) -> dict[str, Any]:
    """The conversation reply plus where to fetch its spoken form (registered by ``run_turn``); counted in /metrics."""
    app_state.metrics.turn(channel.value, reply.intent, time.perf_counter() - started,
                           reply.handoff.reason if reply.handoff else None)
    body = reply.as_json()
    body["speech_url"] = f"/api/speech/{app_state.speech.register(spoken_answer(reply, channel))}.wav"
    body["payment"] = _payment_panel(app_state, reply.pay_url)
    return body


def _payment_panel(app_state: Any, pay_url: str | None) -> dict[str, str] | None:
    """What the kiosk shows beside the QR code: the amount and the holder's masked name (issue 13)."""
    from assistant.payments import LinkProblem

    if not pay_url or "/pay/" not in pay_url:
        return None
    try:
        view = app_state.services.payments.open(pay_url.rsplit("/pay/", 1)[1])
    except LinkProblem:
        return None
    return {"amount_yuan": view.amount_yuan, "holder": view.holder, "months": "、".join(view.bill_months)}


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def kiosk_page(request: Request) -> HTMLResponse:
    settings = _state(request).settings
    return templates.TemplateResponse(request, "kiosk.html", {
        "idle_s": settings.kiosk_idle_s, "idle_warning_s": settings.kiosk_idle_warning_s,
        "max_utterance_s": settings.max_utterance_s,
        "recorded": settings.recordings_days > 0})  # the page says spoken words are recorded (issue 15)


# --- the kiosk page's own calls (issue 13): start over, and whether staff have taken over ---


class ForgetRequest(BaseModel):
    session_id: str = Field(max_length=64)


@router.post("/api/converse/forget", tags=["customer"], status_code=204, response_class=Response)
def forget_conversation(body: ForgetRequest, request: Request) -> Response:
    """重新开始 or the idle reset: the conversation is gone on the server too, so the next customer
    can never be offered the previous one's account (its id starts a fresh conversation from now on).
    A handoff ticket keeps its own copy of the transcript for staff."""
    from sqlmodel import col, delete

    from knowledge_base.db import session
    from knowledge_base.models import ConversationSession

    with session(_state(request).engine) as db:
        db.exec(delete(ConversationSession).where(col(ConversationSession.id) == body.session_id))  # type: ignore[call-overload]
        db.commit()
    return Response(status_code=204)


class HandoffStatus(BaseModel):
    status: str | None = Field(description="waiting、claimed（工作人员已接手）、closed；没有转人工时为 null")
    priority: int | None = None


class HandoffStatusRequest(BaseModel):
    # Bounded, but an over-long id is "no such conversation" (404), as any unknown one would be.
    session_id: str = Field(max_length=1000)


@router.post("/api/converse/handoff", tags=["customer"], response_model=HandoffStatus,
             responses={404: {"model": Problem, "description": "没有这段对话"}})
def handoff_status(body: HandoffStatusRequest, request: Request) -> dict[str, Any]:
    """Where this conversation's latest staff ticket is: waiting, claimed or closed (null: none).
    The kiosk polls it after a handoff to show "工作人员已接手". The session id is the page's secret
    (the conversation's bearer credential), so it travels in the body, never in a URL that access
    logs and proxies keep."""
    from sqlmodel import col, select

    from knowledge_base.db import session
    from knowledge_base.models import HandoffTicket

    session_id = body.session_id
    if len(session_id) > 64:
        raise HTTPException(404, detail="没有这段对话。")
    with session(_state(request).engine) as db:
        ticket = db.exec(select(HandoffTicket).where(HandoffTicket.session_id == session_id)
                         .order_by(col(HandoffTicket.id).desc())).first()
    return {"status": ticket.status if ticket else None, "priority": ticket.priority if ticket else None}


@router.post("/api/converse", tags=["customer"])
async def converse(body: ConverseRequest, request: Request) -> dict[str, Any]:
    """One customer turn as text; the reply says what to show and say."""
    # Async, with only the turn itself in a worker thread: as a plain `def`, FastAPI also
    # validated the returned dict in a second trip through the thread pool.
    started = time.perf_counter()
    state = _state(request)
    client = client_address(request)
    session_id = body.session_id
    notices: list[str] | None = None
    # The bare `account` field proves nothing (anyone can send any 户号): only a signed card read counts.
    if body.card is not None:
        card = CardRead(**body.card.model_dump())
        if await run_in_threadpool(_card_verifier(state).verify, card):
            session_id = await run_in_threadpool(state.services.conversations.present_card, session_id,
                                                 body.channel, card.account, client)
            await run_in_threadpool(bind_to_kiosk_hall, state.engine, session_id, card.device)  # issue 15
            notices = await run_in_threadpool(card_notices, state.engine, card.account)
        else:
            logger.warning("card read refused: device=%r", body.card.device)
    events = [event async for event in _pipeline(state).run(TypedInput(body.text), session_id=session_id,
                                                            channel=body.channel, client=client, until=Stage.REPLY)]
    reply = next(event.reply for event in events if isinstance(event, Replied))
    answer = reply_json(state, reply, body.channel, started)
    if notices is not None:
        answer["notices"] = notices  # reminders that waited for this customer's card, shown once
    return answer


def bind_to_kiosk_hall(engine: Any, session_id: str, device: str) -> None:
    """A request this registered kiosk signed names the conversation: it takes place at the kiosk's hall
    (the quality figures per hall, issue 15)."""
    from assistant.quality.halls import bind_hall, device_hall

    bind_hall(engine, session_id, device_hall(engine, device))


def card_notices(engine: Any, account: str) -> list[str]:
    """The reminders whose channel is the hall kiosk, waiting for this account's card read."""
    from assistant.reminders.outbox import kiosk_notices
    from knowledge_base.models import service_tz

    return kiosk_notices(engine, account, datetime.now(service_tz()))


def _card_verifier(state: Any) -> CardVerifier:
    """One per app: it remembers the nonces of recent card reads."""
    verifier = getattr(state, "card_verifier", None)
    if verifier is None:
        verifier = state.card_verifier = CardVerifier(state.engine)
    return verifier


def _pipeline(state: Any) -> VoicePipeline:
    """The voice pipeline as this app runs it: its gate, its recogniser (once loaded), its turn threads."""

    async def turn(session_id: str | None, text: str, channel: Channel, asr_confidence: float | None,
                   client: str, recording: str | None) -> ConversationReply:
        return await run_turn(state, session_id, text, channel, None, asr_confidence, client, recording)

    return VoicePipeline(turn, state.recognition_gate, getattr(state, "recognizer", None),
                         getattr(state, "speaker", None), _recordings(state))


def _recordings(state: Any) -> RecordingKeeper | None:
    """One keeper per app (its writer thread), or None when no recordings are kept (issue 15)."""
    held = getattr(state, "recording_keeper", None)
    if held is None:
        held = state.recording_keeper = (keeper_for(state.engine, state.settings.recordings_days),)
    return held[0]


async def _run_while_connected(request: Request, source: SpokenInput, **options: Any) -> list[Event] | None:
    """The pipeline's events for one upload; None when the client left (its place in line is given up
    or its decode stopped, and nothing is answered)."""
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
            async with aclosing(_pipeline(_state(request)).run(source, departed=departed, **options)) as events:
                return [event async for event in events] or None
        finally:
            watcher.cancel()
    return None  # the scope was cancelled: the client left while waiting


async def _read_limited(upload: UploadFile) -> bytes:
    data = await upload.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise HTTPException(413, detail="录音太长了，请说短一点，一次问一个问题。")
    return data


_FAILURE_STATUS = {FailureKind.NOT_READY: 503, FailureKind.BUSY: 503, FailureKind.AUDIO: 422}


@router.post("/api/converse/audio", tags=["customer"], responses=_AUDIO_PROBLEMS)
async def converse_audio(request: Request, audio: UploadFile = File(..., description="WAV 录音"),
                         session_id: str | None = Form(default=None, max_length=64),
                         channel: Channel = Form(default=Channel.WEB)) -> dict[str, Any]:
    """One customer turn as a WAV recording: transcript, reply and the spoken answer's URL."""
    started = time.perf_counter()
    state = _state(request)
    data = await _read_limited(audio)
    try:
        recording = await run_in_threadpool(read_wav, data)
    except AudioError as error:
        raise HTTPException(422, detail=str(error)) from None
    events = await _run_while_connected(request, SpokenInput(recording), session_id=session_id, channel=channel,
                                        client=client_address(request), until=Stage.REPLY)
    if events is None:
        return Response(status_code=CLIENT_CLOSED_REQUEST)  # type: ignore[return-value]
    for event in events:
        if isinstance(event, Failed):
            retry = {"Retry-After": str(event.retry_after_s)} if event.retry_after_s else None
            raise HTTPException(_FAILURE_STATUS[event.kind], detail=event.detail, headers=retry)
    transcript = next(event.transcript for event in events if isinstance(event, Transcribed))
    reply = next(event.reply for event in events if isinstance(event, Replied))
    state.metrics.timing("xiaodian_asr_seconds", transcript.seconds_decode)
    return {"transcript": transcript.text, "asr_confidence": transcript.confidence,
            "seconds_decode": transcript.seconds_decode, "reply": reply_json(state, reply, channel, started)}


@router.get("/api/speech/{speech_id}.wav", tags=["customer"], response_class=Response,
            responses={200: {"content": {"audio/wav": {}}}, 404: {"model": Problem, "description": "没有这段语音"}})
def speech(speech_id: str, request: Request) -> Response:
    """The spoken answer (made on first request, then served from the cache)."""
    state = _state(request)
    answer = state.speech.get(speech_id) if len(speech_id) == 32 and speech_id.isalnum() else None
    if answer is None:
        raise HTTPException(404, detail="没有这段语音。")
    started = time.perf_counter()
    audio = state.speaker.speak(answer.spoken, answer.voice, rate=answer.sample_rate)
    state.metrics.timing("xiaodian_tts_seconds", time.perf_counter() - started)
    return Response(audio.wav_bytes(), media_type="audio/wav")


@router.websocket("/ws/converse")
async def converse_socket(socket: WebSocket) -> None:
    """Browser microphone stream: binary frames of 16 kHz mono int16 PCM; JSON text frames for control.

    A thin adapter over ``assistant.pipeline``. Sends {"type": "partial", "text"} while the customer
    speaks (Vosk as it decodes; for the kiosk, Whisper's once a pause's speculative decode has finished),
    {"type": "recognizing"} when an utterance has ended (end-pointed after XIAODIAN_END_SILENCE_S of
    silence, or on {"type": "stop"}; kiosk only), {"type": "reply"} once it is answered, and, when
    {"type": "start", "speech": "chunks"} asked for it, the answer spoken sentence by sentence: each
    {"type": "audio_chunk", "index", "last", "rate"} followed by a binary frame holding that sentence
    as a WAV. {"type": "error"} on bad audio or a message it cannot read, and {"type": "busy",
    "retry_after": seconds} when speech is beyond its bounds. Beyond ``max_websockets`` open sockets a newcomer gets "busy" and close code
    1013 (try again later). {"type": "start"} may carry "session_id" (null: a fresh conversation) and
    "channel": "kiosk" (the hall's page; else "web").
    """
    await socket.accept()
    state = _state(socket)
    with state.websocket_cap.slot(client_address(socket)) as admitted:
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
        self.listener = Listener(getattr(state, "recognizer", None),
                                 EndpointConfig(end_silence_s=state.settings.end_silence_s,
                                                max_utterance_s=state.settings.max_utterance_s),
                                 understood=understood_by(state.knowledge))
        self.speech_chunks = False  # {"type": "start", "speech": "chunks"}: the answer spoken over the socket
        self.channel = Channel.WEB  # {"type": "start", "channel": "kiosk"}: the hall's page
        self.tell_progress = False  # {"type": "recognizing"} at the end of speech (the kiosk page)
        self.pace = AudioPace()
        self._told_too_fast = False
        self._sending = anyio.Lock()  # replies and read errors come from two tasks

    async def send(self, message: dict[str, Any], audio: bytes | None = None) -> None:
        async with self._sending:  # an audio chunk's header and its bytes go out together
            await self.socket.send_json(message)
            if audio is not None:
                await self.socket.send_bytes(audio)

    async def run(self) -> None:
        utterances, pending = anyio.create_memory_object_stream[SpokenInput | None](self.PENDING_UTTERANCES)
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(self._answer_each, pending)
            try:
                await self._read_frames(utterances)
            finally:
                # The client left: a decode under way stops at its next check, and what was
                # still waiting for the recogniser is dropped.
                self.departed.set()
                self.listener.close()
                tasks.cancel_scope.cancel()

    async def _read_frames(self, utterances: ObjectSendStream[SpokenInput | None]) -> None:
        try:
            while True:
                try:
                    with anyio.fail_after(self.state.settings.websocket_idle_s):
                        message = await self.socket.receive()
                except TimeoutError:
                    # A silent socket holds a place another customer may need; the page reconnects when tapped.
                    await self.send({"type": "error", "detail": "很久没有听到您说话，先断开了。要说话时请再点话筒。"})
                    await self.socket.close(code=1000)
                    return
                if message.get("type") == "websocket.disconnect":
                    return
                if message.get("bytes") is not None:
                    chunk = message["bytes"]
                    if len(chunk) > self.MAX_FRAME_BYTES:
                        await self.send({"type": "error", "detail": "音频数据包太大。"})
                        continue
                    if not self.pace.admit(len(chunk) / 32000):  # 16 kHz, 2 bytes a sample
                        if await self._too_fast():
                            return
                        continue
                    heard = await self.listener.hear(from_pcm(chunk, 16000))
                    await self._tell(heard)
                    if heard.utterance is not None:
                        await self._queue(utterances, heard.utterance)
                    continue
                control = _control_message(message.get("text"))
                if control is None:
                    await self.send({"type": "error", "detail": "看不懂这条消息。"})
                elif control.get("type") == "start":
                    session_id = control.get("session_id")
                    if "session_id" in control:  # null: a fresh conversation (the kiosk started over)
                        self.session_id = session_id if isinstance(session_id, str) and session_id else None
                    self.speech_chunks = control.get("speech") == "chunks"
                    self.channel = Channel.KIOSK if control.get("channel") == "kiosk" else Channel.WEB
                    # The kiosk page shows thinking and early text; other clients keep the older protocol.
                    self.listener.early_text = self.tell_progress = self.channel == Channel.KIOSK
                elif control.get("type") == "stop":
                    heard = await self.listener.finish()
                    await self._tell(heard)
                    await self._queue(utterances, heard.utterance)
        except WebSocketDisconnect:
            return

    async def _too_fast(self) -> bool:
        """Audio beyond the pace: say so once; disconnect a client that keeps pushing. True when closed."""
        if not self._told_too_fast:
            self._told_too_fast = True
            await self.send({"type": "error", "detail": "声音数据发得太快了，请按正常速度说话。"})
        if self.pace.exhausted:
            await self.socket.close(code=POLICY_VIOLATION, reason="audio too fast")
            return True
        return False

    async def _tell(self, heard: Heard) -> None:
        """What is heard while the customer speaks: the text so far, where the engine streams."""
        for event in heard.events:
            if isinstance(event, Partial):
                await self.send({"type": "partial", "text": event.text})

    async def _queue(self, utterances: ObjectSendStream[SpokenInput | None], utterance: SpokenInput | None) -> None:
        try:
            utterances.send_nowait(utterance)
            if utterance is not None and self.tell_progress:  # the end of speech: the kiosk stops listening, shows it thinks
                await self.send({"type": "recognizing"})
        except anyio.WouldBlock:
            await self.send({"type": "busy", "detail": "请稍等，我还在回答您上一句话。",
                             "retry_after": self.state.recognition_gate.retry_after_s()})

    async def _answer_each(self, pending: ObjectReceiveStream[SpokenInput | None]) -> None:
        async for utterance in pending:
            try:
                await self._answer(utterance)
            except WebSocketDisconnect:  # the client left while we answered
                return

    async def _answer(self, utterance: SpokenInput | None) -> None:
        started = time.perf_counter()
        if utterance is None:
            await self.send({"type": "error", "detail": "没有听到您说话，请再说一遍。"})
            return
        transcript = ""
        until = Stage.SPEECH if self.speech_chunks else Stage.REPLY
        async with aclosing(_pipeline(self.state).run(utterance, session_id=self.session_id, channel=self.channel,
                                                      client=self.client, until=until,
                                                      departed=self.departed)) as events:
            async for event in events:
                if isinstance(event, Transcribed):
                    self.state.metrics.timing("xiaodian_asr_seconds", event.transcript.seconds_decode)
                    transcript = event.transcript.text
                elif isinstance(event, Replied):
                    self.session_id = event.reply.session_id
                    await self.send({"type": "reply", "transcript": transcript,
                                     "reply": reply_json(self.state, event.reply, self.channel, started)})
                elif isinstance(event, AudioChunk):
                    await self.send({"type": "audio_chunk", "index": event.index, "last": event.last,
                                     "rate": event.audio.rate}, event.audio.wav_bytes())
                elif isinstance(event, Failed) and event.kind == FailureKind.BUSY:
                    await self.send({"type": "busy", "detail": event.detail, "retry_after": event.retry_after_s})
                elif isinstance(event, Failed):
                    await self.send({"type": "error", "detail": event.detail})


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
_PROVIDER_DOWN_MESSAGE = "支付平台暂时连不上，钱没有扣。请您稍等几分钟再点一次付款。"
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
        return _link_problem_page(request, token, problem)
    from assistant.pay_pages import mask_account

    # A forwarded link can be opened by anyone: the holder recognises the masked 户号, a stranger learns nothing.
    return templates.TemplateResponse(request, "pay.html", {"link": view, "token": token,
                                                            "account": mask_account(view.account_number)})


def _link_problem_page(request: Request, token: str, problem: Any) -> HTMLResponse:
    """A paid link shows its receipt, calmly; an expired or replaced one offers a fresh link (issue 13)."""
    from assistant.pay_pages import HOTLINE_TEXT, receipt

    if problem.kind == "used":
        found = receipt(_payments(request), token)
        if found is not None:
            # 410 as before (the link can no longer pay); the page itself is the calm receipt.
            return templates.TemplateResponse(request, "pay_receipt.html", {"receipt": found, "again": True},
                                              status_code=410)
    return templates.TemplateResponse(request, "pay_problem.html", {
        "message": problem.message, "token": token, "fresh": problem.kind == "expired", "hotline": HOTLINE_TEXT,
        "paid": problem.kind == "used"}, status_code=410 if problem.kind in ("expired", "used") else 404)


@router.post("/pay/{token}/fresh", response_class=HTMLResponse, include_in_schema=False)
def pay_fresh_link(token: str, request: Request) -> HTMLResponse:
    """A new link for an expired or replaced one, by SMS to the phone on file (bounded: assistant.pay_pages)."""
    from assistant.pay_pages import HOTLINE_TEXT, request_fresh_link
    from assistant.sms import sms_sender

    state = _state(request)
    outcome = request_fresh_link(_payments(request), sms_sender(state.settings), token, client_address(request))
    status = {"sent": 200, "paid": 200, "no_sms": 503, "too_many": 429, "unknown": 404}[outcome.outcome]
    return templates.TemplateResponse(request, "pay_fresh.html", {"outcome": outcome, "hotline": HOTLINE_TEXT},
                                      status_code=status)


@router.post("/pay/{token}", include_in_schema=False)
def pay_start(token: str, request: Request) -> Response:
    """The big pay button: to the provider's page, or its code to scan (the same order however often pressed)."""
    from assistant.payments import LinkProblem, qr_svg
    from assistant.providers.base import ProviderUnavailable

    payments = _payments(request)
    try:
        checkout = payments.start(token, client_ip=client_address(request))
    except LinkProblem as problem:
        return _link_problem_page(request, token, problem)
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

    from assistant.pay_pages import receipt

    try:
        view = _payments(request).open(token)
    except LinkProblem as problem:
        if problem.kind == "used":  # paid: the notification has arrived
            found = receipt(_payments(request), token)
            if found is not None:
                return templates.TemplateResponse(request, "pay_receipt.html", {"receipt": found, "again": False})
            return templates.TemplateResponse(request, "pay_done.html", {"paid": True})
        return _link_problem_page(request, token, problem)
    return templates.TemplateResponse(request, "pay_done.html", {"paid": False, "link": view})
