"""The phone line's gateway: an AudioSocket server, one asyncio task per call, each call a
conversation on the phone channel through the one voice pipeline.

    Asterisk ── frames ──▶ reader ──▶ Listener (end-pointing) ──▶ turns ──▶ VoicePipeline
                                      │ barge-in, keys                      │ answer audio
    Asterisk ◀── 20 ms frames, paced in real time with a small lead ── Player ◀┘

A call: the UUID frame, the registration read (the caller number the PBX vouched for verifies the
caller, as the identity rules say; an unregistered UUID is an anonymous caller), the greeting (or
an outbound call's first words) with the keys announced once, then turns until the caller says
goodbye, asks for staff (the outcome "transfer" is written, then the socket closed, so the dialplan
reads it and dials the queue), hangs up, stays silent three times, or breaks the protocol. Whatever
the end, the outcome is written, the decode under way is stopped and the call's slot is freed;
the other calls go on.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Callable
from contextlib import aclosing, suppress
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy.engine import Engine

from assistant.conversation import ConversationService
from assistant.dialogue import Channel
from assistant.events import AudioChunk, Failed, FailureKind, HandedOff, Replied
from assistant.handoffs import PHONE_CLIENT_PREFIX
from assistant.phone import protocol
from assistant.phone.calls import CallOutcome, connect_call, end_call
from assistant.phone.protocol import AUDIO_RATES, Frame, Kind, ProtocolError
from assistant.pipeline import Listener, SpokenInput, TypedInput, VoicePipeline
from assistant.sms import mask_phone
from assistant.speech.audio import SUPPORTED_RATES, Audio
from assistant.speech.tts import Speaker
from assistant.speech.vad import EndpointConfig
from assistant.voice_settings import VoiceSettings

logger = logging.getLogger("xiaodian.phone")

GREETING = "您好，我是供电公司的小电。请问有什么可以帮您？"
# When the customers' words are kept for quality review (issue 15), callers are told, right after the
# greeting's first sentence: that sentence stays short, so the first audio still starts at once.
RECORDING_NOTICE = "为了改进服务，通话会录音。"
# Said once per call, after the greeting: a caller who cannot find the words still has the keys.
KEYS_ANNOUNCEMENT = "按0转人工，按1重听，按9说慢点；户号可以按键输入，按井号结束。"
STILL_THERE = "您还在吗？"
SILENCE_GOODBYE = "好像听不到您说话，先挂断了。有需要请您再打过来，再见。"
LINE_BUSY = "您好，现在打进来的电话比较多，请您过几分钟再打。再见。"
# What a failed stage means to someone on the phone (the kiosk's texts speak of typing and screens).
PHONE_FAILURES = {
    FailureKind.BUSY: "请稍等，现在打电话的人比较多。请您过一会儿再说一遍。",
    FailureKind.AUDIO: "抱歉，我没听清。请您再说一遍。",
    FailureKind.NOT_READY: "抱歉，现在听不清您说的话。请按0转人工。",
}
# The keys: typed into the conversation as the words they stand for, so the dialogue's own
# repeat, slow-down and handoff run (and the turn is logged like a spoken one).
KEY_WORDS = {"0": "转人工", "1": "再说一遍", "9": "说慢点"}
# Unsent audio beyond this (a second at 8 kHz) means the peer is not reading what is paced to it.
MAX_UNSENT_BYTES = 16 * 1024
SEND_BUFFER_BYTES = 32 * 1024
ACCOUNT_KEYS_TIMEOUT_S = 15.0  # digits typed without # are forgotten after this long
# Staff see "电话 未知号码"; all such callers share one handoff bound (assistant.handoffs), which is
# what keeps a flood of withheld numbers from burying the queue.
ANONYMOUS_CALLER = "未知号码"


@dataclass(frozen=True)
class LineConfig:
    """How every call on the line behaves; the defaults are the product's."""

    max_calls: int = 8
    queue: str = "xiaodian-staff"
    silence_s: float = 8.0  # quiet this long: "您还在吗？"
    silence_prompts: int = 3  # the third quiet spell ends the call politely
    lead_s: float = 0.08  # how far playback runs ahead of real time (Asterisk plays what it gets)
    frame_ms: int = 20
    first_frame_timeout_s: float = 5.0
    idle_timeout_s: float = 15.0  # Asterisk sends audio all the time: a silent socket is a dead call
    write_timeout_s: float = 2.0  # a peer that stops reading for this long is gone
    # Tests and the bench may play answers faster than real time; the product never does.
    playback_speed: float = 1.0
    recording_notice: bool = False  # say RECORDING_NOTICE in the first words (settings.recordings_days > 0)


