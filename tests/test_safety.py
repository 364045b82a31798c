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
MIN_ALARMS = 800
MIN_EMERGENCIES = 500
MIN_FRAUDS = 300
MIN_ORDINARY = 1050
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


@pytest.mark.parametrize(
    ("heard", "kind"),
    [
        # words between the touch and the wire, and a wire said as what happened to it
        ("哎呀不好了不好了，我老伴在院子里碰着那根掉下来的电线，人倒下了", Danger.EMERGENCY),
        ("我老头子在地里碰到那根耷拉下来的线了", Danger.EMERGENCY),
        ("村口那根断了的电线横在路上", Danger.EMERGENCY),
        # a person down beside something electric, whatever the words between
        ("我弟弟摸到那个铁皮电箱，当场就倒了", Danger.EMERGENCY),
        ("老伴在浴室里用吹风机，叫了半天没反应", Danger.EMERGENCY),
        ("我奶奶碰了一下那个漏电的电炉子，人现在说胡话", Danger.EMERGENCY),
        # the money handed to the visitor himself, in cash
        ("等一下，门口来了个穿工作服的，说直接把钱给他就行，给现金还便宜点", Danger.FRAUD),
        ("那个人说交现金给他就行，不用去营业厅那么麻烦", Danger.FRAUD),
        ("有个人说给他一千块钱就能给我家接一根免费的电", Danger.FRAUD),
        ("电话里的人让我告诉他手机上收到的数字", Danger.FRAUD),
    ],
)
def test_a_family_of_phrasings_is_caught_not_one_sentence(heard: str, kind: Danger) -> None:
    alarm = detect_danger(normalize(heard))
    assert (alarm.kind if alarm else None) == kind


@pytest.mark.parametrize(
    "text",
    [
        "营业厅可以交现金吗，我不会用手机",  # cash at the hall is ordinary
        "我打电话问了，营业厅可以交现金吗",  # the caller's own call is no stranger
        "村里电工上门收电费，给他现金可以吗",  # 上门 as a service, said plainly
        "我儿子说电费交给他就行，他在手机上帮我交",  # family, not a visitor
        "电视看着看着我爸就睡着了叫不醒，费电吗",  # asleep, not knocked down
        "我家开关按下去没反应，灯不亮",  # a switch without a response is no person
        "我老伴腿不好，躺下起不来，能上门办业务吗",  # no electricity near the fall
        "热水器洗澡的时候会不会漏电让人浑身发麻",  # wondering, inside a long window
        "燃气灶开关一拧一下就着了，是不是要换电池",  # a gas stove lights
        "骑共享单车去营业厅交电费",
    ],
)
def test_near_misses_of_the_new_families_stay_quiet(text: str) -> None:
    assert detect_danger(normalize(text)) is None


