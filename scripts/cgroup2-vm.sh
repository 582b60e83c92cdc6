#!/bin/sh
# Run a command (by default: the @tsbox/cgroups test suite) inside a throwaway VM whose
# kernel has cgroup v2 only, and exit with the command's status.
#
# Why a VM: development and CI machines mount cgroup v1 (hybrid), and most production
# hosts are v2 only; the v2 driver must be tested against a real v2 kernel.
#
# How: Debian's linux-image-amd64 under qemu TCG (KVM hangs on these machines), the host
# root shared read-only over 9p with a tmpfs overlay on top (so the guest sees this repo,
# node and node_modules, and can write anywhere without touching the host), cgroup2
# mounted at /sys/fs/cgroup, the command run, power off. The guest prints
# "VM-EXIT=<status>" as its last line; no such line (boot failure, hang, timeout) is a
# failure.
#
# Usage:  scripts/cgroup2-vm.sh                      # the cgroups suite
#         scripts/cgroup2-vm.sh 'node -e "..."'      # any command, run from the repo root
# Env:    TSBOX_VM_TIMEOUT  seconds before the VM is killed (default 900)
#         TSBOX_VM_MEM      guest memory in MiB (default 2048)
set -eu

REPO=$(cd "$(dirname "$0")/.." && pwd)
TIMEOUT=${TSBOX_VM_TIMEOUT:-900}
MEM=${TSBOX_VM_MEM:-2048}
DEFAULT_CMD='node_modules/.bin/vitest run packages/cgroups'
CMD=${1:-$DEFAULT_CMD}

# Install what is missing, once. apt-get update only when a package cannot be found.
need=''
command -v qemu-system-x86_64 >/dev/null 2>&1 || need="$need qemu-system-x86"
ls /boot/vmlinuz-* >/dev/null 2>&1 || need="$need linux-image-amd64"
[ -x /bin/busybox ] || need="$need busybox-static"
if [ -n "$need" ]; then
  echo "cgroup2-vm: installing$need" >&2
  # shellcheck disable=SC2086 # word splitting of the package list is intended
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $need >&2 ||
    { apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $need >&2; }
fi

# The newest installed Debian kernel (the host may run a different, module-less kernel).
VMLINUZ=$(ls /boot/vmlinuz-* | sort -V | tail -1)
K=${VMLINUZ#/boot/vmlinuz-}
[ -d "/lib/modules/$K" ] || { echo "cgroup2-vm: no /lib/modules/$K for $VMLINUZ" >&2; exit 2; }

W=$(mktemp -d /tmp/tsbox-cgroup2-vm.XXXXXX)
trap 'rm -rf "$W"' EXIT INT TERM
mkdir -p "$W"/ir/bin "$W"/ir/mods "$W"/ir/proc "$W"/ir/sys "$W"/ir/dev "$W"/ir/newroot "$W"/ir/up "$W"/ir/lower
cp /bin/busybox "$W"/ir/bin/
for c in sh mount insmod switch_root umount mkdir poweroff; do ln -s busybox "$W"/ir/bin/$c; done
# Order matters: insmod does not resolve dependencies.
MODS="virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci 9pnet 9pnet_virtio netfs fscache 9p overlay"
for m in $MODS; do find "/lib/modules/$K" -name "$m.ko*" -exec cp {} "$W"/ir/mods/ \; ; done

# The guest script, run by the host's /bin/sh after switch_root. Output goes through
# `cat` so vitest sees a pipe, not the serial tty (no spinner, no cursor codes); the
# status travels in a file because sh has no pipefail.
cat > "$W"/ir/guest.sh <<GUEST
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t cgroup2 none /sys/fs/cgroup
# The repo stays reachable at a fixed path even when it lives under /tmp or /run,
# which get fresh tmpfs mounts (a clean state root, a clean scratch space).
mkdir -p /tsbox-repo && mount --bind '$REPO' /tsbox-repo
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
export HOME=/tmp PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin CI=1 NO_COLOR=1
export VITEST_CACHE_DIR=/tmp/vitest-cache XDG_CACHE_HOME=/tmp/cache
cd /tsbox-repo && { ( $CMD ) ; echo \$? > /tmp/vm-status; } 2>&1 | cat
echo "VM-EXIT=\$(cat /tmp/vm-status 2>/dev/null || echo 1)"
# Power off instead of letting PID 1 exit (which panics and dumps a trace to the console).
echo o > /proc/sysrq-trigger; sleep 10 2>/dev/null
GUEST

cat > "$W"/ir/init <<INIT
#!/bin/sh
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for m in $MODS; do insmod /mods/\$m.ko* 2>/dev/null; done
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=524288,cache=loose hostroot /lower
mount -t tmpfs tmpfs /up; mkdir -p /up/u /up/w
mount -t overlay overlay -o lowerdir=/lower,upperdir=/up/u,workdir=/up/w /newroot
cp /guest.sh /newroot/tsbox-guest.sh
umount /proc /sys; mount --move /dev /newroot/dev
exec switch_root /newroot /bin/sh /tsbox-guest.sh
INIT
chmod +x "$W"/ir/init
(cd "$W"/ir && find . | cpio -o -H newc 2>/dev/null | gzip) > "$W"/initrd.gz

echo "cgroup2-vm: booting $K (qemu TCG, ${MEM} MiB, 2 CPUs, timeout ${TIMEOUT}s)" >&2
# The guest powers off when its script ends; should PID 1 die instead, panic=-1 with
# -no-reboot still makes qemu quit. `timeout` bounds everything else.
set +e
timeout -k 10 "$TIMEOUT" qemu-system-x86_64 -accel tcg -m "$MEM" -smp 2 -nographic -no-reboot \
  -kernel "$VMLINUZ" -initrd "$W"/initrd.gz \
  -virtfs local,path=/,mount_tag=hostroot,security_model=passthrough,readonly=on,multidevs=remap \
  -append "console=ttyS0 quiet loglevel=3 panic=-1 systemd.unified_cgroup_hierarchy=1" \
  </dev/null | sed -u 's/\r$//' | tee "$W"/console.log
qemu_status=$?
set -e

status=$(sed -n 's/^VM-EXIT=\([0-9]*\).*/\1/p' "$W"/console.log | tail -1)
echo "---- cgroup2-vm summary (kernel $K, cgroup v2) ----"
grep -E '^ *(Test Files|Tests|Duration) ' "$W"/console.log || true
if [ -z "$status" ]; then
  echo "cgroup2-vm: no exit status from the guest (qemu status $qemu_status; 124 = timeout)" >&2
  exit 1
fi
echo "cgroup2-vm: guest command exited $status"
exit "$status"
