"""The one voice pipeline (assistant.pipeline), its events, and the front ends that call it.

Real parts throughout: Whisper-base on the natural-speech fixtures, the Korean Vosk model (no
Mandarin Vosk model installs here) for streaming partials and grammar, espeak-ng for speech out,
real SQLite files and a real server over HTTP and WebSockets.
"""

from __future__ import annotations

import ast
import json
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import anyio
import numpy as np
import pytest
from sqlmodel import Session

from assistant.admission import RecognitionGate
from assistant.conversation import ConversationService
from assistant.dialogue import Channel
from assistant.events import AudioChunk, Done, Failed, FailureKind, HandedOff, Partial, Replied, Transcribed
from assistant.knowledge import Knowledge
from assistant.pipeline import Listener, SpokenInput, Stage, TypedInput, VoicePipeline, understood_by
from assistant.speech_vocabulary import speech_vocabulary
from knowledge_base.settings import Settings
from assistant.speech.audio import Audio, read_wav
from assistant.speech.recognizer import RecognitionStopped
from assistant.speech.engines import load_recognizer
from assistant.speech.models import add_vosk_model
from assistant.speech.tts import EspeakPinyinVoice, Speaker
from assistant.speech.vad import EndpointConfig
from assistant.voice_settings import VoiceSettings
from knowledge_base.models import Intent
from tests.server_fixtures import LiveServer, free_port, serving
from tests.test_cli import XIAODIAN
from tests.test_server_customer import live, serve  # noqa: F401 (a server with Whisper loaded)
from tests.test_vosk import _korean_model_dir, korean_speech  # noqa: F401 (espeak-ng Korean, 22.05 kHz)

AUDIO = Path(__file__).parent / "fixtures" / "audio" / "16k"
KOREAN_WORDS = ("안녕하세요", "감사합니다", "전기", "요금")


