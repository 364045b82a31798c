"""Unanswered utterances grouped by what they ask: words, characters and sounds, largest groups first.

Works on distinct normalised utterances with their counts (``QualityUtterance``), never on
turns, so a million turns are a few thousand texts here. Two texts are alike when, once the
utility's equivalent words are read as one (``knowledge_base/data/synonyms.yaml``: 改户名 and
换户主 say 过户, 没电 says 停电) and the words every question has (我想、请问、怎么、申请…) are set
aside, they share characters and sounds (pinyin folded as in ``intents.phonetic``, so 光付 and 光伏
agree), one by one and in pairs, and name the same need (the lexicon's ``needs``: 过户, 销户,
增容…, weighed as ``NEED_WEIGHT`` features), each weighted by how rare it is (TF-IDF, cosine).
The intents' own examples add what the matcher knows: two texts whose nearest intent is the
same, and clearly near (an example at cosine ``INTENT_GATE`` or more), count as more alike by
``INTENT_WEIGHT``, since the admin's examples say which wordings mean one need; not when they
name different needs (one intent, meter_issue, holds both 电表坏了 and 电表走得快, two needs for
the person who fixes them). No embedding model: none on the registries ships its weights
(they download them at run time, which 小电 never does). Groups are made by average
linkage: the two groups whose texts are most alike on average are joined, again and again,
while that average is at least ``threshold`` (one odd pair cannot chain two needs together, as
it could when a text only had to be close to one member). Each group is led by its most
frequent text.

``pair_scores`` measures a grouping against labelled needs (pairwise precision and recall).
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.sparse import csr_matrix
from scipy.spatial.distance import squareform

from intents.ids import OUT_OF_SCOPE
from intents.phonetic import sound_key
from knowledge_base.synonyms import load_lexicon

# Tuned on tests/data/quality/unanswered.tsv (208 utterances, 26 needs) with the shipped intents,
# from greedy grouping on characters and sounds alone (threshold 0.16) to this: pairwise precision
# 0.70 → 0.91, recall 0.48 → 0.63, purity 0.85 → 0.94. On unanswered_heldout.tsv (176 utterances,
# 22 needs, fresh wordings, never tuned on): precision 0.67 → 0.92, recall 0.21 → 0.44, purity
# 0.85 → 0.94. Each part helps on both sets; a lower threshold buys recall but joins near-misses
# (停电报修 with 计划停电) in the tests' small example.
THRESHOLD = 0.12
# A text is clearly near an intent when one of its examples is this alike (cosine); below, the
# nearest intent of a question that went unanswered is mostly chance and says nothing.
INTENT_GATE = 0.4
# How much more alike two texts clearly near the same intent are (of 1 + this: cosines stay in [0, 1]).
INTENT_WEIGHT = 0.1
# A need the text names (synonyms.yaml's ``needs``: 过户, 销户…) counts as this many features: more
# than its two or three characters, so 过户 and 销户 differ by more than one character in three.
NEED_WEIGHT = 4
# Words any question may hold: they say nothing about which need it is.
_COMMON = re.compile(
    "请问|请|我想|我要|我们|我家|你们|咱们|一下|怎么办|怎么样|怎么|如何|什么|多少|能不能|可不可以|可以|能|要|想|"
    "有没有|是不是|哪里|哪儿|找谁|谁|吗|呢|啊|吧|呀|的|了|是|我|你|在|和|就|都|也|还|个|那个|这个|一直|老是|"
    "申请|办理|怎么弄|弄|收费|收钱|需要|材料|多久|几天|家里|供电局")


@lru_cache(maxsize=65536)
def content_of(text: str) -> str:
    """The text with equivalent words read as one, without the words every question has (kept whole
    when that leaves too little)."""
    text = load_lexicon().canonicalise(text)
    stripped = _COMMON.sub("", text)
    return stripped if len(stripped) >= 2 else text


@lru_cache(maxsize=65536)
def features(text: str) -> tuple[str, ...]:
    """Characters and sounds of the text's content, one by one and in pairs, and the needs it names."""
    content = content_of(text)
    sounds = sound_key(content)
    return (*("c" + ch for ch in content), *("s" + s for s in sounds),
            *("C" + content[i:i + 2] for i in range(len(content) - 1)),
            *("S" + sounds[i:i + 2] for i in range(len(sounds) - 1)),
            *("W" + need for need in needs_of(text) for _ in range(NEED_WEIGHT)))


