"""The daily reminders run at scale: 100,000 and 1,000,000 generated accounts, on SQLite and on
PostgreSQL with one and two runners; run time and peak memory of each runner process.

    .venv/bin/python bench/reminders.py                  # 100k and 1M, SQLite and PostgreSQL
    .venv/bin/python bench/reminders.py --sizes 100000 --repeats 3 --no-postgres

Goal (issue 14): 1,000,000 accounts in under 60 s on this 2-core machine, memory under 500 MB.
Each repeat starts from an empty outbox (the run is idempotent: a second run queues nothing). Every
runner is a fresh process, so its peak resident memory (ru_maxrss) is the run's own.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import text  # noqa: E402

NOW_HOUR = 10  # a moment outside everyone's quiet hours and after their preferred time


def _child(url: str, batch: int, name: str) -> None:
    """One runner: the run, then its time and peak memory as JSON on stdout."""
    from assistant.reminders.run import run_reminders
    from knowledge_base.db import make_engine
    from knowledge_base.models import service_tz

    engine = make_engine(url)
    now = datetime.now(service_tz()).replace(hour=NOW_HOUR, minute=0)
    started = time.perf_counter()
    summary = run_reminders(engine, now, batch_accounts=batch, runner=name)
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "peak_mb": peak_mb, "queued": summary.queued,
                      "chunks": summary.chunks_done_here, "due": summary.due}))


def _prepare(url: str, count: int) -> float:
    from assistant.reminders.demo_accounts import generate_demo_accounts
    from knowledge_base.db import make_engine
    from knowledge_base.models import service_tz
    from knowledge_base.seed import seed_database

    engine = make_engine(url)
    seed_database(engine, include_demo=False)
    started = time.perf_counter()
    generate_demo_accounts(engine, count, seed=1, today=datetime.now(service_tz()).date(), batch=20000)
    with engine.begin() as connection:
        connection.execute(text("UPDATE remindersubscription SET quiet_start_minute = 0, quiet_end_minute = 0"))
        if engine.dialect.name == "postgresql":
            connection.execute(text("ANALYZE"))
        else:
            connection.execute(text("ANALYZE"))
    engine.dispose()
    return time.perf_counter() - started


def _reset(url: str) -> None:
    from knowledge_base.db import make_engine

    engine = make_engine(url)
    with engine.begin() as connection:
        for table in ("remindermessage", "reminderrunchunk", "reminderrun"):
            connection.execute(text(f"DELETE FROM {table}"))
    if engine.dialect.name == "sqlite":
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    else:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE remindermessage"))
    engine.dispose()


def _runners(url: str, count: int, batch: int) -> tuple[float, list[dict]]:
    started = time.perf_counter()
    processes = [subprocess.Popen([sys.executable, __file__, "--child", url, "--batch", str(batch),
                                   "--name", f"runner-{index}"], stdout=subprocess.PIPE, text=True)
                 for index in range(count)]
    results = [json.loads(process.communicate()[0]) for process in processes]
    return time.perf_counter() - started, results


def _measure(label: str, url: str, size: int, runners: int, repeats: int, batch: int) -> None:
    walls, peaks, queued = [], [], set()
    for _ in range(repeats):
        _reset(url)
        wall, results = _runners(url, runners, batch)
        walls.append(wall)
        peaks.append(max(result["peak_mb"] for result in results))
        queued.add(sum(result["queued"] for result in results) if runners == 1 else results[0]["queued"])
    walls.sort()
    print(f"{label:<12} {size:>9,} accounts  runners {runners}  wall median {statistics.median(walls):6.1f} s "
          f"(min {walls[0]:.1f}, max {walls[-1]:.1f}, n={repeats})  peak RSS per runner {max(peaks):5.0f} MB  "
          f"queued {sorted(queued)}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child")
    parser.add_argument("--name", default="runner")
    parser.add_argument("--batch", type=int, default=20000)
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--keep", type=Path, help="a folder for the SQLite databases, kept between runs: "
                        "generate once (the slow part), time the runs later on a quiet machine")
    options = parser.parse_args()
    if options.child:
        _child(options.child, options.batch, options.name)
        return
    sizes = [int(size) for size in options.sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="xiaodian-bench-reminders-") as scratch:
        folder = options.keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        for size in sizes:
            database = folder / f"r{size}.db"
            url = f"sqlite:///{database}"
            if not (options.keep and database.exists()):
                print(f"generating {size:,} accounts on SQLite: {_prepare(url, size):.0f} s", flush=True)
            _measure("SQLite", url, size, 1, options.repeats, options.batch)
    if options.no_postgres:
        return
    from tests.postgres import fresh_database, throwaway_postgres

    with throwaway_postgres() as base:
        for size in sizes:
            url = fresh_database(base, f"r{size}")
            print(f"generating {size:,} accounts on PostgreSQL: {_prepare(url, size):.0f} s", flush=True)
            _measure("PostgreSQL", url, size, 1, options.repeats, options.batch)
            _measure("PostgreSQL", url, size, 2, options.repeats, options.batch)


if __name__ == "__main__":
    main()
