"""Findings 1 and 4: who the caller is.

Before: "我要改手机号" → any 户号 → a new number → "对" replaced the number on file, and
saying or sending any 户号 (also the API's unsigned ``account`` field) revealed balance,
bills, kWh and outage times, with no limit on how many 户号 one client could try.

Now a 户号 alone only names the account (amount due, payment link, masked holder); personal
data and changes need a verification: a code sent by SMS to the phone on file (the FAKE
gateway's outbox in demo mode), a card read signed by a registered kiosk device, or the
caller's number on the phone line. All driven over real HTTP against a running server.
"""

from __future__ import annotations

import base64
import os
import re
import secrets
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_private_key
from sqlmodel import select

from assistant.kiosk_devices import sign_card_read
from knowledge_base.settings import Settings
from knowledge_base.db import session
from knowledge_base.models import Account, KioskDevice, ReminderSubscription, SmsMessage
from tests.server_fixtures import LiveServer, live_server  # noqa: F401

DEMO = "3201000001"  # 张建华, phone 13800000001, 242 kWh / 128.50 元 last month
OTHER = "3201000002"  # 李秀英, phone 13800000002
OUTAGE_AREA = "3201000003"  # 王国强: a planned outage tomorrow 8:30-16:00
XIAODIAN = Path(sys.executable).with_name("xiaodian")
PERSONAL = ("242", "账户余额", "余额0", "8点30分", "线路检修", "江都区")


@pytest.fixture
def server_settings(tmp_path: Path) -> Settings:
    """Demo mode: the FAKE SMS gateway writes codes to the outbox (the only place it exists)."""
    return Settings(data_dir=tmp_path / "data", staff_poll_s=0.2, speech_enabled=False, demo=True)


@pytest.fixture
def http(live_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server.url, timeout=10) as client:
        yield client


class Chat:
    """One conversation over POST /api/converse."""

    def __init__(self, http: httpx.Client, session_id: str | None = None, channel: str = "web") -> None:
        self.http, self.session_id, self.channel = http, session_id, channel

    def say(self, text: str, **extra: Any) -> dict[str, Any]:
        body = {"text": text, "channel": self.channel, **extra}
        if self.session_id:
            body["session_id"] = self.session_id
        response = self.http.post("/api/converse", json=body)
        assert response.status_code == 200, response.text
        reply = response.json()
        self.session_id = reply["session_id"]
        return reply


def _phone_on_file(server: LiveServer, account: str) -> str:
    with session(server.app.state.engine) as db:
        row = db.get(Account, account)
        assert row is not None
        return row.phone


def _outbox(server: LiveServer, phone: str) -> list[SmsMessage]:
    with session(server.app.state.engine) as db:
        return list(db.exec(select(SmsMessage).where(SmsMessage.phone == phone).order_by(SmsMessage.id)).all())


def _code_sent_to(server: LiveServer, phone: str) -> str:
    codes = [m for m in _outbox(server, phone) if m.kind == "code"]
    assert codes, "no code in the outbox"
    assert codes[-1].gateway == "fake"
    found = re.search(r"\d{6}", codes[-1].text)
    assert found, codes[-1].text
    return found.group(0)


def _reveals(reply: dict[str, Any]) -> list[str]:
    return [word for word in PERSONAL if word in reply["text"]]


# --- the attacks ---------------------------------------------------------------------


def test_naming_an_account_cannot_change_its_phone_number(live_server: LiveServer, http: httpx.Client) -> None:
    chat = Chat(http)
    chat.say("我要改手机号")
    chat.say(DEMO)
    chat.say("13912345678")
    chat.say("对")
    chat.say("对")
    assert _phone_on_file(live_server, DEMO) == "13800000001"


def test_an_account_number_alone_reveals_no_personal_data(http: httpx.Client) -> None:
    usage = Chat(http)
    usage.say("上个月用了多少度电")
    named = usage.say(DEMO)
    assert not _reveals(named), named["text"]
    assert "张建华" not in named["text"]
    balance = Chat(http).say(f"户号{DEMO}，查一下余额")
    assert not _reveals(balance), balance["text"]
    outage = Chat(http)
    outage.say("明天会停电吗")
    outage_reply = outage.say(OUTAGE_AREA)
    assert not _reveals(outage_reply), outage_reply["text"]


def test_the_unsigned_account_field_is_ignored(http: httpx.Client) -> None:
    reply = Chat(http).say("上个月用了几度电", account=DEMO)
    assert not _reveals(reply) and "128.5" not in reply["text"] and "张" not in reply["text"], reply["text"]
    assert "户号" in reply["text"]  # asked for, as for anyone who has not said it