@lru_cache(maxsize=65536)
def needs_of(text: str) -> tuple[str, ...]:
    """The needs the text names (synonyms.yaml's ``needs``), each by its line's first word."""
    return tuple(load_lexicon().needs_in(text))


@dataclass
class Group:
    key: str  # stable while its leader leads: a hash of the leader's text
    leader: str
    members: list[tuple[str, int]] = field(default_factory=list)  # (text, count), most frequent first

    @property
    def count(self) -> int:
        return sum(count for _, count in self.members)

    @property
    def texts(self) -> list[str]:
        return [text for text, _ in self.members]


def group_key(leader: str) -> str:
    return hashlib.sha1(leader.encode("utf-8")).hexdigest()[:12]


# Every feature ever seen gets a column number once: a text's features are turned into numbers
# once (cached), and a matrix of thousands of texts is then made by joining arrays.
_columns: dict[str, int] = {}
_columns_lock = threading.Lock()


@lru_cache(maxsize=65536)
def _feature_columns(text: str) -> tuple[np.ndarray, np.ndarray]:
    """The text's feature columns (sorted, unique) and how often each occurs."""
    names = features(text)
    with _columns_lock:
        numbers = [_columns.setdefault(name, len(_columns)) for name in names]
    columns, counts = np.unique(np.array(numbers, dtype=np.int64), return_counts=True)
    return columns, counts.astype(np.float32)


@lru_cache(maxsize=4)
def _background_counts(background: tuple[str, ...]) -> np.ndarray:
    """In how many background texts each feature column occurs (the knowledge base changes rarely: cached)."""
    columns = [_feature_columns(text)[0] for text in background]
    joined = np.concatenate(columns) if columns else np.zeros(0, dtype=np.int64)
    return np.bincount(joined, minlength=len(_columns)).astype(np.float32)


def _idf(texts: Sequence[str], background: Sequence[str]) -> np.ndarray:
    """How rare each feature column is: document frequencies count the texts being grouped and
    ``background`` (the knowledge base's examples), so a handful of texts are weighed as steadily
    as thousands."""
    in_background = _background_counts(tuple(background))
    joined = [_feature_columns(text)[0] for text in texts]
    width = len(_columns)
    in_texts = np.bincount(np.concatenate(joined) if joined else np.zeros(0, dtype=np.int64),
                           minlength=width).astype(np.float32)
    in_background = np.pad(in_background, (0, width - len(in_background)))
    total = len(texts) + len(background)
    return (np.log((1 + total) / (1 + in_texts + in_background)) + 1.0).astype(np.float32)


