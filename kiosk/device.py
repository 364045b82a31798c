"""The hall kiosk's device loop: microphone in, speaker out, card reader, screen in step.

    microphone ─20 ms PCM─▶ /ws/converse (the service's one pipeline: end-pointing, recognition,
    (or WAV files)           the dialogue, the answer spoken sentence by sentence) ─▶ speaker
                                                                                    (or WAV files)
    card reader ─Unix socket─▶ signed with the kiosk's key ─▶ /api/kiosk/card
    every turn ─▶ /api/kiosk/screen ─▶ the kiosk page in Chromium shows what was heard and said

Why over the service and not a pipeline of its own: the conversation, its session, the payment
link and the handoff live in the service's database; the page must show the same conversation, and
the kiosk PC needs no recogniser, voice or database of its own. The service's ``/ws/converse`` is
the same adapter the page's microphone uses (``server/routes/customer.py``), over the same
``assistant.pipeline``: its ``Listener`` end-points (with the speculative decode that ends a clear
request early), ``VoicePipeline`` answers and speaks. Here a local ``Listener`` without a recogniser
only notices speech starting (barge-in: speaking stops playback; the screen says 正在听) and ending
(the screen says 小电正在想…, and the clock for "end of speech to first audio" starts).
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from assistant.pipeline import Listener
from assistant.speech.audio import Audio, read_wav
from assistant.speech.vad import EndpointConfig

RATE = 16000
FRAME_S = 0.02  # 20 ms frames, as a browser or a phone line sends them
FRAME_SAMPLES = int(RATE * FRAME_S)
ANSWER_TIMEOUT_S = 120.0  # a file's question unanswered this long: give up (a busy 2-core machine is slow)
NO_DEVICE_HINT = "也可以用录音文件试：xiaodian kiosk run --input 录音.wav --output 回答文件夹/"


class NoAudioDevice(Exception):
    """No usable microphone or speaker; ``str(error)`` is a Chinese sentence for the operator."""


class ServiceUnreachable(Exception):
    """The 小电 service did not answer; ``str(error)`` says where it was looked for."""


class Unanswered(Exception):
    """A recorded question got no answer in time; ``str(error)`` says which."""


# --- audio devices ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AudioDevice:
    index: int
    name: str
    inputs: int
    outputs: int
    default_rate: float


def _sounddevice() -> Any:
    try:
        import sounddevice
    except (ImportError, OSError) as error:  # OSError: Debian's libportaudio2 is missing
        raise NoAudioDevice(f"这台电脑不能使用声音设备（{error}）。请安装 libportaudio2 和语音组件。\n{NO_DEVICE_HINT}") from None
    return sounddevice


def list_devices() -> list[AudioDevice]:
    """Every sound device PortAudio sees (none on a machine without a sound card)."""
    sounddevice = _sounddevice()
    try:
        found = sounddevice.query_devices()
    except Exception as error:  # PortAudioError: the host API itself failed
        raise NoAudioDevice(f"查询声音设备失败：{error}\n{NO_DEVICE_HINT}") from None
    return [AudioDevice(index, str(info["name"]), int(info["max_input_channels"]), int(info["max_output_channels"]),
                        float(info["default_samplerate"])) for index, info in enumerate(found)]


def choose_device(spec: str | None, kind: str) -> AudioDevice:
    """The ``input`` or ``output`` device named by ``spec``: its index, or part of its name
    (case-insensitive); without ``spec``, the system's default, else the first that can."""
    word = "麦克风（录音设备）" if kind == "input" else "扬声器（放音设备）"
    devices = list_devices()
    usable = [device for device in devices if (device.inputs if kind == "input" else device.outputs) > 0]
    if not usable:
        raise NoAudioDevice(f"这台电脑没有找到{word}。请接上{word}后再试。\n{NO_DEVICE_HINT}")
    if spec is None or spec == "":
        default = _default_index(kind)
        return next((device for device in usable if device.index == default), usable[0])
    if spec.isdigit():
        chosen = next((device for device in usable if device.index == int(spec)), None)
    else:
        matches = [device for device in usable if spec.lower() in device.name.lower()]
        chosen = matches[0] if len(matches) == 1 else None
        if len(matches) > 1:
            names = "、".join(f"{device.index} {device.name}" for device in matches)
            raise NoAudioDevice(f"有几个{word}的名字里都有“{spec}”：{names}。请写得更完整，或者用编号。")
    if chosen is None:
        names = "；".join(f"{device.index} {device.name}" for device in usable)
        raise NoAudioDevice(f"没有找到{word}“{spec}”。这台电脑上有：{names}。")
    return chosen


