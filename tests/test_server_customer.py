"""The customer side of the service over real HTTP: conversation API, speech, payment pages, metrics."""

from __future__ import annotations

import io
import json
import threading
import time
import wave
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import httpx
import numpy as np
import pytest
import uvicorn
from sqlmodel import select

from knowledge_base.settings import Settings
from knowledge_base.db import session
from knowledge_base.models import Bill, Payment
from server.app import create_app
from tests.server_fixtures import LiveServer, free_port

FIXTURES = Path(__file__).parent / "fixtures" / "audio"


def serve(settings: Settings, port: int) -> tuple[LiveServer, uvicorn.Server, threading.Thread]:
    app = create_app(settings)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    url = f"http://127.0.0.1:{port}"
    while True:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not become ready"
        try:
            if server.started and httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    return LiveServer(app, url), server, thread


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[LiveServer]:  # type: ignore[no-untyped-def]
    """One real server with the recogniser loaded, shared by this module's tests."""
    data_dir = tmp_path_factory.mktemp("customer")
    port = free_port()
    settings = Settings(data_dir=data_dir, speech_enabled=True, public_url=f"http://127.0.0.1:{port}", demo=True)
    live_server, server, thread = serve(settings, port)
    yield live_server
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def http(live: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live.url, timeout=30) as client:
        yield client


def wav_bytes(samples: np.ndarray, rate: int = 16000) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.astype("<i2").tobytes())
    return buffer.getvalue()


def test_ready_reports_every_part(http: httpx.Client) -> None:
    body = http.get("/readyz").json()
    assert body["ready"] and body["checks"]["speech"] and body["intents"] >= 35
    assert http.get("/healthz").json() == {"status": "ok"}


def test_text_turns_keep_the_session(http: httpx.Client) -> None:
    first = http.post("/api/converse", json={"text": "上个月电费多少"}).json()
    assert "户号" in first["text"] and first["session_id"]
    second = http.post("/api/converse", json={"text": "3201000001", "session_id": first["session_id"]}).json()
    assert "128.50元" in second["text"] and second["session_id"] == first["session_id"]
    assert second["speech_url"].startswith("/api/speech/")


@pytest.mark.parametrize("payload", [{}, {"text": "x" * 5000}, {"text": "你好", "account": "12345"},
                                     {"text": "你好", "channel": "fax"}])
def test_bad_requests_are_refused_clearly(http: httpx.Client, payload: dict) -> None:  # type: ignore[type-arg]
    response = http.post("/api/converse", json=payload)
    assert response.status_code == 422


@pytest.mark.parametrize("text", ["'; DROP TABLE account; --", "1 OR 1=1", "../../etc/passwd", "<script>alert(1)</script>"])
def test_hostile_text_is_just_text(http: httpx.Client, text: str) -> None:
    reply = http.post("/api/converse", json={"text": text}).json()
    assert reply["text"] and reply["intent"] in ("none", "human_agent")
    assert http.post("/api/converse", json={"text": "上个月电费多少", "account": "3201000001"}).status_code == 200


def test_spoken_answer_is_a_wav(http: httpx.Client) -> None:
    reply = http.post("/api/converse", json={"text": "营业厅几点开门"}).json()
    audio = http.get(reply["speech_url"])
    assert audio.status_code == 200 and audio.headers["content-type"] == "audio/wav"
    with wave.open(io.BytesIO(audio.content)) as reader:
        assert reader.getframerate() == 16000 and reader.getnframes() / 16000 > 2
    phone = http.post("/api/converse", json={"text": "营业厅几点开门", "channel": "phone"}).json()
    with wave.open(io.BytesIO(http.get(phone["speech_url"]).content)) as reader:
        assert reader.getframerate() == 8000


@pytest.mark.parametrize("path", ["/api/speech/unknown.wav", "/api/speech/..%2F..%2Fetc%2Fpasswd.wav",
                                  "/api/speech/" + "a" * 32 + ".wav"])
def test_unknown_speech_is_404(http: httpx.Client, path: str) -> None:
    assert http.get(path).status_code == 404


