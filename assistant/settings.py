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

    # Load the recogniser at start-up (the service reports ready once it is loaded).
    speech_enabled: bool = True
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
    # Admin and staff accounts. A login lasts one shift, then asks again.
    session_hours: float = 8.0
    # Password guessing: this many failures within the window locks the name
    # (or the client address, which several staff may share) until it passes.
    login_max_failures: int = 5
    login_max_failures_per_ip: int = 20
    login_window_minutes: int = 10
    # Hall PCs usually serve plain HTTP on the local network; set true behind HTTPS.
    cookie_secure: bool = False
    # How often the staff console's event stream looks for queue changes.
    staff_poll_s: float = 1.0
    # On shutdown, requests in flight get this long to finish (open event streams are then cut).
    shutdown_grace_s: float = 10.0

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
