"""Quality figures per service hall (issue 15): scripted conversations at two halls, bound through the real
signed kiosk requests (screen key, signed card reads), plus phone, web and an unregistered kiosk page, fill a
real database through a running server; the per-hall figures equal hand counts, the hall filter changes every
figure, an unsigned claim of a hall counts for nothing, and a database from before halls keeps its figures."""

from __future__ import annotations

import re
import secrets
from contextlib import closing
from dataclasses import asdict
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from alembic import command
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from assistant.conversation import ConversationService
from assistant.kiosk_devices import add_device, sign_card_read
from assistant.kiosk_screen import screen_key
from assistant.knowledge import Knowledge
from assistant.quality.halls import bind_hall
from assistant.quality.rollup import refresh
from assistant.quality.summary import summarize
from knowledge_base.db import alembic_config, make_engine, migrate
from knowledge_base.models import TurnLog, service_today
from knowledge_base.seed import seed_database
from tests.postgres import fresh_database, postgres_url  # noqa: F401  (fixture)
from tests.quality.support import reviewer_client
from tests.server_fixtures import LiveServer, live_server, server_settings  # noqa: F401

JIANGDU = "江都营业厅"
GAOYOU = "高邮<新>营业厅"  # admin-entered text: the pages must escape it


class Kiosk:
    """A registered kiosk device as its loop talks to the service: turns, then its signed screen updates."""

    def __init__(self, server: LiveServer, name: str, hall: str, folder: Path) -> None:
        add_device(server.app.state.engine, name, folder / f"{name}.key", hall=hall)
        self.name, self.server = name, server
        self.key: Any = load_pem_private_key((folder / f"{name}.key").read_bytes(), password=None)
        self.http = httpx.Client(base_url=server.url, timeout=20)

    def say(self, text: str, session_id: str | None, channel: str = "kiosk") -> dict[str, Any]:
        reply = self.http.post("/api/converse", json={"text": text, "session_id": session_id, "channel": channel})
        assert reply.status_code == 200, reply.text
        return reply.json()

    def show(self, session_id: str, key: str | None = None) -> httpx.Response:
        """The loop's screen update after a reply (signed with the device's screen key)."""
        return self.http.post("/api/kiosk/screen", json={"device": self.name, "session_id": session_id,
                                                         "state": {"heard": "…"}},
                              headers={"X-Kiosk-Screen-Key": key or screen_key(self.key, self.name)})

    def card(self, account: str, session_id: str | None = None) -> dict[str, Any]:
        card = asdict(sign_card_read(self.key, self.name, account, secrets.token_hex(16)))
        response = self.http.post("/api/kiosk/card", json={"session_id": session_id, "card": card})
        assert response.status_code == 200, response.text
        return response.json()

    def converse(self, lines: list[str], first_channel: str = "kiosk") -> str:
        """A device-loop conversation: the first answer comes before the screen can follow (and bind) it."""
        session_id = self.say(lines[0], None, first_channel)["session_id"]
        assert self.show(session_id).status_code == 200
        for line in lines[1:]:
            self.say(line, session_id)
            assert self.show(session_id).status_code == 200
        return session_id


def plain(server: LiveServer, channel: str, lines: list[str], **extra: Any) -> str:
    session_id = None
    with httpx.Client(base_url=server.url, timeout=20) as http:
        for line in lines:
            response = http.post("/api/converse", json={"text": line, "session_id": session_id, "channel": channel,
                                                        **extra})
            assert response.status_code == 200, response.text
            session_id = response.json()["session_id"]
    assert session_id
    return session_id


def by_place(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["hall"] or {"kiosk": "未登记自助机", "phone": "电话", "web": "网页"}[row["channel"]]: row
            for row in body["by_hall"]}


