#!/usr/bin/env bash
# Stops the cluster scripts/pg-up.sh started, by the pid in its postmaster.pid.
#   WFL_TEST_PG_PURGE=1 also deletes its folder.
set -uo pipefail
D=${WFL_TEST_PG_DIR:-/tmp/wfl-test/pg}
PF=$D/data/postmaster.pid
running() { [ -d "/proc/$1" ] && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]; }
if [ -s "$PF" ]; then
  pid=$(head -1 "$PF")
  if running "$pid" && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = postgres ]; then
    kill -INT "$pid"   # fast shutdown
    for _ in $(seq 300); do running "$pid" || break; sleep 0.1; done
    if running "$pid"; then echo "[pg-down] still up after 30 s; SIGQUIT" >&2; kill -QUIT "$pid"; fi
    echo "[pg-down] stopped PostgreSQL ($pid)" >&2
  fi
fi
if [ "${WFL_TEST_PG_PURGE:-0}" = 1 ]; then rm -rf "$D"; echo "[pg-down] removed $D" >&2; fi
exit 0
