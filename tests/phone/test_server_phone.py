"""The dialplan's view, against the real service over HTTP and a real socket: register the caller with the
PBX's token (nobody else can), connect the AudioSocket, press 0 during the greeting, read the outcome
after the socket closes, and find the ticket in the staff console with the phone badge's data."""

from __future__ import annotations

import asyncio
import uuid as uuid_module
from pathlib import Path

import httpx

from assistant.phone.line import pbx_token
from knowledge_base.settings import Settings
from tests.phone.simulator import SimulatedCall
from tests.server_fixtures import free_port, live_login, serving


def test_the_dialplan_registers_transfers_on_0_and_reads_the_outcome(tmp_path: Path) -> None:
    port = free_port()
    settings = Settings(data_dir=tmp_path / "data", speech_enabled=False, demo=True, voice="espeak",
                        audiosocket_port=port)
    call_uuid = str(uuid_module.uuid4())
    with serving(settings) as server, httpx.Client(base_url=server.url, timeout=10) as pbx:
        token = pbx_token(settings)
        form = {"uuid": call_uuid.upper(), "caller": "+8613800000001"}
        assert pbx.post("/api/phone/calls", data=form).status_code == 403  # no token: nobody claims a number
        assert pbx.post("/api/phone/calls", data={**form, "token": "0" * 64}).status_code == 403
        assert pbx.post("/api/phone/calls", data={**form, "uuid": "x", "token": token}).status_code == 422
        registered = pbx.post("/api/phone/calls", data={**form, "token": token})  # as ${CURL(url,postdata)} sends
        assert registered.status_code == 200 and registered.json()["uuid"] == call_uuid
        assert pbx.get(f"/api/phone/calls/{call_uuid}").status_code == 403

        async def call() -> SimulatedCall:
            simulated = SimulatedCall(port, call_uuid)
            await simulated.connect()
            await simulated.hear(gap_s=0.1, timeout=5)  # the greeting has started
            await simulated.press("0")  # keys work during playback
            assert await simulated.wait_closed(30)
            await simulated.close()
            return simulated

        simulated = asyncio.run(call())
        assert simulated.hung_up_by_gateway
        headers = {"X-PBX-Token": token}
        outcome = pbx.get(f"/api/phone/calls/{call_uuid}", headers=headers).json()
        assert outcome["next"] == "transfer" and outcome["queue"] == "xiaodian-staff"
        text = pbx.get(f"/api/phone/calls/{call_uuid}?format=text", headers=headers).text
        assert outcome["priority"] == 2  # asked for staff; an emergency would be 0
        assert text == f"transfer,xiaodian-staff,{outcome['ticket']},2"
        posted = pbx.post(f"/api/phone/calls/{call_uuid}", data={"token": token, "format": "text"})  # ${CURL(url,data)}
        assert posted.text == text
        assert pbx.post(f"/api/phone/calls/{call_uuid}", data={"format": "text"}).status_code == 403
        assert pbx.get(f"/api/phone/calls/{uuid_module.uuid4()}", headers=headers).status_code == 404

        staff = live_login(server, "staff1")
        ticket = staff.get(f"/api/staff/tickets/{outcome['ticket']}").json()
        assert ticket["channel"] == "phone" and ticket["origin"] == "电话 138****0001", ticket
        assert ticket["account_number"] == "3201000001"  # the caller's number on file verified the caller
