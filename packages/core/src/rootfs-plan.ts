import { existsSync, lstatSync, readFileSync, readlinkSync } from 'node:fs';
import type { MountOp } from '@tsbox/init';
import { volumeDataPath } from '@tsbox/overlay';
import type { ContainerSpec } from './spec.js';

// Turns a spec's filesystem into the ordered mount records tsbox-init executes.
// All of it happens inside the container's own mount namespace, so nothing here
// ever appears in the host's mount table and nothing needs unmounting afterwards.

/** System directories the host mirror shows read-only (a symlink stays a symlink). */
const MIRRORED_DIRS = ['/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32'];

/**
 * The minimal `/etc`: what the dynamic loader, name-service lookups and common
 * interpreters need, and nothing private (no shadow, ssh, ssl/private).
 */
const ETC_COPIED = ['passwd', 'group', 'nsswitch.conf', 'ld.so.conf', 'debian_version', 'issue'];
const ETC_BOUND = [
  'ld.so.cache',
  'ld.so.conf.d',
  'alternatives',
  'ssl/certs',
  'ca-certificates',
  'mime.types',
];
const ETC_LINKED = ['os-release', 'localtime'];

const MASKED = [
  '/proc/kcore',
  '/proc/keys',
  '/proc/timer_list',
  '/proc/sched_debug',
  '/proc/latency_stats',
  '/proc/timer_stats',
  '/proc/acpi',
  '/proc/scsi',
  '/sys/firmware',
  '/sys/devices/virtual/powercap',
];
const READONLY = ['/proc/sys', '/proc/sysrq-trigger', '/proc/irq', '/proc/bus'];

const DEVICES: ReadonlyArray<[name: string, major: number, minor: number]> = [
  ['null', 1, 3],
  ['zero', 1, 5],
  ['full', 1, 7],
  ['random', 1, 8],
  ['urandom', 1, 9],
  ['tty', 5, 0],
];

let hostMirror: MountOp[] | undefined;

/** The host's side of the mirror, read once per process: the host's layout does not change under us. */
function hostMirrorOps(): MountOp[] {
  if (hostMirror) return hostMirror;
  const ops: MountOp[] = [];
  for (const dir of MIRRORED_DIRS) {
    let st: ReturnType<typeof lstatSync>;
    try {
      st = lstatSync(dir);
    } catch {
      continue;
    }
    if (st.isSymbolicLink()) ops.push({ op: 'symlink', target: readlinkSync(dir), path: dir });
    else if (st.isDirectory()) ops.push({ op: 'bind', source: dir, target: dir, readonly: true });
  }
  ops.push({ op: 'mkdir', path: '/etc', mode: 0o755 });
  for (const name of ETC_COPIED) {
    const path = `/etc/${name}`;
    try {
      ops.push({ op: 'file', path, mode: 0o644, content: readFileSync(path, 'utf8') });
    } catch {
      // Absent on this host: the container does without it, as the host does.
    }
  }
  for (const name of ETC_BOUND) {
    const path = `/etc/${name}`;
    if (existsSync(path)) ops.push({ op: 'bind', source: path, target: path, readonly: true });
  }
  for (const name of ETC_LINKED) {
    const path = `/etc/${name}`;
    try {
      ops.push({ op: 'symlink', target: readlinkSync(path), path });
    } catch {
      if (existsSync(path)) ops.push({ op: 'bind', source: path, target: path, readonly: true });
    }
  }
  hostMirror = ops;
  return ops;
}

function deviceOps(): MountOp[] {
  const ops: MountOp[] = [
    { op: 'tmpfs', target: '/dev', sizeBytes: 65536, mode: 0o755, devices: true },
  ];
  for (const [name, major, minor] of DEVICES)
    ops.push({ op: 'mknod', path: `/dev/${name}`, major, minor, mode: 0o666 });
  ops.push(
    { op: 'devpts', target: '/dev/pts' },
    { op: 'symlink', target: 'pts/ptmx', path: '/dev/ptmx' },
    { op: 'tmpfs', target: '/dev/shm', sizeBytes: 64 * 1024 * 1024, mode: 0o1777 },
    { op: 'symlink', target: '/proc/self/fd', path: '/dev/fd' },
    { op: 'symlink', target: '/proc/self/fd/0', path: '/dev/stdin' },
    { op: 'symlink', target: '/proc/self/fd/1', path: '/dev/stdout' },
    { op: 'symlink', target: '/proc/self/fd/2', path: '/dev/stderr' },
  );
  return ops;
}

function hostsFile(hostname: string): string {
  return `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t${hostname}\n`;
}

const depth = (path: string) => path.split('/').length;

