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
    return {**os.environ, "XIAODIAN_DATA_DIR": str(tmp_path / "var")}


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
    result = run(["chat", "--account", "3201000001"], cli_env, "上个月电费多少\n营业厅在哪\n再见\n这句不会被读到\n")
    assert result.returncode == 0, result.stderr
    replies = [line for line in result.stdout.splitlines() if line.startswith("小电：")]
    assert len(replies) == 3
    assert "128.50元" in replies[0] and "再见" in replies[2]
