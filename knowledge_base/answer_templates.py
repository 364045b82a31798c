"""Answer templates: literal text with plain ``{field}`` names, and the fields there are.

The knowledge base stores the templates and checks them when they are written
(``knowledge_base.intent_schema``); the assistant fills them (``assistant.answers``).
"""

from __future__ import annotations

import string
from dataclasses import dataclass

# What the assistant can fill for anyone (``assistant.answers.template_fields``) ...
GENERAL_FIELDS = frozenset({"tariff_summary", "estimate", "hall_name", "hall_address", "hall_hours", "hall_phone"})
# ... and, once the account is known, for its holder.
ACCOUNT_FIELDS = GENERAL_FIELDS | {"account", "holder", "balance", "arrears", "bill_month", "bill_amount",
                                   "bill_kwh", "bill_due", "bill_status", "area", "outage_summary"}


@dataclass(frozen=True, slots=True)
class TemplateParts:
    """A template cut into literal text and plain ``{field}`` names, plus whatever is not plain."""

    pieces: tuple[tuple[str, str | None], ...]  # (text, field name or None), in order
    not_plain: tuple[str, ...] = ()  # placeholders such as {hall_phone:电话}, {x!r}, {x.y}, {x[0]}, {}


def parse_template(template: str) -> TemplateParts:
    """Split a template; ValueError when its braces do not pair up.

    Only ``{field}`` is a placeholder. Format specs, conversions, attribute and index
    access are Python's format mini-language, which an admin's text must never reach:
    ``{hall_name:>30000000}`` pads to 30 million characters and ``{x:电话}`` raises.
    """
    pieces: list[tuple[str, str | None]] = []
    not_plain: list[str] = []
    for literal, name, spec, conversion in string.Formatter().parse(template):
        if name is None:
            pieces.append((literal, None))
            continue
        if name.isidentifier() and not spec and conversion is None:
            pieces.append((literal, name))
            continue
        pieces.append((literal, None))
        not_plain.append("{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}")
    return TemplateParts(tuple(pieces), tuple(not_plain))
