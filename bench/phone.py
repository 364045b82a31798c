"""Phone line benchmark: 1, 4 and 8 concurrent simulated calls in real time.

    .venv/bin/python bench/phone.py [--calls 1,4,8] [--questions 3] [--voice auto|natural|espeak]

The real gateway (``assistant.phone``) on a free port, Whisper-base hearing the callers, the voice
the product would use (``--voice auto``: the natural voice when installed), a fresh SQLite file.
Each simulated caller (tests/phone/simulator.py: 20 ms frames in real time, silence between
words, as Asterisk sends them) speaks over the greeting (barge-in), then asks its questions from
the 8 kHz fixtures one after another, waiting for each answer. Per question: end of the caller's
speech → first answer frame. Per answer as the caller received it: gaps (no frame for more than
120 ms while the answer was still playing: the caller hears a hole). Per call, from the gateway:
frames sent late. Barge-in: the caller's first voiced frame → the last greeting frame. CPU: this
process's and its children's (the natural voice's worker) CPU seconds per wall second.
Medians and p90 side by side; figures on a machine shared with other work are noisy.

Goal on 2 cores: 4 concurrent calls with median under 1.5 s and no audio gap in answers.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)

from assistant.phone.gateway import LineConfig, PhoneLine  # noqa: E402
from assistant.phone.line import build_line, standalone_pipeline  # noqa: E402
from assistant.services import build_services, make_speaker  # noqa: E402
from assistant.speech.audio import Audio  # noqa: E402
from assistant.speech.engines import load_recognizer  # noqa: E402
from knowledge_base.db import make_engine  # noqa: E402
from knowledge_base.seed import seed_database  # noqa: E402
from knowledge_base.settings import Settings  # noqa: E402
from tests.phone.simulator import SimulatedCall, fixture  # noqa: E402

QUESTIONS = ("8k/a06.wav", "8k/a10.wav", "8k/a24.wav", "8k/a18.wav", "8k/a04.wav")  # none ends the call
GAP_S = 0.12  # frames are 20 ms apart; more than this with nothing is a hole the caller hears


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))] if ordered else float("nan")


def cpu_seconds() -> float:
    """CPU of this process and its live children (the natural voice's worker), from /proc."""
    total = time.process_time()
    tick = os.sysconf("SC_CLK_TCK")
    for child in Path(f"/proc/{os.getpid()}/task").glob("*/children"):
        for pid in child.read_text().split():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / tick
            except (OSError, IndexError, ValueError):
                pass
    return total


def split_at_voice(audio: Audio) -> tuple[Audio, Audio]:
    voiced = np.flatnonzero(np.abs(audio.samples) > 2000)
    start = int(voiced[0]) if len(voiced) else 0
    return Audio(audio.samples[:start], audio.rate), Audio(audio.samples[start:], audio.rate)


def gaps_in(call: SimulatedCall, start: float, end: float) -> int:
    times = [r.at for r in call.received if start <= r.at <= end]
    return sum(1 for before, after in zip(times, times[1:]) if after - before > GAP_S)


async def one_call(port: int, questions: int, offset: int) -> dict[str, list[float]]:
    result: dict[str, list[float]] = {"latency": [], "gaps": [], "barge_in": []}
    async with SimulatedCall(port) as call:
        await call.hear(gap_s=0.1, timeout=10)  # the greeting is playing
        for number in range(questions):
            lead_in, speech = split_at_voice(fixture(QUESTIONS[(offset + number) % len(QUESTIONS)]))
            await call.say(lead_in)
            spoke_at = time.monotonic()
            await call.say(speech)
            ended = call.speech_ended_at
            assert ended is not None
            if number == 0:  # spoken over the greeting
                before = [r.at for r in call.received if r.at < ended]
                result["barge_in"].append(max(0.0, before[-1] - spoke_at) if before else 0.0)
            answer = await call.hear(timeout=60, gap_s=1.0)
            first = call.first_frame_after(ended)
            if first is None or not answer.seconds:
                result["latency"].append(float("inf"))
                continue
            result["latency"].append(first - ended)
            result["gaps"].append(float(gaps_in(call, first, call.received[-1].at)))
        await call.hang_up()
    return result


async def run_level(line: PhoneLine, calls: int, questions: int) -> dict[str, list[float]]:
    await line.start("127.0.0.1", 0)
    try:
        results = await asyncio.gather(*(one_call(line.port, questions, offset) for offset in range(calls)))
    finally:
        await line.close()
    merged: dict[str, list[float]] = {"latency": [], "gaps": [], "barge_in": []}
    for result in results:
        for key, values in result.items():
            merged[key].extend(values)
    return merged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", default="1,4,8")
    parser.add_argument("--questions", type=int, default=3)
    parser.add_argument("--voice", default="auto")
    options = parser.parse_args()
    data = Path(tempfile.mkdtemp(prefix="phone-bench-"))
    settings = Settings(data_dir=data, demo=True, voice=options.voice)
    engine = make_engine(f"sqlite:///{data / 'bench.db'}")
    seed_database(engine)
    services = build_services(settings, engine=engine, seed=False)
    speaker = make_speaker(settings)
    whisper = load_recognizer(Settings(data_dir=data, asr_engine="whisper"))
    print(f"voice: {type(speaker.voice).__name__}; Whisper-base; cpu cores: {os.cpu_count()}; "
          f"load average at start: {os.getloadavg()[0]:.1f}")
    print(f"{'calls':>5} {'questions':>9} {'median s':>9} {'p90 s':>7} {'max s':>7} {'gaps':>5} "
          f"{'late fr.':>8} {'frames':>7} {'barge-in med/max s':>19} {'cpu':>6}")
    try:
        for calls in (int(n) for n in options.calls.split(",")):
            line = build_line(settings, services, speaker, standalone_pipeline(settings, services, speaker, whisper),
                              LineConfig(max_calls=max(8, calls)))
            line.warm()
            cpu_before, wall_before = cpu_seconds(), time.monotonic()
            merged = asyncio.run(run_level(line, calls, options.questions))
            cpu = (cpu_seconds() - cpu_before) / (time.monotonic() - wall_before)
            latency, barge = merged["latency"], merged["barge_in"]
            late = sum(stats.late_frames for stats in line.finished)
            frames = sum(stats.frames_sent for stats in line.finished)
            print(f"{calls:>5} {len(latency):>9} {statistics.median(latency):>9.2f} {percentile(latency, 0.9):>7.2f} "
                  f"{max(latency):>7.2f} {int(sum(merged['gaps'])):>5} {late:>8} {frames:>7} "
                  f"{statistics.median(barge):>9.2f}/{max(barge):<9.2f} {cpu:>5.2f}c", flush=True)
    finally:
        speaker.close()


if __name__ == "__main__":
    main()
