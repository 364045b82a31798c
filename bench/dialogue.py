"""Time per conversation turn (text in, reply out), with the real database and turn log.

    .venv/bin/python bench/dialogue.py [--rounds 30]

Runs scripted conversations (paying a bill, asking questions, a miss, a
handoff) against a fresh SQLite database and prints the median and p90 time
of one turn, including the policy, the account look-ups, the effects and the
turn-log write.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)

from assistant.services import build_services  # noqa: E402
from knowledge_base.settings import Settings  # noqa: E402

SCRIPTS = [
    ["我要交电费", "三二零一零零零零零一", "对"],
    ["上个月电费多少", "三二零一零零零零零一", "用了多少度电", "再说一遍"],
    ["用三百度电要交多少钱", "营业厅几点开门", "说慢一点"],
    ["今天天气怎么样", "给我放首歌"],
    ["明天会停电吗", "三二零一零零零零零三", "谢谢再见", "满意"],
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="xiaodian-bench-"))
    services = build_services(Settings(data_dir=data_dir, demo=True))
    conversations = services.conversations
    samples: list[float] = []
    for _ in range(args.rounds):
        for script in SCRIPTS:
            session_id = conversations.start("kiosk").id
            for line in script:
                started = time.perf_counter()
                conversations.handle(session_id, line)
                samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    print(f"turns: {len(samples)}  median {statistics.median(samples):.2f} ms  "
          f"p90 {samples[int(len(samples) * 0.9)]:.2f} ms  p99 {samples[int(len(samples) * 0.99)]:.2f} ms")


if __name__ == "__main__":
    main()
