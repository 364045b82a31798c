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
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Iterable

import math

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import LCSseq
from scipy import sparse

from intents.context import (
    CONVERSATIONAL,
    FOLLOW_UP_READINGS,
    NOISE,
    DialogueContext,
    after_leading_yes,
    bare_quantity,
    ASKS_AMOUNT,
    cancels,
    month_follow_up,
    goes_ahead,
    is_follow_up,
    mentions_kwh,
    takes_back,
    without_opener,
    without_take_back,
    yes_or_no,
)
from intents.ids import AFFIRM, BILL_ESTIMATE, DENY, OUT_OF_SCOPE, QUERY_BALANCE, QUERY_BILL
from intents.normalize import normalize
from intents.phonetic import phone_key, sound_key
from intents.spec import IntentSpec

# Any number stands for any number (300度 ~ 500度), except a lone 1: 一度电 is "per kWh".
_DIGIT_RUN = re.compile(r"(?:[0-9]{2,}|[02-9])(?:\.[0-9]+)?|1\.[0-9]+")
# Shorter than this, a turn that matches nothing is a sound, not a question about the last answer.
_MIN_QUESTION_CHARS = 3
_QUESTION_WORD = re.compile(r"多久|多长|多少|几|什么|哪|吗|呢|怎么|能不能|会不会|要不要|有没有|是不是|咋")
_MEANINGFUL = re.compile(r"[0-9a-z\u3400-\u4dbf\u4e00-\u9fff]")
# A number that could be an amount of electricity: not a 10-digit 户号 nor an 11-digit phone.
_QUANTITY_NUMBER = re.compile(r"(?<![0-9])[0-9]{1,6}(?:\.[0-9]+)?(?![0-9])")
# What a customer owes, as opposed to what some amount of electricity would cost.
OWED_INTENTS = frozenset({QUERY_BALANCE, QUERY_BILL})


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
    """Weights and thresholds.

    Chosen by leave-one-out over the shipped examples (each example matched
    against the knowledge base without it), which measures how well unseen
    phrasings land; ``bench/intents.py`` prints the resulting figures.
    """

    # F-beta of example recall (how much of the example is in the utterance)
    # and precision (how much of the utterance the example explains); beta > 1
    # forgives the extra words elderly callers add.
    beta: float = 2.0
    # A sound-only match (homophone) is slightly weaker evidence than characters.
    sound_weight: float = 0.95
    # Matching initials and finals separately catches half-misheard syllables
    # (是的 → 试灯). Measured at full weight: leave-one-out 0.819 → 0.829 and
    # 8 kHz Whisper transcripts 0.873 → 0.892, dev.tsv unchanged.
    phone_weight: float = 1.0
    # Share of the intent-vocabulary score (IDF-weighted characters, syllables and
    # their pairs, order ignored) beside the closest example's subsequence score.
    bag_weight: float = 0.5
    # Evidence a keyword adds, scaled by how much of the utterance it covers.
    keyword_weight: float = 0.6
    # A keyword whose characters come in order but with words between them.
    split_keyword_weight: float = 0.8
    accept_threshold: float = 0.70
    none_threshold: float = 0.45
    # Top two intents closer than this are confirmed rather than accepted.
    accept_margin: float = 0.08
    # A less sure best intent far ahead of every other is accepted too: "电表转得特别快，是不是坏了"
    # has no rival worth asking about. Leave-one-out: 54% → 64% of examples accepted, accepted
    # ones still 95% right; dev.tsv unchanged.
    clear_lead_threshold: float = 0.60
    clear_lead_margin: float = 0.15
    max_candidates: int = 5
    # A short turn in a conversation is more likely about what was just talked about:
    # the last request's score gets this much on top.
    continuity_bonus: float = 0.1
    max_continuity_chars: int = 8


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


def _in_order_with_gaps(needle: str, haystack: str, max_gap: int = 3) -> bool:
    """True when ``needle`` appears in order in ``haystack`` with at most ``max_gap`` symbols between parts."""
    start = haystack.find(needle[0])
    while start != -1:
        position = start
        for symbol in needle[1:]:
            position = haystack.find(symbol, position + 1, position + 2 + max_gap)
            if position == -1:
                break
        else:
            return True
        start = haystack.find(needle[0], start + 1)
    return False


def _matching_key(normalized: str) -> str:
    """Numbers stand for any number: 300度电 and 500度电 ask the same thing."""
    return _DIGIT_RUN.sub("#", normalized)


