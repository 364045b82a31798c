"""``xiaodian kiosk``: the hall's microphone/speaker loop, run as an operator runs it (real
subprocesses) against a real service with Whisper and the natural voice.

This machine has no sound card, so "no device" is tested for real; a conversation is fed from WAV
files and its spoken answers come back as WAV files, which Whisper hears again.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pypinyin import lazy_pinyin
from rapidfuzz import fuzz
from sqlmodel import Session, select

from assistant.kiosk_devices import add_device
from assistant.speech.audio import read_wav
from knowledge_base.models import TurnLog
from knowledge_base.settings import Settings
from tests.browser_fixtures import ARTIFACTS, browser, new_page  # noqa: F401
from tests.server_fixtures import LiveServer, free_port, serving

XIAODIAN = str(Path(sys.executable).parent / "xiaodian")
AUDIO = Path(__file__).resolve().parent.parent / "fixtures" / "audio" / "16k"
DEVICE = "test-hall-1"


def run_cli(*args: str, data_dir: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XIAODIAN_DATA_DIR": str(data_dir), "XIAODIAN_DEMO": "true"}
    return subprocess.run([XIAODIAN, *args], capture_output=True, text=True, timeout=timeout, env=env)


def has_sound_devices() -> bool:
    try:
        import sounddevice
    except (ImportError, OSError):
        return False
    return len(sounddevice.query_devices()) > 0


@pytest.mark.parametrize("args", [["kiosk"], ["kiosk", "run"], ["kiosk", "devices"],
                                  ["kiosk", "run", "--output", "answers"]], ids=" ".join)
def test_without_a_sound_device_it_says_so_in_chinese_and_fails(args: list[str], tmp_path: Path) -> None:
    if has_sound_devices():
        pytest.skip("this machine has a sound device; the no-device path is tested where there is none")
    result = run_cli(*args, data_dir=tmp_path, timeout=60)
    said = result.stdout + result.stderr
    assert result.returncode == 3, said
    assert "没有找到" in result.stderr and "--input" in result.stderr  # and what to do instead
    assert "Traceback" not in said and "Error" not in said


def pinyin_similarity(heard: str, meant: str) -> float:
    """How alike two sentences sound (0-100): Whisper's homophones (公店 for 供电) count as right."""
    def sounds(text: str) -> str:
        return " ".join(syllable for syllable in lazy_pinyin(text) if syllable.isalpha())

    return fuzz.ratio(sounds(heard), sounds(meant))


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, Path]]:
    """The service with Whisper and the natural voice (espeak-ng comes back from Whisper as noise),
    and a registered kiosk whose private key is in the returned file."""
    data_dir = tmp_path_factory.mktemp("kiosk-device")
    port = free_port()
    settings = Settings(data_dir=data_dir / "data", speech_enabled=True, demo=True, voice="natural",
                        public_url=f"http://127.0.0.1:{port}")
    with serving(settings, port) as live:
        # Every fixed answer made ahead in the natural voice takes minutes of this machine: the loop needs
        # none of them (its answers are made when asked), only the recogniser.
        live.app.state.speech_warmer.stop()
        deadline = time.monotonic() + 180
        while not all(live.app.state.readiness.values()):
            assert time.monotonic() < deadline, f"the service never became ready: {live.app.state.readiness}"
            time.sleep(0.5)
        key_file = data_dir / "kiosk.pem"
        add_device(live.app.state.engine, DEVICE, key_file, "江都营业厅")
        yield live, key_file


