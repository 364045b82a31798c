"""What the voice pipeline tells a front end: one small class per event.

In the spirit of wyoming's event core: each event is a plain value with a ``type`` name, and a
front end (WebSocket, upload, command line, phone line) renders the ones its medium can show.
An event stream ends with ``Done``, unless the client has left (then nobody is told anything).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, ClassVar

from assistant.conversation import ConversationReply, HandoffInfo

if TYPE_CHECKING:  # names only: a typed turn's events need no speech modules loaded (see assistant.pipeline)
    from assistant.speech.audio import Audio
    from assistant.speech.recognizer import Transcript


@dataclass(frozen=True, slots=True)
class Listening:
    """Speech has started: the front end may show that it is being heard."""

    type: ClassVar[str] = "listening"


@dataclass(frozen=True, slots=True)
class Partial:
    """Everything heard so far, while the customer is still speaking (streaming engines only)."""

    text: str
    type: ClassVar[str] = "partial"


@dataclass(frozen=True, slots=True)
class Transcribed:
    """The final transcript of one utterance."""

    transcript: Transcript
    type: ClassVar[str] = "transcript"


@dataclass(frozen=True, slots=True)
class Replied:
    """What to show and say, decided by the dialogue with the conversation's context."""

    reply: ConversationReply
    type: ClassVar[str] = "reply"


@dataclass(frozen=True, slots=True)
class AudioChunk:
    """One sentence of the spoken answer; ``last`` marks the end of the answer."""

    audio: Audio
    index: int
    last: bool
    type: ClassVar[str] = "audio_chunk"


@dataclass(frozen=True, slots=True)
class HandedOff:
    """The conversation went to a person (staff see the ticket)."""

    handoff: HandoffInfo
    type: ClassVar[str] = "handoff"


class FailureKind(StrEnum):
    NOT_READY = "not_ready"  # no recogniser loaded (yet)
    BUSY = "busy"  # beyond the recognition bounds: come back in ``retry_after_s``
    AUDIO = "audio"  # unusable audio or no speech in it
    VOICE = "voice"  # the answer could not be spoken (it is still shown)


@dataclass(frozen=True, slots=True)
class Failed:
    """A stage could not do its job; ``detail`` is polite Chinese for the customer."""

    kind: FailureKind
    detail: str
    retry_after_s: int | None = None
    type: ClassVar[str] = "error"


@dataclass(frozen=True, slots=True)
class Done:
    """The pipeline has finished with this input."""

    type: ClassVar[str] = "done"


Event = Listening | Partial | Transcribed | Replied | AudioChunk | HandedOff | Failed | Done