def test_figures_per_hall_match_hand_counts_and_the_filter_applies(live_server: LiveServer,  # noqa: F811
                                                                   tmp_path: Path) -> None:
    jiangdu = Kiosk(live_server, "jd-01", JIANGDU, tmp_path)
    gaoyou = Kiosk(live_server, "gy-01", GAOYOU, tmp_path)
    with closing(reviewer_client(live_server)) as reviewer, closing(jiangdu.http), closing(gaoyou.http):
        # 江都: the device loop's WebSocket asks as "web"; its screen binds the conversation from the first reply.
        jiangdu.converse(["电价是多少", "再见", "满意"], first_channel="web")
        # 江都 again, and the dashboard is read between the first answer and the screen update: the turn was
        # counted without a hall, and moves to the hall when the device binds it (counted once, under 江都).
        lost = jiangdu.say("电卡丢了怎么办", None)
        assert lost["decision"] == "none"
        early = reviewer.get("/api/admin/quality/summary", params={"days": 1}).json()
        assert early["turns"] == 4 and by_place(early)["未登记自助机"]["turns"] == 1
        assert jiangdu.show(lost["session_id"]).status_code == 200
        # 高邮: the card first (the session is made for the device), then a request for a person.
        held = gaoyou.card("3201000001")["session_id"]
        assert gaoyou.say("转人工", held)["handoff"]["reason"] == "asked"
        plain(live_server, "phone", ["停电了怎么办"])
        plain(live_server, "web", ["电价是多少", "再见", "不满意"])
        plain(live_server, "kiosk", ["电价是多少"])  # a kiosk page with no registered device behind it
        # Forged: a page that says it is at 江都 (a field nobody reads), a screen key that is not the device's,
        # and a card read signed by another key.
        forged = plain(live_server, "web", ["电价是多少"], hall=JIANGDU)
        assert jiangdu.show(forged, key=screen_key(gaoyou.key, jiangdu.name)).status_code == 401
        stranger = sign_card_read(gaoyou.key, jiangdu.name, "3201000001", secrets.token_hex(16))
        assert jiangdu.http.post("/api/kiosk/card", json={"session_id": forged, "card": asdict(stranger)}
                                 ).status_code == 403

        body = reviewer.get("/api/admin/quality/summary", params={"days": 7}).json()
        assert body["turns"] == 11 and body["conversations"] == 7
        places = by_place(body)
        assert list(places) == [JIANGDU, GAOYOU, "未登记自助机", "电话", "网页"]  # halls first, then by channel
        counts = {name: (row["conversations"], row["turns"], row["resolved"]) for name, row in places.items()}
        assert counts == {JIANGDU: (2, 4, 1), GAOYOU: (1, 1, 0), "未登记自助机": (1, 1, 1), "电话": (1, 1, 1),
                          "网页": (2, 4, 2)}
        jd = places[JIANGDU]
        assert jd["resolution_rate"] == 0.5 and jd["handoff_rate"] == 0.0 and jd["none_rate"] == 0.25
        assert jd["satisfaction"] == {"满意": 1, "一般": 0, "不满意": 0} and jd["satisfied_rate"] == 1.0
        assert 0 < jd["latency_ms"]["median"] <= jd["latency_ms"]["p90"]
        assert places[GAOYOU]["handoffs"] == {"asked": 1} and places[GAOYOU]["handoff_rate"] == 1.0
        assert places["网页"]["satisfaction"]["不满意"] == 1
        # The device loop's conversations are kiosk conversations, however its socket started them.
        channels = {c["channel"]: c["turns"] for c in body["by_channel"]}
        assert channels == {"kiosk": 6, "phone": 1, "web": 4}

        # The filter: every figure of one hall, and of the turns at no hall.
        one = reviewer.get("/api/admin/quality/summary", params={"days": 7, "hall": JIANGDU}).json()
        assert (one["turns"], one["conversations"], one["resolution_rate"], one["none_rate"]) == (4, 2, 0.5, 0.25)
        assert one["satisfaction"]["满意"] == 1 and one["handoffs"] == {} and one["by_day"][-1]["turns"] == 4
        assert [row["hall"] for row in one["by_hall"]] == [JIANGDU]
        nowhere = reviewer.get("/api/admin/quality/summary", params={"days": 7, "hall": "-"}).json()
        assert (nowhere["turns"], nowhere["conversations"]) == (6, 4)
        unknown = reviewer.get("/api/admin/quality/summary", params={"days": 7, "hall": "没有这个厅"}).json()
        assert unknown["turns"] == 0 and unknown["by_hall"] == []

        page = reviewer.get("/admin/quality", params={"days": 7})
        assert page.status_code == 200 and "按营业厅" in page.text
        assert "高邮&lt;新&gt;营业厅" in page.text and GAOYOU not in page.text  # escaped everywhere, charts too
        table = page.text.split('id="halls"')[1].split("</table>")[0]
        assert [re.sub(r"<[^>]+>", "", cell) for cell in re.findall(r"<tr data-hall[^>]*><td>(.*?)</td>", table)] == [
            JIANGDU, "高邮&lt;新&gt;营业厅", "未登记自助机", "电话", "网页"]
        assert '<option value="江都营业厅">' in page.text and '<option value="-"' in page.text
        filtered = reviewer.get("/admin/quality", params={"days": 7, "hall": GAOYOU})
        assert 'data-figure="turns">1<' in filtered.text and 'data-figure="conversations">1<' in filtered.text
        assert '<option value="高邮&lt;新&gt;营业厅" selected>' in filtered.text
        assert "&amp;hall=%E9%AB%98%E9%82%AE%3C%E6%96%B0%3E" in filtered.text  # the other controls keep the filter

        csv = reviewer.get("/api/admin/quality/export/halls.csv", params={"days": 7})
        lines = csv.text.lstrip("\ufeff").splitlines()
        assert lines[0].startswith("营业厅,对话,轮数,解决率,转人工,转人工率,没听懂比例")
        assert lines[1].startswith(f"{JIANGDU},2,4,0.5,0,0.0,0.25,") and lines[4].startswith("电话,1,1,1.0,")
        one_csv = reviewer.get("/api/admin/quality/export/days.csv", params={"days": 7, "hall": JIANGDU})
        assert one_csv.text.lstrip("\ufeff").splitlines()[-1].split(",")[1:3] == ["2", "4"]

        samples = reviewer.get("/admin/quality/samples").text  # a reviewer sees where a sampled conversation was
        assert samples.count(f"<td>{JIANGDU}</td>") == 2 and "<td>高邮&lt;新&gt;营业厅</td>" in samples

        report = reviewer.get("/admin/quality/report")
        assert report.status_code == 200 and "按营业厅" in report.text and JIANGDU in report.text
        assert "高邮&lt;新&gt;营业厅" in report.text and GAOYOU not in report.text

    with live_server.app.state.engine.connect() as connection:  # and the log itself: the hall of every turn
        halls = dict(connection.execute(sa.select(TurnLog.hall, sa.func.count()).group_by(TurnLog.hall)).all())
    assert halls == {JIANGDU: 4, GAOYOU: 1, "": 6}


