"""Two real worker processes sharing one database, as two machines behind a load balancer would.

Each worker is ``xiaodian serve`` in its own process, with its own data folder (so its own
speech cache and metrics) and the same database: SQLite (one machine) and PostgreSQL (the
scale-out store). The only thing copied between them is the data folder's ``secrets/``, as
the README's scale-out section tells operators to. Requests alternate between the two, so
anything kept in one process's memory would show up as a broken conversation.
"""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from assistant.accounts import create_user
from assistant.sessions import SessionStore
from assistant.kiosk_devices import sign_card_read
from knowledge_base.db import make_engine, session
from knowledge_base.models import KioskDevice
from tests.postgres import fresh_database, postgres_url  # noqa: F401  (fixture)
from tests.server_fixtures import free_port, login, stop_process, wait_until_ready

ROOT = Path(__file__).resolve().parent.parent
XIAODIAN = Path(sys.executable).with_name("xiaodian")
ADMIN = ("scale-admin", "scale-admin-password-1")
NEW_HALL_ANSWER = "营业厅今天起每天早上八点开门，晚上六点关门。"


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    url: str
    data_dir: Path
    log: Path

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)


def _start_worker(data_dir: Path, database_url: str, port: int, public_url: str) -> Worker:
    env = {**os.environ, "XIAODIAN_DATA_DIR": str(data_dir), "XIAODIAN_DATABASE_URL": database_url,
           "XIAODIAN_DEMO": "true", "XIAODIAN_SPEECH_ENABLED": "false", "XIAODIAN_PUBLIC_URL": public_url}
    data_dir.mkdir(parents=True, exist_ok=True)
    log = data_dir.parent / f"{data_dir.name}.log"
    with open(log, "wb") as output:
        process = subprocess.Popen([str(XIAODIAN), "serve", "--port", str(port)], cwd=ROOT, env=env,
                                   stdout=output, stderr=subprocess.STDOUT)
    worker = Worker(process, f"http://127.0.0.1:{port}", data_dir, log)
    _wait_ready(worker)
    return worker


def _wait_ready(worker: Worker) -> None:
    wait_until_ready(worker.url, worker.process, worker.log.read_text)


def _stop(worker: Worker) -> None:
    stop_process(worker.process, timeout_s=20)


@dataclass
class Pair:
    first: Worker
    second: Worker
    database_url: str


@contextmanager
def two_workers(tmp_path: Path, database_url: str) -> Iterator[Pair]:
    port_a, port_b = free_port(), free_port()
    public_url = f"http://127.0.0.1:{port_a}"  # where the sandbox sends payment notifications
    with ExitStack() as stack:
        first = _start_worker(tmp_path / "machine-a", database_url, port_a, public_url)
        stack.callback(_stop, first)
        # The one thing copied from machine to machine: payment-link and provider secrets.
        shutil.copytree(first.data_dir / "secrets", tmp_path / "machine-b" / "secrets")
        second = _start_worker(tmp_path / "machine-b", database_url, port_b, public_url)
        stack.callback(_stop, second)
        engine = make_engine(database_url)
        create_user(engine, ADMIN[0], "admin", ADMIN[1])
        engine.dispose()
        yield Pair(first, second, database_url)


@pytest.fixture(params=["sqlite", "postgres"])
def workers(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Pair]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'shared.db'}"
    else:
        url = fresh_database(request.getfixturevalue("postgres_url"), "scale_out")
    with two_workers(tmp_path, url) as pair:
        yield pair


def _say(worker: Worker, text: str, session_id: str | None = None) -> dict[str, Any]:
    with worker.client() as http:
        response = http.post("/api/converse", json={"text": text, "session_id": session_id})
    assert response.status_code == 200, response.text
    return response.json()


def test_a_payment_conversation_alternating_between_workers_completes(workers: Pair) -> None:
    first, second = workers.first, workers.second
    asked = _say(first, "我要交电费")
    named = _say(second, "3201000003", asked["session_id"])
    assert named["session_id"] == asked["session_id"]
    assert "167.77" in named["text"], named["text"]  # the amount due, asking to confirm
    confirmed = _say(first, "对", named["session_id"])
    assert confirmed["pay_url"], confirmed["text"]
    with second.client() as http:  # the link made by one worker opens on the other
        page = http.get(urlparse(confirmed["pay_url"]).path)
    assert page.status_code == 200 and "167.77" in page.text


def test_a_killed_worker_loses_nothing_mid_confirmation(workers: Pair) -> None:
    first, second = workers.first, workers.second
    asked = _say(first, "户号3201000003，我要交电费")
    assert "167.77" in asked["text"], asked["text"]
    first.process.send_signal(signal.SIGKILL)  # no graceful shutdown: nothing can be saved on the way out
    first.process.wait()
    confirmed = _say(second, "对", asked["session_id"])
    assert confirmed["pay_url"], confirmed["text"]


