"""Microphone sockets that one client could use to take voice away from everyone else.

Found by attacking issue 8's fixes: one address could hold every socket open while silent,
and audio sent faster than real time made the server end-point it as fast as it arrived,
starving the event loop (health checks took seconds). Real server, real WebSockets.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import ExitStack

import httpx
import numpy as np
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from knowledge_base.settings import Settings
from tests.server_fixtures import LiveServer, free_port
from tests.test_server_customer import serve

PER_CLIENT = 2
IDLE_S = 2.0


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[LiveServer]:  # type: ignore[no-untyped-def]
    port = free_port()
    settings = Settings(data_dir=tmp_path_factory.mktemp("sockets"), speech_enabled=False, demo=True,
                        public_url=f"http://127.0.0.1:{port}", max_websockets=10,
                        max_websockets_per_client=PER_CLIENT, websocket_idle_s=IDLE_S)
    live_server, server, thread = serve(settings, port)
    yield live_server
    server.should_exit = True
    thread.join(timeout=10)


def _socket(live: LiveServer) -> ClientConnection:
    return connect(live.url.replace("http", "ws") + "/ws/converse", open_timeout=30)


def _closed_with(socket: ClientConnection, within_s: float) -> tuple[list[dict], int | None]:
    """Messages received until the server closes the socket, and its close code."""
    messages = []
    deadline = time.monotonic() + within_s
    try:
        while time.monotonic() < deadline:
            frame = socket.recv(timeout=max(0.1, deadline - time.monotonic()))
            if isinstance(frame, str):
                messages.append(json.loads(frame))
    except ConnectionClosed as closed:
        return messages, closed.rcvd.code if closed.rcvd else None
    except TimeoutError:
        pass
    return messages, None


def test_one_address_cannot_hold_every_microphone_socket(live: LiveServer) -> None:
    with ExitStack() as held:
        for _ in range(PER_CLIENT):
            held.enter_context(_socket(live)).send(json.dumps({"type": "start"}))
        with _socket(live) as extra:
            messages, code = _closed_with(extra, 10)
        assert code == 1013 and messages and messages[0]["type"] == "busy"
    with _socket(live) as again:  # places are given back when sockets close
        again.send(json.dumps({"type": "nonsense"}))
        assert json.loads(again.recv(timeout=10))["type"] == "error"


def test_a_silent_socket_is_closed_after_the_idle_time(live: LiveServer) -> None:
    with _socket(live) as socket:
        socket.send(json.dumps({"type": "start"}))
        messages, code = _closed_with(socket, IDLE_S * 5)
    assert code == 1000, (code, messages)
    assert any("很久" in message.get("detail", "") for message in messages), messages


def test_audio_sent_much_faster_than_real_time_is_refused_and_health_answers(live: LiveServer) -> None:
    noise = (np.random.default_rng(7).normal(0, 3000, 16000 * 60)).astype("<i2").tobytes()  # a minute of sound
    closed = False
    with _socket(live) as socket:
        socket.send(json.dumps({"type": "start"}))
        try:
            for start in range(0, len(noise), 6400):  # 200 ms frames, as fast as the socket takes them
                socket.send(noise[start:start + 6400])
        except ConnectionClosed:
            closed = True
        messages, code = _closed_with(socket, 15)
    assert closed or code == 1008, (code, messages)
    assert any("太快" in message.get("detail", "") for message in messages), messages
    assert httpx.get(f"{live.url}/healthz", timeout=5).status_code == 200
