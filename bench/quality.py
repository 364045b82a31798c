"""The quality dashboard and the unanswered grouping over a million generated turns.

    .venv/bin/python bench/quality.py [--turns 1000000] [--days 90] [--rounds 5] [--database FILE]

``--database``: a SQLite file to fill, or to reuse when it already holds turns (generating and
counting a million turns takes minutes; the timings that matter come after).

Fills a fresh SQLite database with generated turn-log rows (90 days, four channels, kiosk turns at
five halls or at none (an unregistered kiosk), answered
questions, misses drawn from tests/data/quality/unanswered.tsv with place words, confirmations,
corrections, repeats, handoff tickets and ratings), builds the rollups once (``rollup.refresh``,
the catch-up a first start would do), then times what a person waits for: the summary of
7/30/90 days (all halls, and one hall), the dashboard's hall filter's list, and the grouped unanswered
questions of 7/30 days, each several rounds, median
and p90 side by side. Also the incremental cost: counting 1,000 new turns into the rollups.
Goal: each answer under 2 s.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, time as clock_time, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)

from sqlalchemy import insert  # noqa: E402

from assistant.quality.rollup import refresh  # noqa: E402
from assistant.quality.summary import known_halls, summarize  # noqa: E402
from assistant.quality.unanswered import unanswered_groups  # noqa: E402
from intents import normalize  # noqa: E402
from knowledge_base.db import make_engine  # noqa: E402
from knowledge_base.models import HandoffTicket, SatisfactionRating, TurnLog, service_today, service_tz  # noqa: E402
from knowledge_base.seed import seed_database  # noqa: E402

LABELLED = ROOT / "tests" / "data" / "quality" / "unanswered.tsv"
PLACES = ["", "我们村", "楼下", "小区里", "我家", "老房子", "单位", "隔壁", "店里", "厂里", "乡下", "城里", "院子里",
          "对面", "街上", "学校边上", "菜场旁边", "河边", "桥头", "路口"]
ANSWERED = [("pay_bill", "我要交电费"), ("query_bill", "上个月电费多少"), ("tariff_info", "电价是多少"),
            ("hall_info", "营业厅几点开门"), ("report_outage", "家里停电了"), ("planned_outage", "明天停电吗"),
            ("cross_border_payment", "我在国外给我妈交电费"), ("query_usage", "用了多少度电")]
CHANNELS = ["kiosk", "kiosk", "phone", "web"]
# Kiosk conversations' halls (issue 15); "" is a kiosk page with no registered device behind it.
HALLS = ["江都营业厅", "江都营业厅", "仪征营业厅", "高邮营业厅", "宝应营业厅", "邗江营业厅", ""]


def _misses() -> list[str]:
    lines = [line.split("\t")[1] for line in LABELLED.read_text(encoding="utf-8").splitlines()
             if line.strip() and not line.startswith("#")]
    return [place + line for line in lines for place in PLACES]


def generate(engine, turns: int, days: int, seed: int = 15) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(seed)
    misses = _misses()
    today = service_today()
    rows, tickets, ratings = [], [], []
    made = 0
    conversation = 0
    while made < turns:
        conversation += 1
        day = today - timedelta(days=rng.randrange(days))
        start = datetime.combine(day, clock_time(8), tzinfo=service_tz()).astimezone(timezone.utc) + \
            timedelta(seconds=rng.randrange(12 * 3600))
        session_id = f"bench-{conversation}"
        channel = rng.choice(CHANNELS)
        hall = rng.choice(HALLS) if channel == "kiosk" else ""
        length = min(rng.choice([1, 2, 3, 4, 4, 5, 6, 8, 10]), turns - made)
        for index in range(length):
            roll = rng.random()
            if roll < 0.12:
                text, intent, decision, confidence = rng.choice(misses), "none", "none", rng.uniform(0.1, 0.5)
            elif roll < 0.18:
                text, intent, decision, confidence = rng.choice(misses), rng.choice(ANSWERED)[0], "confirm", 0.6
            elif roll < 0.22:
                text, intent, decision, confidence = "不对", "deny", "accept", 0.9
            elif roll < 0.25:
                text, intent, decision, confidence = "再说一遍", "repeat", "accept", 0.95
            elif roll < 0.27:
                text, intent, decision, confidence = "转人工", "human_agent", "accept", 0.95
            else:
                intent, text = rng.choice(ANSWERED)
                decision, confidence = "accept", rng.uniform(0.7, 1.0)
            rows.append(dict(session_id=session_id, at=start + timedelta(seconds=20 * index), channel=channel,
                             account_number=None, input_text=text, normalized=normalize(text), intent=intent,
                             confidence=confidence, decision=decision, slots={}, reply="好的。",
                             asr_confidence=rng.uniform(0.5, 1.0) if channel != "web" else None,
                             latency_ms=rng.lognormvariate(1.2, 0.6), hall=hall))
            if intent == "human_agent":
                tickets.append(dict(session_id=session_id, reason="asked", priority=2, channel=channel, summary="",
                                    transcript=[], status="closed", client="bench", note="",
                                    created_at=start + timedelta(seconds=20 * index), version=1))
        made += length
        if rng.random() < 0.2:
            ratings.append(dict(session_id=session_id, score=rng.choice([1, 2, 3, 3, 3]),
                                at=start + timedelta(seconds=20 * length)))
        if len(rows) >= 50_000:
            _flush(engine, rows, tickets, ratings)
    _flush(engine, rows, tickets, ratings)


def _flush(engine, rows, tickets, ratings) -> None:  # type: ignore[no-untyped-def]
    with engine.begin() as connection:
        if rows:
            connection.execute(insert(TurnLog.__table__), rows)  # type: ignore[attr-defined]
        if tickets:
            connection.execute(insert(HandoffTicket.__table__), tickets)  # type: ignore[attr-defined]
        if ratings:
            connection.execute(insert(SatisfactionRating.__table__), ratings)  # type: ignore[attr-defined]
    rows.clear()
    tickets.clear()
    ratings.clear()


def timed(label: str, rounds: int, work) -> None:  # type: ignore[no-untyped-def]
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        work()
        samples.append(time.perf_counter() - started)
    samples.sort()
    p90 = samples[min(len(samples) - 1, int(len(samples) * 0.9))]
    verdict = "ok" if p90 < 2.0 else "OVER 2 s"
    print(f"{label:<36} median {statistics.median(samples):6.3f} s   p90 {p90:6.3f} s   {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--database", type=Path)
    args = parser.parse_args()
    path = args.database or Path(tempfile.mkdtemp(prefix="xiaodian-bench-quality-")) / "quality.db"
    engine = make_engine(f"sqlite:///{path}")
    seed_database(engine)
    with engine.connect() as connection:
        present = connection.exec_driver_sql("SELECT count(*) FROM turnlog").scalar()
    if present:
        print(f"reusing {path}: {present:,} turns")
    else:
        started = time.perf_counter()
        generate(engine, args.turns, args.days)
        print(f"generated {args.turns:,} turns over {args.days} days in {time.perf_counter() - started:.1f} s "
              f"into {path}")
    started = time.perf_counter()
    refresh(engine)
    print(f"rollups built once (catch-up of every turn): {time.perf_counter() - started:.1f} s")
    with engine.connect() as connection:
        distinct = connection.exec_driver_sql("SELECT count(DISTINCT text) FROM qualityutterance").scalar()
        conversations = connection.exec_driver_sql("SELECT count(*) FROM qualityconversation").scalar()
    print(f"  {conversations:,} conversations, {distinct:,} distinct unanswered texts")
    today = service_today()
    for days in (7, 30, 90):
        timed(f"summary, {days} days", args.rounds, lambda d=days: summarize(engine, d, today))
    for days in (7, 30):
        timed(f"unanswered groups, {days} days", args.rounds, lambda d=days: unanswered_groups(engine, d, today))
    timed("summary, 90 days, one hall", args.rounds, lambda: summarize(engine, 90, today, hall="仪征营业厅"))
    timed("summary + groups, 90 days (page)", args.rounds,
          lambda: (summarize(engine, 90, today), known_halls(engine), unanswered_groups(engine, 90, today)))
    timed("the same, one hall (page)", args.rounds,
          lambda: (summarize(engine, 90, today, hall="江都营业厅"), known_halls(engine),
                   unanswered_groups(engine, 90, today)))

    def add_and_count() -> None:
        generate(engine, 1000, 1, seed=random.randrange(1 << 30))
        refresh(engine)

    timed("1,000 new turns generated + counted", args.rounds, add_and_count)
    print("(figures from a shared, busy 2-core machine: re-measure quietly)")


if __name__ == "__main__":
    main()