def test_more_than_three_accounts_in_one_conversation_are_refused(http: httpx.Client) -> None:
    chat = Chat(http)
    assert "128.5" in chat.say(f"户号{DEMO}欠多少钱")["text"]
    for number in (OTHER, OUTAGE_AREA):
        chat.say(f"户号{number}欠多少钱")
    refused = chat.say("户号1101000004欠多少钱")
    assert "赵" not in refused["text"] and "元" not in refused["text"], refused["text"]
    assert "人工" in refused["text"]


def test_more_than_twenty_accounts_per_client_hour_are_refused(http: httpx.Client) -> None:
    for index in range(20):
        Chat(http).say(f"户号{9000000000 + index}欠多少钱")
    refused = Chat(http).say(f"户号{DEMO}欠多少钱")
    assert "128.5" not in refused["text"] and "张" not in refused["text"], refused["text"]
    assert "人工" in refused["text"]


def test_another_accounts_reminder_cannot_be_cancelled(live_server: LiveServer, http: httpx.Client) -> None:
    with session(live_server.app.state.engine) as db:
        db.add(ReminderSubscription(account_number=OTHER, active=True))
        db.commit()
    chat = Chat(http)
    chat.say("别再给我发电费提醒了")
    chat.say(OTHER)
    chat.say("对")
    chat.say("对")
    with session(live_server.app.state.engine) as db:
        row = db.get(ReminderSubscription, OTHER)
        assert row is not None and row.active


# --- verification that works -----------------------------------------------------------


def _verify_by_code(live_server: LiveServer, chat: Chat, account: str = DEMO) -> dict[str, Any]:
    chat.say("上个月用了多少度电")
    offer = chat.say(account)
    assert "验证码" in offer["text"] and "尾号0001" in offer["text"], offer["text"]
    sent = chat.say("好的")
    assert "尾号0001" in sent["text"], sent["text"]
    return chat.say(_code_sent_to(live_server, "13800000001"))


def test_a_code_from_the_outbox_verifies_then_usage_is_read(live_server: LiveServer, http: httpx.Client) -> None:
    verified = _verify_by_code(live_server, Chat(http))
    assert "242" in verified["text"], verified["text"]


def test_a_verified_conversation_continued_from_elsewhere_must_verify_again(live_server: LiveServer) -> None:
    """A session id is only a conversation's name: one that leaks (a log, a screenshot, a shoulder) must
    not carry the customer's proof of identity to another device."""
    live_server.app.state.settings.trusted_proxies = "127.0.0.1"
    with httpx.Client(base_url=live_server.url, timeout=10, headers={"X-Forwarded-For": "203.0.113.5"}) as own, \
            httpx.Client(base_url=live_server.url, timeout=10, headers={"X-Forwarded-For": "198.51.100.77"}) as other:
        chat = Chat(own)
        assert "242" in _verify_by_code(live_server, chat)["text"]
        stolen = Chat(other, chat.session_id).say("上个月用了多少度电")
        assert "242" not in stolen["text"] and not _reveals(stolen), stolen["text"]
        assert "242" in chat.say("上个月用了多少度电")["text"]  # the customer's own device goes on as before


def test_a_wrong_code_is_refused_and_the_next_try_must_wait(live_server: LiveServer, http: httpx.Client) -> None:
    chat = Chat(http)
    chat.say("上个月用了多少度电")
    chat.say(DEMO)
    chat.say("好的")
    code = _code_sent_to(live_server, "13800000001")
    wrong = "000000" if code != "000000" else "111111"
    refused = chat.say(wrong)
    assert "242" not in refused["text"] and "不对" in refused["text"], refused["text"]
    too_soon = chat.say(code)
    assert "242" not in too_soon["text"] and "稍等" in too_soon["text"], too_soon["text"]


def test_phone_change_after_a_code_tells_the_old_number(live_server: LiveServer, http: httpx.Client) -> None:
    chat = Chat(http)
    _verify_by_code(live_server, chat)
    chat.say("我要改手机号")
    assert "对吗" in chat.say("13912345678")["text"]
    done = chat.say("对")
    assert "13912345678" in done["text"], done["text"]
    assert _phone_on_file(live_server, DEMO) == "13912345678"
    notices = [m for m in _outbox(live_server, "13800000001") if m.kind == "notice"]
    assert notices and "改" in notices[-1].text


def _device(live_server: LiveServer, name: str = "hall-kiosk-1") -> Ed25519PrivateKey:
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    with session(live_server.app.state.engine) as db:
        db.add(KioskDevice(id=name, public_key=base64.b64encode(public).decode()))
        db.commit()
    return key


def _card(key: Ed25519PrivateKey, device: str, account: str, issued_at: int | None = None) -> dict[str, Any]:
    """A card read as the kiosk PC signs it (the documented message layout)."""
    issued_at = int(time.time()) if issued_at is None else issued_at
    nonce = secrets.token_hex(16)
    message = f"xiaodian-card-read/1\n{device}\n{account}\n{issued_at}\n{nonce}".encode()
    signature = base64.b64encode(key.sign(message)).decode()
    return {"device": device, "account": account, "issued_at": issued_at, "nonce": nonce, "signature": signature}