@dataclass
class LineParts:
    """What the calls need from the rest of the assistant (the composition root builds it)."""

    engine: Engine
    conversations: ConversationService
    pipeline: Callable[[], VoicePipeline]  # the current one: the recogniser may finish loading after start
    speaker: Speaker
    endpoint: EndpointConfig = field(default_factory=EndpointConfig)
    understood: Callable[[str], bool] | None = None  # the Listener's early end (assistant.pipeline.understood_by)


@dataclass
class CallStats:
    """What the bench and the tests read about one call."""

    uuid: str = ""
    frames_sent: int = 0
    late_frames: int = 0  # frames of an answer sent after the audio before them had run out: a gap heard
    end_reason: str = ""


class _Hangup(Exception):
    """The call is over (the reason is in ``CallStats.end_reason``)."""


class _Player:
    """Sends answer audio as 20 ms frames, paced in real time with a small lead, and stops at once
    when interrupted (barge-in, a key): what is queued is dropped, the frame being sent is the last."""

    def __init__(self, call: _Call) -> None:
        self.call = call
        self.queue: asyncio.Queue[tuple[int, Audio | None]] = asyncio.Queue()
        self.generation = 0  # bumped by every interruption: older audio is dropped
        self.sending = False
        self.play_until = 0.0  # monotonic time when the audio already sent ends playing
        self.in_answer = False  # a frame of this answer went out: a late next frame is a gap the caller hears
        self.idle = asyncio.Event()
        self.idle.set()

    @property
    def busy(self) -> bool:
        return self.sending or not self.queue.empty() or self.play_until > time.monotonic()

    def add(self, audio: Audio | None, generation: int) -> None:
        """Queue audio (None marks the end of an answer, so waiting for idle sees the whole answer)."""
        self.idle.clear()
        self.queue.put_nowait((generation, audio))

    def interrupt(self) -> None:
        self.generation += 1
        self.in_answer = False
        while not self.queue.empty():
            self.queue.get_nowait()
        self.play_until = min(self.play_until, time.monotonic())
        if not self.sending:
            self.idle.set()

    async def run(self) -> None:
        config = self.call.config
        while True:
            generation, audio = await self.queue.get()
            if audio is None:
                self.in_answer = False
            elif generation == self.generation:
                self.sending = True
                try:
                    await self._play(audio, generation, config)
                finally:
                    self.sending = False
            if self.queue.empty():
                # Idle once the last frame has been played out, not merely sent.
                await asyncio.sleep(max(0.0, self.play_until - time.monotonic()))
                if self.queue.empty() and not self.sending:
                    self.idle.set()

    async def _play(self, audio: Audio, generation: int, config: LineConfig) -> None:
        call = self.call
        pcm = _resampled(audio, call.rate).samples.astype("<i2").tobytes()
        frame_bytes = call.rate * config.frame_ms // 1000 * 2
        frame_s = config.frame_ms / 1000 / config.playback_speed
        for start in range(0, len(pcm), frame_bytes):
            if generation != self.generation:
                return
            now = time.monotonic()
            wait = self.play_until - config.lead_s - now
            if wait > 0:
                await asyncio.sleep(wait)
                now = time.monotonic()
            if generation != self.generation:
                return
            if self.in_answer and now > self.play_until + 0.005:
                call.stats.late_frames += 1  # the audio ran out before this frame: a gap the caller hears
            chunk = pcm[start:start + frame_bytes]
            chunk += b"\x00" * (frame_bytes - len(chunk))  # whole frames only
            await call.send(protocol.encode(call.audio_kind, chunk))
            call.stats.frames_sent += 1
            self.play_until = max(self.play_until, now) + frame_s
            self.in_answer = True
        call.activity()


