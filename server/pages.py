"""Server-rendered pages: one template environment for the service's and the kiosk's pages.

The templates are package data (``server/templates``, ``kiosk/templates``),
found through the packages, so an installed wheel renders the same pages as
the source tree.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import ChoiceLoader, Environment, PackageLoader

from assistant.accounts import ROLE_LABELS
from knowledge_base.models import service_tz
from server.deps import as_utc
from server.login import Login

# Template names do not overlap between the two folders: the kiosk's are pay*.html, kiosk.html, _page.html.
templates = Jinja2Templates(env=Environment(
    loader=ChoiceLoader([PackageLoader("server", "templates"), PackageLoader("kiosk", "templates")]),
    autoescape=True,
))


def _china_time(moment: datetime | None) -> str:
    """Pages show times as people in the hall read clocks: China Standard Time."""
    return as_utc(moment).astimezone(service_tz()).strftime("%Y-%m-%d %H:%M") if moment else ""


def _plain(value: Any) -> str:
    """A stored value as a person reads it: lists one per 、, nothing as （空）."""
    if value is None or value == "" or value == []:
        return "（空）"
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, list):
        return "、".join(str(item) for item in value)
    return str(value)


templates.env.filters["china_time"] = _china_time
templates.env.filters["plain"] = _plain
templates.env.globals["role_labels"] = ROLE_LABELS


def render(request: Request, name: str, context: dict[str, Any] | None = None, *,
           login: Login | None = None, status_code: int = 200) -> HTMLResponse:
    """Render a page of the shared layout; ``login`` fills the top bar and the CSRF meta tag."""
    return templates.TemplateResponse(request, name, {"login": login, **(context or {})},
                                      status_code=status_code)


def is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")

