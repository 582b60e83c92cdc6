import * as fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { ioError, OverlayError } from './errors.js';
import { LOCK_EX, LOCK_NB, LOCK_UN, type Syscalls } from './syscalls.js';

const LOCK_SH = 1;

/** `shared` for readers that must not see a layer disappear (imports), `exclusive` otherwise. */
export type LockMode = 'shared' | 'exclusive';

/**
 * Runs `fn` holding a flock(2) on `path`. flock is released by the kernel when the holder
 * dies, so a crashed import never leaves the store locked, and lock files are never
 * deleted (deleting a lock file races with a process that just opened it). Waiting polls
 * with LOCK_NB so the event loop is never blocked inside the kernel.
 */
export async function withLock<T>(
  syscalls: Syscalls,
  path: string,
  mode: LockMode,
  fn: () => Promise<T>,
  timeoutMs = 10 * 60_000,
): Promise<T> {
  let fd: number;
  try {
    // Node opens with O_CLOEXEC already, so children (tsbox-init) never inherit the lock.
    fd = fs.openSync(path, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
  } catch (err) {
    throw ioError('store.lock', err, path);
  }
  try {
    const op = (mode === 'shared' ? LOCK_SH : LOCK_EX) | LOCK_NB;
    const deadline = Date.now() + timeoutMs;
    let delay = 2;
    while (!syscalls.flock(fd, op)) {
      if (Date.now() > deadline) {
        throw new OverlayError(
          'ERR_TSBOX_OVERLAY_IO',
          'store.lock',
          `timed out after ${timeoutMs} ms waiting for lock ${path}`,
          { path, errno: 'ETIMEDOUT' },
        );
      }
      await sleep(delay);
      delay = Math.min(delay * 2, 50);
    }
    try {
      return await fn();
    } finally {
      syscalls.flock(fd, LOCK_UN);
    }
  } finally {
    fs.closeSync(fd);
  }
}