def test_an_admin_edit_through_one_worker_is_answered_by_the_other(workers: Pair) -> None:
    first, second = workers.first, workers.second
    assert NEW_HALL_ANSWER not in _say(second, "营业厅几点开门")["text"]
    with first.client() as admin:
        assert login(admin, *ADMIN).status_code == 303
        current = admin.get("/api/admin/intents/hall_info").json()
        body = {key: current[key] for key in ("title", "description", "examples", "keywords", "answer_display",
                                              "action", "needs_account", "version")}
        saved = admin.put("/api/admin/intents/hall_info", json={**body, "answer_display": NEW_HALL_ANSWER})
        assert saved.status_code == 200, saved.text
    assert _say(second, "营业厅几点开门")["text"] == NEW_HALL_ANSWER


def test_turns_of_one_session_sent_to_both_workers_at_once_are_all_kept(workers: Pair) -> None:
    """A double tap, or a kiosk retrying through the other machine: no turn overwrites another's."""
    session_id = _say(workers.first, "你好")["session_id"]
    per_worker = 8
    with ThreadPoolExecutor(max_workers=2) as pool:
        sent = [pool.submit(lambda worker: [_say(worker, "营业厅几点开门", session_id) for _ in range(per_worker)], worker)
                for worker in (workers.first, workers.second)]
        replies = [reply for future in sent for reply in future.result()]
    assert all(reply["session_id"] == session_id for reply in replies)
    engine = make_engine(workers.database_url)
    try:
        with engine.connect() as connection:
            stored = SessionStore(engine).load(connection, session_id)
    finally:
        engine.dispose()
    assert stored is not None
    said = [turn for turn in stored.state.transcript if turn.speaker == "customer"]
    assert len(said) == 1 + 2 * per_worker  # every turn, none lost to a concurrent save
    assert stored.version == 1 + 2 * per_worker


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_a_speech_id_made_on_one_worker_is_served_by_the_other(workers: Pair) -> None:
    first, second = workers.first, workers.second
    reply = _say(first, "营业厅几点开门")
    with second.client() as http:
        audio = http.get(reply["speech_url"])
    assert audio.status_code == 200 and audio.headers["content-type"] == "audio/wav"
    assert audio.content[:4] == b"RIFF" and len(audio.content) > 10_000


def test_metrics_count_every_workers_turns(tmp_path: Path) -> None:
    """``--workers 2`` behind one port: whichever worker answers /metrics counts the turns of both."""
    port = free_port()
    env = {**os.environ, "XIAODIAN_DATA_DIR": str(tmp_path / "data"), "XIAODIAN_DEMO": "true",
           "XIAODIAN_SPEECH_ENABLED": "false"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log = tmp_path / "serve.log"
    with open(log, "wb") as output:
        process = subprocess.Popen([str(XIAODIAN), "serve", "--port", str(port), "--workers", "2"], cwd=ROOT,
                                   env=env, stdout=output, stderr=subprocess.STDOUT)
    worker = Worker(process, f"http://127.0.0.1:{port}", tmp_path / "data", log)
    try:
        _wait_ready(worker)
        for _ in range(20):  # a new connection each time, so both workers take some
            _say(worker, "营业厅几点开门")
        for _ in range(6):
            with worker.client() as http:
                text = http.get("/metrics").text
            assert 'xiaodian_turns_total{channel="web"} 20.0' in text, log.read_text()[-2000:]
        # Each worker writes its own files there (prometheus_client makes a histogram's on import).
        assert len(list((tmp_path / "data" / "metrics").glob("histogram_*.db"))) == 2
    finally:
        _stop(worker)


def test_a_card_read_replayed_to_the_other_worker_is_refused(workers: Pair) -> None:
    key = Ed25519PrivateKey.generate()
    engine = make_engine(workers.database_url)
    with session(engine) as db:
        public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        db.add(KioskDevice(id="hall-kiosk-1", public_key=base64.b64encode(public).decode()))
        db.commit()
    engine.dispose()
    card = asdict(sign_card_read(key, "hall-kiosk-1", "3201000001", secrets.token_hex(16)))
    question = {"text": "上个月用了多少度电", "channel": "kiosk", "card": card}
    with workers.first.client() as http:
        assert "242" in http.post("/api/converse", json=question).json()["text"]  # the card holder's usage
    with workers.second.client() as http:
        replayed = http.post("/api/converse", json=question).json()
    assert "242" not in replayed["text"], replayed["text"]
