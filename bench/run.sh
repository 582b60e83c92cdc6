#!/usr/bin/env bash
# `pnpm bench`: install the contenders, build tsbox if needed, then run each
# bench script in a private mount namespace.
#
# Usage: bash bench/run.sh [bench-name ...]   (default: every bench in BENCHES)
# Knobs (environment): BENCH_RUNS, BENCH_WARMUP, BENCH_CONC_REPEATS — see each script.
set -euo pipefail

cd "$(dirname "$0")/.."

# Benches run one after the other, each a plain-ESM Node script in bench/.
# Later issues add theirs here.
BENCHES=(start-latency limits image import network network-attach)

if [[ $EUID -ne 0 ]]; then
  echo "bench: must run as root (namespaces, cgroups, crun/runc)" >&2
  exit 1
fi

# --- contenders -------------------------------------------------------------
# Debian packages and the binary each must provide. busybox-static is for
# directory-rootfs variants of the benches.
PACKAGES=(crun runc bubblewrap busybox-static util-linux)
BINARIES=(crun runc bwrap busybox unshare)

missing_binaries() {
  local b missing=()
  for b in "${BINARIES[@]}"; do
    command -v "$b" >/dev/null 2>&1 || missing+=("$b")
  done
  echo "${missing[@]:-}"
}

if [[ -n "$(missing_binaries)" ]]; then
  echo "bench: installing ${PACKAGES[*]} (missing: $(missing_binaries))" >&2
  export DEBIAN_FRONTEND=noninteractive
  # Package lists may be stale or absent on a fresh machine: refresh them only
  # when the plain install fails, so a warm machine does no network round trip.
  if ! apt-get install -y "${PACKAGES[@]}"; then
    apt-get update
    apt-get install -y "${PACKAGES[@]}"
  fi
fi
if [[ -n "$(missing_binaries)" ]]; then
  # A contender that cannot run is an error, never a silently skipped row.
  echo "bench: still missing after install: $(missing_binaries)" >&2
  exit 1
fi

# --- project ----------------------------------------------------------------
if [[ ! -d node_modules ]]; then
  pnpm install --frozen-lockfile
fi
if [[ ! -d packages/core/dist ]]; then
  # tsbox is one contender among six: if it does not build yet, the bench still
  # measures the others and prints "tsbox: not built" in its row.
  if ! pnpm build; then
    echo "bench: WARNING: 'pnpm build' failed; tsbox rows will say 'not built'" >&2
  fi
fi

# --- run --------------------------------------------------------------------
# crun 1.8.1 refuses the hybrid cgroup layout of these machines ("cgroups in
# hybrid mode not supported") while a cgroup2 filesystem is mounted at
# /sys/fs/cgroup/unified. So every bench runs in a private mount namespace with
# that mount removed: the host keeps its layout, and all contenders (tsbox
# included) are measured in the same environment from the same Node process.
# Mounts any contender leaves behind die with the namespace.
#
# A throwaway tmpfs then goes where the cgroup2 mount was: crun still treats
# /sys/fs/cgroup/unified as a hierarchy to join and creates <id>/cgroup.procs
# there, a plain directory and file it never removes. Without this tmpfs they
# pile up (one per container) in the host's /sys/fs/cgroup tmpfs, hidden
# under its cgroup2 mount; with it they vanish with the namespace.
if [[ $# -gt 0 ]]; then BENCHES=("$@"); fi
for bench in "${BENCHES[@]}"; do
  script="bench/${bench}.mjs"
  if [[ ! -f "$script" ]]; then
    echo "bench: no such bench: $script" >&2
    exit 1
  fi
  echo "== $bench" >&2
  unshare --mount --propagation private -- sh -c '
    set -e
    if mountpoint -q /sys/fs/cgroup/unified; then
      umount /sys/fs/cgroup/unified
      mount -t tmpfs -o size=16m,mode=755 tsbox-bench-unified /sys/fs/cgroup/unified
    fi
    exec node "$1"' sh "$script"
done