@pytest.mark.parametrize(
    ("heard", "kind"),
    [
        # the body's answer to a shock, without 触电 (被电哭了, 摸着扎手, 人就软了)
        ("孙子拿钥匙往插座眼里捅，被电哭了", Danger.EMERGENCY),
        ("水管子上有电，摸着扎手", Danger.EMERGENCY),
        ("大娘摸了一下墙上的开关，人就软了", Danger.EMERGENCY),
        ("洗碗的时候手碰到插座，手一下就不听使唤了", Danger.EMERGENCY),
        # someone lying by a box, thrown off by an appliance
        ("变电箱旁边躺着一个人，不知道咋回事", Danger.EMERGENCY),
        ("我那个手刚才摸到电熨斗，一股劲儿把我甩开了", Danger.EMERGENCY),
        # a bare 线 broken, burning or live; fire spreading; smoke filling a room
        ("外头的线被树枝压断了，掉在路中间，还在冒火", Danger.EMERGENCY),
        ("电表上头的线着了，俺用啥灭啊", Danger.EMERGENCY),
        ("家里电线短路了，火都窜上窗帘了", Danger.EMERGENCY),
        ("三轮车充电器烧了，一屋子的烟", Danger.EMERGENCY),
        ("插座那一块墙都熏黑了，还热乎乎的", Danger.EMERGENCY),
        # money to an account or a person he names, a prize that costs a fee, a levy on every house
        ("有人打电话说我欠电费，要把钱转到他给的账户上", Danger.FRAUD),
        ("他说我的电表是假的要罚款，让我微信转给他", Danger.FRAUD),
        ("说我中奖了电费全免，先交个人所得税", Danger.FRAUD),
        ("有人上门说电表要年检，一户收八十", Danger.FRAUD),
        # threats without 就, and their mirror
        ("刚刚来了个人说不交钱马上剪我家的线", Danger.FRAUD),
        ("有个人说给他转两百块就不给我家停电", Danger.FRAUD),
        # codes and phones handed over, a caller who must not be hung up on
        ("那人说我的户头要注销，让我把短信上的数字说给他", Danger.FRAUD),
        ("电话里那人叫俺别挂电话，一直让俺去银行", Danger.FRAUD),
        ("有个人要我把手机给他，说是帮我设置交电费", Danger.FRAUD),
        # a bad line: 验正码, 银航卡号, 着伙
        ("电话里让我报银航卡号", Danger.FRAUD),
        ("插座着伙了", Danger.EMERGENCY),
    ],
)
def test_families_from_the_third_unseen_set_are_caught(heard: str, kind: Danger) -> None:
    alarm = detect_danger(normalize(heard))
    assert (alarm.kind if alarm else None) == kind


@pytest.mark.parametrize(
    "text",
    [
        "着火的时候要先拉电闸对吗",  # what to do in general
        "电动车充电器发烫是正常的吗",  # heat asked about
        "这个灯怎么灭不了",  # a lamp put out, not a fire
        "炒菜的时候火都窜上来了，燃气灶是不是坏了",
        "电线杆上的广告牌歪了",
        "我儿子让我用手机扫他的二维码把钱给他，他帮我交电费",  # family
        "我给营业厅打电话，客服让我别挂，帮我转接",
        "我在手机上交电费，让我输验证码，这个正常吧",
        "营业厅打电话说我欠费了，让我去交",
        "上门的工作人员有没有工号可以查",
        "网上交电费打折吗",
    ],
)
def test_near_misses_of_the_third_set_stay_quiet(text: str) -> None:
    assert detect_danger(normalize(text)) is None


@pytest.mark.parametrize(
    ("heard", "kind"),
    [
        # an electric thing and a harm after it, in words no rule names
        ("俺们厂里那个电焊机的线破了，有个工人抓上去就没松开手", Danger.EMERGENCY),
        ("我外婆说开冰箱门的时候手里嗡的一下，现在人恍恍惚惚的", Danger.EMERGENCY),
        # a stranger and what a fraudster wants after him
        ("来了个小姑娘说要给老人办电费优惠卡，要了我的身份证还让我签字交钱", Danger.FRAUD),
    ],
)
def test_the_loose_layer_catches_wording_no_rule_names(heard: str, kind: Danger) -> None:
    alarm = detect_danger(normalize(heard))
    assert alarm is not None and alarm.kind == kind
    assert alarm.cue and alarm.cue in normalize(heard)


@pytest.mark.parametrize(
    "text",
    [
        "开着电视看着看着我就晕乎乎睡着了",  # asleep, not knocked down
        "我腿脚麻，想用电热毯暖和暖和",  # the harm before the thing
        "插座没冒火花，就是不通电",  # denied
        "我家电热水器洗澡时有点麻，想找人检查一下，现在没人用",  # a service request
        "门口卖菜的，我给了他10块",
        "有人说现金交电费更快",  # hearsay
        "那个小伙子帮我把电费交了，我给了他现金，他是我外甥",  # family
        "有人来我家抄电表，说这个月用了200度",  # kilowatt-hours, not money
        "小孩咬充电线会不会有事，怎么防",  # a worry said after words that do not say it happened
    ],
)
def test_the_loose_layer_stays_quiet_on_ordinary_statements(text: str) -> None:
    assert detect_danger(normalize(text)) is None