def test_a_signed_card_read_verifies(live_server: LiveServer, http: httpx.Client) -> None:
    key = _device(live_server)
    reply = Chat(http, channel="kiosk").say("上个月用了多少度电", card=_card(key, "hall-kiosk-1", DEMO))
    assert "242" in reply["text"], reply["text"]


def test_forged_stale_and_replayed_card_reads_are_ignored(live_server: LiveServer, http: httpx.Client) -> None:
    key = _device(live_server)
    forged = _card(Ed25519PrivateKey.generate(), "hall-kiosk-1", DEMO)
    stale = _card(key, "hall-kiosk-1", DEMO, issued_at=int(time.time()) - 3600)
    swapped = {**_card(key, "hall-kiosk-1", OTHER), "account": DEMO}  # signed for another account
    for card in (forged, stale, swapped):
        reply = Chat(http, channel="kiosk").say("上个月用了多少度电", card=card)
        assert not _reveals(reply) and "128.5" not in reply["text"], reply["text"]
    captured = _card(key, "hall-kiosk-1", DEMO)
    assert "242" in Chat(http, channel="kiosk").say("上个月用了多少度电", card=captured)["text"]
    replayed = Chat(http, channel="kiosk").say("上个月用了多少度电", card=captured)
    assert not _reveals(replayed), replayed["text"]


def test_the_callers_number_verifies_on_the_phone_line(live_server: LiveServer, http: httpx.Client) -> None:
    conversations = live_server.app.state.services.conversations
    known = conversations.start(channel="phone", caller_phone="13800000001")
    assert "242" in Chat(http, known.id, channel="phone").say("上个月用了多少度电")["text"]
    stranger = conversations.start(channel="phone", caller_phone="13700000000")
    chat = Chat(http, stranger.id, channel="phone")
    chat.say("上个月用了多少度电")
    assert not _reveals(chat.say(DEMO))


def test_anyone_may_still_pay_for_a_named_account(http: httpx.Client) -> None:
    chat = Chat(http)
    chat.say("我要交电费")
    confirm = chat.say(DEMO)
    assert "128.50" in confirm["text"] and "对吗" in confirm["text"], confirm["text"]
    assert chat.say("对")["pay_url"]


# --- the command line --------------------------------------------------------------------


def _cli(args: list[str], data_dir: Path, stdin: str = "", cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XIAODIAN_DATA_DIR": str(data_dir), "XIAODIAN_DEMO": "true"}
    return subprocess.run([str(XIAODIAN), *args], input=stdin, env=env, capture_output=True, text=True, timeout=120,
                          check=False, cwd=cwd)


def test_chat_named_account_is_unverified_card_and_caller_phone_verify(tmp_path: Path) -> None:
    named = _cli(["chat", "--json", "--named", DEMO], tmp_path / "var", "上个月用了几度电\n")
    assert named.returncode == 0, named.stderr
    assert "242" not in named.stdout and "128.50" in named.stdout
    said = _cli(["chat", "--json"], tmp_path / "var", f"户号{DEMO}上个月用了几度电\n")
    assert "242" not in said.stdout
    card = _cli(["chat", "--json", "--account", DEMO], tmp_path / "var", "上个月用了几度电\n")
    assert card.returncode == 0, card.stderr
    assert "242" in card.stdout
    caller = _cli(["chat", "--json", "--caller-phone", "13800000001"], tmp_path / "var", "上个月用了几度电\n")
    assert caller.returncode == 0, caller.stderr
    assert "242" in caller.stdout


def test_kiosk_add_device_writes_a_private_key_that_signs_card_reads(live_server: LiveServer, http: httpx.Client,
                                                                      server_settings: Settings, tmp_path: Path) -> None:
    added = _cli(["kiosk", "add-device", "hall-kiosk-9", "--hall", "江都营业厅"], server_settings.data_dir, cwd=tmp_path)
    assert added.returncode == 0, added.stderr
    key_file = tmp_path / "kiosk-hall-kiosk-9.pem"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = load_pem_private_key(key_file.read_bytes(), password=None)
    assert isinstance(key, Ed25519PrivateKey)
    card = sign_card_read(key, "hall-kiosk-9", DEMO, nonce=secrets.token_hex(16))  # as the kiosk PC does
    reply = Chat(http, channel="kiosk").say("上个月用了多少度电", card=asdict(card))
    assert "242" in reply["text"], reply["text"]
    again = _cli(["kiosk", "add-device", "hall-kiosk-9", "--key-file", str(tmp_path / "other.pem")],
                 server_settings.data_dir)
    assert again.returncode != 0 and not (tmp_path / "other.pem").exists()
