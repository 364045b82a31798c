"""The call registry the dialplan and the reminders job write to, and the outcome the dialplan reads."""

from __future__ import annotations

import pytest

from assistant.phone.calls import (
    CallOutcome,
    clean_caller,
    connect_call,
    end_call,
    outcome_json,
    outcome_text,
    register_call,
)
from knowledge_base.db import session
from knowledge_base.models import PhoneCall

UUID = "8F14E45F-CEEA-467F-A9F0-0B1E1D2C3A4B"


def test_registration_is_by_canonical_uuid_and_a_connected_call_keeps_its_caller(engine) -> None:  # type: ignore[no-untyped-def]
    with session(engine) as db:
        call = register_call(db, UUID, "+86 138-0000-0001", "您好，提醒您交电费。")
        db.commit()
        assert call.uuid == UUID.lower() and call.caller == "13800000001"
        register_call(db, UUID, "13800000002")  # the PBX retried: the latest registration counts
        db.commit()
    start = connect_call(engine, UUID.lower())
    assert start.caller == "13800000002" and start.first_words == ""
    with session(engine) as db:
        register_call(db, UUID, "13800000003")  # once connected, nobody changes who is calling
        db.commit()
        assert db.get(PhoneCall, UUID.lower()).caller == "13800000002"
        with pytest.raises(ValueError):
            register_call(db, "not-a-uuid", "13800000001")


def test_a_caller_id_that_is_no_number_is_anonymous() -> None:
    assert clean_caller("anonymous") == "" and clean_caller("") == "" and clean_caller("13800000001;x") == ""
    assert clean_caller("008613800000001") == "13800000001"


def test_a_transfer_is_never_turned_back_into_a_hangup(engine) -> None:  # type: ignore[no-untyped-def]
    connect_call(engine, UUID.lower())
    end_call(engine, UUID.lower(), CallOutcome.TRANSFER, "transfer", "xiaodian-staff", 7)
    end_call(engine, UUID.lower(), CallOutcome.HANGUP, "caller_hangup")  # the caller hangs up as it transfers
    with session(engine) as db:
        call = db.get(PhoneCall, UUID.lower())
    assert outcome_json(call, 0) == {"next": "transfer", "queue": "xiaodian-staff", "ticket": 7, "priority": 0}
    assert outcome_text(call, 0) == "transfer,xiaodian-staff,7,0"
    assert outcome_json(PhoneCall(uuid=UUID.lower())) == {"next": "hangup"}  # still running: never ring a queue


def test_a_registration_vouches_for_one_socket_only(engine) -> None:  # type: ignore[no-untyped-def]
    """A UUID is no secret: a second socket bringing it, mid-call or after, is an anonymous caller who
    hears the greeting, not the outbound reminder's words, and the real call's row is left alone."""
    with session(engine) as db:
        register_call(db, UUID, "13800000001", "张先生您好，提醒您交电费。")
        db.commit()
    first = connect_call(engine, UUID.lower())
    assert first.caller == "13800000001" and first.first_words.startswith("张先生")
    during = connect_call(engine, UUID.lower())
    assert during.caller == "" and during.first_words == ""
    with session(engine) as db:
        assert db.get(PhoneCall, UUID.lower()).caller == "13800000001"
    unknown = "0b4f3a52-1c2d-4e5f-8a9b-0c1d2e3f4a5b"
    assert connect_call(engine, unknown).caller == "" and connect_call(engine, unknown).caller == ""
