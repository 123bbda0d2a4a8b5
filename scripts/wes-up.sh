#!/usr/bin/env bash
# Starts a GA4GH WES server for the WES executor's tests and benchmarks, idempotently:
# wes-service (PyPI) with the cwl_runner backend running cwltool without containers, extended
# by scripts/wes/wfl_wes_backend.py (exit codes survive a restart; cancel works).
#  - Python venv with wes-service and cwltool in $WES_TEST_DIR/venv (pip install on first use)
#  - listens on 127.0.0.1:$WES_PORT; runs are kept in $WES_TEST_DIR/runs
# Last line of stdout: export WFL_TEST_WES_URL=http://127.0.0.1:PORT/ga4gh/wes/v1
#   WES_TEST_DIR (default /tmp/wfl-test/wes)   WES_PORT (default 18080)
set -euo pipefail
D=${WES_TEST_DIR:-/tmp/wfl-test/wes}
PORT=${WES_PORT:-18080}
HERE=$(cd "$(dirname "$0")" && pwd)
log() { echo "[wes-up] $*" >&2; }

mkdir -p "$D/runs"
if [ ! -x "$D/venv/bin/wes-server" ] || [ ! -x "$D/venv/bin/cwltool" ]; then
  command -v python3 >/dev/null || { log "python3 is required"; exit 1; }
  python3 -c 'import venv, ensurepip' 2>/dev/null || {
    log "installing python3-venv"; apt-get update -q >&2; DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv >&2; }
  log "creating venv with wes-service and cwltool"
  python3 -m venv "$D/venv"
  "$D/venv/bin/pip" install -q wes-service cwltool >&2
fi

alive() { [ -s "$D/wes-server.pid" ] && kill -0 "$(cat "$D/wes-server.pid")" 2>/dev/null; }
if alive; then
  log "already running (pid $(cat "$D/wes-server.pid"))"
else
  log "starting wes-server on 127.0.0.1:$PORT"
  # exec: the background subshell becomes the server, so $! is the server's own pid.
  (cd "$D/runs" && exec env PYTHONPATH="$HERE/wes" WFL_CWL_RUNNER="$D/venv/bin/cwltool" "$D/venv/bin/wes-server" \
     --backend=wfl_wes_backend --port "$PORT" --opt "runner=$HERE/wes/wfl-cwl-runner" --opt extra=--no-container \
     --opt extra=--quiet </dev/null >"$D/wes-server.log" 2>&1) &
  echo $! > "$D/wes-server.pid"
  for _ in $(seq 100); do
    if curl -sf "http://127.0.0.1:$PORT/ga4gh/wes/v1/service-info" >/dev/null 2>&1 \
       || python3 -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$PORT/ga4gh/wes/v1/service-info', timeout=1)" 2>/dev/null; then
      break
    fi
    alive || { tail -20 "$D/wes-server.log" >&2; exit 1; }
    sleep 0.2
  done
fi
echo "export WFL_TEST_WES_URL=http://127.0.0.1:$PORT/ga4gh/wes/v1"
