"""What keeping the customers' words costs (issue 15): bytes per second of speech, and the writer
thread's work per recording (WebM Opus encoding, then the insert), off the turn's path.

    .venv/bin/python bench/recordings.py [--rounds 5]

Over the audio fixtures (16 kHz kiosk and 8 kHz phone clips, 1.5–3 s each) into a fresh SQLite
database. Also prints what 8-bit A-law (the plain alternative) would take, for comparison.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)

from assistant.recordings import RecordingKeeper, decode, encode, new_recording_id  # noqa: E402
from assistant.speech.audio import read_wav  # noqa: E402
from knowledge_base.db import make_engine, migrate  # noqa: E402
from knowledge_base.models import utc_now  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "audio"


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with (FIXTURES / "manifest.tsv").open(encoding="utf-8") as handle:
        rows = [row for row in csv.DictReader(handle, delimiter="\t") if row["kind"] in ("16k", "8k")]
    engine = make_engine(f"sqlite:///{Path(tempfile.mkdtemp(prefix='xiaodian-rec-')) / 'x.db'}")
    migrate(engine)
    keeper = RecordingKeeper(engine)
    print(f"{'kind':5} {'clips':>5} {'bytes/s':>8} {'A-law B/s':>9} {'encode ms med':>13} {'p90':>6} "
          f"{'insert ms med':>13} {'p90':>6} {'length error ms max':>19}")
    for kind in ("16k", "8k"):
        clips = [read_wav(FIXTURES / row["file"]) for row in rows if row["kind"] == kind]
        encode_ms: list[float] = []
        insert_ms: list[float] = []
        sizes, seconds, error_ms = 0, 0.0, 0.0
        for _ in range(args.rounds):
            for clip in clips:
                started = time.perf_counter()
                data, _rate = encode(clip)
                encode_ms.append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                keeper.insert(new_recording_id(), data, _rate, clip.seconds, kind, utc_now())
                insert_ms.append((time.perf_counter() - started) * 1000)
                sizes += len(data)
                seconds += clip.seconds
                error_ms = max(error_ms, abs(decode(data, clip.rate).seconds - clip.seconds) * 1000)
        print(f"{kind:5} {len(clips):5} {sizes / seconds:8.0f} {clips[0].rate:9d} {statistics.median(encode_ms):13.1f} "
              f"{_p(encode_ms, 0.9):6.1f} {statistics.median(insert_ms):13.1f} {_p(insert_ms, 0.9):6.1f} "
              f"{error_ms:19.1f}")
    keeper.close()


if __name__ == "__main__":
    main()
