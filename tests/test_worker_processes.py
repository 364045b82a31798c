"""``xiaodian serve --workers N``: every worker takes a share of the connections, a dead worker is
replaced, and workers do not outlive their supervisor.

Run for real: the command in its own process, its workers found in /proc, their connections
counted from /proc/net/tcp.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.server_fixtures import free_port, stop_process, wait_until_ready

ROOT = Path(__file__).resolve().parent.parent
XIAODIAN = Path(sys.executable).with_name("xiaodian")
CONNECTIONS = 16  # all on one worker by chance: 2 in 2**16


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _is_worker(pid: int) -> bool:
    try:
        return b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _running(pid: int) -> bool:
    """Alive and not a zombie (in a container nobody may reap an orphan's corpse)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _established_inodes(port: int) -> set[str]:
    """Socket inodes of established connections whose local end is ``port`` (the server's side)."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port and fields[3] == "01":
            inodes.add(fields[9])
    return inodes


def _connections_held(pid: int, inodes: set[str]) -> int:
    held = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in inodes:
            held += 1
    return held


def _wait_for(condition, timeout_s: float = 30.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


class Served:
    def __init__(self, tmp_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp_path / "serve.log"
        env = {**os.environ, "XIAODIAN_DATA_DIR": str(tmp_path / "data"), "XIAODIAN_DEMO": "true",
               "XIAODIAN_SPEECH_ENABLED": "false"}
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        with open(self.log, "wb") as output:
            self.process = subprocess.Popen([str(XIAODIAN), "serve", "--port", str(self.port), "--workers", "2"],
                                            cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)
        wait_until_ready(self.url, self.process, self.log.read_text)

    def workers(self) -> list[int]:
        """The worker processes (multiprocessing also starts a resource tracker, which serves nothing)."""
        return [pid for pid in _children(self.process.pid) if _is_worker(pid)]

    def stop(self) -> None:
        stop_process(self.process)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    server = Served(tmp_path)
    try:
        yield server
    finally:
        server.stop()


def test_keep_alive_clients_are_spread_over_both_workers(served: Served) -> None:
    clients = [httpx.Client(base_url=served.url, timeout=10) for _ in range(CONNECTIONS)]
    try:
        for client in clients:  # each opens its own connection and keeps it
            assert client.get("/healthz").status_code == 200
        inodes = _established_inodes(served.port)
        held = {pid: _connections_held(pid, inodes) for pid in served.workers()}
        assert len(held) == 2 and sum(held.values()) == CONNECTIONS, held
        assert min(held.values()) > 0, f"one worker holds every connection: {held}"
    finally:
        for client in clients:
            client.close()


def test_a_killed_worker_is_replaced_and_the_service_goes_on(served: Served) -> None:
    first, second = served.workers()
    os.kill(first, signal.SIGKILL)
    assert _wait_for(lambda: [pid for pid in served.workers() if _running(pid)] not in ([second], [])
                     and first not in served.workers()), served.log.read_text()
    assert second in served.workers()
    assert _wait_for(lambda: all(httpx.get(f"{served.url}/readyz", timeout=5).status_code == 200 for _ in range(8)))
    assert "died" in served.log.read_text()


def test_workers_stop_when_their_supervisor_is_killed(served: Served) -> None:
    workers = served.workers()
    os.kill(served.process.pid, signal.SIGKILL)
    served.process.wait()
    assert _wait_for(lambda: not any(_running(pid) for pid in workers)), "workers outlived the supervisor"
    with socket.socket() as probe:  # and the port is free again for the next start
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", served.port))


def test_a_second_service_on_a_busy_port_is_refused_plainly(served: Served, tmp_path: Path) -> None:
    env = {**os.environ, "XIAODIAN_DATA_DIR": str(tmp_path / "other"), "XIAODIAN_DEMO": "true",
           "XIAODIAN_SPEECH_ENABLED": "false"}
    result = subprocess.run([str(XIAODIAN), "serve", "--port", str(served.port), "--workers", "2"], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "已经被占用" in result.stderr
