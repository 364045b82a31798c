"""The assistant's view of the knowledge base: one snapshot plus its matcher.

Edge module: it reads the database. Everything it hands on (matcher,
answers, facts) is pure and immutable, so a reload simply swaps the
snapshot and turns in flight keep the one they started with. The knowledge
base's version in the database says when another worker's edit made this
copy stale (``refresh``, once per turn, with the version read alongside the session).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import date

from sqlalchemy.engine import Engine

from assistant.answers import Answer, CustomerFacts, compose
from intents import IntentMatcher, MatchResult, Slots, extract_slots
from knowledge_base import queries
from knowledge_base.knowledge_version import knowledge_version
from knowledge_base.models import service_today
from knowledge_base.queries import KnowledgeSnapshot


@dataclass(frozen=True, slots=True)
class Reply:
    """One understood utterance and the answer to it."""

    match: MatchResult
    slots: Slots
    answer: Answer | None  # None when out of scope and no `none` intent exists
    account: queries.AccountFacts | None


class Knowledge:
    def __init__(self, engine: Engine, region: str = "jiangsu") -> None:
        self.engine = engine
        self.region = region
        self._lock = threading.Lock()
        self.reload()

    def reload(self) -> None:
        """Re-read intents, tariffs and halls; rebuild the matcher (no restart needed)."""
        # The version first: an edit committed while the snapshot is read moves it again,
        # so the next refresh reloads rather than keep a copy that may have missed it.
        with self.engine.connect() as connection:
            version = knowledge_version(connection)
        snapshot = queries.load_snapshot(self.engine, self.region)
        matcher = IntentMatcher(snapshot.specs)
        with self._lock:
            self._snapshot, self._matcher, self._version = snapshot, matcher, version

    def refresh(self, version: int) -> None:
        """Reload when the knowledge base's ``version`` (read by the caller, with the turn's session)
        moved since the last load."""
        if version != self._version:
            self.reload()

    def sync(self) -> int:
        """Read the knowledge base's version, reload if it moved, and return it (outside a turn)."""
        with self.engine.connect() as connection:
            version = knowledge_version(connection)
        self.refresh(version)
        return version

    @property
    def snapshot(self) -> KnowledgeSnapshot:
        return self._snapshot

    @property
    def matcher(self) -> IntentMatcher:
        return self._matcher

    def customer_facts(self, account_number: str | None, today: date) -> CustomerFacts:
        """The account, its bills (newest first) and its area's planned outages from today on."""
        if not account_number:
            return CustomerFacts()
        account, bills, outages = queries.customer_records(self.engine, account_number, today)
        return CustomerFacts(account=account, bills=bills, outages=outages)

    def answer(self, intent: str, facts: CustomerFacts, slots: Slots, today: date) -> Answer | None:
        """The intent's answer for this customer: their region's tariff and their area's hall."""
        snapshot = self._snapshot
        answers = snapshot.answers.get(intent)
        if answers is None:
            return None
        account = facts.account
        tariff = snapshot.tariff_for(account.region if account else self.region,
                                     account.category if account else "residential")
        return compose(answers, facts, tariff, snapshot.hall_for(account.area if account else None), slots, today)

    def ask(self, text: str, account_number: str | None = None, today: date | None = None) -> Reply:
        """Understand one utterance and answer it, personally when the account is known."""
        today = today or service_today()
        match = self._matcher.match(text)
        slots = extract_slots(match.normalized, today)
        facts = self.customer_facts(account_number or slots.account, today)
        answer = self.answer(match.intent, facts, slots, today)
        return Reply(match, slots, answer, facts.account)
