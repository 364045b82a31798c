"""Payment links name the address really served (issue 13: a link to :8000 was offered while the
service ran on :18532): ``xiaodian serve`` derives it, or refuses a mismatch with a clear message."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from assistant.public_address import PublicAddressMismatch, public_address
from tests.server_fixtures import free_port, stop_process, wait_until_ready

XIAODIAN = str(Path(sys.executable).parent / "xiaodian")


def nothing_listens(host: str, port: int) -> bool:
    return False


@pytest.mark.parametrize(("configured", "host", "port", "expected"), [
    (None, "127.0.0.1", 18532, "http://127.0.0.1:18532"),  # unset: the address served
    (None, "192.168.1.5", 8000, "http://192.168.1.5:8000"),
    ("http://127.0.0.1:18532/", "127.0.0.1", 18532, "http://127.0.0.1:18532"),
    ("http://192.168.1.5:8000", "0.0.0.0", 8000, "http://192.168.1.5:8000"),
    ("https://pay.example.cn", "127.0.0.1", 8000, "https://pay.example.cn"),  # a proxy's name: believed
])
def test_the_public_address_that_can_be_right_is_used(configured: str | None, host: str, port: int,
                                                      expected: str) -> None:
    assert public_address(configured, host, port, listening=nothing_listens) == expected


@pytest.mark.parametrize(("configured", "host", "port", "said"), [
    ("http://127.0.0.1:8000", "127.0.0.1", 18532, "端口 18532"),  # the case
    (None, "0.0.0.0", 8000, "XIAODIAN_PUBLIC_URL"),  # serving the hall, no address phones can use
    ("http://127.0.0.1:8000", "0.0.0.0", 8000, "客户的手机打不开"),
    ("http://192.168.1.5:8000", "127.0.0.1", 8000, "只在本机"),
    ("pay.example.cn", "127.0.0.1", 8000, "不是网址"),
])
def test_a_public_address_that_cannot_work_is_refused(configured: str | None, host: str, port: int, said: str) -> None:
    with pytest.raises(PublicAddressMismatch) as refused:
        public_address(configured, host, port, listening=nothing_listens)
    assert said in str(refused.value)


def test_a_load_balancer_already_answering_at_the_public_address_is_believed() -> None:
    assert public_address("http://127.0.0.1:9000", "127.0.0.1", 9001,
                          listening=lambda host, port: (host, port) == ("127.0.0.1", 9000)) == "http://127.0.0.1:9000"


def serve(port: int, tmp_path: Path, **env: str) -> subprocess.Popen[str]:
    inherited = {name: value for name, value in os.environ.items() if name != "XIAODIAN_PUBLIC_URL"}
    environment = {**inherited, "XIAODIAN_DATA_DIR": str(tmp_path / "data"), "XIAODIAN_DEMO": "true",
                   "XIAODIAN_SPEECH_ENABLED": "false", **env}
    return subprocess.Popen([XIAODIAN, "serve", "--port", str(port)], env=environment, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def test_serve_refuses_a_port_that_is_not_the_public_one(tmp_path: Path) -> None:
    port = free_port()
    process = serve(port, tmp_path, XIAODIAN_PUBLIC_URL=f"http://127.0.0.1:{free_port()}")
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 2, output
    assert "无法启动" in output and f"端口 {port}" in output and "Traceback" not in output


def test_payment_links_point_where_the_service_runs_by_default(tmp_path: Path) -> None:
    port = free_port()
    process = serve(port, tmp_path)
    output: list[str] = []
    try:
        wait_until_ready(f"http://127.0.0.1:{port}", process, lambda: "".join(output), timeout_s=120)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            session = None
            for text in ("我要交电费", "3201000001", "对"):
                reply = http.post("/api/converse", json={"text": text, "session_id": session,
                                                         "channel": "kiosk"}).json()
                session = reply["session_id"]
        assert reply["pay_url"].startswith(f"http://127.0.0.1:{port}/pay/"), reply
        assert "128.50" in httpx.get(reply["pay_url"], timeout=30).text  # and it opens
    finally:
        stop_process(process)
