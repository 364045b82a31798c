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

    def __init__(self, slots: int, queue: int) -> None:
        self.slots = max(1, slots)
        self.queue = max(0, queue)
        self._admitted = 0  # running + waiting; changed only on the event loop
        self._limiter: tuple[asyncio.AbstractEventLoop, anyio.CapacityLimiter] | None = None
        self._counts = threading.Lock()
        self.started = 0  # recognitions that actually ran
        self.dropped = 0  # admitted, but their client left before a slot came free
        self.stopped = 0  # started, then given up part-way because their client left
        self.refused = 0  # told "请稍等"

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
            raise
        finally:
            self._admitted -= 1

    def _unless_departed(self, recognize: Callable[[Callable[[], bool]], T], departed: threading.Event,
                         began: threading.Event) -> T:
        with self._counts:
            if departed.is_set():
                self.dropped += 1
                raise ClientDeparted()
            self.started += 1
        began.set()
        try:
            return recognize(departed.is_set)
        except RecognitionStopped:
            with self._counts:
                self.stopped += 1
            raise ClientDeparted() from None


class ConnectionCap:
    """At most ``limit`` connections open at once (thread-safe: tests run apps in several threads)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open = 0
        self._lock = threading.Lock()

    @property
    def open(self) -> int:
        return self._open

    @contextmanager
    def slot(self) -> Iterator[bool]:
        """Yields whether this connection got a place; the place is given back on exit."""
        with self._lock:
            admitted = self._open < self.limit
            if admitted:
                self._open += 1
        try:
            yield admitted
        finally:
            if admitted:
                with self._lock:
                    self._open -= 1
