"""The conversation so far, as understanding needs it, and the readings that depend on it.

One sentence alone is ambiguous in a conversation: "对" answers the question just asked,
"那就交了吧" takes the action the last answer offered, "用了几度" keeps the month just
talked about, "两百" after a cost question is 200 kWh. The policy describes the
conversation in a ``DialogueContext``; the matcher and the slots read the turn against it.
Pure: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from decimal import Decimal

from intents.ids import (
    AFFIRM,
    BILL_ESTIMATE,
    DENY,
    GOODBYE,
    GREETING,
    OUT_OF_SCOPE,
    PLANNED_OUTAGE,
    QUERY_BILL,
    QUERY_USAGE,
    RECONNECT,
    REPEAT,
    REPORT_OUTAGE,
    SLOWER,
    TARIFF_INFO,
)
from intents.phonetic import fold, syllables
from intents.slots import Slots, shift_month

# Open questions answered by yes or no (the policy's ``Pending.kind`` values).
YES_NO_QUESTIONS = frozenset({"confirm_action", "confirm_intent", "offer_handoff", "verify_offer"})
# Intents about the conversation itself rather than a request.
CONVERSATIONAL = frozenset({AFFIRM, DENY, GOODBYE, GREETING, REPEAT, SLOWER, OUT_OF_SCOPE})
# Of those, the ones a stray sound lands on (啊 → greeting): they never outrank the thread.
NOISE = frozenset({GREETING, REPEAT, SLOWER})
# After these, a number is a quantity of electricity to cost.
COST_INTENTS = frozenset({TARIFF_INFO, BILL_ESTIMATE})


@dataclass(frozen=True, slots=True)
class DialogueContext:
    pending: str = ""  # the kind of question 小电 is waiting on ("" when none)
    pending_intent: str = ""  # the intent that question belongs to
    last_intent: str = ""  # the last request answered
    offered: str = ""  # the action the last answer offered or concerned (pay_bill after an amount due)
    month: str | None = None  # the month and kWh the conversation is about lately
    kwh: Decimal | None = None

    @property
    def expects_yes_no(self) -> bool:
        return self.pending in YES_NO_QUESTIONS

    @property
    def expects_quantity(self) -> bool:
        return self.pending == "kwh" or self.last_intent in COST_INTENTS


# --- yes and no, as a recogniser may hear them -----------------------------------
# Toneless, accent-folded syllables: short answers come back as other characters of
# the same sound (对 → 队/兑, 是 → 事/市, 好 → 号, 行 → 型, 不用 → 不勇, 不对 → 部队).
# A lone 嗯 is as often "um" as "yes" (嗯，那个……): only a doubled one is a yes.
_AFFIRM_WORDS = ("dui", "shi", "hao", "n n", "en en", "n en", "en n", "xing", "ke yi", "mei cuo", "que ren",
                 "zhong", "cheng", "yao", "mei wen ti", "o", "hao lei", "xing a")
_DENY_WORDS = ("bu dui", "bu shi", "bu yong", "bu yao", "bu xing", "bu xu yao", "suan le", "cuo le", "gao cuo le",
               "bie", "qu xiao", "mei you", "bu le", "bu yong le")
# Syllables that carry no answer of their own (particles, fillers).
_PARTICLES = frozenset(fold(s) for s in ("de", "le", "a", "ya", "ba", "la", "ne", "wa", "ai", "ei", "e"))
_MAX_ANSWER_SYLLABLES = 8


def _folded_words(words: tuple[str, ...]) -> tuple[tuple[str, ...], ...]:
    # Longest first, so 不对 is read before 对.
    return tuple(sorted((tuple(fold(s) for s in w.split()) for w in words), key=len, reverse=True))


_AFFIRM = _folded_words(_AFFIRM_WORDS)
_DENY = _folded_words(_DENY_WORDS)


def yes_or_no(normalized: str) -> str | None:
    """AFFIRM or DENY when the whole turn is a short yes or no (any homophone of it), else None."""
    sounds = [fold(s) for s in syllables(normalized) if not s.startswith("#")]
    if not sounds or len(sounds) > _MAX_ANSWER_SYLLABLES or len(sounds) != len(normalized):
        return None  # digits, letters or a long sentence: not a bare answer
    found: set[str] = set()
    position = 0
    while position < len(sounds):
        for label, words in ((DENY, _DENY), (AFFIRM, _AFFIRM)):
            word = next((w for w in words if tuple(sounds[position:position + len(w)]) == w), None)
            if word is not None:
                found.add(label)
                position += len(word)
                break
        else:
            if sounds[position] not in _PARTICLES:
                return None
            position += 1
    return found.pop() if len(found) == 1 else None


def after_leading_yes(normalized: str) -> str | None:
    """What follows a yes that opens the turn ("好，交" → "交", "对，你帮我查查" → "你帮我查查"), or None."""
    han = re.match(r"[\u3400-\u9fff]+", normalized)
    if han is None:
        return None
    sounds = [fold(s) for s in syllables(han.group())]
    position, said_yes = 0, False
    while position < len(sounds):
        word = next((w for w in _AFFIRM if tuple(sounds[position:position + len(w)]) == w), None)
        if word is not None and not any(tuple(sounds[position:position + len(d)]) == d for d in _DENY):
            if sounds[position + len(word):position + len(word) + 1] in ([fold("le")], ["bu"]):
                return None  # 对了 / 好了 open something else; 是不是 / 要不要 ask
            said_yes, position = True, position + len(word)
        elif said_yes and sounds[position] in _PARTICLES:
            position += 1
        else:
            break
    return normalized[position:] if said_yes else None


# --- a turn that starts by taking back the last one -----------------------------
# "不对，我是问……", "不是这个，……", "算了，……", "先不弄了，……": what follows is the request.
_TAKE_BACK = re.compile(
    r"^(?:(?:不对|不是这个|不是|错了|搞错了|算了|先不[^了]{0,2}了|不[^了是]{1,2}了|别[^了]{0,2}了)(?:意思)?)+"
    r"[吧啊呀]?(?:我(?:是|想|要)?(?:问|说)的?是?)?"
)


# A change of mind: a turn that ends by giving up, whatever came before ("今天不交了",
# "算了，我儿子说……，那就不要了"); the verbs of doing only, so "电又不来了" stays a report.
_ENDS_GIVING_UP = re.compile(r"(?:(?:先|就|也|还是)?不(?:要|用|弄|办|交|开|查|改|订|缴|麻烦)了|算了)[吧啊呀]?$")


def cancels(normalized: str) -> bool:
    """The turn gives up what is being done (a leading "算了，……" with a request after it does not)."""
    if _ENDS_GIVING_UP.search(normalized):
        return True
    rest = without_take_back(normalized)
    return "算了" in normalized and (rest == normalized or not rest)


# "小电你好，我想查查电费": the greeting opens the turn; the request follows.
_OPENER = re.compile(r"^(?:小电)?(?:你好|您好|喂)+(?:小电)?")


def without_opener(normalized: str) -> str:
    return _OPENER.sub("", normalized, count=1)


def without_take_back(normalized: str) -> str:
    """The request after a leading correction or cancellation ("" when nothing follows)."""
    return _TAKE_BACK.sub("", normalized, count=1)


def takes_back(normalized: str) -> bool:
    return _TAKE_BACK.match(normalized) is not None


# --- follow-ups -----------------------------------------------------------------
# "那……呢", "那就……吧", "行，……": a short turn leaning on what was just said.
_FOLLOW_UP = re.compile(r"^(?:那|行|好|就|要不)|(?:吧|呢|的话)$")
# "那就……吧", "行，交了吧": agreeing to do something, not asking about it (no question word).
_NOT_A_QUESTION = r"(?!.*(?:呢|吗|多少|几|什么|怎么|哪))"
# Nor a refusal or a farewell ("那不用了，还是留着吧", "就这样吧，拜拜").
_NOT_A_REFUSAL = r"(?!.*(?:不用|不要|不交|不办|不弄|不了|别|算了|留着|这样吧|拜拜|再见))"
_GOING_AHEAD = re.compile(rf"^(?:那就|那好|那|行|好|就|还是){_NOT_A_QUESTION}{_NOT_A_REFUSAL}.*吧"
                          rf"|^(?:行|好)?那就{_NOT_A_QUESTION}{_NOT_A_REFUSAL}")
_MAX_FOLLOW_UP_CHARS = 10

# A short question that means something else right after a given answer:
# (last intent, what the turn alone looks like) → what it asks.
FOLLOW_UP_READINGS = {
    # "什么时候来电" after a planned outage asks when that outage ends, not about reconnection.
    (PLANNED_OUTAGE, RECONNECT): PLANNED_OUTAGE,
    (PLANNED_OUTAGE, REPORT_OUTAGE): PLANNED_OUTAGE,
}


def is_follow_up(normalized: str) -> bool:
    return len(normalized) <= _MAX_FOLLOW_UP_CHARS and _FOLLOW_UP.search(normalized) is not None


def goes_ahead(normalized: str) -> bool:
    """The turn agrees to the action just offered ("那就交了吧", "行，办吧")."""
    return len(normalized) <= _MAX_FOLLOW_UP_CHARS and _GOING_AHEAD.search(normalized) is not None


# "多少钱", "几块": the turn asks an amount.
ASKS_AMOUNT = re.compile(r"多少|几块|几元")

# A number alone, perhaps with 度 and a particle: "两百", "四百度的话呢". Not ten digits: that is a 户号.
_QUANTITY = re.compile(r"^(?:那|要是|如果)?用?([0-9]{1,6}(?:\.[0-9]+)?)(?:度|个字|字)?电?(?:的话)?(?:呢|吧|啊)?$")


_KWH_SAID = re.compile(r"[0-9]+(?:\.[0-9]+)?(?:度|千瓦时|个字)")


def mentions_kwh(normalized: str) -> bool:
    return _KWH_SAID.search(normalized) is not None


def bare_quantity(normalized: str) -> Decimal | None:
    """The number when the turn is a number and little else."""
    match = _QUANTITY.match(normalized)
    return Decimal(match.group(1)) if match else None


# "那再往前一个月呢", "之后一个月": a month counted from the one being talked about, not from today.
_MONTH_STEP = re.compile(r"(?:再)?往(前|后)推?1?个?月|再(前|后)1个月|之(前|后)1个月|(上|下)1个月")
# What a month follow-up continues when the last answer had no month in it (the balance).
MONTHLY_INTENTS = frozenset({QUERY_BILL, QUERY_USAGE})


def month_step(normalized: str) -> int | None:
    found = _MONTH_STEP.search(normalized)
    if found is None:
        return None
    return -1 if ("前" in found.group() or "上" in found.group()) else 1


def month_follow_up(normalized: str, context: DialogueContext) -> str | None:
    """The request "那再往前一个月呢" continues: the last one if it is by month, else the bill."""
    if context.month is None or month_step(normalized) is None or not is_follow_up(normalized):
        return None
    return context.last_intent if context.last_intent in MONTHLY_INTENTS else QUERY_BILL


def with_context(slots: Slots, context: DialogueContext, intent: str, normalized: str) -> Slots:
    """The turn's slots, with what it leaves unsaid taken from the conversation.

    "那电费呢" after last month's usage keeps last month; a bare number after a cost
    question is the kWh to cost, and so is a kWh said a moment ago ("一个月三百度" … "那要交多少钱").
    """
    if slots.month is None and slots.day is None and context.month is not None:
        step = month_step(normalized)
        slots = replace(slots, month=context.month if step is None else shift_month(context.month, step))
    if slots.kwh is None and intent == BILL_ESTIMATE:
        kwh = slots.quantity if slots.quantity is not None else context.kwh
        if kwh is not None:
            slots = replace(slots, kwh=kwh)
    return slots
