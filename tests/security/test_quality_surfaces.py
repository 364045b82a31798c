"""Attacks on the quality review's new surfaces (issue 15) over real HTTP against a running server:
recordings reached only through their own sample, by admins and reviewers; answer.wav bounded and cached;
halls only from a registered device; hall names as data in the dashboard, the CSV and the report."""

from __future__ import annotations

import logging
from contextlib import closing
from pathlib import Path

import httpx
import pytest
from sqlmodel import select

from assistant.recordings import new_recording_id
from assistant.speech.audio import read_wav
from assistant.speech.tts import MAX_SPOKEN_CHARS
from knowledge_base.db import session
from knowledge_base.models import AuditLog, Recording, ReviewSample, TurnLog, service_today, utc_now
from tests.quality.support import converse, reviewer_client
from tests.quality.test_halls import Kiosk, plain
from tests.server_fixtures import LiveServer, live_login, live_server, server_settings  # noqa: F401

FORMULA_HALL = '=HYPERLINK("http://x.invalid","江都")'
HTML_HALL = '<img src=x onerror=alert(1)>营业厅'


def _recorded_turn(engine, session_id: str, audio: bytes) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    """A spoken turn of ``session_id`` with its recording, as the pipeline leaves them (no Whisper here)."""
    name = new_recording_id()
    with session(engine) as db:
        db.add(Recording(id=name, channel="kiosk", sample_rate=16000, duration_ms=800, audio=audio))
        turn = TurnLog(session_id=session_id, at=utc_now(), channel="kiosk", input_text="我想交电费",
                       reply="好的，请说一下您的户号。", recording=name)
        db.add(turn)
        db.commit()
        return int(turn.id), name  # type: ignore[arg-type]


def _sample(engine, session_id: str) -> int:  # type: ignore[no-untyped-def]
    with session(engine) as db:
        sample = ReviewSample(day=service_today(), session_id=session_id, channel="kiosk", picked_for="stratum")
        db.add(sample)
        db.commit()
        return int(sample.id)  # type: ignore[arg-type]


def test_a_recording_is_reached_only_through_its_own_sample(live_server: LiveServer,  # noqa: F811
                                                            caplog: pytest.LogCaptureFixture) -> None:
    engine = live_server.app.state.engine
    caplog.set_level(logging.DEBUG)
    mine = converse(live_server, "kiosk", ["电价是多少"])[0]["session_id"]
    theirs = converse(live_server, "kiosk", ["停电了怎么办"])[0]["session_id"]
    my_turn, my_recording = _recorded_turn(engine, mine, b"MINE-AUDIO")
    their_turn, _ = _recorded_turn(engine, theirs, b"THEIR-AUDIO")
    sample = _sample(engine, mine)
    other_sample = _sample(engine, theirs)
    base = "/api/admin/quality/samples"
    with closing(reviewer_client(live_server)) as reviewer:
        heard = reviewer.get(f"{base}/{sample}/turns/{my_turn}/recording.webm")
        assert heard.status_code == 200 and heard.content == b"MINE-AUDIO"
        assert heard.headers["cache-control"] == "no-store"
        # A link on another site, followed with the reviewer's cookie (SameSite=Lax), would write a listen in
        # their name that they never made: refused, and nothing is audited.
        lured = reviewer.get(f"{base}/{sample}/turns/{my_turn}/recording.webm", headers={"Sec-Fetch-Site": "cross-site"})
        assert lured.status_code == 403 and b"MINE-AUDIO" not in lured.content
        # Another conversation's turn through my sample, a guessed sample, a guessed turn: one answer, 404.
        refused = [reviewer.get(f"{base}/{s}/turns/{t}/{kind}")
                   for s, t in ((sample, their_turn), (other_sample + 50, my_turn), (sample, their_turn + 50))
                   for kind in ("recording.webm", "answer.wav")]
        assert {r.status_code for r in refused} == {404}
        assert b"THEIR-AUDIO" not in b"".join(r.content for r in refused)
        # The recording's own name is no way in, nor a path trick.
        assert reviewer.get(f"{base}/{sample}/turns/{my_recording}/recording.webm").status_code == 422
        assert reviewer.get(f"{base}/{sample}/turns/{my_turn}/../../{other_sample}/turns/{their_turn}/"
                            "recording.webm").content != b"THEIR-AUDIO"
    with closing(live_login(live_server, "staff1")) as staff:
        assert staff.get(f"{base}/{sample}/turns/{my_turn}/recording.webm").status_code == 403
    assert httpx.get(f"{live_server.url}{base}/{sample}/turns/{my_turn}/recording.webm").status_code == 401
    with session(engine) as db:
        audits = db.exec(select(AuditLog).where(AuditLog.entity == "recording")).all()
    assert [(a.actor, a.entity_id) for a in audits] == [("reviewer1", str(my_turn))]  # refusals listen to nothing
    # Neither the recording's name nor its bytes reach the server's log.
    served = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith(("httpx", "httpcore")))
    assert my_recording not in served and "MINE-AUDIO" not in served


