#!/usr/bin/env bash
# Stops the SMTP server scripts/smtp-up.sh started, by its pid file (the venv and mail stay).
set -uo pipefail
D=${SMTP_TEST_DIR:-/tmp/wfl-test/smtp}
if [ -s "$D/smtp.pid" ]; then
  pid=$(cat "$D/smtp.pid")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    echo "[smtp-down] stopped aiosmtpd ($pid)" >&2
  fi
  rm -f "$D/smtp.pid"
fi
exit 0
