#!/bin/sh
# The dashboard's browser test needs Chromium (Debian's: Playwright cannot download browsers
# here) and Playwright from PyPI. Installs what is missing; prints WFL_CHROMIUM=<path>.
set -eu
log() { echo "[browser-up] $*" >&2; }
chromium=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$chromium" ]; then
  if [ "$(id -u)" != 0 ]; then log "chromium is missing and installing it needs root (apt-get install chromium)"; exit 1; fi
  apt-cache show chromium >/dev/null 2>&1 || { log "apt-get update"; apt-get update -q >&2; }
  log "apt-get install chromium"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >&2
  chromium=$(command -v chromium)
fi
python3 -c "import playwright" 2>/dev/null || { log "pip install playwright"; python3 -m pip install -q playwright >&2; }
log "ready: $("$chromium" --version 2>/dev/null | head -1)"
echo "WFL_CHROMIUM=$chromium"