def test_answer_audio_is_bounded_and_made_once(live_server: LiveServer) -> None:  # noqa: F811
    engine = live_server.app.state.engine
    session_id = converse(live_server, "kiosk", ["电价是多少"])[0]["session_id"]
    with session(engine) as db:  # the longest reply a turn-log row can hold: far past what is ever spoken
        turn = TurnLog(session_id=session_id, at=utc_now(), channel="kiosk", input_text="电价", reply="电价。" * 5000)
        db.add(turn)
        db.commit()
        turn_id = turn.id
    sample = _sample(engine, session_id)
    speaker = live_server.app.state.speaker
    with closing(reviewer_client(live_server)) as reviewer:
        first = reviewer.get(f"/api/admin/quality/samples/{sample}/turns/{turn_id}/answer.wav")
        misses = speaker.misses
        again = reviewer.get(f"/api/admin/quality/samples/{sample}/turns/{turn_id}/answer.wav")
    assert first.status_code == again.status_code == 200 and first.content == again.content
    assert speaker.misses == misses  # the second listen is the voice's cache, not a new synthesis
    # At most the spoken length limit: about two minutes, however long the stored reply.
    assert read_wav(first.content, max_seconds=3600).seconds < MAX_SPOKEN_CHARS


def test_hall_names_stay_data_in_the_csv_and_pages(live_server: LiveServer, tmp_path: Path) -> None:  # noqa: F811
    formula = Kiosk(live_server, "f-01", FORMULA_HALL, tmp_path)
    markup = Kiosk(live_server, "h-01", HTML_HALL, tmp_path)
    with closing(formula.http), closing(markup.http), closing(reviewer_client(live_server)) as reviewer:
        formula.converse(["电价是多少"], first_channel="web")
        markup.converse(["电价是多少"], first_channel="web")
        # A phone call cannot be taken to a hall by a device that is told its id.
        call = plain(live_server, "phone", ["停电了怎么办"])
        assert formula.show(call).status_code == 200
        halls = reviewer.get("/api/admin/quality/export/halls.csv", params={"days": 7}).text
        cells = [line.split(",", 1)[0] for line in halls.lstrip("\ufeff").splitlines()]
        assert not any(cell.lstrip('"').startswith("=") for cell in cells), cells
        for path in ("/admin/quality", "/admin/quality/report", "/admin/quality/samples"):
            page = reviewer.get(path, params={"days": 7, "hall": HTML_HALL} if path == "/admin/quality" else {})
            assert page.status_code == 200 and "<img src=x" not in page.text, path
        summary = reviewer.get("/api/admin/quality/summary", params={"days": 7}).json()
        phone = [row for row in summary["by_hall"] if row["channel"] == "phone"]
        assert phone and phone[0]["hall"] == ""
