#!/usr/bin/env bash
# Make sure Debian's Chromium is installed for the browser tests (tests/browser) and the console
# bench: Playwright drives it (executable /usr/bin/chromium); Playwright's own browser downloads
# are never used. Installs it with apt-get when root on Debian; otherwise says what to do.
set -euo pipefail
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}

if [[ -x "$CHROMIUM" ]]; then
  exit 0
fi
if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
  echo "browser: ERROR: Chromium is missing: run 'sudo apt-get install chromium' (or set CHROMIUM=...)" >&2
  exit 1
fi
echo "browser: installing chromium with apt-get"
if [[ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -1)" ]]; then
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
fi
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-noto-cjk >/dev/null
[[ -x "$CHROMIUM" ]] || { echo "browser: ERROR: chromium installed but $CHROMIUM is missing" >&2; exit 1; }
