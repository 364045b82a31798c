"""Throughput and latency of ``POST /api/converse`` through a real uvicorn server, on SQLite and PostgreSQL,
with one worker process and with several.

    .venv/bin/python bench/server.py [--clients 10,50] [--workers 1,2] [--duration 10] [--warmup 2]
                                     [--databases sqlite,postgres]

For each database and worker count the service is started for real, in its own processes
(``xiaodian serve --workers N --log-level warning --no-access-log`` on 127.0.0.1, a fresh data
folder, speech off: migrations and seed once before the workers start, a fresh metrics folder,
each worker accepting on its own SO_REUSEPORT socket), and driven from this
process by N concurrent clients over keep-alive HTTP/1.1 connections, each
running short scripted conversations again and again: a question without an
account, a question with a card-read account (``3201000001``) followed by
turns in that session, and an out-of-scope line. Each level runs for a
warm-up (not counted) and then a fixed measured window; a turn counts when it
finishes inside the window. PostgreSQL is a throwaway local server
started from Debian's packages, as the tests do (``tests/postgres.py``).

The load generator runs on the same machine as the server (and PostgreSQL),
so they share its cores. To keep the client side cheap it speaks HTTP/1.1
itself over asyncio streams (``--client httpx`` uses httpx.AsyncClient
instead, which costs several times more CPU per request); the table shows the
CPU each side used per turn and how busy the whole machine was. The load
generator's CPU per turn is the same work in every run, so it also shows how
fast the (shared, virtual) machine was at the time: compare runs by it.

Only 127.0.0.1 is ever contacted; every level is bounded in time.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)

HOST = "127.0.0.1"
ACCOUNT = "3201000001"
GOAL_TURNS_PER_S = 500
GOAL_P99_MS = 50
GOAL_CLIENTS = 10
GOAL_WORKERS = 2
REQUEST_TIMEOUT_S = 10.0

# Each entry is one conversation: (text, account read from a card or None). The first turn opens
# a session; later turns carry its session id. Mix per round: 2 turns without an account, 3 with
# one (2 of them in an existing session), 1 out of scope.
SCRIPTS: tuple[tuple[tuple[str, str | None], ...], ...] = (
    (("营业厅几点开门", None), ("用三百度电要交多少钱", None)),
    (("上个月电费多少", ACCOUNT), ("用了多少度电", None), ("明天会停电吗", None)),
    (("今天天气怎么样", None),),
)


# --- the server under test ------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of one process (all its threads) so far."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _processes() -> dict[int, tuple[int, list[bytes]]]:
    """Every process: pid -> (parent pid, command line)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:  # gone meanwhile
            continue
        found[int(entry.name)] = (int(stat.rsplit(")", 1)[1].split()[1]), command)
    return found


def _with_children(pid: int, processes: dict[int, tuple[int, list[bytes]]]) -> list[int]:
    return [pid] + [child for child, (parent, _) in processes.items() if parent == pid]


def _database_pids(database_url: str) -> list[int]:
    """The PostgreSQL server serving ``database_url`` (its postmaster, found by port, and all its children)."""
    if not database_url:
        return []
    port = database_url.rsplit(":", 1)[1].split("/", 1)[0].encode()
    processes = _processes()
    postmaster = next((pid for pid, (_, command) in processes.items()
                       if command[0].endswith(b"/postgres") and b"-p" in command and port in command), None)
    return [] if postmaster is None else _with_children(postmaster, processes)


def _server_pids(server_pid: int) -> list[int]:
    """The uvicorn process and its workers (with ``--workers N`` it only supervises them)."""
    return _with_children(server_pid, _processes())


def _cpu_by_pid(pids: list[int]) -> dict[int, float]:
    found = {}
    for pid in pids:
        try:
            found[pid] = _cpu_seconds(pid)
        except OSError:  # a backend that has exited
            pass
    return found


