#!/usr/bin/env bash
# browser.sh — make sure Debian's Chromium is installed for the dashboard's
# browser tests (tools/e2e/ui_test.go drives it headless with chromedp).
set -euo pipefail
if command -v chromium >/dev/null || command -v chromium-browser >/dev/null; then
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "browser: install Chromium (the browser tests drive it headless), then run me again" >&2
  exit 1
fi
echo "browser: installing chromium from the OS packages" >&2
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
