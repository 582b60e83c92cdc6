import koffi from 'koffi';
import { OverlayError } from './errors.js';

/**
 * The system calls Node lacks, behind a small interface so that pure logic can be
 * exercised with a recording double; the default implementation goes to libc via koffi.
 * Every method throws an {@link OverlayError} (`ERR_TSBOX_OVERLAY_SYSCALL`) carrying the
 * errno name on failure.
 */
export interface Syscalls {
  /** mknod(2): `mode` includes the file type bits (`S_IFCHR`, `S_IFBLK`, `S_IFIFO`). */
  mknod(path: string, mode: number, major: number, minor: number): void;
  /** lsetxattr(2): sets an extended attribute without following a final symlink. */
  lsetxattr(path: string, name: string, value: Buffer): void;
  /** lgetxattr(2): the value, or `null` when the attribute is absent (ENODATA). */
  lgetxattr(path: string, name: string): Buffer | null;
  /** llistxattr(2): the attribute names set on `path`. */
  llistxattr(path: string): string[];
  /** mount(2). `data` is the file-system specific option string. */
  mount(source: string, target: string, fstype: string, flags: number, data: string | null): void;
  /** umount2(2). */
  umount2(target: string, flags: number): void;
  /** flock(2); returns false instead of throwing when `LOCK_NB` is set and it would block. */
  flock(fd: number, operation: number): boolean;
}

export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;
export const S_IFIFO = 0o010000;
export const MNT_DETACH = 2;
export const LOCK_EX = 2;
export const LOCK_NB = 4;
export const LOCK_UN = 8;

const errnoNames = new Map<number, string>(
  Object.entries(koffi.os.errno).map(([name, num]) => [num, name]),
);

function fail(syscall: string, path: string): never {
  const num = koffi.errno();
  const errno = errnoNames.get(num) ?? `E${num}`;
  throw new OverlayError(
    'ERR_TSBOX_OVERLAY_SYSCALL',
    `syscall.${syscall}`,
    `${syscall}(${path}) failed with ${errno}`,
    { syscall, errno, path },
  );
}

/** glibc's makedev, so large minor numbers encode as the kernel expects. */
export function makedev(major: number, minor: number): bigint {
  const ma = BigInt(major);
  const mi = BigInt(minor);
  return (
    ((ma & 0xfffff000n) << 32n) | ((ma & 0xfffn) << 8n) | ((mi & 0xffffff00n) << 12n) | (mi & 0xffn)
  );
}

let cached: Syscalls | undefined;

/** The libc-backed {@link Syscalls}, loaded once on first use. */
export function libcSyscalls(): Syscalls {
  if (cached) return cached;
  const libc = koffi.load('libc.so.6');
  const mknod = libc.func('int mknod(const char *path, uint32_t mode, uint64_t dev)');
  const lsetxattr = libc.func(
    'int lsetxattr(const char *path, const char *name, const void *value, size_t size, int flags)',
  );
  const lgetxattr = libc.func(
    'intptr_t lgetxattr(const char *path, const char *name, _Out_ void *value, size_t size)',
  );
  const llistxattr = libc.func(
    'intptr_t llistxattr(const char *path, _Out_ void *list, size_t size)',
  );
  const mount = libc.func(
    'int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data)',
  );
  const umount2 = libc.func('int umount2(const char *target, int flags)');
  const flock = libc.func('int flock(int fd, int operation)');
  const ENODATA = koffi.os.errno.ENODATA;
  const EWOULDBLOCK = koffi.os.errno.EWOULDBLOCK;

  cached = {
    mknod(path, mode, major, minor) {
      if (mknod(path, mode, makedev(major, minor)) !== 0) fail('mknod', path);
    },
    lsetxattr(path, name, value) {
      if (lsetxattr(path, name, value, value.length, 0) !== 0) fail('lsetxattr', path);
    },
    lgetxattr(path, name) {
      const size = Number(lgetxattr(path, name, null, 0));
      if (size < 0) {
        if (koffi.errno() === ENODATA) return null;
        fail('lgetxattr', path);
      }
      const buf = Buffer.alloc(size);
      const got = Number(lgetxattr(path, name, buf, size));
      if (got < 0) fail('lgetxattr', path);
      return buf.subarray(0, got);
    },
    llistxattr(path) {
      const size = Number(llistxattr(path, null, 0));
      if (size < 0) fail('llistxattr', path);
      if (size === 0) return [];
      const buf = Buffer.alloc(size);
      const got = Number(llistxattr(path, buf, size));
      if (got < 0) fail('llistxattr', path);
      return buf.subarray(0, got).toString('utf8').split('\0').filter(Boolean);
    },
    mount(source, target, fstype, flags, data) {
      if (mount(source, target, fstype, flags, data) !== 0) fail('mount', target);
    },
    umount2(target, flags) {
      if (umount2(target, flags) !== 0) fail('umount2', target);
    },
    flock(fd, operation) {
      if (flock(fd, operation) === 0) return true;
      if ((operation & LOCK_NB) !== 0 && koffi.errno() === EWOULDBLOCK) return false;
      return fail('flock', `fd ${fd}`);
    },
  };
  return cached;
}
