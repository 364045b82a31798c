"""The danger and fraud detector, measured by recall: every way of saying danger is caught, ordinary questions are not.

The phrase lists under tests/data/safety/ hold raw customer text, written the way callers speak
(plain, regional, elderly fillers, recogniser sound-alikes); every phrase goes through
``intents.normalize`` first, as it does in the product.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from intents.normalize import normalize
from intents.safety import Alarm, Danger, detect_danger
from knowledge_base.seed import load_intent_seeds

DATA = Path(__file__).resolve().parent / "data" / "safety"
MIN_ALARMS = 150
MIN_EMERGENCIES = 90
MIN_FRAUDS = 60
MIN_ORDINARY = 300
DANGER_INTENTS = {Danger.EMERGENCY: "emergency", Danger.FRAUD: "fraud_check"}


def _data_lines(name: str) -> list[str]:
    """Non-blank lines that are not # comments."""
    lines = (DATA / name).read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line.strip() and not line.lstrip().startswith("#")]


def _alarms() -> list[tuple[Danger, str]]:
    rows = []
    for line in _data_lines("alarms.tsv"):
        kind, phrase = line.split("\t")
        rows.append((Danger(kind), phrase))
    return rows


def _ordinary() -> list[str]:
    return _data_lines("ordinary.txt")


def _kb_examples() -> list[tuple[str, str]]:
    return [(item.id, example) for item in load_intent_seeds() for example in item.examples]


def _misses(expected: Danger, phrases: list[str]) -> list[str]:
    wrong = []
    for phrase in phrases:
        alarm = detect_danger(normalize(phrase))
        if alarm is None or alarm.kind != expected:
            wrong.append(f"{phrase} -> {alarm}")
    return wrong


def _false_alarms(phrases: list[str]) -> list[str]:
    return [f"{phrase} -> {alarm}" for phrase in phrases if (alarm := detect_danger(normalize(phrase))) is not None]


def test_the_lists_are_big_enough_that_the_measure_cannot_silently_shrink() -> None:
    alarms = _alarms()
    kinds = [kind for kind, _ in alarms]
    assert len(alarms) >= MIN_ALARMS
    assert kinds.count(Danger.EMERGENCY) >= MIN_EMERGENCIES
    assert kinds.count(Danger.FRAUD) >= MIN_FRAUDS
    assert len({phrase for _, phrase in alarms}) == len(alarms), "a phrase listed twice counts once"
    assert len(set(_ordinary())) >= MIN_ORDINARY


@pytest.mark.parametrize("kind", list(Danger))
def test_every_listed_danger_is_caught_with_the_right_kind(kind: Danger) -> None:
    phrases = [phrase for listed_kind, phrase in _alarms() if listed_kind == kind]
    assert _misses(kind, phrases) == []


def test_no_ordinary_question_raises_an_alarm() -> None:
    assert _false_alarms(_ordinary()) == []


def test_no_knowledge_base_example_of_another_intent_raises_an_alarm() -> None:
    others = [example for intent, example in _kb_examples() if intent not in DANGER_INTENTS.values()]
    assert others
    assert _false_alarms(others) == []


@pytest.mark.parametrize("kind", list(Danger))
def test_every_knowledge_base_example_of_a_danger_intent_raises_its_alarm(kind: Danger) -> None:
    examples = [example for intent, example in _kb_examples() if intent == DANGER_INTENTS[kind]]
    assert examples
    assert _misses(kind, examples) == []


def test_the_alarm_names_the_words_that_raised_it() -> None:
    alarm = detect_danger(normalize("我来交电费的，哎刚才我老伴被电了一下"))
    assert alarm is not None
    assert alarm.kind == Danger.EMERGENCY
    assert alarm.cue and alarm.cue in normalize("我来交电费的，哎刚才我老伴被电了一下")


def test_an_emergency_outranks_fraud_in_the_same_sentence() -> None:
    alarm = detect_danger(normalize("有人冒充电力公司上门收钱，推搡的时候我老伴碰到电线被电着了"))
    assert alarm == Alarm(Danger.EMERGENCY, alarm.cue if alarm else "")


@pytest.mark.parametrize(
    ("heard", "kind"),
    [
        ("我少交了电费怎么办", None),  # 少交 sounds like 烧焦, but nothing smells
        ("屋里有股少交的味道", Danger.EMERGENCY),
        ("帮我找火车站营业厅", None),  # 找火 sounds like 着火
        ("电线找火了", Danger.EMERGENCY),
        ("这个月电费我儿子出", None),
        ("我儿子出电费", None),  # 出电 sounds like 触电
        ("我老伴出电了", Danger.EMERGENCY),
        ("从猫眼里看到门口有人", None),  # 猫眼 sounds like 冒烟
        ("电箱帽烟了", Danger.EMERGENCY),
    ],
)
def test_a_sound_alike_counts_only_with_danger_around_it(heard: str, kind: Danger | None) -> None:
    alarm = detect_danger(normalize(heard))
    assert (alarm.kind if alarm else None) == kind


@pytest.mark.parametrize(
    "text",
    ["电线老化了会不会着火", "怎么防止孩子触电", "家里没冒烟，就是没电了", "要是电线掉下来了怎么办"],
)
def test_a_question_about_what_could_happen_is_not_an_alarm(text: str) -> None:
    assert detect_danger(normalize(text)) is None


@pytest.mark.parametrize("text", ["", "电" * 200, "的" * 200, "a" * 200, "12345"])
def test_odd_input_is_quietly_no_alarm(text: str) -> None:
    assert detect_danger(normalize(text)) is None
