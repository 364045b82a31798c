"""Conversation success rate and per-turn time, in process, as ``xiaodian chat --json`` runs them.

    .venv/bin/python bench/conversations.py [CONVERSATIONS.yaml ...] [--verbose]

Runs the suite in ``tests/conversations/`` and each file given (default: the shared dev file,
``../shared/eval/conversations-dev.yaml``), each conversation on a fresh copy of one seeded
database, and prints for each: the failures (all conversations with ``--verbose``), the
conversations passed, the turns met, and the median and p99 time of one turn.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)

from tests.conversation_suite import (  # noqa: E402
    Conversation,
    ConversationRunner,
    load_conversations,
    load_folder,
    median,
    percentile,
)

SUITE = ROOT / "tests" / "conversations"
DEV_FILE = ROOT.parent / "shared" / "eval" / "conversations-dev.yaml"


def measure(runner: ConversationRunner, label: str, conversations: list[Conversation], verbose: bool) -> None:
    result = runner.run_all(conversations)
    print(f"== {label}")
    for item in result.results:
        if verbose or not item.passed:
            print(item.describe())
    latencies = result.turn_latencies_ms
    print(result.summary())
    print(f"turn time: median {median(latencies):.1f} ms, p99 {percentile(latencies, 0.99):.1f} ms "
          f"over {len(latencies)} turns")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="*", type=Path, default=[DEV_FILE])
    parser.add_argument("--verbose", action="store_true", help="list the conversations that passed too")
    args = parser.parse_args()
    runner = ConversationRunner()
    try:
        measure(runner, f"suite {SUITE.relative_to(ROOT)}", load_folder(SUITE), args.verbose)
        for path in args.files:
            measure(runner, str(path), load_conversations(path), args.verbose)
    finally:
        runner.close()


if __name__ == "__main__":
    main()
