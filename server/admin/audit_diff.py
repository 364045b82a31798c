"""The audit trail as a diff: only the lines added and removed, not the whole field twice.

An edit that adds one example to a list of thirty used to show all thirty before and all
thirty-one after, and the admin had to spot the difference. Texts are compared line by line
and lists item by item with ``difflib``; single values (启用 yes/no, the action) keep
"before → after".
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class DiffLine:
    sign: str  # "+" added, "-" removed
    text: str


def _lines(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(item) for item in value]
    return str(value).splitlines()


def _has_lines(value: Any) -> bool:
    return value is None or isinstance(value, (str, list))


def changed_lines(before: Any, after: Any) -> list[DiffLine] | None:
    """The removed and added lines (removed first within each changed block); None for a single value."""
    if not (_has_lines(before) and _has_lines(after)) or (before is None and after is None):
        return None
    old, new = _lines(before), _lines(after)
    lines: list[DiffLine] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes():
        if tag in ("replace", "delete"):
            lines.extend(DiffLine("-", text) for text in old[i1:i2])
        if tag in ("replace", "insert"):
            lines.extend(DiffLine("+", text) for text in new[j1:j2])
    return lines
