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

# What only speech needs (scipy's resampling, cn2an, the voice, anyio's worker threads) is loaded
# where speech is heard or made, not here: it took 0.7 s of every typed ``xiaodian chat``'s start.
if TYPE_CHECKING:
    from assistant.admission import RecognitionGate
    from assistant.knowledge import Knowledge
    from assistant.recordings import RecordingKeeper
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
                       client: str, recording: str | None) -> ConversationReply: ...


@dataclass
class VoicePipeline:
    """Without ``gate`` and ``recognizer`` it takes typed text only; without ``speaker`` it speaks nothing;
    with ``recordings`` every spoken turn's audio is kept for quality review (the turn log names it)."""

    run_turn: TurnRunner
    gate: RecognitionGate | None = None
    recognizer: Recognizer | None = None
    speaker: Speaker | None = None
    recordings: RecordingKeeper | None = None

    async def run(self, source: SpokenInput | TypedInput, *, session_id: str | None = None,
                  channel: Channel = Channel.WEB, client: str = "", until: Stage = Stage.SPEECH,
                  departed: threading.Event | None = None, speech_rate: int | None = None) -> AsyncIterator[Event]:
        """The events of one customer turn, ending with ``Done`` (nothing at all once ``departed`` is set
        before recognition: nobody is left to tell). ``speech_rate`` overrides the channel's rate (a
        phone call whose PBX offers 16 kHz)."""
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
            # Named before the turn, so its turn-log row names it; written only once the turn is.
            kept = (self.recordings.new_id(), source.audio) if self.recordings is not None else None
        else:
            text, confidence, kept = source.text, None, None
        reply = await self.run_turn(session_id, text, channel, confidence, client,
                                    recording=kept[0] if kept else None)
        if kept is not None and self.recordings is not None:
            self.recordings.keep(*kept, channel)  # encoded and stored by a worker thread: the answer goes on
        yield Replied(reply)
        if reply.handoff is not None:
            yield HandedOff(reply.handoff)
        if until == Stage.SPEECH:
            async for chunk in self._speak(reply, channel, speech_rate):
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
        finally:
            # An early decode runs outside the gate: nobody is left to hear it, so it must not take the model.
            if departed.is_set() and isinstance(stream, SpeculativeDecode):
                stream.abandon()

    async def _speak(self, reply: ConversationReply, channel: Channel, rate: int | None = None) -> AsyncIterator[Event]:
        import anyio.to_thread

        from assistant.speech.audio import AudioError

        if self.speaker is None:
            yield Failed(FailureKind.VOICE, "现在不能朗读，请看屏幕上的文字。")
            return
        sentences = self.speaker.speak_sentences(reply.spoken, reply.voice, rate or (PHONE_RATE if channel == Channel.PHONE
                                                                               else SPEAKER_RATE))
        index = 0
        try:
            while (made := await anyio.to_thread.run_sync(_next_sentence, sentences)) is not None:
                yield AudioChunk(made[0], index, made[1])
                index += 1
        except AudioError as error:  # the voice failed; the answer is still on the screen
            yield Failed(FailureKind.VOICE, str(error))


def _next_sentence(sentences: Iterator[tuple[Audio, bool]]) -> tuple[Audio, bool] | None:
    return next(sentences, None)


def understood_by(knowledge: Knowledge) -> Callable[[str], bool]:
    """A Listener's test for a whole request: the matcher would act on it without asking back."""
    from intents import Decision

    return lambda text: knowledge.matcher.match(text).decision == Decision.ACCEPT


@dataclass(frozen=True, slots=True)
class Heard:
    """What a Listener has to say after a piece of audio."""

    events: tuple[Event, ...] = ()
    utterance: SpokenInput | None = None


class SpeculativeDecode:
    """A whole-utterance decode started at a short pause, before the end-pointer has decided.

    It is a ``RecognizerStream`` that is never fed: ``finish`` waits for the decode of exactly the
    audio it was started on. The Listener hands it on only when the finished utterance is that same
    audio (the caller stayed quiet); when the caller goes on it is abandoned, and the recogniser
    stops it at its next check (before it takes the model, or between segments).
    """

    def __init__(self, recognizer: Recognizer, audio: Audio, voiced_s: float) -> None:
        from concurrent.futures import Future

        self.audio, self.voiced_s = audio, voiced_s
        self._abandoned = threading.Event()
        self._result: Future[Transcript] = Future()
        # Outside the RecognitionGate: the recogniser's own lock queues it behind the decodes the
        # gate let in, and an abandoned one gives up at that lock without decoding.
        threading.Thread(target=self._decode, args=(recognizer,), name="speculative-decode", daemon=True).start()

    def _decode(self, recognizer: Recognizer) -> None:
        try:
            self._result.set_result(recognizer.transcribe(self.audio, self._abandoned.is_set))
        except BaseException as error:  # handed to whoever calls finish
            self._result.set_exception(error)

    def heard(self) -> str | None:
        """The transcript once the decode has finished with one; None while it runs or when it failed."""
        if not self._result.done() or self._result.exception() is not None:
            return None
        return self._result.result().text

    def covers(self, utterance: Audio) -> bool:
        return utterance.rate == self.audio.rate and np.array_equal(utterance.samples, self.audio.samples)

    def abandon(self) -> None:
        self._abandoned.set()

    def accept(self, audio: Audio) -> str | None:
        return None

    def finish(self) -> Transcript:
        return self._result.result()


