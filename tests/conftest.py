"""Shared fixtures: a real SQLite database file seeded from the shipped YAML."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pytest

from assistant.knowledge import Knowledge
from knowledge_base.db import make_engine
from knowledge_base.seed import seed_database

REPO_ROOT = Path(__file__).resolve().parent.parent
EVAL_DIR = REPO_ROOT.parent / "shared" / "eval"
# A fixed "today" so answers that mention dates are stable.
TODAY = date(2026, 11, 22)
# Services started by the tests speak with espeak-ng (instant, one process): the natural voice
# (a TensorFlow process, and a background warm-up of every answer per start) is tested on its own
# in tests/test_natural_voice.py, which asks for it by name.
os.environ.setdefault("XIAODIAN_VOICE", "espeak")


def eval_file(name: str) -> Path:
    """A file of the shared measuring set; CI always has it, a bare checkout may not."""
    path = EVAL_DIR / name
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"measuring set missing in CI: {path}")
        pytest.skip(f"measuring set not found at {path}")
    return path


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'xiaodian.db'}"


@pytest.fixture
def engine(database_url: str):  # type: ignore[no-untyped-def]
    engine = make_engine(database_url)
    seed_database(engine, today=TODAY)
    yield engine
    engine.dispose()


@pytest.fixture
def knowledge(engine) -> Knowledge:  # type: ignore[no-untyped-def]
    return Knowledge(engine)


@pytest.fixture(scope="session")
def shipped_matcher():  # type: ignore[no-untyped-def]
    from intents import IntentMatcher, IntentSpec
    from knowledge_base.seed import load_intent_seeds

    return IntentMatcher(IntentSpec(s.id, tuple(s.examples), tuple(s.keywords)) for s in load_intent_seeds())