def _resampled(audio: Audio, rate: int) -> Audio:
    return audio if audio.rate == rate else audio.to(rate)


class _Call:
    """One call, from its UUID frame to the outcome written and the socket closed."""

    def __init__(self, line: PhoneLine, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.line, self.parts, self.config = line, line.parts, line.config
        self.reader, self.writer = reader, writer
        self.stats = CallStats()
        self.rate = 8000
        self.audio_kind = int(Kind.AUDIO)
        self.session_id: str | None = None
        self.client = ""
        self.voice = line.parts.conversations.voice
        self.player = _Player(self)
        self.inputs: asyncio.Queue[SpokenInput | TypedInput] = asyncio.Queue(maxsize=2)
        self.departed = threading.Event()  # stops a decode under way once the caller is gone
        self.listener: Listener | None = None
        self.answering = False
        self.protected = False  # the last words (handoff, goodbye) are not cut short by barge-in
        self.keys = ""  # a 户号 being typed
        self.keys_at = 0.0
        self.last_activity = time.monotonic()
        self.quiet_audio_s = 0.0  # the caller's audio since the last activity: silence in audio time
        self.silences = 0
        self.outcome: tuple[str, str, int | None] | None = None  # next, reason, ticket
        self._reading: asyncio.Task[None] | None = None

    # -- the call's life --

    async def run(self) -> None:
        try:
            await self._serve()
        except asyncio.CancelledError:
            self.stats.end_reason = self.stats.end_reason or "shutdown"
            raise
        except Exception as error:  # one call's trouble must not take the line down
            self._note_failure(error)
        finally:
            self.departed.set()  # a decode under way stops at its next check
            if self.listener is not None:
                left = (await self.listener.finish()).utterance
                if left is not None and hasattr(left.stream, "abandon"):
                    left.stream.abandon()  # type: ignore[union-attr]
            await self._write_outcome()
            await self._close()

    def _note_failure(self, error: BaseException) -> None:
        """Why the call ended, from what went wrong (in any of its tasks)."""
        if isinstance(error, BaseExceptionGroup):
            for inner in error.exceptions:
                self._note_failure(inner)
            return
        if isinstance(error, _Hangup):
            return
        if isinstance(error, ProtocolError):
            logger.info("call %s: protocol error: %s", self.stats.uuid or "?", error)
            reason = "protocol_error"
        elif isinstance(error, (ConnectionError, asyncio.IncompleteReadError, TimeoutError)):
            logger.info("call %s: connection lost: %r", self.stats.uuid or "?", error)
            reason = "connection_lost"
        else:
            logger.error("call %s failed", self.stats.uuid or "?", exc_info=error)
            reason = "error"
        self.stats.end_reason = self.stats.end_reason or reason

    async def _serve(self) -> None:
        # asyncio.timeout, never wait_for: on Python 3.11 wait_for can swallow a cancellation that
        # arrives as its awaitable completes, and the call would then never end.
        async with asyncio.timeout(self.config.first_frame_timeout_s):
            first = await protocol.read_frame(self.reader)
        if first is None:
            raise _Hangup()
        self.stats.uuid = protocol.call_uuid(first)
        start = await asyncio.to_thread(connect_call, self.parts.engine, self.stats.uuid)
        self.client = PHONE_CLIENT_PREFIX + (mask_phone(start.caller) if start.caller else ANONYMOUS_CALLER)
        state = await asyncio.to_thread(self.parts.conversations.start, Channel.PHONE, None, start.caller or None,
                                        self.client)
        self.session_id = state.id
        logger.info("call %s connected: %s", self.stats.uuid, self.client)
        async with asyncio.TaskGroup() as tasks:
            helpers = (tasks.create_task(self.player.run(), name=f"play-{self.stats.uuid}"),
                       tasks.create_task(self._answer_each(), name=f"turns-{self.stats.uuid}"),
                       tasks.create_task(self._watch_silence(), name=f"silence-{self.stats.uuid}"))
            self._reading = tasks.create_task(self._read_frames(), name=f"read-{self.stats.uuid}")
            first_words = start.first_words or GREETING
            await self._say(with_recording_notice(first_words) if self.config.recording_notice else first_words)
            await self._say(KEYS_ANNOUNCEMENT)
            await asyncio.wait({self._reading})  # until hangup, an outcome, or a broken frame
            for task in helpers:
                task.cancel()

    async def _read_frames(self) -> None:
        while True:
            async with asyncio.timeout(self.config.idle_timeout_s):
                frame = await protocol.read_frame(self.reader)
            if frame is None or frame.kind == Kind.HANGUP:
                self.stats.end_reason = self.stats.end_reason or "caller_hangup"
                return
            if frame.kind == Kind.ERROR:
                self.stats.end_reason = "asterisk_error"
                return
            if frame.kind == Kind.UUID:
                raise ProtocolError("a second UUID frame")
            if frame.kind == Kind.DTMF:
                await self._key(frame.payload.decode("ascii"))
            elif frame.is_audio:
                await self._hear(frame)

    async def _hear(self, frame: Frame) -> None:
        rate = AUDIO_RATES[frame.kind]
        if self.listener is None or rate != self.rate:  # the first audio tells the line's rate
            self.rate, self.audio_kind = rate, frame.kind
            self.listener = Listener(self.parts.pipeline().recognizer, self.parts.endpoint, rate=rate,
                                     understood=self.parts.understood)
        audio = Audio(np.frombuffer(frame.payload, dtype="<i2").astype(np.int16), rate)
        heard = await self.listener.hear(audio)
        endpointer = self.listener.endpointer
        if endpointer.hearing:
            self.activity()
        else:
            self.quiet_audio_s += audio.seconds
        if endpointer.in_speech:
            self.silences = 0
            if self.player.busy and not self.protected:
                self.player.interrupt()  # barge-in: the caller is listened to
        if heard.utterance is not None:
            self.activity()
            self.silences = 0
            self._queue(heard.utterance)

    async def _key(self, key: str) -> None:
        self.activity()
        self.silences = 0
        now = time.monotonic()
        if self.keys and now - self.keys_at > ACCOUNT_KEYS_TIMEOUT_S:
            self.keys = ""
        if key == "#":
            digits, self.keys = self.keys.lstrip("*"), ""
            if digits:
                self.player.interrupt()
                self._queue(TypedInput(digits))
            return
        if not self.keys and key in KEY_WORDS:
            if not self.protected:
                self.player.interrupt()  # keys work during playback
                self._queue(TypedInput(KEY_WORDS[key]))
            return
        if key.isdigit() or (key == "*" and not self.keys):  # * starts a 户号 that begins with 0, 1 or 9
            self.keys, self.keys_at = (self.keys + key)[:32], now

    def _queue(self, item: SpokenInput | TypedInput) -> None:
        try:
            self.inputs.put_nowait(item)
        except asyncio.QueueFull:
            logger.info("call %s: input dropped while two are waiting", self.stats.uuid)

    # -- answers --

    async def _answer_each(self) -> None:
        while True:
            item = await self.inputs.get()
            self.answering = True
            try:
                await self._answer(item)
            finally:
                self.answering = False
                self.activity()

    async def _answer(self, item: SpokenInput | TypedInput) -> None:
        generation = self.player.generation
        ending: str | None = None
        handoff_ticket: int | None = None
        async with aclosing(self.parts.pipeline().run(item, session_id=self.session_id, channel=Channel.PHONE,
                                                      client=self.client, departed=self.departed,
                                                      speech_rate=_speech_rate(self.rate))) as events:
            async for event in events:
                if isinstance(event, Replied):
                    self.session_id = event.reply.session_id
                    self.voice = VoiceSettings(rate=event.reply.voice_rate, volume=event.reply.voice_volume)
                    if event.reply.end:
                        ending, self.protected = "goodbye", True
                elif isinstance(event, HandedOff):
                    ending, handoff_ticket, self.protected = "transfer", event.handoff.ticket_id, True
                elif isinstance(event, AudioChunk):
                    self.player.add(event.audio, generation)
                elif isinstance(event, Failed) and event.kind in PHONE_FAILURES:
                    await self._say(PHONE_FAILURES[event.kind], generation)
        self.player.add(None, generation)
        if ending is not None:
            await self.player.idle.wait()  # the caller hears where the call goes before it goes
            if ending == "transfer":
                self.outcome = (CallOutcome.TRANSFER, "transfer", handoff_ticket)
            else:
                self.outcome = (CallOutcome.HANGUP, "goodbye", None)
            self.stats.end_reason = self.outcome[1]
            self._stop_reading()

    async def _say(self, text: str, generation: int | None = None) -> None:
        """Words that are not a conversation turn (greeting, prompts), in the call's current voice."""
        rate = _speech_rate(self.rate)
        for audio, _last in await asyncio.to_thread(lambda: list(self.parts.speaker.speak_sentences(text, self.voice,
                                                                                                    rate))):
            self.player.add(audio, self.player.generation if generation is None else generation)
        self.player.add(None, self.player.generation if generation is None else generation)

    # -- silence --

    def activity(self) -> None:
        """Something happened (the caller spoke or pressed a key, an answer finished): quiet starts again."""
        self.last_activity = time.monotonic()
        self.quiet_audio_s = 0.0

    async def _watch_silence(self) -> None:
        """Quiet in audio time (Asterisk sends frames all the time) or, with no frames, in wall time."""
        while True:
            await asyncio.sleep(0.05)
            if self.player.busy or self.answering or not self.inputs.empty() or self.protected:
                self.last_activity, self.quiet_audio_s = time.monotonic(), 0.0
                continue
            if self.listener is not None and self.listener.endpointer.hearing:
                continue
            quiet = max(self.quiet_audio_s, time.monotonic() - self.last_activity)
            if quiet < self.config.silence_s:
                continue
            self.silences += 1
            self.last_activity, self.quiet_audio_s = time.monotonic(), 0.0
            if self.silences < self.config.silence_prompts:
                await self._say(STILL_THERE)
                continue
            self.protected = True
            await self._say(SILENCE_GOODBYE)
            await self.player.idle.wait()
            self.outcome = (CallOutcome.HANGUP, "silence", None)
            self.stats.end_reason = "silence"
            self._stop_reading()
            return

    # -- the socket --

    def _stop_reading(self) -> None:
        """End the call now (its outcome is set): the reader stops, and with it the call's tasks."""
        if self._reading is not None:
            self._reading.cancel()

    async def send(self, data: bytes) -> None:
        """One frame out. Paced frames need no drain; a send buffer that stays full means the peer
        stopped reading, and the call ends instead of holding ever more audio."""
        transport = self.writer.transport
        waited = 0.0
        while transport.get_write_buffer_size() > MAX_UNSENT_BYTES:
            if waited >= self.config.write_timeout_s:
                self.stats.end_reason = "stalled"
                self._stop_reading()
                raise ConnectionError("the peer stopped reading")
            await asyncio.sleep(0.05)
            waited += 0.05
        if transport.is_closing():
            raise ConnectionError("the peer closed the connection")
        self.writer.write(data)

    async def _write_outcome(self) -> None:
        if not self.stats.uuid:
            return
        next_step, reason, ticket = self.outcome or (CallOutcome.HANGUP, self.stats.end_reason or "hangup", None)
        self.stats.end_reason = reason
        queue = self.config.queue if next_step == CallOutcome.TRANSFER else ""
        try:
            await asyncio.to_thread(end_call, self.parts.engine, self.stats.uuid, next_step, reason, queue, ticket,
                                    self.session_id or "")
        except Exception:
            logger.exception("call %s: the outcome could not be written", self.stats.uuid)
        logger.info("call %s ended: %s", self.stats.uuid, reason)

    async def _close(self) -> None:
        if self.stats.end_reason != "caller_hangup":
            with suppress(Exception):
                self.writer.write(protocol.hangup_frame())
                self.writer.write_eof()
                # Closing with the peer's frames unread would reset the connection, and a reset can
                # drop the hangup frame before the peer reads it: read (and drop) until it closes.
                async with asyncio.timeout(0.5):
                    while await self.reader.read(4096):
                        pass
        self.writer.close()
        with suppress(Exception):
            async with asyncio.timeout(1.0):
                await self.writer.wait_closed()


def with_recording_notice(words: str) -> str:
    """The first words with RECORDING_NOTICE after their first sentence."""
    first, stop, rest = words.partition("。")
    return f"{first}{stop}{RECORDING_NOTICE}{rest}" if stop else f"{words}。{RECORDING_NOTICE}"


def _speech_rate(line_rate: int) -> int:
    """The rate the voice speaks at for this line: the line's own, when the voice can make it."""
    return line_rate if line_rate in SUPPORTED_RATES else 16000


class PhoneLine:
    """The AudioSocket server: ``await line.start(host, port)``, then ``await line.close()``."""

    def __init__(self, parts: LineParts, config: LineConfig | None = None) -> None:
        self.parts, self.config = parts, config or LineConfig()
        self.calls: set[asyncio.Task[None]] = set()
        self.finished: list[CallStats] = []  # the latest calls' figures (bounded), for the bench
        self._server: asyncio.base_events.Server | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    def warm(self) -> None:
        """Make the fixed words' audio now (blocking), so the greeting starts within a second."""
        for text in (GREETING, with_recording_notice(GREETING), KEYS_ANNOUNCEMENT, STILL_THERE, SILENCE_GOODBYE, LINE_BUSY,
                     *PHONE_FAILURES.values()):
            for rate in (8000, 16000):
                list(self.parts.speaker.speak_sentences(text, self.parts.conversations.voice, rate))

    async def start(self, host: str, port: int) -> None:
        # Several workers of the web service may each run a gateway on the one port.
        self._server = await asyncio.start_server(self._accept, host, port, limit=2 ** 16, reuse_port=True)
        logger.info("AudioSocket gateway listening on %s:%s", host, self.port)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None:  # a small kernel buffer too: a peer that stops reading is noticed in seconds
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)
        call = _Call(self, reader, writer)
        task = asyncio.current_task()
        assert task is not None
        if len(self.calls) >= self.config.max_calls:
            await self._refuse(call)
            return
        self.calls.add(task)
        try:
            await call.run()
        except asyncio.CancelledError:
            pass  # the line is closing: the call has written its outcome and closed its socket
        finally:
            self.calls.discard(task)
            self.finished = [*self.finished[-99:], call.stats]

    async def _refuse(self, call: _Call) -> None:
        """Beyond the bound: a short apology, then hang up (the PBX's dialplan goes on)."""
        try:
            async with asyncio.timeout(call.config.first_frame_timeout_s):
                first = await protocol.read_frame(call.reader)
            if first is not None:
                call.stats.uuid = protocol.call_uuid(first)
            call.protected = True
            player = asyncio.create_task(call.player.run())
            await call._say(LINE_BUSY)
            async with asyncio.timeout(15):
                await call.player.idle.wait()
            player.cancel()
        except (ProtocolError, ConnectionError, TimeoutError):
            pass
        call.stats.end_reason = "busy"
        await call._write_outcome()
        await call._close()

    async def close(self) -> None:
        """Stop taking calls and end the ones under way (each writes its outcome)."""
        if self._server is not None:
            self._server.close()
        for task in list(self.calls):
            task.cancel()
        if self.calls:
            await asyncio.gather(*self.calls, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