def _default_index(kind: str) -> int:
    default = _sounddevice().default.device
    try:
        return int(default[0] if kind == "input" else default[1])
    except (TypeError, IndexError, ValueError):
        return -1


# --- where audio comes from and goes to ------------------------------------------------------


class Source(Protocol):
    """20 ms frames of 16 kHz mono int16 audio, as they happen."""

    def frames(self) -> AsyncIterator[np.ndarray]: ...


class Sink(Protocol):
    """Where the answer's sentences go: played in order; ``stop`` cuts the playing answer (barge-in)."""

    def play(self, audio: Audio, last: bool) -> None: ...

    def stop(self) -> None: ...

    @property
    def playing(self) -> bool: ...


class MicrophoneSource:
    """The kiosk's microphone through PortAudio (16 kHz mono; the driver resamples)."""

    def __init__(self, device: AudioDevice) -> None:
        self.device = device

    async def frames(self) -> AsyncIterator[np.ndarray]:
        sounddevice = _sounddevice()
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[np.ndarray] = asyncio.Queue(maxsize=500)  # 10 s; a stalled consumer drops audio

        def captured(data: Any, frames: int, when: Any, status: Any) -> None:
            samples = np.frombuffer(bytes(data), dtype="<i2").copy()
            loop.call_soon_threadsafe(_offer, queue, samples)

        try:
            stream = sounddevice.RawInputStream(samplerate=RATE, channels=1, dtype="int16", blocksize=FRAME_SAMPLES,
                                                device=self.device.index, callback=captured)
        except Exception as error:  # PortAudioError: unplugged, busy, unsupported rate
            raise NoAudioDevice(f"麦克风“{self.device.name}”打不开：{error}\n{NO_DEVICE_HINT}") from None
        with stream:
            while True:
                yield await queue.get()


def _offer(queue: asyncio.Queue[np.ndarray], samples: np.ndarray) -> None:
    try:
        queue.put_nowait(samples)
    except asyncio.QueueFull:
        pass


class FileSource:
    """Recorded questions, played into the loop in real time as a customer would say them: each
    file, then room silence until its answer has been spoken, then the next."""

    def __init__(self, paths: list[Path], answered: asyncio.Event, lead_in_s: float = 0.5) -> None:
        self.recordings = [read_wav(path).to(RATE) for path in paths]  # a bad file fails here, before anything starts
        self.answered = answered
        self.lead_in_s = lead_in_s
        self.finished = asyncio.Event()

    async def frames(self) -> AsyncIterator[np.ndarray]:
        clock = _RealTime()
        silence = np.zeros(FRAME_SAMPLES, dtype=np.int16)
        for _ in range(int(self.lead_in_s / FRAME_S)):
            await clock.tick()
            yield silence
        for number, recording in enumerate(self.recordings, 1):
            self.answered.clear()
            samples = recording.samples
            for start in range(0, len(samples), FRAME_SAMPLES):
                frame = samples[start:start + FRAME_SAMPLES]
                await clock.tick()
                yield np.pad(frame, (0, FRAME_SAMPLES - len(frame)))
            waited = 0.0
            while not self.answered.is_set():
                if waited >= ANSWER_TIMEOUT_S:
                    raise Unanswered(f"第{number}段录音过了{ANSWER_TIMEOUT_S:.0f}秒还没有回答完。")
                await clock.tick()
                waited += FRAME_S
                yield silence
        self.finished.set()


class _RealTime:
    """Paces frames at real time, whatever each step costs."""

    def __init__(self) -> None:
        self.next = time.monotonic()

    async def tick(self) -> None:
        self.next += FRAME_S
        delay = self.next - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)


