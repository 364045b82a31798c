"""Intent matcher benchmark: latency and accuracy beside a plain fuzzy baseline.

    .venv/bin/python bench/intents.py [--dev ../shared/eval/dev.tsv] [--rounds 20]

Prints, for the shipped intents and for 1,000 generated intents, the median
and p99 time of one match (caches cleared before every match, so each is
paid in full), then top-1 accuracy of this matcher and of the baseline
(rapidfuzz ``process.extractOne`` over the raw example characters, as
Rhasspy's fuzzywuzzy and wyoming-vosk's correction do) on dev.tsv and on a
copy of dev.tsv with generated homophone errors.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, this file's folder comes first on the path, and the file's
# own name would then hide the ``intents`` package.
sys.path[0] = str(ROOT)

from rapidfuzz import process

from intents import IntentMatcher, IntentSpec  # noqa: E402
from intents.evaluation import LabelledUtterance, measure, read_labelled_tsv
from intents.homophones import with_homophone_errors
from intents.normalize import normalize
from intents.phonetic import sound_key
from intents.ids import OUT_OF_SCOPE
from knowledge_base.seed import load_intent_seeds

DEFAULT_DEV = ROOT.parent / "shared" / "eval" / "dev.tsv"
HOMOPHONE_RATE = 0.25
BASELINE_CUTOFF = 60  # the score below which the baseline says "none"


def shipped_specs() -> list[IntentSpec]:
    return [IntentSpec(s.id, tuple(s.examples), tuple(s.keywords)) for s in load_intent_seeds()]


def generated_specs(count: int, base: list[IntentSpec], rng: random.Random) -> list[IntentSpec]:
    """``count`` synthetic intents built from fragments of the real examples."""
    fragments = [e[i : i + n] for spec in base for e in spec.examples for n in (2, 3) for i in range(len(e) - n + 1)]
    specs = list(base)
    while len(specs) < count:
        examples = tuple("".join(rng.choices(fragments, k=rng.randint(2, 4))) for _ in range(10))
        keywords = tuple(rng.choice(fragments) for _ in range(4))
        specs.append(IntentSpec(f"generated_{len(specs)}", examples, keywords))
    return specs


def latency_ms(matcher: IntentMatcher, texts: list[str], rounds: int) -> tuple[float, float]:
    samples = []
    for _ in range(rounds):
        for text in texts:
            normalize.cache_clear()
            sound_key.cache_clear()
            start = time.perf_counter()
            matcher.match(text)
            samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.99))]


def baseline(specs: list[IntentSpec]) -> Callable[[str], str]:
    choices = [(example, spec.id) for spec in specs for example in spec.examples]
    texts = [example for example, _ in choices]

    def predict(text: str) -> str:
        best = process.extractOne(text, texts, score_cutoff=BASELINE_CUTOFF)
        return choices[best[2]][1] if best else OUT_OF_SCOPE

    return predict


def leave_one_out(specs: list[IntentSpec]) -> float:
    """Each shipped example matched against the knowledge base without it: unseen phrasings."""
    correct = total = 0
    for index, spec in enumerate(specs):
        for held_out in range(len(spec.examples)):
            rest = spec.examples[:held_out] + spec.examples[held_out + 1 :]
            others = specs[:index] + [IntentSpec(spec.id, rest, spec.keywords)] + specs[index + 1 :]
            correct += IntentMatcher(others).match(spec.examples[held_out]).intent == spec.id
            total += 1
    return correct / total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dev", type=Path, default=DEFAULT_DEV)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--generated", type=int, default=1000)
    args = parser.parse_args()

    rng = random.Random(20261122)
    dev = read_labelled_tsv(args.dev)
    homophone_dev = [LabelledUtterance(with_homophone_errors(u.text, HOMOPHONE_RATE, rng), u.intent) for u in dev]
    specs = shipped_specs()
    texts = [u.text for u in dev]

    print(f"# intent matcher benchmark ({len(dev)} dev utterances, {args.rounds} rounds)")
    print(f"{'intents':>8} {'build s':>8} {'median ms':>10} {'p99 ms':>8}")
    for intent_specs in (specs, generated_specs(args.generated, specs, rng)):
        start = time.perf_counter()
        matcher = IntentMatcher(intent_specs)
        build = time.perf_counter() - start
        rounds = args.rounds if len(intent_specs) < 100 else max(3, args.rounds // 4)
        median, p99 = latency_ms(matcher, texts, rounds)
        print(f"{len(intent_specs):>8} {build:>8.2f} {median:>10.3f} {p99:>8.3f}")

    matcher = IntentMatcher(specs)
    ours: Callable[[str], str] = lambda text: matcher.match(text).intent  # noqa: E731
    theirs = baseline(specs)
    print()
    print(f"{'set':<22} {'xiaodian':>9} {'baseline':>9} {'ratio':>6}")
    for name, utterances in (("dev.tsv", dev), (f"dev homophones {HOMOPHONE_RATE:.0%}", homophone_dev)):
        a, b = measure(ours, utterances).rate, measure(theirs, utterances).rate
        print(f"{name:<22} {a:>9.3f} {b:>9.3f} {a / b if b else float('inf'):>6.2f}")
    print(f"{'leave-one-out (KB)':<22} {leave_one_out(specs):>9.3f}")


if __name__ == "__main__":
    main()
