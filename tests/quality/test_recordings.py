"""Listening in the review (issue 15): a spoken turn keeps the customer's own words, a reviewer hears
them and the answer on the review page, only admins and reviewers may, every listen is audited, and
the recordings go when their time is up (or at once when recordings_days is 0)."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from collections.abc import Iterator
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import httpx
import numpy as np
import pytest
from sqlmodel import select

from assistant.phone.gateway import GREETING, KEYS_ANNOUNCEMENT, with_recording_notice
from assistant.phone.line import build_line, line_config, standalone_pipeline
from assistant.recordings import RecordingKeeper, decode, keeper_for
from assistant.retention import DailyTurnLogPurge, purge_recordings, purge_turn_log
from assistant.speech.audio import Audio, read_wav
from assistant.speech.vad import EndpointConfig, Endpointer
from knowledge_base.db import make_engine, migrate, session
from knowledge_base.models import AuditLog, Recording, ReviewSample, TurnLog, service_today, utc_now
from knowledge_base.settings import Settings
from server.routes.customer import _recordings
from tests.browser_fixtures import browser, log_in  # noqa: F401  (fixture)
from tests.postgres import fresh_database, postgres_url  # noqa: F401  (fixture)
from tests.quality.support import reviewer_client
from tests.server_fixtures import LiveServer, live_login, serving

CLIP = Path(__file__).resolve().parent.parent / "fixtures" / "audio" / "16k" / "a01.wav"  # 我想交电费
FRAME = 320  # 20 ms at 16 kHz, as the kiosk page sends it


@pytest.fixture(scope="module")
def speaking(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A real server with Whisper loaded (espeak speaks: the quickest voice to answer with)."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("recordings") / "data", speech_enabled=True, demo=True,
                        voice="espeak", staff_poll_s=0.2)
    with serving(settings) as live:
        deadline = time.monotonic() + 120
        while httpx.get(f"{live.url}/readyz", timeout=5).status_code != 200:
            assert time.monotonic() < deadline, "speech never became ready"
            time.sleep(0.2)
        yield live


def _utterance(samples: np.ndarray, settings: Settings) -> Audio:
    """What the socket's end-pointer cuts from these frames when the page says stop after them."""
    endpointer = Endpointer(16000, EndpointConfig(end_silence_s=settings.end_silence_s,
                                                  max_utterance_s=settings.max_utterance_s))
    for start in range(0, len(samples), FRAME):
        assert endpointer.feed(Audio(samples[start:start + FRAME], 16000)) is None
    utterance = endpointer.flush()
    assert utterance is not None
    return utterance


def _say_on_the_kiosk(server: LiveServer, samples: np.ndarray) -> dict:  # type: ignore[type-arg]
    from websockets.sync.client import connect

    with connect(server.url.replace("http", "ws") + "/ws/converse") as socket:
        socket.send(json.dumps({"type": "start", "channel": "kiosk"}))
        for start in range(0, len(samples), FRAME):
            socket.send(samples[start:start + FRAME].astype("<i2").tobytes())
        socket.send(json.dumps({"type": "stop"}))  # the customer lets go of 按住说话
        while (message := json.loads(socket.recv(timeout=60)))["type"] != "reply":
            assert message["type"] in ("partial", "recognizing"), message
    return message


def _kept(engine, turn: TurnLog) -> Recording:  # type: ignore[no-untyped-def]
    """The turn's recording, once the writer thread has stored it (it never holds the answer back)."""
    deadline = time.monotonic() + 15
    while True:
        with session(engine) as db:
            found = db.get(Recording, turn.recording)
        if found is not None:
            return found
        assert time.monotonic() < deadline, "the recording was never stored"
        time.sleep(0.05)