class SpeakerSink:
    """The kiosk's speaker: sentences played one after another in a thread of its own, in 50 ms
    slices, so that ``stop`` (the customer started speaking) silences it within a slice."""

    SLICE_S = 0.05

    def __init__(self, device: AudioDevice) -> None:
        self.device = device
        self._queue: list[Audio] = []
        self._wake = threading.Condition()
        self._stopped = 0  # bumped by stop(): what was queued before it is dropped
        self._busy = False
        threading.Thread(target=self._play_forever, name="kiosk-speaker", daemon=True).start()

    def play(self, audio: Audio, last: bool) -> None:
        with self._wake:
            self._queue.append(audio)
            self._wake.notify()

    def stop(self) -> None:
        with self._wake:
            self._queue.clear()
            self._stopped += 1

    @property
    def playing(self) -> bool:
        return self._busy or bool(self._queue)

    def _play_forever(self) -> None:
        sounddevice = _sounddevice()
        while True:
            with self._wake:
                while not self._queue:
                    self._wake.wait()
                audio, generation = self._queue.pop(0), self._stopped
                self._busy = True
            try:
                with sounddevice.RawOutputStream(samplerate=audio.rate, channels=1, dtype="int16",
                                                 device=self.device.index) as stream:
                    step = int(audio.rate * self.SLICE_S)
                    for start in range(0, len(audio.samples), step):
                        if generation != self._stopped:
                            break
                        stream.write(audio.samples[start:start + step].astype("<i2").tobytes())
            except Exception as error:  # the speaker went away: say so, keep the loop (the screen still shows text)
                print(f"扬声器“{self.device.name}”放音失败：{error}", file=sys.stderr)
            finally:
                self._busy = False


class FolderSink:
    """Each spoken answer written as one WAV (``answer-01.wav``, …): for tests and demos."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self._sentences: list[Audio] = []
        self.written: list[Path] = []

    def play(self, audio: Audio, last: bool) -> None:
        self._sentences.append(audio)
        if last:
            path = self.folder / f"answer-{len(self.written) + 1:02d}.wav"
            rate = self._sentences[0].rate
            samples = np.concatenate([sentence.to(rate).samples for sentence in self._sentences])
            path.write_bytes(Audio(samples, rate).wav_bytes())
            self.written.append(path)
            self._sentences = []

    def stop(self) -> None:
        self._sentences = []

    @property
    def playing(self) -> bool:
        return False


# --- the service -----------------------------------------------------------------------------


@dataclass
class DeviceIdentity:
    """The registered kiosk (``xiaodian kiosk add-device``): its name and private key."""

    name: str
    key: Any  # Ed25519PrivateKey

    @classmethod
    def load(cls, name: str, key_file: Path) -> DeviceIdentity:
        from cryptography.hazmat.primitives.serialization import load_pem_private_key

        try:
            key = load_pem_private_key(key_file.read_bytes(), password=None)
        except (OSError, ValueError) as error:
            raise ValueError(f"读不了设备私钥 {key_file}：{error}") from None
        return cls(name, key)

    @property
    def screen_key(self) -> str:
        from assistant.kiosk_screen import screen_key

        return screen_key(self.key, self.name)


class Screen:
    """The kiosk page's view of this conversation (``/api/kiosk/screen``); never holds up the audio."""

    def __init__(self, http: Any, identity: DeviceIdentity | None) -> None:
        self.http = http
        self.identity = identity
        self.posted_seq = 0  # the screen's sequence number after this loop's last update
        self._tasks: set[asyncio.Task[None]] = set()

    def show(self, session_id: str | None, **state: Any) -> None:
        if self.identity is None:
            return
        task = asyncio.create_task(self._post(session_id or "", state))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _post(self, session_id: str, state: dict[str, Any]) -> None:
        assert self.identity is not None
        try:
            response = await self.http.post("/api/kiosk/screen", json={
                "device": self.identity.name, "session_id": session_id, "state": state},
                headers={"X-Kiosk-Screen-Key": self.identity.screen_key})
            response.raise_for_status()
            self.posted_seq = max(self.posted_seq, response.json()["seq"])
        except Exception as error:  # the page misses one update; the conversation goes on
            print(f"屏幕没有更新：{error}", file=sys.stderr)

    async def read(self) -> dict[str, Any]:
        assert self.identity is not None
        response = await self.http.get("/api/kiosk/screen", params={"device": self.identity.name},
                                       headers={"X-Kiosk-Screen-Key": self.identity.screen_key})
        response.raise_for_status()
        return response.json()

    async def settle(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


@dataclass
class Turn:
    """One answered question, as the loop saw it."""

    heard: str
    answer: str
    intent: str
    session_id: str
    end_of_speech_to_first_audio_s: float | None = None
    wav: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"heard": self.heard, "answer": self.answer, "intent": self.intent, "session_id": self.session_id,
                "end_of_speech_to_first_audio_s": self.end_of_speech_to_first_audio_s, "wav": self.wav}