@pytest.fixture(scope="module")
def whisper(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    return load_recognizer(Settings(data_dir=tmp_path_factory.mktemp("whisper"), asr_engine="whisper"))


@pytest.fixture
def pipeline(knowledge: Knowledge, whisper, tmp_path: Path) -> VoicePipeline:  # type: ignore[no-untyped-def]
    conversations = ConversationService(knowledge)

    async def turn(session_id: str | None, text: str, channel: Channel, asr_confidence: float | None,
                   client: str, recording: str | None):  # type: ignore[no-untyped-def]
        return await anyio.to_thread.run_sync(conversations.handle, session_id, text, channel, None,
                                              asr_confidence, client, recording)

    return VoicePipeline(turn, RecognitionGate(1, 0), whisper, Speaker(EspeakPinyinVoice(), tmp_path / "speech"))


def run(pipeline: VoicePipeline, source: SpokenInput | TypedInput, until: Stage,
        session_id: str | None = None, departed: threading.Event | None = None) -> list[object]:
    async def collect() -> list[object]:
        return [event async for event in pipeline.run(source, session_id=session_id, channel=Channel.KIOSK,
                                                      until=until, departed=departed or threading.Event())]

    return anyio.run(collect)


def test_text_in_skips_recognition_and_a_staff_preview_skips_speech(pipeline: VoicePipeline) -> None:
    events = run(pipeline, TypedInput("营业厅几点开门"), Stage.REPLY)
    assert [type(e) for e in events] == [Replied, Done]
    reply = events[0].reply  # type: ignore[attr-defined]
    assert reply.text and reply.intent != "none"


def test_audio_in_gives_transcript_reply_and_its_speech_in_order(pipeline: VoicePipeline) -> None:
    events = run(pipeline, SpokenInput(read_wav(AUDIO / "a01.wav")), Stage.SPEECH)  # 我想交电费
    kinds = [type(e) for e in events]
    assert kinds[:2] == [Transcribed, Replied] and set(kinds[2:-1]) == {AudioChunk} and kinds[-1] is Done
    reply = events[1].reply  # type: ignore[attr-defined]
    assert reply.intent == "pay_bill" and "户号" in reply.text  # the dialogue asks whose bill it is
    speech = [e for e in events if isinstance(e, AudioChunk)]
    assert speech[-1].last and all(c.audio.rate == 16000 for c in speech) and sum(c.audio.seconds for c in speech) > 1


def test_a_longer_answer_is_spoken_sentence_by_sentence(pipeline: VoicePipeline) -> None:
    events = run(pipeline, TypedInput("停电了怎么办"), Stage.SPEECH)
    chunks = [e for e in events if isinstance(e, AudioChunk)]
    sentences = [s for s in events[0].reply.spoken.split("。") if s.strip()]  # type: ignore[attr-defined]
    assert len(chunks) == len(sentences) >= 2, "one chunk per sentence, so the first can play while the rest is made"
    assert [c.index for c in chunks] == list(range(len(chunks))) and [c.last for c in chunks] == [False] * (
        len(chunks) - 1) + [True]
    assert all(c.audio.rate == 16000 and c.audio.seconds > 0.5 for c in chunks)
    # Played one after the other, the chunks are the whole answer, pauses included.
    whole = pipeline.speaker.speak(events[0].reply.spoken, VoiceSettings())  # type: ignore[union-attr, attr-defined]
    assert abs(sum(c.audio.seconds for c in chunks) - whole.seconds) < 0.5


def test_the_dialogue_carries_context_from_turn_to_turn(pipeline: VoicePipeline) -> None:
    first = run(pipeline, SpokenInput(read_wav(AUDIO / "a01.wav")), Stage.REPLY)
    session_id = first[1].reply.session_id  # type: ignore[attr-defined]
    second = run(pipeline, TypedInput("3201000001"), Stage.REPLY, session_id)
    assert "128.50元" in second[0].reply.text  # type: ignore[attr-defined]


def test_silence_is_an_error_event_then_done(pipeline: VoicePipeline) -> None:
    events = run(pipeline, SpokenInput(Audio(np.zeros(32000, dtype=np.int16), 16000)), Stage.SPEECH)
    assert [type(e) for e in events] == [Failed, Done]
    assert events[0].kind == FailureKind.AUDIO and "没有听到" in events[0].detail  # type: ignore[attr-defined]


def test_a_handoff_is_its_own_event(pipeline: VoicePipeline) -> None:
    events = run(pipeline, TypedInput("转人工"), Stage.REPLY)
    assert [type(e) for e in events] == [Replied, HandedOff, Done]


def test_no_recogniser_is_an_error_not_a_crash(pipeline: VoicePipeline) -> None:
    pipeline.recognizer = None
    events = run(pipeline, SpokenInput(read_wav(AUDIO / "a01.wav")), Stage.REPLY)
    assert [type(e) for e in events] == [Failed, Done] and events[0].kind == FailureKind.NOT_READY  # type: ignore[attr-defined]


# --- settings that take effect through the pipeline ------------------------------------------


def test_server_replies_speak_at_the_configured_rate_and_slow_down_from_there(tmp_path: Path) -> None:
    import httpx

    settings = Settings(data_dir=tmp_path / "data", speech_enabled=False, demo=True, voice_rate=160,
                        voice_volume=0.8)
    with serving(settings) as live, httpx.Client(base_url=live.url, timeout=30) as http:
        first = http.post("/api/converse", json={"text": "营业厅几点开门"}).json()
        assert first["voice"] == {"rate": 160, "volume": 0.8}
        slower = http.post("/api/converse", json={"text": "说慢点", "session_id": first["session_id"]}).json()
        assert slower["voice"]["rate"] == 135


def _trailing_quiet_s(audio: Audio) -> float:
    loud = np.flatnonzero(np.abs(audio.samples.astype(np.int32)) > 200)
    return (len(audio.samples) - (loud[-1] + 1 if len(loud) else 0)) / audio.rate


def test_slower_speech_also_pauses_longer_between_sentences(pipeline: VoicePipeline) -> None:
    """说慢点 asks for more time to take each sentence in, not only slower words."""
    first = run(pipeline, TypedInput("我要开发票"), Stage.SPEECH)
    session_id = first[0].reply.session_id  # type: ignore[attr-defined]
    slower = run(pipeline, TypedInput("说慢点"), Stage.SPEECH, session_id)
    pauses = [[_trailing_quiet_s(e.audio) for e in events if isinstance(e, AudioChunk) and not e.last]
              for events in (first, slower)]
    assert pauses[0] and pauses[1], "the answer has more than one sentence"
    assert min(pauses[1]) >= max(pauses[0]) + 0.15, pauses


def test_end_silence_setting_reaches_whispers_own_trimming(whisper) -> None:  # type: ignore[no-untyped-def]
    speech = read_wav(AUDIO / "a01.wav").samples
    rate = 16000
    # A blip of voice (90 ms of the question's loudest vowel: too short to be speech on its own)
    # 0.8 s after the question. (A pure sine would be taken for a machine's tone and ignored.)
    loudest = int(np.argmax(np.convolve(speech.astype(np.float32) ** 2, np.ones(1440), mode="valid")))
    blip = speech[loudest:loudest + int(0.09 * rate)]
    audio = Audio(np.concatenate([speech, np.zeros(int(0.8 * rate), np.int16), blip,
                                  np.zeros(rate, np.int16)]), rate)
    quick = load_recognizer(Settings(data_dir=Path(whisper.model_dir).parent.parent, asr_engine="whisper",
                                     end_silence_s=0.5))
    patient_speech, quick_speech = whisper.speech_of(audio), quick.speech_of(audio)  # 1.2 s: the default
    assert patient_speech is not None and quick_speech is not None
    assert patient_speech.seconds > quick_speech.seconds + 0.5, "a shorter pause ends the speech before the blip"
    assert quick.transcribe(audio).text  # and the question itself is still heard


# --- Vosk: partials over the WebSocket, grammar from the knowledge base ----------------------


@pytest.fixture(scope="module")
def vosk_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("vosk-data")
    add_vosk_model(_korean_model_dir(), data_dir, language="ko", name="ko")
    return data_dir


@pytest.fixture(scope="module")
def vosk_server(vosk_data_dir: Path) -> Iterator[LiveServer]:
    port = free_port()
    settings = Settings(data_dir=vosk_data_dir, speech_enabled=True, asr_engine="vosk", demo=True,
                        public_url=f"http://127.0.0.1:{port}")
    live, server, thread = serve(settings, port)
    yield live
    server.should_exit = True
    thread.join(timeout=10)


def test_websocket_sends_partials_while_a_streaming_engine_listens(vosk_server: LiveServer,
                                                                    korean_speech: Audio) -> None:
    from websockets.sync.client import connect

    audio = np.concatenate([korean_speech.to(16000).samples, np.zeros(16000 * 2, dtype=np.int16)])
    messages = []
    with connect(vosk_server.url.replace("http", "ws") + "/ws/converse", open_timeout=30) as socket:
        socket.send(json.dumps({"type": "start"}))
        for start in range(0, len(audio), 320):
            socket.send(audio[start:start + 320].astype("<i2").tobytes())
        while not messages or messages[-1]["type"] == "partial":
            messages.append(json.loads(socket.recv(timeout=60)))
    partials = [m["text"] for m in messages if m["type"] == "partial"]
    assert partials and all(partials), messages
    assert messages[-1]["type"] == "reply" and messages[-1]["transcript"]


def test_websocket_speaks_the_answer_sentence_by_sentence_when_asked(live: LiveServer) -> None:
    from websockets.sync.client import connect

    speech = read_wav(AUDIO / "a13.wav").to(16000).samples
    audio = np.concatenate([speech, np.zeros(16000 * 2, dtype=np.int16)])
    with connect(live.url.replace("http", "ws") + "/ws/converse", open_timeout=30) as socket:
        socket.send(json.dumps({"type": "start", "speech": "chunks"}))
        for start in range(0, len(audio), 320):
            socket.send(audio[start:start + 320].astype("<i2").tobytes())
        reply = json.loads(socket.recv(timeout=60))
        chunks = []
        while not chunks or not chunks[-1][0]["last"]:
            header = json.loads(socket.recv(timeout=60))
            chunks.append((header, read_wav(socket.recv(timeout=60))))
    assert reply["type"] == "reply" and reply["reply"]["text"]
    assert [header["index"] for header, _ in chunks] == list(range(len(chunks)))
    assert all(header["type"] == "audio_chunk" and wav.rate == header["rate"] == 16000 and wav.seconds > 0.5
               for header, wav in chunks)


def test_a_streaming_listener_gives_partials_and_whisper_gives_none(vosk_data_dir: Path, whisper,  # type: ignore[no-untyped-def]
                                                                     korean_speech: Audio) -> None:
    vosk = load_recognizer(Settings(data_dir=vosk_data_dir, asr_engine="vosk"))

    async def listen(recognizer) -> tuple[list[object], list[SpokenInput]]:  # type: ignore[no-untyped-def]
        listener = Listener(recognizer, EndpointConfig())
        events: list[object] = []
        heard: list[SpokenInput] = []
        audio = np.concatenate([korean_speech.to(16000).samples, np.zeros(16000 * 2, dtype=np.int16)])
        for start in range(0, len(audio), 320):
            result = await listener.hear(Audio(audio[start:start + 320], 16000))
            events.extend(result.events)
            heard.extend([result.utterance] if result.utterance else [])
        return events, heard

    vosk_events, vosk_heard = anyio.run(listen, vosk)
    assert any(isinstance(e, Partial) and e.text for e in vosk_events) and len(vosk_heard) == 1
    whisper_events, whisper_heard = anyio.run(listen, whisper)
    assert not any(isinstance(e, Partial) for e in whisper_events) and len(whisper_heard) == 1


def listen_to(listener: Listener, audio: Audio) -> list[SpokenInput]:
    """Feed the audio in 20 ms frames, as a socket would; every utterance the Listener finishes."""
    async def listen() -> list[SpokenInput]:
        heard = []
        for start in range(0, len(audio.samples), audio.rate // 50):
            result = await listener.hear(Audio(audio.samples[start:start + audio.rate // 50], audio.rate))
            heard.extend([result.utterance] if result.utterance else [])
        return heard

    return anyio.run(listen)


def transcript_of(pipeline: VoicePipeline, utterance: SpokenInput) -> str:
    transcribed = [e for e in run(pipeline, utterance, Stage.REPLY) if isinstance(e, Transcribed)]
    assert len(transcribed) == 1
    return transcribed[0].transcript.text


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(16000 * seconds), dtype=np.int16)


def test_speculative_decoding_keeps_the_transcript_when_the_caller_stays_silent(pipeline: VoicePipeline,
                                                                               whisper) -> None:  # type: ignore[no-untyped-def]
    question = read_wav(AUDIO / "a04.wav")
    audio = Audio(np.concatenate([silence(0.5), question.samples, silence(2.0)]), 16000)
    speculative = listen_to(Listener(whisper, EndpointConfig()), audio)
    plain = listen_to(Listener(whisper, EndpointConfig(), speculate=False), audio)
    assert len(speculative) == len(plain) == 1
    assert speculative[0].stream is not None  # decoding had started before the end-pointer decided
    assert transcript_of(pipeline, speculative[0]) == transcript_of(pipeline, plain[0])


def test_a_pause_mid_sentence_throws_the_early_decode_away(pipeline: VoicePipeline, whisper) -> None:  # type: ignore[no-untyped-def]
    # 我想交电费 … 我家电费还剩多少钱, without the fixtures' 0.3 s of silence before and after
    first, second = (Audio(read_wav(AUDIO / name).samples[4800:-4800], 16000) for name in ("a01.wav", "a04.wav"))
    audio = Audio(np.concatenate([first.samples, silence(0.6), second.samples, silence(2.0)]), 16000)
    heard = listen_to(Listener(whisper, EndpointConfig()), audio)
    assert len(heard) == 1 and heard[0].audio.seconds > first.seconds + 0.6 + 1.0
    whole = transcript_of(pipeline, heard[0])
    assert whole == whisper.transcribe(heard[0].audio).text
    assert len(whole) > len(whisper.transcribe(first).text) + 4  # the second half is in it


def test_an_understood_request_ends_before_the_full_silence(whisper, knowledge: Knowledge) -> None:  # type: ignore[no-untyped-def]
    """我家电费还剩多少钱 is a whole request: once its early decode is understood, 0.7 s of quiet is enough."""
    question = Audio(read_wav(AUDIO / "a04.wav").samples[:-4800], 16000)  # ends where the speech ends
    frame = 320

    async def seconds_of_silence_until_heard(understood) -> float:  # type: ignore[no-untyped-def]
        listener = Listener(whisper, EndpointConfig(), understood=understood)
        for start in range(0, len(question.samples), frame):
            assert (await listener.hear(Audio(question.samples[start:start + frame], 16000))).utterance is None
        quiet = np.zeros(frame, dtype=np.int16)
        for index in range(1, 150):
            if index == 25 and listener._speculation is not None:  # 0.5 s: let the early decode finish first
                await anyio.to_thread.run_sync(listener._speculation.finish)
            heard = await listener.hear(Audio(quiet, 16000))
            if heard.utterance is not None:
                assert heard.utterance.stream is not None  # the early decode is the transcript
                return index * frame / 16000
        raise AssertionError("never ended")

    waited, understood = (anyio.run(seconds_of_silence_until_heard, test) for test in (None, understood_by(knowledge)))
    assert waited > 1.1 and understood < 0.85, (waited, understood)


def _paused_mid_request(listener: Listener) -> None:
    """我家电费还剩多少钱 then 0.4 s of quiet: the pause at which the Listener starts decoding early."""
    question = Audio(read_wav(AUDIO / "a04.wav").samples[:-4800], 16000)
    audio = Audio(np.concatenate([question.samples, silence(0.4)]), 16000)
    assert listen_to(listener, audio) == []


def test_a_caller_who_leaves_during_a_pause_costs_no_decode(whisper) -> None:  # type: ignore[no-untyped-def]
    listener = Listener(whisper, EndpointConfig())
    with whisper._lock:  # the recogniser is busy with another customer's question meanwhile
        _paused_mid_request(listener)
        speculation = listener._speculation
        assert speculation is not None
        listener.close()  # the socket or the call is gone
    with pytest.raises(RecognitionStopped):
        speculation.finish()


def test_an_early_decode_waiting_for_a_departed_caller_is_dropped(pipeline: VoicePipeline,
                                                                   whisper) -> None:  # type: ignore[no-untyped-def]
    listener = Listener(whisper, EndpointConfig())
    departed = threading.Event()
    with whisper._lock:
        _paused_mid_request(listener)
        utterance = anyio.run(listener.finish).utterance
        assert utterance is not None and utterance.stream is not None
        departed.set()  # the customer left before the recogniser was free
        assert list(run(pipeline, utterance, Stage.REPLY, departed=departed)) == []
    with pytest.raises(RecognitionStopped):
        utterance.stream.finish()


def _add_korean_intent(engine) -> None:  # type: ignore[no-untyped-def]
    with Session(engine) as db:  # an admin's intent in the language of the test model
        db.add(Intent(id="korean_greeting", title="问候", examples=[" ".join(KOREAN_WORDS[:2])],
                      keywords=list(KOREAN_WORDS[2:]), answer_display="您好", action="faq", origin="admin"))
        db.commit()


def test_vosk_grammar_comes_from_the_knowledge_base(vosk_data_dir: Path, engine, korean_speech: Audio) -> None:  # type: ignore[no-untyped-def]
    _add_korean_intent(engine)
    vocabulary = speech_vocabulary(Knowledge(engine))
    settings = Settings(data_dir=vosk_data_dir, asr_engine="vosk", vosk_grammar=True)
    restricted = load_recognizer(settings, grammar_phrases=vocabulary)
    assert set(restricted.grammar) == {"안녕하세요 감사합니다", "전기", "요금"}  # Chinese phrases the model cannot spell are left out
    heard = restricted.transcribe(korean_speech).text.split()
    assert heard and set(heard) <= set(KOREAN_WORDS)
    free = load_recognizer(Settings(data_dir=vosk_data_dir, asr_engine="vosk", vosk_grammar=False),
                           grammar_phrases=vocabulary)
    assert free.grammar is None


def test_the_server_holds_vosk_to_its_knowledge_base(vosk_data_dir: Path, tmp_path: Path) -> None:
    from knowledge_base.db import make_engine
    from knowledge_base.knowledge_version import bump_knowledge_version
    from knowledge_base.seed import seed_database

    port = free_port()
    settings = Settings(data_dir=vosk_data_dir, database_url=f"sqlite:///{tmp_path / 'grammar.db'}",
                        speech_enabled=True, asr_engine="vosk", vosk_grammar=True, demo=True,
                        public_url=f"http://127.0.0.1:{port}")
    engine = make_engine(settings.resolved_database_url)
    seed_database(engine)
    _add_korean_intent(engine)
    engine.dispose()
    live, server, thread = serve(settings, port)
    try:
        assert set(live.app.state.recognizer.grammar) == {"안녕하세요 감사합니다", "전기", "요금"}
        # An admin's edit through another worker: only the database moves, and this worker's grammar follows.
        with Session(live.app.state.engine) as db:
            intent = db.get(Intent, "korean_greeting")
            intent.examples = [*intent.examples, "감사합니다 전기"]
            db.add(intent)
            bump_knowledge_version(db)
            db.commit()
        assert set(live.app.state.recognizer.grammar) == {"안녕하세요 감사합니다", "감사합니다 전기", "전기", "요금"}
    finally:
        server.should_exit = True
        thread.join(timeout=10)


# --- the command line ------------------------------------------------------------------------


def test_ask_audio_goes_through_the_dialogue(tmp_path: Path) -> None:
    import os

    env = {**os.environ, "XIAODIAN_DATA_DIR": str(tmp_path / "var"), "XIAODIAN_DEMO": "true",
           "XIAODIAN_VOICE_RATE": "150"}
    out = tmp_path / "answer.wav"
    result = subprocess.run([str(XIAODIAN), "ask", "--audio", str(AUDIO / "a01.wav"), "--json", "-o", str(out)],
                            env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    # 我想交电费 with no account: the dialogue asks for the 户号 (a bare FAQ answer would not).
    assert record["intent"] == "pay_bill" and "户号" in record["answer"] and record["session_id"]
    assert record["voice"]["rate"] == 150 and out.stat().st_size > 10_000


# --- every front end goes through the pipeline ------------------------------------------------

REPO = Path(__file__).resolve().parent.parent
FRONT_ENDS = ("server", "kiosk", "assistant/cli.py")
# The turn runners front ends hand to their VoicePipeline: the only code of theirs that may run a
# conversation turn (``ConversationService.handle``) itself.
TURN_RUNNERS = {"server/routes/customer.py": "run_turn", "assistant/cli.py": "_conversation_turns"}


def turns_outside_the_pipeline(root: Path = REPO) -> list[str]:
    """Where front-end code reaches ``.handle`` other than in a turn runner, or uses a turn runner
    other than in a function that builds a ``VoicePipeline`` with it."""
    paths = [path for part in FRONT_ENDS for path in
             (sorted((root / part).rglob("*.py")) if (root / part).is_dir() else [root / part]) if path.exists()]
    found = []
    for path in paths:
        where = path.relative_to(root).as_posix()
        for top in ast.parse(path.read_text(encoding="utf-8"), filename=str(path)).body:
            name = getattr(top, "name", "<module>")
            nodes = list(ast.walk(top))
            builds_a_pipeline = any(isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                                    and node.func.id == "VoicePipeline" for node in nodes)
            for node in nodes:
                if isinstance(node, ast.Attribute) and node.attr == "handle" and TURN_RUNNERS.get(where) != name:
                    found.append(f"{where}:{node.lineno} {name} reaches .handle")
                elif (isinstance(node, ast.Name) and node.id in TURN_RUNNERS.values() and not builds_a_pipeline
                      and node.id != name):
                    found.append(f"{where}:{node.lineno} {name} runs {node.id}")
    return found


def test_every_front_end_runs_its_turns_through_the_pipeline() -> None:
    assert turns_outside_the_pipeline() == []


def test_the_check_sees_turns_run_beside_the_pipeline(tmp_path: Path) -> None:
    (tmp_path / "server" / "routes").mkdir(parents=True)
    (tmp_path / "server" / "routes" / "customer.py").write_text(
        "async def run_turn(state, text):\n    return state.services.conversations.handle(None, text)\n"
        "def _pipeline(state):\n    return VoicePipeline(lambda *a: run_turn(state, *a))\n"
        "async def converse(state, text):\n    return await run_turn(state, text)\n", encoding="utf-8")
    (tmp_path / "server" / "phone.py").write_text(
        "def answer(services, text):\n    return anyio.to_thread.run_sync(services.conversations.handle, None, text)\n",
        encoding="utf-8")
    assert turns_outside_the_pipeline(tmp_path) == ["server/phone.py:2 answer reaches .handle",
                                                    "server/routes/customer.py:6 converse runs run_turn"]


def test_a_pipeline_without_recogniser_takes_typed_text_only(pipeline: VoicePipeline) -> None:
    typed_only = VoicePipeline(pipeline.run_turn)
    assert [type(e) for e in run(typed_only, TypedInput("营业厅几点开门"), Stage.REPLY)] == [Replied, Done]
    events = run(typed_only, SpokenInput(read_wav(AUDIO / "a01.wav")), Stage.REPLY)
    assert [type(e) for e in events] == [Failed, Done] and events[0].kind == FailureKind.NOT_READY  # type: ignore[attr-defined]