def _machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all cores so far, from /proc/stat."""
    with open("/proc/stat") as handle:
        values = [int(v) for v in handle.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    log: Path


@contextmanager
def running_server(database_url: str, data_dir: Path,
                   settings: dict[str, str] | None = None, workers: int = 1) -> Iterator[Server]:
    """The service in its own process(es); yields once /readyz says 200, stops it gracefully after.

    Demo mode: the sandbox payment provider exists only there. ``settings`` (XIAODIAN_* variables)
    override these defaults, e.g. to load speech."""
    port = _free_port()
    metrics_dir = data_dir / "metrics"
    metrics_dir.mkdir(parents=True)
    env = {**os.environ, "XIAODIAN_DATA_DIR": str(data_dir), "XIAODIAN_SPEECH_ENABLED": "false",
           "XIAODIAN_DATABASE_URL": database_url, "XIAODIAN_DEMO": "true",
           "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir), **(settings or {})}
    command = [sys.executable, "-m", "assistant.cli", "serve", "--host", HOST, "--port", str(port),
               "--log-level", "warning", "--no-access-log", "--workers", str(workers)]
    log = data_dir / "server.log"
    with open(log, "wb") as output:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)
    server = Server(process, port, log)
    try:
        _wait_ready(server, timeout_s=180)
        # /readyz is answered by the first worker up; keep-alive clients connecting before the others
        # listen would all stay with it, so the clients start once every worker's socket listens.
        _wait_listening(port, workers, timeout_s=180)
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _listening_sockets(port: int) -> int:
    listening = "0A"  # TCP_LISTEN in /proc/net/tcp
    rows = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return sum(1 for row in rows if int(row.split()[1].split(":")[1], 16) == port and row.split()[3] == listening)


def _wait_listening(port: int, workers: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while _listening_sockets(port) < workers:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {_listening_sockets(port)} of {workers} workers listen after {timeout_s:.0f} s")
        time.sleep(0.2)


def _wait_ready(server: Server, timeout_s: float) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    with httpx.Client(base_url=f"http://{HOST}:{server.port}", timeout=5) as client:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                raise RuntimeError(f"server exited with {server.process.returncode}:\n{server.log.read_text()[-3000:]}")
            try:
                if client.get("/readyz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
    raise RuntimeError(f"server not ready after {timeout_s:.0f} s:\n{server.log.read_text()[-3000:]}")


# --- the clients ---------------------------------------------------------------------


class RawConnection:
    """Just enough HTTP/1.1 for this benchmark: POST a JSON body on one keep-alive connection."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(HOST, self.port)
        assert self.reader is not None
        self.writer.write(f"POST {path} HTTP/1.1\r\nHost: {HOST}:{self.port}\r\nContent-Type: application/json\r\n"
                          f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        head = (await self.reader.readuntil(b"\r\n\r\n")).lower()
        status = int(head[9:12])
        start = head.find(b"\r\ncontent-length:")
        if start < 0:
            raise RuntimeError("response without Content-Length")
        end = head.find(b"\r\n", start + 2)
        data = await self.reader.readexactly(int(head[start + 17:end]))
        if b"\r\nconnection: close" in head:
            await self.close()
        return status, data

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.reader = self.writer = None


class HttpxConnection:
    def __init__(self, client: Any) -> None:
        self.client = client

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        response = await self.client.post(path, content=body, headers={"Content-Type": "application/json"})
        return response.status_code, response.content

    async def close(self) -> None:
        pass


@dataclass
class Level:
    database: str
    workers: int
    clients: int
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    error_examples: list[str] = field(default_factory=list)
    server_cpu_s: float = 0.0
    database_cpu_s: float = 0.0
    client_cpu_s: float = 0.0
    machine_busy: float = 0.0  # fraction of all cores
    # Cores used by each worker process: the kernel spreads keep-alive connections over the workers'
    # sockets by their addresses, so at 10 clients the split is uneven now and then (6/4, 7/3).
    worker_cores: list[float] = field(default_factory=list)

    @property
    def turns_per_s(self) -> float:
        return len(self.latencies_ms) / self.seconds

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies_ms)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