def test_audio_question_is_heard_and_answered(http: httpx.Client) -> None:
    wav = (FIXTURES / "16k" / "a01.wav").read_bytes()  # 我想交电费
    response = http.post("/api/converse/audio", files={"audio": ("q.wav", wav, "audio/wav")}, data={"channel": "kiosk"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["transcript"] and body["reply"]["intent"] == "pay_bill"


def test_audio_problems_are_clear(http: httpx.Client) -> None:
    too_big = http.post("/api/converse/audio", files={"audio": ("q.wav", b"0" * (5 * 1024 * 1024 + 10))})
    assert too_big.status_code == 413 and "太长" in too_big.json()["detail"]
    not_wav = http.post("/api/converse/audio", files={"audio": ("q.wav", b"hello there")})
    assert not_wav.status_code == 422 and "WAV" in not_wav.json()["detail"]
    silent = http.post("/api/converse/audio", files={"audio": ("q.wav", wav_bytes(np.zeros(32000)))})
    assert silent.status_code == 422 and "没有听到" in silent.json()["detail"]
    missing = http.post("/api/converse/audio", data={"channel": "kiosk"})
    assert missing.status_code == 422


def test_websocket_stream_gets_a_reply(live: LiveServer) -> None:
    from websockets.sync.client import connect

    with wave.open(str(FIXTURES / "16k" / "a13.wav")) as reader:
        speech = np.frombuffer(reader.readframes(reader.getnframes()), dtype="<i2")
    audio = np.concatenate([speech, np.zeros(16000 * 2, dtype=np.int16)])  # then 2 s of quiet
    with connect(live.url.replace("http", "ws") + "/ws/converse") as socket:
        socket.send(json.dumps({"type": "start"}))
        for start in range(0, len(audio), 320):  # 20 ms frames, as a browser sends them
            socket.send(audio[start : start + 320].astype("<i2").tobytes())
        message = json.loads(socket.recv(timeout=30))
    assert message["type"] == "reply" and message["transcript"] and message["reply"]["text"]


def test_pay_by_link_through_the_sandbox(live: LiveServer, http: httpx.Client) -> None:
    # Issue 8: the bare `account` field is ignored; saying the 户号 names the account, enough to pay.
    session_id = http.post("/api/converse", json={"text": "户号3201000003，我要交电费"}).json()["session_id"]
    reply = http.post("/api/converse", json={"text": "对", "session_id": session_id}).json()
    path = urlparse(reply["pay_url"]).path
    page = http.get(path)
    assert page.status_code == 200 and "王*强" in page.text and "167.77" in page.text
    cashier = http.post(path)
    assert cashier.status_code == 303 and "/sandbox-pay/" in cashier.headers["location"]
    again = http.post(path)  # a double click: the same order
    assert again.headers["location"] == cashier.headers["location"]
    cashier_page = http.get(cashier.headers["location"])
    assert "沙箱" in cashier_page.text and "167.77" in cashier_page.text
    order_path = urlparse(cashier.headers["location"]).path
    back = http.post(order_path, data={"return_to": f"{path}/done"})
    assert back.status_code == 303 and back.headers["location"] == f"{path}/done"
    deadline = time.monotonic() + 10
    while "付款成功" not in http.get(f"{path}/done").text:  # the notification arrives by itself
        assert time.monotonic() < deadline, "payment notification never arrived"
        time.sleep(0.2)
    with session(live.app.state.engine) as db:
        assert db.exec(select(Bill).where(Bill.account_number == "3201000003")).one().paid_at is not None
        assert len(db.exec(select(Payment)).all()) == 1
    used = http.get(path)
    assert used.status_code == 410 and "已经" in used.text


def test_tampered_and_unknown_links_get_a_chinese_page(http: httpx.Client) -> None:
    tampered = http.get("/pay/abc.123.def")
    assert tampered.status_code == 404 and "链接" in tampered.text


def test_metrics_count_turns(http: httpx.Client) -> None:
    http.post("/api/converse", json={"text": "转人工"})
    text = http.get("/metrics").text
    assert 'xiaodian_turns_total{channel="web"}' in text
    assert 'xiaodian_handoffs_total{reason="asked"}' in text
    assert "xiaodian_turn_seconds_bucket" in text
