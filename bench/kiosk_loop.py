"""The hall kiosk's device loop: from the end of the customer's speech to the first sound of the answer.

    .venv/bin/python bench/kiosk_loop.py [--voice espeak|natural] [--questions 12] [--rounds 2]

Starts ``xiaodian serve`` (Whisper; demo data; a fresh data folder) and runs the device loop
(``kiosk/device.py``) in this process over the 16 kHz fixture questions, played in real time as a
microphone would hear them, one question after the other's answer, answers written to a temporary
folder. The loop's clock starts at the last voiced 20 ms frame it sent and stops when the first
sentence of the answer arrives: end-pointing (1.2 s of silence, or 0.7 s after a clear request),
recognition, the dialogue and the first sentence's voice, over the real WebSocket. Median and
p90 side by side (and p99 when there are enough questions).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)

from kiosk.device import DeviceLoop, FileSource, FolderSink, LoopOptions  # noqa: E402

AUDIO = ROOT / "tests" / "fixtures" / "audio" / "16k"


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--voice", default="espeak", choices=("espeak", "natural"))
    parser.add_argument("--questions", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    files = sorted(AUDIO.glob("a*.wav"))[: args.questions]
    port = free_port()
    with tempfile.TemporaryDirectory() as folder:
        env = {**os.environ, "XIAODIAN_DATA_DIR": f"{folder}/data", "XIAODIAN_DEMO": "true",
               "XIAODIAN_VOICE": args.voice, "XIAODIAN_PUBLIC_URL": f"http://127.0.0.1:{port}"}
        server = subprocess.Popen([sys.executable, "-m", "assistant.cli", "serve", "--port", str(port),
                                   "--log-level", "warning", "--no-access-log"], env=env, cwd=ROOT)
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 300
            while True:
                try:
                    if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert server.poll() is None and time.monotonic() < deadline, "the service did not start"
                time.sleep(0.5)
            figures: list[float] = []
            for round_number in range(args.rounds):
                answered = asyncio.Event()
                loop = DeviceLoop(LoopOptions(server=url, once=True), FileSource(files, answered),
                                  FolderSink(Path(folder) / f"answers-{round_number}"), answered=answered)
                turns = asyncio.run(loop.run())
                figures += [turn.end_of_speech_to_first_audio_s for turn in turns
                            if turn.end_of_speech_to_first_audio_s is not None]
        finally:
            server.terminate()
            server.wait(timeout=30)
    line = (f"kiosk loop, {args.voice} voice, {len(figures)} answers: end of speech → first audio "
            f"median {statistics.median(figures):.2f} s, p90 {percentile(figures, 0.9):.2f} s")
    if len(figures) >= 50:
        line += f", p99 {percentile(figures, 0.99):.2f} s"
    print(line)


if __name__ == "__main__":
    main()
