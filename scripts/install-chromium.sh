#!/usr/bin/env bash
# Debian's Chromium for the staff console's browser test (tests/test_staff_console.py drives it with
# Playwright through executable_path; Playwright's own browser download cannot work here).
# Installs the `chromium` package with apt-get when it is missing, and axe-core (the accessibility
# checker the console's tests load into each page) with npm into AXE_DIR
# (default ~/.cache/tangqiao-bot/axe, where tests/test_console_browser.py looks); does nothing
# for what is there already.
set -euo pipefail
AXE_DIR="${AXE_DIR:-$HOME/.cache/tangqiao-bot/axe}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
if ! command -v chromium >/dev/null 2>&1; then
    echo "install-chromium: installing Debian's chromium package"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
if [ ! -f "$AXE_DIR/node_modules/axe-core/axe.min.js" ]; then
    if ! command -v npm >/dev/null 2>&1; then
        echo "install-chromium: installing npm for axe-core"
        $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null
    fi
    echo "install-chromium: installing axe-core into $AXE_DIR"
    mkdir -p "$AXE_DIR"
    npm install --prefix "$AXE_DIR" --no-audit --no-fund --silent axe-core@4
fi
