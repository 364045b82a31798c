"""The one voice pipeline every front end calls: audio or text in, typed events out.

    audio in → end-pointing → recognition → understanding, policy, answer → speech out
    └──── Listener (live audio) ────┘ └──────────── VoicePipeline.run ─────────────┘

As in Home Assistant's assist pipeline, where every satellite calls one function, the WebSocket,
the upload route and ``xiaodian ask --audio`` are thin adapters that feed this module and render
its events (``assistant.events``); the phone line and the hall's microphone loop are meant to be
the next ones.

A live source (a microphone socket, a phone call) feeds its audio to a ``Listener``, which finds
where each utterance ends and, with a streaming engine (Vosk), what has been heard so far. Each
finished utterance or whole recording (``SpokenInput``), or typed text (``TypedInput``: no
recognition), then goes through ``VoicePipeline.run`` up to the chosen last stage:
``Stage.REPLY`` (a staff preview, or a front end that fetches the speech by URL) or
``Stage.SPEECH`` (the answer spoken one sentence per chunk, so playing can start at once).

Understanding, policy and answer are one step, ``ConversationService.handle``: the matcher and the
slots are read with the conversation's context (a 户号 said after "我要交电费" is the account to
pay). Recognition passes the ``RecognitionGate`` (admission control): a departed client's
utterance is never decoded, and beyond the bounds the customer is told to wait. A streaming
engine's partial text is decoded as the audio arrives (Vosk runs far faster than real time); only
the final decode waits at the gate.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

import numpy as np

from assistant.conversation import ConversationReply
from assistant.dialogue import Channel
from assistant.events import (
    AudioChunk,
    Done,
    Event,
    Failed,
    FailureKind,
    HandedOff,
    Listening,
    Partial,
    Replied,
    Transcribed,
)
from assistant.voice_settings import VoiceSettings

# What only speech needs (scipy's resampling, cn2an, the voice, anyio's worker threads) is loaded
# where speech is heard or made, not here: it took 0.7 s of every typed ``xiaodian chat``'s start.
if TYPE_CHECKING:
    from assistant.admission import RecognitionGate
    from assistant.speech.audio import Audio
    from assistant.speech.recognizer import Recognizer, RecognizerStream, Transcript
    from assistant.speech.tts import Speaker
    from assistant.speech.vad import EndpointConfig

# What a customer hears when speech cannot be taken now (elderly listeners: calm, one step).
SPEECH_BUSY_TEXT = "请稍等，现在说话的人比较多。请您过一会儿再说一遍，或者先打字提问。"
NOT_READY_TEXT = "语音识别还没有准备好，请先打字提问，或者稍后再试。"
PHONE_RATE = 8000  # the phone line's audio; every other channel plays 16 kHz
SPEAKER_RATE = 16000


class Stage(StrEnum):
    """Where a run stops: after the reply, or after its speech."""

    REPLY = "reply"
    SPEECH = "speech"


@dataclass(frozen=True, slots=True)
class SpokenInput:
    """One utterance (or a whole recording); ``stream`` is a streaming engine already fed by a Listener."""

    audio: Audio
    stream: RecognizerStream | None = None


@dataclass(frozen=True, slots=True)
class TypedInput:
    """Text: the run starts at understanding."""

    text: str


class TurnRunner(Protocol):
    """One conversation turn (``ConversationService.handle``), run where the front end wants it."""

    async def __call__(self, session_id: str | None, text: str, channel: Channel, asr_confidence: float | None,
                       client: str) -> ConversationReply: ...


@dataclass
class VoicePipeline:
    """Without ``gate`` and ``recognizer`` it takes typed text only; without ``speaker`` it speaks nothing."""

    run_turn: TurnRunner
    gate: RecognitionGate | None = None
    recognizer: Recognizer | None = None
    speaker: Speaker | None = None

    async def run(self, source: SpokenInput | TypedInput, *, session_id: str | None = None,
                  channel: Channel = Channel.WEB, client: str = "", until: Stage = Stage.SPEECH,
                  departed: threading.Event | None = None) -> AsyncIterator[Event]:
        """The events of one customer turn, ending with ``Done`` (nothing at all once ``departed`` is set
        before recognition: nobody is left to tell)."""
        if isinstance(source, SpokenInput):
            heard = await self._recognize(source, departed or threading.Event())
            if heard is None:
                return
            if isinstance(heard, Failed):
                yield heard
                yield Done()
                return
            yield Transcribed(heard)
            text, confidence = heard.text, heard.confidence
        else:
            text, confidence = source.text, None
        reply = await self.run_turn(session_id, text, channel, confidence, client)
        yield Replied(reply)
        if reply.handoff is not None:
            yield HandedOff(reply.handoff)
        if until == Stage.SPEECH:
            async for chunk in self._speak(reply, channel):
                yield chunk
        yield Done()

    async def _recognize(self, source: SpokenInput, departed: threading.Event) -> Transcript | Failed | None:
        from assistant.admission import ClientDeparted, RecognitionBusy
        from assistant.speech.audio import AudioError

        recognizer, gate = self.recognizer, self.gate
        if recognizer is None or gate is None:
            return Failed(FailureKind.NOT_READY, NOT_READY_TEXT)
        stream = source.stream

        def decode(stop: Callable[[], bool]) -> Transcript:
            return stream.finish() if stream is not None else recognizer.transcribe(source.audio, stop)

        try:
            return await gate.run(decode, departed)
        except RecognitionBusy as busy:
            return Failed(FailureKind.BUSY, SPEECH_BUSY_TEXT, busy.retry_after_s)
        except ClientDeparted:
            return None
        except AudioError as error:  # also NoSpeechError
            return Failed(FailureKind.AUDIO, str(error))

    async def _speak(self, reply: ConversationReply, channel: Channel) -> AsyncIterator[Event]:
        import anyio.to_thread

        from assistant.speech.audio import AudioError

        if self.speaker is None:
            yield Failed(FailureKind.VOICE, "现在不能朗读，请看屏幕上的文字。")
            return
        voice = VoiceSettings(rate=reply.voice_rate, volume=reply.voice_volume)
        sentences = self.speaker.speak_sentences(reply.spoken, voice, PHONE_RATE if channel == Channel.PHONE
                                                 else SPEAKER_RATE)
        index = 0
        try:
            while (made := await anyio.to_thread.run_sync(_next_sentence, sentences)) is not None:
                yield AudioChunk(made[0], index, made[1])
                index += 1
        except AudioError as error:  # the voice failed; the answer is still on the screen
            yield Failed(FailureKind.VOICE, str(error))


def _next_sentence(sentences: Iterator[tuple[Audio, bool]]) -> tuple[Audio, bool] | None:
    return next(sentences, None)


@dataclass(frozen=True, slots=True)
class Heard:
    """What a Listener has to say after a piece of audio."""

    events: tuple[Event, ...] = ()
    utterance: SpokenInput | None = None


@dataclass
class Listener:
    """Audio in → end-pointing → partial text, for one live source (a socket, a call).

    With a streaming engine the utterance's audio is fed to it as it comes, in blocks of
    ``PARTIAL_EVERY_S`` (a 20 ms frame each would cost a thread hop per frame), and the text heard so
    far is told as ``Partial`` whenever it changes. Whisper decodes whole utterances only, so it
    has nothing honest to show before the end: no partials.
    """

    recognizer: Recognizer | None
    endpoint: EndpointConfig
    rate: int = SPEAKER_RATE
    PARTIAL_EVERY_S = 0.25  # Vosk's own example block size

    def __post_init__(self) -> None:
        from assistant.speech.vad import Endpointer

        self.endpointer = Endpointer(self.rate, self.endpoint)
        self._streaming = bool(self.recognizer is not None and self.recognizer.partials)
        self._stream: RecognizerStream | None = None
        self._unfed: list[np.ndarray] = []
        self._partial = ""
        self._announced = False

    async def hear(self, chunk: Audio) -> Heard:
        """A piece of live audio; the utterance once it has ended."""
        chunk = chunk.to(self.rate)
        utterance = self.endpointer.feed(chunk)
        return await self._after(chunk, utterance)

    async def finish(self) -> Heard:
        """End of input (the customer pressed stop): whatever speech there was, else no utterance."""
        return await self._after(None, self.endpointer.flush())

    async def _after(self, chunk: Audio | None, utterance: Audio | None) -> Heard:
        import anyio.to_thread

        events: list[Event] = []
        if not self._announced and (self.endpointer.in_speech or utterance is not None):
            events.append(Listening())
            self._announced = True
        if self._streaming:
            if chunk is not None and (self.endpointer.hearing or utterance is not None):
                self._unfed.append(chunk.samples)
            elif utterance is None and not self.endpointer.hearing:
                self._forget()  # what started was only a cough or a knock
            unfed_s = sum(len(samples) for samples in self._unfed) / self.rate
            if self._unfed and (utterance is not None or unfed_s >= self.PARTIAL_EVERY_S):
                text = await anyio.to_thread.run_sync(self._feed_stream)
                if text and text != self._partial:
                    events.append(Partial(text))
                    self._partial = text
        if utterance is None:
            return Heard(tuple(events))
        heard = SpokenInput(utterance, self._stream if self._streaming else None)
        self._forget()
        return Heard(tuple(events), heard)

    def _feed_stream(self) -> str:
        from assistant.speech.audio import Audio

        if self._stream is None:
            assert self.recognizer is not None
            self._stream = self.recognizer.stream()
        audio = Audio(np.concatenate(self._unfed), self.rate)
        self._unfed = []
        return self._stream.accept(audio) or ""

    def _forget(self) -> None:
        self._stream, self._unfed, self._partial, self._announced = None, [], "", False
