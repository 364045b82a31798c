"""Calls driven by the caller simulator over a real socket: greeting, question, answer, payment by SMS,
keys, handoff with its outcome for the dialplan, barge-in, silence."""

from __future__ import annotations

import asyncio
import time

import numpy as np
from sqlmodel import select

from assistant.phone.calls import register_call
from assistant.phone.gateway import GREETING, KEYS_ANNOUNCEMENT, SILENCE_GOODBYE, STILL_THERE, LineConfig
from assistant.speech.audio import Audio
from knowledge_base.db import session
from knowledge_base.models import HandoffTicket, PhoneCall, SmsMessage, TurnLog
from tests.phone.conftest import on_line
from tests.phone.simulator import SimulatedCall, fixture

CALLER = "13800000001"  # the phone on file for demo account 3201000001


def _register(engine, call_uuid: str, caller: str, first_words: str = "") -> None:  # type: ignore[no-untyped-def]
    with session(engine) as db:
        register_call(db, call_uuid, caller, first_words)
        db.commit()


def _rows(engine, model):  # type: ignore[no-untyped-def]
    with session(engine) as db:
        return db.exec(select(model)).all()


def test_a_registered_caller_pays_by_sms_and_is_handed_to_staff(line_factory, engine) -> None:  # type: ignore[no-untyped-def]
    line = line_factory()

    async def scenario(port: int) -> dict:
        async with SimulatedCall(port, speed=4.0) as call:
            _register(engine, call.call_uuid, CALLER)  # too late: registration must come before the socket
        call = SimulatedCall(port, speed=4.0)
        _register(engine, call.call_uuid, CALLER)
        await call.connect()
        started = time.monotonic()
        greeting = await call.hear()
        first_audio = call.first_frame_after(started)
        await call.say(fixture("8k/a01.wav"))  # 我想交电费
        confirm = await call.hear()
        await call.say(fixture("8k/a35.wav"))  # 对对就是这个
        paid = await call.hear()
        await call.press("0")
        handoff = await call.hear()
        closed = await call.wait_closed(10)
        await call.close()
        return dict(call=call, greeting=greeting, first_s=first_audio - started, confirm=confirm, paid=paid,
                    handoff=handoff, closed=closed)

    result = on_line(line, scenario)
    assert result["first_s"] < 1.0, "the greeting starts within a second"
    assert result["greeting"].seconds > 3 and result["confirm"].seconds > 1 and result["paid"].seconds > 1
    assert result["closed"] and result["call"].hung_up_by_gateway
    sms = [m for m in _rows(engine, SmsMessage) if m.kind == "payment_link"]
    assert len(sms) == 1 and sms[0].phone == CALLER
    turns = _rows(engine, TurnLog)
    assert any("尾号0001" in t.reply for t in turns), [t.reply for t in turns]
    ticket = _rows(engine, HandoffTicket)[-1]
    assert ticket.channel == "phone" and ticket.client == "tel:138****0001"
    assert any("电费" in (line.get("text") or "") for line in ticket.transcript)
    with session(engine) as db:
        call = db.get(PhoneCall, result["call"].call_uuid)
    assert call.next == "transfer" and call.ticket_id == ticket.id and call.queue == "xiaodian-staff"


def test_keys_type_the_account_repeat_slow_down_and_transfer(line_factory, engine) -> None:  # type: ignore[no-untyped-def]
    line = line_factory(LineConfig(playback_speed=8.0))

    async def scenario(port: int) -> dict:
        async with SimulatedCall(port, speed=8.0) as call:  # never registered: an anonymous caller
            await call.hear()
            for key in "3201000001#":
                await call.press(key)
            named = await call.hear()
            await call.press("1")
            repeated = await call.hear()
            await call.press("9")
            slower = await call.hear()
            await call.press("0")
            await call.hear()
            closed = await call.wait_closed(10)
        return dict(call=call, named=named, repeated=repeated, slower=slower, closed=closed)

    result = on_line(line, scenario)
    with session(engine) as db:
        row = db.get(PhoneCall, result["call"].call_uuid)
        turns = db.exec(select(TurnLog).where(TurnLog.session_id == row.session_id).order_by(TurnLog.id)).all()
    assert [t.input_text for t in turns] == ["3201000001", "再说一遍", "说慢点", "转人工"]
    assert turns[0].account_number == "3201000001" and "128.50" in turns[0].reply
    assert result["named"].seconds > 2 and result["repeated"].seconds > result["named"].seconds
    assert result["slower"].seconds > result["repeated"].seconds * 1.1, "9 speaks slower"
    assert result["closed"] and row.next == "transfer"
    ticket = _rows(engine, HandoffTicket)[-1]
    assert ticket.client == "tel:未知号码" and ticket.account_number == "3201000001"


