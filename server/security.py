"""What every response and every log line must carry, or must not: security headers, no secrets in logs.

- ``SecurityHeaders``: a pure ASGI middleware that adds the headers below to every HTTP response
  (pages, APIs, static files, errors, redirects). Pages load scripts and styles only from this
  site (no inline script anywhere), cannot be framed, and send no Referer: a pay link carries
  its token in the path, and a Referer would hand it to whatever the page links to.
- ``RedactingFilter``: a logging filter that rewrites ``/pay/<token>`` (and the sandbox cashier's
  order id) to ``<redacted>`` and masks mobile numbers as 138****5678, in the message and its
  arguments. ``install_log_redaction`` puts it on uvicorn's access logger and on every handler
  already configured; ``uvicorn_log_config`` builds uvicorn's logging configuration with it, for
  ``xiaodian serve``.
- ``make_data_folder_private``: the data folder, its secrets and its speech cache readable by
  the service user only (the database files themselves are handled by ``knowledge_base.db``).
"""

from __future__ import annotations

import copy
import logging
import os
import re
from pathlib import Path
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from assistant.sms import mask_phones_in

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


# --- Logs ---------------------------------------------------------------------------------

# A pay link's token (and a sandbox order id) is a bearer secret for 24 hours: the path segment goes.
_CAPABILITY_PATH = re.compile(r"/(pay|sandbox-pay)/(?!notify\b)[^/\s?#\"']+")
def redact(text: str) -> str:
    """A log line as it may be written: no pay tokens, no full mobile numbers."""
    return mask_phones_in(_CAPABILITY_PATH.sub(r"/\1/<redacted>", text))


def _redact_value(value: Any) -> Any:
    if isinstance(value, (int, float)) or value is None:
        return value  # numbers keep their type: format strings such as %d still apply
    text = str(value)
    cleaned = redact(text)
    return value if cleaned == text else cleaned


class RedactingFilter(logging.Filter):
    """Rewrites a record's message and arguments in place; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            # uvicorn's access formatter unpacks exactly these arguments: keep the tuple's shape.
            record.args = tuple(_redact_value(value) for value in record.args)
        elif isinstance(record.args, dict):
            record.args = {key: _redact_value(value) for key, value in record.args.items()}
        return True


_FILTER = RedactingFilter()
_SERVER_LOGGERS = ("", "uvicorn", "uvicorn.error", "uvicorn.access")


def install_log_redaction() -> None:
    """Protect the logs of a running server, however it was started (idempotent).

    The access logger gets the filter on the logger itself, so even a handler added later
    sees redacted records; every handler configured now gets it too, so records of any
    logger that reach them (propagating from ``xiaodian.*``, ``assistant.*`` ...) are cleaned.
    """
    access = logging.getLogger("uvicorn.access")
    if _FILTER not in access.filters:
        access.addFilter(_FILTER)
    for name in _SERVER_LOGGERS:
        for handler in logging.getLogger(name).handlers:
            if _FILTER not in handler.filters:
                handler.addFilter(_FILTER)


def uvicorn_log_config() -> dict[str, Any]:
    """uvicorn's own logging configuration with the redacting filter on its handlers."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["filters"] = {"redact": {"()": RedactingFilter}}
    for handler in config["handlers"].values():
        handler["filters"] = ["redact"]
    return config


# --- Files --------------------------------------------------------------------------------

PRIVATE_FOLDERS = ("secrets", "speech-cache")


def make_data_folder_private(data_dir: Path) -> None:
    """0700 for the data folder and its folders of secrets and cached speech, fixing looser modes."""
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    for folder in (data_dir, *(data_dir / name for name in PRIVATE_FOLDERS)):
        if folder.is_dir():
            os.chmod(folder, 0o700)