@dataclass
class LoopOptions:
    server: str  # http(s)://host:port of the 小电 service
    identity: DeviceIdentity | None = None
    barge_in: bool = True  # speaking stops playback (needs an echo-cancelled microphone)
    push_to_talk: bool = False  # Enter starts listening, Enter again (or the end of speech) stops
    idle_reset_s: float = 90.0  # a conversation quiet this long is over: the next customer starts clean
    card_socket: Path | None = None  # where the card reader process hands its reads
    end_silence_s: float = 1.2
    once: bool = False  # file input: stop when the files are answered


@dataclass
class DeviceLoop:
    """One kiosk: audio from ``source`` to the service, answers to ``sink``, the screen in step."""

    options: LoopOptions
    source: Source
    sink: Sink
    on_turn: Callable[[Turn], None] = lambda turn: None
    answered: asyncio.Event = field(default_factory=asyncio.Event)
    turns: list[Turn] = field(default_factory=list)

    SCREEN_POLL_S = 2.0

    def __post_init__(self) -> None:
        self.session_id: str | None = None
        self._socket: Any = None
        self._last_voice_at: float | None = None
        self._first_audio_pending = False
        self._last_activity = time.monotonic()
        self._talking = not self.options.push_to_talk
        self._restart = asyncio.Event()
        self._ending = False
        self._replied_since_speech = False
        # Local end-pointing only (no recogniser): when speech starts and ends, for barge-in, the screen
        # and the latency clock. The service's own Listener decides the utterance.
        self._listener = Listener(None, EndpointConfig(end_silence_s=self.options.end_silence_s), speculate=False)

    @property
    def ws_url(self) -> str:
        base = self.options.server.rstrip("/")
        return ("wss://" + base[len("https://"):] if base.startswith("https://")
                else "ws://" + base.removeprefix("http://")) + "/ws/converse"

    async def run(self) -> list[Turn]:
        import httpx

        async with httpx.AsyncClient(base_url=self.options.server, timeout=10) as http:
            self.screen = Screen(http, self.options.identity)
            self.http = http
            card_server = await self._serve_card_reader()
            try:
                await self._converse()
            finally:
                if card_server is not None:
                    card_server.close()
                await self.screen.settle()
        return self.turns

    async def _converse(self) -> None:
        from websockets.asyncio.client import connect

        frames = self.source.frames()
        while True:
            try:
                async with connect(self.ws_url, max_size=4 * 1024 * 1024, open_timeout=10) as socket:
                    self._socket = socket
                    await self._start_session(socket)
                    if await self._stream(socket, frames):
                        return
            except (OSError, TimeoutError) as error:
                if self.options.once:
                    raise ServiceUnreachable(f"连不上小电服务 {self.options.server}（{error}）。"
                                             "请先启动服务（xiaodian serve），或者用 --server 指定地址。") from None
                print(f"连不上小电服务 {self.options.server}（{error}），5 秒后重试。", file=sys.stderr)
                await asyncio.sleep(5)
            except (Unanswered, NoAudioDevice):
                raise
            except Exception as error:  # the service restarted or the network dropped: a new session
                if self.options.once:
                    raise ServiceUnreachable(f"和小电服务的连接断了：{error}") from None
                print(f"和小电服务的连接断了（{error}），重新连接。", file=sys.stderr)
                await asyncio.sleep(1)
            finally:
                self._socket = None

    async def _start_session(self, socket: Any) -> None:
        # The hall's kiosk: its turns count as the kiosk channel from the first one (the signed screen
        # update that names the hall comes after the first answer).
        start: dict[str, Any] = {"type": "start", "speech": "chunks", "channel": "kiosk"}
        if self.session_id:
            start["session_id"] = self.session_id
        await socket.send(json.dumps(start))

    async def _stream(self, socket: Any, frames: AsyncIterator[np.ndarray]) -> bool:
        """Send frames and take answers until the source ends (True) or the session should restart."""
        self._restart.clear()
        receiver = asyncio.create_task(self._receive(socket))
        watcher = asyncio.create_task(self._watch_screen())
        try:
            async for frame in frames:
                await self._hear(frame)
                if self._talking and (self.options.barge_in or not self.sink.playing):
                    await socket.send(frame.astype("<i2").tobytes())
                if receiver.done():
                    receiver.result()  # the socket closed: raise what closed it
                if self._restart.is_set() or self._idle():
                    return False
            return True  # a file source ends once its last question has been answered and spoken
        finally:
            receiver.cancel()
            watcher.cancel()

    async def _watch_screen(self) -> None:
        """重新开始 on the screen, or its idle reset, ends the loop's conversation too (the page clears the
        screen's session; the next customer's words then start a new one here)."""
        if self.options.identity is None:
            return
        while True:
            await asyncio.sleep(self.SCREEN_POLL_S)
            try:
                screen = await self.screen.read()
            except Exception:  # the service restarts: the socket's own errors say so
                continue
            if screen.get("seq", 0) > self.screen.posted_seq and screen.get("session_id") == "" and self.session_id:
                self.session_id = None
                self._restart.set()

    def _idle(self) -> bool:
        """A conversation left quiet: start over, so the next customer never meets the last one's account."""
        if self.session_id is None or time.monotonic() - self._last_activity < self.options.idle_reset_s:
            return False
        if self.sink.playing:
            return False
        self.session_id = None
        self.screen.show("", status="", heard="", reply=None, identified="")
        return True

    async def _hear(self, frame: np.ndarray) -> None:
        before = self._listener.endpointer.in_speech
        heard = await self._listener.hear(Audio(frame, RATE))
        endpointer = self._listener.endpointer
        now = time.monotonic()
        if endpointer.in_speech and endpointer.pause_s == 0:
            self._last_voice_at = now
        if endpointer.in_speech and not before:  # the customer started speaking
            self._last_activity = now
            # The clock runs from this question's last voiced frame to its answer's first sound (the
            # service may end the utterance before this local end-pointer does: a clear request at 0.7 s).
            self._first_audio_pending = True
            self._replied_since_speech = False
            if self.sink.playing and self.options.barge_in:
                self.sink.stop()
            self.screen.show(self.session_id, status="正在听…")
        if heard.utterance is not None and not self._replied_since_speech:  # (the service may have answered already)
            self.screen.show(self.session_id, status="小电正在想…")

    async def _receive(self, socket: Any) -> None:
        pending_chunk: dict[str, Any] | None = None
        heard_text = ""
        async for message in socket:
            if isinstance(message, bytes):
                if pending_chunk is not None:
                    self._speak(read_wav(message), bool(pending_chunk.get("last")))
                    pending_chunk = None
                continue
            event = json.loads(message)
            kind = event.get("type")
            if kind == "reply":
                reply = event["reply"]
                heard_text = event.get("transcript", "")
                self._replied(heard_text, reply)
            elif kind == "audio_chunk":
                pending_chunk = event
            elif kind in ("error", "busy"):
                print(f"小电：{event.get('detail', '')}", file=sys.stderr)
                self.screen.show(self.session_id, status=event.get("detail", ""))
                if kind == "error":
                    self.answered.set()

    def _replied(self, heard: str, reply: dict[str, Any]) -> None:
        self._last_activity = time.monotonic()
        self._replied_since_speech = True
        self.session_id = reply.get("session_id") or self.session_id
        turn = Turn(heard, reply.get("text", ""), reply.get("intent", ""), self.session_id or "")
        self.turns.append(turn)
        # The device speaks, not the page; the service draws the QR code itself from the signed link.
        shown = {key: value for key, value in reply.items() if key not in ("speech_url", "pay_qr_svg")}
        self.screen.show(self.session_id, status="", heard=heard, reply=shown)
        self._ending = bool(reply.get("end"))  # goodbye: once it is spoken, the next customer starts afresh

    def _speak(self, audio: Audio, last: bool) -> None:
        turn = self.turns[-1] if self.turns else None
        if self._first_audio_pending and turn is not None:
            self._first_audio_pending = False
            if self._last_voice_at is not None:
                turn.end_of_speech_to_first_audio_s = round(time.monotonic() - self._last_voice_at, 3)
        self.sink.play(audio, last)
        if last:
            if turn is not None and isinstance(self.sink, FolderSink) and self.sink.written:
                turn.wav = str(self.sink.written[-1])
            if turn is not None:
                self.on_turn(turn)
            self.answered.set()
            if self._ending:
                self._ending = False
                self.session_id = None
                self._restart.set()

    # -- the card reader

    async def _serve_card_reader(self) -> asyncio.AbstractServer | None:
        path = self.options.card_socket
        if path is None:
            return None
        if self.options.identity is None:
            raise ValueError("读卡器需要设备名和私钥（--device 和 --key-file）。")
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            path.unlink()
        old_mask = os.umask(0o177)  # the socket is the kiosk user's alone: a read it passes on is trusted
        try:
            server = await asyncio.start_unix_server(self._card_connection, path=str(path))
        finally:
            os.umask(old_mask)
        return server

    async def _card_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One line of JSON from the reader process, ``{"account": "3201000001"}``; one line back."""
        try:
            line = await asyncio.wait_for(reader.readline(), 5)
            answer = await self.card_read(line)
        except (asyncio.TimeoutError, ValueError) as error:
            answer = {"ok": False, "detail": str(error) or "读卡数据不对。"}
        writer.write((json.dumps(answer, ensure_ascii=False) + "\n").encode())
        await writer.drain()
        writer.close()

    async def card_read(self, line: bytes) -> dict[str, Any]:
        from assistant.kiosk_devices import sign_card_read

        try:
            account = str(json.loads(line)["account"])
        except (ValueError, KeyError, TypeError):
            return {"ok": False, "detail": "读卡数据应为一行 JSON：{\"account\": \"十位户号\"}"}
        if not (len(account) == 10 and account.isdigit()):
            return {"ok": False, "detail": "卡上的户号不是十位数字。"}
        identity = self.options.identity
        assert identity is not None
        card = sign_card_read(identity.key, identity.name, account, secrets.token_hex(16))
        response = await self.http.post("/api/kiosk/card", json={
            "session_id": self.session_id,
            "card": {"device": card.device, "account": card.account, "issued_at": card.issued_at,
                     "nonce": card.nonce, "signature": card.signature}})
        if response.status_code != 200:
            return {"ok": False, "detail": response.json().get("detail", "读卡没有通过校验。")}
        body = response.json()
        self.session_id = body["session_id"]
        self._last_activity = time.monotonic()
        if self._socket is not None:  # the socket's next utterance belongs to the verified conversation
            await self._start_session(self._socket)
        return {"ok": True, "holder": body["holder"], "session_id": self.session_id}

    # -- push to talk

    def toggle_talking(self) -> None:
        """The push-to-talk key: start listening (and stop any answer), or stop and have it answered."""
        self._talking = not self._talking
        if self._talking:
            self.sink.stop()
            self.screen.show(self.session_id, status="正在听…")
        elif self._socket is not None:
            asyncio.create_task(self._socket.send(json.dumps({"type": "stop"})))