async def run_level(database: str, workers: int, port: int, clients: int, warmup_s: float, duration_s: float,
                    client_kind: str, server_pid: int, database_url: str) -> Level:
    level = Level(database, workers, clients, duration_s)
    loop_start = time.perf_counter()
    measure_from, measure_until = loop_start + warmup_s, loop_start + warmup_s + duration_s
    httpx_client = None
    if client_kind == "httpx":
        import httpx

        limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
        httpx_client = httpx.AsyncClient(base_url=f"http://{HOST}:{port}", timeout=REQUEST_TIMEOUT_S, limits=limits)

    async def one_client(index: int) -> None:
        connection: RawConnection | HttpxConnection = (
            HttpxConnection(httpx_client) if httpx_client is not None else RawConnection(port))
        round_number = index  # clients start at different points of the mix
        try:
            while time.perf_counter() < measure_until:
                script = SCRIPTS[round_number % len(SCRIPTS)]
                round_number += 1
                session_id: str | None = None
                for text, account in script:
                    if time.perf_counter() >= measure_until:
                        break
                    payload: dict[str, str] = {"text": text, "channel": "web"}
                    if session_id:
                        payload["session_id"] = session_id
                    if account:
                        payload["account"] = account
                    body = json.dumps(payload, ensure_ascii=False).encode()
                    began = time.perf_counter()
                    problem = None
                    try:
                        status, data = await asyncio.wait_for(connection.post("/api/converse", body), REQUEST_TIMEOUT_S)
                        if status == 200:
                            session_id = json.loads(data)["session_id"]
                        else:
                            problem = f"HTTP {status}: {data[:200]!r}"
                    except Exception as error:  # counted and shown: any failure is an error of this turn
                        problem = f"{type(error).__name__}: {error}"
                        await connection.close()
                    ended = time.perf_counter()
                    counted = measure_from <= ended <= measure_until  # completed inside the window
                    if problem is None:
                        if counted:
                            level.latencies_ms.append((ended - began) * 1000)
                        continue
                    if counted:
                        level.errors += 1
                        if len(level.error_examples) < 3:
                            level.error_examples.append(problem)
                    await asyncio.sleep(0.05)  # no hot loop against a failing server
                    break
        finally:
            await connection.close()

    async def measure_cpu() -> None:
        await asyncio.sleep(max(0.0, measure_from - time.perf_counter()))
        # PostgreSQL has a backend process per pooled connection: the pool has grown by now.
        database0 = _cpu_by_pid(_database_pids(database_url))
        server_pids = _server_pids(server_pid)
        server0, client0, (busy0, total0) = _cpu_by_pid(server_pids), time.process_time(), _machine_busy()
        await asyncio.sleep(max(0.0, measure_until - time.perf_counter()))
        server1, client1, (busy1, total1) = _cpu_by_pid(server_pids), time.process_time(), _machine_busy()
        database1 = _cpu_by_pid(_database_pids(database_url))
        level.server_cpu_s = sum(cpu - server0.get(pid, 0.0) for pid, cpu in server1.items())
        level.worker_cores = sorted(((cpu - server0.get(pid, 0.0)) / duration_s for pid, cpu in server1.items()),
                                    reverse=True)[:level.workers]
        level.client_cpu_s = client1 - client0
        level.database_cpu_s = sum(cpu - database0.get(pid, 0.0) for pid, cpu in database1.items())
        level.machine_busy = (busy1 - busy0) / max(1, total1 - total0)

    try:
        await asyncio.wait_for(asyncio.gather(measure_cpu(), *(one_client(i) for i in range(clients))),
                               timeout=warmup_s + duration_s + REQUEST_TIMEOUT_S + 30)
    finally:
        if httpx_client is not None:
            await httpx_client.aclose()
    return level


# --- the run -------------------------------------------------------------------------


def database_url(name: str, stack: ExitStack) -> str:
    """The service's XIAODIAN_DATABASE_URL for one run; a PostgreSQL server lives as long as ``stack``."""
    if name == "sqlite":
        return ""  # empty: the service's default, SQLite (WAL) in its data folder
    from tests.postgres import fresh_database, throwaway_postgres

    return fresh_database(stack.enter_context(throwaway_postgres()), "bench")


