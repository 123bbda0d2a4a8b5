#!/usr/bin/env bash
# Starts (or finds running) a throwaway PostgreSQL cluster for the tests and benchmarks.
#  - data in $WFL_TEST_PG_DIR (default /tmp/wfl-test/pg), TCP on 127.0.0.1:$WFL_TEST_PG_PORT
#    (default 55432) only, Unix socket in $WFL_TEST_PG_DIR/run
#  - runs as the invoking user, or as $PG_OS_USER (default postgres) when run as root,
#    because PostgreSQL refuses to run as root
#  - fsync and synchronous commit off: the data is disposable (WFL_TEST_PG_DURABLE=1 keeps them
#    on, for a cluster that is crashed on purpose and must keep what it committed)
#  - installs the postgresql package with apt-get when the server programs are missing (root only)
# The last line of stdout is `export WFL_TEST_DATABASE_URL=postgres://…` (a superuser URL:
# the tests create one database per test).
set -euo pipefail

D=${WFL_TEST_PG_DIR:-/tmp/wfl-test/pg}
PORT=${WFL_TEST_PG_PORT:-55432}
OS_USER=${PG_OS_USER:-postgres}
log() { echo "[pg-up] $*" >&2; }

BIN=${PG_BIN:-}
if [ -z "$BIN" ]; then
  for candidate in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do BIN=$candidate; break; done
fi
if [ -z "$BIN" ] || [ ! -x "$BIN/postgres" ]; then
  [ "$(id -u)" = 0 ] || { log "PostgreSQL server programs not found; install the postgresql package"; exit 1; }
  log "installing postgresql"
  apt-cache show postgresql >/dev/null 2>&1 || apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postgresql >&2
  BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V -r | head -1)
fi

if [ "$(id -u)" = 0 ]; then
  id "$OS_USER" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$OS_USER"
  as_owner() { runuser -u "$OS_USER" -- "$@"; }
  mkdir -p "$D"; chown "$OS_USER" "$D"
else
  as_owner() { "$@"; }
  mkdir -p "$D"
fi
as_owner mkdir -p "$D/run"
PGDATA=$D/data

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  log "initdb $PGDATA"
  as_owner "$BIN/initdb" -D "$PGDATA" -U postgres -E UTF8 --no-locale --auth-local=trust --auth-host=trust \
    --no-sync >"$D/initdb.log" 2>&1 || { cat "$D/initdb.log" >&2; exit 1; }
  as_owner tee -a "$PGDATA/postgresql.conf" >/dev/null <<CONF
# ---- test settings (scripts/pg-up.sh) ----
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$D/run'
fsync = $([ "${WFL_TEST_PG_DURABLE:-0}" = 1 ] && echo on || echo off)
synchronous_commit = $([ "${WFL_TEST_PG_DURABLE:-0}" = 1 ] && echo on || echo off)
full_page_writes = $([ "${WFL_TEST_PG_DURABLE:-0}" = 1 ] && echo on || echo off)
max_connections = 400
shared_buffers = 256MB
log_min_messages = warning
CONF
fi

if as_owner "$BIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
  log "already running (pid $(head -1 "$PGDATA/postmaster.pid"))"
else
  log "starting PostgreSQL on 127.0.0.1:$PORT"
  as_owner "$BIN/pg_ctl" -D "$PGDATA" -l "$D/postgres.log" -w -t 60 start >/dev/null \
    || { tail -20 "$D/postgres.log" >&2; exit 1; }
fi
echo "export WFL_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:$PORT/postgres"