class IntentMatcher:
    """Precomputed intent matcher; build a new one when the intents change."""

    def __init__(self, specs: Iterable[IntentSpec], config: MatcherConfig | None = None) -> None:
        self.config = config or MatcherConfig()
        self.specs: tuple[IntentSpec, ...] = tuple(specs)
        self.intent_ids: tuple[str, ...] = tuple(spec.id for spec in self.specs)
        self._index = {intent: index for index, intent in enumerate(self.intent_ids)}
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
        self._example_phones = [phone_key(e) for e in example_chars]
        self._example_phone_lengths = np.asarray([len(p) for p in self._example_phones], dtype=np.float32)
        self._build_bag(example_owner)
        self._example_owner = np.asarray(example_owner, dtype=np.intp)
        self._example_lengths = np.asarray([len(e) for e in example_chars], dtype=np.float32)
        # Keywords indexed by their first sound, so a match only tries the few
        # keywords that can start somewhere in the utterance.
        self._keywords_by_first_sound: dict[str, list[_Keyword]] = {}
        for keyword in keywords:
            self._keywords_by_first_sound.setdefault(keyword.sound[:1], []).append(keyword)

    def _build_bag(self, example_owner: list[int]) -> None:
        """Each intent's vocabulary, IDF-weighted over intents.

        A feature every intent uses says nothing; one only this intent's
        examples use says a lot, even when no single example is close.
        """
        owned: set[tuple[int, str]] = set()
        for owner, chars, sound in zip(example_owner, self._example_chars, self._example_sounds):
            owned.update((owner, feature) for feature in _features(chars, sound))
        intents_with: dict[str, int] = {}
        for _owner, feature in owned:
            intents_with[feature] = intents_with.get(feature, 0) + 1
        intent_count = max(len(self.specs), 1)
        self._vocabulary = {feature: index for index, feature in enumerate(intents_with)}
        self._idf = np.asarray(
            [math.log(1 + intent_count / intents_with[f]) for f in self._vocabulary], dtype=np.float32
        )
        # Unseen features weigh as much as the rarest seen ones: words 小电 never
        # heard make an utterance less like every intent.
        self._unseen_idf = float(math.log(1 + intent_count))
        rows = [owner for owner, _ in owned]
        columns = [self._vocabulary[feature] for _, feature in owned]
        self._bag = sparse.csc_matrix(
            (np.ones(len(rows), dtype=np.float32), (rows, columns)), shape=(len(self.specs), len(self._vocabulary))
        )

    def _bag_scores(self, key: str, sound: str) -> np.ndarray:
        """Per intent: the IDF-weighted share of the utterance its vocabulary explains."""
        features = _features(key, sound)
        known = [self._vocabulary[f] for f in features if f in self._vocabulary]
        weights = self._idf[known]
        utterance_weight = float(weights.sum()) + self._unseen_idf * (len(features) - len(known))
        if not known or utterance_weight <= 0:
            return np.zeros(len(self.specs), dtype=np.float32)
        return (self._bag[:, known] @ weights) / utterance_weight

    def __len__(self) -> int:
        return len(self.specs)

    def match(self, text: str, context: DialogueContext | None = None) -> MatchResult:
        """The intent of one turn; with the conversation's ``context``, read as a reply to it."""
        normalized = normalize(text)
        if not _MEANINGFUL.search(normalized) or not self._example_chars:
            return MatchResult(text, normalized, OUT_OF_SCOPE, 0.0, Decision.NONE)
        context = context or DialogueContext()
        if context.expects_yes_no:
            answer = self._yes_or_no(text, normalized, context)
            if answer is not None:
                return self._resolved(text, normalized, answer)
        elif (context.pending or context.last_intent) and cancels(normalized):
            # "户号我记不得了，算了" while asked for it; "……，那就不要了" right after a request
            return self._resolved(text, normalized, DENY)
        if takes_back(normalized):
            # "不对，我是问……" / "算了，……": the request is what follows; nothing following is a no.
            rest = without_take_back(normalized)
            if not _MEANINGFUL.search(rest):
                return self._resolved(text, normalized, DENY)
            corrected = self._match_normalized(text, rest, context)
            if corrected.decision != Decision.NONE:
                # Said again after "不对", the request is meant: no "您是想问……吗".
                return replace(corrected, normalized=normalized, decision=Decision.ACCEPT)
        if context.expects_quantity and bare_quantity(normalized) is not None:
            return self._resolved(text, normalized, BILL_ESTIMATE)  # "两百度呢" after a cost question: cost it
        request = without_opener(normalized)
        if request != normalized and _MEANINGFUL.search(request):
            # "小电你好，我想查查电费": answer the request, not the greeting.
            result = self._match_normalized(text, request, context)
            if result.decision != Decision.NONE:
                return replace(result, normalized=normalized)
        return self._match_normalized(text, normalized, context)

    def _yes_or_no(self, text: str, normalized: str, context: DialogueContext) -> str | None:
        """Under a yes/no question, the reply read as yes or no first, by sound; None: something else."""
        answer = yes_or_no(normalized)
        if answer is None and cancels(normalized):
            answer = DENY  # "那我过两天再交，今天不交了"
        rest = after_leading_yes(normalized) if answer is None else None
        if rest is not None:
            # "好，交" / "对，你帮我查查": a yes, unless what follows clearly asks for something else.
            follows = self._match_normalized(text, rest, DialogueContext()) if _MEANINGFUL.search(rest) else None
            if follows is None or follows.decision != Decision.ACCEPT or (
                    follows.intent in (context.pending_intent, context.offered, AFFIRM)):
                answer = AFFIRM
        return answer if answer in self._index else None

    def _resolved(self, text: str, normalized: str, intent: str) -> MatchResult:
        """An intent the conversation settles, if this knowledge base has it."""
        if intent not in self._index:
            return MatchResult(text, normalized, OUT_OF_SCOPE, 0.0, Decision.NONE)
        return MatchResult(text, normalized, intent, 1.0, Decision.ACCEPT, (Candidate(intent, 1.0),))

    def _match_normalized(self, text: str, normalized: str, context: DialogueContext) -> MatchResult:
        scores = self._scores(_matching_key(normalized))
        if context.last_intent in self._index and len(normalized) <= self.config.max_continuity_chars:
            index = self._index[context.last_intent]
            scores[index] = min(1.0, scores[index] + self.config.continuity_bonus)
        order = np.argsort(-scores, kind="stable")[: self.config.max_candidates]
        candidates = tuple(
            Candidate(self.intent_ids[i], round(float(scores[i]), 4)) for i in order if scores[i] > 0
        )
        if not candidates:
            return MatchResult(text, normalized, OUT_OF_SCOPE, 0.0, Decision.NONE)
        result = self._decide(text, normalized, candidates)
        settled = self._settled_by_context(result, normalized, context)
        if settled is not None and settled != result.intent:
            return replace(self._resolved(text, normalized, settled), candidates=candidates)
        short = len(normalized) <= self.config.max_continuity_chars
        if settled is not None or (context.last_intent and result.decision == Decision.CONFIRM
                                   and (is_follow_up(normalized) or short) and result.intent not in CONVERSATIONAL):
            # "那电费呢", "电费是多少" after the usage: a short turn's best reading is taken; asking
            # "您是想问……吗" mid-thread is the annoyance, and "不对，我是问……" puts it right.
            return replace(result, decision=Decision.ACCEPT)
        return result

    def _settled_by_context(self, result: MatchResult, normalized: str, context: DialogueContext) -> str | None:
        """The intent the conversation settles a turn on, when the turn alone is not a clear request."""
        read_as = FOLLOW_UP_READINGS.get((context.last_intent, result.intent))
        if read_as in self._index and len(normalized) <= self.config.max_continuity_chars:
            return read_as  # "什么时候来电" right after a planned outage: when that outage ends
        if not result.candidates:
            return None
        if (result.intent == BILL_ESTIMATE and context.kwh is None and ASKS_AMOUNT.search(normalized)
                and not _QUANTITY_NUMBER.search(normalized)):
            # "那要交多少钱" names no amount of electricity to cost: it asks what is owed, if that is a reading.
            owed = next((c.intent for c in result.candidates[1:4] if c.intent in OWED_INTENTS), None)
            if owed in self._index:
                return owed
        continued = month_follow_up(normalized, context)
        if continued in self._index:
            return continued  # "那再往前一个月呢": the same question, a month earlier
        if goes_ahead(normalized):
            going = self._going_ahead_with(result, context)
            if going is not None:
                return going
        if result.decision == Decision.ACCEPT:
            return None
        top = result.candidates[0]
        if context.pending == "confirm_intent" and top.intent == context.pending_intent:
            return top.intent  # "那我到底欠不欠钱" when offered a look-up of what is owed: yes, that
        if context.expects_quantity and mentions_kwh(normalized) and BILL_ESTIMATE in self._index:
            return BILL_ESTIMATE  # "我家一个月三百度左右呢" after the tariff: cost it
        if context.offered in self._index and top.intent == context.offered and is_follow_up(normalized):
            return context.offered  # "那我现在就交" after the amount due
        if context.expects_yes_no:
            return None  # a mumble under "对吗？" is not a yes, whatever was talked about
        return self._continuing(result, normalized, context)

    def _going_ahead_with(self, result: MatchResult, context: DialogueContext) -> str | None:
        """"那就……吧": the action just offered, unless the turn clearly names another one
        ("那你给我交了吧" after the amount due pays; "那我还是在你这儿交吧" after a fraud warning
        that offered a look-up pays too)."""
        top = result.candidates[0]
        offered_score = next((c.score for c in result.candidates if c.intent == context.offered), 0.0)
        if context.offered in self._index and (
                top.intent in CONVERSATIONAL or top.score - offered_score < self.config.accept_margin):
            return context.offered
        return top.intent if top.intent not in CONVERSATIONAL and (context.offered or context.last_intent) else None

    def _continuing(self, result: MatchResult, normalized: str, context: DialogueContext) -> str | None:
        """The last request, when the turn reads as little else: "电话呢" after the hall's hours."""
        ranked = [c.intent for c in result.candidates[:3]]
        if context.last_intent not in ranked:
            return None
        top = result.candidates[0]
        last_score = next(c.score for c in result.candidates if c.intent == context.last_intent)
        if top.intent == OUT_OF_SCOPE and top.score - last_score >= self.config.accept_margin:
            return None  # clearly small talk, not more of the same ("几点能有电" after an outage is more of it)
        if result.decision == Decision.NONE:
            # Nothing else fits either: a question goes on about the last request ("大概多久能来人" after a
            # fault report); a bare sound or a mumble ("哗啦哗啦的东西") is a miss.
            asks = len(normalized) >= _MIN_QUESTION_CHARS and _QUESTION_WORD.search(normalized) is not None
            return context.last_intent if asks else None
        ahead = result.candidates[: ranked.index(context.last_intent)]
        if all(c.intent in NOISE or c.score - last_score < self.config.accept_margin for c in ahead):
            return context.last_intent
        return None

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
        phones = phone_key(key)
        common_phones = process.cdist([phones], self._example_phones, scorer=LCSseq.similarity, dtype=np.int32,
                                      workers=1)[0]
        phone_score = self._fbeta_of(common_phones / self._example_phone_lengths,
                                     common_phones / np.float32(max(1, len(phones))))
        example_score = np.maximum(np.maximum(char_score, sound_score * config.sound_weight),
                                   phone_score * config.phone_weight)
        closest_example = np.zeros(len(self.specs), dtype=np.float32)
        np.maximum.at(closest_example, self._example_owner, example_score)
        intent_score = (1 - config.bag_weight) * closest_example + config.bag_weight * self._bag_scores(key, sound)

        keyword_evidence = np.zeros(len(self.specs), dtype=np.float32)
        for keyword in self._candidate_keywords(sound):
            if keyword.chars in key:
                strength = len(keyword.chars) / len(key)
            elif keyword.sound in sound:
                strength = config.sound_weight * len(keyword.sound) / len(sound)
            elif len(keyword.sound) > 1 and _in_order_with_gaps(keyword.sound, sound):
                # 取消交费提醒 still says 取消提醒: a split keyword is weaker evidence.
                strength = config.split_keyword_weight * len(keyword.sound) / len(sound)
            else:
                continue
            # A keyword filling the whole utterance is strong; one among many words less so.
            evidence = config.keyword_weight * (0.5 + 0.5 * strength)
            if evidence > keyword_evidence[keyword.intent_index]:
                keyword_evidence[keyword.intent_index] = evidence
        # Noisy-OR: independent evidence from examples and keywords.
        return 1.0 - (1.0 - intent_score) * (1.0 - keyword_evidence)

    def _candidate_keywords(self, sound: str) -> list[_Keyword]:
        found: list[_Keyword] = []
        for symbol in set(sound):
            found.extend(self._keywords_by_first_sound.get(symbol, ()))
        return found

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
        lead = best.score - runner_up
        if ((best.score >= config.accept_threshold and lead >= config.accept_margin)
                or (best.score >= config.clear_lead_threshold and lead >= config.clear_lead_margin)):
            decision = Decision.ACCEPT
        else:
            decision = Decision.CONFIRM
        return MatchResult(text, normalized, best.intent, best.score, decision, candidates)
