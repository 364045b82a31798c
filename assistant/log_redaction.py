"""No secrets in logs: pay tokens redacted, mobile numbers masked, however the service was started.

- ``RedactingFilter``: a logging filter that rewrites ``/pay/<token>`` (and the sandbox cashier's
  order id, also inside URL-encoded query strings), ``/r/<code>``, ``/api/phone/calls/<uuid>`` and
  ``/api/converse/<session>/handoff`` to ``<redacted>`` and masks mobile numbers as
  138****5678, in the message and its arguments.
- ``install_log_redaction`` puts it on uvicorn's access logger and on every handler already
  configured; ``uvicorn_log_config`` builds uvicorn's logging configuration with it, for
  ``xiaodian serve``.
"""

from __future__ import annotations

import copy
import logging
import re
from typing import Any

from assistant.sms import mask_phones_in

# Bearer secrets in a path segment go: a pay link's token and a sandbox order id (24 hours), a
# reminder's short-link code (/r/<code> opens the account's payment page), and a phone call's UUID
# (replaying it on the AudioSocket port would claim the caller's number).
_CAPABILITY_PATH = re.compile(r"/(pay|sandbox-pay|r|api/phone/calls)/(?!notify\b)[^/\s?#\"']+")
# The same inside a URL-encoded query string (the cashier's return address: %2Fpay%2F<token>%2Fdone).
_ENCODED_CAPABILITY_PATH = re.compile(r"%2F(pay|sandbox-pay|r)%2F(?!notify\b)[^%&\s\"']+", re.IGNORECASE)
# A conversation's id is its bearer credential; older kiosk pages polled GET /api/converse/<id>/handoff.
_SESSION_PATH = re.compile(r"/api/converse/[^/\s?#\"']+/handoff")


def redact(text: str) -> str:
    """A log line as it may be written: no pay tokens, link codes, call or session ids, no full mobiles."""
    text = _ENCODED_CAPABILITY_PATH.sub(r"%2F\1%2F<redacted>", text)
    text = _SESSION_PATH.sub("/api/converse/<redacted>/handoff", text)
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
