"""Rank intents for an utterance by characters, sounds and keywords.

Each example is compared with the utterance twice, on characters and on
sound keys (see ``phonetic``), by the longest common subsequence: Chinese
callers insert words (我想缴一下这个月的电费) far more than they reorder
them, so "how much of the example appears, in order, in the utterance" is a
good and cheap similarity. A keyword found anywhere in the utterance adds
evidence on top. All example keys are computed at load; a match is a few
vectorised C calls.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Iterable

import math

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import LCSseq
from scipy import sparse

from intents.normalize import normalize
from intents.phonetic import sound_key
from intents.spec import OUT_OF_SCOPE, IntentSpec

# Any number stands for any number (300度 ~ 500度), except a lone 1: 一度电 is "per kWh".
_DIGIT_RUN = re.compile(r"(?:[0-9]{2,}|[02-9])(?:\.[0-9]+)?|1\.[0-9]+")
_MEANINGFUL = re.compile(r"[0-9a-z\u3400-\u4dbf\u4e00-\u9fff]")


class Decision(StrEnum):
    ACCEPT = "accept"  # act on the top intent
    CONFIRM = "confirm"  # ask "您是想……吗？" before acting
    NONE = "none"  # out of scope or not understood


@dataclass(frozen=True, slots=True)
class Candidate:
    intent: str
    score: float


@dataclass(frozen=True, slots=True)
class MatchResult:
    text: str
    normalized: str
    intent: str  # ``none`` when the decision is NONE
    confidence: float
    decision: Decision
    candidates: tuple[Candidate, ...] = ()


@dataclass(frozen=True, slots=True)
class MatcherConfig:
    """Weights and thresholds; measured with ``bench/intents.py``."""

    # F-beta of example recall (how much of the example is in the utterance)
    # and precision (how much of the utterance the example explains); beta > 1
    # forgives the extra words elderly callers add.
    beta: float = 2.0
    # A sound-only match (homophone) is slightly weaker evidence than characters.
    sound_weight: float = 0.95
    # Share of the bag-of-features score (IDF-weighted characters, syllables and
    # their pairs, order ignored) beside the in-order subsequence score.
    bag_weight: float = 0.5
    # Evidence a keyword adds, scaled by how much of the utterance it covers.
    keyword_weight: float = 0.45
    accept_threshold: float = 0.70
    none_threshold: float = 0.45
    # Top two intents closer than this are confirmed rather than accepted.
    accept_margin: float = 0.08
    max_candidates: int = 5


@dataclass(frozen=True, slots=True)
class _Keyword:
    intent_index: int
    chars: str
    sound: str


def _features(key: str, sound: str) -> set[str]:
    """Characters, sounds and adjacent pairs of both: what the bag score compares."""
    features = {"c" + ch for ch in key} | {"s" + ch for ch in sound}
    features.update("C" + key[i : i + 2] for i in range(len(key) - 1))
    features.update("S" + sound[i : i + 2] for i in range(len(sound) - 1))
    return features


def _matching_key(normalized: str) -> str:
    """Numbers stand for any number: 300度电 and 500度电 ask the same thing."""
    return _DIGIT_RUN.sub("#", normalized)


class IntentMatcher:
    """Precomputed intent matcher; build a new one when the intents change."""

    def __init__(self, specs: Iterable[IntentSpec], config: MatcherConfig | None = None) -> None:
        self.config = config or MatcherConfig()
        self.specs: tuple[IntentSpec, ...] = tuple(specs)
        self.intent_ids: tuple[str, ...] = tuple(spec.id for spec in self.specs)
        example_chars: list[str] = []
        example_owner: list[int] = []
        keywords: list[_Keyword] = []
        for index, spec in enumerate(self.specs):
            for example in dict.fromkeys(_matching_key(normalize(e)) for e in spec.examples):
                if example:
                    example_chars.append(example)
                    example_owner.append(index)
            for keyword in dict.fromkeys(_matching_key(normalize(k)) for k in spec.keywords):
                if keyword:
                    keywords.append(_Keyword(index, keyword, sound_key(keyword)))
        self._example_chars = example_chars
        self._example_sounds = [sound_key(e) for e in example_chars]
        self._build_bag(example_owner)
        self._example_owner = np.asarray(example_owner, dtype=np.intp)
        self._example_lengths = np.asarray([len(e) for e in example_chars], dtype=np.float32)
        self._keywords = tuple(keywords)

    def _build_bag(self, example_owner: list[int]) -> None:
        """IDF per feature over intents (a feature every intent uses says nothing)."""
        example_features = [_features(c, s) for c, s in zip(self._example_chars, self._example_sounds)]
        intents_with: dict[str, set[int]] = {}
        for owner, features in zip(example_owner, example_features):
            for feature in features:
                intents_with.setdefault(feature, set()).add(owner)
        intent_count = max(len(self.specs), 1)
        self._vocabulary = {feature: index for index, feature in enumerate(intents_with)}
        self._idf = np.asarray(
            [math.log(1 + intent_count / len(intents_with[f])) for f in self._vocabulary], dtype=np.float32
        )
        # Unseen features weigh as much as the rarest seen ones: words 小电 never
        # heard make an utterance less like every intent.
        self._unseen_idf = float(math.log(1 + intent_count))
        rows, columns = [], []
        for row, features in enumerate(example_features):
            for feature in features:
                rows.append(row)
                columns.append(self._vocabulary[feature])
        data = self._idf[columns] if columns else np.zeros(0, dtype=np.float32)
        self._bag = sparse.csc_matrix((data, (rows, columns)), shape=(len(example_features), len(self._vocabulary)))
        self._bag_totals = np.asarray(self._bag.sum(axis=1)).ravel()

    def _bag_scores(self, key: str, sound: str) -> np.ndarray:
        features = _features(key, sound)
        known = [self._vocabulary[f] for f in features if f in self._vocabulary]
        utterance_weight = float(self._idf[known].sum()) + self._unseen_idf * (len(features) - len(known))
        if not known or utterance_weight <= 0:
            return np.zeros(len(self._example_chars), dtype=np.float32)
        shared = np.asarray(self._bag[:, known].sum(axis=1)).ravel()
        return self._fbeta_of(shared / self._bag_totals, shared / utterance_weight)

    def __len__(self) -> int:
        return len(self.specs)

    def match(self, text: str) -> MatchResult:
        normalized = normalize(text)
        if not _MEANINGFUL.search(normalized) or not self._example_chars:
            return MatchResult(text, normalized, OUT_OF_SCOPE, 0.0, Decision.NONE)
        scores = self._scores(_matching_key(normalized))
        order = np.argsort(-scores, kind="stable")[: self.config.max_candidates]
        candidates = tuple(
            Candidate(self.intent_ids[i], round(float(scores[i]), 4)) for i in order if scores[i] > 0
        )
        if not candidates:
            return MatchResult(text, normalized, OUT_OF_SCOPE, 0.0, Decision.NONE)
        return self._decide(text, normalized, candidates)

    def _scores(self, key: str) -> np.ndarray:
        """Score in [0, 1] of every intent for one utterance key."""
        config = self.config
        utterance_length = np.float32(len(key))
        char_score = self._fbeta(
            process.cdist([key], self._example_chars, scorer=LCSseq.similarity, dtype=np.int32, workers=1)[0],
            utterance_length,
        )
        sound = sound_key(key)
        sound_score = self._fbeta(
            process.cdist([sound], self._example_sounds, scorer=LCSseq.similarity, dtype=np.int32, workers=1)[0],
            np.float32(len(sound)),
        )
        sequence_score = np.maximum(char_score, sound_score * config.sound_weight)
        bag_score = self._bag_scores(key, sound)
        example_score = (1 - config.bag_weight) * sequence_score + config.bag_weight * bag_score
        intent_score = np.zeros(len(self.specs), dtype=np.float32)
        np.maximum.at(intent_score, self._example_owner, example_score)

        keyword_evidence = np.zeros(len(self.specs), dtype=np.float32)
        for keyword in self._keywords:
            if keyword.chars in key:
                strength = len(keyword.chars) / len(key)
            elif keyword.sound in sound:
                strength = config.sound_weight * len(keyword.sound) / len(sound)
            else:
                continue
            # A keyword filling the whole utterance is strong; one among many words less so.
            evidence = config.keyword_weight * (0.5 + 0.5 * strength)
            if evidence > keyword_evidence[keyword.intent_index]:
                keyword_evidence[keyword.intent_index] = evidence
        # Noisy-OR: independent evidence from examples and keywords.
        return 1.0 - (1.0 - intent_score) * (1.0 - keyword_evidence)

    def _fbeta(self, common: np.ndarray, utterance_length: np.float32) -> np.ndarray:
        return self._fbeta_of(common / self._example_lengths, common / utterance_length)

    def _fbeta_of(self, recall: np.ndarray, precision: np.ndarray) -> np.ndarray:
        beta_squared = self.config.beta**2
        denominator = beta_squared * precision + recall
        with np.errstate(divide="ignore", invalid="ignore"):
            score = (1 + beta_squared) * precision * recall / denominator
        return np.nan_to_num(score, nan=0.0)

    def _decide(self, text: str, normalized: str, candidates: tuple[Candidate, ...]) -> MatchResult:
        config = self.config
        best = candidates[0]
        runner_up = candidates[1].score if len(candidates) > 1 else 0.0
        if best.intent == OUT_OF_SCOPE or best.score < config.none_threshold:
            return MatchResult(text, normalized, OUT_OF_SCOPE, best.score, Decision.NONE, candidates)
        if best.score >= config.accept_threshold and best.score - runner_up >= config.accept_margin:
            decision = Decision.ACCEPT
        else:
            decision = Decision.CONFIRM
        return MatchResult(text, normalized, best.intent, best.score, decision, candidates)
