"""Danger and fraud in what a caller says, found before anything else is understood.

A caller whose husband has just been shocked rarely says 触电: she says 被电了一下, 电打了,
麻了一下, 过电了; smoke comes from the 电箱, 闸盒 or 空开; and the recogniser may hear 出电,
帽烟 or 少交 instead. Missing one of them costs far more than a needless handoff, so the
measure here is recall, with false alarms kept off ordinary questions by context:

- phrase rules on the characters, each with the guard it needs (漏电保护器 is not a leak,
  被电费吓到 is not a shock, 让我转账 is fraud but 能转账交电费吗 is not);
- sound-alike rules on toneless pinyin (``intents.phonetic.sound_key``), so every
  recogniser spelling of a danger word counts, but only with danger around it: 少交 counts
  beside a smell (少交的味道), never in 我少交了电费;
- a question about what could happen (会不会着火, 怎么防止触电, 要是电线掉了) or a denial
  (没冒烟) is not an alarm.

- a last, loose layer for wording no rule names: an electric thing followed by a harm in one
  statement, or a stranger followed by what a fraudster wants, never in a question, a service
  request or beside the caller's family or the hall.

An emergency outranks fraud. Pure and fast: the patterns are compiled once at import, each rule
behind a one-character look-ahead of what it can start with.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from intents.phonetic import sound_key


class Danger(StrEnum):
    """Emergency: danger to life or property now, hand off at once. Fraud: warn before anything else."""

    EMERGENCY = "emergency"
    FRAUD = "fraud"


@dataclass(frozen=True, slots=True)
class Alarm:
    """What the detector found: its kind, and the words that made it say so."""

    kind: Danger
    cue: str  # the words that raised it, as they stand in the normalised text


# Building blocks, written <NAME> inside the rules below.
_BLOCKS: dict[str, str] = {
    # One character of a short window between two words: a denial or a supposition inside it
    # breaks the link (电线没断 is not a broken wire, 电线老化会着火吗 is no fire).
    "GAP": "[^没不别会怕防]",
    # Wiring and boxes: burning, heat or water here is a fire or shock risk.
    "WIRING": "插座|插孔|插头|插线板|插排|排插|接线板|电线|电缆|线路|电源线|线头|开关|电门|电闸|总闸|闸刀|闸盒|空开|灯绳|"
              "空气开关|断路器|电表|表箱|电箱|配电箱|配电柜|配电房|变压器|电线杆|电杆|高压线",
    "APPLIANCE": "电器|充电器|电瓶|电池|电动车|电视|冰箱|空调|外机|洗衣机|热水器|电饭锅|电水壶|电暖器|电暖气|取暖器|"
                 "电热毯|吹风机|灯泡|吊扇|风扇|电机|浴霸|电炉|电磁炉|电锯|电钻|灯座|灯头|"
                 "冰柜|冷柜|展柜|增氧机|电灯|电饭煲|微波炉|烤箱|电烤箱|充电宝|电褥子|油烟机|烘干机|饮水机|电熨斗|电扇|热得快|"
                 "水泵|电泵|抽水机|潜水泵|打米机|磨面机|电焊机|灯管|灯线",
    # What a child can put a finger, a key or teeth into.
    "SOCKET": "插座|插孔|插线板|插排|排插|电线|电源|线头|插头|电门|电闸|开关|电箱|裸线",
    # The boxes and wires named beside a sound-alike (电箱帽烟了): a short list, as every
    # name here also stands for all its sound-alikes.
    "SOUND_OBJECT": "电线|电箱|插座|插头|插线板|开关|电表|表箱|配电箱|闸盒|空开|总闸|电闸|变压器|电器|电缆",
    # Where climbing or crawling in meets high voltage.
    "LIVE_HEIGHTS": "变压器|电线杆|电杆|线杆|高压线|配电房|配电箱|电塔|铁塔|变电站|变电所|电站",
    "CHILD": "孩子|小孩|娃|孙子|孙女|外孙|宝宝|小朋友",
    # Someone the caller can see fall: family, a worker, a neighbour (not 我: 我看了都晕了 is a figure of speech).
    "PERSON": "人|他|她|老伴|老头|老太|老婆|老公|男人|媳妇|丈夫|爱人|爸|妈|爷|奶|姥|外婆|外公|儿子|女儿|闺女|"
              "哥|弟|姐|妹|叔|舅|姑|姨|老汉|那口子|当家的|<CHILD>|工人|师傅|邻居|同事|伙计|店员|员工|工友|老乡|大爷|大娘|大妈|大叔|婶|伯|"
              "狗|猫|牛|羊|猪|鸡|鸭",
    # What a person does when the current has knocked them down. 没反应 / 不动了 alone are also said
    # of a socket or a meter, so they need 人 or a call before them (叫了半天没反应).
    "COLLAPSE": "跪地上|跪在地|跪下|摔地上|抽抽|一抽一抽|抽个不停|直抽|一声不吭|往后一仰|向后一仰|仰过去|仰倒|往后倒|摔那了|摔那儿|摔在那|倒下|倒地|倒在|倒了(?![一杯碗水茶垃])|躺在地|躺地上|躺那|躺下起不来|瘫|趴下|栽倒|摔下来|"
                "脸色(?:发白|煞白|发紫|发青|刷白)|"
                "晕了|昏了|晕倒|昏倒|昏迷|抽过去|抽起来|翻白眼|直哆嗦|浑身哆嗦|坐地上|坐在地上|站不起来|嘴唇都紫|嘴唇发紫|不吭声|没声了|一动不动|不动了|"
                "没知觉|没意识|没气了|叫不醒|喊不醒|叫不应|喊不应|不省人事|说不出话|说胡话|神志不清|迷迷糊糊",
    # A window before a collapse word: as <GAP>, and never across sleep or a stumble (我爸睡着了叫不醒, 老人摔倒了).
    "AWAKE": "[^没不别会怕防睡摔]",
    # Touching, pulling, holding, stepping on.
    "TOUCH": "摸|碰|抓|拉|拽|扯|扶|踩|挨|握|拿|揪|靠|沾|够",
    # A wire said to have come down, hung low or broken, said before the wire (掉下来的电线).
    "DOWN_WIRE": "(?:掉|断|垂|耷拉|落|刮断|刮|吹|拖)(?:下来|下|到地上|在地上|了)?的(?:那|这|1)?(?:根|条)?"
                 "(?:电线|线|电缆|高压线|电源线|线头)",
    # An electric thing, for rules that need one nearby.
    "ELECTRIC": "<WIRING>|<APPLIANCE>|插电|触电|被电|电着|电到|电打|漏电|带电|带着电|高压|火线|线头|"
                "(?<![网话视光在])线(?!上[交缴办支付]|下[营办交缴])",
    # Things people touch that should never carry current.
    "METAL": "墙|墙上|墙面|水管|水龙头|龙头|外壳|壳子|铁盒|铁皮|铁箱|铁门|防盗门|暖气片|铁丝|晾衣架|晾衣绳|栏杆|护栏|扶手|路灯杆|铁架子|门把手|窗户|"
             "衣架|铁架|铁床|门框|铁棚|彩钢瓦|铁皮房|大棚架|铁锅|自来水管",
    # 电 right after these is the supply, not a shock (来电了, 停电了, 充电, 用电, 修电的人).
    "NOT_A_SHOCK": "(?<![充来停供用送通断有没缴交发复省节费修])",
    # Someone other than the caller: a stranger, a call, a message, a visitor.
    "STRANGER": "有人|有个人|有一个人|一个人|有1个人|1个人|陌生人|陌生|对方|那人|那个人|那边|(?<!其)他|她|人家|电话|打来|短信|信息|"
                "说是|自称|冒充|上门|门口|敲门|来了个|来了一个|来了2个|男的|女的|小伙子",
    # A person who came to the door.
    "VISITOR": "有人|有1个人|1个人|挨家|挨户|有个人|有个男的|有个女的|有个小伙子|有个老头|有2个人|有几个人|陌生人|来了个|来了.{0,3}人|敲门|门口|"
               "来了(?:[0-9]+|几)个|穿(?:工作服|制服)的|"
               "来我家|到我家|上我家|小伙子|男的|女的",
    # Who calls or knocks: a stranger, never family (他/她 are left out: 我闺女让我加她微信), nor the
    # utility's own reminder text (收到短信让交电费).
    # intents.normalize drops 那个, so 那个人说 arrives as 人说: a bare 人 opening a clause counts.
    "CALLER": "有人|有个人|有1个人|1个人|陌生人|陌生|对方|那人|那个人|电话|上门|门口|敲门|来了个|来了.{0,3}人|男的|女的|小伙子|"
              "号码|打过来|打来|"
              "(?:^|(?<!厅)(?<!所)(?<!司)(?<!局)的|口|外)人(?=说|讲|叫|让|要|非|硬)",
    # Someone at the door or a stranger who wants the money himself; not 上门 as a service
    # (电工上门收电费), nor the caller's own call (我打电话问营业厅收不收现金).
    "DOOR": "有人|有个人|有1个人|1个人|陌生人|对方|那人|那个人|上门的|门口|门外|敲门|来了个|来了.{0,3}人|来人|男的|女的|小伙子|"
            "穿(?:工作服|制服)的|(?:^|(?<!厅)(?<!所)(?<!司)(?<!局)的|口|外)人(?=说|讲|叫|让|要|非|硬|只)",
    # Who offers cut-price electricity: never a son paying for his mother (他 is left out).
    "OFFERED_BY": "有人|对方|陌生人|网上|群里|朋友圈|微信上|电话|短信",
    "UTILITY": "供电|电力|电网|电业|国网|营业厅|电管",
    "UTILITY_STAFF": "客服|电工|工作人员|抄表|查电|检修",
    # Claiming to be the utility or its staff. 说是 alone also means "it is said" (说是电网统一规定),
    # so after it the utility must be a person or someone's employer (说是供电局的, 说是电工).
    "CLAIM": "(?:自称|冒充|假装|装成|假扮)是?.{0,4}?(?:<UTILITY>|<UTILITY_STAFF>)"
             "|说(?:他|她|自己|他们)?是(?:从)?.{0,4}?(?:(?:<UTILITY>).{0,4}?(?:的|派|来|让|叫|要|问|说)|<UTILITY_STAFF>)",
    # What a fraudster is after.
    "ASK": "<ASK_STRONG>|存折|去银行|找他|找她|转过去|转给|汇过去|打过去|交钱|付钱|给钱|收钱|要钱|掏钱|钱给他|钱给她|钱交给|滞纳金|链接|网址|微信|下载|软件|"
           "进屋|进门|开门|买|退费|退款|退钱|交.{0,4}费|收.{0,4}费|[0-9]+(?:块|元)",
    # Asked for before the claim is even made (要我银行卡号，说是电力公司的).
    "ASK_STRONG": "转账|转帐|转钱|打钱|打款|汇款|汇钱|现金|押金|保证金|罚款|扫码|二维码|银行卡|卡号|密码|验证码|身份证号|"
                  "推销|节电器|省电器",
    # Fees a stranger invents; the utility charges none of them at the door or by phone.
    "FEE": "检查费|测试费|测量费|校验费|鉴定费|年检费|上门费|安装费|开户费|定金|订金|(?:材料|检测|检修|换表|服务|维修|手续|工本|改造|升级|装表|押表|疏通|核查)钱|检修费|检测费|换表费|押金|保证金|手续费|解冻费|罚款|升级费|改造费|服务费|材料费|维修费|激活费|认证费|工本费",
    "DOUBT": "是真的吗|是不是真的|真的假的|真的吗|是假的吧|假的吧|可信吗|靠谱吗|能信吗|可靠吗|正规吗|合法吗|能不能信|"
             "该不该信|可不可信|是你们的人吗|是你们派的吗|是不是你们的人|你们派人了吗|有没有派人|是官方的吗|能点吗|"
             "能不能点|要不要给|该不该给|能给吗|要不要转|能转吗",
    # A contact whose truth can be doubted; not 有人说/门口贴的 (有人说明天停电，是真的吗 is about an outage).
    # 上门 as a service the caller orders (上门修电要不要给钱) is a question about fees.
    "CONTACT": "电话|短信|链接|网址|上门(?!修|服务|装|安装|维修|检修|办)|来人|陌生|冒充|二维码|敲门|那人|对方",
    # 要我… asks the caller for something; 需要我/还要我/我要 do not.
    # Not 你让我/你要我: 小电 itself asks for the SMS code when it checks who is calling.
    "ASKS_ME": "(?<!你)(?<!您)(?<!你们)(?:(?:让|叫|逼|催|喊|教)(?:我|俺|咱|我们)?|(?<![需还我想就只])要(?:我|俺|咱|我们)"
               "|要求(?:我|俺)?)",
}

# Emergencies on the characters.
_EMERGENCY_WORDS = (
    # shock, plain and everyday
    "触电(?!保护|保险|开关|器)",
    "电击",
    "被电(?=了|着|到|打|击|伤|倒|晕|麻|一下|得|住|死|电|咬|$|下来|下去|飞|给(?:打|电|击|伤|咬|弄|麻))",
    "被(?:<WIRING>|<APPLIANCE>|<METAL>)给?(?:电|打|咬)(?:了|着|到|一下)",
    "<NOT_A_SHOCK>电把(?:人|我|他|她|俺|孩子)给?(?:打|电|击|伤)",
    "(?:叫|让|给|挨)电给?(?:打|电|击|着|到)",
    "(?:摸|碰|抓|挨)(?:了|到|着)?(?:电门|电线头|火线|裸线|带电|高压电)",
    "电打(?:了|着|到|一下|的)",
    "<NOT_A_SHOCK>电(?:了|着)?(?:我|他|她|俺|孩子|小孩|人)一下",
    "<NOT_A_SHOCK>电了一下",
    "(?<![供用发配停送抄售充来])电人(?!员|工)",
    "<NOT_A_SHOCK>电(?:到|着)(?:了(?!吗|没)|我(?!家|们|这)|他|她|人|孩子|手)",
    "<NOT_A_SHOCK>电(?:晕|倒(?!是)|伤|死|昏)",
    "<NOT_A_SHOCK>电得(?:我|他|她|手|人|浑身|全身|发麻|直)|<NOT_A_SHOCK>电的(?:浑身|全身|发麻|直)",
    "(?<![超通经穿])过电(?=了|一样|似的|的感觉|啦)",
    "麻了一下",
    "(?:摸|碰|挨|沾)<GAP>{0,14}?麻(?!烦|将|辣|婆|雀|绳|袋)",
    "(?:<WIRING>|<APPLIANCE>|<METAL>)<GAP>{0,4}(?:麻手|电手|打手|咬手)",
    # the socket "hit" or "bit" someone (开关打了我一下, 插座咬人)
    "(?:<WIRING>|<APPLIANCE>|<METAL>)<GAP>{0,4}(?:打|电|咬)(?:了|着)?(?:我|他|她|俺|人|孩子|手)",
    "电流<GAP>{0,3}(?:击|打|电|穿过)",
    "(?:洗衣机|热水器|冰箱|电饭锅|电水壶|空调|电视|电器|插座|插头|开关|电线|线头|电动车|路灯|电线杆|灯|电暖器|"
    "取暖器|电热毯|吹风机|<METAL>)<GAP>{0,3}漏电(?!保护|开关)",
    "漏电<GAP>{0,6}(?:麻(?!烦)|电手|电人|电到|打手|电了)",
    "(?:<METAL>)<GAP>?(?:带电|有电)(?![表箱线源视器闸费话梯动脑池灯插开])",
    # climbing where the current is
    "(?:<PERSON>|有人|老人)<GAP>{0,6}(?:(?:爬|钻|翻|攀)<GAP>{0,4}(?:<LIVE_HEIGHTS>)"
    "|(?:往|在|到)(?:<LIVE_HEIGHTS>)(?:围墙|墙|栏杆|杆子)?(?:上|上面|头上|里|里面)?(?:爬|钻|攀|翻))",
    # children and sockets
    "(?:<CHILD>)<GAP>{0,4}(?:碰|摸|抓|捅|咬|舔|啃|抠|拽|扯|插|伸|塞)(?:了|到|着|进|住|一下)<GAP>{0,4}(?:<SOCKET>)",
    "(?:<CHILD>)<GAP>{0,4}(?:咬|啃|舔)(?:了|着|住|断)?(?:电线|插头|线头|电源线|充电线|充电器|插线板|插座)",
    "(?:手指|指头|钥匙|铁丝|剪刀|筷子|叉子|勺子|针|发卡|钉子|镊子|别针|铁片)<GAP>{0,2}(?:插|伸|塞|捅|戳|抠)(?:进|到|了)?<GAP>{0,3}"
    "(?:插座|插孔|电门|插线板|排插|插排)",
    # fire, smoke, burning
    "(?<![打点])着火(?!车|点)",
    "(?<![引一])起火",
    "失火|火灾|走火|烧起来|烧着了|着了火|着起来|(?:冒|窜|蹿)火苗|明火",
    "冒火(?=花|星|苗|光|了|啦|呢|$)",
    "(?:<WIRING>|<APPLIANCE>)<GAP>{0,10}?(?:冒火|喷火|窜火)",
    # 着了 = on fire, in the north; not after 开/插/合 (开关开着了, 插头插着了).
    "(?:电线|电缆|插座|插线板|插排|排插|线路|电表|表箱|电箱|配电箱|变压器|空开|闸盒|电闸|总闸)"
    "[^没不别会怕防开关合拉插接连]{0,2}着了",
    "冒(?:黑|白|青|出|着)?烟|冒(?:出|起|着|了)?(?:一股|一阵|一团|好多|很多|大量|点|些)(?:黑|白|青|蓝|浓)?烟|起烟|浓烟|黑烟|烟雾(?!报警)|(?:全是|都是|满是|还有|往外冒)烟",
    "(?:<WIRING>|<APPLIANCE>)<GAP>{0,4}(?:有火(?!线|车|锅|力|柴)|火光|见火)",
    "线<GAP>{0,2}(?:烧糊|烧焦|烧化|烧黑|烧着|烧起来)",
    "(?<![饭菜锅肉])烧焦|(?:焦味|焦糊)(?!.{0,12}?(?:菜|饭|肉|粥|汤|锅里)的?(?:糊|焦|烧))|胶皮味|橡胶味|塑料味|烧胶|烧塑料",
    "(?:<WIRING>|<APPLIANCE>)<GAP>{0,8}(?:糊味|烧糊)|糊味<GAP>{0,8}(?:<WIRING>|<APPLIANCE>)",
    "(?:冒|打|闪|溅|迸|蹦|爆|起|出)?火花(?!塞)",
    "(?:冒|打|溅|蹦|迸|闪|有|出|起)火星|火星子",
    "(?:<WIRING>|<APPLIANCE>)<GAP>{0,4}打火(?!机)|拉弧|电弧|闪火",
    "(?:<WIRING>)<GAP>{0,3}(?:烧了|烧黑|烧化|烧熔|烧焦|烧糊|烧着|烧起|烧断|烧坏|烧红|烧穿)",
    "(?:<WIRING>|充电器|电瓶)<GAP>{0,4}烫(?!.{0,8}?(?:正常|要紧|没事|有事))",
    "(?:<WIRING>|<APPLIANCE>)<GAP>{0,8}(?:噼里啪啦|噼哩啪啦|劈里啪啦|噼啪|劈啪|啪啪|滋滋|嗞嗞|吱吱|呲呲|滋啦|嘶嘶)",
    "(?:噼里啪啦|噼哩啪啦|劈里啪啦|噼啪|劈啪|啪啪|滋滋|嗞嗞|吱吱|呲呲|滋啦|嘶嘶)<GAP>{0,8}(?:<WIRING>|<APPLIANCE>)",
    "(?:<WIRING>|<APPLIANCE>)<GAP>{0,3}(?:炸|爆)(?!过)|爆炸",
    # wires down, poles, bare wires, water
    "(?:电线(?!杆|桩|柱)|电缆|高压线|架空线|电源线|火线|裸线|线头|电力线|带电的线)<GAP>{0,4}"
    "(?:掉|断|落|垂|耷拉|拖地|搭在|横在|刮下|吹下)",
    "(?:电线杆|电杆|线杆|电线桩|电柱)(?:子)?(?:被|让|叫)?<GAP>{0,2}(?:倒(?!是)|歪|断|塌|折|砸|撞断|撞倒|撞歪)",
    "(?:电线|线头|电源线|插头线)<GAP>{0,4}(?:破皮|破了皮|露出|露着|漏出|裸露|皮破|没皮|掉皮|露铜)",
    "(?:<SOCKET>|电表|电表箱|配电箱|电箱)<GAP>{0,4}(?:泡水|泡在水|进水|被淹|淹了|泡了|泡着|被水泡(?:着|了)|浸水|浸在水)",
    "(?:淹|泡|进水)<GAP>{0,6}(?:插座|电箱|配电箱|电表箱|电闸)",
    "变压器<GAP>{0,8}(?:着火|起火|冒烟|冒火|烧|漏油|炸|爆)",
    # touching a wire that is down, broken or bare, with words between (碰着那根掉下来的电线)
    "(?:<TOUCH>)(?:了|到|着|住|上)?<GAP>{0,8}(?:<DOWN_WIRE>)",
    "<DOWN_WIRE>",
    "(?<![网话视光])线<GAP>{0,4}(?:耷拉|垂下|垂到|掉下来|掉在地|落在地|拖在地|拖地|掉到地)",
    # holding on to the current (抓着线不放); stuck to it (手粘在上面) is further down, with a person down
    "(?:<TOUCH>|抱)着?(?:<ELECTRIC>)<GAP>{0,3}(?:不放|不松手|不撒手|不动)",
    # a touch that bangs, crackles or sparks (一碰就啪啪响)
    "(?:<TOUCH>)<GAP>{0,3}(?:就|一下)?(?:啪啪|噼啪|劈啪|滋滋|嗞嗞|冒火|打火|冒烟|发麻|一麻)",
    # numb all over beside something electric
    "(?:<WIRING>|<APPLIANCE>|<METAL>|漏电|带电|洗澡)<GAP>{0,16}?(?:浑身|全身|手|胳膊|身上|腿|身子|半边|手指|指头|肩膀|脚|手心)<GAP>{0,5}"
    "(?:发麻|麻了|一麻|麻麻|麻酥酥)",
    # a bang, a blown plug or appliance (插头拔的时候炸了一下)
    "(?:<WIRING>|<APPLIANCE>)<GAP>{0,8}(?:炸了|爆了|炸开|炸一下|炸了一下|嘭的|砰的|轰的)",
    "(?:<WIRING>|<APPLIANCE>)<GAP>{0,3}(?<![饭菜肉粥汤])(?:烧化|烧熔|烧焦|烧糊|烧黑|熔化|融化|化掉)",
    "塑料<GAP>{0,2}(?:糊|焦|烧)|(?:糊|焦)<GAP>{0,2}塑料",
    # hurt at the hand after a socket or an appliance (戳插座，现在手都黑了)
    "(?:<SOCKET>|<APPLIANCE>)<GAP>{0,10}?手<GAP>{0,2}(?:黑了|烧黑|烧焦|焦了|烫伤|烧伤|起泡)",
    "(?:噼里啪啦|噼哩啪啦|劈里啪啦|噼啪|劈啪|啪啪|滋滋|在|直|一直|正在|还在)打火(?!机|锅)",
    # caught fire with a bang (轰地一下着了)
    "(?:轰|嘭|砰)(?:的|地)?(?:一下|一声)?(?:就)?(?:着了|着起来|烧起来|起火|炸了|爆了)",
    "(?:插座|插头|插线板|插排|排插|电线|线路|电表|表箱|电箱|配电箱|<APPLIANCE>)<GAP>{0,10}?(?:一下|突然|忽然)(?:就)?着了",
    # chest pain or breathlessness after touching something electric (摸了电饭锅一下，就说心口疼)
    "(?:<TOUCH>)<GAP>{0,6}?(?:<ELECTRIC>|<METAL>)<GAP>{0,12}?(?:心口疼|胸口疼|心口痛|胸口痛|心慌|心脏不舒服|喘不上气|喘不过气|胸闷)",
    # red-hot, and what catches fire from it (排插烧得通红，窗帘都点着了)
    "(?:<WIRING>|<APPLIANCE>)<GAP>{0,3}烧得(?:通红|发红|发黑|冒烟|变形|化了|滚烫)",
    "(?:窗帘|被子|被褥|沙发|衣服|床单|墙纸|桌布|柜子|纸箱|柴火|草垛)(?:都|也|给)?(?:点着|烧着|着了|烧起来|引着|烤着|烤焦|燎着)",
    # a live wire lying where people walk, a worker thrown by the current (修电表被打得从梯子上掉下来)
    "(?:地上|路上|水里|井盖上)<GAP>{0,4}线<GAP>{0,4}(?:带电|带着电|有电)",
    "(?:<WIRING>|<APPLIANCE>)<GAP>{0,8}被(?:电)?打(?:得|了|着|到|下来)",
    # a saw, shears or a spade into a cable (锯到电线了)
    "(?:锯|剪|割|砍|铲|挖|钻)(?:到|着|破|断)(?:了<GAP>{0,3}(?:电线|电缆|高压线|线路)|<GAP>{0,3}(?:电线|电缆|高压线|线路)了)",
    # wires in a child's mouth; a smell of burning wire; a burst of fire; singed hair
    "(?:<SOCKET>)<GAP>{0,3}往?嘴里(?:塞|放|含|咬)",
    "烧(?:电线|线|塑料|胶皮|橡胶)的?(?:味|臭)",
    "冒(?:出|起)(?:一团|一股|一片|一阵|好大的?|好多)?火(?!车|锅|气|柴|腿)",
    "(?:眉毛|头发|胡子)(?:都|给|也)?(?:燎|烧焦)",
    "(?:掉|飞|往下掉|落)火星|(?:噼噼啪啪|劈劈啪啪)<GAP>{0,6}(?:响|冒|火)",
    # a child under the transformer or up the pole (变压器底下有个娃娃在掏鸟窝)
    "(?:<LIVE_HEIGHTS>)(?:底下|下面|旁边|上面|上)<GAP>{0,4}(?:<CHILD>)<GAP>{0,3}(?:在|正在)(?:爬|玩|掏|钻|翻|够)",
    # shocked, with words between (被狠狠地电了一家伙)
    "被<GAP>{0,4}<NOT_A_SHOCK>电(?:了|着|到|得)(?!费|话|视|脑|梯|池|源|压|量|价|表)",
    "<NOT_A_SHOCK>电了(?:一家伙|一下子|一口|一道)",
    # Next to something electric: a person down (摸到铁皮电箱当场就倒了), no answer to a call
    # (叫了半天没反应), stuck to the current (手粘在上面下不来), thrown off by it (被崩开了). One rule,
    # as they share the electric word they start from, which then is matched once.
    "(?:<ELECTRIC>|<METAL>)(?:"
    "<AWAKE>{0,16}?(?:<PERSON>|当场|一下子?|立马|马上|立刻|直接|一抖|一哆嗦|一软|一麻|一激灵|现在|这会儿?|还在)<AWAKE>{0,4}(?:<COLLAPSE>)"
    "|<AWAKE>{0,24}?(?:(?:叫|喊)<AWAKE>{0,4}(?:没反应|没动静|不醒|不应|不答应|不吭声|不回答|不说话|没回应|不理)|人<GAP>{0,2}没(?:了)?(?:反应|动静))"
    "|<GAP>{0,12}?(?:粘在|粘住|吸住|吸在|甩不开|甩不掉|松不开|撒不开|放不开|拿不下来|下不来手|不撒手|不放手|拉不下来|拽不下来|拉不开|拽不开|缠住|缠着)"
    "|<GAP>{0,12}?被(?:电)?(?:崩|弹|甩|击)(?:开|出去|飞|倒|下来)"
    # the hand stung (摸着扎手), someone lying beside it (变电箱旁边躺着个人), thrown off (把我甩开了), water that tingles
    "|<GAP>{0,8}?(?:扎手|刺手|蛰手|电手|麻手|咬手|电人|打人)"
    "|(?:旁边|边上|下面|底下|跟前|前面|附近|那儿?|那边|下边)?(?:躺着|倒着|趴着|瘫着|栽着)(?:1个|个|一个)?(?:<PERSON>)"
    "|<GAP>{0,14}?(?:把(?:我|他|她|人|俺|手)(?:给)?|(?:手|人)(?:一下)?(?:就|被|给)?)(?:甩|弹|崩|蹦|推|打)(?:开|出去|飞|老远|回来)"
    "|<GAP>{0,10}?(?<![麻油汽椒])水(?:是|都|也|有点|直|里)?(?:麻|电人|扎人|有电|带电)(?:的|了|人|手))",
    "(?:<PERSON>)<AWAKE>{0,4}(?:<COLLAPSE>)<GAP>{0,16}?(?:<ELECTRIC>)",
    # a person down, whatever the cause
    "救命(?!钱)|救救|出人命|救护车|打120|打119|不省人事|人不动了|没(?:了|有)?呼吸|晕过去|昏过去|晕倒|昏倒|休克|抢救|"
    "抽搐|口吐白沫|昏迷|(?:人|他|她|爷爷|奶奶|老伴|老头|老太|爸|妈|孩子|小孩|老人|孙子|孙女)<GAP>{0,2}(?:倒在地上|倒地)",
)

# The same dangers as a recogniser may spell them, matched on sounds, each only with danger
# around it: these sounds also make ordinary words (出电费, 找火车, 猫眼, 少交, 火化, 被点名).
_EMERGENCY_SOUNDS = (
    "触电(?:了(?!吗|没)|啦|的人|倒|晕|伤|死|身亡|事故|一下|昏)",
    # Someone 出电 with nothing after it but a cry for help (我爸出电，快来), never 出电费.
    "(?:有人|人|被|孩子|小孩|娃|宝宝|老伴|老头|老太|爸|妈|儿子|女儿|闺女|孙子|孙女|工人|师傅|邻居|他|她)"
    "触电(?:$|快|救|怎|呢|啊|不动)",
    # Not 出去找活了 (looking for work sounds like 着火 too).
    "(?<!去)着火(?:了|啦|呢|啊)|(?:<SOUND_OBJECT>)<GAP>{0,3}(?:着火|者火(?:了|啦))",
    "冒烟(?:了|啦|呢)|(?:<SOUND_OBJECT>)<GAP>{0,4}冒烟",
    # A smell, never 为 (少交为什么) nor 问 (我想问少交了怎么办), which sound like 味 and 闻.
    "烧焦(?:的)?(?:味道|气味|味儿)|烧焦(?:的)?味$|(?:闻到|闻着|闻见|股)(?:一股|有)?(?:点)?烧焦",
    "(?:冒|打|闪|溅|迸|蹦)(?:了)?(?:火花|火星)",
    # Not 断: 电线短了 (too short) sounds the same.
    "(?:电线|高压线|电缆)(?:掉|落)(?:了|在|下|地)",
    "被电(?:了|着|到)?一下|被电(?:着|到)了",
)

_FRAUD_WORDS = (
    "诈骗|骗子|骗局|被骗|受骗|上当|骗了|骗钱|行骗|冒充|冒用|假冒|洗钱|假的?(?:电工|工作人员|客服|抄表员)|公检法|屏幕共享(?!是什么|是啥|什么意思)|共享屏幕(?!是什么|是啥|什么意思)|远程控制|远程协助",
    "安全(?:的)?(?:账户|帐户|账号|帐号)",
    "(?:<CLAIM>).{0,20}?(?:<ASK>|<DOUBT>)|(?:<ASK_STRONG>).{0,20}?(?:<CLAIM>)",
    # asked to move money
    "(?:<ASKS_ME>)(?:先|赶紧|马上|立刻|立即|赶快|快点)?(?:(?:给|向)(?:他|她|对方|人家))?(?:转账|转帐|转钱|打钱|汇款|汇钱|把钱(?:转|打|汇)|(?:转|汇|打)[0-9]+)",
    "(?:<ASKS_ME>)(?:往|向)(?!我).{0,6}?(?:账户|帐户|账号|帐号|卡)(?:里|上)?(?:转|打|汇|存)",
    "(?:<ASKS_ME>)把.{0,8}?(?:钱|存款|积蓄|养老金|退休金|存折).{0,4}?(?:转|取|汇|打|交给|给他|拿出|挪|移|存到|放到|弄到|换到)",
    "(?:转|打|汇|交|存|付)<GAP>{0,6}(?:个人|私人|(?<!其)他|她|他个人|指定|对方)的?(?:账户|帐户|账号|帐号|银行卡|卡)",
    "(?:<ASKS_ME>)(?:去)?.{0,4}(?:atm|取款机|柜员机)",
    # asked for card numbers, codes, passwords (not 让我带身份证: the hall asks for that)
    "(?:问我要|跟我要|向我要|找我要|管我要|要了我的).{0,8}?(?:银行卡号|银行卡密码|卡号|密码|验证码|身份证号)",
    "(?:<ASKS_ME>)(?:报|说出?|告诉|念|发|提供|给)?(?:他|她|对方)?(?:我的|手机的?|手机上的?|收到的)?(?:一下)?"
    "(?:银行卡号|银行卡密码|卡号|密码|验证码)",
    "(?:<CALLER>).{0,12}?(?:问|要)(?:我|俺)家?的?.{0,6}?(?:银行卡|卡号|密码|验证码|身份证号)",
    "(?:把|将)(?:手机)?(?:收到的)?(?:验证码|卡号|密码|银行卡号).{0,4}?(?:告诉|发给|给|报给|念给|说给)(?:他|她|对方|人家|那人)",
    "(?:验证码|密码|卡号)<GAP>{0,6}(?:给他|给她|告诉他|告诉她|给对方|报给)",
    "(?:短信|链接|网站|网址|页面).{0,12}?填.{0,4}?(?:银行卡号|卡号|密码|验证码|身份证)",
    # threats to cut the power
    "(?<!你)(?<!您)(?<!你们)(?:说|讲|威胁|吓唬|吓我).{0,10}?不.{0,3}?(?:交|缴|付|给|转).{0,5}?就.{0,4}?"
    "(?:停电|断电|拉闸|掐电|剪线|剪电线|剪断|停你|断你|起诉|坐牢|上征信|黑名单)",
    "(?:<CALLER>|(?<!其)他|她).{0,8}?(?:说|让|叫|要).{0,16}?(?:不然|否则|要不然|要不)(?:就|要|会)?.{0,4}?"
    "(?:抓|坐牢|起诉|停电|断电|拉闸|掐电|剪线|上征信|黑名单|罚)",
    "(?:窃电|偷电|违规用电).{0,12}?(?:<ASKS_ME>).{0,6}?(?:罚款|交钱|私了|赔)",
    # a stranger collecting, inventing fees, offering refunds or discounts, asking to add WeChat
    "(?:<VISITOR>).{0,10}?(?:(?<![不没])收.{0,6}?(?:钱|费|押金|现金|[0-9]+(?:块|元))|要(?:收|交|现金|押金|钱))",
    "(?:<STRANGER>|<VISITOR>|电工|抄表).{0,24}?(?:先|提前)(?:交|付|转|给|打|汇)",
    # Not the caller's own call (我打电话问一下押金怎么退).
    "(?:上门|门口|敲门|有人|来了.{0,3}人|来了个|陌生人|对方|(?<!打)电话|打电话的|短信|说是|自称).{0,16}?(?:<FEE>)",
    "(?:短信|电话|信息|对方|链接|网站).{0,12}?"
    "(?:退费|退款|退钱|退给|退还|返还|返钱|补贴|赔偿|理赔|中奖|领钱|多交|多扣|能退|可以退)",
    "(?:<ASKS_ME>)(?:点|点开|打开|登录|进)(?:一下)?.{0,4}?(?:链接|网址|网站)",
    "(?:短信|信息).{0,16}?(?:点|点击|点开|打开)(?:一下)?(?:这个|那个)?(?:链接|网址)",
    "(?:<CALLER>).{0,12}?(?:推销|兜售)",
    "(?:<CALLER>|<OFFERED_BY>).{0,12}?(?:把电表调|电表调慢|表调慢|改电表|改表)",
    "(?:<CALLER>|短信).{0,12}?(?:<ASKS_ME>)加.{0,3}?(?:微信|qq|好友)",
    "(?<!儿子让我)(?<!儿子叫我)(?<!女儿让我)(?<!闺女让我)(?<!孙子让我)(?<!孙女让我)(?<!老伴让我)(?<!媳妇让我)(?<!外孙让我)"
    "加(?:他|她|对方|他们)的?(?:微信|qq|好友).{0,12}?(?:交|缴|付|转|钱|便宜|折)",
    "(?:<CALLER>).{0,8}?(?:<ASKS_ME>)(?:先|赶紧|马上|立刻)?(?:交钱|付钱|给钱|交.{0,3}费|缴.{0,3}费|付.{0,3}费)",
    "(?:(?<!厅打)(?<!所打)(?<!司打)(?<!厅给我打)(?<!所给我打)电话|有人|有个人|对方|陌生人|那人|<VISITOR>|电工)(?:里|那头)?.{0,10}?说(?:我|我家|你|您)?.{0,3}?"
    "(?:欠(?:了|费|着|你们)|窃电|偷电|违规用电|电表.{0,3}(?:问题|坏|换|改|假|不合格|过期|要买)|要换表|要换电表)",
    "(?:<OFFERED_BY>).{0,12}?"
    "(?:打折|[0-9一二三四五六七八九]折|半价|便宜|优惠|返现|返利|低价).{0,6}?(?:代交|代缴|代充|交|缴|充)",
    "(?:<OFFERED_BY>).{0,12}?(?:交|缴|充).{0,8}?(?:返现|返利|[0-9一二三四五六七八九]折|半价)",
    "(?:<OFFERED_BY>).{0,6}?(?:代交|代缴|代充|帮我交|帮我缴|帮你交|帮您交).{0,8}?(?:折|半价|便宜|优惠|返)",
    "(?:<STRANGER>).{0,12}?(?:<ASKS_ME>)(?:用手机|拿手机)?扫",
    "(?:<CALLER>|<DOOR>).{0,16}?扫(?:一下)?(?:他|她|对方|人家)(?:的|发的|给的|拿的)(?:二维码|码)",
    # asking whether such a contact is genuine
    # (An outage notice doubted is an outage question: 短信说明天停电，是真的吗.)
    "(?:<CONTACT>)(?:(?!停电|来电|检修).){0,24}?(?:<DOUBT>)",
    "(?:是不是真的|真的有|真有)(?:(?!停电|来电|检修).){0,12}?(?:上门|电话|短信|来人|敲门)",
)

# Families found on phrasings the rules above had not seen: money for the visitor himself, cash,
# machines and screens a fraudster steers, codes in other words, faults found at the door.
_FRAUD_WORDS += (
    # money handed to the visitor or caller himself, or cash only (说直接把钱给他就行, 只收现金)
    "(?:<DOOR>|电话(?:里|那头)?(?:说|让|叫|要)).{0,24}?(?:(?:交|缴|付|给|转|打|钱|费|现金|押金).{0,4}?(?:给|交给|转给|打给)(?:他|她)(?!妈|爸|们家)"
    "|直接给(?:他|她)|给(?:他|她)们?(?:现金|钱|[0-9]+(?:块|元|百|千)))",
    "(?:<DOOR>).{0,30}?(?:(?:只收|只要|非要|要收|收他|要)现金|(?:现金|钱)(?:给|交给)(?:他|她)|给(?:他|她)们?现金)",
    "(?:<DOOR>|电话(?:里|那头)?(?:说|让|叫|要)).{0,24}?(?:现金|给钱|付钱|交给他|给他).{0,8}?(?:便宜|打折|[0-9一二三四五六七八九]折|优惠|半价|少收)",
    "(?:<DOOR>|电话).{0,16}?(?:给|交|付)(?:他|她|他们|她们)?[0-9]+(?:块|元|百|千).{0,12}?"
    "(?:调慢|调表|改表|接电|接线|免费|不用交|少交|便宜)",
    # the machine, the app, the video and the screen a fraudster steers (按他说的操作, 开视频看银行卡)
    "(?:<ASKS_ME>)(?:去|到)?.{0,8}?(?:atm|取款机|柜员机)",
    "按(?:他|她|对方|人家)(?:说的|讲的|教的|的指示|的要求)(?:操作|做|弄|点|按)",
    "(?:<ASKS_ME>)(?:开|打|接)(?:个|1个)?视频",
    "(?:<CALLER>|<ASKS_ME>).{0,16}?(?:看|拍|照)(?:一下|看)?(?:我的|我家的|俺的)?(?:银行卡|存折|卡号|密码|验证码)",
    "会议的?(?:软件|app)|屏幕.{0,6}(?:给|让)(?:他|她|对方|人家)看",
    # codes typed in or read out, card digits (让我输密码, 报一下卡后面的几个数字)
    "(?:<ASKS_ME>)(?:报|说|告诉|念|发)(?:一下)?.{0,4}?卡.{0,6}?(?:数字|号码|后几位|后4位|后6位)",
    # savings taken out for him (让我去银行把定期取出来)
    "(?:<ASKS_ME>)(?:去|到)?(?:银行)?把.{0,8}?(?:定期|存单|存款|存折|积蓄|养老钱|棺材本).{0,4}?(?:取|转|拿|汇)",
    # the card or the phone handed over (让我把银行卡给他刷一下, 非要拿我的银行卡)
    "(?<!厅的人)(?<!所的人)(?<!工作人员)(?<!柜台)(?<!窗口)(?:<ASKS_ME>)把(?:我的|俺的)?(?:银行卡|存折|卡)(?:给|交给|递给|借给)(?:他|她|对方|人家)",
    "(?:<CALLER>|来人).{0,12}?(?:拿|要|借|刷)(?:走)?(?:我的|俺的)(?:银行卡|存折|卡|手机)",
    # the SMS code in an old person's words (告诉他手机上收到的数字)
    "(?:<ASKS_ME>)(?:报|说出?|告诉|念|发|提供|给)(?:一下)?(?:他|她|对方)?.{0,6}?(?:收到的|短信里的|短信上的|手机上的)"
    "(?:数字|号码|几个数|码)",
    # sent to another site or account (叫我去一个网站交电费，说原来的账户不能用了)
    "(?:<ASKS_ME>)(?:去|到|上)(?:1个|这个|那个|他的|他发的)?(?:网站|网址|链接|网页)",
    "(?:短信|电话|信息|<DOOR>).{0,20}?(?:原来的|以前的|老的?)?(?:账户|帐户|账号|户头)(?:不能用|作废|失效|冻结|停用|换了|变了)",
    "(?:短信|电话|信息|<DOOR>|<CALLER>).{0,24}?(?:原来的|以前的|老的)(?:账户|帐户|账号|户头|卡)?(?:不用了|不能用|作废|失效|停用|不要了)",
    # the visitor who finds fault and wants it paid today (上门的说你家电线不合格，今天必须交)
    "(?:<DOOR>).{0,8}?说.{0,6}?(?:电线|线路|表箱|电表)<GAP>{0,3}(?:不合格|不达标|有隐患|要换|得换)",
    "(?:<DOOR>).{0,24}?(?:今天|马上|现在|立刻|当场)(?:必须|就得|一定要|就要)(?:交|付|给|转)",
    # a card photographed, a share button, a settlement in private
    "(?:银行卡|存折|卡号|身份证)<GAP>{0,4}(?:给|让)(?:他|她|对方|人家)(?:拍|照|看|刷)",
    "共享(?:按钮|一下|屏幕|画面)|(?:点|打开|开启|开)(?:一下)?(?:手机|电脑)?(?:上)?的?(?:那个)?共享(?!单车|电单车|充电宝|汽车)",
    "(?:<CALLER>|<DOOR>).{0,30}?(?:私了.{0,6}?(?:给|交|[0-9]|钱)|(?:给|交|[0-9]+|钱).{0,6}?私了)",
    # gadgets that "save power", refunds promised by a stranger
    "(?:<CALLER>|来人).{0,16}?(?:省电的|节电的|省电宝|节电宝|电费减半|电费打折|电费便宜一半)",
    "(?:<CALLER>|来人).{0,16}?(?:退(?:我|给我|你)(?:钱|电费)|返(?:我|还我)钱)",
    "(?:<ASKS_ME>)(?:点|点开|打开|登录|进)(?:一下)?.{0,5}?网页|(?:网页).{0,12}?填.{0,4}?(?:银行卡号|卡号|密码|验证码|身份证)",
)

# Families found on a third set of unseen phrasings and its probes: the body's answer to a shock
# (被电哭了, 摸着扎手, 人就软了, 手不听使唤), things pushed into a socket's holes, a person lying by a
# box, sparks that spray, melted insulation, blue light, scorched walls, a bare 线 broken, burning
# or live, fire spreading to the curtains, smoke filling a room. Rules that start from an electric
# word are branches of the one rule above, so that word is matched once.
_EMERGENCY_WORDS += (
    "闪(?:了)?(?:一下)?(?:火|火光|蓝光)",
    # from the second and third fresh sets, after they were measured: a burning-hair smell, a black
    # socket, a fall while mending a lamp, a knee gone, a bare wire hot enough to bend
    "(?:烧头发|烧毛|烧布|烧皮子?)(?:的)?(?:味|似的|一样)",
    "(?:插排|插座|插头|插线板|排插|开关|线头)(?:那儿?|那里|那块|上面)?(?:都)?(?:黑了|发黑了|烧黑)",
    "(?:修|弄|换|拉|接|装)(?:<ELECTRIC>)<GAP>{0,6}?(?:摔|跌|掉|栽)(?:地上|下来|倒)",
    "(?<![网话视光在])线<GAP>{0,3}(?:烫得|发烫|烫手|滚烫|烧得|变形)",
    # red-hot boxes, a bang from a meter, a sting like a needle, wires clashing into fireballs
    "(?:<WIRING>)[^灯没不别会怕防]{0,8}?(?:红通通|通红|烧红|冒红光)",
    "(?:<ELECTRIC>|<METAL>)<GAP>{0,12}?(?:针扎|扎了一下|蛰了一下|咬了一下|麻到|麻得)",
    "(?:电线|线)<GAP>{0,4}(?:打在一起|碰在一起|搅在一起|碰到一起|打到一起)|火球|喷火(?!枪|器|龙)",
    "(?:<ELECTRIC>|<METAL>)(?:底下|下面|旁边|边上|跟前|那)<AWAKE>{0,12}?(?:一声不吭|叫也叫不醒|喊也喊不醒|叫不醒|喊不醒|不吭声|一动不动)",
    "(?:漏电|带电|有电)<GAP>{0,12}?被(?:电)?(?:打|击|电)(?:了|着|到|一下|倒)",
    "把(?:我|俺|咱|他|她)?(?:家|家的)?(?:<PERSON>|我|俺)(?:给)?电(?:了|着|到|倒|死|伤|晕|得)",
    "触(?:了|着|上)电|挨了电|过了电",
    "被<NOT_A_SHOCK>电(?:得|的)?(?:哭|叫|喊|疼|痛|跳|蹦|抖|哆嗦|缩|弹|甩|蹿|一激灵|一哆嗦|直叫|哇哇)",
    "有电<GAP>{0,8}?(?:扎手|刺手|蛰手|电手|麻手|咬手|电人|打人)",
    "洗澡<GAP>{0,10}?(?<![麻油汽椒])水(?:是|都|也|有点|直|里)?(?:麻|电人|扎人|有电|带电)(?:的|了|人|手)",
    "(?:<METAL>)(?:子)?(?:上|上面|上头|里|外面)?(?:都|也|还)?(?:带电|有电|来电|带着电)(?![表箱线源视器闸费话梯动脑池灯插开吗没不呢])",
    # something pushed into the holes of a socket (钥匙往插座眼里捅, 拿发卡戳插孔)
    "(?:<CHILD>|手指|指头|钥匙|铁丝|剪刀|筷子|叉子|勺子|针|发卡|钉子|镊子|别针|铁片|东西)<GAP>{0,6}?往"
    "(?:插座|插孔|电门|插线板|排插|插排|电源)(?:眼|孔|洞|口)?(?:里|里面|里头)?<GAP>{0,2}(?:插|伸|塞|捅|戳|抠|抓|摸|按)",
    "(?:插座|插孔|电门|插线板|排插|插排)(?:眼|孔|洞)(?:里|里面|里头)<GAP>{0,3}(?:插|伸|塞|捅|戳|抠)",
    # touched the live thing and fell or was thrown (伙计摸了一下就摔倒了)
    "(?:漏电|带电|有电|电线|火线|电门|裸线)<GAP>{0,12}?(?:<TOUCH>)(?:了|到|着|上)?(?:一下)?(?:就|人就|他就|她就|当时就|立马)?"
    "(?:摔倒|摔了|摔地上|摔出去|弹开|弹出去|倒了|倒下|坐地上|蹦起来|跳起来|甩出去)",
    # someone lying under a box or a pole (有人躺在配电箱下面), a body gone soft
    "(?:<PERSON>)(?:(?:躺|倒|趴|瘫)(?:在|着)<GAP>{0,2}(?:<WIRING>|<LIVE_HEIGHTS>)(?:下面|底下|旁边|边上|跟前|前面|上|那)"
    "|(?:就|一下|一下子)?(?:软了|瘫软|软下去|软倒))",
    "(?:喷|窜|蹿|往外冒|直冒|飞|溅出|迸出)火(?:星|花|苗)|火星(?:直|乱)?(?:冒|溅|飞|喷|掉)",
    "冒(?:蓝|电)光|闪蓝光|蓝火|蓝色的火|冒电火|电火花",
    "(?:电线|线|插头|插座|线头|电源线)<GAP>{0,3}的?(?:皮|外皮|胶皮)(?:都|全)?(?:化了|烧化|烧没|融了|熔了|焦了|糊了|冒泡|起泡|滴)",
    # a bare 线: crackling, in the water or on the road, broken, burning, still live
    "(?<![网话视光在])线(?:头|上)?(?:"
    "<GAP>{0,4}(?:噼里啪啦|噼啪|劈啪|啪啪|滋滋|嗞嗞|吱吱|呲呲|滋啦|压断|刮断|砸断|烧断|撞断|扯断|被.{0,3}断)"
    "|<GAP>{0,4}(?:掉|落|耷拉|垂|泡|搭)(?:在|到|进)(?:了)?.{0,3}?(?:水|坑|沟|河|塘|田|路|院|房顶|屋顶)"
    "|(?:[^没不别会怕防开关合拉插接连])?着了|(?:还)?(?:在烧|烧着了|烧起来)"
    "|(?:还|都|也)(?:有电|带电|带着电)(?!吗|没|不|呢))",
    "(?:电线|高压线|电缆)<GAP>{0,2}(?:都|全)?(?:在|到|落|掉|拖|躺)(?:了)?地上",
    "(?:<WIRING>)<GAP>{0,10}?(?:(?:熏黑|熏得|烤黑|烤焦|烫手|发烫|滚烫|热乎乎|烫烫的|烫得)(?!.{0,8}?(?:正常|要紧|没事|有事))"
    "|臭味|怪味|烧味)",
    "焦煳|煳味|焦臭|发出.{0,4}(?:焦|糊|煳|胶皮|塑料|烧)(?:的)?味",
    "(?:<WIRING>|<APPLIANCE>|电缆井|竖井)(?:里|里面|那|那里|那儿)?(?:在烧|烧着呢|正烧|还在烧|着着)",
    "(?:好大的?|好多|满屋子?的?|一屋子?的?|满楼道|一楼道|很大的?|老大的?|冒着)烟(?!囱|花|头|草|酒)|呛得(?:喘|受|睁|不)|呛人",
    "(?:<SOCKET>|<APPLIANCE>|充电线)<GAP>{0,12}?(?:嘴|舌头|嘴唇|手|脚)(?:都|也)?<GAP>{0,1}(?:黑了|烧黑|烧焦|焦了|烫伤|烧伤|起泡|发白|发紫)",
    "(?<!灯)(?:用什么|拿什么|用啥|拿啥)灭(?!不|火器|蚊|虫|鼠)",
    "(?:被|让)(?:<ELECTRIC>)(?:给)?(?:缠住|缠着|粘住|吸住|粘着|吸着)",
    "火(?:都|也|已经)?(?:窜|蹿|燎|烧|扑|蔓延)(?:上|到)(?:了)?(?:窗帘|墙|房顶|屋顶|房梁|柜子|床|被子|楼上|棚|天花板|吊顶|衣服|沙发|屋里|隔壁)",
    "(?:<WIRING>|<APPLIANCE>|<METAL>|漏电|带电)<GAP>{0,16}?(?:浑身|全身|手|胳膊|身上|腿|人)<GAP>{0,4}"
    "(?:不听使唤|动不了|抽筋|僵了|发僵|没知觉|没感觉|抖个不停|直抖|还在抖|还抖)",
)

# Fraud families from the same sets: money sent to an account or a person he names (转到他给的账户,
# 让我微信转给他, 交到他新账号), a prize that costs a fee first, a levy on every household, cash
# without a receipt, visitors without papers, threats without 就 (不交钱马上剪线) and their mirror
# (给他200就不停电), codes typed in or read out, apps and phones handed to a caller, balances asked
# for, red packets, blacklists, the caller who must not be hung up on.
_FRAUD_WORDS += (
    # from the fourth fresh set, after it was measured: an ID sent by reply, the code as "six digits"
    "回复(?:一下)?(?:身份证|卡号|银行卡|密码|验证码)",
    "(?:<CALLER>|<STRANGER>).{0,12}?(?:问|要)(?:我|俺).{0,6}?(?:收到的|短信里的|短信上的|手机上的).{0,3}?(?:[0-9]+位数|数字|号码|几个数|码)",
    # from the second and third fresh sets, after they were measured: meters "not genuine" that must be
    # bought from him, money paid on the spot, the hall talked down, lifelong free power, a new payee
    "(?:电表|表|电线|线路)(?:不是正规|不正规|是假|不合格|不达标|是三无).{0,16}?(?:买|换|交|[0-9]+)",
    "必须(?:从|在|找|跟)(?:他|她|他们|她们)(?:那里|那儿|那)?(?:买|换|装)",
    "(?:<VISITOR>|<DOOR>|<CALLER>).{0,20}?(?:现场|当场|当面)(?:交|收|付|给)",
    "(?:不用|不必|别|用不着)(?:去|跑)?营业厅|营业厅.{0,4}?不用去",
    "(?:<VISITOR>|<CALLER>|<STRANGER>).{0,16}?(?:以后|永远|永久|这辈子|一辈子)(?:都)?不用(?:交|缴)",
    "(?:私下|私了|偷偷|悄悄)(?:给|塞|交)(?:他|她|他们)?(?:点|些)?(?:钱|[0-9]+)",
    "(?:<ASKS_ME>)把.{0,6}?(?:钱|电费|费).{0,3}?(?:交|转|打|汇|存)(?:到|进)(?:1个|一个|个)?(?:新的?|另外|另1个|别的|指定的?|他的|她的)"
    "(?:户名|账户|帐户|账号|户头|卡)",
    # invented accounts, remote control, threats on hanging up, a price per visit, savings asked about,
    # "do what I say", a name borrowed
    "(?:监管|保护|核查|专用|指定|清查|国家|备用|安全)(?:的)?(?:账户|帐户|账号|帐号)",
    "(?:<ASKS_ME>)(?:去|到)?(?:银行)?把.{0,8}?(?:钱|存款).{0,4}?(?:转|汇|打)(?:到|进|给)",
    "(?:<CALLER>).{0,16}?(?:(?:帮我|替我|给我)远程|远程(?:帮|操作|控制|协助))|(?:<ASKS_ME>).{0,8}?点(?:一下)?(?:那个)?(?:允许|同意|接受|授权)",
    "挂(?:了)?电话.{0,4}?就.{0,6}?(?:停|断|掐|拉闸|罚|抓|起诉)",
    "(?:<VISITOR>|<CALLER>|<DOOR>).{0,24}?(?:每|1|一)(?:次|回|块表)[0-9]+(?:块|元)",
    "(?:<CALLER>|<STRANGER>).{0,12}?(?:问|打听)(?:我|俺)?.{0,6}?(?:存款|积蓄|存折|退休金|养老金|有多少钱|存了多少)|(?:<CALLER>).{0,16}?理财",
    "(?:他|她|对方|人家)(?:说|让|叫)(?:什么|啥|哪)(?:我)?就(?:点|按|做|弄|输)",
    "(?:冒着|打着|借着|顶着).{0,8}?(?:名头|旗号|名义|牌子)|(?:<CALLER>|<STRANGER>|卖|他们说).{0,16}?(?:买|充|交)[0-9]+(?:块|元)?(?:钱)?(?:就)?送",
    # a sum asked by a stranger, a free job that turns out to cost, fees for "relations", cash on delivery
    "(?:<VISITOR>|<CALLER>).{0,24}?(?:收我|要我|跟我要|问我要|找我要|让我|叫我)(?:先|再|还|马上|赶紧)?(?:给他|给她)?(?:交|付|出|给|转|打)?[0-9]+(?:块|元|千|百|万|(?=.{0,4}?(?:费|钱)))",
    "(?:<VISITOR>|<CALLER>|<DOOR>).{0,16}?免费.{0,16}?(?:要|得|还要|却要|又要|才要)(?:交|收|付|给)(?:我)?.{0,4}?(?:钱|[0-9]+)",
    "疏通关系|打点关系|走后门|托关系",
    "(?:电表|电卡|发票|设备|节电器|省电器).{0,10}?(?:到付|货到付款)|(?:到付|货到付款).{0,6}?(?:电表|[0-9]+)",
    "(?:<CALLER>|<STRANGER>).{0,12}?(?:刷(?:我的|我)?脸|人脸识别|录(?:个|一段)?(?:视频|像))",
    "(?:短信|电话|<CALLER>).{0,12}?(?:账户|帐户|户头|账号|帐号).{0,4}?(?:异常|有风险|风险|被冻结|冻结|被盗|涉嫌|违规)",
    "(?:<CALLER>|<DOOR>|<VISITOR>).{0,16}?(?:做了手脚|动了手脚|做手脚|动手脚)",
    "(?:转|打|汇|存|交)(?:到|进|去|入)?.{0,6}?(?:他|她|对方|人家|那人|个人|私人)(?:那个|的|给的|说的|发的|指定的|给|发|提供|说|指定)?"
    "(?:新|另外1个|另1个)?的?(?:账户|帐户|账号|帐号|卡号|银行卡|卡)",
    "(?:<ASKS_ME>)(?:"
    "(?:用|通过|拿|在)?(?:微信|支付宝|手机|银行|网上)?(?:上)?(?:转|打|汇|付)(?:钱)?(?:给|到)(?:他|她|对方|人家|他们|她们|个人|私人)(?!妈|爸|们家)"
    "|.{0,4}?(?:钱|存款|积蓄).{0,6}?(?:另外|另一|新的?|别的|安全的?)(?:1个|一个|个)?(?:卡|账户|帐户|账号|户头)"
    "|(?:给|让)?(?:他|她|对方|人家)(?:看|瞧|拍|念|读)(?:一下|看)?.{0,6}?(?:短信|验证码|银行卡|存折|卡号|密码)"
    "|(?:先|赶紧|马上|直接|快)把.{0,8}?(?:钱|存款|现金).{0,4}?(?:给他|给她|交给|转给|打给))",
    "(?:中奖|中了奖|抽中|中大奖|全免|免单|奖金|奖励|补贴|退款|退费|返还|返现|国家补|补一半).{0,16}?(?:先|要先|得先|需要先|必须先)(?:交|缴|付|转|打|汇)",
    "个人所得税|所得税|公证费|解冻费|激活费|认证费|税费|冒领|冒名",
    "(?:每|1)(?:户|家).{0,8}?(?:<FEE>)",
    "(?:<VISITOR>|<DOOR>|<CALLER>|电工|抄表|(?<!其)他说|她说|说是).{0,24}?(?:每|1|一)(?:户|家)(?:都)?(?:再|另|多)?(?:要|得|需要)?"
    "(?:交|收|缴|出|给|加)[0-9]+",
    "(?:<VISITOR>|<DOOR>).{0,30}?(?:(?<![不没])收现金|(?:只要|只收|非要)现金|不(?:给)?开(?:票|发票|收据)|不给(?:收据|发票|票)|(?<!有)没有?(?:收据|发票)"
    "|(?:不给看|不让看|不肯给看|(?<!有)没有|没带|拿不出|不出示|不肯出示|看不到)(?:他的?)?(?:证件|工作证|工牌|工号|证))",
    "(?<!你)(?<!您)(?<!你们)(?:说|讲|威胁|吓唬|吓我).{0,10}?不(?:交|缴|付|给|转|买).{0,5}?(?:的话)?(?:就|马上|立刻|立马|当场|今天|今晚|明天|现在|以后|从此|再也)*.{0,6}?"
    "(?:停电|断电|拉闸|掐电|剪|拆表|拆电表|拔表|停我|断我|停你|断你|给我停|给我断|掐了|断了|停了|拉了|掐掉|断掉|停掉|"
    "用不了电|没电用|不给(?:你|我)?(?:家)?(?:供电|送电|电))",
    "(?:给|转|交|打)(?:给)?(?:他|她|他们|她们)(?:转|打|交|汇)?(?:点|些)?(?:[0-9]+(?:块|元|百|千|万)?|钱).{0,6}?就(?:"
    "(?:不|不会|不用|可以不)(?:给我家?|给你家?)?(?:停电|断电|拉闸|剪线|罚|停|断|上报|报|举报|追究|处罚|起诉|换|拆|查|管)"
    "|了事|没事|算了|完事|摆平)",
    "(?:<STRANGER>|<CALLER>)(?:"
    ".{0,24}?(?:<ASKS_ME>)(?:(?:在|到|用|从)?.{0,6}?(?:输|输入|填|按|打).{0,6}?(?:密码|验证码|卡号|银行卡号)"
    "|(?:下载|下|装|安装)(?:了)?(?:1个|个|一下)?(?:什么|啥)?(?:(?!网上国网|掌上电力|国网).){0,6}?(?:app|软件|程序|应用)"
    "|把(?:我的|俺的)?手机(?:给|交给|递给|借给)(?:他|她|对方|人家))"
    "|.{0,20}?(?:(?:核实|核对|查|问|报|看)(?:一下)?(?:我|你|您)?的?(?:银行)?卡里的?(?:余额|钱)|(?:卡里|存折里|银行里)(?:有|还有|存了)多少"
    "|失信|黑名单|征信|通缉|拘留|法院|公安局|警察|坐牢))",
    "(?:发|给|点|打开|点开)(?:了|我)?(?:个|1个|一个)?(?:网址|链接|网站|网页).{0,16}?(?:输|填).{0,8}?(?:身份证|卡号|密码|验证码)",
    "(?:<CALLER>|短信|信息).{0,20}?(?:电费.{0,4}?(?:能|可以|给|就)?(?:打折|[0-9]折|半价|便宜一半|减半|全免|免单|免了)|红包|领钱|领奖|奖金|礼品|礼物)",
    "把.{0,6}?(?:短信|手机)(?:里|上)?的?(?:数字|号码|几个数|码|验证码|内容).{0,4}?(?:说给|告诉|念给|发给|报给|给)(?:他|她|对方|人家)",
    "(?:<CALLER>|(?<!其)他|她).{0,12}?(?:别|不要|不让|不许|不能|不准)(?:我|俺)?挂(?:断)?(?:电话)?.{0,16}?(?:银行|转账|汇款|钱|卡|密码|验证码|取款|atm)",
    "(?:一直|非要|老是|催|硬要|逼)(?:着)?(?:让|叫|要)?(?:我|俺)?(?:去|到)(?:银行|atm|取款机|柜员机)",
)

_FRAUD_SOUNDS = (
    "诈骗",
    # the code or the card number asked for, whatever the recogniser spelled (验正码, 银航卡号)
    # (a stranger first: 你 and 里 share a sound, so 你让我报验证码, 小电's own check, cannot be told apart otherwise)
    "(?:有人|电话|对方|那人|陌生人|他|她|短信).{0,6}?(?:让|叫|要|问|跟)(?:我|俺)(?:把|报|说|告诉|念|发|给|要)?.{0,6}?(?:验证码|银行卡号|银行卡密码)",
    "验证码.{0,3}(?:告诉|报给|念给|发给|说给)(?:他|她|对方)",
    "(?:有人|人|他|她|是|在)冒充",
    "安全(?:账户|帐户)",
)

# Before a danger word, these make it a question about what could happen, or about the past,
# not news of it. Always: 要是/如果/万一 (要是电线掉下来了怎么办), prevention (怎么防止触电),
# long ago (上次电线起火是你们修的吗).
_SUPPOSING = re.compile(r"(?:要是|如果|假如|万一|防|避免|(?<!不)小心|上次|以前|去年|前年|那年|当年)[^了是]{0,4}$")
# Unless the danger is said to have happened (会不会触电了): 会不会着火, 容易起火吗, 怕着火.
_WONDERING = re.compile(r"(?:会|容易|担心|怕|能不能|可能|不会)[^了是]{0,4}$")
_HAPPENED = re.compile(r"了|啦")
# Right before it, a denial: 没冒烟, 不冒烟, 没有着火.
_DENIED = re.compile(r"(?:没有?|不|别)$")
_CONTEXT_CHARS = 6
# After words that do not say it happened (小孩咬充电线), a worry about what it would do.
_HAPPENED_INSIDE = re.compile("[了着过]")
_ASKED_AFTER = re.compile(r"[^了啦]{0,3}?(?:会不会|会有事吗|有没有事|要不要紧|要紧吗|怎么防|怎么预防|危险吗|有危险吗)")
# After it, a question about what to do in general (着火的时候要先拉电闸对吗), as long as nothing is said to have happened.
_IN_GENERAL = re.compile(r"的?时候?[^了啦]{0,12}?(?:对吗|对不对|是不是|吗|应该先?|该先|要先.{0,6}?还是)[^了啦]{0,4}$")

_BLOCK_NAME = re.compile(r"<([A-Z_]+)>")


def _expand(rule: str) -> str:
    """Rule text with every <NAME> replaced by its block, blocks inside blocks included."""
    return _BLOCK_NAME.sub(lambda name: _expand(_BLOCKS[name.group(1)]), rule)


_HAN_OR_CLASS = re.compile(r"\[[^\]]*\]|[\u3400-\u4dbf\u4e00-\u9fff]+")


def _sound_pattern(pattern: str) -> str:
    """A pattern over characters turned into one over ``sound_key`` symbols (one per syllable)."""

    def to_sounds(piece: re.Match[str]) -> str:
        text = piece.group()
        if text.startswith("["):
            # A class lists single characters: each has its own sound.
            return "".join(re.escape(sound_key(ch)) if "\u3400" <= ch <= "\u9fff" else ch for ch in text)
        return re.escape(sound_key(text))

    return _HAN_OR_CLASS.sub(to_sounds, pattern)


try:  # the parser behind ``re``: used once at import, to find which characters a rule can start with
    from re import _parser as _re_parser  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - older Pythons
    import sre_parse as _re_parser  # type: ignore[no-redef]

_MAX_RANGE = 256


def _first_of(items: list) -> tuple[set[str] | None, bool]:
    """The characters a parsed sequence can start with (None: any), and whether it can match nothing."""
    firsts: set[str] = set()
    for op, arg in items:
        name = str(op)
        if name == "LITERAL":
            return firsts | {chr(arg)}, False
        if name in ("ASSERT", "ASSERT_NOT", "AT"):
            continue  # zero width: the next item gives the character
        if name == "IN":
            chars: set[str] = set()
            for kind, value in arg:
                if str(kind) == "LITERAL":
                    chars.add(chr(value))
                elif str(kind) == "RANGE" and value[1] - value[0] < _MAX_RANGE:
                    chars.update(chr(code) for code in range(value[0], value[1] + 1))
                else:
                    return None, False
            return firsts | chars, False
        if name == "SUBPATTERN":
            inner, empty = _first_of(list(arg[-1]))
        elif name == "BRANCH":
            inner, empty = set(), False
            for branch in arg[1]:
                got, branch_empty = _first_of(list(branch))
                if got is None:
                    return None, False
                inner |= got
                empty = empty or branch_empty
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            inner, empty = _first_of(list(arg[2]))
            empty = empty or arg[0] == 0
        else:
            return None, False
        if inner is None:
            return None, False
        firsts |= inner
        if not empty:
            return firsts, False
    return firsts, True


def _starts(pattern: str) -> set[str] | None:
    """The characters ``pattern`` can start with; None when that is any character (or unknown)."""
    try:
        firsts, empty = _first_of(list(_re_parser.parse(pattern)))
    except Exception:  # noqa: BLE001 - a pattern the parser walk does not understand is left unguarded
        return None
    return None if firsts is None or empty or not firsts else firsts


def _behind(firsts: set[str] | None, pattern: str) -> str:
    """The pattern behind a one-character look-ahead of what it can start with.

    A rule that starts with a long list of words (every name of a socket or a caller) is otherwise
    tried word by word at every position of the text; the look-ahead turns that into one set test.
    """
    if not firsts:
        return pattern
    return "(?=[" + "".join(re.escape(ch) for ch in sorted(firsts)) + "])" + pattern


def _guarded(pattern: str) -> str:
    return _behind(_starts(pattern), pattern)


def _compile(rules: tuple[str, ...], *, sounds: bool = False) -> re.Pattern[str]:
    patterns = [_expand(rule) for rule in rules]
    if sounds:
        patterns = [_sound_pattern(pattern) for pattern in patterns]
    starts = [_starts(pattern) for pattern in patterns]
    alternatives = "|".join(f"(?:{_behind(firsts, pattern)})" for firsts, pattern in zip(starts, patterns))
    # and the whole alternation behind the union of those sets, so that a position no rule can
    # start at costs one set test (the union, not a parse of the alternation: import stays quick)
    union = None if any(firsts is None for firsts in starts) else set().union(*starts)
    return re.compile(_behind(union, f"(?:{alternatives})"))


_RULES: tuple[tuple[Danger, re.Pattern[str], re.Pattern[str]], ...] = (
    (Danger.EMERGENCY, _compile(_EMERGENCY_WORDS), _compile(_EMERGENCY_SOUNDS, sounds=True)),
    (Danger.FRAUD, _compile(_FRAUD_WORDS), _compile(_FRAUD_SOUNDS, sounds=True)),
)


def _only_supposed(kind: Danger, text: str, start: int, end: int) -> bool:
    """True when the emergency words at text[start:end] are denied or only imagined."""
    if kind is not Danger.EMERGENCY:
        return False  # 怎么防止被骗 is still a question for the fraud warning
    before = text[max(0, start - _CONTEXT_CHARS) : start]
    if _DENIED.search(before) or _SUPPOSING.search(before):
        return True
    if _IN_GENERAL.match(text, end):
        return True
    if not _HAPPENED_INSIDE.search(text, start, end) and _ASKED_AFTER.match(text, end):
        return True
    return bool(_WONDERING.search(before)) and not _HAPPENED.match(text, end)


def _first_alarm(kind: Danger, pattern: re.Pattern[str], searched: str, text: str) -> Alarm | None:
    """The first real alarm of ``pattern`` in ``searched`` (the text itself or its sound key)."""
    aligned = len(searched) == len(text)  # one sound symbol per character, as for all normalised text
    for found in pattern.finditer(searched):
        start, end = found.span()
        if not aligned:
            return Alarm(kind, text)
        if not _only_supposed(kind, text, start, end):
            return Alarm(kind, text[start:end])
    return None


# The last resort, for wording no rule above has seen: an electric thing and a harm anywhere in one
# statement (电焊机的线破了，工人抓上去就没松开手), or a stranger and what a fraudster wants after him
# (来了个小姑娘…让我签字交钱). Neither counts in a question, a supposition, a service request, a denial
# right before the harm, or beside the hall, the caller's family or a receipt.
_LOOSE_THING = re.compile(_guarded(_expand("<ELECTRIC>|<METAL>|电暖|电站|变电|电焊|电[^费价量话视脑梯子商力网业信压]")))
_LOOSE_HARM = re.compile(
    "麻(?:了|得|到|酥酥|一下|麻的|手)|烫着|烫伤|烧伤|烧着了|栽下|栽倒|掉下来了|坐地上|喘不上|喘不过|恍惚|晕了|晕过去|不省人事|"
    "抽搐|抽抽|抽筋|没松开|松不开|不松手|打得|嗡的一下|电得|哆嗦|动不了|翻白眼|口吐白沫|脸都白|脸色(?:发|煞|刷)|嘴唇(?:发紫|发白|发青|都紫)|"
    "(?<![插开接合拉关连点睡找])着了|烧起来|冒烟|火苗|火光|火星|火花|(?<![饭菜锅肉粥])烧焦|焦味|糊味|烧头发|炭|烧黑|烧化|冒火|喷火|爆了|炸了|熏黑|"
    "被.{0,4}打了|被[^断停来充用送供通]{0,4}电(?![费力信压话视脑梯子商网业价量表])"
)
_LOOSE_NOT_NEWS = re.compile(
    "吗|是不是|会不会|能不能|要不要|可不可以|正常|怎么防|怎么(?!办)|怎样|多少|几[点号天个]|哪|为什么|如果|要是|万一|假如|防止|"
    "以前|上次|去年|前年|小心|注意|什么|想找|检查|预约|报修|修好|没事了|好了|赔"
)
_LOOSE_DENIED = re.compile("[没不别无]")
_LOOSE_STRANGER = re.compile(_guarded(
    "有人(?!说)|有个人|有1个人|1个人|陌生人|陌生|对方|那人|那个人|电话|打来|上门|门外|敲门|来了个|来了.{0,3}人|来人|"
    "男的|女的|小伙子|小姑娘|俩人|两个人|2个人|自称|冒充|说是|挨家|挨户|摆摊|群里|微信上"
))
_LOOSE_WANTED = re.compile(_expand(
    "(?:交|给|付|转|收|要|打|汇|拿|出|掏)(?:他|她|他们|我|给他|给她)?(?:点|些)?(?:钱|[0-9]+(?:块|元|百|千|万)?(?!度|号|年|月|日|岁|点|分|米|平|瓦|伏))|"
    "现金|转账|转帐|汇款|卡号|密码|验证码|存折|存款|扫码|二维码|定金|订金|罚款|银行卡|红包|<FEE>"
))
_LOOSE_FRAUD_NOT_NEWS = re.compile(
    "吗|是不是|会不会|能不能|要不要|可不可以|怎么(?!办)|怎样|多少|几[点号天个]|哪|为什么|如果|要是|万一|假如|防止|什么时候|什么意思|"
    "营业厅|工作人员|客服|你们|儿子|女儿|闺女|孙子|孙女|老伴|外甥|侄|亲戚|女婿|儿媳|媳妇|村里电工|收据|发票|(.)不\\1|打电话给|我打电话"
)


def _loose_alarm(text: str) -> Alarm | None:
    """An alarm from words found together rather than in a known phrasing, else None."""
    thing = _LOOSE_THING.search(text)
    if thing is not None and not _LOOSE_NOT_NEWS.search(text):
        for harm in _LOOSE_HARM.finditer(text):
            # the thing first, the harm after it and near (电焊机的线破了…没松开手), never denied (没冒烟)
            if thing.start() < harm.start() <= thing.end() + 16 and not _LOOSE_DENIED.search(
                text, max(0, harm.start() - 3), harm.start()
            ):
                start, end = min(thing.start(), harm.start()), max(thing.end(), harm.end())
                return Alarm(Danger.EMERGENCY, text[start:end])
    stranger = _LOOSE_STRANGER.search(text)
    if stranger is not None and not _LOOSE_FRAUD_NOT_NEWS.search(text):
        wanted = _LOOSE_WANTED.search(text, stranger.end())
        if wanted is not None:
            return Alarm(Danger.FRAUD, text[stranger.start() : wanted.end()])
    return None


def detect_danger(normalized: str) -> Alarm | None:
    """An emergency or a fraud in an utterance already passed through ``intents.normalize``, else None."""
    if not normalized:
        return None
    sounds = sound_key(normalized)
    for kind, words, sound_alikes in _RULES:
        alarm = _first_alarm(kind, words, normalized, normalized) or _first_alarm(kind, sound_alikes, sounds, normalized)
        if alarm is not None:
            return alarm
    return _loose_alarm(normalized)
