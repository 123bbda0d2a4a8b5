#!/usr/bin/env bash
# Stop the cluster started by slurm-up.sh, using only its pid files.
#   SLURM_TEST_DIR  state dir (default /tmp/wfl-test/slurm)
#   SLURM_PURGE=1   also delete the state dir afterwards
set -uo pipefail
D=${SLURM_TEST_DIR:-/tmp/wfl-test/slurm}

running() { [ -d "/proc/$1" ] && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]; }  # zombie = dead
pids=()
signal() {  # signal PIDFILE COMM : SIGTERM a live daemon named COMM; remember its pid
  local pf=$1 comm=$2 pid
  [ -s "$pf" ] || return 0
  pid=$(cat "$pf")
  if [ -d "/proc/$pid" ] && [ "$(cat /proc/$pid/comm 2>/dev/null)" = "$comm" ]; then
    kill -TERM "$pid" 2>/dev/null && pids+=("$pid:$comm")
  fi
  rm -f "$pf"
}
reap() {  # wait (max 10s) for signalled daemons, SIGKILL stragglers
  local e pid comm i
  for e in "${pids[@]}"; do
    pid=${e%%:*}; comm=${e#*:}
    for ((i = 0; i < 100; i++)); do running "$pid" || break; sleep 0.1; done
    if running "$pid" && [ "$(cat /proc/$pid/comm 2>/dev/null)" = "$comm" ]; then
      echo "$comm ($pid) ignored SIGTERM, sending SIGKILL" >&2; kill -KILL "$pid" 2>/dev/null
    fi
    echo "stopped $comm ($pid)" >&2
  done
  pids=()
}

# cancel whatever is still queued/running so slurmd leaves no job steps behind
if [ -s "$D/run/slurmctld.pid" ] && [ -f "$D/etc/slurm.conf" ]; then
  SLURM_CONF=$D/etc/slurm.conf timeout 10 sh -c 'squeue -h -o %A | sort -u | xargs -r scancel' 2>/dev/null || true
fi
signal "$D/run/slurmd.pid"    slurmd
signal "$D/run/slurmctld.pid" slurmctld
reap
signal "$D/run/slurmdbd.pid"  slurmdbd
reap
signal "$D/mysql/mariadbd.pid" mariadbd
signal "$D/munge/munged.pid"  munged
reap
if [ "${SLURM_PURGE:-0}" = 1 ]; then rm -rf "$D"; echo "removed $D" >&2; fi