def print_table(levels: list[Level]) -> None:
    cores = os.cpu_count() or 1
    header = (f"{'database':<10} {'workers':>7} {'clients':>7} {'turns/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6} "
              f"{'CPU ms/turn: server':>19} {'db':>5} {'client':>6} {'other cores':>11} {'machine busy':>12} "
              f"{'worker cores':>12}")
    print(header)
    print("-" * len(header))
    for level in levels:
        turns = max(1, len(level.latencies_ms))
        other = (level.machine_busy * cores
                 - (level.server_cpu_s + level.database_cpu_s + level.client_cpu_s) / level.seconds)
        print(f"{level.database:<10} {level.workers:>7} {level.clients:>7} {level.turns_per_s:>8.0f} {level.percentile(0.5):>7.1f} "
              f"{level.percentile(0.99):>7.1f} {level.errors:>6} {level.server_cpu_s * 1000 / turns:>19.2f} "
              f"{level.database_cpu_s * 1000 / turns:>5.2f} {level.client_cpu_s * 1000 / turns:>6.2f} "
              f"{max(0.0, other):>11.2f} {level.machine_busy:>11.0%} "
              f"{' '.join(f'{cores_used:.2f}' for cores_used in level.worker_cores):>12}")
    print("CPU ms/turn: CPU time per measured turn of the uvicorn processes, the PostgreSQL server and this load "
          "generator.\nThe load generator does the same work in every run: when its CPU per turn is high, the whole "
          "(shared,\nvirtual) machine was slow at the time; on this one it drifts by up to 2.5 times (0.2 to 0.5 ms).\n"
          "other cores: CPU used meanwhile by anything else on the machine, in cores.\n"
          "worker cores: cores used by each uvicorn process, busiest first (one process: ~1.0 at most, the GIL).")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", default="10,50", help="concurrency levels, comma-separated")
    parser.add_argument("--workers", default="1,2", help="worker process counts, comma-separated")
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per level")
    parser.add_argument("--warmup", type=float, default=2.0, help="uncounted seconds before each level")
    parser.add_argument("--databases", default="sqlite,postgres", help="sqlite, postgres or both")
    parser.add_argument("--client", choices=("raw", "httpx"), default="raw", help="load generator's HTTP client")
    args = parser.parse_args()
    levels_wanted = [int(n) for n in args.clients.split(",") if n.strip()]
    worker_counts = [int(n) for n in args.workers.split(",") if n.strip()]
    databases = [d.strip() for d in args.databases.split(",") if d.strip()]
    if (any(d not in ("sqlite", "postgres") for d in databases) or not levels_wanted or min(levels_wanted) < 1
            or not worker_counts or min(worker_counts) < 1 or max(worker_counts) > 16):
        parser.error("--databases takes sqlite and/or postgres; --clients positive integers; --workers 1 to 16")
    if args.duration <= 0 or args.duration > 300 or args.warmup < 0 or args.warmup > 60 or max(levels_wanted) > 500:
        parser.error("keep it bounded: --duration in (0, 300], --warmup in [0, 60], at most 500 clients")

    cores = os.cpu_count() or 1
    present = ", ".join(name for name in ("uvloop", "httptools") if importlib.util.find_spec(name)) or "neither"
    print(f"POST /api/converse on {HOST}, `xiaodian serve` in its own processes (uvloop/httptools installed: {present}); "
          f"{args.warmup:g} s warm-up + {args.duration:g} s measured per level; client: {args.client}.")
    print(f"NOTE: the load generator, the server and PostgreSQL share this machine's {cores} cores; "
          f"'machine busy' is all of them together.\n")
    results: list[Level] = []
    for database in databases:
        for workers in worker_counts:
            with ExitStack() as stack:  # a fresh database and data folder for every worker count
                try:
                    url = database_url(database, stack)
                except RuntimeError as problem:  # e.g. no PostgreSQL binaries here
                    print(f"{database}: skipped ({problem})", file=sys.stderr)
                    break
                data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="xiaodian-bench-server-")))
                server = stack.enter_context(running_server(url, data_dir, workers=workers))
                for clients in levels_wanted:
                    level = asyncio.run(run_level(database, workers, server.port, clients, args.warmup, args.duration,
                                                  args.client, server.process.pid, url))
                    results.append(level)
                    for example in level.error_examples:
                        print(f"  {database}/{workers}/{clients}: error example: {example}", file=sys.stderr)
    print_table(results)
    goal = [lv for lv in results if lv.clients == GOAL_CLIENTS and lv.workers == GOAL_WORKERS]
    for level in goal:
        met = level.turns_per_s >= GOAL_TURNS_PER_S and level.percentile(0.99) < GOAL_P99_MS and level.errors == 0
        print(f"goal with {GOAL_WORKERS} workers at {GOAL_CLIENTS} clients on {level.database} (>= {GOAL_TURNS_PER_S} "
              f"turns/s, p99 < {GOAL_P99_MS} ms, no errors): {'met' if met else 'MISSED'}")


if __name__ == "__main__":
    main()