def test_a_bind_racing_a_refresh_counts_each_turn_once_under_its_hall(knowledge) -> None:  # type: ignore[no-untyped-def]
    """The device binds while the rollup is between reading turns and writing them: the refresh loses its
    compare-and-set and reads them again, so nothing is counted twice or left without its hall."""
    from assistant.quality import rollup

    conversations = ConversationService(knowledge)
    session_id = conversations.handle(None, "电价是多少", "web").session_id
    conversations.handle(session_id, "电卡丢了怎么办", "web")
    original = rollup._count_ratings
    bound: list[bool] = []

    def bind_meanwhile(*args: Any) -> None:  # after the turns were read, before the cursor moves
        if not bound:
            bound.append(bind_hall(knowledge.engine, session_id, JIANGDU))
        original(*args)

    rollup._count_ratings = bind_meanwhile
    try:
        assert refresh(knowledge.engine) == 2
    finally:
        rollup._count_ratings = original
    assert bound == [True]
    summary = summarize(knowledge.engine, 1)
    assert summary.total.turns == 2 and summary.total.conversations == 1
    assert [(place, f.turns, f.conversations) for place, f in summary.by_hall] == [((JIANGDU, ""), 2, 1)]
    assert bind_hall(knowledge.engine, session_id, "仪征营业厅") is False  # the first hall stays
    conversations.handle(session_id, "再见", "web")
    assert refresh(knowledge.engine) == 1
    assert [(place, f.turns) for place, f in summarize(knowledge.engine, 1).by_hall] == [((JIANGDU, ""), 3)]


