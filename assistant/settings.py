"""Settings in one place, from ``XIAODIAN_*`` environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="XIAODIAN_", extra="ignore")

    data_dir: Path = Path("var")
    # Empty means SQLite in the data folder; set e.g. postgresql+psycopg://... for PostgreSQL.
    database_url: str = ""
    region: str = "jiangsu"

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'xiaodian.db').resolve()}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
