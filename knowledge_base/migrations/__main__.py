"""Alembic's command line with 小电's configuration (there is no alembic.ini)::

    python -m knowledge_base.migrations revision --autogenerate -m "add hall phone"
    python -m knowledge_base.migrations check      # do the models need a new revision?
    python -m knowledge_base.migrations history
    python -m knowledge_base.migrations current    # of the database the settings name

``revision --autogenerate`` and ``check`` compare the models with a scratch SQLite
database brought to the newest revision, never with a real one, so what they see does
not depend on the state of anybody's database. New revisions are numbered 0002, 0003…
unless ``--rev-id`` says otherwise. Commands that touch a database (upgrade, downgrade,
stamp, current) use XIAODIAN_DATABASE_URL, or SQLite in XIAODIAN_DATA_DIR, like the app;
operators upgrade with ``xiaodian db upgrade``.
"""

from __future__ import annotations

import re
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from alembic import command
from alembic.config import CommandLine
from alembic.script import ScriptDirectory

from knowledge_base.db import _migration_transaction, alembic_config, make_engine, migrate

_SCRATCH_COMMANDS = {command.revision, command.check}
_DATABASE_COMMANDS = {command.upgrade, command.downgrade, command.stamp, command.current}


def _next_revision_id() -> str:
    scripts = ScriptDirectory.from_config(alembic_config())
    numbers = [int(s.revision) for s in scripts.walk_revisions() if re.fullmatch(r"\d+", s.revision)]
    return f"{max(numbers, default=0) + 1:04d}"


def main(argv: Sequence[str] | None = None) -> None:
    cli = CommandLine(prog="python -m knowledge_base.migrations")
    options = cli.parser.parse_args(argv)
    if not hasattr(options, "cmd"):
        cli.parser.error("too few arguments")
    function = options.cmd[0]
    if function is command.revision and not getattr(options, "rev_id", None):
        options.rev_id = _next_revision_id()
    needs_scratch = function is command.check or (function is command.revision and options.autogenerate)
    if needs_scratch:
        with tempfile.TemporaryDirectory(prefix="xiaodian-migrations-") as folder:
            engine = make_engine(f"sqlite:///{Path(folder) / 'head.db'}")
            try:
                migrate(engine)
                with engine.connect() as connection:
                    cli.run_cmd(alembic_config(connection, cmd_opts=options), options)
            finally:
                engine.dispose()
    elif function in _DATABASE_COMMANDS:
        from knowledge_base.settings import get_settings

        engine = make_engine(get_settings().resolved_database_url)
        try:
            with _migration_transaction(engine) as connection:
                cli.run_cmd(alembic_config(connection, cmd_opts=options), options)
        finally:
            engine.dispose()
    else:  # history, heads, show, branches…: the scripts only
        cli.run_cmd(alembic_config(cmd_opts=options), options)


if __name__ == "__main__":
    main(sys.argv[1:])
