"""Settings in one place, from ``XIAODIAN_*`` environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="XIAODIAN_", extra="ignore")

    data_dir: Path = Path("var")
    # Empty means SQLite in the data folder; set e.g. postgresql+psycopg://... for PostgreSQL.
    database_url: str = ""
    region: str = "jiangsu"
    # Where customers' phones reach this service: payment links and QR codes point here.
    public_url: str = "http://127.0.0.1:8000"
    payment_link_hours: int = 24

    # Speech recognition: "auto" uses a registered Mandarin Vosk model when
    # there is one, else Whisper (which installs from PyPI and always works).
    asr_engine: Literal["auto", "whisper", "vosk"] = "auto"
    whisper_beam_size: int = 1
    # Optional Whisper prompt (a short natural sentence). Empty by default: on
    # the shared audio set it did not raise intent accuracy (see README).
    whisper_prompt: str = ""
    asr_threads: int = 2
    vosk_grammar: bool = False  # restrict Vosk to the knowledge base's words
    # End-pointing: elderly speakers pause mid-sentence.
    end_silence_s: float = 1.2
    max_utterance_s: float = 15.0
    # Voice
    voice_rate: int = 130
    voice_volume: float = 1.0

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def speech_cache_dir(self) -> Path:
        return self.data_dir / "speech-cache"

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'xiaodian.db').resolve()}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
