"""The command line as an operator or a measuring script uses it (real processes)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

XIAODIAN = Path(sys.executable).with_name("xiaodian")


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    # Demo mode: the commands build services with the default (FAKE sandbox) payment provider.
    return {**os.environ, "XIAODIAN_DATA_DIR": str(tmp_path / "var"), "XIAODIAN_DEMO": "true"}


def run(args: list[str], env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(XIAODIAN), *args], input=stdin, env=env, capture_output=True, text=True,
                          timeout=120, check=False)


def test_db_init_twice(cli_env: dict[str, str]) -> None:
    first = run(["db", "init"], cli_env)
    assert first.returncode == 0, first.stderr
    assert "新增 intent: 3" in first.stdout  # 30-odd intents added
    second = run(["db", "init"], cli_env)
    assert second.returncode == 0 and "没有改动" in second.stdout


def test_ask_prints_intent_confidence_and_answer(cli_env: dict[str, str]) -> None:
    result = run(["ask", "我要交电费", "--account", "3201000001"], cli_env)
    assert result.returncode == 0, result.stderr
    assert "pay_bill" in result.stdout and "置信度" in result.stdout and "128.50元" in result.stdout


def test_intents_match_json_contract(cli_env: dict[str, str]) -> None:
    lines = ["我要交电费", "用三百度电要交多少钱", "今天天气怎么样", "", "😀", "电" * 10_000]
    result = run(["intents", "match", "--json"], cli_env, "\n".join(lines) + "\n")
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(records) == len(lines)
    for record, line in zip(records, lines):
        assert set(record) == {"text", "intent", "confidence", "decision", "slots", "candidates"}
        assert record["text"] == line
        assert 0 <= record["confidence"] <= 1
        assert record["decision"] in ("accept", "confirm", "none")
        assert all(isinstance(i, str) and 0 <= s <= 1 for i, s in record["candidates"])
    assert records[0]["intent"] == "pay_bill"
    assert records[1]["intent"] == "bill_estimate" and records[1]["slots"] == {"kwh": "300"}
    assert [r["intent"] for r in records[2:5]] == ["none", "none", "none"]


def test_intents_match_plain_lines(cli_env: dict[str, str]) -> None:
    result = run(["intents", "match"], cli_env, "转人工\n")
    assert result.stdout.split("\t")[0] == "human_agent"


def test_chat_reads_a_scripted_conversation(cli_env: dict[str, str]) -> None:
    script = "上个月电费多少\n营业厅在哪\n再见\n满意\n这句不会被读到\n"
    result = run(["chat", "--account", "3201000001"], cli_env, script)
    assert result.returncode == 0, result.stderr
    replies = [line for line in result.stdout.splitlines() if line.startswith("小电：")]
    assert len(replies) == 4
    assert "128.50元" in replies[0] and "满意" in replies[2] and "再见" in replies[3]


def test_chat_json_lines(cli_env: dict[str, str]) -> None:
    result = run(["chat", "--json"], cli_env, "我要交电费\n3201000001\n对\n")
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert {"text", "intent", "decision", "pay_url", "handoff", "end"} <= set(records[0])
    assert records[1]["decision"] == "confirm" and "128.50元" in records[1]["text"]
    assert records[2]["pay_url"].startswith("http://127.0.0.1:8000/pay/")


def test_a_typed_chat_starts_without_loading_speech(cli_env: dict[str, str]) -> None:
    # Recognition and the voice (scipy's resampling, cn2an) took 0.7 s of every typed chat's start;
    # a typed line goes through the voice pipeline without them.
    probe = ("import sys\n"
             "from assistant.cli import app\n"
             "app(['chat', '--json'], standalone_mode=False)\n"
             "print(sorted(m for m in sys.modules if m == 'scipy.signal' or m.startswith('assistant.speech')))\n")
    result = subprocess.run([sys.executable, "-c", probe], input="我要交电费\n3201000001\n", env=cli_env,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    *replies, loaded = result.stdout.splitlines()
    assert "128.50元" in json.loads(replies[1])["text"]  # the second line was read in the first one's context
    assert loaded == "[]"

FIXTURES = Path(__file__).parent / "fixtures" / "audio"


def test_transcribe_json_lines(cli_env: dict[str, str], tmp_path: Path) -> None:
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF....WAVEjunk")
    result = run(["transcribe", str(FIXTURES / "16k" / "a01.wav"), str(broken), "--json"], cli_env)
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert records[0]["file"].endswith("a01.wav") and records[0]["text"]
    assert records[0]["seconds_audio"] > 0.5 and records[0]["seconds_decode"] > 0
    assert records[1]["text"] == "" and "WAV" in records[1]["error"]
    assert result.returncode == 1  # one file failed, and the caller is told


def test_say_writes_a_wav_at_both_rates(cli_env: dict[str, str], tmp_path: Path) -> None:
    import wave

    for flag, rate in (([], 16000), (["--rate-8k"], 8000)):
        out = tmp_path / f"say{rate}.wav"
        result = run(["say", "您好，您上个月的电费是128.50元。", "-o", str(out), *flag], cli_env)
        assert result.returncode == 0, result.stderr
        with wave.open(str(out)) as reader:
            assert reader.getframerate() == rate and reader.getnchannels() == 1
            assert 2.0 < reader.getnframes() / rate < 20.0


def test_ask_with_audio_answers_aloud(cli_env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "answer.wav"
    wav = FIXTURES / "16k" / "a01.wav"  # 我想交电费
    result = run(["ask", "--audio", str(wav), "--json", "-o", str(out), "--account", "3201000001"], cli_env)
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["intent"] == "pay_bill" and record["transcript"]
    assert "128.50元" in record["answer"] and out.stat().st_size > 10_000


def test_models_add_vosk_refuses_a_folder_that_is_not_a_model(cli_env: dict[str, str], tmp_path: Path) -> None:
    folder = tmp_path / "not-a-model"
    folder.mkdir()
    (folder / "readme.txt").write_text("hello")
    result = run(["models", "add-vosk", str(folder)], cli_env)
    assert result.returncode == 2 and "模型" in result.stderr