@pytest.mark.slow  # Whisper loads and decodes: about 15 s on a quiet machine
def test_a_spoken_turn_is_kept_and_a_reviewer_hears_it(speaking: LiveServer, browser) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    engine = speaking.app.state.engine
    samples = read_wav(CLIP).samples
    said = _say_on_the_kiosk(speaking, samples)
    assert said["reply"]["intent"] == "pay_bill"
    session_id = said["reply"]["session_id"]
    converse_typed = httpx.post(f"{speaking.url}/api/converse", timeout=30,
                                json={"text": "营业厅几点开门", "session_id": session_id, "channel": "kiosk"})
    assert converse_typed.status_code == 200
    with session(engine) as db:
        spoken, typed = db.exec(select(TurnLog).where(TurnLog.session_id == session_id).order_by(TurnLog.id)).all()
    assert typed.recording is None  # typed words have no voice to keep
    assert spoken.recording and spoken.recording != session_id and len(spoken.recording) == 32
    kept = _kept(engine, spoken)

    # The customer's own words: as long as the utterance the end-pointer cut, and not silence.
    utterance = _utterance(samples, speaking.app.state.settings)
    assert kept.channel == "kiosk" and kept.sample_rate == 16000
    assert abs(kept.duration_ms / 1000 - utterance.seconds) <= 0.1
    heard = decode(kept.audio)
    assert abs(heard.seconds - utterance.seconds) <= 0.1
    rms = float(np.sqrt(np.mean(heard.float32() ** 2)))
    original = float(np.sqrt(np.mean(utterance.float32() ** 2)))
    assert rms > 0.5 * original > 0.01, (rms, original)
    assert len(kept.audio) < utterance.seconds * 2500  # compressed: Opus speech, not 32 kB/s PCM

    with session(engine) as db:
        sample = ReviewSample(day=service_today(), session_id=session_id, channel="kiosk", picked_for="stratum")
        db.add(sample)
        db.commit()
        sample_id = sample.id
    base = f"/api/admin/quality/samples/{sample_id}/turns"
    with closing(reviewer_client(speaking)) as reviewer:
        page = reviewer.get(f"/admin/quality/samples/{sample_id}").text
        # One player for what the customer said (the spoken turn), one per answer.
        assert page.count("听客户原话") == 1 and page.count("听小电的回答") == 2
        assert f'src="{base}/{spoken.id}/recording.webm"' in page and f"{base}/{typed.id}/recording.webm" not in page
        assert page.count('<audio controls preload="none"') == 3 and session_id not in page
        listened = reviewer.get(f"{base}/{spoken.id}/recording.webm")
        assert listened.status_code == 200 and listened.headers["content-type"] == "audio/webm"
        assert listened.headers["cache-control"] == "no-store" and listened.content == kept.audio
        answer = reviewer.get(f"{base}/{typed.id}/answer.wav")
        assert answer.status_code == 200 and answer.headers["content-type"] == "audio/wav"
        assert read_wav(answer.content).seconds > 1.0
        assert reviewer.get(f"{base}/{typed.id}/recording.webm").status_code == 404  # typed: nothing to hear
        with session(engine) as db:
            other = db.exec(select(TurnLog).where(TurnLog.session_id != session_id)).first()
        if other is not None:  # a turn outside the sample is out of reach, recording or not
            assert reviewer.get(f"{base}/{other.id}/recording.webm").status_code == 404
    with session(engine) as db:
        audits = db.exec(select(AuditLog).where(AuditLog.entity == "recording")).all()
    assert [(a.actor, a.entity_id, a.action) for a in audits] == [("reviewer1", str(spoken.id), "listen")]
    assert audits[0].after == {"sample": sample_id, "turn": spoken.id}  # who and which turn, nothing said

    with closing(live_login(speaking, "staff1")) as staff:
        assert staff.get(f"{base}/{spoken.id}/recording.webm").status_code == 403
        assert staff.get(f"{base}/{spoken.id}/answer.wav").status_code == 403
    assert httpx.get(f"{speaking.url}{base}/{spoken.id}/recording.webm").status_code == 401
    with closing(live_login(speaking, "admin1")) as admin:
        assert admin.get(f"{base}/{spoken.id}/recording.webm").status_code == 200

    # The page's own players, in Chromium: both load and last as long as what they hold.
    page = log_in(browser, speaking, "admin1")
    page.goto(f"{speaking.url}/admin/quality/samples/{sample_id}")
    durations = page.evaluate("""() => Promise.all([...document.querySelectorAll('audio')].map(audio =>
        new Promise((resolve, reject) => {
            audio.onloadedmetadata = () => resolve([audio.getAttribute('aria-labelledby'), audio.duration]);
            audio.onerror = () => reject(new Error(audio.src + ' ' + audio.error.code));
            audio.preload = 'metadata';
            audio.load();
        })))""")
    page.context.close()
    by_label = dict(durations)
    assert abs(by_label[f"said-{spoken.id}"] - utterance.seconds) <= 0.1
    assert by_label[f"answer-{spoken.id}"] > 1.0 and by_label[f"answer-{typed.id}"] > 1.0


def test_the_kiosk_page_tells_customers_they_are_recorded(speaking: LiveServer) -> None:
    page = httpx.get(speaking.url + "/").text
    assert "为了改进服务，说话会录音。" in page
    assert with_recording_notice(GREETING) == "您好，我是供电公司的小电。为了改进服务，通话会录音。请问有什么可以帮您？"


