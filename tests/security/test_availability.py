"""Finding 5 (availability), over real HTTP and WebSockets against a running server with Whisper loaded.

Speech is bounded here to one recognition at a time and one waiting, so a handful of clients is
enough to go beyond the bounds: those beyond are told "请稍等" (a busy message, or 503 with
Retry-After), while typed questions and health checks keep being answered. No timings are asserted.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
import wave
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from assistant.admission import RecognitionGate
from knowledge_base.settings import Settings
from tests.server_fixtures import LiveServer, free_port
from tests.test_server_customer import serve

AUDIO = Path(__file__).parent.parent / "fixtures" / "audio" / "16k"
MAX_WEBSOCKETS = 10


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[LiveServer]:  # type: ignore[no-untyped-def]
    port = free_port()
    settings = Settings(data_dir=tmp_path_factory.mktemp("availability"), speech_enabled=True, demo=True,
                        public_url=f"http://127.0.0.1:{port}", max_concurrent_recognitions=1,
                        recognition_queue=1, max_websockets=MAX_WEBSOCKETS,
                        max_websockets_per_client=MAX_WEBSOCKETS)  # the per-address cap: test_socket_abuse.py
    live_server, server, thread = serve(settings, port)
    yield live_server
    server.should_exit = True
    thread.join(timeout=10)


def _speech(name: str = "a01.wav") -> bytes:
    """A question (我想交电费) then 2 s of quiet, so the server's end-pointing closes the utterance."""
    with wave.open(str(AUDIO / name)) as reader:
        speech = np.frombuffer(reader.readframes(reader.getnframes()), dtype="<i2")
    return np.concatenate([speech, np.zeros(16000 * 2, dtype=np.int16)]).astype("<i2").tobytes()


def _socket(live: LiveServer) -> ClientConnection:
    return connect(live.url.replace("http", "ws") + "/ws/converse", open_timeout=30)


def _stream(socket: ClientConnection, audio: bytes) -> None:
    socket.send(json.dumps({"type": "start"}))
    for start in range(0, len(audio), 640):  # 20 ms frames, as a browser sends them
        socket.send(audio[start:start + 640])


def _first_answer(socket: ClientConnection) -> dict[str, Any]:
    while True:
        message = json.loads(socket.recv(timeout=120))
        if message["type"] != "partial":
            return message


def _text_and_health_while(busy: threading.Event, live: LiveServer) -> list[int]:
    statuses = []
    with httpx.Client(base_url=live.url, timeout=120) as http:
        while not busy.is_set():
            statuses.append(http.post("/api/converse", json={"text": "电费怎么算"}).status_code)
            statuses.append(http.get("/healthz").status_code)
            statuses.append(http.get("/readyz").status_code)
    return statuses


def test_speech_beyond_the_bounds_is_told_to_wait_while_text_and_health_answer(live: LiveServer) -> None:
    audio = _speech()
    answers: list[dict[str, Any]] = []
    done = threading.Event()
    statuses: list[int] = []
    checker = threading.Thread(target=lambda: statuses.extend(_text_and_health_while(done, live)))
    checker.start()

    def client() -> None:
        with _socket(live) as socket:
            _stream(socket, audio)
            answers.append(_first_answer(socket))

    clients = [threading.Thread(target=client) for _ in range(8)]
    try:
        for thread in clients:
            thread.start()
        for thread in clients:
            thread.join()
    finally:
        done.set()
        checker.join()
    kinds = sorted(answer["type"] for answer in answers)
    assert len(answers) == 8 and set(kinds) <= {"reply", "busy"}, answers
    assert "reply" in kinds, "within the bounds, speech is still recognised"
    assert "busy" in kinds, "beyond the bounds, the customer is told to wait instead of joining an endless line"
    busy = next(answer for answer in answers if answer["type"] == "busy")
    assert "请稍等" in busy["detail"] and busy["retry_after"] > 0
    assert statuses and all(status == 200 for status in statuses), statuses