def _old_database(url: str) -> sa.engine.Engine:
    """A database at revision 0008 (before halls) whose rollups hold a day's figures."""
    engine = make_engine(url)
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), "0008")
        day = service_today() - timedelta(days=1)
        figures = dict(turns=0, none_turns=0, confirm_turns=0, emergencies=0, frauds=0, asr_turns=0,
                       asr_confidence_sum=0.0, low_confidence_turns=0, latency_buckets={}, conversations=0,
                       resolved=0, handoffs={}, ratings={})
        table = sa.table("qualityday", *(sa.column(name) for name in ["day", "channel", *figures]))
        json_columns = {"latency_buckets", "handoffs", "ratings"}
        rows = [dict(figures, day=day, channel="kiosk", turns=10, conversations=4, resolved=3, none_turns=2,
                     latency_buckets={"40": 10}, handoffs={"asked": 1}, ratings={"3": 2}),
                dict(figures, day=day, channel="phone", turns=5, conversations=2, resolved=1, latency_buckets={"40": 5})]
        import json
        connection.execute(table.insert(), [{k: json.dumps(v) if k in json_columns else v for k, v in row.items()}
                                            for row in rows])
    return engine


def _same_figures_after_upgrade(engine: sa.engine.Engine) -> None:
    before = summarize_old(engine)
    migrate(engine)
    summary = summarize(engine, 7)
    assert (summary.total.turns, summary.total.conversations, summary.total.resolved) == before == (15, 6, 4)
    assert summary.total.handoffs == {"asked": 1} and summary.total.satisfaction["满意"] == 2
    assert [(place, f.label, f.turns) for place, f in summary.by_hall] == [(("", "kiosk"), "未登记自助机", 10),
                                                                         (("", "phone"), "电话", 5)]
    assert summarize(engine, 7, hall="-").total.turns == 15


def summarize_old(engine: sa.engine.Engine) -> tuple[int, int, int]:
    with engine.connect() as connection:
        row = connection.execute(sa.text("SELECT SUM(turns), SUM(conversations), SUM(resolved) FROM qualityday")).one()
    return tuple(int(v) for v in row)  # type: ignore[return-value]


def test_a_database_from_before_halls_keeps_its_figures_under_no_hall(tmp_path: Path) -> None:
    engine = _old_database(f"sqlite:///{tmp_path / 'old.db'}")
    _same_figures_after_upgrade(engine)
    # And the migrated rollups take per-hall figures from here on.
    seed_database(engine)
    knowledge = Knowledge(engine)
    session_id = ConversationService(knowledge).handle(None, "电价是多少", "kiosk").session_id
    assert bind_hall(engine, session_id, JIANGDU)
    refresh(engine)
    assert [f.label for _, f in summarize(engine, 7).by_hall] == [JIANGDU, "未登记自助机", "电话"]
    engine.dispose()


def test_postgres_upgrade_keeps_figures_and_binds_move_them(postgres_url: str) -> None:  # noqa: F811
    engine = _old_database(fresh_database(postgres_url, "halls"))
    _same_figures_after_upgrade(engine)
    seed_database(engine)
    conversations = ConversationService(Knowledge(engine))
    session_id = conversations.handle(None, "电价是多少", "web").session_id
    refresh(engine)  # counted at no hall first
    assert bind_hall(engine, session_id, JIANGDU)
    conversations.handle(session_id, "再见", "web")
    refresh(engine)
    today: date = service_today()
    places = {f.label: (f.turns, f.conversations) for _, f in summarize(engine, 1, today).by_hall}
    assert places == {JIANGDU: (2, 1)}
    engine.dispose()

