"""What every response must carry: security headers; and the data folder kept private.

- ``SecurityHeaders``: a pure ASGI middleware that adds the headers below to every HTTP response
  (pages, APIs, static files, errors, redirects). Pages load scripts and styles only from this
  site (no inline script anywhere), cannot be framed, and send no Referer: a pay link carries
  its token in the path, and a Referer would hand it to whatever the page links to.
- Log redaction (pay tokens, phone numbers) lives in ``assistant.log_redaction``, below the
  server, since ``xiaodian serve`` configures it before any server module is imported.
- ``make_data_folder_private``: the data folder, its secrets and its speech cache readable by
  the service user only (the database files themselves are handled by ``knowledge_base.db``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",  # images, spoken answers (media), fonts: this site only
    "script-src 'self'",
    "img-src 'self' data:",  # data: only for the empty favicon that spares a request
    "style-src 'self'",
    "connect-src 'self'",  # fetch() and the speech WebSocket go back to this site only
    "object-src 'none'",
    "base-uri 'none'",
    # The pay button posts here, then is redirected to the provider's cashier (https).
    "form-action 'self' https:",
    "frame-ancestors 'none'",
])
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",  # for browsers older than frame-ancestors
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class SecurityHeaders:
    """Adds ``SECURITY_HEADERS`` to every HTTP response the app sends (headers a route set win)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


PRIVATE_FOLDERS = ("secrets", "speech-cache")


def make_data_folder_private(data_dir: Path) -> None:
    """0700 for the data folder and its folders of secrets and cached speech, fixing looser modes."""
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    for folder in (data_dir, *(data_dir / name for name in PRIVATE_FOLDERS)):
        if folder.is_dir():
            os.chmod(folder, 0o700)
