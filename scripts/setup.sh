#!/usr/bin/env bash
# Set up everything `episode` needs on a Debian machine with Python 3.11:
# the Debian packages it drives (espeak-ng, ffmpeg, ...) and a virtual
# environment in .venv with the package, its test extras and the optional
# extras the tests exercise (quality: DNSMOS; whisper-base: the stronger judge;
# ray: the batch executor).
# Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# espeak-ng and ffmpeg are what episode drives; the rest are the independent
# readers and the browser the tests check its output with (Java runs EPUBCheck).
DEBIAN_PACKAGES=(espeak-ng ffmpeg libimage-exiftool-perl chromium default-jre-headless)

missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing Debian packages: ${missing[*]}" >&2
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
# Reinstall only when the project's dependency list changed.
stamp=.venv/.episode-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[test,quality,whisper-base,ray]"
    echo "$want" > "$stamp"
fi

# axe-core (accessibility audit) for the player page tests, loaded from a local file.
if [ ! -f .venv/npm/node_modules/axe-core/axe.min.js ] && command -v npm >/dev/null; then
    npm install --silent --no-audit --no-fund --prefix .venv/npm axe-core@4 >/dev/null
fi

# The seed's demo music (seeds/flashpoint-iran-zelin.sound.toml), synthesised here rather than
# kept in git: generated audio is not committed.
if [ ! -f seeds/flashpoint-theme.opus ] || [ ! -f seeds/flashpoint-sting.flac ]; then
    .venv/bin/python scripts/make_demo_music.py >/dev/null
fi
