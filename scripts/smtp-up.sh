#!/usr/bin/env bash
# Starts a real SMTP server for the e-mail notification tests, idempotently: aiosmtpd (PyPI)
# with scripts/smtp/wfl_smtp_sink.py, which writes each accepted message to a file.
#  - Python venv with aiosmtpd in $SMTP_TEST_DIR/venv (pip install on first use)
#  - listens on 127.0.0.1:$SMTP_PORT; messages land in $SMTP_TEST_DIR/mail
# Last line of stdout: export WFL_TEST_SMTP=127.0.0.1:PORT WFL_TEST_SMTP_DIR=…/mail
#   SMTP_TEST_DIR (default /tmp/wfl-test/smtp)   SMTP_PORT (default 18025)
set -euo pipefail
D=${SMTP_TEST_DIR:-/tmp/wfl-test/smtp}
PORT=${SMTP_PORT:-18025}
HERE=$(cd "$(dirname "$0")" && pwd)
log() { echo "[smtp-up] $*" >&2; }

mkdir -p "$D/mail"
if [ ! -x "$D/venv/bin/aiosmtpd" ]; then
  python3 -c 'import venv, ensurepip' 2>/dev/null || {
    log "installing python3-venv"; apt-get update -q >&2; DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv >&2; }
  log "creating venv with aiosmtpd"
  python3 -m venv "$D/venv"
  "$D/venv/bin/pip" install -q aiosmtpd >&2
fi

alive() { [ -s "$D/smtp.pid" ] && kill -0 "$(cat "$D/smtp.pid")" 2>/dev/null; }
if alive; then
  log "already running (pid $(cat "$D/smtp.pid"))"
else
  log "starting aiosmtpd on 127.0.0.1:$PORT"
  (exec env PYTHONPATH="$HERE/smtp" WFL_SMTP_DIR="$D/mail" "$D/venv/bin/aiosmtpd" -n -l "127.0.0.1:$PORT" \
     -c wfl_smtp_sink.MaildirSink </dev/null >"$D/smtp.log" 2>&1) &
  echo $! > "$D/smtp.pid"
  for _ in $(seq 100); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1', $PORT), timeout=1).close()" 2>/dev/null && break
    alive || { tail -20 "$D/smtp.log" >&2; exit 1; }
    sleep 0.1
  done
fi
echo "export WFL_TEST_SMTP=127.0.0.1:$PORT WFL_TEST_SMTP_DIR=$D/mail"
