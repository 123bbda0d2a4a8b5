#!/usr/bin/env bash
# Remove containers left by tests; with PODMAN_PURGE=1 also wipe images/storage.
# Uses the config written by container-up.sh (no daemon to stop: podman is daemonless).
set -uo pipefail
D=${PODMAN_TEST_DIR:-/tmp/wfl-test/podman}
[ -f "$D/containers.conf" ] || exit 0
export CONTAINERS_CONF=$D/containers.conf CONTAINERS_STORAGE_CONF=$D/storage.conf
podman rm --all --force --time 0 >/dev/null 2>&1 || true
# a "podman system service" started by tests with a pid file in $D
if [ -s "$D/service.pid" ]; then
  pid=$(cat "$D/service.pid")
  [ "$(cat /proc/$pid/comm 2>/dev/null)" = podman ] && kill -TERM "$pid"
  rm -f "$D/service.pid"
fi
if [ "${PODMAN_PURGE:-0}" = 1 ]; then
  podman system reset --force >/dev/null 2>&1 || true
  # overlay driver may leave its private bind mount of $D/root/overlay behind
  awk -v d="$D" '$5 ~ "^"d {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m"; done
  rm -rf "$D" && echo "removed $D" >&2
fi