@pytest.mark.slow
def test_a_spoken_conversation_from_wav_files_to_spoken_answers_on_disk(service, tmp_path: Path) -> None:
    live, _ = service
    out = tmp_path / "answers"
    result = run_cli("kiosk", "run", "--server", live.url, "--input", str(AUDIO / "a23.wav"),
                     "--input", str(AUDIO / "a33.wav"), "--output", str(out), "--json", data_dir=tmp_path, timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr
    turns = [json.loads(line) for line in result.stdout.splitlines()]
    assert [turn["intent"] for turn in turns] == ["hall_info", "repeat"]
    assert json.loads((out / "turns.json").read_text(encoding="utf-8")) == turns
    assert "龙城路" in turns[0]["answer"] and turns[1]["answer"].startswith("好的，我再说一遍")
    with Session(live.app.state.engine) as db:  # the hall's kiosk, counted as such in quality review
        channels = db.exec(select(TurnLog.channel).where(TurnLog.session_id == turns[0]["session_id"])).all()
    assert channels == ["kiosk", "kiosk"], channels
    # The answers were spoken: Whisper hears each WAV as the answer that was meant.
    recognizer = live.app.state.recognizer
    for turn in turns:
        heard = recognizer.transcribe(read_wav(turn["wav"])).text
        assert pinyin_similarity(heard, turn["answer"]) >= 70, (heard, turn["answer"])
    figures = [turn["end_of_speech_to_first_audio_s"] for turn in turns]
    assert all(isinstance(seconds, float) and seconds > 0 for seconds in figures)
    print("end of speech to first audio (s):", figures)


def screen_of(live: LiveServer, key: str) -> httpx.Response:
    return httpx.get(f"{live.url}/api/kiosk/screen", params={"device": DEVICE},
                     headers={"X-Kiosk-Screen-Key": key}, timeout=10)


@pytest.mark.slow
def test_a_card_read_from_the_local_reader_verifies_and_shows_on_the_page(service, browser, tmp_path: Path) -> None:  # noqa: F811
    live, key_file = service
    # The kiosk page, opened at the address the launcher uses, follows the device loop.
    page_url = run_cli("kiosk", "page-url", "--device", DEVICE, "--key-file", str(key_file), "--server", live.url,
                       data_dir=tmp_path).stdout.strip()
    screen_key = page_url.split("#screen=")[1]
    assert screen_of(live, screen_key + "x").status_code == 401  # another key reads nothing
    page = new_page(browser, live, 1280, 800)
    page.goto(page_url)
    socket_path = tmp_path / "card.sock"
    out = tmp_path / "answers"
    env = {**os.environ, "XIAODIAN_DATA_DIR": str(tmp_path), "XIAODIAN_DEMO": "true"}
    # The customer puts the card in, then asks about their balance (a verified-only answer).
    loop = subprocess.Popen([XIAODIAN, "kiosk", "run", "--server", live.url, "--device", DEVICE, "--key-file",
                             str(key_file), "--card-socket", str(socket_path), "--lead-in", "12",
                             "--input", str(AUDIO / "a04.wav"), "--output", str(out), "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 30
        while not socket_path.exists():
            assert loop.poll() is None and time.monotonic() < deadline, loop.communicate()
            time.sleep(0.1)
        assert socket_path.stat().st_mode & 0o077 == 0  # only the kiosk's user may hand over card reads
        reader = run_cli("kiosk", "card", "3201000001", "--socket", str(socket_path), data_dir=tmp_path)
        assert reader.stdout.strip() == "已识别：张*华", reader.stdout + reader.stderr
        page.wait_for_selector("text=已识别：张*华")
        stdout, stderr = loop.communicate(timeout=120)
    finally:
        if loop.poll() is None:
            loop.kill()
    assert loop.returncode == 0, stdout + stderr
    turn = json.loads(stdout.splitlines()[0])
    assert turn["intent"] == "query_balance" and "128.50元" in turn["answer"], turn  # verified by the card
    screen = screen_of(live, screen_key).json()
    assert screen["identified"] == "已识别：张*华" and screen["session_id"] == turn["session_id"]
    assert screen["reply"]["text"] == turn["answer"] and "speech_url" not in screen["reply"]
    page.wait_for_function("() => document.getElementById('answer').innerText.includes('128.50')")
    page.screenshot(path=str(ARTIFACTS / "kiosk-device-card.png"), full_page=True)
    # 重新开始 on the screen ends the device's conversation too: the next customer never sees this name.
    page.click("#restart")
    page.wait_for_function("() => !document.body.innerText.includes('张*华')")
    deadline = time.monotonic() + 10
    while screen_of(live, screen_key).json()["session_id"] != "":
        assert time.monotonic() < deadline, screen_of(live, screen_key).json()
        time.sleep(0.2)
    assert screen_of(live, screen_key).json().get("identified") == ""


def test_a_card_read_not_signed_by_the_kiosk_is_refused(service) -> None:
    live, _ = service
    response = httpx.post(f"{live.url}/api/kiosk/card", json={"card": {
        "device": DEVICE, "account": "3201000001", "issued_at": int(time.time()), "nonce": "0123456789abcdef",
        "signature": "A" * 88}}, timeout=10)
    assert response.status_code == 403 and "读卡" in response.json()["detail"]


def test_the_screen_shows_only_payment_codes_this_service_signed(service) -> None:
    from kiosk.device import DeviceIdentity

    live, key_file = service
    key = DeviceIdentity.load(DEVICE, key_file).screen_key
    ours = live.app.state.services.payments.create_link("3201000001").url
    for pay_url, shown in ((f"{live.url}/pay/abc.123.forged", False), ("https://pay.example.com/qr", False),
                           (ours, True)):
        response = httpx.post(f"{live.url}/api/kiosk/screen", headers={"X-Kiosk-Screen-Key": key}, timeout=10, json={
            "device": DEVICE, "session_id": "s1", "state": {"reply": {
                "text": "请扫码", "pay_url": pay_url, "pay_qr_svg": "<svg><a href='https://pay.example.com'/></svg>"}}})
        assert response.status_code == 200
        reply = screen_of(live, key).json()["reply"]
        assert (reply["pay_url"] == pay_url) is shown and "example.com" not in (reply["pay_qr_svg"] or "")
        assert (reply["pay_qr_svg"] or "").startswith("<svg") is shown
    assert httpx.post(f"{live.url}/api/kiosk/screen", headers={"X-Kiosk-Screen-Key": key + "x"}, timeout=10,
                      json={"device": DEVICE, "state": {}}).status_code == 401