/**
 * Binds, volumes and tmpfs mounts, parents before what is mounted inside them (as Docker
 * sorts them), so `.tmpfs('/data')` does not hide `.volume('v', '/data/v')`. At the same
 * depth the order is binds, volumes, tmpfs, each in call order: the last one wins.
 */
function userMounts(spec: ContainerSpec): MountOp[] {
  const ops: MountOp[] = [
    ...spec.mounts.map(
      (m): MountOp => ({ op: 'bind', source: m.source, target: m.target, readonly: m.readonly }),
    ),
    ...(spec.volumes ?? []).map(
      (v): MountOp => ({
        op: 'bind',
        source: volumeDataPath(v.storeRoot, v.name),
        target: v.target,
        readonly: v.readonly,
      }),
    ),
    ...spec.tmpfs.map(
      (t): MountOp => ({ op: 'tmpfs', target: t.target, sizeBytes: t.sizeBytes, mode: t.mode }),
    ),
  ];
  // Array.prototype.sort is stable.
  return ops.sort(
    (a, b) => depth((a as { target: string }).target) - depth((b as { target: string }).target),
  );
}

/**
 * The files tsbox writes into the container: on the host mirror and on an image root
 * `/etc/hostname` and a loopback `/etc/hosts`, replaced by a resource's own version of
 * the same path (the network's `/etc/hosts` and `/etc/resolv.conf`). A directory root
 * is the caller's tree and a build step's overlay becomes an image layer: tsbox
 * generates nothing for them.
 */
function generatedFiles(
  spec: ContainerSpec,
  hostname: string,
  extra: readonly MountOp[],
): MountOp[] {
  const files = new Map<string, MountOp>();
  if (spec.rootfs.kind === 'host' || spec.rootfs.kind === 'image') {
    files.set('/etc/hostname', {
      op: 'file',
      path: '/etc/hostname',
      mode: 0o644,
      content: `${hostname}\n`,
    });
    files.set('/etc/hosts', {
      op: 'file',
      path: '/etc/hosts',
      mode: 0o644,
      content: hostsFile(hostname),
    });
  }
  for (const op of extra) if (op.op === 'file') files.set(op.path, op);
  return [...files.values()];
}

/** The mount records for `spec`, in the order init must run them. */
export function planRootfs(
  spec: ContainerSpec,
  hostname: string,
  tmpSizeBytes: number,
  extra: readonly MountOp[] = [],
): MountOp[] {
  const ops: MountOp[] = [];
  const userTmp = spec.tmpfs.some((t) => t.target === '/tmp');
  // Generated files go before the user's mounts, so a bind over /etc/hosts wins.
  const files = generatedFiles(spec, hostname, extra);
  if (spec.rootfs.kind === 'image' || spec.rootfs.kind === 'overlay') {
    // The overlay must come first, before anything is mounted on the staging
    // directory it covers; for an image the image resource supplies it. The working
    // directory is made if the image lacks it, as Docker does.
    if (spec.rootfs.kind === 'overlay')
      ops.push({ op: 'root-overlay', options: spec.rootfs.options });
    ops.push(...extra.filter((op) => op.op === 'root-overlay'));
    if (spec.cwd !== '/') ops.push({ op: 'mkdir', path: spec.cwd, mode: 0o755 });
    // On an image root the pipeline takes these out and puts the files in a layer of
    // their own on top of the image's (placeGeneratedFiles): init writes nothing through
    // the image's tree.
    ops.push(...files);
  } else if (spec.rootfs.kind === 'host') {
    ops.push({ op: 'root-tmpfs' }, ...hostMirrorOps(), ...files);
    ops.push({ op: 'mkdir', path: '/root', mode: 0o700 });
    if (!userTmp) ops.push({ op: 'tmpfs', target: '/tmp', sizeBytes: tmpSizeBytes, mode: 0o1777 });
  } else {
    ops.push({ op: 'root-bind', source: spec.rootfs.path }, ...files);
  }
  ops.push({ op: 'proc', target: '/proc' }, ...deviceOps(), { op: 'sysfs', target: '/sys' });
  ops.push(...userMounts(spec));
  ops.push(...extra.filter((op) => op.op !== 'root-overlay' && op.op !== 'file'));
  // The host mirror's root is a scratch tmpfs: read-only so writes go only where
  // a writable mount was asked for. A directory rootfs is read-only unless told.
  if (spec.rootfs.kind === 'host' || spec.rootfs.readonly) ops.push({ op: 'root-readonly' });
  ops.push({ op: 'pivot' });
  for (const path of MASKED) ops.push({ op: 'mask', path });
  for (const path of READONLY) ops.push({ op: 'readonly', path });
  return ops;
}