def _rows(texts: Sequence[str], idf: np.ndarray) -> csr_matrix:
    """TF-IDF rows of unit length: a character most texts have weighs little."""
    parts = [_feature_columns(text) for text in texts]
    width = len(idf)
    indptr = np.zeros(len(parts) + 1, dtype=np.int64)
    np.cumsum([len(columns) for columns, _ in parts], out=indptr[1:])
    indices = np.concatenate([columns for columns, _ in parts])
    counts = csr_matrix((np.concatenate([c for _, c in parts]), indices, indptr), shape=(len(texts), width))
    weighted = counts.multiply(idf[None, :]).tocsr()
    norms = np.sqrt(np.asarray(weighted.multiply(weighted).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return csr_matrix(weighted.multiply((1.0 / norms)[:, None]))


def _nearest_intents(rows: csr_matrix, intents: Mapping[str, Sequence[str]], idf: np.ndarray) -> np.ndarray:
    """Per text, the number of the intent owning its most alike example, or -1 when none is clearly near."""
    examples = [(number, example) for number, (intent, said) in enumerate(intents.items())
                if intent != OUT_OF_SCOPE for example in said if example]
    if not examples:
        return np.full(rows.shape[0], -1)
    alike = (rows @ _rows([example for _, example in examples], idf).T).toarray()
    owner = np.array([number for number, _ in examples])
    best = alike.argmax(axis=1)
    return np.where(alike[np.arange(len(best)), best] >= INTENT_GATE, owner[best], -1)


def _needs_named(texts: Sequence[str]) -> np.ndarray:
    """[text, need]: 1 where the text names the need (synonyms.yaml's ``needs``)."""
    named = [needs_of(text) for text in texts]
    number = {need: index for index, need in enumerate(sorted({need for needs in named for need in needs}))}
    table = np.zeros((len(texts), max(1, len(number))), dtype=np.int32)
    for row, needs in enumerate(named):
        table[row, [number[need] for need in needs]] = 1
    return table


def _average_linkage(alike: np.ndarray, threshold: float) -> np.ndarray:
    """A group number per text: groups joined while their texts' mean likeness is at least ``threshold``.
    ``alike`` is turned into distances in place (thousands of texts: no copies of the square)."""
    np.subtract(1.0, alike, out=alike)
    np.maximum(alike, 0.0, out=alike)
    np.fill_diagonal(alike, 0.0)
    tree = linkage(squareform(alike, checks=False), method="average")
    return fcluster(tree, 1.0 - threshold, criterion="distance")


def group(utterances: Iterable[tuple[str, int]], threshold: float = THRESHOLD,
          background: Sequence[str] = (), intents: Mapping[str, Sequence[str]] | None = None) -> list[Group]:
    """Groups of (text, count), largest first; each text in exactly one group, led by its most frequent.

    ``intents`` (intent id → its normalised examples) tell which wordings mean one need and also
    weigh the features as ``background`` does (the examples alone, without their intents).
    Cosines between all texts are one sparse product (S = X·Xᵀ), and average linkage over them
    is scipy's (O(n²)): a few thousand texts take a fraction of a second.
    """
    ordered = sorted(((t, c) for t, c in utterances if t), key=lambda item: (-item[1], item[0]))
    if not ordered:
        return []
    texts = [t for t, _ in ordered]
    said = {intent: [e for e in examples if e] for intent, examples in (intents or {}).items()}
    background = [*background, *(e for examples in said.values() for e in examples)]
    for text in (*texts, *background):
        _feature_columns(text)  # every column numbered before the widths are fixed
    idf = _idf(texts, background)
    rows = _rows(texts, idf)
    alike = (rows @ rows.T).toarray()
    nearest = _nearest_intents(rows, said, idf)
    if (nearest >= 0).any():
        named = _needs_named(texts)
        for number in np.unique(nearest[nearest >= 0]):
            near = np.flatnonzero(nearest == number)
            # Not for two texts naming different needs (电表坏了, 电表走得快): one intent may hold both.
            names = named[near]
            names_any = names.any(axis=1)
            apart = names_any[:, None] & names_any[None, :] & ((names @ names.T) == 0)
            alike[np.ix_(near, near)] += INTENT_WEIGHT * ~apart
        alike /= 1.0 + INTENT_WEIGHT
    labels = _average_linkage(alike, threshold) if len(texts) > 1 else np.ones(1, dtype=np.int64)
    groups: dict[int, Group] = {}
    for (text, count), label in zip(ordered, labels):
        if label not in groups:
            groups[label] = Group(group_key(text), text, [])  # the most frequent text comes first
        groups[label].members.append((text, count))
    return sorted(groups.values(), key=lambda g: (-g.count, g.leader))


@dataclass(frozen=True)
class PairScores:
    precision: float  # of the pairs put together, the share that ask the same need
    recall: float  # of the pairs that ask the same need, the share put together
    purity: float  # the share of texts whose group's most common need is theirs

    @property
    def f1(self) -> float:
        total = self.precision + self.recall
        return 2 * self.precision * self.recall / total if total else 0.0


def pair_scores(groups: Sequence[Group], need_of: dict[str, str]) -> PairScores:
    """Pairwise precision and recall, and purity, of ``groups`` against labelled needs."""
    group_of = {text: index for index, g in enumerate(groups) for text in g.texts}
    texts = [t for t in need_of if t in group_of]
    together = same = both = 0
    for i, a in enumerate(texts):
        for b in texts[i + 1:]:
            grouped = group_of[a] == group_of[b]
            alike = need_of[a] == need_of[b]
            together += grouped
            same += alike
            both += grouped and alike
    majority = 0
    for g in groups:
        needs = [need_of[t] for t in g.texts if t in need_of]
        if needs:
            majority += max(needs.count(n) for n in set(needs))
    return PairScores(both / together if together else 1.0, both / same if same else 1.0,
                      majority / len(texts) if texts else 1.0)
