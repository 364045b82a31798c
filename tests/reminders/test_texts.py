"""What reminders say (pure): the cut-off date read clearly, outage times as a clerk says them, how long
a balance lasts, the 70-character SMS that never cuts its link, and the admin's template checks."""

from __future__ import annotations

from datetime import date, datetime

import yaml

from assistant.reminders.texts import MessageFacts, Outage, render, sms_text, template_problems
from knowledge_base.models import SERVICE_TZ
from knowledge_base.seed import DATA_DIR

RULES = {rule["id"]: rule for rule in yaml.safe_load((DATA_DIR / "reminder_rules.yaml").read_text())["rules"]}
TODAY = date(2026, 11, 28)
LINK = "https://pay.example.cn/r/1abcdefgh"


def test_overdue_names_the_cut_off_date() -> None:
    facts = MessageFacts("overdue", "张建华", "3201000001", TODAY, "2026-10", 12850, date(2026, 11, 27), 15, link=LINK)
    spoken = render(RULES["overdue"]["spoken_text"], facts)
    assert "张*华您好，您10月的电费128.50元已经过了交费日期。如果12月12日前还没交，可能会停电。" in spoken
    sms = sms_text(RULES["overdue"]["sms_text"], facts)
    assert len(sms) <= 70 and sms.endswith(LINK) and "12月12日" in sms


def test_outage_tomorrow_and_low_balance() -> None:
    start = datetime(2026, 11, 29, 8, 30, tzinfo=SERVICE_TZ)
    outage = Outage("扬州市广陵区", start, start.replace(hour=16, minute=0), "线路检修")
    facts = MessageFacts("outage_tomorrow", "王国强", "3201000003", TODAY, outage=outage)
    assert render(RULES["outage_tomorrow"]["kiosk_text"], facts) == \
        "明天8点30分到16点，扬州市广陵区因为线路检修计划停电，请提前做好准备。"
    low = MessageFacts("low_balance", "李秀英", "3201000002", TODAY, amount_fen=2000, latest_bill_fen=9000)
    assert render(RULES["low_balance"]["sms_text"], low) == "【供电】李*英您好，您的电费余额20.00元，大约6天用完，请及时充值。"


def test_a_long_sms_becomes_the_short_form_and_keeps_its_link() -> None:
    facts = MessageFacts("due_soon", "欧阳建华", "3201000001", TODAY, "2025-12", 1234567, date(2026, 12, 25), 3,
                         link="https://pay.example-utility.cn/r/1abcdefgh")
    text = sms_text("【供电】{holder}您好，您{month}的电费{amount}元将在{due}到期，请您记得按时交费，谢谢：{link}", facts)
    assert len(text) <= 70 and text.endswith("/r/1abcdefgh") and "12345.67元" in text


def test_template_checks_in_chinese() -> None:
    assert template_problems("{holder}您好{amount}元") == []
    assert template_problems("{name}您好") == ["不认识的字段 {name}"]
    assert template_problems("{amount:>10}") == ["字段里不能有格式说明（如 {amount:…}），只写 {amount}。"]
    assert template_problems("{holder") == ["花括号没有配对，请检查 { 和 }。"]


def test_the_time_a_customer_says() -> None:
    from datetime import date

    from intents.normalize import normalize
    from intents.slots import extract_slots

    said = {"每天早上八点提醒我": 8 * 60, "下午三点半打电话提醒我": 15 * 60 + 30, "晚上7点20分": 19 * 60 + 20,
            "晚上七点二十分": 19 * 60 + 20, "中午十二点": 12 * 60, "九点": 9 * 60, "提醒我交电费": None,
            "晚上二十五点": None}
    assert {text: extract_slots(normalize(text), date(2026, 11, 30)).time_of_day for text in said} == said
