"""The rollups behind the quality pages: each turn counted once, even by two workers at once, and what
customers said forgotten with the turn log's retention."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlmodel import func, select

from assistant.conversation import ConversationService
from assistant.knowledge import Knowledge
from assistant.quality.rectification import create_item, list_items
from assistant.quality.rollup import bring_up_to_date, refresh
from assistant.quality.sampling import draw_sample
from assistant.quality.summary import summarize
from assistant.quality.unanswered import unanswered_groups
from knowledge_base.db import make_engine, session
from knowledge_base.models import QualityConversation, QualityUtterance, service_today, utc_now
from knowledge_base.seed import seed_database
from tests.postgres import fresh_database, postgres_url  # noqa: F401  (fixture)


def test_two_workers_refreshing_at_once_count_every_turn_once(knowledge) -> None:  # type: ignore[no-untyped-def]
    conversations = ConversationService(knowledge)
    for index in range(40):
        session_id = conversations.handle(None, "电价是多少", "kiosk").session_id
        conversations.handle(session_id, "电卡丢了怎么办" if index % 2 else "再见", "kiosk")
    results: list[int] = []
    failures: list[BaseException] = []

    def work() -> None:
        try:
            results.append(refresh(knowledge.engine, batch_size=7))
        except BaseException as error:  # reported below: a worker must never fail on a race
            failures.append(error)

    workers = [threading.Thread(target=work) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert not failures and sum(results) == 80
    total = summarize(knowledge.engine, 1).total
    assert total.turns == 80 and total.conversations == 40
    assert refresh(knowledge.engine) == 0  # nothing new: nothing read twice


def test_what_customers_said_leaves_with_the_turn_log(knowledge) -> None:  # type: ignore[no-untyped-def]
    long_ago = ConversationService(knowledge, clock=lambda: utc_now() - timedelta(days=200))
    recent = ConversationService(knowledge)
    long_ago.handle(None, "电卡丢了怎么办", "web")
    recent.handle(None, "电卡被孩子弄丢了", "web")
    bring_up_to_date(knowledge.engine, 180, service_today())
    with session(knowledge.engine) as db:
        texts = set(db.exec(select(QualityUtterance.text)))
        kept_last = set(db.exec(select(QualityConversation.last_text)))
        conversations = db.exec(select(func.count()).select_from(QualityConversation)).one()
    assert texts == {"电卡被孩子弄丢了"}
    assert kept_last == {"", "电卡被孩子弄丢了"} and conversations == 2  # the counts stay, the words go
    assert summarize(knowledge.engine, 365).total.turns == 2


def test_the_same_figures_on_postgres(postgres_url: str) -> None:  # noqa: F811
    """The rollups, summary, grouping, sample and an item's effect on the scale-out database."""
    engine = make_engine(fresh_database(postgres_url, "quality"))
    seed_database(engine)
    knowledge = Knowledge(engine)
    conversations = ConversationService(knowledge)
    paid = conversations.handle(None, "我要交电费", "kiosk", account="3201000001").session_id
    conversations.handle(paid, "再见", "kiosk")
    conversations.handle(paid, "满意", "kiosk")
    conversations.handle(None, "转人工", "phone")
    for line in ("电卡丢了怎么办", "电卡被孩子弄丢了"):
        conversations.handle(None, line, "web")
    assert bring_up_to_date(engine, 180, service_today()) == 6
    total = summarize(engine, 7).total
    assert (total.turns, total.conversations, total.resolved, total.handoffs) == (6, 4, 1, {"asked": 1})
    assert total.satisfaction["满意"] == 1
    groups = unanswered_groups(engine, 7, service_today())
    assert sorted(m.text for m in groups[0].members) == ["电卡丢了怎么办", "电卡被孩子弄丢了"]
    assert groups[0].count == 2 and groups[0].trend[-1] == 2
    assert len(draw_sample(engine, service_today())) == 4
    create_item(engine, "电卡丢了答不上", "knowledge", "王工", service_today() - timedelta(days=1),
                utterances=["电卡丢了怎么办"])
    (view,) = list_items(engine, service_today())
    assert view.overdue and view.effect.after_per_1000 == round(1000 / 6, 2)
    engine.dispose()