def test_an_outbound_call_starts_with_its_own_words(line_factory, engine, services) -> None:  # type: ignore[no-untyped-def]
    line = line_factory(LineConfig(playback_speed=8.0))
    words = "您好，这里是供电公司。您的电费快到期了。"
    speak = line.parts.speaker.speak_sentences
    expected = sum(a.seconds for text in (words, KEYS_ANNOUNCEMENT)
                   for a, _ in speak(text, services.conversations.voice, 8000))
    greeting = sum(a.seconds for text in (GREETING, KEYS_ANNOUNCEMENT)
                   for a, _ in speak(text, services.conversations.voice, 8000))

    async def scenario(port: int) -> float:
        call = SimulatedCall(port, speed=8.0)
        _register(engine, call.call_uuid, CALLER, first_words=words)
        await call.connect()
        heard = await call.hear()
        await call.hang_up()
        return heard.seconds

    heard = on_line(line, scenario)
    assert abs(heard - expected) < 0.3 and abs(heard - greeting) > 0.5


def test_the_caller_barges_in_and_is_listened_to(line_factory, engine) -> None:  # type: ignore[no-untyped-def]
    line = line_factory(LineConfig(playback_speed=1.0))  # real time: what the caller hears when
    question = fixture("8k/a14.wav")  # 我家停电了
    voiced = np.flatnonzero(np.abs(question.samples) > 2000)
    lead_in = Audio(question.samples[:voiced[0]], question.rate)
    speech = Audio(question.samples[voiced[0]:], question.rate)

    async def scenario(port: int) -> dict:
        async with SimulatedCall(port) as call:
            await call.hear(gap_s=0.1, timeout=5)  # the greeting is playing
            await call.say(lead_in)
            spoke_at = time.monotonic()
            await call.say(speech)
            waited = time.monotonic()
            while call.first_frame_after(call.speech_ended_at) is None and time.monotonic() - waited < 60:
                await asyncio.sleep(0.05)
            await asyncio.sleep(1.5)  # the start of the answer is enough; the caller then hangs up
            answer = call.audio_since(call.speech_ended_at)
        return dict(call=call, spoke_at=spoke_at, answer=answer)

    result = on_line(line, scenario)
    call, spoke_at = result["call"], result["spoke_at"]
    # The goal is 0.3 s (bench/phone.py measures it); under a loaded CI machine the test allows 0.6 s.
    during = [r.at for r in call.received if spoke_at + 0.6 < r.at < call.speech_ended_at]
    assert not during, f"the greeting went on {during[-1] - spoke_at:.2f} s into the caller's words"
    assert result["answer"].seconds > 1
    with session(engine) as db:
        row = db.get(PhoneCall, call.call_uuid)
        turns = db.exec(select(TurnLog).where(TurnLog.session_id == row.session_id)).all()
    assert [t.intent for t in turns] == ["report_outage"], [(t.input_text, t.intent) for t in turns]


def test_silence_is_asked_about_twice_then_the_call_ends_politely(line_factory, engine, services) -> None:  # type: ignore[no-untyped-def]
    line = line_factory(LineConfig(playback_speed=8.0))
    voice = services.conversations.voice
    still_there = sum(a.seconds for a, _ in line.parts.speaker.speak_sentences(STILL_THERE, voice, 8000))
    goodbye = sum(a.seconds for a, _ in line.parts.speaker.speak_sentences(SILENCE_GOODBYE, voice, 8000))

    async def scenario(port: int) -> dict:
        async with SimulatedCall(port, speed=8.0) as call:  # 8 s of the caller's silence pass in 1 s
            bursts = []
            while not call.closed.is_set() and len(bursts) < 8:
                bursts.append((await call.hear(gap_s=0.4, timeout=30)).seconds)
            closed = await call.wait_closed(10)
        return dict(call=call, bursts=bursts, closed=closed)

    result = on_line(line, scenario)
    heard = [seconds for seconds in result["bursts"] if seconds]
    assert [round(s, 1) for s in heard[-3:]] == [round(still_there, 1), round(still_there, 1), round(goodbye, 1)], heard
    assert result["closed"] and result["call"].hung_up_by_gateway
    with session(engine) as db:
        row = db.get(PhoneCall, result["call"].call_uuid)
    assert row.next == "hangup" and row.end_reason == "silence"


def test_a_16_khz_line_is_heard_and_answered_at_16_khz(line_factory, engine) -> None:  # type: ignore[no-untyped-def]
    line = line_factory(LineConfig(playback_speed=8.0))

    async def scenario(port: int) -> dict:
        async with SimulatedCall(port, kind=0x12, speed=4.0) as call:  # slin16
            await call.hear()
            await call.say(fixture("16k/a24.wav"))  # 营业厅几点开门
            answer = await call.hear()
        return dict(call=call, answer=answer)

    result = on_line(line, scenario)
    call = result["call"]
    assert {len(r.pcm) for r in call.received} == {640}, "20 ms frames of 16 kHz audio, kind 0x12 (checked)"
    assert result["answer"].seconds > 2
    with session(engine) as db:
        row = db.get(PhoneCall, call.call_uuid)
        turns = db.exec(select(TurnLog).where(TurnLog.session_id == row.session_id)).all()
    # Heard as one utterance and answered (what Whisper makes of it is measured elsewhere: eval/audio).
    assert len(turns) == 1 and turns[0].input_text and turns[0].reply
