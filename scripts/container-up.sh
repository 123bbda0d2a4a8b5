#!/usr/bin/env bash
# Prepares rootful podman and a tiny local image (no registry needed) for the Container executor
# tests and benchmarks, idempotently.
# Debian 12 / podman 4.3.1. Run as root.
#
#   eval "$(scripts/container-up.sh | tail -2)"   # exports CONTAINERS_CONF / CONTAINERS_STORAGE_CONF
#   podman run --rm --network=none localhost/tiny:latest sh -c 'echo hi; exit 3'; echo $?   # -> hi, 3
#
# Findings baked in:
#  * crun 1.8.1 refuses to run on this host's hybrid cgroup layout
#    ("cgroups in hybrid mode not supported, drop all controllers from cgroupv2")
#    -> use runc.
#  * the process lacks CAP_SYS_RESOURCE, and podman's default rlimits
#    (nofile/nproc = 1048576) are above the current hard limits
#    -> "setrlimit RLIMIT_NOFILE: Operation not permitted". Pin default_ulimits to
#    the current hard limits.
#    (podman itself runs conmon with RLIMIT_NPROC 32768, so nproc is capped there)
#  * podman state (images, containers, events, tmp) lives under $PODMAN_TEST_DIR
#    via CONTAINERS_CONF/CONTAINERS_STORAGE_CONF; the default network is "none"
#    so CNI/iptables are never touched unless a test asks for a network explicitly.
#    podman 4.3 still writes a few small files elsewhere regardless:
#    /var/lib/containers/cache/blob-info-cache-v1.boltdb, /var/cache/containers/,
#    /root/.config/containers/, /run/runc/, and a bind mount of /run/netns on itself.
#  * catatonit is installed so `podman run --init` works (without it a shell as PID 1
#    ignores SIGTERM and `podman stop` always waits the full timeout, exit 137).
#
# Env knobs:
#   PODMAN_TEST_DIR         state dir           (default /tmp/wfl-test/podman)
#   PODMAN_STORAGE_DRIVER   overlay | vfs       (default overlay; vfs if overlay-on-overlay fails)
#   PODMAN_SKIP_APT=1       do not apt-get install
#   TINY_IMAGE              image name          (default localhost/tiny:latest)
set -euo pipefail

D=${PODMAN_TEST_DIR:-/tmp/wfl-test/podman}
DRIVER=${PODMAN_STORAGE_DRIVER:-overlay}
IMAGE=${TINY_IMAGE:-localhost/tiny:latest}
T0=$(date +%s.%N)
log() { echo "[container-up $(awk -v t0="$T0" -v t="$(date +%s.%N)" 'BEGIN{printf "%6.2fs", t-t0}')] $*" >&2; }

[ "$(id -u)" = 0 ] || { echo "container-up.sh must run as root (rootless needs /etc/subuid setup)" >&2; exit 1; }

need=()
command -v podman >/dev/null || need+=(podman)
command -v runc   >/dev/null || need+=(runc)
[ -x /usr/libexec/podman/catatonit ] || command -v catatonit >/dev/null || need+=(catatonit)
dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' || need+=(busybox-static)
if [ ${#need[@]} -gt 0 ]; then
  [ "${PODMAN_SKIP_APT:-0}" = 1 ] && { echo "missing: ${need[*]}" >&2; exit 1; }
  apt-cache show "${need[0]}" >/dev/null 2>&1 || { log "apt-get update"; apt-get update -q >&2; }
  log "apt-get install ${need[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >&2
fi

mkdir -p "$D"/{root,run,tmp,build}
# rlimits must not exceed what conmon/runc inherit (no CAP_SYS_RESOURCE here):
# nofile = our hard limit (podman keeps it), nproc <= 32768 (podman lowers its own
# RLIMIT_NPROC to 32768 here, so conmon runs with that).
NOFILE=$(ulimit -Hn); NPROC=$(ulimit -Hu)
[ "$NOFILE" = unlimited ] && NOFILE=1048576
[ "$NPROC" = unlimited ] && NPROC=32768
[ "$NOFILE" -gt 1048576 ] && NOFILE=1048576
[ "$NPROC" -gt 32768 ] && NPROC=32768

cat > "$D/storage.conf" <<EOF
[storage]
driver = "$DRIVER"
graphroot = "$D/root"
runroot = "$D/run"
EOF
cat > "$D/containers.conf" <<EOF
[containers]
log_driver = "k8s-file"
netns = "none"
default_ulimits = ["nofile=$NOFILE:$NOFILE", "nproc=$NPROC:$NPROC"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$D/events.log"
tmp_dir = "$D/tmp"

[network]
network_config_dir = "$D/net.d"
EOF
mkdir -p "$D/net.d"
export CONTAINERS_CONF=$D/containers.conf CONTAINERS_STORAGE_CONF=$D/storage.conf

if ! podman image exists "$IMAGE"; then
  log "building $IMAGE from busybox-static"
  R=$D/build/rootfs
  rm -rf "$R"; mkdir -p "$R"/{bin,sbin,usr/bin,usr/sbin,tmp,proc,sys,dev,etc,root,data}
  chmod 1777 "$R/tmp"
  cp /bin/busybox "$R/bin/busybox"
  for a in $("$R/bin/busybox" --list); do [ "$a" = busybox ] || ln -sf /bin/busybox "$R/bin/$a"; done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$R/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' > "$R/etc/group"
  tar --numeric-owner -C "$R" -cf "$D/build/tiny-rootfs.tar" .
  podman import -q \
    --change 'CMD ["/bin/sh"]' --change 'ENV PATH=/bin:/sbin:/usr/bin:/usr/sbin' --change 'WORKDIR /data' \
    "$D/build/tiny-rootfs.tar" "$IMAGE" >/dev/null
fi

out=$(podman run --rm "$IMAGE" sh -c 'echo ok; exit 3') && rc=0 || rc=$?
if [ "$out" != ok ] || [ "$rc" != 3 ]; then
  echo "smoke test failed: out='$out' rc=$rc" >&2; exit 1
fi
log "podman ready ($(podman --version), runtime runc, driver $DRIVER, image $IMAGE)"
echo "export CONTAINERS_CONF=$CONTAINERS_CONF"
echo "export CONTAINERS_STORAGE_CONF=$CONTAINERS_STORAGE_CONF"
