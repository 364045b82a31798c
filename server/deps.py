"""What every route needs from the running service: its settings, database, knowledge, the caller's address.

Routes never reach for globals: the engine, the knowledge and the settings
live on ``app.state`` (set up by ``server.app.create_app``) and come in
through the dependencies here, so a test can build as many apps as it likes.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.engine import Engine
from sqlmodel import Session

from assistant.knowledge import Knowledge
from knowledge_base.settings import Settings
from knowledge_base.db import session


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_engine(request: Request) -> Engine:
    return request.app.state.engine


def get_knowledge(request: Request) -> Knowledge:
    return request.app.state.knowledge


def get_db(request: Request) -> Iterator[Session]:
    """One database session per request, closed when the response is done."""
    with session(request.app.state.engine) as db:
        yield db


SettingsDep = Annotated[Settings, Depends(get_settings)]
EngineDep = Annotated[Engine, Depends(get_engine)]
KnowledgeDep = Annotated[Knowledge, Depends(get_knowledge)]
DbSession = Annotated[Session, Depends(get_db)]


def client_address(request: Request | Any) -> str:
    """The caller's address: the socket's peer, or X-Forwarded-For's last hop added by a trusted proxy.

    Anyone can send X-Forwarded-For; it is believed only when the peer is one of
    ``settings.trusted_proxies``, and then the right-most address the proxy saw is
    taken (left-most entries are whatever the client wrote).
    """
    peer = request.client.host if request.client else "unknown"
    trusted = request.app.state.settings.trusted_proxy_set
    if peer not in trusted:
        return peer
    forwarded = [part.strip() for part in request.headers.get("x-forwarded-for", "").split(",") if part.strip()]
    while forwarded and forwarded[-1] in trusted:
        forwarded.pop()
    return forwarded[-1][:64] if forwarded else peer


def as_utc(moment: datetime) -> datetime:
    """SQLite hands datetimes back without their zone; every stored moment is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)

