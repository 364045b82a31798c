"""The phone line under test: the real gateway on a free port, the real services (SQLite, demo mode:
the sandbox payment provider and the FAKE SMS gateway), Whisper-base hearing the callers, espeak-ng
(or the natural voice where the answer must be heard back) speaking."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from assistant.phone.gateway import LineConfig, PhoneLine
from assistant.phone.line import build_line, standalone_pipeline
from assistant.services import Services, build_services, make_speaker
from assistant.speech.engines import load_recognizer
from knowledge_base.settings import Settings

# Answers played four times faster than real time: the pacing itself is tested at speed 1.
FAST = LineConfig(playback_speed=4.0, silence_s=8.0)


@pytest.fixture(scope="session")
def whisper(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    return load_recognizer(Settings(data_dir=tmp_path_factory.mktemp("whisper"), asr_engine="whisper"))


@pytest.fixture
def phone_settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, demo=True, voice="espeak", payment_provider="sandbox")


@pytest.fixture
def services(engine, phone_settings: Settings) -> Services:  # type: ignore[no-untyped-def]
    return build_services(phone_settings, engine=engine, seed=False)


@pytest.fixture
def line_factory(services: Services, phone_settings: Settings, whisper) -> Callable[..., PhoneLine]:  # type: ignore[no-untyped-def]
    speaker = make_speaker(phone_settings)

    def make(config: LineConfig = FAST, settings: Settings = phone_settings) -> PhoneLine:
        line = build_line(settings, services, speaker, standalone_pipeline(settings, services, speaker, whisper),
                          config)
        line.warm()
        return line

    return make


def on_line(line: PhoneLine, scenario: Callable[[int], Awaitable[Any]]) -> Any:
    """Run ``scenario(port)`` against the line, started on a free port and closed after."""

    async def main() -> Any:
        await line.start("127.0.0.1", 0)
        try:
            return await asyncio.wait_for(scenario(line.port), 180)
        finally:
            await line.close()

    return asyncio.run(main())
