"""Grouping unanswered questions, measured on a labelled set of 208 utterances (26 needs) written for it:
paraphrases go together, different needs stay apart."""

from __future__ import annotations

from pathlib import Path

from assistant.quality.grouping import group, pair_scores
from intents import normalize
from knowledge_base.seed import load_intent_seeds

LABELLED = Path(__file__).resolve().parent.parent / "data" / "quality" / "unanswered.tsv"


def _labelled() -> dict[str, str]:
    rows = [line.rstrip("\n").split("\t") for line in LABELLED.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.startswith("#")]
    return {normalize(text): need for need, text in rows}


def _background() -> list[str]:
    return [normalize(example) for seed in load_intent_seeds() for example in seed.examples]


def test_the_labelled_set_is_large_enough_and_written_here() -> None:
    need_of = _labelled()
    assert len(need_of) >= 200 and len(set(need_of.values())) >= 20


def test_grouping_keeps_needs_apart_and_puts_paraphrases_together() -> None:
    need_of = _labelled()
    groups = group([(text, 1) for text in need_of], background=_background())
    scores = pair_scores(groups, need_of)
    # Measured: precision 0.70, recall 0.48, purity 0.85. Surface likeness (characters and sounds)
    # cannot know that 过户 and 改户名 are one need, so recall is the weak side; a regression shows here.
    assert scores.precision >= 0.65 and scores.recall >= 0.42 and scores.purity >= 0.82, scores
    assert len(groups) < len(need_of) / 2  # far fewer groups than texts: something to act on


def test_frequent_texts_lead_and_recogniser_homophones_still_group() -> None:
    said = [("屋顶光伏怎么并网", 9), ("屋顶光付怎么并网", 2), ("光伏并网要办什么手续", 3), ("电卡丢了怎么办", 5),
            ("电卡被孩子弄丢了", 1)]
    groups = group([(normalize(t), c) for t, c in said], background=_background())
    assert [g.leader for g in groups] == ["屋顶光伏怎么并网", "电卡丢了怎么办"]
    assert groups[0].count == 14 and sorted(groups[0].texts) == sorted(["屋顶光伏怎么并网", "屋顶光付怎么并网",
                                                                      "光伏并网要办什么手续"])
    assert [g.key for g in group([(normalize(t), c) for t, c in said])] == [g.key for g in groups]  # stable keys
