"""A caller simulator: the Asterisk side of AudioSocket, as ``res_audiosocket`` speaks it.

It packs frames itself (``struct``, not the product's codec), so a codec bug cannot hide behind a
matching bug here: the UUID first, then 20 ms audio frames all the time (silence between what the
caller says, as a live channel does), DTMF, hangup. ``speed`` > 1 sends the caller's audio that
many times faster than real time; answers arrive as the gateway paces them.

    async with SimulatedCall(port, call_uuid) as call:
        greeting = await call.hear()           # audio until a pause in what the gateway sends
        await call.say(read_wav("8k/a01.wav"))
        answer = await call.hear()
"""

from __future__ import annotations

import asyncio
import socket
import struct
import time
import uuid as uuid_module
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from assistant.speech.audio import Audio, read_wav

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "audio"
RATES = {0x10: 8000, 0x12: 16000}
_CLOSE = object()  # in the outgoing queue: close the socket here


def fixture(name: str) -> Audio:
    return read_wav(FIXTURES / name)


@dataclass
class Received:
    at: float  # monotonic time the frame arrived
    pcm: bytes


@dataclass
class SimulatedCall:
    port: int
    call_uuid: str = field(default_factory=lambda: str(uuid_module.uuid4()))
    kind: int = 0x10  # 0x12: the channel's format is slin16
    speed: float = 1.0
    host: str = "127.0.0.1"
    frame_ms: int = 20

    def __post_init__(self) -> None:
        self.rate = RATES[self.kind]
        self.received: list[Received] = []
        self.dtmf_sent: list[str] = []
        self.closed = asyncio.Event()  # the gateway closed the socket
        self.hung_up_by_gateway = False
        self.speech_ended_at: float | None = None  # when the last frame of the latest ``say`` went out
        self._outgoing: asyncio.Queue[bytes] = asyncio.Queue()
        self._reading = True

    async def __aenter__(self) -> SimulatedCall:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def connect(self) -> None:
        if self._reading:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        else:  # a peer that does not read: a small receive buffer, so the gateway's audio backs up in seconds
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, (self.host, self.port))
            self.reader, self.writer = await asyncio.open_connection(sock=sock)
        self.writer.write(self.frame(0x01, uuid_module.UUID(self.call_uuid).bytes))
        self._tasks = [asyncio.create_task(self._send_loop()), asyncio.create_task(self._receive_loop())]

    @staticmethod
    def frame(kind: int, payload: bytes = b"") -> bytes:
        return struct.pack(">BH", kind, len(payload)) + payload  # network byte order, as Asterisk sends

    # -- what the caller does --

    async def say(self, audio: Audio, then_silence_s: float = 0.0) -> None:
        """Queue the audio as frames (after what is already queued); returns when the last has gone out."""
        pcm = audio.to(self.rate).samples.astype("<i2").tobytes()
        size = self.rate * self.frame_ms // 1000 * 2
        done = asyncio.get_running_loop().create_future()
        for start in range(0, len(pcm), size):
            chunk = pcm[start:start + size]
            await self._outgoing.put(self.frame(self.kind, chunk + b"\x00" * (size - len(chunk))))
        await self._outgoing.put(done)  # type: ignore[arg-type]  # a marker: resolved when reached
        await done
        self.speech_ended_at = time.monotonic()
        if then_silence_s:
            await self.silence(then_silence_s)

    async def silence(self, seconds: float) -> None:
        """Let ``seconds`` of the caller's audio time pass (silence frames go out meanwhile)."""
        await asyncio.sleep(seconds / self.speed)

    async def press(self, key: str) -> None:
        self.dtmf_sent.append(key)
        await self._outgoing.put(self.frame(0x03, key.encode("ascii")))

    async def hang_up(self) -> None:
        await self._outgoing.put(self.frame(0x00))
        await asyncio.sleep(0.05)
        await self.close()

    async def send_raw(self, data: bytes, then_close: bool = False) -> None:
        """Bytes as they are (broken frames), between two audio frames; ``then_close``: the socket
        closes right after them (a frame cut short)."""
        await self._outgoing.put(data)
        if then_close:
            await self._outgoing.put(_CLOSE)  # type: ignore[arg-type]

    def stop_reading(self) -> None:
        """Act as a client that no longer reads what the gateway sends (before ``connect``: from the start)."""
        self._reading = False

    # -- what the caller hears --

    def audio_since(self, start: float) -> Audio:
        pcm = b"".join(r.pcm for r in self.received if r.at >= start)
        return Audio(np.frombuffer(pcm, dtype="<i2").astype(np.int16), self.rate)

    def first_frame_after(self, start: float) -> float | None:
        return next((r.at for r in self.received if r.at >= start), None)

    async def hear(self, timeout: float = 90.0, gap_s: float = 0.6) -> Audio:
        """Audio from now until the gateway falls quiet for ``gap_s`` after it started (or closes)."""
        start = time.monotonic()
        deadline = start + timeout
        while time.monotonic() < deadline:
            began = self.first_frame_after(start)
            if began is not None:
                last = self.received[-1].at
                if time.monotonic() - last >= gap_s or self.closed.is_set():
                    return self.audio_since(start)
            elif self.closed.is_set():
                break
            await asyncio.sleep(0.02)
        return self.audio_since(start)

    async def wait_closed(self, timeout: float = 30.0) -> bool:
        try:
            await asyncio.wait_for(self.closed.wait(), timeout)
        except TimeoutError:
            return False
        return True

    # -- the socket --

    async def _send_loop(self) -> None:
        """Asterisk sends a frame every 20 ms whatever the caller does; silence when nothing is said."""
        size = self.rate * self.frame_ms // 1000 * 2
        silent = self.frame(self.kind, b"\x00" * size)
        interval = self.frame_ms / 1000 / self.speed
        next_at = time.monotonic()
        try:
            while not self.closed.is_set():
                try:
                    item = self._outgoing.get_nowait()
                except asyncio.QueueEmpty:
                    item = silent
                if isinstance(item, asyncio.Future):
                    item.set_result(None)
                    continue
                if item is _CLOSE:
                    await self.writer.drain()
                    self.writer.close()
                    return
                self.writer.write(item)
                await self.writer.drain()
                if item[0] in RATES:  # only audio takes time
                    next_at += interval
                    await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        except (ConnectionError, OSError):
            self.closed.set()

    async def _receive_loop(self) -> None:
        try:
            while True:
                if not self._reading:
                    await asyncio.sleep(0.05)
                    continue
                header = await self.reader.readexactly(3)
                kind, length = struct.unpack(">BH", header)
                payload = await self.reader.readexactly(length)
                if kind == 0x00:
                    self.hung_up_by_gateway = True
                elif kind == self.kind:
                    self.received.append(Received(time.monotonic(), payload))
                else:
                    raise AssertionError(f"the gateway sent kind 0x{kind:02x} on a 0x{self.kind:02x} call")
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        finally:
            self.closed.set()

    async def close(self) -> None:
        self.closed.set()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except (ConnectionError, OSError):
            pass