@dataclass
class Listener:
    """Audio in → end-pointing → partial text, for one live source (a socket, a call).

    With a streaming engine the utterance's audio is fed to it as it comes, in blocks of
    ``PARTIAL_EVERY_S`` (a 20 ms frame each would cost a thread hop per frame), and the text heard so
    far is told as ``Partial`` whenever it changes. Whisper decodes whole utterances only, so it
    has nothing honest to show while the caller speaks; its only partial is the speculative decode's
    text (below), told once that decode has finished. Once the caller has paused for
    ``SPECULATE_AFTER_S``, it starts decoding what was said while the end-pointer waits out the rest
    of the silence (1.2 s: elderly callers pause mid-sentence); if the caller stays quiet, the
    transcript is ready, or nearly, when the utterance ends. If they go on, that decode is dropped.
    With ``understood`` (is this text a whole request? the composition root asks the matcher), a
    decode that is understood ends the utterance after ``EARLY_END_S`` of quiet instead of the full
    silence: "我想交电费" needs no more waiting, "我想问一下……" still gets its 1.2 s.
    """

    recognizer: Recognizer | None
    endpoint: EndpointConfig
    rate: int = SPEAKER_RATE
    speculate: bool = True
    understood: Callable[[str], bool] | None = None
    early_text: bool = False  # tell the speculative decode's text as a Partial (the kiosk page asks for it)
    PARTIAL_EVERY_S = 0.25  # Vosk's own example block size
    # A breath between words is shorter; a finished question's pause is longer. Not below the
    # end-pointer's ``pad_s`` (0.25 s): until then the audio so far is not yet the utterance it will
    # be (it keeps that much quiet after the voice), and the decode would never be used.
    SPECULATE_AFTER_S = 0.3
    EARLY_END_S = 0.7  # longer than a pause for breath inside a sentence (the tests put 0.6 s there)

    def __post_init__(self) -> None:
        from assistant.speech.vad import Endpointer

        self.endpointer = Endpointer(self.rate, self.endpoint)
        self._streaming = bool(self.recognizer is not None and self.recognizer.partials)
        self._speculating = bool(self.speculate and self.recognizer is not None and not self._streaming)
        self._speculation: SpeculativeDecode | None = None
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

    def close(self) -> None:
        """The caller is gone (socket closed, call hung up): an early decode under way is dropped."""
        self._forget()

    async def _after(self, chunk: Audio | None, utterance: Audio | None) -> Heard:
        import anyio.to_thread

        if utterance is None and self._speculating:
            utterance = self._follow_pause()
        events: list[Event] = []
        if not self._announced and (self.endpointer.in_speech or utterance is not None):
            events.append(Listening())
            self._announced = True
        if self._speculation is not None and self.early_text:
            # Whisper's only honest early text: what a pause's speculative decode heard (free: it
            # runs anyway). The kiosk shows it while the end-pointer waits out the silence.
            early = self._speculation.heard()
            if early and early != self._partial:
                events.append(Partial(early))
                self._partial = early
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
        heard = SpokenInput(utterance, self._stream if self._streaming else self._speculated(utterance))
        self._forget()
        return Heard(tuple(events), heard)

    def _follow_pause(self) -> Audio | None:
        """Drop the speculative decode once the caller goes on (or it was only a cough); start one at a
        pause; end the utterance early once its decode is understood."""
        endpointer, speculation = self.endpointer, self._speculation
        if speculation is not None and (not endpointer.hearing or endpointer.voiced_s != speculation.voiced_s):
            speculation.abandon()
            self._speculation = speculation = None
        if speculation is None and endpointer.in_speech and endpointer.pause_s >= self.SPECULATE_AFTER_S:
            audio = endpointer.speech_so_far()
            assert self.recognizer is not None and audio is not None
            self._speculation = SpeculativeDecode(self.recognizer, audio, endpointer.voiced_s)
        elif speculation is not None and self.understood is not None and endpointer.pause_s >= self.EARLY_END_S:
            text = speculation.heard()
            if text and self.understood(text):
                return endpointer.flush()  # the same audio the decode heard
        return None

    def _speculated(self, utterance: Audio) -> SpeculativeDecode | None:
        """The speculative decode, if it heard exactly this utterance."""
        speculation, self._speculation = self._speculation, None
        if speculation is not None and not speculation.covers(utterance):
            speculation.abandon()
            return None
        return speculation

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
        if self._speculation is not None:
            self._speculation.abandon()
            self._speculation = None
