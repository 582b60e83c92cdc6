import { OverlayError } from './errors.js';
import { mountsAtOrUnder } from './mountinfo.js';
import { libcSyscalls, MNT_DETACH, type Syscalls } from './syscalls.js';

const MS_RDONLY = 1;
const MS_NOSUID = 2;
const MS_NODEV = 4;

/** Options of {@link mountOverlay}. */
export interface MountOverlayOptions {
  /** Mount read-only (`MS_RDONLY`): the container cannot write its root at all. */
  readonly?: boolean;
  syscalls?: Syscalls;
}

/**
 * Mounts an overlay at `target` (host side) with an option string from
 * {@link overlayMountOptions}. The caller owns the mount and undoes it with {@link unmount}.
 */
export function mountOverlay(
  target: string,
  options: string,
  opts: MountOverlayOptions = {},
): void {
  const sys = opts.syscalls ?? libcSyscalls();
  try {
    sys.mount('overlay', target, 'overlay', opts.readonly ? MS_RDONLY : 0, options);
  } catch (err) {
    throw withStage(err, 'overlay.mount', `cannot mount overlay on ${target}`);
  }
}

/**
 * Mounts a tmpfs of at most `sizeBytes` at `target` (for a size-limited writable layer:
 * a runaway writer gets ENOSPC instead of filling the host disk).
 */
export function mountTmpfs(
  target: string,
  sizeBytes: number,
  syscalls: Syscalls = libcSyscalls(),
): void {
  try {
    syscalls.mount('tmpfs', target, 'tmpfs', MS_NOSUID | MS_NODEV, `size=${sizeBytes},mode=0700`);
  } catch (err) {
    throw withStage(err, 'overlay.tmpfs', `cannot mount a ${sizeBytes}-byte tmpfs on ${target}`);
  }
}

/** Options of {@link unmount}. */
export interface UnmountOptions {
  /** Detach lazily right away instead of only when the mount is busy. */
  detach?: boolean;
  syscalls?: Syscalls;
}

/**
 * Unmounts `target` and anything mounted below it, deepest first. Idempotent: a path that
 * is not mounted (or does not exist) is not an error. A busy mount is detached lazily
 * (`MNT_DETACH`), so teardown always finishes; the kernel frees it when the last user goes.
 */
export function unmount(target: string, opts: UnmountOptions = {}): void {
  const sys = opts.syscalls ?? libcSyscalls();
  for (const m of mountsAtOrUnder(target).reverse()) {
    try {
      sys.umount2(m, opts.detach ? MNT_DETACH : 0);
    } catch (err) {
      const errno = (err as OverlayError).errno;
      if (errno === 'EINVAL' || errno === 'ENOENT') continue;
      if (errno === 'EBUSY' && !opts.detach) {
        try {
          sys.umount2(m, MNT_DETACH);
          continue;
        } catch (err2) {
          throw withStage(err2, 'overlay.unmount', `cannot unmount ${m}`);
        }
      }
      throw withStage(err, 'overlay.unmount', `cannot unmount ${m}`);
    }
  }
}

function withStage(err: unknown, stage: string, what: string): OverlayError {
  const e = err as OverlayError;
  return new OverlayError(
    e.code ?? 'ERR_TSBOX_OVERLAY_SYSCALL',
    stage,
    `${what}: ${e.errno ?? e.message}`,
    {
      path: e.path,
      errno: e.errno,
      syscall: e.syscall,
      cause: err,
    },
  );
}
