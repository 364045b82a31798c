"""Barge-in: the customer starting to speak stops 小电's answer at once, and room silence does not.

No speaker exists on this machine, so the speaker is a FAKE that "plays" until stopped (the only
part that cannot exist here); the loop's own end-pointing hears a real fixture question.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np

from assistant.speech.audio import Audio, read_wav
from kiosk.device import FRAME_SAMPLES, RATE, DeviceLoop, LoopOptions, Screen

AUDIO = Path(__file__).resolve().parent.parent / "fixtures" / "audio" / "16k"


class FakeSpeaker:
    """FAKE speaker (no sound card here): an answer is "playing" until ``stop``."""

    def __init__(self) -> None:
        self.playing = True
        self.stopped_after_s: float | None = None
        self.heard_s = 0.0

    def play(self, audio: Audio, last: bool) -> None:
        self.playing = True

    def stop(self) -> None:
        if self.playing:
            self.stopped_after_s = self.heard_s
        self.playing = False


async def hear(loop: DeviceLoop, speaker: FakeSpeaker, samples: np.ndarray) -> None:
    loop.screen = Screen(None, None)  # no device identity: the screen is left alone
    for start in range(0, len(samples), FRAME_SAMPLES):
        frame = samples[start:start + FRAME_SAMPLES]
        await loop._hear(np.pad(frame, (0, FRAME_SAMPLES - len(frame))))  # noqa: SLF001
        speaker.heard_s += FRAME_SAMPLES / RATE


def run(samples: np.ndarray, barge_in: bool = True) -> FakeSpeaker:
    speaker = FakeSpeaker()
    loop = DeviceLoop(LoopOptions(server="http://127.0.0.1:1", barge_in=barge_in), source=None, sink=speaker)  # type: ignore[arg-type]
    asyncio.run(hear(loop, speaker, samples))
    return speaker


def test_speaking_stops_the_answer_within_a_moment_of_the_first_words() -> None:
    question = read_wav(AUDIO / "a22.wav").to(RATE).samples
    silence = np.zeros(RATE, dtype=np.int16)
    speaker = run(np.concatenate([silence, question]))
    # The fixture's voice starts 0.3 s into it: stopped a fraction of a second after the first words.
    assert speaker.stopped_after_s is not None and 1.3 <= speaker.stopped_after_s <= 1.8, speaker.stopped_after_s


def test_room_silence_and_a_disabled_barge_in_let_the_answer_play() -> None:
    assert run(np.zeros(3 * RATE, dtype=np.int16)).playing
    assert run(read_wav(AUDIO / "a22.wav").to(RATE).samples, barge_in=False).playing
