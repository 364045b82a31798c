"""The conversation suite: whole conversations, as elderly customers talk, end to end on a real database.

Every file in ``tests/conversations/`` is run through the same services and voice pipeline as
``xiaodian chat --json`` (see ``tests/conversation_suite.py`` for the file's form).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conversation_suite import Conversation, ConversationRunner, Turn, load_conversations, load_folder

CONVERSATIONS = Path(__file__).resolve().parent / "conversations"
MINIMUM_RATE = 0.95
MINIMUM_CONVERSATIONS = 100


@pytest.fixture(scope="module")
def runner() -> Iterator[ConversationRunner]:
    runner = ConversationRunner()
    yield runner
    runner.close()


def test_suite_has_enough_conversations_each_saying_what_it_checks() -> None:
    conversations = load_folder(CONVERSATIONS)
    assert len(conversations) >= MINIMUM_CONVERSATIONS
    assert all(conversation.name.strip() for conversation in conversations)
    assert all(turn.expect for conversation in conversations for turn in conversation.turns), \
        "a turn without expectations checks nothing"


def test_conversations_reach_their_goal(runner: ConversationRunner) -> None:
    result = runner.run_all(load_folder(CONVERSATIONS))
    print(result.report())
    assert result.total >= MINIMUM_CONVERSATIONS
    assert result.rate >= MINIMUM_RATE, result.report()


def test_a_wrong_expectation_is_reported_as_failing(runner: ConversationRunner) -> None:
    """The runner must not pass what it did not check: the demo bill is 128.50 元, not 999."""
    wrong = Conversation(id="wrong", name="expects an amount the demo bill does not have", account="3201000001",
                         turns=(Turn("我欠了多少电费", {"has": ["999.99"]}),
                                Turn("好的，谢谢，再见", {"intent": "pay_bill"})))
    right = Conversation(id="right", name="the same conversation, expected rightly", account="3201000001",
                         turns=(Turn("我欠了多少电费", {"has": ["128.5", "一百二十八"]}),))
    result = runner.run_all([wrong, right])
    assert [r.passed for r in result.results] == [False, True]
    assert result.results[0].turns_met == 0 and len(result.results[0].problems) == 2
    assert result.rate == 0.5


def test_a_mistyped_expectation_is_an_error_not_a_silent_pass(tmp_path: Path) -> None:
    path = tmp_path / "typo.yaml"
    path.write_text("- name: a typo\n  turns:\n    - {say: 交电费, expect: {hass: [\"128.5\"]}}\n", encoding="utf-8")
    with pytest.raises(ValueError, match="hass"):
        load_conversations(path)
