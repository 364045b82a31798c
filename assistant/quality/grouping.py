"""Unanswered utterances grouped by what they ask: characters and sounds, largest groups first.

Works on distinct normalised utterances with their counts (``QualityUtterance``), never on
turns, so a million turns are a few thousand texts here. Two texts are alike when, once the
words every question has (我想、请问、怎么、申请…) are set aside, they share characters and
sounds (pinyin folded as in ``intents.phonetic``, so 光付 and 光伏 agree), one by one and in
pairs, weighted by how rare each is among the texts grouped (TF-IDF, cosine). Groups are
built greedily, most frequent text first: a text joins the group whose centre it is closest
to, if at least ``threshold``, else it starts a group. Surface likeness cannot know that 过户
and 改户名 are one need; the admin unticks the odd example before adding a group to an intent.

``pair_scores`` measures a grouping against labelled needs (pairwise precision and recall).
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from scipy.sparse import csr_matrix

from intents.phonetic import sound_key

# Tuned on tests/data/quality/unanswered.tsv with the shipped examples as background:
# pairwise precision 0.70, recall 0.48, purity 0.85 (208 utterances, 26 needs).
THRESHOLD = 0.16
# Words any question may hold: they say nothing about which need it is.
_COMMON = re.compile(
    "请问|请|我想|我要|我们|我家|你们|咱们|一下|怎么办|怎么样|怎么|如何|什么|多少|能不能|可不可以|可以|能|要|想|"
    "有没有|是不是|哪里|哪儿|找谁|谁|吗|呢|啊|吧|呀|的|了|是|我|你|在|和|就|都|也|还|个|那个|这个|一直|老是|"
    "申请|办理|怎么弄|弄|收费|收钱|需要|材料|多久|几天|家里|供电局")


@lru_cache(maxsize=65536)
def content_of(text: str) -> str:
    """The text without the words every question has (kept whole when that leaves too little)."""
    stripped = _COMMON.sub("", text)
    return stripped if len(stripped) >= 2 else text


@lru_cache(maxsize=65536)
def features(text: str) -> tuple[str, ...]:
    """Characters and sounds of the text's content, one by one and in pairs."""
    content = content_of(text)
    sounds = sound_key(content)
    return (*("c" + ch for ch in content), *("s" + s for s in sounds),
            *("C" + content[i:i + 2] for i in range(len(content) - 1)),
            *("S" + sounds[i:i + 2] for i in range(len(sounds) - 1)))


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


def _matrix(texts: Sequence[str], background: Sequence[str] = ()) -> csr_matrix:
    """TF-IDF rows of unit length: a character most texts have weighs little. Document frequencies
    count the texts being grouped and ``background`` (the knowledge base's examples), so a handful
    of texts are weighed as steadily as thousands."""
    in_background = _background_counts(tuple(background))
    parts = [_feature_columns(text) for text in texts]
    width = len(_columns)
    indptr = np.zeros(len(parts) + 1, dtype=np.int64)
    np.cumsum([len(columns) for columns, _ in parts], out=indptr[1:])
    indices = np.concatenate([columns for columns, _ in parts])
    counts = csr_matrix((np.concatenate([c for _, c in parts]), indices, indptr), shape=(len(texts), width))
    in_texts = np.bincount(indices, minlength=width).astype(np.float32)
    in_background = np.pad(in_background, (0, width - len(in_background)))
    total = len(texts) + len(background)
    idf = (np.log((1 + total) / (1 + in_texts + in_background)) + 1.0).astype(np.float32)
    weighted = counts.multiply(idf[None, :]).tocsr()
    norms = np.sqrt(np.asarray(weighted.multiply(weighted).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return csr_matrix(weighted.multiply((1.0 / norms)[:, None]))


def group(utterances: Iterable[tuple[str, int]], threshold: float = THRESHOLD,
          background: Sequence[str] = ()) -> list[Group]:
    """Groups of (text, count), largest first; each text in exactly one group.

    The most frequent text first: it starts a group; each next text joins the group whose
    centre (the sum of its members' vectors) it is closest to by cosine, if at least
    ``threshold``, else starts one. With S = X·Xᵀ (cosines between texts, one sparse product),
    a text's dot product with a centre is the sum of S over the group's members, kept per group
    as a column; so each step is a few vector operations, not a loop over features.
    """
    ordered = sorted(((t, c) for t, c in utterances if t), key=lambda item: (-item[1], item[0]))
    if not ordered:
        return []
    n = len(ordered)
    matrix = _matrix([t for t, _ in ordered], background)
    cosines = (matrix @ matrix.T).toarray()
    by_group = np.zeros((n, n), dtype=np.float32)  # [group, text]: the text's dot product with the group's centre
    squared_norms = np.zeros(n, dtype=np.float64)
    groups: list[Group] = []
    for index, (text, count) in enumerate(ordered):
        chosen = -1
        if groups:
            scores = by_group[:len(groups), index] / np.sqrt(squared_norms[:len(groups)])
            best = int(scores.argmax())
            if scores[best] >= threshold:
                chosen = best
        if chosen < 0:
            chosen = len(groups)
            groups.append(Group(group_key(text), text, []))
        groups[chosen].members.append((text, count))
        squared_norms[chosen] += 2 * by_group[chosen, index] + cosines[index, index]
        by_group[chosen] += cosines[index]  # cosines is symmetric: a row is the column
    groups.sort(key=lambda g: (-g.count, g.leader))
    return groups


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
