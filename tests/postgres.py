"""A throwaway local PostgreSQL server for the tests that check the second database.

Started from Debian's packages (installed by `make test`) in a temporary
folder, on a free port on 127.0.0.1, as the ``postgres`` system user
(PostgreSQL refuses to run as root), and stopped at the end of the session.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def _binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _as_postgres(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


BINARIES_MISSING = "PostgreSQL server binaries not found (make test installs Debian's postgresql)"


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server binaries on this machine."""


@contextmanager
def throwaway_postgres() -> Iterator[str]:
    """Start a private PostgreSQL server and yield its URL (database ``xiaodian``); stop and delete it after.

    Shared by the ``postgres_url`` fixture and ``bench/server.py``.
    """
    binaries = _binaries()
    if binaries is None:
        raise PostgresUnavailable(BINARIES_MISSING)
    folder = Path(tempfile.mkdtemp(prefix="xiaodian-pg-"))
    data = folder / "data"
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    port = _free_port()
    try:
        subprocess.run(_as_postgres([str(binaries / "initdb"), "-D", str(data), "-U", "xiaodian", "--auth=trust",
                                     "-E", "UTF8", "--locale=C.UTF-8"]), check=True, capture_output=True)
        options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        subprocess.run(_as_postgres([str(binaries / "pg_ctl"), "-D", str(data), "-o", options, "-l",
                                     str(folder / "log"), "-w", "start"]), check=True, capture_output=True)
        try:
            subprocess.run(_as_postgres([str(binaries / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U",
                                         "xiaodian", "xiaodian"]), check=True, capture_output=True)
            yield f"postgresql+psycopg://xiaodian@127.0.0.1:{port}/xiaodian"
        finally:
            subprocess.run(_as_postgres([str(binaries / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"]),
                           capture_output=True)
            time.sleep(0.2)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    if _binaries() is None:
        if os.environ.get("CI"):
            pytest.fail(BINARIES_MISSING)
        pytest.skip(BINARIES_MISSING)
    with throwaway_postgres() as url:
        yield url


def fresh_database(base_url: str, name: str) -> str:
    """A new empty database on the throwaway server, for one test."""
    from sqlalchemy import create_engine, text

    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return base_url.rsplit("/", 1)[0] + f"/{name}"
