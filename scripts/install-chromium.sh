#!/usr/bin/env bash
# Debian's Chromium for the staff console's browser test (tests/test_staff_console.py drives it with
# Playwright through executable_path; Playwright's own browser download cannot work here).
# Installs the `chromium` package with apt-get when it is missing; does nothing otherwise.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-chromium: installing Debian's chromium package"
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
