"""A wheel built from the repository, installed into a fresh venv, serves every page.

Pages and assets are package data found through the packages, so this catches a
template or script that works from the source tree but is missing from the wheel.
The new venv borrows the test venv's installed dependencies through a path file
(nothing is downloaded), but not its editable install of 小电: the code that runs is
the wheel's.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.server_fixtures import free_port, stop_process, wait_until_ready

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("assistant", "intents", "knowledge_base", "kiosk", "server")
_GENERATED_PASSWORD = re.compile(r"密码：(\S+)（")

pytestmark = pytest.mark.slow


def _build_wheel(work: Path) -> Path:
    """Build from a clean copy, so the build leaves nothing in the working tree."""
    source = work / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    for package in PACKAGES:
        shutil.copytree(REPO / package, source / package, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
                    str(source), "-w", str(work / "dist")], check=True)
    return next((work / "dist").glob("xiaodian-*.whl"))


def _venv_with(wheel: Path, work: Path) -> Path:
    """A new venv holding the wheel; the dependencies come from this venv's site-packages."""
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index",
                    "--quiet", str(wheel)], check=True)
    site_packages = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                                        check=True, capture_output=True, text=True).stdout.strip())
    # A plain path line: the dependencies become importable, but the .pth files there (among them
    # the editable install of this repository) are not run, and the wheel's copy comes first.
    (site_packages / "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return venv


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("wheel")
    return _venv_with(_build_wheel(work), work)


@dataclass(frozen=True)
class Served:
    url: str
    env: dict[str, str]  # of the server, for the `xiaodian` commands run beside it
    folder: Path  # its working folder: no source of 小电 in it


@pytest.fixture(scope="module")
def served(installed: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """`xiaodian serve` of the installed wheel, run from a folder with no source in it."""
    home = tmp_path_factory.mktemp("served")
    env = {key: value for key, value in os.environ.items() if not key.startswith("XIAODIAN_")}
    env.update(XIAODIAN_DATA_DIR=str(home / "data"), XIAODIAN_DEMO="true", XIAODIAN_SPEECH_ENABLED="false",
               PYTHONUNBUFFERED="1")
    env.pop("PYTHONPATH", None)
    port = free_port()
    log = home / "serve.log"
    with open(log, "wb") as output:
        process = subprocess.Popen([str(installed / "bin" / "xiaodian"), "serve", "--port", str(port)], cwd=home,
                                   env=env, stdout=output, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(url, process, log.read_text, timeout_s=60)
        yield Served(url, env, home)
    finally:
        stop_process(process)


def test_the_installed_code_is_the_wheels(installed: Path, tmp_path: Path) -> None:
    located = subprocess.run([str(installed / "bin" / "python"), "-c",
                              "import assistant, kiosk, server; print(server.__file__, kiosk.__file__)"],
                             cwd=tmp_path, check=True, capture_output=True, text=True).stdout
    assert str(REPO) not in located and str(installed) in located


def _log_in(client: httpx.Client, installed: Path, served: Served, name: str, role: str) -> None:
    added = subprocess.run([str(installed / "bin" / "xiaodian"), "users", "add", name, "--role", role, "--generate"],
                           env=served.env, cwd=served.folder, check=True, capture_output=True, text=True).stdout
    password = _GENERATED_PASSWORD.search(added)
    assert password, added
    client.get("/login")
    response = client.post("/login", data={"name": name, "password": password.group(1),
                                           "csrf_token": client.cookies.get("xiaodian_login_csrf") or ""})
    assert response.status_code == 303, response.text


def test_the_installed_wheel_serves_every_page(installed: Path, served: Served) -> None:
    with httpx.Client(base_url=served.url) as anonymous:
        kiosk = anonymous.get("/")
        assert kiosk.status_code == 200 and "小电" in kiosk.text
        for asset in re.findall(r'(?:src|href)="(/kiosk/static/[^"]+)"', kiosk.text):
            assert anonymous.get(asset).status_code == 200, asset
        assert anonymous.get("/kiosk/static/kiosk.js").status_code == 200
        login = anonymous.get("/admin", follow_redirects=True)
        assert login.status_code == 200 and "工作人员登录" in login.text
        for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', login.text):
            assert anonymous.get(asset).status_code == 200, asset
        missing = anonymous.get("/no-such-page")
        assert missing.status_code == 404 and "找不到" in missing.text
        unknown_link = anonymous.get("/pay/not-a-real-link")
        assert unknown_link.status_code >= 400 and "<html" in unknown_link.text
    with httpx.Client(base_url=served.url) as admin:
        _log_in(admin, installed, served, "wheeladmin", "admin")
        for page in ("/admin", "/admin/intents/new", "/admin/audit"):
            assert admin.get(page).status_code == 200, page
    with httpx.Client(base_url=served.url) as staff:
        _log_in(staff, installed, served, "wheelstaff", "staff")
        queue = staff.get("/staff")
        assert queue.status_code == 200 and "转人工队列" in queue.text
        for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', queue.text):
            assert staff.get(asset).status_code == 200, asset
        assert staff.get("/staff/refunds").status_code == 200
