"""Danger and fraud detector benchmark: recall, false alarms and the time of one call.

    .venv/bin/python bench/safety.py [--dev ../shared/eval/dev.tsv] [--rounds 50]

Prints recall per kind on tests/data/safety/alarms.tsv, false alarms on
tests/data/safety/ordinary.txt and on the knowledge base's examples of other
intents, the median and p99 time of one ``detect_danger`` call, once with the
sound key computed afresh for every call and once with it already computed (as
in the product, where the matcher has just made the same key; normalisation is
not timed, it is paid once for both), and, as a measure only, how many
dev.tsv lines labelled emergency / fraud_check are caught and how many other
dev lines raise an alarm.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, this file's folder comes first on the path, and the file's
# own name would then hide the ``intents`` package.
sys.path[0] = str(ROOT)

from intents.evaluation import read_labelled_tsv  # noqa: E402
from intents.normalize import normalize  # noqa: E402
from intents.phonetic import sound_key  # noqa: E402
from intents.safety import Danger, detect_danger  # noqa: E402
from knowledge_base.seed import load_intent_seeds  # noqa: E402

DATA = ROOT / "tests" / "data" / "safety"
DEFAULT_DEV = ROOT.parent / "shared" / "eval" / "dev.tsv"
INTENT_OF = {Danger.EMERGENCY: "emergency", Danger.FRAUD: "fraud_check"}


def data_lines(name: str) -> list[str]:
    lines = (DATA / name).read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line.strip() and not line.lstrip().startswith("#")]


def kind_of(text: str) -> Danger | None:
    alarm = detect_danger(normalize(text))
    return alarm.kind if alarm else None


def caught(kind: Danger, texts: list[str]) -> str:
    hits = sum(kind_of(text) == kind for text in texts)
    return f"{hits}/{len(texts)}"


def false_alarms(texts: list[str]) -> str:
    return f"{sum(kind_of(text) is not None for text in texts)}/{len(texts)}"


def latency_ms(texts: list[str], rounds: int, fresh_sound_key: bool) -> tuple[float, float]:
    normalized = [normalize(text) for text in texts]
    samples = []
    for _ in range(rounds):
        for text in normalized:
            if fresh_sound_key:
                sound_key.cache_clear()
            else:
                sound_key(text)
            start = time.perf_counter()
            detect_danger(text)
            samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.99))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dev", type=Path, default=DEFAULT_DEV)
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()

    alarms = [line.split("\t") for line in data_lines("alarms.tsv")]
    ordinary = data_lines("ordinary.txt")
    kb = [(item.id, example) for item in load_intent_seeds() for example in item.examples]
    kb_others = [example for intent, example in kb if intent not in INTENT_OF.values()]

    print("# danger and fraud detector")
    print(f"{'set':<34} {'result':>9}")
    for kind in Danger:
        print(f"{'recall ' + kind.value + ' (alarms.tsv)':<34} {caught(kind, [p for k, p in alarms if k == kind]):>9}")
        print(f"{'recall ' + INTENT_OF[kind] + ' (KB examples)':<34} "
              f"{caught(kind, [e for intent, e in kb if intent == INTENT_OF[kind]]):>9}")
    print(f"{'false alarms (ordinary.txt)':<34} {false_alarms(ordinary):>9}")
    print(f"{'false alarms (KB, other intents)':<34} {false_alarms(kb_others):>9}")
    if args.dev.exists():
        dev = read_labelled_tsv(args.dev)
        for kind in Danger:
            label = INTENT_OF[kind]
            print(f"{'dev.tsv ' + label + ' caught':<34} {caught(kind, [u.text for u in dev if u.intent == label]):>9}")
        others = [u.text for u in dev if u.intent not in INTENT_OF.values()]
        print(f"{'dev.tsv false alarms (others)':<34} {false_alarms(others):>9}")

    print()
    # On a shared machine a call that waits for the CPU counts in full: the p99 shows the load too.
    print(f"# load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"{'texts':<16} {'sound key':<18} {'median ms':>10} {'p99 ms':>8}")
    for name, texts in (("alarms.tsv", [p for _, p in alarms]), ("ordinary.txt", ordinary)):
        for fresh, how in ((True, "made per call"), (False, "from the matcher")):
            median, p99 = latency_ms(texts, args.rounds, fresh)
            print(f"{name:<16} {how:<18} {median:>10.4f} {p99:>8.4f}")


if __name__ == "__main__":
    main()
