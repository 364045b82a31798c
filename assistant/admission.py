"""Admission control for speech: a few recognitions at a time, a short queue, "请稍等" beyond it.

Recognition is the one expensive thing a customer can ask for (about a second of both
cores per utterance). Unbounded, 50 streaming clients queued 50 decodes in the thread
pool that also serves text turns and health checks: /healthz took 45 s, text turns over
a minute, and decodes for clients who had long gone kept running for ten minutes.

So every recognition passes a ``RecognitionGate``: ``slots`` run at once in threads of
their own (never the shared pool), ``queue`` more may wait, and anyone beyond that is
told to wait a moment (``RecognitionBusy``) instead of joining an endless line. Work
whose client has left is never started: a waiting caller that is cancelled leaves the
line at once, and the ``departed`` flag is checked again just before decoding starts and
handed to the recogniser, which checks it between segments.

``ConnectionCap`` bounds how many long-lived connections (WebSockets) are open at once.
Both are channel-independent: the WebSocket, the upload route and a phone-line gateway
can share one gate.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import anyio
import anyio.to_thread

from assistant.speech.recognizer import RecognitionStopped

T = TypeVar("T")

# Measured here: about 0.7-1.0 s of decoding per short utterance on this machine's 2 cores;
# the advice to come back is rounded up generously so a retry is likely to be let in.
SECONDS_PER_RECOGNITION = 2


class RecognitionBusy(Exception):
    """Every slot and every queue place is taken: ask the customer to try again shortly."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"recognition busy, retry after {retry_after_s} s")
        self.retry_after_s = retry_after_s


class ClientDeparted(Exception):
    """The client left before its recognition started; nothing was decoded."""


class RecognitionGate:
    """At most ``slots`` recognitions running and ``queue`` waiting; the rest are refused."""

    def __init__(self, slots: int, queue: int, observe: Callable[[str], None] = lambda outcome: None) -> None:
        self.slots = max(1, slots)
        self.queue = max(0, queue)
        self._admitted = 0  # running + waiting; changed only on the event loop
        self._limiter: tuple[asyncio.AbstractEventLoop, anyio.CapacityLimiter] | None = None
        self._counts = threading.Lock()
        self.started = 0  # recognitions that actually ran
        self.dropped = 0  # admitted, but their client left before a slot came free
        self.stopped = 0  # started, then given up part-way because their client left
        self.refused = 0  # told "请稍等"
        self.observe = observe  # told each outcome above by name (the service's metrics)

    @property
    def admitted(self) -> int:
        return self._admitted

    def _slots_limiter(self) -> anyio.CapacityLimiter:
        # A limiter belongs to one event loop; tests start several apps, each in its own loop.
        loop = asyncio.get_running_loop()
        if self._limiter is None or self._limiter[0] is not loop:
            self._limiter = (loop, anyio.CapacityLimiter(self.slots))
        return self._limiter[1]

    def retry_after_s(self) -> int:
        """Roughly how long until the line in front of a newcomer has been decoded."""
        return max(SECONDS_PER_RECOGNITION, math.ceil(self._admitted / self.slots) * SECONDS_PER_RECOGNITION)

    async def run(self, recognize: Callable[[Callable[[], bool]], T], departed: threading.Event) -> T:
        """Run ``recognize(stop)`` in a thread of the gate's own when a slot is free.

        Raises ``RecognitionBusy`` at once when the queue is full, and ``ClientDeparted``
        when ``departed`` was set before a slot came free. Cancelling the caller while it
        waits takes it out of the line without decoding anything.
        """
        if self._admitted >= self.slots + self.queue:
            self.refused += 1
            self.observe("refused")
            raise RecognitionBusy(self.retry_after_s())
        self._admitted += 1
        began = threading.Event()
        try:
            return await anyio.to_thread.run_sync(self._unless_departed, recognize, departed, began,
                                                  limiter=self._slots_limiter())
        except anyio.get_cancelled_exc_class():
            if not began.is_set():  # left the line while waiting
                with self._counts:
                    self.dropped += 1
                self.observe("dropped")
            raise
        finally:
            self._admitted -= 1

    def _unless_departed(self, recognize: Callable[[Callable[[], bool]], T], departed: threading.Event,
                         began: threading.Event) -> T:
        with self._counts:
            departed_already = departed.is_set()
            if departed_already:
                self.dropped += 1
            else:
                self.started += 1
        self.observe("dropped" if departed_already else "started")
        if departed_already:
            raise ClientDeparted()
        began.set()
        try:
            return recognize(departed.is_set)
        except RecognitionStopped:
            with self._counts:
                self.stopped += 1
            self.observe("stopped")
            raise ClientDeparted() from None


class ConnectionCap:
    """At most ``limit`` connections open at once, and ``per_client`` from one client (thread-safe)."""

    def __init__(self, limit: int, per_client: int | None = None) -> None:
        self.limit = limit
        self.per_client = per_client
        self._open = 0
        self._by_client: dict[str, int] = {}
        self._lock = threading.Lock()

    @property
    def open(self) -> int:
        return self._open

    @contextmanager
    def slot(self, client: str = "") -> Iterator[bool]:
        """Yields whether this connection got a place; the place is given back on exit."""
        with self._lock:
            mine = self._by_client.get(client, 0)
            admitted = self._open < self.limit and (self.per_client is None or mine < self.per_client)
            if admitted:
                self._open += 1
                self._by_client[client] = mine + 1
        try:
            yield admitted
        finally:
            if admitted:
                with self._lock:
                    self._open -= 1
                    left = self._by_client[client] - 1
                    if left:
                        self._by_client[client] = left
                    else:
                        del self._by_client[client]


class AudioPace:
    """How much audio a socket may send: ``speed`` times real time after a ``burst``.

    End-pointing costs CPU per frame on the event loop; a client streaming far faster than
    anyone speaks would take the loop from everyone (health checks took seconds). Audio
    beyond the pace is dropped; a client that keeps pushing past it (``overage_close_s``
    of audio dropped) is disconnected.
    """

    def __init__(self, speed: float = 2.0, burst_s: float = 15.0, overage_close_s: float = 15.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.speed = speed
        self.burst_s = burst_s
        self.overage_close_s = overage_close_s
        self._clock = clock
        self._allowance = burst_s
        self._last = clock()
        self.dropped_s = 0.0

    def admit(self, seconds: float) -> bool:
        """Whether this much audio may be processed now; if not it is counted as dropped."""
        now = self._clock()
        self._allowance = min(self.burst_s, self._allowance + (now - self._last) * self.speed)
        self._last = now
        if seconds <= self._allowance:
            self._allowance -= seconds
            return True
        self.dropped_s += seconds
        return False

    @property
    def exhausted(self) -> bool:
        return self.dropped_s >= self.overage_close_s
