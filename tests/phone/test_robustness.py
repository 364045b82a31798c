"""Broken peers: malformed, truncated, unknown and oversized frames, a peer that stops reading, a hangup in
the middle of an answer, more calls than the line takes. Each call ends cleanly, its outcome is
written, its slot is freed, and the other calls go on."""

from __future__ import annotations

import asyncio
import struct
import time
import uuid as uuid_module

from sqlmodel import select

from assistant.phone.gateway import LineConfig
from knowledge_base.db import session
from knowledge_base.models import PhoneCall, TurnLog
from tests.phone.conftest import FAST, on_line
from tests.phone.simulator import SimulatedCall, fixture


def _call(engine, call_uuid: str) -> PhoneCall | None:  # type: ignore[no-untyped-def]
    with session(engine) as db:
        return db.get(PhoneCall, call_uuid)


BROKEN = {
    "unknown kind": struct.pack(">BH", 0x42, 2) + b"ab",
    "oversized audio": struct.pack(">BH", 0x10, 60_000),  # refused before its payload is read
    "odd audio": struct.pack(">BH", 0x10, 3) + b"abc",
    "long DTMF": struct.pack(">BH", 0x03, 2) + b"12",
    "a second UUID": struct.pack(">BH", 0x01, 16) + uuid_module.uuid4().bytes,
    "truncated frame": struct.pack(">BH", 0x10, 320) + b"\x00" * 100,  # then the socket closes
}


def test_broken_frames_end_only_their_own_call(line_factory, engine) -> None:  # type: ignore[no-untyped-def]
    line = line_factory()

    async def scenario(port: int) -> dict:
        healthy = SimulatedCall(port, speed=4.0)
        await healthy.connect()
        broken = {name: SimulatedCall(port, speed=4.0) for name in BROKEN}
        for call in broken.values():
            await call.connect()
        await asyncio.sleep(0.3)
        for name, call in broken.items():
            await call.send_raw(BROKEN[name], then_close=name == "truncated frame")
        closed = {name: await call.wait_closed(10) for name, call in broken.items()}
        for call in broken.values():
            await call.close()
        await asyncio.sleep(0.2)
        open_calls = len(line.calls)
        await healthy.hear()  # the greeting went on meanwhile
        await healthy.press("0")
        handoff = await healthy.hear()
        healthy_closed = await healthy.wait_closed(20)
        await healthy.close()
        return dict(broken=broken, closed=closed, open_calls=open_calls, handoff=handoff, healthy=healthy,
                    healthy_closed=healthy_closed)

    result = on_line(line, scenario)
    assert all(result["closed"].values()), result["closed"]
    assert result["open_calls"] == 1, "only the healthy call is still holding a slot"
    for name, call in result["broken"].items():
        row = _call(engine, call.call_uuid)
        assert row is not None and row.next == "hangup" and row.ended_at is not None, name
        # A frame cut short by a closed socket: the cut or the closed socket, whichever the gateway meets first.
        ends = ("protocol_error", "connection_lost") if name == "truncated frame" else ("protocol_error",)
        assert row.end_reason in ends, (name, row.end_reason)
    assert result["handoff"].seconds > 1 and result["healthy_closed"]
    assert _call(engine, result["healthy"].call_uuid).next == "transfer"
    assert not line.calls


def test_the_first_frame_must_be_the_uuid(line_factory) -> None:  # type: ignore[no-untyped-def]
    line = line_factory()

    async def scenario(port: int) -> tuple[bool, bytes]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(struct.pack(">BH", 0x10, 320) + b"\x00" * 320)
        data = await asyncio.wait_for(reader.read(), 5)  # the gateway hangs up and closes
        writer.close()
        return True, data

    closed, data = on_line(line, scenario)
    assert closed and data == struct.pack(">BH", 0x00, 0)
    assert not line.calls


def test_a_peer_that_stops_reading_is_let_go(line_factory, engine) -> None:  # type: ignore[no-untyped-def]
    line = line_factory(LineConfig(playback_speed=50.0, write_timeout_s=1.0))  # answers far faster than read

    async def scenario(port: int) -> tuple[SimulatedCall, float]:
        call = SimulatedCall(port)
        call.stop_reading()
        started = time.monotonic()
        await call.connect()
        while line.calls or time.monotonic() - started < 0.5:
            if time.monotonic() - started > 20:
                break
            await asyncio.sleep(0.05)
        took = time.monotonic() - started
        await call.close()
        return call, took

    call, took = on_line(line, scenario)
    assert not line.calls and took < 20
    assert _call(engine, call.call_uuid).end_reason == "stalled"


def test_a_hangup_in_the_middle_of_an_answer_keeps_the_turn(line_factory, engine) -> None:  # type: ignore[no-untyped-def]
    line = line_factory(LineConfig(playback_speed=1.0))

    async def scenario(port: int) -> SimulatedCall:
        call = SimulatedCall(port, speed=4.0)
        await call.connect()
        await call.hear(gap_s=0.1, timeout=5)
        for key in "3201000001#":  # 户号 by keypad, during the greeting
            await call.press(key)
        await asyncio.sleep(1.0)
        answer_started = len(call.received)
        await asyncio.sleep(1.0)  # part of the answer
        assert len(call.received) > answer_started
        await call.hang_up()
        for _ in range(100):
            if not line.calls:
                break
            await asyncio.sleep(0.05)
        return call

    call = on_line(line, scenario)
    assert not line.calls
    row = _call(engine, call.call_uuid)
    assert row.next == "hangup" and row.end_reason == "caller_hangup"
    with session(engine) as db:
        turns = db.exec(select(TurnLog).where(TurnLog.session_id == row.session_id)).all()
    assert [t.input_text for t in turns] == ["3201000001"] and turns[0].channel == "phone"


def test_beyond_the_bound_a_caller_is_told_to_call_back(line_factory, engine) -> None:  # type: ignore[no-untyped-def]
    line = line_factory(LineConfig(max_calls=1, playback_speed=8.0))

    async def scenario(port: int) -> tuple[SimulatedCall, SimulatedCall, float]:
        first = SimulatedCall(port, speed=4.0)
        await first.connect()
        await first.hear(gap_s=0.1, timeout=5)
        second = SimulatedCall(port, speed=4.0)
        await second.connect()
        busy = await second.hear(timeout=20)
        closed = await second.wait_closed(10)
        await second.close()
        await first.close()
        return first, second, busy.seconds if closed else -1.0

    first, second, busy_s = on_line(line, scenario)
    assert busy_s > 1  # the apology, then the socket closed
    assert _call(engine, second.call_uuid).end_reason == "busy"
