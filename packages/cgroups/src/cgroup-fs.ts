import {
  closeSync,
  constants,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  rmdirSync,
  writeSync,
} from 'node:fs';
import { errnoOf, fsError } from './errors.js';

// Synchronous on purpose: every cgroup file operation is answered by the kernel at once
// (no disk), and the sync calls skip the thread-pool round trip that makes the async
// ones several times slower on the container start path.

/**
 * Writes `value` to a cgroup interface file. Opens O_WRONLY without O_CREAT/O_TRUNC:
 * cgroupfs files cannot be created, and some (cgroup.kill) are write-only.
 */
export function writeCgroupFile(path: string, value: string, stage: string): void {
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY);
  } catch (err) {
    throw fsError(stage, 'open', path, err, value);
  }
  try {
    writeSync(fd, value);
  } catch (err) {
    throw fsError(stage, 'write', path, err, value);
  } finally {
    closeSync(fd);
  }
}

// cgroup files report no size, so readFileSync stats, then reads into freshly
// allocated chunks: measured, that allocation was the largest single cost of a
// stats() call. One buffer, reused (all of this is synchronous), holds any cgroup
// file but a huge cgroup.procs, which falls back to readFileSync.
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

function readSmall(path: string): string {
  const fd = openSync(path, constants.O_RDONLY);
  let total = 0;
  try {
    for (;;) {
      const n = readSync(fd, READ_BUFFER, total, READ_BUFFER.length - total, null);
      if (n === 0) break;
      total += n;
      if (total === READ_BUFFER.length) return readFileSync(path, 'latin1');
    }
  } finally {
    closeSync(fd);
  }
  return READ_BUFFER.toString('latin1', 0, total);
}

/** Reads a cgroup interface file as text. */
export function readCgroupFile(path: string, stage: string): string {
  try {
    return readSmall(path);
  } catch (err) {
    throw fsError(stage, 'read', path, err);
  }
}

/** Reads a cgroup file, or returns undefined when it does not exist (an optional interface). */
export function readOptionalCgroupFile(path: string): string | undefined {
  try {
    return readSmall(path);
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return undefined;
    throw fsError('cgroup.stats', 'read', path, err);
  }
}

/** Creates a directory; returns false when it already existed. */
export function mkdirIfMissing(path: string, stage: string): boolean {
  try {
    mkdirSync(path);
    return true;
  } catch (err) {
    if (errnoOf(err) === 'EEXIST') return false;
    throw fsError(stage, 'mkdir', path, err);
  }
}

/**
 * Removes a cgroup directory. Returns 'gone' when removed or already absent, 'busy' when
 * the kernel still counts members or children (EBUSY), and throws on anything else.
 */
export function tryRmdir(path: string, stage: string): 'gone' | 'busy' {
  try {
    rmdirSync(path);
    return 'gone';
  } catch (err) {
    const errno = errnoOf(err);
    if (errno === 'ENOENT') return 'gone';
    if (errno === 'EBUSY' || errno === 'ENOTEMPTY') return 'busy';
    throw fsError(stage, 'rmdir', path, err);
  }
}

/** Parses the pid list of a `cgroup.procs`/`tasks` file; a missing file is an empty list. */
export function readPids(path: string): number[] {
  const text = readOptionalCgroupFile(path);
  if (!text) return [];
  const pids: number[] = [];
  for (const line of text.split('\n')) if (line !== '') pids.push(Number(line));
  return pids;
}

/**
 * `mkdir`, and if the parent is gone (ENOENT: an empty shared `tsbox/` parent was
 * removed since this process prepared it), `restoreParent()` then one more try.
 */
export function mkdirWithParent(path: string, restoreParent: () => void): void {
  try {
    mkdirSync(path);
  } catch (err) {
    if (errnoOf(err) !== 'ENOENT') throw err;
    restoreParent();
    mkdirSync(path);
  }
}
