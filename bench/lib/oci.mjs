// OCI bundles for crun and runc, built to match tsbox's default root: the
// host's /usr mounted read-only, /bin /lib /lib64 /sbin as symlinks into it
// (they are symlinks into /usr on the development machines), fresh /proc,
// tmpfs /dev, /dev/pts, /dev/shm, read-only /sys, tmpfs /tmp.
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Docker's default capability set (the 14 tsbox-init keeps by default). */
export const DOCKER_CAPS = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

/** Top-level links of the host-mirror root; each points into /usr. */
export const USR_LINKS = ['bin', 'lib', 'lib64', 'sbin'];

/**
 * Create the shared host-mirror rootfs directory: empty mount points plus the
 * /bin /lib /lib64 /sbin symlinks. The bundles' config.json mounts /usr on it.
 * @param {string} dir
 */
export function makeMirrorRootfs(dir) {
  for (const d of ['usr', 'proc', 'dev', 'sys', 'tmp', 'etc']) {
    mkdirSync(join(dir, d), { recursive: true });
  }
  for (const l of USR_LINKS) symlinkSync(`usr/${l}`, join(dir, l));
}

/**
 * @typedef {object} BundleOptions
 * @property {string} rootfs absolute path of the root directory
 * @property {string[]} args the workload, e.g. ['/bin/true']
 * @property {object} [resources] linux.resources (limits), for later benches
 */

/**
 * The config.json for one bundle. Namespaces: pid, mount, uts, ipc, network,
 * cgroup (the same six tsbox-init clones into). Root read-only, no terminal,
 * the masked and read-only paths of `crun spec` (the same list tsbox masks).
 * @param {BundleOptions} opts
 */
export function ociConfig(opts) {
  return {
    ociVersion: '1.0.0',
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args: opts.args,
      env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      cwd: '/',
      capabilities: {
        bounding: DOCKER_CAPS,
        effective: DOCKER_CAPS,
        permitted: DOCKER_CAPS,
        inheritable: [],
        ambient: [],
      },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: opts.rootfs, readonly: true },
    hostname: 'box',
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      {
        destination: '/dev',
        type: 'tmpfs',
        source: 'tmpfs',
        options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'],
      },
      {
        destination: '/dev/pts',
        type: 'devpts',
        source: 'devpts',
        options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620'],
      },
      {
        destination: '/dev/shm',
        type: 'tmpfs',
        source: 'shm',
        options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'],
      },
      {
        destination: '/sys',
        type: 'sysfs',
        source: 'sysfs',
        options: ['nosuid', 'noexec', 'nodev', 'ro'],
      },
      {
        destination: '/usr',
        type: 'bind',
        source: '/usr',
        options: ['rbind', 'ro', 'nosuid', 'nodev'],
      },
      {
        destination: '/tmp',
        type: 'tmpfs',
        source: 'tmpfs',
        options: ['nosuid', 'nodev', 'mode=1777'],
      },
    ],
    linux: {
      ...(opts.resources ? { resources: opts.resources } : {}),
      namespaces: [
        { type: 'pid' },
        { type: 'mount' },
        { type: 'uts' },
        { type: 'ipc' },
        { type: 'network' },
        { type: 'cgroup' },
      ],
      maskedPaths: [
        '/proc/acpi',
        '/proc/asound',
        '/proc/kcore',
        '/proc/keys',
        '/proc/latency_stats',
        '/proc/timer_list',
        '/proc/timer_stats',
        '/proc/sched_debug',
        '/sys/firmware',
        '/proc/scsi',
      ],
      readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
  };
}

/**
 * Write a bundle directory (config.json only: the rootfs is shared by path,
 * which crun and runc accept, so every bundle mounts the same tree).
 * @param {string} dir
 * @param {BundleOptions} opts
 * @returns {string} dir
 */
export function makeBundle(dir, opts) {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.json'), `${JSON.stringify(ociConfig(opts), null, 2)}\n`);
  return dir;
}