def main() -> None:
    """A test call by hand: ``python -m tests.phone.simulator --port 9092 --uuid ID --say 8k/a06.wav --press 0``."""
    import argparse

    parser = argparse.ArgumentParser(description="Call 小电's AudioSocket gateway as Asterisk would.")
    parser.add_argument("--port", type=int, default=9092)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--uuid", default=str(uuid_module.uuid4()))
    parser.add_argument("--say", action="append", default=[], help="a fixture (8k/a06.wav) or WAV path, in turn")
    parser.add_argument("--press", default="", help="keys pressed after the last answer, e.g. 0 or 3201000001#")
    parser.add_argument("--out", type=Path, default=Path("heard.wav"), help="everything heard, as a WAV")
    options = parser.parse_args()

    async def call() -> None:
        async with SimulatedCall(options.port, options.uuid, host=options.host) as simulated:
            print("greeting:", f"{(await simulated.hear()).seconds:.1f} s")
            for name in options.say:
                path = Path(name) if Path(name).exists() else FIXTURES / name
                await simulated.say(read_wav(path))
                print(f"{name}: answer {(await simulated.hear()).seconds:.1f} s")
            for key in options.press:
                await simulated.press(key)
            if options.press:
                print(f"after {options.press}: {(await simulated.hear()).seconds:.1f} s")
            await simulated.wait_closed(5)
            options.out.write_bytes(simulated.audio_since(0).wav_bytes())
            print(f"call {options.uuid}: {'closed by 小电' if simulated.closed.is_set() else 'hung up'}; "
                  f"heard audio in {options.out}")

    asyncio.run(call())


if __name__ == "__main__":
    main()
