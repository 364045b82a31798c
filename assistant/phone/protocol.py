"""Asterisk's AudioSocket protocol (``res_audiosocket``): frames over TCP, both ways.

Each frame is 1 byte kind, 2 bytes payload length in network byte order (big-endian), then the
payload. The first frame from Asterisk is the call's UUID. Audio is signed 16-bit little-endian
mono PCM, 8 kHz for kind 0x10; newer Asterisk sends 0x11–0x18 (12 … 192 kHz) when the channel's
format is set so, and is answered in the same kind. Every frame is checked before it is trusted:
a length beyond what its kind can hold is refused before its payload is read, so a broken or
hostile peer cannot make the gateway hold more than one small frame.
"""

from __future__ import annotations

import asyncio
import struct
import uuid as uuid_module
from dataclasses import dataclass
from enum import IntEnum

HEADER = struct.Struct(">BH")


class Kind(IntEnum):
    HANGUP = 0x00
    UUID = 0x01
    DTMF = 0x03
    AUDIO = 0x10  # slin, 8 kHz
    ERROR = 0xFF


# The audio kinds and their sample rates (Asterisk's slin, slin12 … slin192).
AUDIO_RATES: dict[int, int] = {0x10: 8000, 0x11: 12000, 0x12: 16000, 0x13: 24000, 0x14: 32000, 0x15: 44100,
                               0x16: 48000, 0x17: 96000, 0x18: 192000}
RATE_KINDS = {rate: kind for kind, rate in AUDIO_RATES.items()}
# 20 ms at 192 kHz is 7,680 bytes; a tenth of a second at the highest rate is plenty for any real frame.
MAX_AUDIO_PAYLOAD = 38_400
DTMF_KEYS = frozenset("0123456789*#ABCD")
# The sizes the other kinds may have: a UUID is 16 bytes, a key or an error code one.
_FIXED_SIZES = {Kind.HANGUP: (0, 0), Kind.UUID: (16, 16), Kind.DTMF: (1, 1), Kind.ERROR: (0, 1)}


class ProtocolError(Exception):
    """The peer broke the protocol: the call ends."""


@dataclass(frozen=True, slots=True)
class Frame:
    kind: int
    payload: bytes = b""

    @property
    def is_audio(self) -> bool:
        return self.kind in AUDIO_RATES


def encode(kind: int, payload: bytes = b"") -> bytes:
    if len(payload) > 0xFFFF:
        raise ValueError("an AudioSocket payload holds at most 65,535 bytes")
    return HEADER.pack(kind, len(payload)) + payload


def audio_frame(pcm: bytes, kind: int = Kind.AUDIO) -> bytes:
    return encode(kind, pcm)


def hangup_frame() -> bytes:
    return encode(Kind.HANGUP)


def _allowed_length(kind: int) -> tuple[int, int]:
    if kind in AUDIO_RATES:
        return 2, MAX_AUDIO_PAYLOAD
    try:
        return _FIXED_SIZES[Kind(kind)]
    except (ValueError, KeyError):
        raise ProtocolError(f"unknown frame kind 0x{kind:02x}") from None


async def read_frame(reader: asyncio.StreamReader) -> Frame | None:
    """The next frame; None when the peer closed the connection between frames.

    Raises ProtocolError for an unknown kind, a length its kind cannot have, a payload cut short, or
    a payload that does not read (odd audio, a key that is no key)."""
    try:
        header = await reader.readexactly(HEADER.size)
    except asyncio.IncompleteReadError as cut:
        if not cut.partial:
            return None
        raise ProtocolError("connection closed inside a frame header") from None
    kind, length = HEADER.unpack(header)
    shortest, longest = _allowed_length(kind)
    if not shortest <= length <= longest:
        raise ProtocolError(f"frame kind 0x{kind:02x} cannot be {length} bytes long")
    try:
        payload = await reader.readexactly(length)
    except asyncio.IncompleteReadError:
        raise ProtocolError("connection closed inside a frame") from None
    frame = Frame(kind, payload)
    if frame.is_audio and length % 2:
        raise ProtocolError("audio frame with an odd number of bytes")
    if kind == Kind.DTMF and payload.decode("latin-1") not in DTMF_KEYS:
        raise ProtocolError("DTMF frame that is no key")
    return frame


def call_uuid(frame: Frame) -> str:
    """The call's UUID from the first frame, as canonical lowercase text."""
    if frame.kind != Kind.UUID:
        raise ProtocolError(f"the first frame must be the call's UUID, not kind 0x{frame.kind:02x}")
    return str(uuid_module.UUID(bytes=frame.payload))
