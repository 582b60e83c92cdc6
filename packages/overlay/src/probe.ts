import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mountOverlay, mountTmpfs, unmount } from './overlay-mount.js';
import { overlayMountOptions } from './overlay-options.js';
import { libcSyscalls, S_IFCHR, type Syscalls } from './syscalls.js';
import { OPAQUE_XATTR } from './whiteout.js';

/** One thing {@link probeOverlay} checked. */
export interface ProbeCheck {
  name: 'root' | 'syscalls' | 'whiteout' | 'trusted-xattr' | 'overlay-mount' | 'tmpfs-mount';
  ok: boolean;
  /** What was found (an errno name, a message). */
  detail: string;
  /** What to do about it, when not ok. */
  fix?: string;
}

/** Result of {@link probeOverlay}: `ok` when every check passed. */
export interface ProbeResult {
  ok: boolean;
  checks: ProbeCheck[];
}

/**
 * Checks, for real, that this host can do what this package needs: root, libc through
 * koffi, 0/0 whiteout devices and `trusted.*` xattrs on the file system that will hold
 * layers (`dir`, default the OS temp dir; pass the store root), an overlay mount with
 * copy-up, and a size-limited tmpfs. Leaves nothing behind. For `tsbox doctor`.
 */
export function probeOverlay(dir: string = tmpdir()): ProbeResult {
  const checks: ProbeCheck[] = [];
  const add = (c: ProbeCheck) => checks.push(c);
  const isRoot = process.getuid?.() === 0;
  add({
    name: 'root',
    ok: isRoot,
    detail: isRoot ? 'uid 0' : `uid ${process.getuid?.()}`,
    ...(isRoot
      ? {}
      : { fix: 'run as root: mounts, device nodes and trusted.* xattrs need CAP_SYS_ADMIN' }),
  });
  let sys: Syscalls;
  try {
    sys = libcSyscalls();
    add({ name: 'syscalls', ok: true, detail: 'libc.so.6 loaded through koffi' });
  } catch (err) {
    add({
      name: 'syscalls',
      ok: false,
      detail: String(err),
      fix: 'install koffi for this platform (glibc Linux)',
    });
    return { ok: false, checks };
  }
  fs.mkdirSync(dir, { recursive: true });
  const work = fs.mkdtempSync(join(dir, `tsbox-probe-${process.pid}-`));
  const attempt = (name: ProbeCheck['name'], fix: string, fn: () => string) => {
    try {
      add({ name, ok: true, detail: fn() });
      return true;
    } catch (err) {
      const e = err as { errno?: string; message?: string };
      add({ name, ok: false, detail: e.errno ?? e.message ?? String(err), fix });
      return false;
    }
  };
  try {
    const [lower, upper, workdir, merged, tmpfs] = [
      'lower',
      'upper',
      'work',
      'merged',
      'tmpfs',
    ].map((n) => {
      const p = join(work, n);
      fs.mkdirSync(p);
      return p;
    }) as [string, string, string, string, string];
    fs.writeFileSync(join(lower, 'file'), 'lower');
    fs.mkdirSync(join(lower, 'dir'));
    attempt('whiteout', 'mknod must be allowed (root, no nodev on this file system)', () => {
      sys.mknod(join(lower, 'gone'), S_IFCHR, 0, 0);
      return 'mknod c 0 0 works';
    });
    attempt(
      'trusted-xattr',
      'the layer file system must support trusted.* xattrs (ext4, xfs, btrfs)',
      () => {
        sys.lsetxattr(join(lower, 'dir'), OPAQUE_XATTR, Buffer.from('y'));
        return `${OPAQUE_XATTR} settable`;
      },
    );
    attempt('overlay-mount', 'load the overlay module (modprobe overlay) and run as root', () => {
      mountOverlay(merged, overlayMountOptions({ lowerdirs: [lower], upperdir: upper, workdir }));
      try {
        fs.appendFileSync(join(merged, 'file'), '+upper');
        if (fs.readFileSync(join(lower, 'file'), 'utf8') !== 'lower')
          throw new Error('copy-up wrote the lower layer');
        return 'overlay mounted, copy-up works';
      } finally {
        unmount(merged);
      }
    });
    attempt('tmpfs-mount', 'tmpfs must be available for writableLayerSize', () => {
      mountTmpfs(tmpfs, 1024 * 1024);
      unmount(tmpfs);
      return 'size-limited tmpfs mounted';
    });
  } finally {
    unmount(work);
    fs.rmSync(work, { recursive: true, force: true });
  }
  return { ok: checks.every((c) => c.ok), checks };
}
