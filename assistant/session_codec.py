"""A conversation's state as JSON, and back: what the session store keeps between turns.

Written out field by field rather than by reflection, so the stored form is a contract:
renaming a field of ``SessionState`` breaks the round-trip test here instead of silently
resetting every stored conversation. Reading tolerates fields that are missing (a state
saved by an older version gets the defaults).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from assistant.dialogue import Channel, Pending, Reply, SessionState, Turn, Verified
from assistant.voice_settings import VoiceSettings


def encode_state(state: SessionState) -> str:
    return json.dumps({
        "id": state.id,
        "channel": state.channel.value,
        "started_at": state.started_at.isoformat(),
        "account": state.account,
        "pending": None if state.pending is None else _pending_json(state.pending),
        "account_tries": state.account_tries,
        "misses": state.misses,
        "last_reply": None if state.last_reply is None else _reply_json(state.last_reply),
        "voice": _voice_json(state.voice),
        "transcript": [[t.speaker, t.text, t.intent, t.confidence] for t in state.transcript],
        "topic": state.topic,
        "handed_off": state.handed_off,
        "ended": state.ended,
        "client": state.client,
        "verified": None if state.verified is None else state.verified.value,
        "accounts": list(state.accounts),
        "retry_at": None if state.retry_at is None else state.retry_at.isoformat(),
        "hall": state.hall,
    }, ensure_ascii=False, separators=(",", ":"))


def decode_state(text: str) -> SessionState:
    data: dict[str, Any] = json.loads(text)
    pending, last_reply, retry_at = data.get("pending"), data.get("last_reply"), data.get("retry_at")
    verified = data.get("verified")
    return SessionState(
        id=data["id"],
        channel=Channel(data["channel"]),
        started_at=datetime.fromisoformat(data["started_at"]),
        account=data.get("account"),
        pending=None if pending is None else Pending(pending["kind"], pending["intent"], tuple(pending["data"]),
                                                     pending["reminded"]),
        account_tries=data.get("account_tries", 0),
        misses=data.get("misses", 0),
        last_reply=None if last_reply is None else _reply_from(last_reply),
        voice=_voice_from(data["voice"]) if "voice" in data else VoiceSettings(),
        transcript=tuple(Turn(speaker, text, intent, confidence)
                         for speaker, text, intent, confidence in data.get("transcript", ())),
        topic=data.get("topic", ""),
        handed_off=data.get("handed_off", False),
        ended=data.get("ended", False),
        client=data.get("client", ""),
        verified=None if verified is None else Verified(verified),
        accounts=tuple(data.get("accounts", ())),
        retry_at=None if retry_at is None else datetime.fromisoformat(retry_at),
        hall=data.get("hall", ""),
    )


def _pending_json(pending: Pending) -> dict[str, Any]:
    return {"kind": pending.kind, "intent": pending.intent, "data": list(pending.data), "reminded": pending.reminded}


def _voice_json(voice: VoiceSettings) -> list[Any]:
    return [voice.rate, voice.volume, voice.sentence_pause_ms]


def _voice_from(values: list[Any]) -> VoiceSettings:
    rate, volume, pause = values
    return VoiceSettings(rate=rate, volume=volume, sentence_pause_ms=pause)


def _reply_json(reply: Reply) -> dict[str, Any]:
    return {"text": reply.text, "spoken": reply.spoken, "intent": reply.intent, "decision": reply.decision,
            "voice": _voice_json(reply.voice), "choices": list(reply.choices), "end": reply.end}


def _reply_from(data: dict[str, Any]) -> Reply:
    return Reply(data["text"], data["spoken"], data["intent"], data["decision"], _voice_from(data["voice"]),
                 tuple(data["choices"]), data["end"])
