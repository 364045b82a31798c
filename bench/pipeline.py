"""Voice pipeline benchmark: how soon a customer hears the answer, sentence chunks against one whole WAV.

    .venv/bin/python bench/pipeline.py [--rounds 3]

Every 16 kHz fixture question goes through ``assistant.pipeline`` as the kiosk's would (Whisper,
the dialogue on a fresh SQLite file, the espeak-ng voice with an empty cache each round), and
typed questions with several-sentence answers go through it from text. For each it measures,
from the end of the customer's speech (or the typed text): the first ``audio_chunk`` (when
playing can start) and the last one (the whole answer made), and, side by side, the same
answer made as one WAV the way ``/api/speech/<id>.wav`` makes it. Medians and p90 over all
questions and rounds, in one run.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import anyio

ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)

from assistant.admission import RecognitionGate  # noqa: E402
from assistant.conversation import ConversationReply, ConversationService  # noqa: E402
from assistant.dialogue import Channel  # noqa: E402
from assistant.events import AudioChunk, Replied  # noqa: E402
from assistant.knowledge import Knowledge  # noqa: E402
from assistant.pipeline import SpokenInput, TypedInput, VoicePipeline  # noqa: E402
from knowledge_base.settings import Settings  # noqa: E402
from assistant.speech.audio import read_wav  # noqa: E402
from assistant.speech.engines import load_recognizer  # noqa: E402
from assistant.speech.tts import EspeakPinyinVoice, Speaker  # noqa: E402
from assistant.voice_settings import VoiceSettings  # noqa: E402
from knowledge_base.db import make_engine  # noqa: E402
from knowledge_base.seed import seed_database  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "audio"
# Typed questions whose answers run to several sentences (the case chunking is for).
LONG_ANSWERS = ("停电了怎么办", "电费怎么算", "营业厅在哪", "怎么交电费")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def measure(pipeline: VoicePipeline, source: SpokenInput | TypedInput) -> tuple[float, float, float, ConversationReply]:
    """Seconds to the reply, to the first and to the last audio chunk; and the reply."""

    async def run() -> tuple[float, float, float, ConversationReply]:
        started = time.perf_counter()
        replied = first = last = 0.0
        reply = None
        async for event in pipeline.run(source, channel=Channel.KIOSK, departed=threading.Event()):
            if isinstance(event, Replied):
                reply, replied = event.reply, time.perf_counter() - started
            elif isinstance(event, AudioChunk):
                last = time.perf_counter() - started
                first = first or last
        assert reply is not None
        return replied, first, last, reply

    return anyio.run(run)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="xiaodian-bench-pipeline-") as folder:
        engine = make_engine(f"sqlite:///{Path(folder) / 'bench.db'}")
        seed_database(engine)
        conversations = ConversationService(Knowledge(engine))
        recognizer = load_recognizer(Settings(data_dir=Path(folder) / "data", asr_engine="whisper"))

        async def turn(session_id: str | None, text: str, channel: Channel, asr_confidence: float | None,
                       client: str, recording: str | None) -> ConversationReply:
            return await anyio.to_thread.run_sync(conversations.handle, session_id, text, channel, None,
                                                  asr_confidence, client, recording)

        with (FIXTURES / "manifest.tsv").open(encoding="utf-8") as handle:
            questions = [FIXTURES / row["file"] for row in csv.DictReader(handle, delimiter="\t") if row["kind"] == "16k"]
        # Typed first: the spoken questions ask some of the same things, and their answers would be cached.
        sources: list[tuple[str, SpokenInput | TypedInput]] = [("typed, long answer", TypedInput(text))
                                                               for text in LONG_ANSWERS]
        sources += [("spoken", SpokenInput(read_wav(q))) for q in questions]
        figures: dict[str, dict[str, list[float]]] = {}
        for round_number in range(args.rounds):
            speaker = Speaker(EspeakPinyinVoice(), Path(folder) / f"speech-{round_number}")  # empty cache
            whole_speaker = Speaker(EspeakPinyinVoice(), Path(folder) / f"whole-{round_number}")
            pipeline = VoicePipeline(turn, RecognitionGate(1, 0), recognizer, speaker)
            for kind, source in sources:
                replied, first, last, reply = measure(pipeline, source)
                made = time.perf_counter()
                whole_speaker.speak(reply.spoken, VoiceSettings(reply.voice_rate, reply.voice_volume))
                row = figures.setdefault(kind, {"first chunk": [], "last chunk": [], "one WAV": []})
                row["first chunk"].append(first)
                row["last chunk"].append(last)
                row["one WAV"].append(replied + time.perf_counter() - made)
        print("seconds from the end of the question until: playing can start (first chunk), the whole answer is\n"
              "made (last chunk), and the answer made as one WAV (playing starts only then); p50/p90")
        print(f"{'questions':<20} {'n':>4}  {'first chunk':>14}  {'last chunk':>14}  {'one WAV':>14}")
        for kind, row in figures.items():
            cells = "  ".join(f"{statistics.median(row[c]):>6.3f}/{percentile(row[c], 0.9):.3f}"
                              for c in ("first chunk", "last chunk", "one WAV"))
            print(f"{kind:<20} {len(row['first chunk']):>4}  {cells}")

if __name__ == "__main__":
    main()
