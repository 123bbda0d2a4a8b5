#!/usr/bin/env bash
# Stops the WES server scripts/wes-up.sh started, by its pid file. WES_PURGE=1 also deletes
# the runs (the venv stays, so the next start needs no download).
set -uo pipefail
D=${WES_TEST_DIR:-/tmp/wfl-test/wes}
if [ -s "$D/wes-server.pid" ]; then
  pid=$(cat "$D/wes-server.pid")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    echo "[wes-down] stopped wes-server ($pid)" >&2
  fi
  rm -f "$D/wes-server.pid"
fi
if [ "${WES_PURGE:-0}" = 1 ]; then rm -rf "$D/runs"; echo "[wes-down] removed $D/runs" >&2; fi
exit 0