@pytest.mark.slow  # a second Whisper decode, of a phone call
def test_a_caller_is_told_and_their_words_are_kept(speaking: LiveServer) -> None:
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from tests.phone.simulator import SimulatedCall

    app = speaking.app
    settings, services, speaker = app.state.settings, app.state.services, app.state.speaker
    config = replace(line_config(settings), playback_speed=8.0)
    assert config.recording_notice
    line = build_line(settings, services, speaker, standalone_pipeline(settings, services, speaker,
                                                                       app.state.recognizer), config)
    question = read_wav(CLIP.parent.parent / "8k" / "a14.wav")  # 我家停电了

    async def call() -> tuple[Audio, str]:
        await line.start("127.0.0.1", 0)
        try:
            async with SimulatedCall(line.port, speed=8.0) as caller:
                greeting = await caller.hear(timeout=60)
                await caller.say(question, then_silence_s=2.0)
                await caller.hear(timeout=90)
                return greeting, caller.call_uuid
        finally:
            await line.close()

    # A thread of its own: Playwright's sync API (the browser fixture) holds this thread's event loop.
    with ThreadPoolExecutor(1) as thread:
        greeting, _ = thread.submit(asyncio.run, asyncio.wait_for(call(), 150)).result()
    said = [a.seconds for text in (with_recording_notice(GREETING), KEYS_ANNOUNCEMENT)
            for a, _ in speaker.speak_sentences(text, services.conversations.voice, 8000)]
    assert abs(greeting.seconds - sum(said)) < 0.3  # the greeting tells the caller, keys after
    engine = app.state.engine
    with session(engine) as db:
        turn = db.exec(select(TurnLog).where(TurnLog.channel == "phone").order_by(TurnLog.id.desc())).first()  # type: ignore[attr-defined]
    assert turn is not None and turn.recording
    kept = _kept(engine, turn)
    assert kept.channel == "phone" and kept.sample_rate == 8000
    assert question.seconds - 0.6 < kept.duration_ms / 1000 <= question.seconds + 0.3
    assert abs(decode(kept.audio, 8000).seconds - kept.duration_ms / 1000) <= 0.1


def test_no_recordings_kept_nothing_said(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", speech_enabled=False, demo=True, recordings_days=0)
    with serving(settings) as live:
        assert "录音" not in httpx.get(live.url + "/").text
        assert _recordings(live.app.state) is None  # the pipeline names no recording, keeps none
    assert not line_config(settings).recording_notice
    assert keeper_for(live.app.state.engine, 0) is None


def _turn(engine, days_ago: float, recording: str | None) -> None:  # type: ignore[no-untyped-def]
    with session(engine) as db:
        db.add(TurnLog(session_id="s", at=utc_now() - timedelta(days=days_ago), channel="kiosk", input_text="我想交电费",
                       recording=recording))
        db.commit()


def test_retention_deletes_old_recordings(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    migrate(engine)  # 0010 makes the table
    keeper = RecordingKeeper(engine)
    voice = read_wav(CLIP)
    for name, days_ago in (("old", 31), ("recent", 2), ("gone-with-turn", 200), ("today", 0)):
        keeper.write(name, voice, "kiosk", utc_now() - timedelta(days=days_ago))
        _turn(engine, days_ago, name)
    keeper.close()
    DailyTurnLogPurge(engine, 180, 30).run_once()  # what the server does at start and then daily
    with session(engine) as db:
        assert sorted(r.id for r in db.exec(select(Recording))) == ["recent", "today"]
        assert sorted(t.recording for t in db.exec(select(TurnLog))) == ["old", "recent", "today"]
    # A turn-log row purged takes its recording along, whatever recordings_days says.
    assert purge_turn_log(engine, 1) == 2
    with session(engine) as db:
        assert [r.id for r in db.exec(select(Recording))] == ["today"]
    assert purge_recordings(engine, 0) == 1  # recordings_days = 0: none kept


def test_a_recording_round_trips_on_postgresql(postgres_url: str) -> None:  # noqa: F811
    engine = make_engine(fresh_database(postgres_url, "recordings"))
    try:
        migrate(engine)
        voice = read_wav(CLIP.parent.parent / "8k" / CLIP.name)  # as a phone call brings it
        RecordingKeeper(engine).write("pg", voice, "phone")
        with session(engine) as db:
            kept = db.get(Recording, "pg")
        assert kept is not None and abs(decode(kept.audio).seconds - voice.seconds) <= 0.1
        assert kept.duration_ms == round(voice.seconds * 1000)
    finally:
        engine.dispose()