def test_uploads_beyond_the_bounds_get_503_with_retry_after(live: LiveServer) -> None:
    wav = (AUDIO / "a01.wav").read_bytes()
    responses: list[httpx.Response] = []

    def upload() -> None:
        with httpx.Client(base_url=live.url, timeout=120) as http:
            responses.append(http.post("/api/converse/audio", files={"audio": ("q.wav", wav, "audio/wav")}))

    uploads = [threading.Thread(target=upload) for _ in range(6)]
    for thread in uploads:
        thread.start()
    for thread in uploads:
        thread.join()
    statuses = sorted(response.status_code for response in responses)
    assert set(statuses) <= {200, 503} and 200 in statuses and 503 in statuses, statuses
    refused = next(response for response in responses if response.status_code == 503)
    assert "请稍等" in refused.json()["detail"] and int(refused.headers["Retry-After"]) > 0
    # Operators see the same in /metrics (counted since this test process started).
    metrics = httpx.get(f"{live.url}/metrics").text
    counted = {outcome: float(re.search(rf'xiaodian_recognitions_total{{outcome="{outcome}"}} (\S+)', metrics)[1])
               for outcome in ("started", "refused")}
    assert counted["refused"] >= statuses.count(503) and counted["started"] >= statuses.count(200), counted


def test_websocket_connections_are_capped(live: LiveServer) -> None:
    with ExitStack() as open_sockets:
        sockets = [open_sockets.enter_context(_socket(live)) for _ in range(MAX_WEBSOCKETS)]
        for socket in sockets:  # each one works
            socket.send(json.dumps({"type": "stop"}))
            assert json.loads(socket.recv(timeout=30))["type"] == "error"
        with _socket(live) as extra:
            message = json.loads(extra.recv(timeout=30))
            assert message["type"] == "busy" and "请稍后再试" in message["detail"]
            with pytest.raises(ConnectionClosed) as closed:
                extra.recv(timeout=30)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013  # try again later
    deadline = time.monotonic() + 30
    while True:  # the places are given back once those sockets have closed
        with _socket(live) as again:
            again.send(json.dumps({"type": "stop"}))
            if json.loads(again.recv(timeout=30))["type"] == "error":
                break
        assert time.monotonic() < deadline, "closed sockets never gave their places back"
        time.sleep(0.2)


@pytest.mark.parametrize("frame", ["[1]", "null", '"x"', "5", "[]", "true"])
def test_json_frames_that_are_not_objects_get_an_error_and_the_socket_stays(live: LiveServer, frame: str) -> None:
    with _socket(live) as socket:
        socket.send(frame)
        message = json.loads(socket.recv(timeout=30))
        assert message["type"] == "error" and "看不懂" in message["detail"]
        socket.send(json.dumps({"type": "stop"}))  # still listening
        message = json.loads(socket.recv(timeout=30))
        assert message["type"] == "error" and "没有听到" in message["detail"]


def test_queued_speech_of_departed_clients_is_never_recognised(live: LiveServer) -> None:
    gate = live.app.state.recognition_gate
    before = dict(vars(gate))
    audio = _speech()
    for _ in range(6):  # each says something and leaves before any answer
        with _socket(live) as socket:
            _stream(socket, audio)
    deadline = time.monotonic() + 120
    while gate.admitted:  # whatever was still in line or being decoded has finished
        assert time.monotonic() < deadline, "recognitions for departed clients kept running"
        time.sleep(0.1)
    _assert_nothing_answered_for_the_departed(gate, before)


def test_uploads_of_departed_clients_are_not_recognised(live: LiveServer) -> None:
    gate = live.app.state.recognition_gate
    before = dict(vars(gate))
    request = httpx.Request("POST", f"{live.url}/api/converse/audio",
                            files={"audio": ("q.wav", (AUDIO / "a02.wav").read_bytes(), "audio/wav")})
    head = f"POST /api/converse/audio HTTP/1.1\r\nHost: {request.url.netloc.decode()}\r\n" + "".join(
        f"{name}: {value}\r\n" for name, value in request.headers.items() if name.lower() != "host")
    wire = head.encode() + b"\r\n" + request.read()
    for _ in range(4):  # each sends a question and hangs up without waiting for the answer
        with socket.create_connection(("127.0.0.1", int(live.url.rsplit(":", 1)[1]))) as connection:
            connection.sendall(wire)
    deadline = time.monotonic() + 120
    while gate.admitted or _dealt_with(gate, before) < 4:
        assert time.monotonic() < deadline, "uploads of departed clients were still being worked on"
        time.sleep(0.1)
    _assert_nothing_answered_for_the_departed(gate, before)


def _dealt_with(gate: RecognitionGate, before: dict[str, Any]) -> int:
    return sum(getattr(gate, count) - before[count] for count in ("started", "dropped", "refused"))


def _assert_nothing_answered_for_the_departed(gate: RecognitionGate, before: dict[str, Any]) -> None:
    """Those still in line were dropped unstarted; any decode already begun was stopped, not finished."""
    counts = {count: getattr(gate, count) - before[count] for count in ("started", "stopped", "dropped", "refused")}
    assert counts["dropped"] >= 1 and counts["started"] == counts["stopped"], counts
