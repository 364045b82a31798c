"""Several uvicorn worker processes on one port, each accepting on its own socket.

uvicorn's own ``--workers`` shares one listening socket: whichever worker wakes first accepts
every connection waiting, and keep-alive clients then stay with it (bench/server.py measured
one worker at a full core and the other idle, 10 clients). With SO_REUSEPORT each worker has its
own accept queue and the kernel spreads new connections over them by their addresses.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from uvicorn.config import STARTUP_FAILURE

# The supervisor logs with uvicorn's configuration (and its redacting filter), like its workers.
logger = logging.getLogger("uvicorn.error")

# Workers dying this often die for a reason a restart will not fix: stop rather than loop.
MAX_DEATHS = 5
DEATHS_WINDOW_S = 60.0
SUPERVISE_EVERY_S = 0.5


class PortInUse(OSError):
    pass


@dataclass(frozen=True)
class ServeOptions:
    app: str  # "module:factory"
    host: str
    port: int
    log_level: str = "info"
    access_log: bool = True
    graceful_shutdown_s: float = 10.0
    log_config: dict[str, Any] | None = field(default=None, hash=False)

    def uvicorn_config(self) -> uvicorn.Config:
        # proxy_headers off: uvicorn would otherwise believe X-Forwarded-For from 127.0.0.1; the
        # app honours it only from its configured trusted proxies.
        extra: dict[str, Any] = {"log_config": self.log_config} if self.log_config is not None else {}
        return uvicorn.Config(self.app, factory=True, host=self.host, port=self.port, log_level=self.log_level,
                              access_log=self.access_log, proxy_headers=False,
                              timeout_graceful_shutdown=self.graceful_shutdown_s, **extra)


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def check_port_free(host: str, port: int) -> None:
    """Fail before any worker starts if something else listens there: with SO_REUSEPORT a second
    copy of the service started by the same user would otherwise quietly share the port."""
    with socket.socket(_family(host), socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            raise PortInUse(f"{host}:{port} 已经被占用（{error.strerror}）") from error


def reuse_port_socket(host: str, port: int) -> socket.socket:
    sock = socket.socket(_family(host), socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def _stop_when_orphaned(parent: int) -> None:
    """A supervisor killed outright cannot stop its workers; they notice and stop themselves."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os.kill(os.getpid(), signal.SIGTERM)


def _run_worker(options: ServeOptions, parent: int) -> None:
    threading.Thread(target=_stop_when_orphaned, args=(parent,), daemon=True).start()
    uvicorn.Server(options.uvicorn_config()).run(sockets=[reuse_port_socket(options.host, options.port)])


def serve_workers(options: ServeOptions, workers: int) -> int:
    """Run ``workers`` processes until SIGINT/SIGTERM; a worker that dies is replaced. Returns an exit code."""
    check_port_free(options.host, options.port)
    options.uvicorn_config()  # configures logging here as in the workers
    context = multiprocessing.get_context("spawn")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())

    def start() -> multiprocessing.process.BaseProcess:
        process = context.Process(target=_run_worker, args=(options, os.getpid()), daemon=False)
        process.start()
        logger.info("worker %s started", process.pid)
        return process

    running = [start() for _ in range(workers)]
    deaths: list[float] = []
    exit_code = 0
    while not stop.wait(SUPERVISE_EVERY_S):
        for index, process in enumerate(running):
            if process.is_alive():
                continue
            now = time.monotonic()
            deaths = [moment for moment in deaths if now - moment < DEATHS_WINDOW_S] + [now]
            if process.exitcode == STARTUP_FAILURE or len(deaths) >= MAX_DEATHS:
                logger.error("worker %s stopped with exit code %s, %d workers died within %.0f s; stopping",
                             process.pid, process.exitcode, len(deaths), DEATHS_WINDOW_S)
                exit_code = 1
                stop.set()
                break
            logger.warning("worker %s died (exit code %s); starting another", process.pid, process.exitcode)
            running[index] = start()
    for process in running:
        if process.is_alive():
            os.kill(process.pid, signal.SIGTERM)  # type: ignore[arg-type]
    deadline = time.monotonic() + options.graceful_shutdown_s + 5.0
    for process in running:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            process.kill()
            process.join()
    return exit_code
