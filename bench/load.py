"""Availability under load: speech streams, typed questions and health checks at once (issue 8, finding 5).

    .venv/bin/python bench/load.py [--speech-clients 50] [--text-clients 50] [--duration 30] [--rounds 1]

The service runs for real in its own process (``uvicorn --factory server.app:create_app`` on
127.0.0.1, a fresh data folder, SQLite, Whisper-base loaded, default admission settings:
recognition slots = cores, a short queue, a WebSocket cap). Each round drives it, from this
process, with:

- speech clients: a WebSocket each, streaming the test fixtures' recorded questions
  (tests/fixtures/audio/16k) in real time, 100 ms frames, each question followed by 1.5 s of
  quiet so the server's end-pointing closes it, then waiting for the answer ("reply", or
  "busy" with a retry time, which the client then honours, as the kiosk page does);
- text clients: POST /api/converse conversations, one after another (bench/server.py's scripts);
- one health checker: GET /healthz every 100 ms, GET /readyz every 500 ms.

After the round every client leaves; the server's resident memory is read again after a pause.
Reported per round and as the median over rounds: text turns/s, text p50/p99, 5xx count, health
p50/p99 (goal: p99 < 200 ms), speech replies and "busy" answers, dropped sockets, and RSS at
start (after one warm-up question of each kind), peak and after the clients left (goal: within
10 % of the start), with the ratios to the goals.

Only 127.0.0.1 is contacted; every round is bounded in time; the server is stopped at the end.
Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)

from bench.server import HOST, SCRIPTS, RawConnection, running_server  # noqa: E402

AUDIO = ROOT / "tests" / "fixtures" / "audio" / "16k"
FRAME_SAMPLES = 1600  # 100 ms at 16 kHz
QUIET_AFTER_S = 1.5
ANSWER_TIMEOUT_S = 60.0
REQUEST_TIMEOUT_S = 30.0
SETTLE_S = 10.0  # after the clients leave, before memory is read again
GOAL_HEALTH_P99_MS = 200.0
GOAL_MEMORY_RATIO = 1.10


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def load_questions() -> list[bytes]:
    """Every 16 kHz fixture as int16 PCM, each followed by quiet."""
    questions = []
    quiet = bytes(2 * int(16000 * QUIET_AFTER_S))
    for path in sorted(AUDIO.glob("*.wav")):
        with wave.open(str(path)) as reader:
            assert reader.getframerate() == 16000 and reader.getnchannels() == 1 and reader.getsampwidth() == 2
            questions.append(reader.readframes(reader.getnframes()) + quiet)
    return questions


@dataclass
class Round:
    seconds: float
    text_ms: list[float] = field(default_factory=list)
    text_5xx: int = 0
    text_other_errors: int = 0
    health_ms: list[float] = field(default_factory=list)
    health_failures: int = 0
    speech_replies: int = 0
    speech_busy: int = 0
    speech_errors: int = 0
    sockets_refused: int = 0  # the connection cap said "try again later"
    sockets_dropped: int = 0  # closed by the server without being asked
    rss_start_mb: float = 0.0
    rss_peak_mb: float = 0.0
    rss_after_mb: float = 0.0

    @property
    def text_per_s(self) -> float:
        return len(self.text_ms) / self.seconds


async def speech_client(port: int, index: int, questions: list[bytes], until: float, result: Round) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    try:
        async with connect(f"ws://{HOST}:{port}/ws/converse", open_timeout=REQUEST_TIMEOUT_S,
                           max_size=2**22) as socket:
            await socket.send(json.dumps({"type": "start"}))
            number = index
            while time.perf_counter() < until:
                audio = questions[number % len(questions)]
                number += 1
                started = time.perf_counter()
                for offset in range(0, len(audio), FRAME_SAMPLES * 2):  # in real time
                    await socket.send(audio[offset:offset + FRAME_SAMPLES * 2])
                    await asyncio.sleep(max(0.0, started + (offset / 2 + FRAME_SAMPLES) / 16000 - time.perf_counter()))
                while True:
                    message = json.loads(await asyncio.wait_for(socket.recv(), ANSWER_TIMEOUT_S))
                    if message["type"] == "reply":
                        result.speech_replies += 1
                        break
                    if message["type"] == "busy":
                        if "retry_after" not in message:  # the connection cap: the server closes next
                            result.sockets_refused += 1
                            return
                        result.speech_busy += 1
                        await asyncio.sleep(min(float(message["retry_after"]), max(0.0, until - time.perf_counter())))
                        break
                    if message["type"] == "error":
                        result.speech_errors += 1
                        break
    except ConnectionClosed as closed:
        if closed.rcvd is not None and closed.rcvd.code == 1013:
            result.sockets_refused += 1
        else:
            result.sockets_dropped += 1
    except (OSError, asyncio.TimeoutError):
        result.sockets_dropped += 1


async def text_client(port: int, index: int, until: float, result: Round) -> None:
    connection = RawConnection(port)
    number = index
    try:
        while time.perf_counter() < until:
            script = SCRIPTS[number % len(SCRIPTS)]
            number += 1
            session_id = None
            for text, account in script:
                payload = {"text": text, "channel": "web", **({"session_id": session_id} if session_id else {}),
                           **({"account": account} if account else {})}
                began = time.perf_counter()
                try:
                    status, data = await asyncio.wait_for(
                        connection.post("/api/converse", json.dumps(payload, ensure_ascii=False).encode()),
                        REQUEST_TIMEOUT_S)
                except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError):
                    result.text_other_errors += 1
                    await connection.close()
                    break
                if status >= 500:
                    result.text_5xx += 1
                    break
                if status != 200:
                    result.text_other_errors += 1
                    break
                result.text_ms.append((time.perf_counter() - began) * 1000)
                session_id = json.loads(data)["session_id"]
    finally:
        await connection.close()


async def health_checker(port: int, until: float, result: Round) -> None:
    import httpx

    async with httpx.AsyncClient(base_url=f"http://{HOST}:{port}", timeout=REQUEST_TIMEOUT_S) as http:
        tick = 0
        while time.perf_counter() < until:
            path = "/readyz" if tick % 5 == 0 else "/healthz"
            tick += 1
            began = time.perf_counter()
            try:
                ok = (await http.get(path)).status_code == 200
            except httpx.HTTPError:
                ok = False
            result.health_ms.append((time.perf_counter() - began) * 1000)
            result.health_failures += 0 if ok else 1
            await asyncio.sleep(0.1)


async def memory_watch(pid: int, until: float, result: Round) -> None:
    while time.perf_counter() < until:
        result.rss_peak_mb = max(result.rss_peak_mb, rss_mb(pid))
        await asyncio.sleep(0.5)


async def run_round(port: int, pid: int, speech_clients: int, text_clients: int, duration_s: float,
                    questions: list[bytes], rss_start_mb: float) -> Round:
    result = Round(duration_s, rss_start_mb=rss_start_mb, rss_peak_mb=rss_start_mb)
    until = time.perf_counter() + duration_s
    await asyncio.wait_for(asyncio.gather(
        *(speech_client(port, i, questions, until, result) for i in range(speech_clients)),
        *(text_client(port, i, until, result) for i in range(text_clients)),
        health_checker(port, until, result), memory_watch(pid, until, result),
    ), timeout=duration_s + ANSWER_TIMEOUT_S + 30)
    await asyncio.sleep(SETTLE_S)
    result.rss_after_mb = rss_mb(pid)
    return result


async def warm_up(port: int, questions: list[bytes]) -> None:
    """One question of each kind, so "start" memory is that of a service that has answered before."""
    import httpx

    warm = Round(1.0)
    async with httpx.AsyncClient(base_url=f"http://{HOST}:{port}", timeout=ANSWER_TIMEOUT_S) as http:
        assert (await http.post("/api/converse", json={"text": "营业厅几点开门"})).status_code == 200
    await speech_client(port, 0, questions, time.perf_counter() + 0.1, warm)
    assert warm.speech_replies == 1, "the warm-up question was not answered"


def report(rounds: list[Round], speech_clients: int, text_clients: int) -> None:
    def median(values: list[float]) -> float:
        return statistics.median(values)

    rows = [
        ("text turns/s", [r.text_per_s for r in rounds], "{:.1f}"),
        ("text p50 ms", [percentile(r.text_ms, 0.5) for r in rounds], "{:.1f}"),
        ("text p99 ms", [percentile(r.text_ms, 0.99) for r in rounds], "{:.1f}"),
        ("text 5xx", [r.text_5xx for r in rounds], "{:.0f}"),
        ("text other errors", [r.text_other_errors for r in rounds], "{:.0f}"),
        ("health p50 ms", [percentile(r.health_ms, 0.5) for r in rounds], "{:.1f}"),
        ("health p99 ms", [percentile(r.health_ms, 0.99) for r in rounds], "{:.1f}"),
        ("health failures", [r.health_failures for r in rounds], "{:.0f}"),
        ("speech replies", [r.speech_replies for r in rounds], "{:.0f}"),
        ("speech busy", [r.speech_busy for r in rounds], "{:.0f}"),
        ("speech errors", [r.speech_errors for r in rounds], "{:.0f}"),
        ("sockets refused (cap)", [r.sockets_refused for r in rounds], "{:.0f}"),
        ("sockets dropped", [r.sockets_dropped for r in rounds], "{:.0f}"),
        ("RSS start MB", [r.rss_start_mb for r in rounds], "{:.0f}"),
        ("RSS peak MB", [r.rss_peak_mb for r in rounds], "{:.0f}"),
        ("RSS after MB", [r.rss_after_mb for r in rounds], "{:.0f}"),
    ]
    print(f"\n{speech_clients} speech + {text_clients} text clients, {rounds[0].seconds:g} s per round, "
          f"{len(rounds)} round(s)")
    header = f"{'':<22} {'median':>9}  " + "  ".join(f"{'round ' + str(i + 1):>9}" for i in range(len(rounds)))
    print(header)
    print("-" * len(header))
    for name, values, shape in rows:
        print(f"{name:<22} {shape.format(median(values)):>9}  " + "  ".join(f"{shape.format(v):>9}" for v in values))
    health_p99 = median([percentile(r.health_ms, 0.99) for r in rounds])
    memory = median([r.rss_after_mb / r.rss_start_mb for r in rounds])
    peak = median([r.rss_peak_mb / r.rss_start_mb for r in rounds])
    fivexx = sum(r.text_5xx for r in rounds)
    print("\nagainst the goals (median over rounds):")
    print(f"  /healthz+/readyz p99 / 200 ms      = {health_p99 / GOAL_HEALTH_P99_MS:.2f}  "
          f"({'met' if health_p99 < GOAL_HEALTH_P99_MS else 'MISSED'})")
    print(f"  RSS after clients left / at start  = {memory:.3f}  (goal <= {GOAL_MEMORY_RATIO:.2f}: "
          f"{'met' if memory <= GOAL_MEMORY_RATIO else 'MISSED'}); peak / start = {peak:.3f}")
    print(f"  text 5xx                           = {fivexx}  ({'met' if fivexx == 0 else 'MISSED'})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--speech-clients", type=int, default=50)
    parser.add_argument("--text-clients", type=int, default=50)
    parser.add_argument("--duration", type=float, default=30.0, help="seconds per round")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    if not (0 <= args.speech_clients <= 200 and 0 <= args.text_clients <= 200 and 0 < args.duration <= 300
            and 1 <= args.rounds <= 10):
        parser.error("keep it bounded: at most 200 clients of each kind, 300 s per round, 10 rounds")
    questions = load_questions()
    print(f"NOTE: this load generator and the server share this machine's {os.cpu_count()} cores "
          "(and whatever else is running on it).")
    with tempfile.TemporaryDirectory(prefix="xiaodian-bench-load-") as folder:
        # Every client here connects from 127.0.0.1, standing for many kiosks and browsers: the
        # per-address socket cap (tests/security/test_socket_abuse.py) is lifted for them.
        environment = {"XIAODIAN_SPEECH_ENABLED": "true", "XIAODIAN_MAX_WEBSOCKETS_PER_CLIENT": "1000"}
        with running_server("", Path(folder), environment) as server:
            pid = server.process.pid
            asyncio.run(warm_up(server.port, questions))
            rounds = []
            for _ in range(args.rounds):
                start = rss_mb(pid)
                rounds.append(asyncio.run(run_round(server.port, pid, args.speech_clients, args.text_clients,
                                                    args.duration, questions, start)))
            print(f"server: recognition slots and queue from its defaults; log in {server.log} (removed at exit)")
    report(rounds, args.speech_clients, args.text_clients)


if __name__ == "__main__":
    main()
