"""The unanswered questions of a window, grouped, with each group's trend and a suggested intent."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from assistant.knowledge import Knowledge
from assistant.quality.grouping import group
from assistant.quality.rollup import UNANSWERED_REASONS
from intents import ids, normalize
from knowledge_base.models import Intent, QualityUtterance

# The most frequent distinct texts are grouped; the long tail of one-offs waits until it repeats.
MAX_TEXTS = 2000


@dataclass
class Member:
    text: str
    count: int
    example: str


@dataclass
class UnansweredGroup:
    key: str
    leader: str
    count: int
    members: list[Member]
    reasons: dict[str, int]  # reason label → count
    trend: list[int]  # per day of the window, oldest first
    suggested_intent: str | None = None
    suggested_title: str | None = None
    days: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        return {"key": self.key, "leader": self.leader, "count": self.count, "reasons": self.reasons,
                "trend": self.trend, "days": self.days, "suggested_intent": self.suggested_intent,
                "suggested_title": self.suggested_title,
                "members": [{"text": m.text, "count": m.count, "example": m.example} for m in self.members]}


Suggest = Callable[[str], "tuple[str, str] | None"]


def suggester(knowledge: Knowledge) -> Suggest:
    """The intent the matcher ranks first for a text (even below its answer threshold), with its title:
    the likeliest home for a group's examples."""
    def suggest(text: str) -> tuple[str, str] | None:
        answers = knowledge.snapshot.answers
        for candidate in knowledge.matcher.match(text).candidates:
            if candidate.intent in answers and candidate.intent != ids.OUT_OF_SCOPE:
                return candidate.intent, answers[candidate.intent].title
        return None

    return suggest


def unanswered_groups(engine: Engine, days: int, today: date, limit: int = 20,
                      suggest: Suggest | None = None) -> list[UnansweredGroup]:
    """The window's largest groups; ``suggest`` names the intent the matcher leans to for a text."""
    first = today - timedelta(days=days - 1)
    window = (QualityUtterance.day >= first, QualityUtterance.day <= today)
    with engine.connect() as connection:
        # Read from the index on (text, day, reason, count) alone: no table row is touched.
        totals = connection.execute(
            select(QualityUtterance.text, func.sum(QualityUtterance.count))
            .where(*window).group_by(QualityUtterance.text)
            .order_by(func.sum(QualityUtterance.count).desc()).limit(MAX_TEXTS)).all()
        # The intents' examples say which wordings mean one need (and weigh the features).
        intents = {intent: [normalize(e) for e in examples]
                   for intent, examples in connection.execute(select(Intent.id, Intent.examples))}
        groups = group([(text, int(count)) for text, count in totals], intents=intents)[:limit]
        group_of = {text: index for index, g in enumerate(groups) for text in g.texts}
        # Each day's count and the reasons, for the groups shown only.
        shown = list(group_of)
        detail = [row for start in range(0, len(shown), 500) for row in connection.execute(
            select(QualityUtterance.day, QualityUtterance.text, QualityUtterance.reason, QualityUtterance.count,
                   QualityUtterance.example)
            .where(*window, QualityUtterance.text.in_(shown[start:start + 500])))]  # type: ignore[attr-defined]
    examples: dict[str, str] = {}
    day_names = [(first + timedelta(days=i)).isoformat() for i in range(days)]
    trends = [[0] * days for _ in groups]
    reasons: list[dict[str, int]] = [{} for _ in groups]
    for day, text, reason, count, example in detail:
        examples.setdefault(text, example)
        index = group_of[text]
        trends[index][(day - first).days] += count
        label = UNANSWERED_REASONS.get(reason, reason)
        reasons[index][label] = reasons[index].get(label, 0) + count
    result = []
    for index, g in enumerate(groups):
        suggestion = suggest(g.leader) if suggest else None
        result.append(UnansweredGroup(
            g.key, g.leader, g.count, [Member(t, c, examples.get(t) or t) for t, c in g.members], reasons[index],
            trends[index], suggestion[0] if suggestion else None, suggestion[1] if suggestion else None, day_names))
    return result


def unanswered_count(engine: Engine, texts: list[str], first: date, last: date) -> int:
    """How often these texts went unanswered between two days (inclusive): an item's effect is measured so."""
    if not texts:
        return 0
    with engine.connect() as connection:
        return int(connection.execute(
            select(func.coalesce(func.sum(QualityUtterance.count), 0))
            .where(QualityUtterance.text.in_(texts), QualityUtterance.day >= first,  # type: ignore[attr-defined]
                   QualityUtterance.day <= last)).scalar_one())
