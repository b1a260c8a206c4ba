#!/usr/bin/env bash
# Make sure a headless Chromium is available for the report tests (tests/report/).
# Installs Debian's `chromium` package when no chromium/chrome binary is on PATH.
# Usage: scripts/ensure-chromium.sh   (needs root or passwordless sudo to install)
set -euo pipefail

for bin in chromium chromium-browser google-chrome google-chrome-stable; do
    if command -v "$bin" >/dev/null 2>&1; then
        echo "ensure-chromium: found $(command -v "$bin")"
        exit 0
    fi
done

if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-chromium: no chromium on PATH and no apt-get to install it; the report's browser" \
         "test will be skipped (install chromium by hand to run it)" >&2
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
    else
        echo "ensure-chromium: not root and no passwordless sudo; cannot install chromium;" \
             "the report's browser test will be skipped" >&2
        exit 0
    fi
fi

echo "ensure-chromium: installing Debian packages chromium fonts-liberation"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium fonts-liberation >/dev/null
command -v chromium >/dev/null 2>&1 && echo "ensure-chromium: installed $(command -v chromium)"
